package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// model validate reads JavaScript models and names the .js file and line
// of a problem.
func TestModelValidateJavaScript(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"model", "validate", "../../testdata/oracle/model_js"}, &out, &errOut); err != nil || !strings.Contains(out.String(), "ok: 4 cubes and views (customers, orders, products, sales)") {
		t.Fatalf("%v %q %q", err, out.String(), errOut.String())
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "orders.js"), []byte("cube('orders', {\n  sqlTable: 'public.orders',\n  measures: {\n    count: { type: 'cnt' },\n  },\n});\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "broken.js"), []byte("console.log('loading');\nconst x = require('fs');\n"), 0o644)
	out.Reset()
	errOut.Reset()
	err := run(context.Background(), []string{"model", "validate", dir}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "broken.js:2: Error: require('fs'): Node modules are not available to models") ||
		!strings.Contains(err.Error(), "orders.js:4: measure orders.count: unknown type \"cnt\"") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(errOut.String(), "warning: broken.js: console: loading") {
		t.Errorf("stderr %q", errOut.String())
	}
}
