package rollup_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/rollup"
	"github.com/jackc/pgx/v5/pgtype"
)

// sliceRows is a warehouse.Rows over rows made on demand: the input a
// build reads, as a warehouse query gives it.
type sliceRows struct {
	cols  []string
	types []uint32
	n     int                  // rows
	row   func(i int, v []any) // fills row i
	fail  int                  // Next fails at this row (0: never)
	block func(i int)          // called before row i (may wait)
	i     int
	vals  []any
	err   error
	close func()
}

func (r *sliceRows) Columns() []string { return r.cols }
func (r *sliceRows) Types() []uint32   { return r.types }
func (r *sliceRows) Err() error        { return r.err }
func (r *sliceRows) Close() error {
	if r.close != nil {
		r.close()
		r.close = nil
	}
	return nil
}
func (r *sliceRows) Next() bool {
	if r.i >= r.n || r.err != nil {
		return false
	}
	if r.fail > 0 && r.i == r.fail {
		r.err = errors.New("warehouse went away")
		return false
	}
	if r.block != nil {
		r.block(r.i)
	}
	if r.vals == nil {
		r.vals = make([]any, len(r.cols))
	}
	r.row(r.i, r.vals)
	r.i++
	return true
}
func (r *sliceRows) Values() ([]any, error) { return r.vals, nil }

// counted is n rows of (k int8, v int8) with v = value.
func counted(n int, value int64) *sliceRows {
	return &sliceRows{
		cols: []string{"k", "v"}, types: []uint32{pgtype.Int8OID, pgtype.Int8OID}, n: n,
		row: func(i int, v []any) { v[0], v[1] = int64(i), value },
	}
}

func open(t testing.TB, o rollup.Options) *rollup.Store {
	t.Helper()
	s, err := rollup.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func build(t testing.TB, s *rollup.Store, r, p string, rows warehouse.Rows) rollup.BuildStats {
	t.Helper()
	st, err := s.Build(context.Background(), r, p, rows)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// query is the rows of sql as strings, one line each.
func query(t testing.TB, s interface {
	Query(context.Context, string, ...any) (warehouse.Rows, error)
}, sql string) []string {
	t.Helper()
	rows, err := s.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		var line []string
		for _, v := range vals {
			line = append(line, show(v))
		}
		out = append(out, strings.Join(line, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func show(v any) string {
	switch x := v.(type) {
	case pgtype.Numeric:
		b, _ := x.MarshalJSON()
		return string(b)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case pgtype.Interval:
		return fmt.Sprintf("%dmon%dd%dus", x.Months, x.Days, x.Microseconds)
	}
	return fmt.Sprint(v)
}

func table(t testing.TB, s *rollup.Store, r, p string) string {
	t.Helper()
	name, ok := s.Table(r, p)
	if !ok {
		t.Fatalf("%s/%s is not built", r, p)
	}
	return name
}

// tables are the store's tables besides its catalog.
func tables(t testing.TB, s *rollup.Store) []string {
	t.Helper()
	return query(t, s, `SELECT table_name FROM duckdb_tables() WHERE table_name <> '_rollup_partitions' ORDER BY 1`)
}

func num(s string) pgtype.Numeric {
	if m, e, ok := strings.Cut(s, "e"); ok { // m×10^e, as Postgres sends 1000 at times
		var exp int32
		fmt.Sscan(e, &exp)
		n := num(m)
		n.Exp += exp
		return n
	}
	var n pgtype.Numeric
	if err := n.Scan(s); err != nil {
		panic(err)
	}
	return n
}

func TestBuildQuery(t *testing.T) {
	s := open(t, rollup.Options{})
	day := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	rows := &sliceRows{
		cols: []string{"day", "status", "count", "amount", "paid", "ratio", "ts", "n4", "span", "id", "blob", "misc"},
		types: []uint32{pgtype.DateOID, pgtype.TextOID, pgtype.Int8OID, pgtype.NumericOID, pgtype.BoolOID, pgtype.Float8OID,
			pgtype.TimestamptzOID, pgtype.Int4OID, pgtype.IntervalOID, pgtype.UUIDOID, pgtype.ByteaOID, pgtype.TextArrayOID},
		n: 3,
		row: func(i int, v []any) {
			v[0] = day.AddDate(0, 0, i)
			v[1] = []string{"new", "shipped", "a status longer than twelve bytes"}[i]
			v[2] = int64(i * 10)
			v[3] = []any{num("1.5"), nil, num("-12345678901234567890.125")}[i]
			v[4] = i%2 == 0
			v[5] = 0.25 * float64(i)
			v[6] = day.Add(time.Duration(i) * time.Hour)
			v[7] = int64(i)
			v[8] = pgtype.Interval{Months: 1, Days: int32(i), Microseconds: 5, Valid: true}
			v[9] = [16]byte{byte(i), 1, 2}
			v[10] = []byte{0, byte(i)}
			v[11] = "{a,b}"
		},
	}
	st := build(t, s, "orders", "2024-03", rows)
	if st.Rows != 3 || st.Bytes <= 0 {
		t.Fatalf("stats %+v", st)
	}
	name := table(t, s, "orders", "2024-03")
	got := query(t, s, "SELECT * FROM "+name+" ORDER BY count")
	want := []string{
		`2024-03-01T00:00:00Z|new|0|1.500|true|0|2024-03-01T00:00:00Z|0|1mon0d5us|[0 1 2 0 0 0 0 0 0 0 0 0 0 0 0 0]|[0 0]|{a,b}`,
		`2024-03-02T00:00:00Z|shipped|10|<nil>|false|0.25|2024-03-01T01:00:00Z|1|1mon1d5us|[1 1 2 0 0 0 0 0 0 0 0 0 0 0 0 0]|[0 1]|{a,b}`,
		`2024-03-03T00:00:00Z|a status longer than twelve bytes|20|-12345678901234567890.125|true|0.5|2024-03-01T02:00:00Z|2|1mon2d5us|[2 1 2 0 0 0 0 0 0 0 0 0 0 0 0 0]|[0 2]|{a,b}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The types read back are the ones built from.
	r, err := s.Query(context.Background(), "SELECT * FROM "+name)
	if err != nil {
		t.Fatal(err)
	}
	gotTypes := r.Types()
	r.Close()
	for i, oid := range rows.types {
		if oid == pgtype.TextArrayOID {
			oid = pgtype.TextOID // stored as its text
		}
		if gotTypes[i] != oid {
			t.Errorf("column %s: type %d, want %d", rows.cols[i], gotTypes[i], oid)
		}
	}

	if _, ok := s.Table("orders", "2024-04"); ok {
		t.Fatal("unbuilt partition has a table")
	}
	ps := s.Partitions()
	if len(ps) != 1 || ps[0].Rows != 3 || ps[0].Bytes != st.Bytes || ps[0].Hits != 1 || ps[0].Table != name {
		t.Fatalf("partitions %+v", ps)
	}
}

func TestTables(t *testing.T) {
	s := open(t, rollup.Options{})
	build(t, s, "r", "a", counted(3, 1))
	build(t, s, "r", "b", counted(4, 2))
	from, ok := s.Tables("r", []string{"a", "b"})
	if !ok {
		t.Fatal("not built")
	}
	if got := query(t, s, "SELECT count(*), sum(v) FROM "+from+" AS t"); got[0] != "7|11" {
		t.Fatalf("got %v", got)
	}
	if _, ok := s.Tables("r", []string{"a", "c"}); ok {
		t.Fatal("a missing partition gave a FROM item")
	}
	if _, ok := s.Tables("r", nil); ok {
		t.Fatal("no partitions gave a FROM item")
	}
}

// A query reading a partition while it is rebuilt reads the old rows to
// its end; queries after the swap read the new ones; the name never
// stops resolving.
func TestRebuildWhileReading(t *testing.T) {
	ctx := context.Background()
	s := open(t, rollup.Options{})
	const n = 100_000
	build(t, s, "r", "p", counted(n, 1))
	name := table(t, s, "r", "p")

	// A long reader: started before the rebuild, finished after it.
	rows, err := s.Query(ctx, "SELECT v FROM "+name)
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatal("no first row")
	}

	// Short readers running all along: every one sees one build whole.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				from, ok := s.Table("r", "p")
				if !ok {
					errs <- errors.New("partition gone during rebuild")
					return
				}
				r, err := s.Query(ctx, "SELECT count(*), min(v), max(v) FROM "+from)
				if err != nil {
					errs <- err
					return
				}
				r.Next()
				v, _ := r.Values()
				got := fmt.Sprint(v...)
				r.Close()
				if got != fmt.Sprint(int64(n), int64(1), int64(1)) && got != fmt.Sprint(int64(n/2), int64(2), int64(2)) {
					errs <- fmt.Errorf("a reader saw %s", got)
					return
				}
			}
		}()
	}

	for i := 0; i < 3; i++ {
		v := int64(2)
		build(t, s, "r", "p", counted(n/2, v))
	}
	if got := table(t, s, "r", "p"); got != name {
		t.Fatalf("rebuild renamed the partition: %s, was %s", got, name)
	}

	count := 1
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		if vals[0] != int64(1) {
			t.Fatalf("the long reader saw %v from the new build", vals[0])
		}
		count++
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("the long reader failed: %v", err)
	}
	rows.Close()
	if count != n {
		t.Fatalf("the long reader read %d rows, want %d", count, n)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := query(t, s, "SELECT count(*), sum(v) FROM "+name); got[0] != fmt.Sprintf("%d|%d", n/2, n) {
		t.Fatalf("after rebuild: %v", got)
	}
	if got := tables(t, s); len(got) != 1 {
		t.Fatalf("tables left: %v", got)
	}
}

// A build that fails halfway, by its rows' error or its context, leaves
// the old partition serving and no table behind.
func TestFailedBuild(t *testing.T) {
	s := open(t, rollup.Options{})
	build(t, s, "r", "p", counted(1000, 1))
	name := table(t, s, "r", "p")

	bad := counted(50_000, 2)
	bad.fail = 30_000
	if _, err := s.Build(context.Background(), "r", "p", bad); err == nil || !strings.Contains(err.Error(), "warehouse went away") {
		t.Fatalf("build from failing rows: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	canceled := counted(50_000, 3)
	canceled.block = func(i int) {
		if i == 20_000 {
			cancel()
		}
	}
	if _, err := s.Build(ctx, "r", "p", canceled); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled build: %v", err)
	}

	// A failed first build of a partition leaves nothing either.
	bad = counted(10_000, 2)
	bad.fail = 5000
	if _, err := s.Build(context.Background(), "r", "q", bad); err == nil {
		t.Fatal("no error")
	}
	if _, ok := s.Table("r", "q"); ok {
		t.Fatal("a failed first build is served")
	}

	if got := table(t, s, "r", "p"); got != name {
		t.Fatalf("table %s, was %s", got, name)
	}
	if got := query(t, s, "SELECT count(*), sum(v) FROM "+name); got[0] != "1000|1000" {
		t.Fatalf("old partition reads %v", got)
	}
	if got := tables(t, s); len(got) != 1 || !strings.Contains(name, got[0]) {
		t.Fatalf("tables: %v, want only %s", got, name)
	}
	if ps := s.Partitions(); len(ps) != 1 || ps[0].Rows != 1000 {
		t.Fatalf("partitions %+v", ps)
	}
}

// Over MaxBytes, the least recently used partitions go, never the one
// just built.
func TestEviction(t *testing.T) {
	// Each build: 100 rows of two BIGINTs, 1600 bytes.
	s := open(t, rollup.Options{MaxBytes: 3 * 1600})
	for _, p := range []string{"a", "b", "c"} {
		if st := build(t, s, "r", p, counted(100, 1)); st.Bytes != 1600 {
			t.Fatalf("bytes %d, want 1600", st.Bytes)
		}
	}
	table(t, s, "r", "a") // a is now more recent than b and c
	build(t, s, "r", "d", counted(100, 1))
	if got := names(s); got != "a c d" {
		t.Fatalf("after d: %s, want b evicted", got)
	}
	table(t, s, "r", "c")
	// Twice the bound: everything else goes, the new one stays.
	build(t, s, "r", "big", counted(600, 1))
	if got := names(s); got != "big" {
		t.Fatalf("after big: %s", got)
	}
	if _, ok := s.Table("r", "b"); ok {
		t.Fatal("evicted partition served")
	}
	if got := tables(t, s); len(got) != 1 {
		t.Fatalf("tables: %v", got)
	}
}

func names(s *rollup.Store) string {
	var out []string
	for _, p := range s.Partitions() {
		out = append(out, p.Partition)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// With a Dir, partitions (and their use) survive a restart, and tables
// a crashed build left are dropped.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := rollup.Open(ctx, rollup.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	build(t, s, "orders", "2024-01", counted(1000, 2))
	build(t, s, "orders", "2024-02", counted(10, 3))
	name := table(t, s, "orders", "2024-01")
	table(t, s, "orders", "2024-01")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A crash mid-build leaves a staging table.
	w, err := warehouse.OpenDuckDB(ctx, filepath.Join(dir, rollup.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.DB().ExecContext(ctx, `CREATE TABLE _staging_99 AS SELECT 1 AS x`); err != nil {
		t.Fatal(err)
	}
	w.Close()

	s = open(t, rollup.Options{Dir: dir})
	if got := table(t, s, "orders", "2024-01"); got != name {
		t.Fatalf("table %s, was %s", got, name)
	}
	if got := query(t, s, "SELECT count(*), sum(v) FROM "+name); got[0] != "1000|2000" {
		t.Fatalf("after restart: %v", got)
	}
	ps := s.Partitions()
	if len(ps) != 2 || ps[0].Hits != 3 || ps[0].Rows != 1000 || ps[0].BuiltAt.IsZero() || ps[0].BuildTook <= 0 || ps[1].Hits != 0 {
		t.Fatalf("partitions %+v", ps)
	}
	if got := tables(t, s); len(got) != 2 {
		t.Fatalf("tables: %v", got)
	}
	// New partitions do not reuse a name.
	build(t, s, "orders", "2024-03", counted(1, 1))
	if a, b := table(t, s, "orders", "2024-03"), name; a == b {
		t.Fatal("name reused")
	}
}

func TestConcurrentBuilds(t *testing.T) {
	s := open(t, rollup.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 2 {
				if _, err := s.Build(context.Background(), "r", fmt.Sprint(i), counted(20_000+i, int64(i+round))); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range 8 {
		name := table(t, s, "r", fmt.Sprint(i))
		want := fmt.Sprintf("%d|%d", 20_000+i, (20_000+i)*(i+1))
		if got := query(t, s, "SELECT count(*), sum(v) FROM "+name); got[0] != want {
			t.Fatalf("partition %d: %v, want %s", i, got, want)
		}
	}
	if got := tables(t, s); len(got) != 8 {
		t.Fatalf("tables: %v", got)
	}

	// Builds of one partition race: each swaps in whole, the last stays.
	errs = make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Build(context.Background(), "same", "p", counted(10_000, int64(i))); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := query(t, s, "SELECT count(*), count(DISTINCT v) FROM "+table(t, s, "same", "p"))
	if got[0] != "10000|1" {
		t.Fatalf("same partition: %v", got)
	}
	if got := tables(t, s); len(got) != 9 {
		t.Fatalf("tables: %v", got)
	}
}

// Decimals keep their scale, a later value with more places widens the
// column, and sums are exact.
func TestNumericExact(t *testing.T) {
	s := open(t, rollup.Options{})
	vals := []string{"3", "0.1", "0.2", "0.30", "1234567890123.4567", "-0.0001", "1e3", "99999999999999999.99999999"}
	const n = 10_000
	want := new(big.Rat)
	rows := &sliceRows{
		cols: []string{"x"}, types: []uint32{pgtype.NumericOID}, n: n,
		row: func(i int, v []any) {
			v[0] = num(vals[i%len(vals)])
		},
	}
	for i := range n {
		r, _ := new(big.Rat).SetString(vals[i%len(vals)])
		want.Add(want, r)
	}
	build(t, s, "r", "p", rows)
	name := table(t, s, "r", "p")
	got := query(t, s, "SELECT sum(x)::VARCHAR, typeof(sum(x)), max(x) FROM "+name)
	parts := strings.Split(got[0], "|")
	sum, ok := new(big.Rat).SetString(parts[0])
	if !ok || sum.Cmp(want) != 0 {
		t.Fatalf("sum %s, want %s", parts[0], want.FloatString(8))
	}
	if parts[1] != "DECIMAL(38,8)" || parts[2] != "99999999999999999.99999999" {
		t.Fatalf("got %v", parts)
	}
	// Values read back as they went in.
	back := query(t, s, "SELECT x FROM "+name+" LIMIT 8")
	for i, v := range back {
		a, _ := new(big.Rat).SetString(strings.Trim(v, `"`))
		b, _ := new(big.Rat).SetString(vals[i])
		if a == nil || a.Cmp(b) != 0 {
			t.Errorf("row %d: %s, want %s", i, v, vals[i])
		}
	}

	// A value too wide for DECIMAL(38) beside the others fails the build.
	rows = &sliceRows{
		cols: []string{"x"}, types: []uint32{pgtype.NumericOID}, n: 2,
		row: func(i int, v []any) {
			v[0] = num([]string{"123456789012345678901234567890", "0.123456789012"}[i])
		},
	}
	if _, err := s.Build(context.Background(), "r", "q", rows); err == nil || !strings.Contains(err.Error(), "DECIMAL") {
		t.Fatalf("too wide: %v", err)
	}
}

// A build from the embedded warehouse's own rows.
func TestBuildFromDuckDB(t *testing.T) {
	ctx := context.Background()
	w, err := warehouse.OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.DB().ExecContext(ctx, `CREATE TABLE orders AS
		SELECT TIMESTAMP '2024-01-01' + INTERVAL (i % 90) DAY AS created_at,
		       ['new', 'shipped', 'done'][1 + i % 3] AS status,
		       (i * 7 % 1000)::DECIMAL(12, 2) / 100 AS amount
		FROM range(50000) t(i)`); err != nil {
		t.Fatal(err)
	}
	const agg = `SELECT date_trunc('month', created_at) AS month, status, count(*) AS count, sum(amount) AS amount
		FROM orders GROUP BY 1, 2`
	rows, err := w.Query(ctx, agg)
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, rollup.Options{})
	st := build(t, s, "orders_by_month", "all", rows)
	if st.Rows != 9 {
		t.Fatalf("rows %d", st.Rows)
	}
	name := table(t, s, "orders_by_month", "all")
	want := query(t, w, "SELECT status, sum(count), sum(amount) FROM ("+agg+") GROUP BY 1 ORDER BY 1")
	got := query(t, s, "SELECT status, sum(count), sum(amount) FROM "+name+" GROUP BY 1 ORDER BY 1")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDrop(t *testing.T) {
	s := open(t, rollup.Options{})
	build(t, s, "r", "a", counted(1, 1))
	build(t, s, "r", "b", counted(1, 1))
	build(t, s, "other", "a", counted(1, 1))
	ctx := context.Background()
	if err := s.Drop(ctx, "r", "a"); err != nil {
		t.Fatal(err)
	}
	if names(s) != "a b" {
		t.Fatalf("after drop: %s", names(s))
	}
	if err := s.Drop(ctx, "r", ""); err != nil {
		t.Fatal(err)
	}
	if ps := s.Partitions(); len(ps) != 1 || ps[0].Rollup != "other" {
		t.Fatalf("after drop all: %+v", ps)
	}
	if got := tables(t, s); len(got) != 1 {
		t.Fatalf("tables %v", got)
	}
}

// The store's DuckDB is locked down like the warehouse's: its memory
// limit, no files or URLs, and no setting changed by a statement.
func TestLockedDown(t *testing.T) {
	s := open(t, rollup.Options{MemoryLimit: 64 << 20})
	got := query(t, s, `SELECT current_setting('memory_limit'), current_setting('enable_external_access'), current_setting('lock_configuration')`)
	if got[0] != "64.0 MiB|false|true" {
		t.Fatalf("settings %v", got)
	}
	for _, q := range []string{"SET memory_limit = '8GB'", "SELECT * FROM read_csv('/etc/passwd')"} {
		if r, err := s.Query(context.Background(), q); err == nil {
			r.Close()
			t.Errorf("%s: no error", q)
		}
	}
	s.Close()
	if _, err := s.Build(context.Background(), "r", "p", counted(1, 1)); err == nil {
		t.Fatal("build after Close")
	}
}

// Store reads like a warehouse.
var _ warehouse.Warehouse = (*rollup.Store)(nil)
