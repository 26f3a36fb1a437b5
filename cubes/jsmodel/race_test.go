//go:build race

package jsmodel

// raceEnabled: the race detector slows goja's native loops tenfold.
const raceEnabled = true
