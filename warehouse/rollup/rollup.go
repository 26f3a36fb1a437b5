// Package rollup is where pre-aggregations (Cube's rollups) live: an
// embedded DuckDB database on the gateway's disk holding each built
// partition of a rollup as a table, which queries read instead of the
// warehouse's fact table.
//
// A partition has a stable table name for its whole life (Table): a
// rebuild loads the rows into a staging table and then, in one DuckDB
// transaction, drops the old table and renames the staging one to that
// name. DuckDB's catalog is versioned per transaction, so a query that
// started before the swap reads the old rows to its end and one that
// starts after reads the new ones; a caller that got the name just
// before the swap still finds the table. A build that fails (the rows'
// error, a canceled context) drops its staging table: the old partition
// keeps serving.
//
// The store is bounded (Options.MaxBytes): after a build, the least
// recently used partitions are dropped until it fits; Table then says
// ok=false and the caller rebuilds on demand. Sizes are the bytes the
// rows take uncompressed in DuckDB's vectors (see valueBytes): an
// honest, deterministic upper bound of the data's share of the file,
// which DuckDB compresses.
//
// The catalog of partitions is a table in the same DuckDB file, so built
// partitions serve again after a restart.
package rollup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cubegate/cubegate/warehouse"
)

// Options configure a Store; the zero value is an unbounded in-memory
// store (tests).
type Options struct {
	// Dir holds the store's DuckDB file (rollups.duckdb); "" keeps the
	// store in memory.
	Dir string
	// MaxBytes bounds the partitions' total size; 0 is no bound.
	MaxBytes int64
	// MemoryLimit is the store's DuckDB memory_limit; 0 is 256 MiB.
	MemoryLimit int64
}

// DefaultMemoryLimit is the store's DuckDB memory limit when
// Options.MemoryLimit is 0: the store shares the gateway's process with
// the embedded warehouse.
const DefaultMemoryLimit = 256 << 20

// FileName is the store's DuckDB file in Options.Dir.
const FileName = "rollups.duckdb"

// metaTable is the catalog of partitions, inside the store.
const metaTable = "_rollup_partitions"

// stagingPrefix starts the name of a table being built.
const stagingPrefix = "_staging_"

// Store holds rollup partitions. It is safe for concurrent use.
type Store struct {
	w        *warehouse.DuckDB
	db       *sql.DB
	maxBytes int64
	seq      atomic.Int64 // names tables: staging and partitions

	// life is held (read) by every build and (write) by Close.
	life   sync.RWMutex
	closed bool

	// catalog serializes changes to the catalog: swaps, drops,
	// evictions and writes to metaTable. DuckDB would refuse two
	// transactions that change the same catalog entry; one at a time,
	// none of them fails for the other.
	catalog sync.Mutex

	mu    sync.Mutex // guards parts and clock
	parts map[key]*part
	clock uint64 // orders uses (LRU) when the wall clock ties
}

type key struct{ rollup, partition string }

type part struct {
	table    string // unquoted
	rows     int64
	bytes    int64
	builtAt  time.Time
	took     time.Duration
	lastUsed time.Time
	used     uint64 // Store.clock at the last use
	hits     int64
	dirty    bool // lastUsed/hits not yet written to metaTable
}

// PartitionInfo describes a stored partition.
type PartitionInfo struct {
	Rollup    string
	Partition string
	Table     string // quoted, as Table gives it
	Rows      int64
	Bytes     int64
	BuiltAt   time.Time
	BuildTook time.Duration
	LastUsed  time.Time // BuiltAt until first read
	Hits      int64     // calls of Table/Tables that named it
}

// BuildStats describe a finished build.
type BuildStats struct {
	Rows  int64
	Bytes int64
	Took  time.Duration
}

// Open opens (creating if needed) the store. Tables left by a build the
// process did not finish (a crash) are dropped.
func Open(ctx context.Context, o Options) (*Store, error) {
	path := ""
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("rollup store: %w", err)
		}
		path = filepath.Join(o.Dir, FileName)
	}
	limit := o.MemoryLimit
	if limit <= 0 {
		limit = DefaultMemoryLimit
	}
	w, err := warehouse.OpenDuckDB(ctx, fmt.Sprintf("%s?memory_limit=%dKiB", path, max(limit>>10, 1)))
	if err != nil {
		return nil, fmt.Errorf("rollup store: %w", err)
	}
	s := &Store{w: w, db: w.DB(), maxBytes: o.MaxBytes, parts: map[key]*part{}}
	if err := s.readCatalog(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("rollup store: %w", err)
	}
	return s, nil
}

// readCatalog reads the catalog and drops the tables it does not name.
func (s *Store) readCatalog(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+metaTable+` (
		rollup VARCHAR NOT NULL, part VARCHAR NOT NULL, tbl VARCHAR NOT NULL,
		rows BIGINT NOT NULL, bytes BIGINT NOT NULL,
		built_at TIMESTAMPTZ NOT NULL, took_us BIGINT NOT NULL,
		last_used TIMESTAMPTZ NOT NULL, hits BIGINT NOT NULL)`)
	if err != nil {
		return err
	}
	rs, err := s.db.QueryContext(ctx, `SELECT rollup, part, tbl, rows, bytes, built_at, took_us, last_used, hits
		FROM `+metaTable+` ORDER BY last_used`)
	if err != nil {
		return err
	}
	defer rs.Close()
	var maxSeq int64
	for rs.Next() {
		var k key
		p := &part{}
		var tookUS int64
		if err := rs.Scan(&k.rollup, &k.partition, &p.table, &p.rows, &p.bytes, &p.builtAt, &tookUS, &p.lastUsed, &p.hits); err != nil {
			return err
		}
		p.took = time.Duration(tookUS) * time.Microsecond
		s.clock++
		p.used = s.clock
		s.parts[k] = p
		var n int64
		if _, err := fmt.Sscanf(p.table, "p%d_", &n); err == nil && n > maxSeq {
			maxSeq = n
		}
	}
	if err := rs.Err(); err != nil {
		return err
	}
	s.seq.Store(maxSeq)

	known := map[string]bool{metaTable: true}
	for _, p := range s.parts {
		known[p.table] = true
	}
	ts, err := s.db.QueryContext(ctx, `SELECT table_name FROM duckdb_tables()
		WHERE database_name = current_database() AND schema_name = 'main'`)
	if err != nil {
		return err
	}
	var garbage []string
	for ts.Next() {
		var name string
		if err := ts.Scan(&name); err != nil {
			ts.Close()
			return err
		}
		if !known[name] {
			garbage = append(garbage, name)
		}
	}
	ts.Close()
	if err := ts.Err(); err != nil {
		return err
	}
	for _, name := range garbage {
		if _, err := s.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+quote(name)); err != nil {
			return err
		}
	}
	return nil
}

// Close writes the partitions' use (LRU order, hits) and closes the
// store's database, once builds running have ended.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.writeUse(context.Background())
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	return err
}

// Dialect is DuckDB's: Query runs DuckDB SQL.
func (s *Store) Dialect() string { return "duckdb" }

// Ping checks that the store's database answers.
func (s *Store) Ping(ctx context.Context) error { return s.w.Ping(ctx) }

// Query runs sql against the store (reading the names Table and Tables
// give), with the embedded warehouse's rows and errors.
func (s *Store) Query(ctx context.Context, sql string, args ...any) (warehouse.Rows, error) {
	return s.w.Query(ctx, sql, args...)
}

// Table is the name (quoted for DuckDB) to read a built partition by;
// ok is false when it is not built (never, dropped or evicted). The name
// stays the same across rebuilds. It counts as a use of the partition.
//
// A rebuild never breaks the name, but a partition dropped or evicted
// between Table and the start of the query reading it does: that query
// fails with 42P01 (undefined_table), and the caller rebuilds and runs
// it again, as for ok=false. (Once the query has started, a drop leaves
// it reading.)
func (s *Store) Table(rollup, partition string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.parts[key{rollup, partition}]
	if p == nil {
		return "", false
	}
	s.use(p)
	return quote(p.table), true
}

// Tables is a FROM item reading several partitions of a rollup as one
// (UNION ALL BY NAME of their tables, in the order given); ok is false
// when partitions is empty or any of them is not built. Every partition
// counts as used.
func (s *Store) Tables(rollup string, partitions []string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := make([]*part, len(partitions))
	for i, name := range partitions {
		if ps[i] = s.parts[key{rollup, name}]; ps[i] == nil {
			return "", false
		}
	}
	switch len(ps) {
	case 0:
		return "", false
	case 1:
		s.use(ps[0])
		return quote(ps[0].table), true
	}
	var b strings.Builder
	b.WriteString("(")
	for i, p := range ps {
		s.use(p)
		if i > 0 {
			b.WriteString(" UNION ALL BY NAME ")
		}
		b.WriteString("SELECT * FROM ")
		b.WriteString(quote(p.table))
	}
	b.WriteString(")")
	return b.String(), true
}

// use marks p used now; s.mu is held.
func (s *Store) use(p *part) {
	s.clock++
	p.used = s.clock
	p.lastUsed = time.Now()
	p.hits++
	p.dirty = true
}

// Partitions lists the stored partitions by rollup and partition.
func (s *Store) Partitions() []PartitionInfo {
	s.mu.Lock()
	out := make([]PartitionInfo, 0, len(s.parts))
	for k, p := range s.parts {
		out = append(out, PartitionInfo{
			Rollup: k.rollup, Partition: k.partition, Table: quote(p.table),
			Rows: p.rows, Bytes: p.bytes, BuiltAt: p.builtAt, BuildTook: p.took,
			LastUsed: p.lastUsed, Hits: p.hits,
		})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Rollup != out[j].Rollup {
			return out[i].Rollup < out[j].Rollup
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Drop removes a partition, or every partition of rollup when partition
// is "". Dropping what is not stored is no error. A query reading a
// dropped table reads on to its end.
func (s *Store) Drop(ctx context.Context, rollup, partition string) error {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return errClosed
	}
	s.catalog.Lock()
	defer s.catalog.Unlock()
	var ks []key
	s.mu.Lock()
	for k := range s.parts {
		if k.rollup == rollup && (partition == "" || k.partition == partition) {
			ks = append(ks, k)
		}
	}
	s.mu.Unlock()
	return s.drop(ctx, ks)
}

var errClosed = errors.New("rollup store: closed")

// drop removes the partitions ks in one transaction; s.catalog is held.
func (s *Store) drop(ctx context.Context, ks []key) error {
	if len(ks) == 0 {
		return nil
	}
	s.mu.Lock()
	tables := make([]string, len(ks))
	for i, k := range ks {
		if p := s.parts[k]; p != nil {
			tables[i] = p.table
		}
	}
	s.mu.Unlock()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i, k := range ks {
			if tables[i] != "" {
				if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+quote(tables[i])); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+metaTable+" WHERE rollup = ? AND part = ?", k.rollup, k.partition); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rollup store: drop: %w", err)
	}
	s.mu.Lock()
	for _, k := range ks {
		delete(s.parts, k)
	}
	s.mu.Unlock()
	return nil
}

// evict drops the least recently used partitions but keep until the
// store fits its bound; s.catalog is held.
func (s *Store) evict(ctx context.Context, keep key) error {
	if s.maxBytes <= 0 {
		return nil
	}
	for {
		s.mu.Lock()
		var total int64
		var lru key
		var lruPart *part
		for k, p := range s.parts {
			total += p.bytes
			if k != keep && (lruPart == nil || p.used < lruPart.used) {
				lru, lruPart = k, p
			}
		}
		s.mu.Unlock()
		if total <= s.maxBytes || lruPart == nil {
			return nil
		}
		if err := s.drop(ctx, []key{lru}); err != nil {
			return err
		}
	}
}

// writeUse writes the partitions' last use and hits to the catalog.
// Uses are counted in memory (Table is on every query's path) and
// written with each build and at Close.
func (s *Store) writeUse(ctx context.Context) error {
	type use struct {
		k    key
		last time.Time
		hits int64
	}
	var us []use
	s.mu.Lock()
	for k, p := range s.parts {
		if p.dirty {
			us = append(us, use{k, p.lastUsed, p.hits})
			p.dirty = false
		}
	}
	s.mu.Unlock()
	if len(us) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, u := range us {
			if _, err := tx.ExecContext(ctx, "UPDATE "+metaTable+" SET last_used = ?, hits = ? WHERE rollup = ? AND part = ?",
				u.last, u.hits, u.k.rollup, u.k.partition); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Written with the next build, or at Close.
		s.mu.Lock()
		for _, u := range us {
			if p := s.parts[u.k]; p != nil {
				p.dirty = true
			}
		}
		s.mu.Unlock()
	}
	return err
}

// inTx runs f in a transaction, committed when f succeeds.
func (s *Store) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// quote quotes a DuckDB identifier.
func quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// tableName names a new partition's table: a unique number, then the
// rollup and partition made readable (DuckDB's names ignore case, so the
// number, not the text, keeps names apart).
func tableName(n int64, k key) string {
	slug := func(s string) string {
		var b strings.Builder
		for _, r := range strings.ToLower(s) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
			if b.Len() >= 24 {
				break
			}
		}
		return b.String()
	}
	return fmt.Sprintf("p%d_%s__%s", n, slug(k.rollup), slug(k.partition))
}
