package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/httpapi"
	"github.com/cubegate/cubegate/httpapi/console"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres"
	"github.com/cubegate/cubegate/query"
)

// consoleExplorer is the gateway as the console's Model and Playground
// pages use it (console.Explorer): the REST API's own handlers served as
// the signed-in principal (httpapi.REST.ServeAs, ModelAs), and the SQL
// API's planner in a session of the principal's — the engine, security
// context, limits and audit every client gets.
type consoleExplorer struct {
	g    *Gateway
	rest *httpapi.REST
}

// Model implements console.Explorer.
func (x consoleExplorer) Model(ctx context.Context, p query.Principal, source string) (*cubes.Model, *cubes.Policy, error) {
	return x.rest.ModelAs(ctx, p, source)
}

// REST implements console.Explorer: the request is served in process by
// the REST API's handler.
func (x consoleExplorer) REST(ctx context.Context, p query.Principal, source, path string, body []byte) (int, []byte) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		return http.StatusBadRequest, []byte(`{"error":"the request could not be made"}`)
	}
	r.Header.Set("Content-Type", "application/json")
	if source != "" {
		r.Header.Set("X-Cubegate-Data-Source", source)
	}
	w := &bufferedAnswer{header: http.Header{}}
	x.rest.ServeAs(w, r, p)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.status, w.body.Bytes()
}

// bufferedAnswer keeps a REST answer served in process.
type bufferedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedAnswer) Header() http.Header { return w.header }
func (w *bufferedAnswer) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
func (w *bufferedAnswer) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

// maxCountedRows bounds how many rows past the page a console statement
// counts before it stops reading (the answer then says "at least").
const maxCountedRows = 1_000_000

// SQL implements console.Explorer: one statement in a new SQL session of
// p's on source, as a psql session of a credential would run it — the
// planner's checks, the statement timeout, the audit log (the session's
// user is the principal's name: console_user:NAME or api_key:ID).
func (x consoleExplorer) SQL(ctx context.Context, p query.Principal, source, text string, max int) (*console.SQLResult, error) {
	spec, ok := x.g.cfg.LookupSource(source)
	tenant := spec.Tenant
	if tenant == "" {
		tenant = auth.DefaultTenant
	}
	if !ok || tenant != p.Tenant() {
		return nil, pgerr.New(pgerrcode.InvalidCatalogName, "tenant %s has no data source %q", p.Tenant(), source)
	}
	var pid [4]byte
	_, _ = rand.Read(pid[:])
	info := pgwire.SessionInfo{User: p.Username, Database: source, ProcessID: binary.BigEndian.Uint32(pid[:]) | 1<<31,
		Principal: auth.Principal{TenantID: p.Tenant(), Username: p.Username, Database: source, Security: p.Security, Scopes: p.Scopes}}
	if ap, err := netip.ParseAddrPort(p.Address); err == nil {
		info.RemoteAddr = net.TCPAddrFromAddrPort(ap)
	} else if a, err := netip.ParseAddr(p.Address); err == nil {
		// The browser's address, without a port (the audit log's "127.0.0.1").
		info.RemoteAddr = &net.IPAddr{IP: a.AsSlice(), Zone: a.Zone()}
	}
	sess, err := sqlHandler{x.g}.NewSession(ctx, info)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	if t, ok := sess.(pgwire.Timeouts); ok && t.StatementTimeout() > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.StatementTimeout())
		defer cancel()
	}
	stmts, err := sess.Parse(ctx, text)
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 {
		return nil, pgerr.New(pgerrcode.FeatureNotSupported, "the console runs one statement at a time, not %d", len(stmts))
	}
	portal, err := stmts[0].Bind(ctx)
	if err != nil {
		return nil, err
	}
	defer portal.Close()
	if _, ok := portal.(pgwire.CopyOutPortal); ok {
		return nil, pgerr.New(pgerrcode.FeatureNotSupported, "COPY … TO STDOUT is for psql, not the console")
	}
	loc := time.UTC
	if l, ok := sess.(pgwire.Locator); ok && l.Location() != nil {
		loc = l.Location()
	}
	cols := portal.Columns()
	out := &console.SQLResult{}
	for _, c := range cols {
		out.Columns = append(out.Columns, console.SQLColumn{Name: c.Name, Type: postgres.TypeName(c.TypeOID), OID: c.TypeOID})
	}
	var n int64
	for {
		vals, err := portal.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		n++
		if len(out.Rows) >= max {
			if out.More++; out.More >= maxCountedRows {
				out.MoreAtLeast = true
				break
			}
			continue
		}
		row := make([]*string, len(vals))
		for i, v := range vals {
			if v == nil {
				continue
			}
			// In the session's TimeZone and PostgreSQL's text form, as
			// psql shows it (pgwire writes DataRows so).
			if t, ok := v.(time.Time); ok && cols[i].TypeOID == pgtype.TimestamptzOID {
				v = t.In(loc)
			}
			b, err := pgwire.AppendText(nil, cols[i].TypeOID, v)
			if err != nil {
				return nil, err
			}
			s := string(b)
			row[i] = &s
		}
		out.Rows = append(out.Rows, row)
	}
	out.Tag = portal.Tag(n)
	return out, nil
}
