package app

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/warehouse"
)

//go:embed demomodel/*.yml
var demoModel embed.FS

// DemoSizes are the demo dataset's table sizes.
type DemoSizes struct {
	Orders, Customers, Products int
}

// DefaultDemoSizes has a million orders.
var DefaultDemoSizes = DemoSizes{Orders: 1_000_000, Customers: 20_000, Products: 200}

// SizesFor scales customers and products with the number of orders, as
// fixture.sql's larger variant does.
func SizesFor(orders int) DemoSizes {
	if orders == DefaultDemoSizes.Orders {
		return DefaultDemoSizes
	}
	return DemoSizes{Orders: orders, Customers: max(orders/50, 10), Products: max(min(orders/500, 200), 5)}
}

// WriteDemoModel writes the demo model into dir.
func WriteDemoModel(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(demoModel, "demomodel", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := demoModel.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644)
	})
}

// GenerateDemoData fills a DuckDB database with orders_raw, customers_raw
// and products_raw: the shape and formulas of the oracle's fixture.sql, so
// the same sizes give the same rows in DuckDB and in Postgres. Nothing is
// random: every value is computed from the row number.
func GenerateDemoData(ctx context.Context, w *warehouse.DuckDB, s DemoSizes) error {
	stmts := []string{
		// The model names public.*_raw, as in Postgres: DuckDB's default
		// schema is main, so make public.
		`CREATE SCHEMA IF NOT EXISTS public`,
		`DROP TABLE IF EXISTS public.orders_raw`,
		`DROP TABLE IF EXISTS public.customers_raw`,
		`DROP TABLE IF EXISTS public.products_raw`,
		fmt.Sprintf(`CREATE TABLE public.customers_raw AS
SELECT g::INTEGER AS id,
  (['Alice','Bob','Carol','Dave','Eve','Frank','Grace','Heidi','Ivan','Judy',
    'Mallory','Niaj','Olivia','Peggy','Rupert','Sybil','Trent','Victor','Walter','Zoe'])[1 + (g * 7) %% 20]
  || ' ' ||
  (['Smith','Jones','Brown','Taylor','Wilson','Davies','Evans','Thomas','Roberts',
    'Walker','Wright','Hughes','Green'])[1 + (g * 11) %% 13] AS name,
  CASE WHEN g %% 97 = 0 THEN NULL
       ELSE (['New York','London','Paris','Berlin','Tokyo','San Francisco',
              'Sydney','Toronto','Madrid','Amsterdam'])[1 + (g * 3) %% 10] END AS city,
  (['US','UK','FR','DE','JP','US','AU','CA','ES','NL'])[1 + (g * 3) %% 10] AS country,
  CASE WHEN g %% 10 = 0 THEN 'platinum' WHEN g %% 5 = 0 THEN 'gold'
       WHEN g %% 2 = 0 THEN 'silver' ELSE 'bronze' END AS tier,
  TIMESTAMP '2021-01-01 00:00:00' + to_hours(((g * 7919) %% (730 * 24))::BIGINT) AS signed_up_at,
  g %% 6 <> 0 AS is_active
FROM range(1, %d) t(g)`, s.Customers+1),
		fmt.Sprintf(`CREATE TABLE public.products_raw AS
SELECT g::INTEGER AS id,
  'Product ' || lpad(g::VARCHAR, 3, '0') AS name,
  (['Electronics','Books','Toys','Garden','Sports'])[1 + g %% 5] AS category,
  CAST((((g * 1234) %% 9000) + 500) * 0.01 AS DECIMAL(10,2)) AS price
FROM range(1, %d) t(g)`, s.Products+1),
		fmt.Sprintf(`CREATE TABLE public.orders_raw AS
WITH base AS (
  SELECT g,
    CASE WHEN (g * 13) %% 20 < 10 THEN 'completed'
         WHEN (g * 13) %% 20 < 14 THEN 'shipped'
         WHEN (g * 13) %% 20 < 17 THEN 'processing'
         WHEN (g * 13) %% 20 < 19 THEN 'cancelled'
         ELSE 'returned' END AS status,
    TIMESTAMP '2022-01-01 00:00:00' + to_seconds(((g * 104729) %% (1096 * 86400))::BIGINT) AS created_at
  FROM range(1, %d) t(g)
)
SELECT g::INTEGER AS id,
  status,
  CAST((((g * 7907) %% 99991) + 100) * 0.01 AS DECIMAL(10,2)) AS amount,
  created_at,
  (1 + ((g * g + g // 3) %% 1000003) %% greatest(%d - %d // 10, 1))::INTEGER AS customer_id,
  (1 + ((g * 7 + (g * g) %% 13) %% 997) %% %d)::INTEGER AS product_id,
  (1 + (g * 17) %% 5)::INTEGER AS quantity,
  CASE WHEN g %% 4 = 0 THEN NULL ELSE CAST(((g * 3) %% 30) * 0.01 AS DECIMAL(4,2)) END AS discount,
  CASE WHEN status IN ('completed', 'shipped', 'returned')
       THEN created_at + to_hours((((g %% 10) + 1) * 13)::BIGINT) END AS shipped_at,
  g %% 7 = 0 AS is_gift,
  (['web','mobile','store','partner'])[1 + (g * 19 + g // 3) %% 4] AS channel
FROM base`, s.Orders+1, s.Customers, s.Customers, s.Products),
	}
	db := w.DB()
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("generate demo data: %w", err)
		}
	}
	return nil
}

// DemoDataCount returns the number of orders in a demo database, or -1
// when it has none.
func DemoDataCount(ctx context.Context, w *warehouse.DuckDB) int {
	var n int
	if err := w.DB().QueryRowContext(ctx, `SELECT count(*) FROM public.orders_raw`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// demoKeyLabel marks the admin key the demo mints at each start.
const demoKeyLabel = "demo admin key"

// MintDemoKey revokes the admin keys earlier demo runs minted (a tenant
// holds api_keys.limit live keys at most) and mints a new one: its value
// is in the returned key, shown once.
func (g *Gateway) MintDemoKey(ctx context.Context) (auth.APIKey, error) {
	tenant := g.cfg.Sources()[0].Tenant
	keys, err := g.Keys.List(ctx, tenant)
	if err != nil {
		return auth.APIKey{}, err
	}
	for _, k := range keys {
		if k.Description == demoKeyLabel && k.RevokedAt == nil {
			if _, err := g.Keys.Revoke(ctx, tenant, k.ID); err != nil {
				return auth.APIKey{}, err
			}
		}
	}
	label, scopes := demoKeyLabel, []string{"admin"}
	return g.Keys.Create(ctx, tenant, "cubegate demo", auth.KeyInput{Description: &label, Scopes: &scopes})
}

// WriteDemoConfig writes dir/cubegate.yaml: the demo's configuration,
// with paths relative to it, so that cubegate keys|credentials|serve run
// in dir find the demo's model, warehouse and state.
func WriteDemoConfig(dir string, cfg Config) (string, error) {
	rel := func(p string) string {
		if r, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
		return p
	}
	dsn := func(d string) string {
		for _, scheme := range []string{"duckdb://", "sqlite://"} {
			if path, ok := strings.CutPrefix(d, scheme); ok && path != "" {
				return scheme + rel(path)
			}
		}
		return d
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by "cubegate demo" (again at each start). Commands run in this
# folder read it: cubegate keys list, cubegate credentials create,
# cubegate serve. Paths are relative to this file.
sql:
  listen: %q
http:
  listen: %q
model:
  dir: %q
warehouse:
  dsn: %q
state:
  dsn: %q
data_source:
  name: %q
`, cfg.SQL.Listen, cfg.HTTP.Listen, rel(cfg.Model.Dir), dsn(cfg.Warehouse.DSN), dsn(cfg.State.DSN), cfg.DataSource.Name)
	path := filepath.Join(dir, "cubegate.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}
