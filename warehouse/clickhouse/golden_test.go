package clickhouse_test

import "testing"

func (e *env) golden(t *testing.T) {}
