package query

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/cubegate/cubegate/warehouse"
)

// Result is a running query's rows.
type Result interface {
	// Start queries the warehouse, if that is not done yet (the first
	// Next does it too): an API that answers with a status first (REST)
	// learns whether the warehouse took the query before it answers.
	Start(ctx context.Context) error
	// Next returns the next row (its slice is reused by the next call),
	// or io.EOF after the last. The warehouse is queried at the first call.
	Next(ctx context.Context) ([]any, error)
	// Close ends the query and records it (audit, metrics): err is an
	// error of the client's side of it (a write that failed, a cancel),
	// if any; the warehouse's own errors are already known. Closing twice
	// is harmless.
	Close(err error)
}

// Run starts st on wh under admission a and returns its rows; the
// warehouse is queried when the first row is asked for. Closing the
// result records the query; the admission stays the caller's to release
// (a REST request runs several queries under one).
func (s *Service) Run(a *Admission, wh Warehouse, st Statement) Result {
	r := &result{s: s, p: a.Principal, wh: wh, st: st, started: time.Now()}
	if s.Cache != nil && st.Cache != nil {
		return s.Cache.result(r)
	}
	return r
}

type result struct {
	s       *Service
	p       Principal
	wh      Warehouse
	st      Statement
	rows    warehouse.Rows
	started time.Time
	wait    time.Duration
	count   int64
	err     error
	closed  bool
}

func (r *result) Start(ctx context.Context) error {
	if r.err != nil || r.rows != nil {
		return r.err
	}
	start := time.Now()
	defer func() { r.wait += time.Since(start) }()
	ctx = warehouse.WithOwner(ctx, r.p.owner())
	r.rows, r.err = r.wh.Query(ctx, r.st.SQL, r.st.Args...)
	if fb := r.st.Fallback; fb != nil && undefinedTable(r.err) {
		// The cubes' own tables answer: no rollup did.
		r.wh, r.st.SQL, r.st.Args, r.st.Fallback, r.st.Rollup = fb.Warehouse, fb.SQL, fb.Args, nil, ""
		r.rows, r.err = r.wh.Query(ctx, r.st.SQL, r.st.Args...)
	}
	return r.err
}

// undefinedTable reports a warehouse's 42P01.
func undefinedTable(err error) bool {
	var e interface{ SQLState() string }
	return errors.As(err, &e) && e.SQLState() == "42P01"
}

// owner is whose share of the warehouse's connections p's queries take:
// its credential or API key, within its tenant.
func (p Principal) owner() warehouse.Owner {
	id := p.CredentialID
	if id == "" {
		id = p.APIKeyID
	}
	if id == "" {
		id = p.Username
	}
	return warehouse.Owner{Principal: id, Tenant: p.Tenant(), Session: p.Session}
}

func (r *result) Next(ctx context.Context) ([]any, error) {
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	defer func() { r.wait += time.Since(start) }()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			r.err = err
			return nil, err
		}
		return nil, io.EOF
	}
	vals, err := r.rows.Values()
	if err != nil {
		r.err = err
		return nil, err
	}
	r.count++
	return vals, nil
}

func (r *result) Close(err error) {
	if r.closed {
		return
	}
	r.closed = true
	if r.rows != nil {
		r.rows.Close()
	}
	if r.err == nil {
		r.err = err
	}
	r.s.record(r.p, r.st, r.started, r.wait, r.count, r.err, false)
}
