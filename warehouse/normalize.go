package warehouse

import (
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Normalize maps a driver's Go value onto the small set Rows promises
// (the engines' drivers in packages of their own use it too).
func Normalize(v any) any { return normalize(v) }

// normalize maps a driver's Go value onto the small set Rows promises.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, []byte, time.Time, pgtype.Numeric, pgtype.Interval, [16]byte:
		return x
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= 1<<63-1 {
			return int64(x)
		}
		return pgtype.Numeric{Int: new(big.Int).SetUint64(x), Valid: true}
	case float32:
		return float64(x)
	case *big.Int:
		if x == nil {
			return nil
		}
		return pgtype.Numeric{Int: x, Valid: true}
	case pgtype.Date:
		if !x.Valid {
			return nil
		}
		return x.Time
	case pgtype.Time:
		if !x.Valid {
			return nil
		}
		return time.Unix(0, 0).UTC().Add(time.Duration(x.Microseconds) * time.Microsecond)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}
