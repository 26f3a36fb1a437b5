package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/query"
	"github.com/cubegate/cubegate/warehouse"
)

// A rollup with external: false is built as a table in the warehouse
// itself, in preagg.warehouse_schema, where every gateway on that
// warehouse reads it — the path for several gateways, and for warehouses
// that scale past one machine.
//
// The gateways agree through the warehouse's catalog, with no other
// coordination: a rollup's tables are named <base>_<epoch>, the epoch
// being the number of refresh intervals since 1970, so every gateway
// wants the same table at the same time. One gateway builds it, as
// <base>_<epoch>_building (creating that table is the claim: the others'
// CREATE fails and they wait), then renames it to <base>_<epoch> in one
// statement, so a table under a final name is always complete. Every
// gateway reads the newest complete table; the one before it stays for a
// refresh interval (statements planned on it finish), older ones and
// abandoned builds are dropped.

// warehouseBase is the name of a rollup's tables: r_ and a hash of its
// id (data source, name, build SQL).
func warehouseBase(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "r_" + hex.EncodeToString(sum[:8])
}

// buildInWarehouse refreshes a rollup with external: false: adopts the
// newest complete table, builds the current epoch's unless another
// gateway is, and drops what is stale.
func (r *rollups) buildInWarehouse(src rollupSource, d cubes.Dialect, pa *cubes.PreAggregation, id string, st *rollupState) {
	if partitioned(pa) {
		r.fail(st, pa, fmt.Errorf("a partitioned rollup with external: false is not supported yet: build it in the rollup store (external: true)"))
		return
	}
	every := refreshEvery(pa)
	if every < time.Second {
		every = time.Second
	}
	now := time.Now()
	r.mu.Lock()
	// Looked at twice an interval (at least every 5 s): the table read
	// stays the current epoch's or the one before (currentTable).
	due := st.stale || st.attempted.IsZero() || now.Sub(st.attempted) >= min(every/2, 5*time.Second)
	r.mu.Unlock()
	if !due {
		return
	}
	cur := now.Unix() / int64(every/time.Second)
	base := warehouseBase(id)
	schema := r.schema
	ctx := warehouse.WithOwner(r.ctx, preaggOwner)
	r.mu.Lock()
	st.attempted, st.stale = now, false
	r.mu.Unlock()

	tables, err := r.rollupTables(ctx, src.wh, schema, base)
	if err != nil {
		r.fail(st, pa, err)
		return
	}
	newest := r.adopt(src, d, pa, st, tables, base, every)
	if newest == cur {
		r.dropStale(ctx, src.wh, d, schema, base, tables, cur)
		return
	}
	if b, ok := tables.building[cur]; ok && b {
		return // another gateway builds it
	}
	r.mu.Lock()
	prev := st.State
	st.State = "BUILDING"
	r.mu.Unlock()
	started := time.Now()
	rows, err := r.createInWarehouse(ctx, src, d, pa, schema, base, cur)
	if err != nil {
		r.mu.Lock()
		st.State = prev
		r.mu.Unlock()
		if errClaimed(err) {
			return // another gateway claimed it first
		}
		r.fail(st, pa, err)
		return
	}
	table := d.QuoteIdent(schema) + "." + d.QuoteIdent(fmt.Sprintf("%s_%d", base, cur))
	r.mu.Lock()
	st.State, st.Error, st.BuiltAt = "BUILT", "", time.Now()
	st.BuildMS = float64(time.Since(started).Microseconds()) / 1000
	st.table, st.Rows, st.epoch = table, rows, cur
	r.mu.Unlock()
	tables.complete = append(tables.complete, cur)
	r.dropStale(ctx, src.wh, d, schema, base, tables, cur)
	r.cache.Invalidate(query.Scope{Source: src.name, Cube: pa.Cube.Name})
	r.metrics.Add(buildsMetric, buildsHelp, 1, "outcome", "ok")
	r.log.Info().Str("pre_aggregation", pa.FullName()).Str("data_source", src.name).Str("table", table).
		Int64("rows", rows).Dur("took", time.Since(started)).Msg("pre-aggregation built in the warehouse")
}

// rollupTableSet is what the warehouse holds of a rollup: its complete
// tables' epochs and the epochs being built.
type rollupTableSet struct {
	complete []int64
	building map[int64]bool
}

// rollupTables lists a rollup's tables in the warehouse's catalog.
func (r *rollups) rollupTables(ctx context.Context, wh warehouse.Warehouse, schema, base string) (rollupTableSet, error) {
	set := rollupTableSet{building: map[int64]bool{}}
	rows, err := wh.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE $2`, schema, base+"%")
	if err != nil {
		return set, fmt.Errorf("listing the rollup's tables in %s: %w", schema, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return set, err
		}
		name, _ := vals[0].(string)
		rest, ok := strings.CutPrefix(name, base+"_")
		if !ok {
			continue
		}
		building := strings.HasSuffix(rest, "_building")
		epoch, err := strconv.ParseInt(strings.TrimSuffix(rest, "_building"), 10, 64)
		if err != nil {
			continue
		}
		if building {
			set.building[epoch] = true
		} else {
			set.complete = append(set.complete, epoch)
		}
	}
	sort.Slice(set.complete, func(i, j int) bool { return set.complete[i] < set.complete[j] })
	return set, rows.Err()
}

// adopt serves the newest complete table (built by this gateway or
// another) and returns its epoch (0: none).
func (r *rollups) adopt(src rollupSource, d cubes.Dialect, pa *cubes.PreAggregation, st *rollupState, tables rollupTableSet, base string, every time.Duration) int64 {
	if len(tables.complete) == 0 {
		return 0
	}
	newest := tables.complete[len(tables.complete)-1]
	table := d.QuoteIdent(r.schema) + "." + d.QuoteIdent(fmt.Sprintf("%s_%d", base, newest))
	r.mu.Lock()
	defer r.mu.Unlock()
	st.epoch = newest
	if st.table != table {
		st.table, st.State, st.Error = table, "BUILT", ""
		st.BuiltAt = time.Unix(newest*int64(every/time.Second), 0)
		// Not under r.mu: the invalidation notifies the other gateways.
		go r.cache.Invalidate(query.Scope{Source: src.name, Cube: pa.Cube.Name})
	}
	return newest
}

// errClaimed marks a CREATE that failed because the table exists:
// another gateway builds the epoch.
type claimedError struct{ error }

func errClaimed(err error) bool {
	_, ok := err.(claimedError)
	return ok
}

// createInWarehouse builds the epoch's table: the claim (CREATE of the
// _building table), the rows, the rename. It returns the rows written.
func (r *rollups) createInWarehouse(ctx context.Context, src rollupSource, d cubes.Dialect, pa *cubes.PreAggregation, schema, base string, epoch int64) (int64, error) {
	c, err := buildQuery(src.model, pa, d)
	if err != nil {
		return 0, err
	}
	qs := d.QuoteIdent(schema)
	building := fmt.Sprintf("%s_%d_building", base, epoch)
	final := fmt.Sprintf("%s_%d", base, epoch)
	exec := func(sql string, args ...any) error {
		rows, err := src.wh.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
		return err
	}
	if err := exec("CREATE SCHEMA IF NOT EXISTS " + qs); err != nil && !exists(err) {
		return 0, fmt.Errorf("creating schema %s: %w", schema, err)
	}
	target := qs + "." + d.QuoteIdent(building)
	drop := func() { _ = exec("DROP TABLE IF EXISTS " + target) }
	if d.Name() == "duckdb" {
		// One process holds a DuckDB file: no other gateway to claim
		// against; the table takes the query's own types.
		if err := exec("CREATE TABLE "+target+" AS "+c.SQL, c.Args...); err != nil {
			drop()
			return 0, fmt.Errorf("building %s: %w", building, err)
		}
	} else {
		cols, err := r.columnTypes(ctx, src.wh, d, c)
		if err != nil {
			return 0, err
		}
		if err := exec("CREATE TABLE " + target + " (" + cols + ")"); err != nil {
			if exists(err) {
				return 0, claimedError{err}
			}
			return 0, fmt.Errorf("creating %s: %w", building, err)
		}
		if err := exec("INSERT INTO "+target+" "+c.SQL, c.Args...); err != nil {
			drop()
			return 0, err
		}
	}
	// The model's indexes, before the table is published (PostgreSQL:
	// DuckDB scans by its zone maps, and renames no indexed table).
	for i, ix := range pa.Indexes {
		if d.Name() == "duckdb" {
			break
		}
		cols := indexColumns(pa, ix, d)
		if cols == "" {
			continue
		}
		name := d.QuoteIdent(fmt.Sprintf("%s_%d_i%d", base, epoch, i))
		if err := exec("CREATE INDEX " + name + " ON " + target + " (" + cols + ")"); err != nil {
			drop()
			return 0, fmt.Errorf("index %s: %w", ix.Name, err)
		}
	}
	var n int64
	if rows, err := src.wh.Query(ctx, "SELECT count(*) FROM "+target); err == nil {
		if rows.Next() {
			if vals, err := rows.Values(); err == nil {
				n, _ = vals[0].(int64)
			}
		}
		rows.Close()
	}
	if err := exec("ALTER TABLE " + target + " RENAME TO " + d.QuoteIdent(final)); err != nil {
		drop()
		if exists(err) {
			// Another gateway finished the epoch's table first.
			return 0, claimedError{err}
		}
		return 0, err
	}
	return n, nil
}

// indexColumns are an index's columns of the rollup's table, quoted and
// listed ("" when none is a column).
func indexColumns(pa *cubes.PreAggregation, ix cubes.PreAggregationIndex, d cubes.Dialect) string {
	byMember := map[string]string{}
	for _, c := range cubes.RollupColumns(pa) {
		byMember[cubes.FullName(c.Member)] = c.Name
	}
	var cols []string
	for _, m := range ix.Columns {
		if name, ok := byMember[cubes.FullName(m)]; ok {
			cols = append(cols, d.QuoteIdent(name))
		}
	}
	return strings.Join(cols, ", ")
}

// exists reports PostgreSQL's "already exists" errors (42P07 table,
// 42P06 schema, 23505 when two sessions create the same schema at once).
func exists(err error) bool {
	var code string
	if e, ok := err.(interface{ SQLState() string }); ok {
		code = e.SQLState()
	}
	return code == "42P07" || code == "42P06" || code == "42710" || code == "23505"
}

// columnTypes are the rollup table's columns, typed as the warehouse
// types its query's result (asked without running it: LIMIT 0).
func (r *rollups) columnTypes(ctx context.Context, wh warehouse.Warehouse, d cubes.Dialect, c *cubes.Compiled) (string, error) {
	rows, err := wh.Query(ctx, "SELECT * FROM ("+c.SQL+") AS "+d.QuoteIdent("q")+" LIMIT 0", c.Args...)
	if err != nil {
		return "", err
	}
	names, oids := rows.Columns(), rows.Types()
	rows.Next()
	err = rows.Err()
	rows.Close()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i, name := range names {
		t, ok := sqlTypeName(oids[i])
		if !ok {
			return "", fmt.Errorf("column %s: the warehouse's type (OID %d) cannot be stored in a rollup table", name, oids[i])
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.QuoteIdent(name) + " " + t)
	}
	return b.String(), nil
}

// sqlTypeName spells a result column's type (a PostgreSQL OID) for a
// PostgreSQL CREATE TABLE: numbers exact (numeric without a scale).
func sqlTypeName(oid uint32) (string, bool) {
	pg := map[uint32]string{
		pgtype.BoolOID: "boolean", pgtype.Int2OID: "smallint", pgtype.Int4OID: "integer", pgtype.Int8OID: "bigint",
		pgtype.Float4OID: "real", pgtype.Float8OID: "double precision", pgtype.NumericOID: "numeric",
		pgtype.TextOID: "text", pgtype.VarcharOID: "text", pgtype.BPCharOID: "text", pgtype.DateOID: "date",
		pgtype.TimestampOID: "timestamp", pgtype.TimestamptzOID: "timestamptz", pgtype.IntervalOID: "interval",
		pgtype.UUIDOID: "uuid", pgtype.ByteaOID: "bytea", pgtype.JSONOID: "json", pgtype.JSONBOID: "jsonb",
	}
	t, ok := pg[oid]
	return t, ok
}

// dropStale drops a rollup's complete tables older than the one before
// cur, and builds abandoned before cur.
func (r *rollups) dropStale(ctx context.Context, wh warehouse.Warehouse, d cubes.Dialect, schema, base string, tables rollupTableSet, cur int64) {
	qs := d.QuoteIdent(schema) + "."
	var names []string
	for _, e := range tables.complete {
		if e < cur-1 {
			names = append(names, fmt.Sprintf("%s_%d", base, e))
		}
	}
	for e := range tables.building {
		// A build of the epoch before may still run (a build longer than
		// the interval, another gateway's clock): only older ones are
		// abandoned.
		if e < cur-1 {
			names = append(names, fmt.Sprintf("%s_%d_building", base, e))
		}
	}
	for _, n := range names {
		rows, err := wh.Query(ctx, "DROP TABLE IF EXISTS "+qs+d.QuoteIdent(n))
		if err == nil {
			rows.Close()
		}
	}
}

// currentTable is the warehouse table a rollup with external: false is
// read from, "" when it is older than the epoch before the current one —
// the other gateways may have dropped it (this gateway's worker may be
// busy building something else).
func currentTable(st *rollupState, now time.Time) string {
	every := st.every
	if every < time.Second {
		every = time.Second
	}
	if st.table == "" || st.epoch < now.Unix()/int64(every/time.Second)-1 {
		return ""
	}
	return st.table
}
