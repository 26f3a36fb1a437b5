package app

// The C allocator's settings. Two libraries allocate in C inside the
// gateway's process: libpg_query (every statement's parse: ~40 times the
// text, in blocks of up to 8 MB) and DuckDB. glibc's defaults suit
// neither: one arena per thread that ran C (up to 8 per core), each
// keeping what was freed, and a threshold for returning large blocks
// that rises after every large free. Measured under the soak (4 clients of
// hostile and normal statements, GOMEMLIMIT 1 GiB): C memory outside
// DuckDB's limit reached 1 GB with the defaults. Two arenas and a fixed
// threshold return large blocks to the system when they are freed.

/*
#include <malloc.h>

static void cubegate_tune_malloc(void) {
#if defined(M_ARENA_MAX) && defined(M_MMAP_THRESHOLD)
	mallopt(M_ARENA_MAX, 2);
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
}
*/
import "C"

func init() { C.cubegate_tune_malloc() }
