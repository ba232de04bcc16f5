package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/postgres"
	"github.com/portico-gw/portico/internal/store/sqlite"
)

// traffic sends requests from clients goroutines until stop is closed and
// returns the request IDs of the answers received (with the time each
// answer arrived) and how many requests got no answer.
type traffic struct {
	mu     sync.Mutex
	ids    map[string]time.Time
	failed int
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startTraffic(n *proc, clients int, pause time.Duration) *traffic {
	tr := &traffic{ids: map[string]time.Time{}, stop: make(chan struct{})}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 5 * time.Second}
	for range clients {
		tr.wg.Go(func() {
			for {
				select {
				case <-tr.stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", "http://"+n.proxy+"/api/x", nil)
				req.Header.Set("X-API-Key", "acme-key-0123456789")
				resp, err := client.Do(req)
				tr.mu.Lock()
				if err != nil {
					tr.failed++
				} else {
					tr.ids[resp.Header.Get("X-Request-Id")] = time.Now()
					resp.Body.Close()
				}
				tr.mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the node is going away
				}
				time.Sleep(pause)
			}
		})
	}
	return tr
}

func (tr *traffic) finish() {
	close(tr.stop)
	tr.wg.Wait()
}

// recordCounts reads how many usage records each request ID has.
func recordCounts(t *testing.T, st store.Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	f := store.RollupFilter{Group: "default", From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)}
	if err := st.UsageRecords(context.Background(), f, func(r store.UsageRecord) error { out[r.RequestID]++; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// exactlyOnce checks that every answered request has exactly one record
// and the minute rollups count each record once; it returns how many
// records there are.
func exactlyOnce(t *testing.T, st store.Store, ids map[string]time.Time) int {
	t.Helper()
	counts := recordCounts(t, st)
	missing, twice := 0, 0
	for id := range ids {
		switch counts[id] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	total := 0
	for _, c := range counts {
		total += c
	}
	var rolled int64
	f := store.RollupFilter{Group: "default", Granularity: store.Minute, From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)}
	if err := st.Rollups(context.Background(), f, func(r store.Rollup) error { rolled += r.Requests; return nil }); err != nil {
		t.Fatal(err)
	}
	if missing > 0 || twice > 0 || rolled != int64(total) {
		t.Errorf("%d answered requests: %d without a record, %d with more than one; %d records, %d in the minute rollups",
			len(ids), missing, twice, total, rolled)
	}
	return total
}

// TestUsageSurvivesStoreOutage takes the node's PostgreSQL database away
// for 3 s under steady traffic (connections refused, sessions killed) and
// brings it back: every answered request's record arrives exactly once,
// from the spool, and the rollups count each once.
func TestUsageSurvivesStoreOutage(t *testing.T) {
	t.Parallel()
	admin, dbName, storeURL := pgDatabase(t)
	allow := func(on bool) { allowConnections(t, admin, dbName, on) }
	up := usageUpstream(t)
	file := writeConfig(t, strings.Replace(upstreamConfig(up.URL), `"${ACME_KEY}"`, `"acme-key-0123456789"`, 1))
	n := startNode(t, nil, "--config", file, "--store", storeURL)
	tr := startTraffic(n, 4, 2*time.Millisecond)
	time.Sleep(time.Second)
	allow(false)
	time.Sleep(3 * time.Second)
	allow(true)
	time.Sleep(time.Second)
	tr.finish()
	if tr.failed > 0 {
		t.Fatalf("%d requests failed: the gateway must serve on while the store is away", tr.failed)
	}
	if !strings.Contains(n.out.String(), "batches are spooled on disk") {
		t.Fatalf("the outage was not noticed (no spooling logged):\n%s", n.out.String())
	}
	st, err := postgres.Open(context.Background(), storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(15 * time.Second)
	for len(recordCounts(t, st)) < len(tr.ids) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	total := exactlyOnce(t, st, tr.ids)
	t.Logf("%d requests answered across a 3 s store outage, %d records, each once", len(tr.ids), total)
}

// openSQLite opens a stopped node's embedded store.
func openSQLite(t *testing.T, dataDir string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestUsageSIGTERMUnderLoad stops a node with SIGTERM while 8 clients
// keep sending: every request that was answered has its record in the
// store, once.
func TestUsageSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	up := usageUpstream(t)
	dir := t.TempDir()
	file := writeConfig(t, strings.Replace(upstreamConfig(up.URL), `"${ACME_KEY}"`, `"acme-key-0123456789"`, 1))
	n := startNodeIn(t, dir, nil, "--config", file)
	tr := startTraffic(n, 8, 0)
	time.Sleep(1500 * time.Millisecond)
	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	tr.finish()
	if len(tr.ids) < 100 {
		t.Fatalf("only %d requests answered", len(tr.ids))
	}
	total := exactlyOnce(t, openSQLite(t, dir), tr.ids)
	// A record beyond the answers is a response the node wrote that the
	// client did not read before its connection closed.
	if total > len(tr.ids)+tr.failed {
		t.Errorf("%d records for %d answered and %d unanswered requests", total, len(tr.ids), tr.failed)
	}
	t.Logf("%d answered, %d unanswered requests, %d records", len(tr.ids), tr.failed, total)
}

// TestUsageKill9Bound kills a node with SIGKILL under steady traffic. The
// bound this checks: records are written every flush interval (1 s), so
// a kill loses at most what was buffered since the last write began —
// the records of requests answered in the last flush interval, plus the
// time that write took (allowed 250 ms here). Every request answered
// before that must have its record, once.
func TestUsageKill9Bound(t *testing.T) {
	t.Parallel()
	up := usageUpstream(t)
	dir := t.TempDir()
	file := writeConfig(t, strings.Replace(upstreamConfig(up.URL), `"${ACME_KEY}"`, `"acme-key-0123456789"`, 1))
	n := startNodeIn(t, dir, nil, "--config", file)
	tr := startTraffic(n, 2, 3*time.Millisecond)
	time.Sleep(2700 * time.Millisecond)
	killedAt := time.Now()
	_ = n.cmd.Process.Signal(os.Kill)
	err := <-n.done
	n.done <- err
	tr.finish()
	const interval, writeTime = time.Second, 250 * time.Millisecond
	counts := recordCounts(t, openSQLite(t, dir))
	var lostOld, lostRecent, recent, twice int
	for id, at := range tr.ids {
		old := at.Before(killedAt.Add(-interval - writeTime))
		if !old {
			recent++
		}
		switch {
		case counts[id] > 1:
			twice++
		case counts[id] == 0 && old:
			lostOld++
		case counts[id] == 0:
			lostRecent++
		}
	}
	if lostOld > 0 || twice > 0 {
		t.Errorf("%d records of requests answered more than %v before the kill were lost, %d written twice", lostOld, interval+writeTime, twice)
	}
	t.Logf("kill -9 after %d answered requests: %d records lost, all of the %d answered in the last %v", len(tr.ids), lostRecent, recent, interval+writeTime)
}
