package auth

import (
	"reflect"
	"strings"
	"testing"
)

func TestSecurityContextClaims(t *testing.T) {
	in := `{"tenant_id": 42, "ratio": 0.5, "regions": ["eu", "us"], "user": {"org": 7, "admin": false}, "none": null,
		"allow": ["orders"], "row_filters": [{"member": "orders.status", "operator": "equals", "values": ["new"]}]}`
	sc, err := ParseSecurityContext(in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"tenant_id": int64(42), "ratio": 0.5, "regions": []any{"eu", "us"},
		"user": map[string]any{"org": int64(7), "admin": false}, "none": nil}
	if !reflect.DeepEqual(sc.Claims, want) {
		t.Errorf("claims = %#v", sc.Claims)
	}
	if len(sc.Allow) != 1 || len(sc.RowFilters) != 1 {
		t.Errorf("allow/row_filters lost: %+v", sc)
	}
	s := sc.String()
	if s != `{"allow":["orders"],"none":null,"ratio":0.5,"regions":["eu","us"],"row_filters":[{"member":"orders.status","operator":"equals","values":["new"]}],"tenant_id":42,"user":{"admin":false,"org":7}}` {
		t.Errorf("String() = %s", s)
	}
	back, err := ParseSecurityContext(s)
	if err != nil || !reflect.DeepEqual(back, sc) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if (SecurityContext{}).String() != "{}" {
		t.Errorf("zero: %s", SecurityContext{}.String())
	}
	big, err := ParseSecurityContext(`{"id": 12345678901234567890}`)
	if err != nil || big.Claims["id"] != 12345678901234567890.0 {
		t.Errorf("a number past int64: %#v %v", big.Claims, err)
	}
	for _, bad := range []string{
		`{"allow": "orders"}`,
		`{"row_filters": [{"member": "orders.status", "operator": "equals", "valuez": ["x"]}]}`,
		`{"row_filters": [{"member": "status", "operator": "equals"}]}`,
		`[1]`,
		`{"a": 1} {"b": 2}`,
	} {
		if _, err := ParseSecurityContext(bad); err == nil || !strings.HasPrefix(err.Error(), "security context: ") {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

func TestCoversClaims(t *testing.T) {
	c42 := SecurityContext{Claims: map[string]any{"tenant_id": int64(42)}}
	c43 := SecurityContext{Claims: map[string]any{"tenant_id": int64(43)}}
	allow := SecurityContext{Allow: []string{"orders"}}
	cases := []struct {
		name          string
		parent, child SecurityContext
		ok            bool
	}{
		{"unrestricted sets claims", SecurityContext{}, c42, true},
		{"same claims", c42, c42, true},
		{"same claims, more restrictions", c42, SecurityContext{Allow: []string{"orders"}, Claims: map[string]any{"tenant_id": int64(42)}}, true},
		{"changed claim", c42, c43, false},
		{"dropped claim", c42, SecurityContext{}, false},
		{"added claim", c42, SecurityContext{Claims: map[string]any{"tenant_id": int64(42), "role": "admin"}}, false},
		{"restricted actor adds claims", allow, SecurityContext{Allow: []string{"orders"}, Claims: map[string]any{"role": "admin"}}, false},
	}
	for _, tc := range cases {
		err := tc.parent.Covers(tc.child)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	// A key made without a context inherits the claims (a copy).
	in := KeyInput{}
	a := Actor{Security: SecurityContext{Claims: map[string]any{"regions": []any{"eu"}}}}
	a.Inherit(&in)
	if in.Security == nil || !reflect.DeepEqual(in.Security.Claims, a.Security.Claims) {
		t.Fatalf("inherit: %+v", in.Security)
	}
	in.Security.Claims["regions"].([]any)[0] = "us"
	if a.Security.Claims["regions"].([]any)[0] != "eu" {
		t.Error("inherit shares the actor's claims")
	}
}
