package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cubegate/cubegate/cubes"
)

// Request bodies: JSON decoding multiplies a body's size (a 7 MB list of
// filter values takes ~150 MB as Go strings, and more once compiled and
// sent), so bodies past largeBody take one of a few slots while their
// request runs, and a query's filter values are counted against a limit.
const (
	maxBody          = 8 << 20
	largeBody        = 1 << 20
	largeBodyWait    = 10 * time.Second
	defaultLargeBody = 2
	// DefaultMaxFilterValues is a query's filter values limit when none is
	// configured.
	DefaultMaxFilterValues = 200000
)

// bodySlots bounds how many large bodies are decoded and held at once.
type bodySlots chan struct{}

func (s bodySlots) acquire(ctx context.Context) (func(), error) {
	ctx, cancel := context.WithTimeout(ctx, largeBodyWait)
	defer cancel()
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, &statusError{http.StatusServiceUnavailable, fmt.Sprintf(
			"the gateway is busy with other large requests (bodies over %d KiB); retry shortly", largeBody>>10)}
	}
}

// queries reads {"query": Q} or {"query": [Q, …]} (POST) or ?query= (GET).
// release ends the request's hold on a large-body slot; errors are
// *statusError.
func (a *REST) queries(r *http.Request) (qs []cubes.Query, multi bool, release func(), err error) {
	release = func() {}
	var raw json.RawMessage
	if r.Method == http.MethodGet {
		raw = json.RawMessage(r.URL.Query().Get("query"))
	} else {
		// The first MiB is read freely; a body that goes on waits for a
		// slot before the rest is read (its bytes stay in the socket).
		in := http.MaxBytesReader(nil, r.Body, maxBody)
		body, err := io.ReadAll(io.LimitReader(in, largeBody+1))
		if err == nil && len(body) > largeBody {
			if release, err = a.slots().acquire(r.Context()); err != nil {
				return nil, false, func() {}, err
			}
			var rest []byte
			rest, err = io.ReadAll(in)
			body = append(body, rest...)
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, false, release, &statusError{http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d MiB", maxBody>>20)}
			}
			return nil, false, release, &statusError{http.StatusBadRequest, fmt.Sprintf("reading the body: %v", err)}
		}
		var b struct {
			Query json.RawMessage `json:"query"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, false, release, &statusError{http.StatusBadRequest, fmt.Sprintf("the body must be JSON {\"query\": …}: %v", err)}
		}
		raw = b.Query
	}
	raw = json.RawMessage(strings.TrimSpace(string(raw)))
	if len(raw) == 0 {
		return nil, false, release, &statusError{http.StatusBadRequest, `a query is required: {"query": {"measures": […]}}`}
	}
	if raw[0] == '[' {
		multi = true
		err = json.Unmarshal(raw, &qs)
	} else {
		qs = make([]cubes.Query, 1)
		err = json.Unmarshal(raw, &qs[0])
	}
	if err != nil {
		return nil, multi, release, &statusError{http.StatusBadRequest, fmt.Sprintf("invalid query: %v", err)}
	}
	if err := a.checkFilterValues(qs); err != nil {
		return nil, multi, release, err
	}
	return qs, multi, release, nil
}

// checkFilterValues refuses a query holding more filter values than
// MaxFilterValues (400).
func (a *REST) checkFilterValues(qs []cubes.Query) error {
	limit := a.MaxFilterValues
	if limit <= 0 {
		limit = DefaultMaxFilterValues
	}
	for i := range qs {
		n := 0
		cubes.EachFilter(qs[i].Filters, func(f cubes.Filter) { n += len(f.Values) })
		if n > limit {
			return &statusError{http.StatusBadRequest, fmt.Sprintf(
				"a query may hold at most %d filter values; this one has %d (use a segment or a joined cube for long lists)", limit, n)}
		}
	}
	return nil
}

func (a *REST) slots() bodySlots {
	a.slotsOnce.Do(func() {
		n := a.LargeBodies
		if n <= 0 {
			n = defaultLargeBody
		}
		a.largeSlots = make(bodySlots, n)
	})
	return a.largeSlots
}
