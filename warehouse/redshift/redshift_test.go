package redshift

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/warehouse"
)

func TestPostgresDSN(t *testing.T) {
	for in, want := range map[string]string{
		"redshift://alice:s3cret@cluster.abc.us-east-1.redshift.amazonaws.com:5439/dev": "postgres://alice:s3cret@cluster.abc.us-east-1.redshift.amazonaws.com:5439/dev?sslmode=require",
		"redshift://alice:s3cret@host/dev":                                              "postgres://alice:s3cret@host:5439/dev?sslmode=require",
		"redshift://alice:s3cret@host:5440/dev?sslmode=verify-full":                     "postgres://alice:s3cret@host:5440/dev?sslmode=verify-full",
	} {
		got, err := PostgresDSN(in)
		if err != nil || got != want {
			t.Errorf("%s: %s %v, want %s", in, got, err, want)
		}
	}
	for _, dsn := range []string{
		"redshift://:s3cret@host:5439/dev",
		"redshift://alice:s3cret@host:5439",
		"redshift://alice:s3cret@host:port/dev",
		"redshift://alice:s3cret@:5439/dev",
	} {
		_, err := PostgresDSN(dsn)
		if err == nil {
			t.Errorf("%s: accepted", dsn)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the password leaks: %v", err)
		}
	}
}

// TestOpenUnreachable: a cluster that cannot be reached is a
// ConnectError naming redshift and the address, never the password.
func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := warehouse.OpenWith(ctx, "redshift://alice:s3cret@127.0.0.1:1/dev?connect_timeout=1", warehouse.Options{})
	if err == nil {
		t.Fatal("opened")
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "redshift") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("%v", err)
	}
}
