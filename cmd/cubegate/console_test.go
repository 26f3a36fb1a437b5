package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/auth"
)

// cubegate console users create|list|passwd|delete: a generated password
// printed once that signs in, read-only scopes, a new password ending
// the old one, delete; nothing of the password in the state file.
func TestConsoleUsersCLI(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "state.db")
	cli := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(ctx, append(append([]string{"console", "users"}, args...), "--state-dsn", dsn), &out, &errb)
		return out.String(), err
	}
	out, err := cli("create", "ada", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Username, Password string
		Scopes             []string
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Username != "ada" || len(created.Password) < 20 || strings.Join(created.Scopes, " ") != "admin" {
		t.Fatalf("create: %s %v", out, err)
	}
	if _, err := cli("create", "ada"); err == nil {
		t.Error("a second ada was created")
	}
	if out, err = cli("create", "reader", "--read-only"); err != nil || !strings.Contains(out, "keys:read") || !strings.Contains(out, "password: ") {
		t.Errorf("read-only: %s %v", out, err)
	}
	if _, err := cli("create", "x", "--read-only", "--scope", "admin"); err == nil {
		t.Error("--read-only with --scope accepted")
	}
	if _, err := cli("create", "y", "--tenant", "nope"); err == nil {
		t.Error("a user of a missing tenant was created")
	}
	out, _ = cli("list")
	if !strings.Contains(out, "ada") || !strings.Contains(out, "reader") {
		t.Errorf("list: %s", out)
	}
	check := func(user, pw string) bool {
		store, err := auth.OpenStore(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		users, err := auth.NewConsoleUsers(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		_, ok, err := users.CheckUser(ctx, user, pw)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !check("ada", created.Password) {
		t.Error("the printed password does not sign ada in")
	}
	out, err = cli("passwd", "ada")
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("passwd: %s %v", out, err)
	}
	if check("ada", created.Password) || !check("ada", m[1]) {
		t.Error("passwd: the old password still works or the new one does not")
	}
	if _, err := cli("delete", "ada"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("delete", "ada"); err == nil || !strings.Contains(err.Error(), `no console user "ada"`) {
		t.Errorf("deleting a missing user: %v", err)
	}
	if check("ada", m[1]) {
		t.Error("a deleted user signs in")
	}
}
