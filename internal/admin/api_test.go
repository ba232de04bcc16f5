package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/admin"
	"github.com/portico-gw/portico/internal/policy/ratelimit"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/sqlite"
	"github.com/portico-gw/portico/internal/telemetry"
)

const rootToken = "ptk_root-token-for-tests"

// server is an admin API on a fresh SQLite store, with a root admin token.
type server struct {
	t        *testing.T
	st       store.Store
	url      string
	notified atomic.Int32
	seen     *responses
}

func newServer(t *testing.T, fileMode string) *server {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "portico.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnsureGroup(context.Background(), "default"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(context.Background(), store.Token{Name: "root", Role: admin.RoleAdmin, Hash: admin.TokenHash(rootToken)},
		store.AuditEntry{Actor: "test", Action: "token.create"}); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, st: st, seen: sharedResponses}
	refusals := ratelimit.NewLimiter(admin.RefusalLimit, time.Minute)
	t.Cleanup(refusals.Close)
	// A real upstream registry, as the node has, with one upstream.
	health := &proxy.Health{}
	t.Cleanup(health.Close)
	if _, err := proxy.NewUpstream(proxy.UpstreamSpec{
		Name: "orders", Targets: []proxy.TargetSpec{{URL: "http://127.0.0.1:9", Weight: 1}},
		Breaker: proxy.BreakerSpec{ErrorRate: 0.5, Window: time.Second, MinRequests: 10, Cooldown: time.Second},
		Health:  proxy.HealthSpec{Failures: 3, Ejection: time.Second, MaxEjection: time.Minute},
	}, proxy.NewPools(), health); err != nil {
		t.Fatal(err)
	}
	api := &admin.API{Store: st, Notify: func() { s.notified.Add(1) }, FileMode: fileMode, FileGroup: "default", Refusals: refusals,
		Upstreams: health.Status}
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(admin.Handler(telemetry.NewMetrics(), &ready, api))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// call sends a request and returns the status and the decoded JSON body
// (nil for a non-JSON one); every JSON response is kept for the OpenAPI
// check.
func (s *server) call(token, method, path, contentType, body string, header ...string) (int, map[string]any, http.Header) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &m); err != nil {
			s.t.Fatalf("%s %s: invalid JSON %q", method, path, raw)
		}
	}
	s.seen.add(method, strings.SplitN(path, "?", 2)[0], resp.StatusCode, m)
	return resp.StatusCode, m, resp.Header
}

const apiYAML = `version: 1
upstreams:
  - name: orders
    targets: [{url: "http://127.0.0.1:9001"}]
apis:
  - name: orders
    base_path: /orders
    upstream: orders
    auth: [api_key]
    routes:
      - name: get-order
        methods: [GET]
        path: /{id}
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
`

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	if code, body, h := s.call("", "GET", "/admin/v1/groups", "", ""); code != 401 || h.Get("WWW-Authenticate") == "" || errCode(body) != "unauthorized" {
		t.Errorf("no token: %d %v", code, body)
	}
	if code, _, _ := s.call("ptk_wrong", "GET", "/admin/v1/groups", "", ""); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	// Tokens with each role, one scoped to another group.
	tokens := map[string]string{}
	for _, tc := range []struct{ name, role, groups string }{
		{"v", "viewer", ""}, {"e", "editor", ""}, {"p", "publisher", ""}, {"other", "admin", `["edge"]`},
	} {
		body := `{"name":"` + tc.name + `","role":"` + tc.role + `"`
		if tc.groups != "" {
			body += `,"groups":` + tc.groups
		}
		code, resp, _ := s.call(rootToken, "POST", "/admin/v1/tokens", "application/json", body+"}")
		if code != 201 || !strings.HasPrefix(resp["token"].(string), "ptk_") {
			t.Fatalf("create token %s: %d %v", tc.name, code, resp)
		}
		tokens[tc.name] = resp["token"].(string)
	}
	tests := []struct {
		token, method, path, ct, body string
		want                          int
	}{
		{tokens["v"], "GET", "/admin/v1/groups/default/draft", "", "", 200},
		{tokens["v"], "PUT", "/admin/v1/groups/default/draft", "application/yaml", apiYAML, 403},
		{tokens["e"], "PUT", "/admin/v1/groups/default/draft", "application/yaml", apiYAML, 200},
		{tokens["e"], "POST", "/admin/v1/groups/default/revisions", "", "", 403},
		{tokens["p"], "POST", "/admin/v1/groups/default/revisions", "", "", 202},
		{tokens["p"], "GET", "/admin/v1/tokens", "", "", 403},
		{tokens["p"], "GET", "/admin/v1/audit", "", "", 403},
		{tokens["other"], "GET", "/admin/v1/groups/default/draft", "", "", 403},
	}
	for _, tt := range tests {
		if code, body, _ := s.call(tt.token, tt.method, tt.path, tt.ct, tt.body); code != tt.want {
			t.Errorf("%s %s: %d %v, want %d", tt.method, tt.path, code, body, tt.want)
		}
	}
	_, list, _ := s.call(tokens["other"], "GET", "/admin/v1/groups", "", "")
	if groups := list["groups"].([]any); len(groups) != 0 {
		t.Errorf("a token scoped to edge lists %v", groups)
	}
	// Refusals leave an audit entry and nothing else.
	_, audit, _ := s.call(rootToken, "GET", "/admin/v1/audit?outcome=denied", "", "")
	if n := len(audit["entries"].([]any)); n != 7 {
		t.Errorf("%d denied audit entries, want 7 (2 unauthenticated, 5 forbidden)", n)
	}
	revs, _ := s.st.Revisions(context.Background(), "default", 0, 10)
	if len(revs) != 1 {
		t.Errorf("%d revisions; only the publisher's publish may have created one", len(revs))
	}
}

// TestTokenScopes: a token limited to groups manages only tokens limited
// to some of them — it cannot make itself an unlimited admin — and reads
// only its groups' audit entries; any admin revokes the tokens in its
// scope, and a revoked token stops working at once.
func TestTokenScopes(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	create := func(token, body string) (int, string) {
		t.Helper()
		code, resp, _ := s.call(token, "POST", "/admin/v1/tokens", "application/json", body)
		secret, _ := resp["token"].(string)
		return code, secret
	}
	_, edgeAdmin := create(rootToken, `{"name":"edge-admin","role":"admin","groups":["edge"]}`)
	_, viewer := create(rootToken, `{"name":"viewer","role":"viewer"}`)
	_, edgeViewer := create(rootToken, `{"name":"edge-viewer","role":"viewer","groups":["edge"]}`)
	for _, body := range []string{`{"name":"x1","role":"admin"}`, `{"name":"x2","role":"admin","groups":["edge","default"]}`, `{"name":"x3","role":"viewer","groups":[]}`} {
		if code, _ := create(edgeAdmin, body); code != 403 {
			t.Errorf("the edge admin created %s: %d, want 403", body, code)
		}
	}
	if code, _ := create(edgeAdmin, `{"name":"edge-ci","role":"publisher","groups":["edge"]}`); code != 201 {
		t.Fatalf("the edge admin creating an edge token: %d", code)
	}
	_, list, _ := s.call(edgeAdmin, "GET", "/admin/v1/tokens", "", "")
	var names []string
	for _, tk := range list["tokens"].([]any) {
		names = append(names, tk.(map[string]any)["name"].(string))
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "edge-admin,edge-ci,edge-viewer" {
		t.Errorf("the edge admin lists %v", names)
	}
	if code, _, _ := s.call(edgeAdmin, "GET", "/admin/v1/audit?group=default", "", ""); code != 403 {
		t.Errorf("the edge admin read the default group's audit log: %d", code)
	}
	if code, _, _ := s.call(edgeAdmin, "GET", "/admin/v1/upstreams", "", ""); code != 403 {
		t.Errorf("the edge admin read the default group's upstreams on its node: %d", code)
	}
	if code, _, _ := s.call(edgeAdmin, "PUT", "/admin/v1/groups/edge", "", ""); code != 201 {
		t.Fatalf("the edge admin creating its group: %d", code)
	}
	code, audit, _ := s.call(edgeAdmin, "GET", "/admin/v1/audit", "", "")
	if code != 200 || len(audit["entries"].([]any)) == 0 {
		t.Fatalf("the edge admin's audit log: %d %v", code, audit)
	}
	for _, e := range audit["entries"].([]any) {
		if g := e.(map[string]any)["group"]; g != "edge" {
			t.Errorf("the edge admin read an entry of group %q", g)
		}
	}
	// Revocation.
	if code, _, _ := s.call(edgeAdmin, "DELETE", "/admin/v1/tokens/viewer", "", ""); code != 404 {
		t.Errorf("the edge admin revoked an unlimited token: %d", code)
	}
	if code, _, _ := s.call(edgeAdmin, "DELETE", "/admin/v1/tokens/edge-viewer", "", ""); code != 200 {
		t.Fatalf("the edge admin revoking an edge token: %d", code)
	}
	if code, _, _ := s.call(edgeViewer, "GET", "/admin/v1/groups", "", ""); code != 401 {
		t.Errorf("a revoked token: %d, want 401", code)
	}
	if code, _, _ := s.call(viewer, "GET", "/admin/v1/groups", "", ""); code != 200 {
		t.Fatalf("a token not revoked: %d", code)
	}
	if code, _, _ := s.call(rootToken, "DELETE", "/admin/v1/tokens/viewer", "", ""); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if code, _, _ := s.call(viewer, "GET", "/admin/v1/groups", "", ""); code != 401 {
		t.Errorf("a revoked token: %d, want 401", code)
	}
	for _, name := range []string{"viewer", "nobody"} {
		if code, _, _ := s.call(rootToken, "DELETE", "/admin/v1/tokens/"+name, "", ""); code != 404 {
			t.Errorf("revoke %s: %d, want 404", name, code)
		}
	}
	_, audit, _ = s.call(rootToken, "GET", "/admin/v1/audit?action=token.revoke", "", "")
	if n := len(audit["entries"].([]any)); n != 2 {
		t.Errorf("%d token.revoke audit entries, want 2", n)
	}
}

func TestUpstreamStatus(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	code, body, _ := s.call(rootToken, "GET", "/admin/v1/upstreams", "", "")
	ups, _ := body["upstreams"].([]any)
	if code != 200 || len(ups) != 1 {
		t.Fatalf("GET /admin/v1/upstreams: %d %v", code, body)
	}
	u := ups[0].(map[string]any)
	targets := u["targets"].([]any)
	if u["name"] != "orders" || u["circuit"] != "closed" || len(targets) != 1 || targets[0].(map[string]any)["healthy"] != true {
		t.Fatalf("upstream status %v", u)
	}
}

// TestRefusalFlood: a client guessing tokens gets 30 refusals a minute,
// each audited, then 429s that write nothing; a valid token still works.
func TestRefusalFlood(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	got := map[int]int{}
	for range admin.RefusalLimit + 10 {
		code, body, h := s.call("ptk_guess", "GET", "/admin/v1/groups", "", "")
		got[code]++
		if code == 429 && (errCode(body) != "rate_limited" || h.Get("Retry-After") == "") {
			t.Fatalf("429 without its code or Retry-After: %v %v", body, h)
		}
	}
	if got[401] != admin.RefusalLimit || got[429] != 10 {
		t.Fatalf("answers %v, want %d × 401 then 10 × 429", got, admin.RefusalLimit)
	}
	code, audit, _ := s.call(rootToken, "GET", "/admin/v1/audit?outcome=denied&limit=100", "", "")
	if code != 200 {
		t.Fatalf("a valid token was held back: %d", code)
	}
	if n := len(audit["entries"].([]any)); n != admin.RefusalLimit {
		t.Fatalf("%d denied audit entries, want %d: the flood past the limit must not grow the log", n, admin.RefusalLimit)
	}
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestDraftValidation(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	bad := strings.Replace(apiYAML, "base_path: /orders", "base_pth: /orders", 1)
	code, body, _ := s.call(rootToken, "PUT", "/admin/v1/groups/default/draft", "application/yaml", bad)
	if code != 422 || errCode(body) != "invalid_config" {
		t.Fatalf("invalid draft: %d %v", code, body)
	}
	first := body["error"].(map[string]any)["details"].([]any)[0].(map[string]any)
	if first["line"].(float64) != 7 || first["column"].(float64) != 5 || !strings.Contains(first["message"].(string), `did you mean "base_path"`) {
		t.Errorf("detail %v: want line 7, column 5 and a suggestion", first)
	}
	dangling := strings.Replace(apiYAML, "upstream: orders\n    auth", "upstream: nope\n    auth", 1)
	code, body, _ = s.call(rootToken, "PUT", "/admin/v1/groups/default/draft", "application/yaml", dangling)
	first = body["error"].(map[string]any)["details"].([]any)[0].(map[string]any)
	if code != 422 || first["line"].(float64) != 8 || first["message"] != `apis[0].upstream: no upstream is named "nope"` {
		t.Errorf("dangling upstream: %d %v", code, first)
	}
	if d, _ := s.st.Draft(context.Background(), "default"); d.Version != 1 {
		t.Errorf("an invalid draft changed the stored draft to version %d", d.Version)
	}
	// JSON is accepted too, with positions in the JSON.
	code, body, _ = s.call(rootToken, "PUT", "/admin/v1/groups/default/draft", "application/json", `{"version": 1, "apis": [{"name": "x", "routes": []}]}`)
	if code != 422 {
		t.Fatalf("invalid JSON draft: %d %v", code, body)
	}
	// Validate a document without storing it.
	code, body, _ = s.call(rootToken, "POST", "/admin/v1/groups/default/draft/validate", "application/yaml", bad)
	if code != 200 || body["valid"] != false || len(body["errors"].([]any)) != 1 {
		t.Errorf("validate: %d %v", code, body)
	}
	if code, _, _ := s.call(rootToken, "PUT", "/admin/v1/groups/default/draft", "text/plain", apiYAML); code != 415 {
		t.Errorf("text/plain draft: %d, want 415", code)
	}
	if code, _, _ := s.call(rootToken, "PUT", "/admin/v1/groups/nope/draft", "application/yaml", apiYAML); code != 404 {
		t.Errorf("draft of a missing group: %d, want 404", code)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	code, body, h := s.call(rootToken, "PUT", "/admin/v1/groups/default/draft", "application/yaml", apiYAML)
	if code != 200 || body["version"].(float64) != 2 || h.Get("ETag") != `"2"` {
		t.Fatalf("put draft: %d %v %v", code, body, h)
	}
	// If-Match with a stale version is a conflict.
	if code, _, _ := s.call(rootToken, "PUT", "/admin/v1/groups/default/draft", "application/yaml", apiYAML, "If-Match", `"1"`); code != 409 {
		t.Errorf("stale If-Match: %d, want 409", code)
	}
	_, draft, _ := s.call(rootToken, "GET", "/admin/v1/groups/default/draft", "", "")
	keys := draft["consumers"].([]any)[0].(map[string]any)["api_keys"].([]any)
	if !strings.HasPrefix(keys[0].(string), "sha256:") {
		t.Errorf("the stored draft holds the key as %q, want its hash", keys[0])
	}
	req, _ := http.NewRequest("GET", s.url+"/admin/v1/groups/default/draft", nil)
	req.Header.Set("Authorization", "Bearer "+rootToken)
	req.Header.Set("Accept", "application/yaml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	yamlBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/yaml" || !strings.Contains(string(yamlBody), "base_path: /orders") {
		t.Errorf("YAML draft: %s\n%s", resp.Header.Get("Content-Type"), yamlBody)
	}

	code, pub, _ := s.call(rootToken, "POST", "/admin/v1/groups/default/revisions", "application/json", `{"message":"first"}`)
	if code != 202 || pub["revision"].(float64) != 1 || pub["status_url"] != "/admin/v1/groups/default/revisions/1" || s.notified.Load() != 1 {
		t.Fatalf("publish: %d %v, notified %d", code, pub, s.notified.Load())
	}
	changed := strings.Replace(apiYAML, "path: /{id}", "path: /{id}\n        max_body_bytes: 1024", 1)
	changed = strings.Replace(changed, "targets: [{url: \"http://127.0.0.1:9001\"}]", "targets: [{url: \"http://127.0.0.1:9002\"}]\n  - name: spare\n    targets: [{url: \"http://127.0.0.1:9003\"}]", 1)
	s.call(rootToken, "PUT", "/admin/v1/groups/default/draft", "application/yaml", changed)
	s.call(rootToken, "POST", "/admin/v1/groups/default/revisions", "application/json", `{"message":"second"}`)

	code, diff, _ := s.call(rootToken, "GET", "/admin/v1/groups/default/revisions/2/diff?against=1", "", "")
	want := `[{"change":"changed","fields":["targets"],"kind":"upstream","name":"orders"},{"change":"added","kind":"upstream","name":"spare"},{"change":"changed","fields":["max_body_bytes"],"kind":"route","name":"orders/get-order"}]`
	if got, _ := json.Marshal(diff["changes"]); code != 200 || string(got) != want {
		t.Errorf("diff 1 -> 2:\n got %s\nwant %s", got, want)
	}
	if _, d, _ := s.call(rootToken, "GET", "/admin/v1/groups/default/revisions/2/diff?against=draft", "", ""); len(d["changes"].([]any)) != 0 {
		t.Errorf("the draft equals revision 2, yet the diff is %v", d["changes"])
	}

	code, rb, _ := s.call(rootToken, "POST", "/admin/v1/groups/default/revisions/1/rollback", "", "")
	if code != 202 || rb["revision"].(float64) != 3 {
		t.Fatalf("rollback: %d %v", code, rb)
	}
	_, r1, _ := s.call(rootToken, "GET", "/admin/v1/groups/default/revisions/1", "", "")
	_, r3, _ := s.call(rootToken, "GET", "/admin/v1/groups/default/revisions/3", "", "")
	if r3["hash"] != r1["hash"] || r3["rollback_of"].(float64) != 1 {
		t.Errorf("revision 3 = %v; want revision 1's content, marked as its rollback", r3)
	}
	_, list, _ := s.call(rootToken, "GET", "/admin/v1/groups/default/revisions?limit=2", "", "")
	if revs := list["revisions"].([]any); len(revs) != 2 || revs[0].(map[string]any)["revision"].(float64) != 3 {
		t.Errorf("revision list %v", revs)
	}
	_, audit, _ := s.call(rootToken, "GET", "/admin/v1/audit?group=default", "", "")
	var actions []string
	for _, e := range audit["entries"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	if strings.Join(actions, ",") != "revision.rollback,revision.publish,draft.put,revision.publish,draft.put" {
		t.Errorf("audit actions %v", actions)
	}
	for _, bad := range []string{"/revisions/9", "/revisions/x", "/revisions/2/diff", "/revisions/2/diff?against=9"} {
		if code, _, _ := s.call(rootToken, "GET", "/admin/v1/groups/default"+bad, "", ""); code != 404 && code != 400 {
			t.Errorf("GET %s: %d, want 400 or 404", bad, code)
		}
	}
}

func TestConcurrentPublishes(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	s.call(rootToken, "PUT", "/admin/v1/groups/default/draft", "application/yaml", apiYAML)
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, _ := s.call(rootToken, "POST", "/admin/v1/groups/default/revisions", "", "")
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 202 && code != 409 {
			t.Errorf("concurrent publish answered %d", code)
		}
	}
	revs, _ := s.st.Revisions(context.Background(), "default", 0, 10)
	if len(revs) == 0 || len(revs) > 2 || revs[0].Hash != revs[len(revs)-1].Hash {
		t.Errorf("revisions %+v: want one or two of the same draft", revs)
	}
}

func TestFileModeRefusesEdits(t *testing.T) {
	t.Parallel()
	s := newServer(t, "/etc/portico.yaml")
	for _, c := range []struct{ method, path string }{
		{"PUT", "/admin/v1/groups/default/draft"},
		{"POST", "/admin/v1/groups/default/revisions"},
		{"POST", "/admin/v1/groups/default/revisions/1/rollback"},
	} {
		code, body, _ := s.call(rootToken, c.method, c.path, "application/yaml", apiYAML)
		if code != 409 || errCode(body) != "managed_by_file" || !strings.Contains(body["error"].(map[string]any)["message"].(string), "/etc/portico.yaml") {
			t.Errorf("%s %s in file mode: %d %v", c.method, c.path, code, body)
		}
	}
	if code, _, _ := s.call(rootToken, "GET", "/admin/v1/groups/default/draft", "", ""); code != 200 {
		t.Errorf("reading the draft in file mode: %d", code)
	}
}

func TestUpstreamAddressPolicy(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	metadata := strings.Replace(apiYAML, "http://127.0.0.1:9001", "http://169.254.169.254/latest", 1)
	code, body, _ := s.call(rootToken, "PUT", "/admin/v1/groups/default/draft", "application/yaml", metadata)
	if code != 422 || errCode(body) != "upstream_denied" {
		t.Fatalf("an upstream at the metadata address: %d %v", code, body)
	}
	detail := body["error"].(map[string]any)["details"].([]any)[0].(map[string]any)
	if detail["line"].(float64) != 4 || !strings.Contains(detail["message"].(string), "upstreams[0].targets[0].url") {
		t.Errorf("detail %v: want line 4 naming the target", detail)
	}
	_, settings, _ := s.call(rootToken, "GET", "/admin/v1/groups/default/settings", "", "")
	if got, _ := json.Marshal(settings); string(got) != `{"governance":{"rules":{}},"upstream_allow":[],"upstream_deny":["169.254.0.0/16","fe80::/10"]}` {
		t.Errorf("default settings %s", got)
	}
	// Only an admin may change the policy, and it is audited.
	s.call(rootToken, "POST", "/admin/v1/tokens", "application/json", `{"name":"ed","role":"editor"}`)
	if code, _, _ := s.call(rootToken, "PUT", "/admin/v1/groups/default/settings", "application/json", `{"upstream_allow":["nope"]}`); code != 422 {
		t.Errorf("invalid settings: %d, want 422", code)
	}
	if code, _, _ := s.call(rootToken, "PUT", "/admin/v1/groups/default/settings", "application/json", `{"upstream_allow":["169.254.169.254"]}`); code != 200 {
		t.Fatalf("allow the metadata address: %d", code)
	}
	if code, body, _ := s.call(rootToken, "PUT", "/admin/v1/groups/default/draft", "application/yaml", metadata); code != 200 {
		t.Fatalf("once allowed: %d %v", code, body)
	}
	// Revoking the exemption stops the publish of the stored draft.
	s.call(rootToken, "PUT", "/admin/v1/groups/default/settings", "application/json", `{}`)
	if code, body, _ := s.call(rootToken, "POST", "/admin/v1/groups/default/revisions", "", ""); code != 422 || errCode(body) != "upstream_denied" {
		t.Fatalf("publish after the exemption was removed: %d %v", code, body)
	}
	_, audit, _ := s.call(rootToken, "GET", "/admin/v1/audit?action=settings.put", "", "")
	if n := len(audit["entries"].([]any)); n != 2 {
		t.Errorf("%d settings audit entries, want 2", n)
	}
}

func TestConsumersAndKeys(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	code, body, _ := s.call(rootToken, "POST", "/admin/v1/consumers", "application/json", `{"name":"acme"}`)
	if code != 201 {
		t.Fatalf("create consumer: %d %v", code, body)
	}
	if code, _, _ := s.call(rootToken, "POST", "/admin/v1/consumers", "application/json", `{"name":"acme"}`); code != 409 {
		t.Errorf("a second acme: %d, want 409", code)
	}
	if code, _, _ := s.call(rootToken, "POST", "/admin/v1/consumers", "application/json", `{"name":"bad name"}`); code != 422 {
		t.Errorf("a bad name: %d, want 422", code)
	}
	// app_… names are the portal's applications, confined to its APIs.
	if code, _, _ := s.call(rootToken, "POST", "/admin/v1/consumers", "application/json", `{"name":"app_1"}`); code != 422 {
		t.Errorf("a consumer named app_1: %d, want 422", code)
	}
	// Plans and groups: set at creation, changed later, live.
	code, body, _ = s.call(rootToken, "POST", "/admin/v1/consumers", "application/json", `{"name":"globex","plan":"gold","groups":["partners"]}`)
	if code != 201 || body["plan"] != "gold" || len(body["groups"].([]any)) != 1 {
		t.Fatalf("create with a plan: %d %v", code, body)
	}
	notified0 := s.notified.Load()
	code, body, _ = s.call(rootToken, "PUT", "/admin/v1/consumers/globex", "application/json", `{"plan":"silver","groups":[]}`)
	if code != 200 || body["plan"] != "silver" || len(body["groups"].([]any)) != 0 || s.notified.Load() != notified0+1 {
		t.Fatalf("update: %d %v", code, body)
	}
	for _, bad := range []struct {
		path, body string
		want       int
	}{
		{"/admin/v1/consumers/nobody", `{"plan":"gold"}`, 404},
		{"/admin/v1/consumers/globex", `{"plan":"no such plan!"}`, 422},
		{"/admin/v1/consumers/globex", `{"groups":["a b"]}`, 422},
		{"/admin/v1/consumers/globex", `{"plan":"gold","extra":1}`, 400},
	} {
		if code, body, _ := s.call(rootToken, "PUT", bad.path, "application/json", bad.body); code != bad.want {
			t.Errorf("PUT %s %s: %d %v, want %d", bad.path, bad.body, code, body, bad.want)
		}
	}
	code, k1, _ := s.call(rootToken, "POST", "/admin/v1/consumers/acme/keys", "", "")
	secret, _ := k1["key"].(string)
	if code != 201 || !strings.HasPrefix(secret, "pk_") || len(secret) < 40 || k1["id"] == "" {
		t.Fatalf("create key: %d %v", code, k1)
	}
	notified := s.notified.Load()
	code, k2, _ := s.call(rootToken, "POST", "/admin/v1/consumers/acme/keys", "application/json", `{"rotate":true,"overlap":"1h"}`)
	if code != 201 || s.notified.Load() != notified+1 {
		t.Fatalf("rotate: %d %v", code, k2)
	}
	if code, _, _ := s.call(rootToken, "POST", "/admin/v1/consumers/nobody/keys", "", ""); code != 404 {
		t.Errorf("a key for nobody: %d, want 404", code)
	}
	if code, _, _ := s.call(rootToken, "POST", "/admin/v1/consumers/acme/keys", "application/json", `{"overlap":"soon","rotate":true}`); code != 422 {
		t.Errorf("a bad overlap: %d, want 422", code)
	}
	_, list, _ := s.call(rootToken, "GET", "/admin/v1/consumers", "", "")
	raw, _ := json.Marshal(list)
	if strings.Contains(string(raw), secret) || strings.Contains(string(raw), k2["key"].(string)) {
		t.Fatalf("a listing shows a secret: %s", raw)
	}
	keys := list["consumers"].([]any)[0].(map[string]any)["keys"].([]any)
	if len(keys) != 2 || keys[0].(map[string]any)["expires_at"] == nil {
		t.Errorf("keys after rotation %v: want two, the first expiring", keys)
	}
	// The stored hash is the secret's; nothing else of it is kept.
	stored, _ := s.st.Keys(context.Background(), "acme")
	if stored[0].Hash != admin.TokenHash(secret) {
		t.Errorf("stored hash %s is not the SHA-256 of the key", stored[0].Hash)
	}
	id := k1["id"].(string)
	if code, body, _ := s.call(rootToken, "DELETE", "/admin/v1/consumers/acme/keys/"+id, "", ""); code != 200 || body["revoked"] != true {
		t.Fatalf("revoke: %d %v", code, body)
	}
	if code, _, _ := s.call(rootToken, "DELETE", "/admin/v1/consumers/acme/keys/"+id, "", ""); code != 404 {
		t.Errorf("revoke twice: %d, want 404", code)
	}
	_, audit, _ := s.call(rootToken, "GET", "/admin/v1/audit?actor=root", "", "")
	var actions []string
	for _, e := range audit["entries"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	if strings.Join(actions, ",") != "key.revoke,key.rotate,key.create,consumer.update,consumer.create,consumer.create" {
		t.Errorf("audit %v", actions)
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	s := newServer(t, "/etc/portico.yaml") // file mode binds only the default group
	if code, body, _ := s.call(rootToken, "PUT", "/admin/v1/groups/partners", "", ""); code != 201 || body["name"] != "partners" {
		t.Fatalf("create group: %d %v", code, body)
	}
	if code, _, _ := s.call(rootToken, "PUT", "/admin/v1/groups/partners", "", ""); code != 409 {
		t.Errorf("create it again: %d, want 409", code)
	}
	if code, _, _ := s.call(rootToken, "PUT", "/admin/v1/groups/bad%20name", "", ""); code != 422 {
		t.Errorf("a bad group name: %d, want 422", code)
	}
	// Each group has its own draft and revisions, and may be edited even
	// while the default group is managed by a file.
	if code, body, _ := s.call(rootToken, "PUT", "/admin/v1/groups/partners/draft", "application/yaml", apiYAML); code != 200 {
		t.Fatalf("draft of partners: %d %v", code, body)
	}
	if code, body, _ := s.call(rootToken, "POST", "/admin/v1/groups/partners/revisions", "", ""); code != 202 || body["revision"].(float64) != 1 {
		t.Fatalf("publish partners: %d %v", code, body)
	}
	_, list, _ := s.call(rootToken, "GET", "/admin/v1/groups", "", "")
	groups := list["groups"].([]any)
	if len(groups) != 2 || groups[1].(map[string]any)["latest_revision"].(float64) != 1 || groups[0].(map[string]any)["latest_revision"].(float64) != 0 {
		t.Errorf("groups %v", groups)
	}
}

func TestGovernance(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	rules := `{"governance":{"rules":{"route_auth_explicit":true,"upstream_https":{"allow_http":["10.0.0.1"]},"route_name_pattern":"^[a-z-]+$"}}}`
	if code, body, _ := s.call(rootToken, "PUT", "/admin/v1/groups/default/settings", "application/json", rules); code != 200 {
		t.Fatalf("put rules: %d %v", code, body)
	}
	for _, bad := range []string{
		`{"governance":{"rules":{"route_name_pattern":"("}}}`,
		`{"governance":{"exceptions":[{"rule":"upstream_https","api":"orders","reason":"x"}]}}`,
		`{"governance":{"rulez":{}}}`,
		`{"unknown":1}`,
	} {
		if code, _, _ := s.call(rootToken, "PUT", "/admin/v1/groups/default/settings", "application/json", bad); code != 422 {
			t.Errorf("settings %s: %d, want 422", bad, code)
		}
	}
	s.call(rootToken, "PUT", "/admin/v1/groups/default/draft", "application/yaml", apiYAML)
	code, body, _ := s.call(rootToken, "POST", "/admin/v1/groups/default/revisions", "", "")
	if code != 422 || errCode(body) != "governance_violation" {
		t.Fatalf("publish against the rules: %d %v", code, body)
	}
	var msgs []string
	for _, d := range body["error"].(map[string]any)["details"].([]any) {
		msgs = append(msgs, d.(map[string]any)["message"].(string))
	}
	if len(msgs) != 2 || !strings.Contains(msgs[0], "does not state its own auth") || !strings.Contains(msgs[1], "plain http") {
		t.Errorf("violations %v", msgs)
	}
	if revs, _ := s.st.Revisions(context.Background(), "default", 0, 10); len(revs) != 0 {
		t.Fatalf("a refused publish created %d revisions", len(revs))
	}
	// Exceptions with a reason and an expiry let the API through.
	exc := `{"governance":{"rules":{"route_auth_explicit":true,"upstream_https":{}},"exceptions":[
		{"rule":"route_auth_explicit","api":"orders","reason":"legacy API, fixed in Q1","expires":"2099-01-01T00:00:00Z"},
		{"rule":"upstream_https","api":"orders","reason":"expired","expires":"2001-01-01T00:00:00Z"}]}}`
	s.call(rootToken, "PUT", "/admin/v1/groups/default/settings", "application/json", exc)
	code, body, _ = s.call(rootToken, "POST", "/admin/v1/groups/default/revisions", "", "")
	if code != 422 || len(body["error"].(map[string]any)["details"].([]any)) != 1 {
		t.Fatalf("with one valid and one expired exception: %d %v", code, body)
	}
	s.call(rootToken, "PUT", "/admin/v1/groups/default/settings", "application/json",
		strings.Replace(exc, "2001-01-01", "2099-01-01", 1))
	if code, body, _ := s.call(rootToken, "POST", "/admin/v1/groups/default/revisions", "", ""); code != 202 {
		t.Fatalf("with both exceptions valid: %d %v", code, body)
	}
	_, settings, _ := s.call(rootToken, "GET", "/admin/v1/groups/default/settings", "", "")
	if exc := settings["governance"].(map[string]any)["exceptions"].([]any); len(exc) != 2 {
		t.Errorf("settings lost the exceptions: %v", settings)
	}
}

func TestDraftEntities(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	base := "/admin/v1/groups/default/draft"
	// Build a draft entity by entity.
	if code, body, _ := s.call(rootToken, "PUT", base+"/upstreams/orders", "application/yaml", "targets: [{url: \"http://127.0.0.1:9001\"}]\ntimeout: 5s\n"); code != 201 || body["name"] != "orders" {
		t.Fatalf("put upstream: %d %v", code, body)
	}
	api := "base_path: /orders\nupstream: orders\nauth: [api_key]\nroutes:\n  - name: get-order\n    methods: [GET]\n    path: /{id}\n"
	if code, body, _ := s.call(rootToken, "PUT", base+"/apis/orders", "application/yaml", api); code != 201 {
		t.Fatalf("put api: %d %v", code, body)
	}
	if code, body, _ := s.call(rootToken, "PUT", base+"/apis/orders/routes/new-order", "application/json", `{"methods":["POST"],"path":"/new"}`); code != 201 {
		t.Fatalf("put route: %d %v", code, body)
	}
	if code, body, _ := s.call(rootToken, "PUT", base+"/apis/orders/routes/new-order", "application/json", `{"methods":["POST","PUT"],"path":"/new"}`); code != 200 || len(body["methods"].([]any)) != 2 {
		t.Fatalf("replace route: %d %v", code, body)
	}
	_, routes, _ := s.call(rootToken, "GET", base+"/apis/orders/routes", "", "")
	if n := len(routes["items"].([]any)); n != 2 {
		t.Fatalf("%d routes, want 2", n)
	}
	// A change that would break the draft is refused whole.
	code, body, _ := s.call(rootToken, "DELETE", base+"/upstreams/orders", "", "")
	if code != 422 || !strings.Contains(fmt.Sprint(body), `no upstream is named "orders"`) {
		t.Fatalf("deleting a used upstream: %d %v", code, body)
	}
	code, body, _ = s.call(rootToken, "PUT", base+"/apis/orders/routes/dup", "application/json", `{"methods":["GET"],"path":"/{key}"}`)
	if code != 422 || !strings.Contains(fmt.Sprint(body), "both match") {
		t.Fatalf("a conflicting route: %d %v", code, body)
	}
	code, body, _ = s.call(rootToken, "PUT", base+"/upstreams/other", "application/yaml", "name: different\ntargets: []\n")
	if code != 422 {
		t.Fatalf("a body naming another entity: %d %v", code, body)
	}
	code, body, _ = s.call(rootToken, "PUT", base+"/upstreams/other", "application/yaml", "targts: []\n")
	if code != 422 || !strings.Contains(fmt.Sprint(body), `did you mean "targets"`) {
		t.Fatalf("a typo in an entity: %d %v", code, body)
	}
	if code, _, _ := s.call(rootToken, "DELETE", base+"/apis/orders/routes/new-order", "", ""); code != 204 {
		t.Fatalf("delete route: %d", code)
	}
	for _, p := range []string{"/upstreams/nope", "/apis/nope/routes", "/things"} {
		if code, _, _ := s.call(rootToken, "GET", base+p, "", ""); code != 404 {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
	if code, _, _ := s.call(rootToken, "GET", base+"/apis/orders", "", ""); code != 200 {
		t.Errorf("GET the API: %d", code)
	}
	if code, _, _ := s.call(rootToken, "GET", base+"/apis/orders/routes/get-order", "", ""); code != 200 {
		t.Errorf("GET the route: %d", code)
	}
	if code, _, _ := s.call(rootToken, "DELETE", base+"/auth_policies/none-such", "", ""); code != 404 {
		t.Errorf("DELETE a missing policy: %d", code)
	}
	// The result publishes like any draft.
	if code, body, _ := s.call(rootToken, "POST", "/admin/v1/groups/default/revisions", "", ""); code != 202 {
		t.Fatalf("publish: %d %v", code, body)
	}
	_, audit, _ := s.call(rootToken, "GET", "/admin/v1/audit?group=default&limit=3", "", "")
	if got := audit["entries"].([]any)[1].(map[string]any)["target"]; got != "draft/apis/orders/routes/new-order" {
		t.Errorf("audit target %v", got)
	}
}

func TestOpenAPIImport(t *testing.T) {
	t.Parallel()
	s := newServer(t, "")
	doc, err := os.ReadFile("../openapi/testdata/petstore.yaml")
	if err != nil {
		t.Fatal(err)
	}
	code, body, _ := s.call(rootToken, "POST", "/admin/v1/groups/default/draft/import?base_path=/pets-api", "application/yaml", string(doc))
	if code != 201 || body["api"] != "swagger-petstore" || body["routes"].(float64) != 4 || len(body["warnings"].([]any)) != 2 {
		t.Fatalf("import: %d %v", code, body)
	}
	_, api, _ := s.call(rootToken, "GET", "/admin/v1/groups/default/draft/apis/swagger-petstore", "", "")
	if api["base_path"] != "/pets-api" {
		t.Errorf("imported API %v", api)
	}
	if code, _, _ := s.call(rootToken, "POST", "/admin/v1/groups/default/draft/import", "application/yaml", string(doc)); code != 409 {
		t.Errorf("importing the same API again: %d, want 409", code)
	}
	if code, body, _ := s.call(rootToken, "POST", "/admin/v1/groups/default/draft/import?name=pets2&base_path=/pets2&upstream=swagger-petstore-upstream", "application/yaml", string(doc)); code != 201 {
		t.Errorf("a second copy onto the same upstream: %d %v", code, body)
	}
	if code, _, _ := s.call(rootToken, "POST", "/admin/v1/groups/default/draft/import", "application/yaml", "swagger: '2.0'"); code != 422 {
		t.Errorf("a Swagger 2 document: %d, want 422", code)
	}
	// The imported draft publishes.
	if code, body, _ := s.call(rootToken, "POST", "/admin/v1/groups/default/revisions", "", ""); code != 202 {
		t.Fatalf("publish the import: %d %v", code, body)
	}
}
