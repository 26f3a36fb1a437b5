package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Metrics is a small Prometheus registry: counters and latency histograms
// keyed by labels, and gauges read when scraped. /metrics serves them in
// the text exposition format.
type Metrics struct {
	mu     sync.Mutex
	counts map[string]map[string]float64 // name → labels → value
	hists  map[string]map[string]*histogram
	help   map[string]string
	gauges map[string]func() float64
}

var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

type histogram struct {
	counts []uint64
	sum    float64
	n      uint64
}

// NewMetrics returns an empty registry.
func NewMetrics() *Metrics {
	return &Metrics{counts: map[string]map[string]float64{}, hists: map[string]map[string]*histogram{},
		help: map[string]string{}, gauges: map[string]func() float64{}}
}

func labelString(kv []string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", kv[i], kv[i+1])
	}
	return b.String()
}

// Add adds v to a counter with labels (name, value pairs).
func (m *Metrics) Add(name, help string, v float64, labels ...string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.help[name] = help
	if m.counts[name] == nil {
		m.counts[name] = map[string]float64{}
	}
	m.counts[name][labelString(labels)] += v
}

// Observe records a duration in a histogram with labels.
func (m *Metrics) Observe(name, help string, d time.Duration, labels ...string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.help[name] = help
	if m.hists[name] == nil {
		m.hists[name] = map[string]*histogram{}
	}
	key := labelString(labels)
	h := m.hists[name][key]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		m.hists[name][key] = h
	}
	s := d.Seconds()
	for i, b := range latencyBuckets {
		if s <= b {
			h.counts[i]++
		}
	}
	h.sum += s
	h.n++
}

// Gauge registers a value read at each scrape.
func (m *Metrics) Gauge(name, help string, read func() float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.help[name] = help
	m.gauges[name] = read
}

func withLabel(labels, extra string) string {
	switch {
	case labels == "":
		return "{" + extra + "}"
	case extra == "":
		return "{" + labels + "}"
	}
	return "{" + labels + "," + extra + "}"
}

// ServeHTTP writes the metrics in Prometheus' text format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	names := func(mp map[string]bool) []string {
		var out []string
		for k := range mp {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	cn, hn, gn := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for k := range m.counts {
		cn[k] = true
	}
	for k := range m.hists {
		hn[k] = true
	}
	for k := range m.gauges {
		gn[k] = true
	}
	for _, name := range names(gn) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, m.help[name], name, name, m.gauges[name]())
	}
	for _, name := range names(cn) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, m.help[name], name)
		keys := make([]string, 0, len(m.counts[name]))
		for k := range m.counts[name] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			lbl := ""
			if k != "" {
				lbl = "{" + k + "}"
			}
			fmt.Fprintf(w, "%s%s %g\n", name, lbl, m.counts[name][k])
		}
	}
	for _, name := range names(hn) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, m.help[name], name)
		keys := make([]string, 0, len(m.hists[name]))
		for k := range m.hists[name] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			h := m.hists[name][k]
			for i, b := range latencyBuckets {
				fmt.Fprintf(w, "%s_bucket%s %d\n", name, withLabel(k, fmt.Sprintf("le=%q", fmt.Sprint(b))), h.counts[i])
			}
			fmt.Fprintf(w, "%s_bucket%s %d\n", name, withLabel(k, `le="+Inf"`), h.n)
			lbl := ""
			if k != "" {
				lbl = "{" + k + "}"
			}
			fmt.Fprintf(w, "%s_sum%s %s\n%s_count%s %d\n", name, lbl, strconvFloat(h.sum), name, lbl, h.n)
		}
	}
}

func strconvFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "0"
	}
	return fmt.Sprintf("%g", f)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool // the header has gone out
	// writeTimeout, when set, is the deadline of each write: progress,
	// not the whole answer, is bounded.
	writeTimeout time.Duration
	rc           *http.ResponseController // set with writeTimeout
}

func (w *statusWriter) WriteHeader(s int) {
	w.status, w.wrote = s, true
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	if w.rc != nil {
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.writeTimeout))
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush lets streaming answers flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
