package snowflake

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	sf "github.com/snowflakedb/gosnowflake"
)

func TestParseDSN(t *testing.T) {
	c, err := ParseDSN("snowflake://alice:s3cret@xy12345.eu-west-1/SALES/PUBLIC?warehouse=WH&role=ANALYST")
	if err != nil {
		t.Fatal(err)
	}
	if c.Account != "xy12345.eu-west-1" || c.User != "alice" || c.Password != "s3cret" || c.Database != "SALES" || c.Schema != "PUBLIC" ||
		c.Warehouse != "WH" || c.Role != "ANALYST" || *c.Params["TIMEZONE"] != "UTC" || *c.Params["WEEK_START"] != "0" {
		t.Fatalf("%+v", c)
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	path := filepath.Join(dir, "key.p8")
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	c, err = ParseDSN("snowflake://svc@acct/DB?private_key_file=" + path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Authenticator != sf.AuthTypeJwt || c.PrivateKey == nil || !c.PrivateKey.Equal(key) || c.Database != "DB" || c.Schema != "" {
		t.Fatalf("%+v", c)
	}

	pkcs1 := filepath.Join(dir, "rsa.pem")
	os.WriteFile(pkcs1, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	for _, dsn := range []string{
		"snowflake://alice@acct/DB",                                         // no password nor key
		"snowflake://:s3cret@acct/DB",                                       // no user
		"snowflake://alice:s3cret@/DB",                                      // no account
		"snowflake://alice:s3cret@acct/DB/S/X",                              // a path too long
		"snowflake://alice:s3cret@acct/DB?nope=1",                           // unknown parameter
		"snowflake://alice:s3cret@acct/DB?private_key_file=" + path,         // both
		"snowflake://alice@acct/DB?private_key_file=" + pkcs1,               // PKCS#1, not PKCS#8
		"snowflake://alice@acct/DB?private_key_file=" + dir + "/missing.p8", // no file
	} {
		_, err := ParseDSN(dsn)
		if err == nil {
			t.Errorf("%s: accepted", dsn)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "PRIVATE KEY-----\nMII") {
			t.Errorf("a secret leaks: %v", err)
		}
	}
}

func TestTypeOID(t *testing.T) {
	for _, c := range []struct {
		name       string
		prec, scal int64
		want       uint32
	}{
		{"FIXED", 18, 0, pgtype.Int8OID}, {"FIXED", 38, 0, pgtype.NumericOID}, {"FIXED", 12, 2, pgtype.NumericOID},
		{"DECFLOAT", 0, 0, pgtype.NumericOID}, {"REAL", 0, 0, pgtype.Float8OID}, {"TEXT", 0, 0, pgtype.TextOID},
		{"BOOLEAN", 0, 0, pgtype.BoolOID}, {"DATE", 0, 0, pgtype.DateOID}, {"TIME", 0, 0, pgtype.TimeOID},
		{"TIMESTAMP_NTZ", 0, 0, pgtype.TimestampOID}, {"TIMESTAMP_LTZ", 0, 0, pgtype.TimestamptzOID},
		{"TIMESTAMP_TZ", 0, 0, pgtype.TimestamptzOID}, {"BINARY", 0, 0, pgtype.ByteaOID}, {"VARIANT", 0, 0, pgtype.TextOID},
		{"ARRAY", 0, 0, pgtype.TextOID}, {"OBJECT", 0, 0, pgtype.TextOID},
	} {
		if got := TypeOID(c.name, c.prec, c.scal); got != c.want {
			t.Errorf("%s(%d,%d): %d, want %d", c.name, c.prec, c.scal, got, c.want)
		}
	}
}

func TestValue(t *testing.T) {
	n, err := Value("-12.340", pgtype.NumericOID)
	if err != nil {
		t.Fatal(err)
	}
	if num := n.(pgtype.Numeric); num.Int.Int64() != -12340 || num.Exp != -3 {
		t.Fatalf("%+v", num)
	}
	if v, _ := Value("42", pgtype.Int8OID); v != int64(42) {
		t.Fatalf("%T %v", v, v)
	}
	if v, _ := Value(int64(7), pgtype.NumericOID); v.(pgtype.Numeric).Int.Int64() != 7 {
		t.Fatalf("%v", v)
	}
}
