package main

// End-to-end tests of the management plane through the real binary: the
// store, the admin API, GitOps, live keys, and the store going away.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlite"
	"github.com/portico-gw/portico/internal/testenv"
)

// pgDatabase creates a PostgreSQL database for one test, dropped at its
// end, and returns a connection to the server and the database's URL.
func pgDatabase(t *testing.T) (*sql.DB, string, string) {
	t.Helper()
	base := testenv.PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("portico_e2e_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS true", name))
		_, _ = admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		_ = admin.Close()
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return admin, name, u.String()
}

// TestFileRevisionsPersist runs serve on a config file, restarts it, and
// changes the file: the store holds one revision per distinct content, each
// with its audit entry and this node's rollout status.
func TestFileRevisionsPersist(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "portico.yaml")
	cfg := strings.Replace(upstreamConfig(up.URL), `"${ACME_KEY}"`, `"acme-key-0123456789"`, 1)
	os.WriteFile(file, []byte(cfg), 0o644)
	data := filepath.Join(dir, "data")
	run := func() {
		n := startNodeIn(t, data, nil, "--config", file, "--node-name", "node-1")
		if status, _ := n.get("/api/x", "X-API-Key", "acme-key-0123456789"); status != 200 {
			t.Fatalf("status %d", status)
		}
		if err := n.stop(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	run()
	run() // same content: no new revision
	os.WriteFile(file, []byte(strings.Replace(cfg, "path: /{rest...}", "path: /{rest...}\n        methods: [GET]", 1)), 0o644)
	run()

	s, err := sqlite.Open(context.Background(), filepath.Join(data, "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	revs, err := s.Revisions(context.Background(), "default", 0, 10)
	if err != nil || len(revs) != 2 {
		t.Fatalf("%d revisions (%v), want 2: one per distinct file content", len(revs), err)
	}
	if strings.Contains(string(revs[0].Content), "acme-key-0123456789") {
		t.Fatalf("a revision stores an API key in the clear: %s", revs[0].Content)
	}
	for _, r := range revs {
		sts, _ := s.RolloutStatuses(context.Background(), "default", r.Number)
		if len(sts) != 1 || sts[0].Node != "node-1" || sts[0].State != "applied" {
			t.Errorf("revision %d rollout status %+v, want applied on node-1", r.Number, sts)
		}
	}
	entries, _ := s.Audit(context.Background(), store.AuditFilter{Action: "revision.publish"})
	if len(entries) != 2 || entries[0].Actor != "file:"+file {
		t.Errorf("audit %+v, want two publishes by the file", entries)
	}
}

func TestServeOnPostgres(t *testing.T) {
	t.Parallel()
	_, _, storeURL := pgDatabase(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "on postgres") }))
	defer up.Close()
	file := filepath.Join(t.TempDir(), "portico.yaml")
	os.WriteFile(file, []byte(strings.Replace(upstreamConfig(up.URL), `"${ACME_KEY}"`, `"acme-key-0123456789"`, 1)), 0o644)
	n := startNode(t, nil, "--config", file, "--store", storeURL)
	if status, body := n.get("/api/x", "X-API-Key", "acme-key-0123456789"); status != 200 || body != "on postgres" {
		t.Fatalf("%d %q", status, body)
	}
	pg, err := sql.Open("pgx", storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	var revisions int
	if err := pg.QueryRow("SELECT COUNT(*) FROM revisions").Scan(&revisions); err != nil || revisions != 1 {
		t.Fatalf("%d revisions in PostgreSQL (%v), want 1", revisions, err)
	}
}

// TestAdminLifecycleUnderLoad drives the admin API of a running node: put
// a draft, publish, call the API through the gateway, change and publish
// again, roll back — while clients call the API without pause. Not one
// request may fail; every step is audited; every revision shows the node
// applied it.
func TestAdminLifecycleUnderLoad(t *testing.T) {
	t.Parallel()
	const token = "ptk_e2e-admin-token"
	v1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "v1") }))
	defer v1.Close()
	v2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "v2") }))
	defer v2.Close()
	n := startNode(t, []string{"PORTICO_ADMIN_TOKEN=" + token}, "--node-name", "e2e-node")
	adminCall := func(method, path, contentType, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+n.admin+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	draft := func(upstream string) string {
		return strings.Replace(upstreamConfig(upstream), `"${ACME_KEY}"`, `"acme-key-0123456789"`, 1)
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if status, body := n.get("/api/x", "X-API-Key", "acme-key-0123456789"); status == 200 && body == want {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("the gateway does not answer %q 5 s after the publish", want)
	}
	publish := func(upstream, message string) int {
		t.Helper()
		if code, body := adminCall("PUT", "/admin/v1/groups/default/draft", "application/yaml", draft(upstream)); code != 200 {
			t.Fatalf("put draft: %d %v", code, body)
		}
		code, body := adminCall("POST", "/admin/v1/groups/default/revisions", "application/json", `{"message":"`+message+`"}`)
		if code != 202 {
			t.Fatalf("publish: %d %v", code, body)
		}
		return int(body["revision"].(float64))
	}

	if r := publish(v1.URL, "first"); r != 1 {
		t.Fatalf("first revision is %d", r)
	}
	waitFor("v1")

	var ok, failed atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", "http://"+n.proxy+"/api/x", nil)
				req.Header.Set("X-API-Key", "acme-key-0123456789")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || (string(b) != "v1" && string(b) != "v2") {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, b))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	if r := publish(v2.URL, "second"); r != 2 {
		t.Fatalf("second revision is %d", r)
	}
	waitFor("v2")
	code, body := adminCall("POST", "/admin/v1/groups/default/revisions/1/rollback", "", "")
	if code != 202 || body["revision"].(float64) != 3 {
		t.Fatalf("rollback: %d %v", code, body)
	}
	waitFor("v1")
	// The load goes on a little past the rollback, and until it has made
	// at least 100 requests: on a slow machine (the race detector, other
	// packages' tests beside it) the transitions can take fewer.
	time.Sleep(200 * time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); ok.Load()+failed.Load() < 100 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() > 0 || ok.Load() < 100 {
		t.Fatalf("%d requests failed (first: %v), %d succeeded during publish and rollback", failed.Load(), firstFailure.Load(), ok.Load())
	}

	for rev := 1; rev <= 3; rev++ {
		_, r := adminCall("GET", fmt.Sprintf("/admin/v1/groups/default/revisions/%d", rev), "", "")
		rollout, _ := r["rollout"].([]any)
		if len(rollout) != 1 || rollout[0].(map[string]any)["node"] != "e2e-node" || rollout[0].(map[string]any)["state"] != "applied" {
			t.Errorf("revision %d rollout %v, want applied on e2e-node", rev, r["rollout"])
		}
	}
	_, audit := adminCall("GET", "/admin/v1/audit?group=default", "", "")
	var actions []string
	for _, e := range audit["entries"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	if strings.Join(actions, ",") != "revision.rollback,revision.publish,draft.put,revision.publish,draft.put" {
		t.Errorf("audit %v", actions)
	}
	// Without the token: refused, and audited.
	req, _ := http.NewRequest("POST", "http://"+n.admin+"/admin/v1/groups/default/revisions", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("publish without a token: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestGitOpsRoundTrip applies a file to one node, exports it, and applies
// the export to a second node: both hold a revision with the same content
// hash, and diff agrees.
func TestGitOpsRoundTrip(t *testing.T) {
	t.Parallel()
	const token = "ptk_gitops-token"
	a := startNode(t, []string{"PORTICO_ADMIN_TOKEN=" + token})
	b := startNode(t, []string{"PORTICO_ADMIN_TOKEN=" + token})
	dir := t.TempDir()
	file := filepath.Join(dir, "portico.yaml")
	os.WriteFile(file, []byte(upstreamConfig("http://127.0.0.1:9")), 0o644)
	cli := func(node *proc, args ...string) (int, string, string) {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), "PORTICO_ADMIN_TOKEN="+token, "PORTICO_ADMIN_URL=http://"+node.admin, "ACME_KEY=acme-key-0123456789")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return code, stdout.String(), stderr.String()
	}
	if code, out, errOut := cli(a, "diff", file); code != 1 || !strings.Contains(out, "+ api api") {
		t.Fatalf("diff before apply: %d %q %q; want 1 and the API as added", code, out, errOut)
	}
	if code, out, errOut := cli(a, "apply", file); code != 0 || !strings.Contains(out, "published revision 1") {
		t.Fatalf("apply: %d %q %q", code, out, errOut)
	}
	if code, out, _ := cli(a, "diff", file); code != 0 {
		t.Fatalf("diff after apply: %d %q, want 0", code, out)
	}
	if code, out, _ := cli(a, "apply", file); code != 0 || !strings.Contains(out, "nothing to apply") {
		t.Fatalf("second apply: %d %q", code, out)
	}
	code, exported, errOut := cli(a, "export")
	if code != 0 || strings.Contains(exported, "acme-key-0123456789") || !strings.Contains(exported, "sha256:") {
		t.Fatalf("export: %d %q %q", code, exported, errOut)
	}
	exportFile := filepath.Join(dir, "exported.yaml")
	os.WriteFile(exportFile, []byte(exported), 0o644)
	if code, out, errOut := cli(b, "apply", exportFile); code != 0 || !strings.Contains(out, "published revision 1") {
		t.Fatalf("apply the export to b: %d %q %q", code, out, errOut)
	}
	hash := func(node *proc) string {
		req, _ := http.NewRequest("GET", "http://"+node.admin+"/admin/v1/groups/default/revisions/1", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r map[string]any
		json.NewDecoder(resp.Body).Decode(&r)
		return r["hash"].(string)
	}
	if ha, hb := hash(a), hash(b); ha != hb || ha == "" {
		t.Fatalf("revision hashes differ after export | apply: %s vs %s", ha, hb)
	}
	// The key still works on b, from its hash.
	if status, _ := b.get("/api/x", "X-API-Key", "acme-key-0123456789"); status == 401 || status == 404 {
		t.Fatalf("the exported consumer's key does not authenticate on b: %d", status)
	}
	if code, _, errOut := cli(b, "diff", "/nonexistent.yaml"); code != 2 {
		t.Fatalf("diff of a missing file: %d %q, want 2", code, errOut)
	}
}

// TestLiveKeys creates a consumer and a key through the admin API: the
// gateway accepts the key without any publish, and refuses it soon after
// it is revoked.
func TestLiveKeys(t *testing.T) {
	t.Parallel()
	const token = "ptk_live-keys-token"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.Header.Get("X-Consumer"))
	}))
	defer up.Close()
	file := filepath.Join(t.TempDir(), "portico.yaml")
	os.WriteFile(file, []byte(strings.Replace(upstreamConfig(up.URL), `"${ACME_KEY}"`, `"acme-key-0123456789"`, 1)), 0o644)
	n := startNode(t, []string{"PORTICO_ADMIN_TOKEN=" + token}, "--config", file)
	call := func(method, path, body string) map[string]any { return n.adminOK(token, method, path, body) }
	call("POST", "/admin/v1/consumers", `{"name":"portal-user"}`)
	k := call("POST", "/admin/v1/consumers/portal-user/keys", "")
	secret := k["key"].(string)
	waitStatus := func(want int) string {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			status, body := n.get("/api/x", "X-API-Key", secret)
			if status == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("status %d, still not %d after 5 s", status, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if body := waitStatus(200); body != "hello portal-user" {
		t.Fatalf("a live key reached the upstream as %q", body)
	}
	call("DELETE", "/admin/v1/consumers/portal-user/keys/"+k["id"].(string), "")
	waitStatus(401)
	// The file's own consumer is unaffected.
	if status, _ := n.get("/api/x", "X-API-Key", "acme-key-0123456789"); status != 200 {
		t.Fatalf("the config file's key: %d", status)
	}
}

// adminCall sends an admin API request with token and returns the status
// and the decoded JSON body.
func (n *proc) adminCall(token, method, path, body string) (int, map[string]any) {
	n.t.Helper()
	req, _ := http.NewRequest(method, "http://"+n.admin+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// adminOK is adminCall for a call that must succeed.
func (n *proc) adminOK(token, method, path, body string) map[string]any {
	n.t.Helper()
	code, m := n.adminCall(token, method, path, body)
	if code/100 != 2 {
		n.t.Fatalf("%s %s: %d %v", method, path, code, m)
	}
	return m
}

// allowConnections lets clients into the test database dbName, or takes
// it away: new connections refused, open sessions killed.
func allowConnections(t *testing.T, admin *sql.DB, dbName string, on bool) {
	t.Helper()
	if _, err := admin.Exec(fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS %v", dbName, on)); err != nil {
		t.Fatal(err)
	}
	if !on {
		if _, err := admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", dbName); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoreGoesAway takes PostgreSQL away from a running node (its database
// refuses connections, its sessions are killed): the gateway keeps serving
// the revision it runs, the admin API answers 500, and both recover when
// the database comes back.
func TestStoreGoesAway(t *testing.T) {
	t.Parallel()
	admin, dbName, storeURL := pgDatabase(t)
	allow := func(on bool) { allowConnections(t, admin, dbName, on) }
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "still here") }))
	defer up.Close()
	file := filepath.Join(t.TempDir(), "portico.yaml")
	os.WriteFile(file, []byte(strings.Replace(upstreamConfig(up.URL), `"${ACME_KEY}"`, `"acme-key-0123456789"`, 1)), 0o644)
	const token = "ptk_store-down-token"
	n := startNode(t, []string{"PORTICO_ADMIN_TOKEN=" + token}, "--config", file, "--store", storeURL)
	adminStatus := func() int {
		req, _ := http.NewRequest("GET", "http://"+n.admin+"/admin/v1/groups", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := adminStatus(); s != 200 {
		t.Fatalf("admin API with the store up: %d", s)
	}

	allow(false)
	for i := range 20 {
		if status, body := n.get("/api/x", "X-API-Key", "acme-key-0123456789"); status != 200 || body != "still here" {
			t.Fatalf("request %d with the store down: %d %q", i, status, body)
		}
		time.Sleep(50 * time.Millisecond) // across the applier's polls
	}
	if s := adminStatus(); s != 500 {
		t.Fatalf("admin API with the store down: %d, want 500", s)
	}

	allow(true)
	deadline := time.Now().Add(10 * time.Second)
	for adminStatus() != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the admin API did not recover 10 s after the store came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status, _ := n.get("/api/x", "X-API-Key", "acme-key-0123456789"); status != 200 {
		t.Fatalf("after recovery: %d", status)
	}
}
