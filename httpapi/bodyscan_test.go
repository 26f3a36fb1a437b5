package httpapi

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// bodyScan reads, as the body passes in pieces of any size, the
// top-level queryType and each query's responseFormat and renewQuery, as
// decoding the whole body would — not keys of the same names deeper, nor
// in strings — and keeps the body only while it is small.
func TestBodyScan(t *testing.T) {
	big := `{"query":[{"measures":["o.n"],"filters":[{"member":"o.id","operator":"equals","values":[` +
		strings.Repeat(`"1234567890",`, 200000) + `"0"]}],"responseFormat":"compact"}],"queryType":"multi"}`
	for _, body := range []string{
		`{"query":{"measures":["a.b"],"responseFormat":"compact","renewQuery":true},"queryType":"multi"}`,
		`{ "queryType" : "multi" ,
		   "query" : [ {"renewQuery":false, "filters":[{"member":"x","values":["queryType","}{\"","responseFormat"]}]},
		               {"responseFormat":"comp\u0061ct","meta":{"queryType":"no","responseFormat":"no"}, "renewQuery" : true } ] }`,
		`{"query":"{\"measures\":[\"a.b\"],\"responseFormat\":\"compact\"}","queryType":"multi"}`,
		`{"query":{"measures":["a.b"]}}`,
		`{"queryType":"x","query":{"renewQuery":true}}`,
		big,
	} {
		var want struct {
			Query     json.RawMessage `json:"query"`
			QueryType string          `json:"queryType"`
		}
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatal(err)
		}
		var wantSides []querySide
		switch strings.TrimSpace(string(want.Query))[0] {
		case '[':
			json.Unmarshal(want.Query, &wantSides)
		case '{':
			wantSides = make([]querySide, 1)
			json.Unmarshal(want.Query, &wantSides[0])
		}
		for round := 0; round < 3; round++ {
			s := &bodyScan{rc: io.NopCloser(&chunked{s: body, r: rand.New(rand.NewPCG(uint64(round), 1))})}
			if _, err := io.ReadAll(s); err != nil {
				t.Fatal(err)
			}
			if s.bad || s.queryType != want.QueryType || asJSON(s.sides) != asJSON(wantSides) {
				t.Errorf("%.120s: bad %v, queryType %q, sides %s; want %q %s", body, s.bad, s.queryType, asJSON(s.sides), want.QueryType, asJSON(wantSides))
			}
			if small := len(body) <= largeBody; s.overflow == small || small && string(s.small) != body || !small && s.small != nil {
				t.Errorf("%.60s: overflow %v, kept %d bytes of %d", body, s.overflow, len(s.small), len(body))
			}
		}
	}
}

// chunked reads s in pieces of random sizes (1 to 64 bytes).
type chunked struct {
	s string
	r *rand.Rand
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	n := min(len(p), 1+c.r.IntN(64), len(c.s))
	copy(p, c.s[:n])
	c.s = c.s[n:]
	return n, nil
}
