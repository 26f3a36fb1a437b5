package postgres

import "strings"

// Closest is the candidate nearest to name, as PostgreSQL's "Perhaps you
// meant to reference the column …" hint picks it: by Levenshtein distance
// (case folded), and only when that distance is at most half of name's
// length — no absurd suggestions. Ties go to the first candidate.
func Closest(name string, candidates []string) (string, bool) {
	i := ClosestIndex(name, candidates)
	if i < 0 {
		return "", false
	}
	return candidates[i], true
}

// ClosestIndex is the index of Closest's pick, -1 for none.
func ClosestIndex(name string, candidates []string) int {
	name = strings.ToLower(name)
	best, bestDist := -1, len(name)/2+1
	for i, c := range candidates {
		if d := levenshtein(name, strings.ToLower(c), bestDist); d < bestDist {
			best, bestDist = i, d
		}
	}
	return best
}

// levenshtein is the edit distance between a and b, or limit when it is
// limit or more.
func levenshtein(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(rb)], limit)
}
