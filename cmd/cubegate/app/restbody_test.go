package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// 16 clients at once send 6 MB /load bodies of 1.5 million filter values
// (issue #21: one such body took 1.5 GB), among them requests of 150,000
// values that are within the limit and must be answered right. Bodies
// over 1 MiB are decoded two at a time and a query holds at most
// rest.max_filter_values values: the gateway's peak RSS stays bounded,
// every request gets 200, 400 (too many values) or 503 (busy, retry) and
// a bystander's SQL and REST queries keep answering.
func TestRESTBodiesUnderAttack(t *testing.T) {
	const (
		clients = 16
		rounds  = 3
		// 423 MiB measured; 1044 MiB with every body decoded at once.
		rssBound = 768 << 20
	)
	g := startBinGateway(t, 10_000, []string{"CUBEGATE_LIMITS_MEMORY_LIMIT=1GiB"}, nil)
	var httpAddr string
	for _, kv := range g.env {
		if v, ok := strings.CutPrefix(kv, "CUBEGATE_HTTP_LISTEN="); ok {
			httpAddr = v
		}
	}
	c := exec.Command(g.bin, "keys", "create", "--label", "bodies", "--scopes", "load", "--json")
	c.Env = g.env
	out, err := c.Output()
	var key struct {
		KeyValue string `json:"key_value"`
	}
	if err != nil || json.Unmarshal(out, &key) != nil || key.KeyValue == "" {
		t.Fatalf("keys create: %v %s", err, out)
	}
	post := func(body []byte) (int, string, error) {
		req, _ := http.NewRequest("POST", "http://"+httpAddr+"/cubejs-api/v1/load", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key.KeyValue)
		req.Header.Set("Content-Type", "application/json")
		res, err := freshConn.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), nil
	}
	query := func(values []string) []byte {
		q, _ := json.Marshal(map[string]any{"query": map[string]any{"measures": []string{"orders.count"},
			"filters": []any{map[string]any{"member": "orders.id", "operator": "equals", "values": values}}}})
		return q
	}
	huge := query(strings.Split(strings.Repeat("7,", 1_500_000-1)+"7", ","))
	var ids []string
	for i := 1; i <= 150_000; i++ {
		ids = append(ids, fmt.Sprint(i))
	}
	legit := query(ids)
	t.Logf("bodies: %.1f MB of 1.5M values, %.1f MB of 150,000", float64(len(huge))/1e6, float64(len(legit))/1e6)

	baseline := g.rss.Load()
	stop := make(chan struct{})
	sqlLat := bystanderLoop(t, g.connStr, `SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`, stop)
	var restLat []time.Duration
	restDone := make(chan struct{})
	go func() {
		defer close(restDone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			began := time.Now()
			status, body, err := post([]byte(`{"query":{"measures":["orders.count"]}}`))
			restLat = append(restLat, time.Since(began))
			if err != nil || status != 200 || !strings.Contains(body, `"orders.count":10000`) && !strings.Contains(body, `"orders.count":"10000"`) {
				t.Errorf("REST bystander: %d %v %.200s", status, err, body)
				return
			}
		}
	}()
	var mu sync.Mutex
	outcomes := map[string]int{}
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				body, what := huge, "1.5M values"
				if (i+r)%4 == 0 {
					body, what = legit, "150,000 values"
				}
				status, resp, err := post(body)
				switch {
				case err != nil:
					what += ": lost: " + err.Error()
				case status == 200 && what == "150,000 values" && !strings.Contains(resp, `"orders.count":10000`) && !strings.Contains(resp, `"orders.count":"10000"`):
					t.Errorf("150,000 ids: %.300s", resp)
				case status == 400 && !strings.Contains(resp, "filter values"):
					t.Errorf("400 without the reason: %.300s", resp)
				}
				mu.Lock()
				outcomes[fmt.Sprintf("%s: %d", what, status)]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-restDone
	sp50, sworst := latencies(sqlLat())
	rp50, rworst := latencies(restLat)
	t.Logf("%d clients × %d bodies: %v; gateway RSS %s before, peak (VmHWM) %s, bound %s; bystander SQL p50 %s max %s, REST p50 %s max %s",
		clients, rounds, outcomes, mib(baseline), mib(g.hwm.Load()), mib(rssBound),
		sp50.Round(time.Millisecond), sworst.Round(time.Millisecond), rp50.Round(time.Millisecond), rworst.Round(time.Millisecond))
	if !g.alive() {
		t.Fatalf("the gateway died: %v\n%s", g.exitErr, g.log())
	}
	if hwm := g.hwm.Load(); hwm > rssBound {
		t.Errorf("peak RSS %s over the bound %s", mib(hwm), mib(rssBound))
	}
	if sworst > fairBystanderBound || rworst > fairBystanderBound {
		t.Errorf("the bystander waited %s (SQL) and %s (REST), bound %s", sworst, rworst, fairBystanderBound)
	}
	for what := range outcomes {
		if !strings.HasSuffix(what, ": 200") && !strings.HasSuffix(what, ": 400") && !strings.HasSuffix(what, ": 503") ||
			strings.HasPrefix(what, "1.5M") && strings.HasSuffix(what, ": 200") || strings.HasPrefix(what, "150,000") && strings.HasSuffix(what, ": 400") {
			t.Errorf("outcome %q", what)
		}
	}
	if outcomes["150,000 values: 200"] == 0 {
		t.Errorf("no request within the limit was answered: %v", outcomes)
	}
}
