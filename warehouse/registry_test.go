package warehouse_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/warehouse"
)

func TestRegisteredScheme(t *testing.T) {
	var got string
	warehouse.Register(func(ctx context.Context, dsn string, o warehouse.Options) (warehouse.Warehouse, error) {
		got = dsn
		return nil, nil
	}, "regtest")
	if _, err := warehouse.Open(context.Background(), "RegTest://u:secret@h:1/db"); err != nil || got != "RegTest://u:secret@h:1/db" {
		t.Fatalf("registered opener not used: %q %v", got, err)
	}
	_, err := warehouse.Open(context.Background(), "nosuch://u:secret@h:1/db")
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "regtest://…") {
		t.Fatalf("unknown scheme: %v", err)
	}
}
