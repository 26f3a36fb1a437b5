package warehouse_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/warehouse"
)

func TestParseURLDSN(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(file, []byte("fromfile\n"), 0o600)
	t.Setenv(warehouse.PasswordEnv, "fromenv")
	for dsn, want := range map[string]string{
		"x://u:inurl@h/db":                 "inurl",
		"x://u@h/db?password=param":        "param",
		"x://u@h/db?password_file=" + file: "fromfile",
		"x://u@h/db":                       "fromenv",
	} {
		d, err := warehouse.ParseURLDSN(dsn, "x://…", time.Second)
		if err != nil || d.Password != want {
			t.Errorf("%s: password %v %v, want %s", dsn, d, err, want)
		}
	}
	d, err := warehouse.ParseURLDSN("x://u:p@h/db?timeout=3s&max_conns=4&tls=true", "x://…", time.Second)
	if err != nil || d.Timeout != 3*time.Second || d.MaxConns != 4 || d.Params["tls"] != "true" || len(d.Params) != 1 {
		t.Fatalf("%+v %v", d, err)
	}
	for _, bad := range []string{"x://u:s3cret@h/db?max_conns=0", "x://u:s3cret@h/db?timeout=soon", "x://u:s3#cret@/db"} {
		if _, err := warehouse.ParseURLDSN(bad, "x://…", time.Second); err == nil || strings.Contains(err.Error(), "s3") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
