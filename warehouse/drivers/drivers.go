// Package drivers links every warehouse engine's driver into the
// gateway: each is a package of its own that registers its DSN schemes
// with warehouse.Register in its init (PostgreSQL and DuckDB are built
// into package warehouse).
package drivers

import (
	_ "github.com/cubegate/cubegate/warehouse/bigquery"
	_ "github.com/cubegate/cubegate/warehouse/clickhouse"
	_ "github.com/cubegate/cubegate/warehouse/mysql"
	_ "github.com/cubegate/cubegate/warehouse/redshift"
	_ "github.com/cubegate/cubegate/warehouse/snowflake"
	_ "github.com/cubegate/cubegate/warehouse/trino"
)
