package postgres

import "testing"

func TestClosest(t *testing.T) {
	members := []string{"status", "created_at", "total_amount", "count", "customer_id"}
	for name, want := range map[string]string{
		"stauts":      "status",
		"Status":      "status",
		"createdat":   "created_at",
		"total_amont": "total_amount",
		"cnt":         "", // two edits of three letters: absurd
		"xyz":         "",
		"customer":    "customer_id", // three edits of eight letters
	} {
		got, ok := Closest(name, members)
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %v, want %q", name, got, ok, want)
		}
	}
}
