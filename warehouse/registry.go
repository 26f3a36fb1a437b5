package warehouse

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// Opener opens a warehouse for a DSN whose scheme it was registered
// under (warehouse/mysql, warehouse/clickhouse, …: each engine's driver
// lives in a package of its own and registers itself in its init; the
// gateway imports warehouse/drivers, which imports them all).
type Opener func(ctx context.Context, dsn string, o Options) (Warehouse, error)

var (
	openersMu sync.Mutex
	openers   = map[string]Opener{}
)

// Register makes open the opener of DSNs with the given schemes
// ("mysql" for mysql://…). A scheme registered twice is a programming
// error.
func Register(open Opener, schemes ...string) {
	openersMu.Lock()
	defer openersMu.Unlock()
	for _, s := range schemes {
		s = strings.ToLower(s)
		if _, dup := openers[s]; dup || s == "duckdb" || s == "postgres" || s == "postgresql" {
			panic("warehouse: scheme " + s + " registered twice")
		}
		openers[s] = open
	}
}

// Schemes lists the DSN forms Open takes, the built-in ones first.
func Schemes() []string {
	openersMu.Lock()
	defer openersMu.Unlock()
	var more []string
	for s := range openers {
		more = append(more, s+"://…")
	}
	slices.Sort(more)
	return append([]string{"duckdb:///file.duckdb", "duckdb::memory:", "postgres://…"}, more...)
}

func opener(scheme string) Opener {
	openersMu.Lock()
	defer openersMu.Unlock()
	return openers[strings.ToLower(scheme)]
}

// Registered tells whether dsn's scheme is a registered engine's.
func Registered(dsn string) bool {
	scheme, _, ok := strings.Cut(dsn, "://")
	return ok && opener(scheme) != nil
}
