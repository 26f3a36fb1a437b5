package rollup_test

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/rollup"
	"github.com/jackc/pgx/v5/pgtype"
)

// BenchmarkBuild builds a partition of 1,000,000 rows of (timestamp,
// text, int8, numeric) into a store on disk, and reports rows/s and the
// process's peak RSS (VmHWM).
func BenchmarkBuild(b *testing.B) {
	const n = 1_000_000
	s := open(b, rollup.Options{Dir: b.TempDir()})
	// Values made once: the benchmark measures the store, not the source.
	statuses := []string{"new", "shipped", "delivered", "returned to the warehouse"}
	amounts := make([]pgtype.Numeric, 1000)
	for i := range amounts {
		amounts[i] = pgtype.Numeric{Int: big.NewInt(int64(i*137 - 5000)), Exp: -2, Valid: true}
	}
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows := &sliceRows{
			cols:  []string{"created_at", "status", "count", "amount"},
			types: []uint32{pgtype.TimestampOID, pgtype.TextOID, pgtype.Int8OID, pgtype.NumericOID},
			n:     n,
			row: func(i int, v []any) {
				v[0] = day.Add(time.Duration(i) * time.Minute)
				v[1] = statuses[i%len(statuses)]
				v[2] = int64(i)
				v[3] = amounts[i%len(amounts)]
			},
		}
		st, err := s.Build(context.Background(), "orders", fmt.Sprint(i%2), rows)
		if err != nil {
			b.Fatal(err)
		}
		if st.Rows != n {
			b.Fatalf("rows %d", st.Rows)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "rows/s")
	if hwm := peakRSS(); hwm > 0 {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
	}
}

// BenchmarkBuildNative is the ceiling BenchmarkBuild is quoted against:
// DuckDB making the same 1,000,000 rows itself (CREATE TABLE AS from
// range) in a database opened as the store's is, no Go values crossing.
func BenchmarkBuildNative(b *testing.B) {
	const n = 1_000_000
	w, err := warehouse.OpenDuckDB(context.Background(), filepath.Join(b.TempDir(), "native.duckdb")+"?memory_limit=256MiB")
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.DB().Exec(`CREATE OR REPLACE TABLE t AS SELECT
			TIMESTAMP '2024-01-01' + to_minutes(i) AS created_at,
			['new', 'shipped', 'delivered', 'returned to the warehouse'][1 + i % 4] AS status,
			i AS count,
			((i % 1000) * 137 - 5000)::DECIMAL(38, 2) / 100 AS amount
			FROM range(1000000) r(i)`); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "rows/s")
}

// peakRSS is the process's peak resident set in bytes (0 if unknown).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
