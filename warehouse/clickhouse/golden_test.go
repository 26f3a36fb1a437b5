package clickhouse_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/cubes/cubestest"
	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/clickhouse/chtest"
)

// newer are the queries ClickHouse 18.16 cannot run, and why; each runs
// (or is refused) on the current ClickHouse of chdb instead.
var newer = map[string]string{
	"filters_all_kinds":   "18.16 compares no Decimal with a Float64 (the bound 100.5): code 43",
	"join_many_to_one":    "one JOIN per SELECT in 18.16 (several came in 19.x): code 48",
	"sub_query":           "no correlated subqueries in 18.16: code 47 (and not in GROUP BY keys in current ClickHouse either)",
	"rolling_window":      "only equalities in JOIN ON (the rolling window's range join): code 403, current ClickHouse too",
	"rolling_window_week": "only equalities in JOIN ON (the rolling window's range join): code 403, current ClickHouse too",
}

// differs are the queries whose answers differ from PostgreSQL's
// (DuckDB's) on ClickHouse, and why: SQL of the model the dialect does
// not write.
var differs = map[string]string{
	"filtered_and_calculated": "the model's sum(amount) / NULLIF(count(id), 0): a Decimal(p, 2) quotient keeps scale 2 in ClickHouse (truncated: 494.07, PostgreSQL 494.075509…)",
}

// chdbDir holds run.js and chdb (scripts/deps.sh: npm ci).
var chdbDir = filepath.Join("..", "..", "testdata", "clients", "chdb")

type compiled struct {
	name, sql, total string
	args, totalArgs  []any
	want, wantTotal  [][]any
	ordered          bool
}

// golden: every golden query compiled for ClickHouse answers on 18.16 as
// the same query compiled for DuckDB answers on DuckDB, or is listed in
// newer (with the reason 18.16 refuses it); every one answers alike on
// the current ClickHouse of chdb, or is refused there with the reason
// the list gives.
func (e *env) golden(t *testing.T) {
	oracle, err := cubes.LoadDir("../../testdata/oracle/model")
	if err != nil {
		t.Fatal(err)
	}
	features, err := cubes.LoadDir("../../cubes/testdata/features")
	if err != nil {
		t.Fatal(err)
	}
	chd, _ := cubes.DialectByName("clickhouse")
	duck, _ := cubes.DialectByName("duckdb")
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	all := append(append(append([]cubestest.Query{}, cubestest.Golden...), cubestest.Times...), cubestest.Features...)
	var cs []compiled
	ran, old := 0, map[string]string{}
	for _, g := range all {
		t.Run(g.Name, func(t *testing.T) {
			m := oracle
			if cubestest.UsesFeatures(g) {
				m = features
			}
			var q1, q2 cubes.Query
			if err := json.Unmarshal([]byte(g.JSON), &q1); err != nil {
				t.Fatal(err)
			}
			json.Unmarshal([]byte(g.JSON), &q2)
			cm, err := m.CompileAt(&q1, chd, now)
			if err != nil {
				t.Fatal(err)
			}
			cd, err := m.CompileAt(&q2, duck, now)
			if err != nil {
				t.Fatal(err)
			}
			c := compiled{name: g.Name, sql: cm.SQL, args: cm.Args, total: cm.TotalSQL, totalArgs: cm.TotalArgs,
				want: run(t, e.duck, cd.SQL, cd.Args), ordered: len(q1.Order) > 0 || q1.Order == nil}
			if cd.TotalSQL != "" {
				c.wantTotal = run(t, e.duck, cd.TotalSQL, cd.TotalArgs)
			}
			cs = append(cs, c)
			got, cols, err := tryRunCols(e.w, cm.SQL, cm.Args)
			var refused *warehouse.Error
			if errors.As(err, &refused) && refused.Code == pgerrcode.FeatureNotSupported {
				// The gateway refuses joins before 20.1 (refuseJoins): a
				// current ClickHouse runs them (chdb, below).
				t.Logf("refused on 18.16 by the gateway: %v", err)
				return
			}
			if err != nil {
				old[g.Name] = err.Error()
				t.Logf("18.16 refuses it: %v", err)
				return
			}
			if reason := differs[g.Name]; reason != "" {
				if strings.Join(sorted(rowKeys(got)), "\n") == strings.Join(sorted(rowKeys(c.want)), "\n") {
					t.Errorf("listed as differing (%s), but answers alike", reason)
				}
				t.Logf("differs as known: %s", reason)
				return
			}
			compare(t, got, c.want, false)
			if keys := orderKeys(cm.SQL, cols); c.ordered && keys != nil {
				compare(t, project(got, keys), project(c.want, keys), true) // their order (ties in any)
			}
			if cm.TotalSQL != "" {
				compare(t, run(t, e.w, cm.TotalSQL, cm.TotalArgs), c.wantTotal, false)
			}
			if !t.Failed() {
				ran++
			}
			t.Logf("%d rows", len(got))
		})
	}
	t.Logf("%d of %d queries ran on ClickHouse 18.16 and answered as on DuckDB", ran, len(all))
	for name, err := range old {
		if newer[name] == "" {
			t.Errorf("%s: refused by 18.16 and not listed as needing a newer ClickHouse: %s", name, err)
		} else {
			t.Logf("needs a newer ClickHouse: %s (%s)", name, newer[name])
		}
	}

	// The current ClickHouse of chdb, over the same data.
	setup := e.chdbSetup(t)
	var queries []string
	for _, c := range cs {
		queries = append(queries, inline(c.sql, c.args)+chSettings)
		if c.total != "" {
			queries = append(queries, inline(c.total, c.totalArgs)+chSettings)
		}
	}
	version, results := chdb(t, setup, queries)
	okNow := 0
	i := 0
	for _, c := range cs {
		r := results[i]
		i++
		var rt *chdbResult
		if c.total != "" {
			rt = &results[i]
			i++
		}
		t.Run("chdb/"+c.name, func(t *testing.T) {
			if r.Error != "" {
				if reason, ok := refusedNow[c.name]; ok && strings.Contains(r.Error, reason) {
					t.Logf("refused by ClickHouse %s too (%s)", version, reason)
					return
				}
				t.Fatalf("ClickHouse %s: %s\n%s", version, r.Error, inline(c.sql, c.args))
			}
			if reason := differs[c.name]; reason != "" {
				t.Logf("differs as known: %s", reason)
				return
			}
			compareTSV(t, r.TSV, c.want, c.ordered)
			if rt != nil {
				compareTSV(t, rt.TSV, c.wantTotal, false)
			}
			if !t.Failed() {
				okNow++
			}
		})
	}
	t.Logf("%d of %d queries ran on ClickHouse %s (chdb) and answered as on DuckDB", okNow, len(cs), version)
}

// refusedNow are the compiler's queries a current ClickHouse refuses
// too: the text its error has.
var refusedNow = map[string]string{
	"sub_query":           "Correlated subqueries in aggregation keys are not supported",
	"rolling_window":      "Cannot determine join keys in JOIN ON expression",
	"rolling_window_week": "Cannot determine join keys in JOIN ON expression",
}

// chSettings are the driver's settings, for chdb.
const chSettings = " SETTINGS join_use_nulls = 1, session_timezone = 'UTC', union_default_mode = 'DISTINCT', intersect_default_mode = 'DISTINCT', except_default_mode = 'DISTINCT', enable_positional_arguments = 1, cast_keep_nullable = 1"

// chdbSetup: the demo tables as they are on the 18.16 server (their
// CREATE TABLE and their rows as VALUES), for chdb.
func (e *env) chdbSetup(t *testing.T) []string {
	setup := []string{"CREATE DATABASE IF NOT EXISTS public"}
	for _, table := range []string{"orders_raw", "customers_raw", "products_raw", "accounts", "events"} {
		create := e.ch.Client(t, chtest.Database, "--query", "SHOW CREATE TABLE public."+table, "--format", "TSVRaw")
		values := e.ch.Client(t, chtest.Database, "--query", "SELECT * FROM public."+table, "--format", "Values")
		setup = append(setup, strings.TrimSpace(create), "INSERT INTO public."+table+" VALUES "+strings.TrimSpace(values))
	}
	return setup
}

type chdbResult struct {
	TSV   string `json:"tsv"`
	Error string `json:"error"`
}

// chdb runs setup and then queries on chdb (testdata/clients/chdb); a
// missing chdb fails the test (make deps installs it).
func chdb(t *testing.T, setup, queries []string) (string, []chdbResult) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(chdbDir, "node_modules", "chdb")); err != nil {
		t.Fatalf("no chdb in %s: run scripts/deps.sh (npm ci there)", chdbDir)
	}
	in, _ := json.Marshal(map[string]any{"setup": setup, "queries": queries})
	cmd := exec.Command("node", "run.js")
	cmd.Dir = chdbDir
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chdb: %v\n%s", err, stderr.String())
	}
	var res struct {
		Version string       `json:"version"`
		Results []chdbResult `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("chdb: %v\n%s", err, out)
	}
	return res.Version, res.Results
}

var isoArg = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$`)

// literal is a bound value as the driver binds it (after the
// warehouse's Arg): the compiler's ISO timestamps as DateTime.
func literal(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		if isoArg.MatchString(x) {
			tm, _ := time.Parse(time.RFC3339Nano, x)
			return "toDateTime('" + tm.UTC().Format("2006-01-02 15:04:05") + "')"
		}
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(x) + "'"
	case bool:
		if x {
			return "1"
		}
		return "0"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		return "toDateTime('" + x.UTC().Format("2006-01-02 15:04:05") + "')"
	}
	return fmt.Sprint(v)
}

var placeholder = regexp.MustCompile(`\$([0-9]+)`)

// inline writes the arguments into the statement, as the driver does.
func inline(sql string, args []any) string {
	return placeholder.ReplaceAllStringFunc(sql, func(p string) string {
		n, _ := strconv.Atoi(p[1:])
		if n < 1 || n > len(args) {
			return p
		}
		return literal(args[n-1])
	})
}

func tryRun(w warehouse.Warehouse, q string, args []any) ([][]any, error) {
	out, _, err := tryRunCols(w, q, args)
	return out, err
}

func tryRunCols(w warehouse.Warehouse, q string, args []any) ([][]any, []string, error) {
	rows, err := w.Query(context.Background(), q, args...)
	if err != nil {
		return nil, nil, err
	}
	cols := rows.Columns()
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			return nil, nil, err
		}
		out = append(out, append([]any(nil), v...))
	}
	return out, cols, rows.Err()
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

var orderKey = regexp.MustCompile("^`([^`]+)` (ASC|DESC) NULLS (FIRST|LAST)$")

// orderKeys are the columns (0-based) of the statement's last ORDER BY,
// whose keys are the columns' aliases; nil when a key is not.
func orderKeys(sql string, cols []string) []int {
	i := strings.LastIndex(sql, " ORDER BY ")
	if i < 0 {
		return nil
	}
	rest := sql[i+len(" ORDER BY "):]
	if j := strings.Index(rest, " LIMIT "); j >= 0 {
		rest = rest[:j]
	}
	var out []int
	for _, f := range strings.Split(rest, ", ") {
		m := orderKey.FindStringSubmatch(strings.TrimSpace(f))
		if m == nil {
			return nil
		}
		k := -1
		for c, name := range cols {
			if name == m[1] {
				k = c
			}
		}
		if k < 0 {
			return nil
		}
		out = append(out, k)
	}
	return out
}

func project(rows [][]any, cols []int) [][]any {
	out := make([][]any, len(rows))
	for i, r := range rows {
		for _, c := range cols {
			out[i] = append(out[i], r[c])
		}
	}
	return out
}

func run(t *testing.T, w warehouse.Warehouse, q string, args []any) [][]any {
	t.Helper()
	out, err := tryRun(w, q, args)
	if err != nil {
		t.Fatalf("%s: %v\n%s", w.Dialect(), err, inline(q, args))
	}
	return out
}

// key renders a value for comparison: numbers as floats to 9 significant
// digits, times in UTC to the second (DateTime's), booleans as 0/1.
func key(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case bool:
		if x {
			return "1"
		}
		return "0"
	case int64:
		return fmt.Sprintf("%.9g", float64(x))
	case float64:
		return fmt.Sprintf("%.9g", x)
	case pgtype.Numeric:
		f, _ := x.Float64Value()
		return fmt.Sprintf("%.9g", f.Float64)
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05")
	}
	return fmt.Sprint(v)
}

// tsvKey renders a TabSeparated field as key renders the value.
func tsvKey(s string) string {
	if s == `\N` {
		return "NULL"
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return fmt.Sprintf("%.9g", f)
	}
	if r, ok := new(big.Rat).SetString(s); ok {
		f, _ := r.Float64()
		return fmt.Sprintf("%.9g", f)
	}
	return strings.NewReplacer(`\t`, "\t", `\n`, "\n", `\\`, `\`).Replace(s)
}

func rowKeys(rows [][]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		parts := make([]string, len(r))
		for j, v := range r {
			parts[j] = key(v)
		}
		out[i] = strings.Join(parts, " | ")
	}
	return out
}

func compareKeys(t *testing.T, g, w []string, ordered bool) {
	t.Helper()
	if !ordered {
		g, w = append([]string(nil), g...), append([]string(nil), w...)
		sort.Strings(g)
		sort.Strings(w)
	}
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("rows differ (ordered %v):\n got (%d):\n%s\nwant (%d):\n%s", ordered, len(g), strings.Join(g, "\n"), len(w), strings.Join(w, "\n"))
	}
}

func compare(t *testing.T, got, want [][]any, ordered bool) {
	t.Helper()
	compareKeys(t, rowKeys(got), rowKeys(want), ordered)
}

// compareTSV compares chdb's rows with DuckDB's; ordered: the sort keys
// order ties in any order, so only rows unique in their order are
// compared in place (the sets always).
func compareTSV(t *testing.T, tsv string, want [][]any, ordered bool) {
	t.Helper()
	var g []string
	sc := bufio.NewScanner(strings.NewReader(tsv))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		for i := range f {
			f[i] = tsvKey(f[i])
		}
		g = append(g, strings.Join(f, " | "))
	}
	compareKeys(t, g, rowKeys(want), false)
}

// plannerGoldens: every statement of
// planner/testdata/golden/clickhouse/*.golden (the push-down's and the
// compiler's, with their parameters written in) is accepted by a current
// ClickHouse (EXPLAIN in chdb, over the demo tables); statements the
// dialect refuses (0A000) have none.
func (e *env) plannerGoldens(t *testing.T) {
	files, _ := filepath.Glob("../../planner/testdata/golden/clickhouse/*.golden")
	if len(files) == 0 {
		t.Fatal("no planner/testdata/golden/clickhouse/*.golden")
	}
	type stmt struct{ where, sql string }
	var stmts []stmt
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			if lines[i] != "Warehouse SQL:" {
				continue
			}
			sql := strings.TrimPrefix(lines[i+1], "  ")
			params := map[int]string{}
			j := i + 2
			for ; j < len(lines) && strings.HasPrefix(lines[j], "  parameter $"); j++ {
				var n int
				rest := strings.TrimPrefix(lines[j], "  parameter $")
				num, val, _ := strings.Cut(rest, " = ")
				n, _ = strconv.Atoi(num)
				params[n] = pgLiteral(val)
			}
			sql = placeholder.ReplaceAllStringFunc(sql, func(p string) string {
				n, _ := strconv.Atoi(p[1:])
				if v, ok := params[n]; ok {
					return v
				}
				return p
			})
			stmts = append(stmts, stmt{fmt.Sprintf("%s:%d", filepath.Base(f), i+2), sql})
		}
	}
	setup := e.chdbSetup(t)
	var queries []string
	for _, s := range stmts {
		queries = append(queries, "EXPLAIN "+s.sql+chSettings)
	}
	version, results := chdb(t, setup, queries)
	bad := 0
	for i, r := range results {
		if reason := plannerRefused(r.Error); reason != "" {
			t.Logf("%s: refused as known: %s", stmts[i].where, reason)
			bad++
			continue
		}
		if r.Error != "" {
			bad++
			t.Errorf("%s: ClickHouse %s refuses\n%s\n%s", stmts[i].where, version, stmts[i].sql, r.Error)
		}
	}
	t.Logf("%d of %d statements of the planner's goldens accepted by ClickHouse %s", len(stmts)-bad, len(stmts), version)
	// And on 18.16, which runs what it has: the reasons it refuses the
	// rest (logged; several JOINs, windows, GROUP BY ordinals…).
	ran, why := 0, map[string]int{}
	for _, s := range stmts {
		if _, err := tryRun(e.w, s.sql, nil); err != nil {
			msg := err.Error()
			if i := strings.Index(msg, "(ClickHouse code"); i >= 0 {
				msg = msg[i:]
			}
			why[msg]++
			if warehouse.Unavailable(err) {
				t.Errorf("%s: 18.16 went away: %v\n%s", s.where, err, s.sql)
				break
			}
			if strings.Contains(err.Error(), "code 46)") {
				t.Logf("%s: 18.16 lacks a function: %v", s.where, err)
			}
			continue
		}
		ran++
	}
	t.Logf("%d of %d statements of the planner's goldens run on ClickHouse 18.16; refused: %v", ran, len(stmts), why)
}

// pgLiteral is a golden file's parameter (PostgreSQL's literal text) as
// the driver would bind the value.
func pgLiteral(v string) string {
	if strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'") && len(v) >= 2 {
		return literal(strings.ReplaceAll(v[1:len(v)-1], "''", "'"))
	}
	switch v {
	case "true":
		return "1"
	case "false":
		return "0"
	}
	return v
}

// plannerRefusals are the push-down's statements a current ClickHouse
// refuses, by its error's text, and why (shared code: see the report).
var plannerRefusals = map[string]string{
	"MULTIPLE_EXPRESSIONS_FOR_ALIAS": "two output columns of one name: ClickHouse's aliases are names in the whole query",
	"failed at position":             "ORDER BY after a parenthesized UNION: ClickHouse sorts a SELECT, not a UNION",
}

func plannerRefused(err string) string {
	for k, v := range plannerRefusals {
		if err != "" && strings.Contains(err, k) {
			return v
		}
	}
	return ""
}
