package app

import (
	"runtime/debug"
	"testing"
)

// The governor gives Go the total less what is outside Go (C memory, the
// parser's native reservations), never under a quarter of the total.
func TestMemoryGovernor(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	const total = 4 << 30
	g := newMemoryGovernor(total)
	defer g.Close()
	outside := max(processRSS()-goHeld(), 0)
	if processRSS() <= 0 {
		t.Fatal("the process's RSS cannot be read")
	}
	got := debug.SetMemoryLimit(-1)
	if d := got - (total - outside); d > 16<<20 || d < -16<<20 {
		t.Fatalf("Go's limit %d MiB, want about %d MiB (total %d MiB, outside Go %d MiB)", got>>20, (total-outside)>>20, total>>20, outside>>20)
	}
	g.setNative(1 << 30)
	if low := debug.SetMemoryLimit(-1); got-low < 1<<30-16<<20 {
		t.Fatalf("with 1 GiB reserved natively Go's limit went from %d to %d MiB", got>>20, low>>20)
	}
	g.setNative(8 << 30)
	if floor := debug.SetMemoryLimit(-1); floor != total/4 {
		t.Fatalf("with more reserved than the total: %d MiB, want the floor %d MiB", floor>>20, total/4>>20)
	}
	g.setNative(0)
	if back := debug.SetMemoryLimit(-1); back-got > 16<<20 || got-back > 16<<20 {
		t.Fatalf("after the reservations: %d MiB, want about %d MiB", back>>20, got>>20)
	}
}
