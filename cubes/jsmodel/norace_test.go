//go:build !race

package jsmodel

const raceEnabled = false
