package main

// End-to-end tests: they build the real binary and drive it as a user
// would, over real sockets and with real signals.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portico-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "portico")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building portico:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a running "portico serve".
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	proxy  string
	admin  string
	portal string
	out    *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startNode starts portico serve with args and extra environment variables.
func startNode(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startNodeIn(t, t.TempDir(), env, args...)
}

// startNodeIn starts portico serve on the data directory dataDir.
func startNodeIn(t *testing.T, dataDir string, env []string, args ...string) *proc {
	t.Helper()
	return startNodeTo(t, nil, dataDir, env, args...)
}

// startNodeTo starts portico serve with its standard output on stdout
// (nil: the proc's buffer, with its standard error).
func startNodeTo(t *testing.T, stdout io.Writer, dataDir string, env []string, args ...string) *proc {
	t.Helper()
	n := &proc{t: t, proxy: freeAddr(t), admin: freeAddr(t), portal: freeAddr(t), out: &lockedBuffer{}, done: make(chan error, 1)}
	args = append([]string{"serve", "--proxy-addr", n.proxy, "--admin-addr", n.admin, "--portal-addr", n.portal, "--data-dir", dataDir}, args...)
	n.cmd = exec.Command(binary, args...)
	n.cmd.Env = append(os.Environ(), env...)
	n.cmd.Stdout = stdout
	if stdout == nil {
		n.cmd.Stdout = n.out
	}
	n.cmd.Stderr = n.out
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.done <- n.cmd.Wait() }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Kill()
		<-n.done
		if t.Failed() {
			t.Logf("portico output:\n%s", n.out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + n.admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return n
			}
		}
		select {
		case err := <-n.done:
			t.Fatalf("portico exited while starting: %v\n%s", err, n.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("portico was not ready after 10 s:\n%s", n.out.String())
	return nil
}

func (n *proc) get(path string, header ...string) (int, string) {
	n.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.proxy+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stop sends sig and returns the exit error.
func (n *proc) stop(sig os.Signal) error {
	_ = n.cmd.Process.Signal(sig)
	select {
	case err := <-n.done:
		n.done <- err // for the cleanup
		return err
	case <-time.After(15 * time.Second):
		n.t.Fatal("portico did not exit 15 s after the signal")
		return nil
	}
}

func upstreamConfig(upstream string) string {
	return `version: 1
upstreams:
  - name: up
    targets: [{url: "` + upstream + `"}]
apis:
  - name: api
    base_path: /api
    upstream: up
    auth: [api_key]
    routes:
      - name: all
        path: /{rest...}
consumers:
  - name: acme
    api_keys: ["${ACME_KEY}"]
`
}

func TestValidateExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.yaml")
	invalid := filepath.Join(dir, "invalid.yaml")
	os.WriteFile(valid, []byte(upstreamConfig("http://127.0.0.1:1")), 0o644)
	os.WriteFile(invalid, []byte("version: 1\napis:\n  - name: a\n    base_pth: /a\n    routes:\n      - name: r\n        path: /{id\n"), 0o644)
	tests := []struct {
		desc   string
		args   []string
		env    []string
		code   int
		stderr []string
	}{
		{desc: "valid", args: []string{"validate", valid}, env: []string{"ACME_KEY=acme-key-0123456789"}, code: 0},
		{desc: "unset variable", args: []string{"validate", valid}, code: 1,
			stderr: []string{valid + ":15:16: consumers[0].api_keys[0]: environment variable ACME_KEY is not set"}},
		{desc: "invalid", args: []string{"validate", invalid}, code: 1, stderr: []string{
			invalid + `:4:5: apis[0]: unknown key "base_pth"; did you mean "base_path"?`,
		}},
		{desc: "missing file", args: []string{"validate", filepath.Join(dir, "nope.yaml")}, code: 1, stderr: []string{"nope.yaml: no such file or directory"}},
		{desc: "no argument", args: []string{"validate"}, code: 2},
		{desc: "unknown command", args: []string{"frobnicate"}, code: 2},
		{desc: "not yet available", args: []string{"dataplane"}, code: 2, stderr: []string{"not available in this version"}},
		{desc: "apply without a token", args: []string{"apply", valid}, code: 2, stderr: []string{"PORTICO_ADMIN_TOKEN"}},
		{desc: "version", args: []string{"version"}, code: 0},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(binary, tt.args...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tt.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr.String())
				}
			}
		})
	}
}

func TestInvalidConfigLinesHavePositions(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(file, []byte("version: 1\nupstreams:\n  - name: up\n    targets: [{url: ftp://x}]\napis:\n  - name: a\n    upstream: nope\n    routes:\n      - name: r\n        path: /r\n"), 0o644)
	out, _ := exec.Command(binary, "validate", file).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 3 {
		t.Fatalf("want every error reported, got:\n%s", out)
	}
	for _, l := range lines {
		var line, col int
		rest := strings.TrimPrefix(l, file+":")
		if _, err := fmt.Sscanf(rest, "%d:%d:", &line, &col); err != nil || line == 0 || col == 0 {
			t.Errorf("%q is not PATH:LINE:COL: message", l)
		}
	}
}

func TestServeDemo(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil, "--demo")
	status, body := n.get("/demo/hello", "X-API-Key", "portico-demo-key-0001")
	if status != 200 || !strings.Contains(body, `"consumer":"demo-user"`) {
		t.Fatalf("demo hello: %d %s", status, body)
	}
	if status, _ := n.get("/demo/hello"); status != 401 {
		t.Fatalf("demo hello without a key: %d, want 401", status)
	}
	if !strings.Contains(n.out.String(), "curl -H 'X-API-Key: portico-demo-key-0001' http://"+n.proxy+"/demo/hello") {
		t.Errorf("the log does not tell the newcomer which curl to try:\n%s", n.out.String())
	}
	resp, err := http.Get("http://" + n.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `portico_http_requests_total{api="demo",code="200",route="hello"} 1`) {
		t.Errorf("/metrics does not count the demo request:\n%s", metrics)
	}
	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want 0", err)
	}
	// Every request left one JSON access log line with the fixed fields.
	found := 0
	for l := range strings.SplitSeq(n.out.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil || m["request_id"] == nil {
			continue
		}
		found++
		for _, k := range []string{"time", "request_id", "method", "path", "status", "duration_ms", "api", "route", "consumer", "upstream"} {
			if _, ok := m[k]; !ok {
				t.Errorf("access log line lacks %q: %s", k, l)
			}
		}
	}
	if found != 2 {
		t.Errorf("found %d access log lines, want 2", found)
	}
}

func TestReloadOnFileChangeAndSIGHUP(t *testing.T) {
	t.Parallel()
	v1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "v1") }))
	defer v1.Close()
	v2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "v2") }))
	defer v2.Close()
	file := filepath.Join(t.TempDir(), "portico.yaml")
	os.WriteFile(file, []byte(upstreamConfig(v1.URL)), 0o644)
	n := startNode(t, []string{"ACME_KEY=acme-key-0123456789"}, "--config", file)
	key := []string{"X-API-Key", "acme-key-0123456789"}
	if _, body := n.get("/api/x", key...); body != "v1" {
		t.Fatalf("before reload: %q", body)
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if _, body := n.get("/api/x", key...); body == want {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("still not %q 5 s after the change", want)
	}
	// A changed file is picked up.
	os.WriteFile(file, []byte(upstreamConfig(v2.URL)), 0o644)
	waitFor("v2")
	// An invalid file is rejected, logged with its position, and v2 serves on.
	os.WriteFile(file, []byte(strings.Replace(upstreamConfig(v1.URL), "base_path", "base_pth", 1)), 0o644)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(n.out.String(), "config rejected") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(n.out.String(), `portico.yaml:7:5: apis[0]: unknown key \"base_pth\"`) {
		t.Fatalf("the rejected config was not logged with its position:\n%s", n.out.String())
	}
	if _, body := n.get("/api/x", key...); body != "v2" {
		t.Fatalf("after an invalid config: %q, want v2 to keep serving", body)
	}
	// SIGHUP reloads as well. Write the file back with the same size and
	// an old modification time, so only the signal can trigger the reload.
	os.WriteFile(file, []byte(upstreamConfig(v1.URL)), 0o644)
	waitFor("v1")
	os.WriteFile(file, []byte(upstreamConfig(v2.URL)), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(file, old, old)
	_ = n.cmd.Process.Signal(syscall.SIGHUP)
	waitFor("v2")
}

// TestGracefulShutdown sends SIGTERM while a slow request is in flight: the
// request must complete, new connections must be refused, and the process
// must exit 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		time.Sleep(time.Second)
		io.WriteString(w, "finished")
	}))
	defer slow.Close()
	file := filepath.Join(t.TempDir(), "portico.yaml")
	os.WriteFile(file, []byte(strings.Replace(upstreamConfig(slow.URL), `"${ACME_KEY}"`, `"acme-key-0123456789"`, 1)), 0o644)
	n := startNode(t, nil, "--config", file, "--drain-timeout", "10s")
	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		c, err := net.Dial("tcp", n.proxy)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer c.Close()
		io.WriteString(c, "GET /api/slow HTTP/1.1\r\nHost: x\r\nX-API-Key: acme-key-0123456789\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), err}
	}()
	<-entered
	began := time.Now()
	exit := make(chan error, 1)
	go func() { exit <- n.stop(syscall.SIGTERM) }()
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if c, err := (&net.Dialer{}).DialContext(ctx, "tcp", n.proxy); err == nil {
		c.Close()
		t.Error("a new connection was accepted after SIGTERM")
	}
	r := <-res
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %d %q %v, want 200 finished", r.status, r.body, r.err)
	}
	if err := <-exit; err != nil {
		t.Fatalf("exit: %v, want 0", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("shutdown took %v", took)
	}
}

// TestServeFlags: --portal-addr serves the developer portal there, and a
// --store that is not PostgreSQL is refused with a clear message.
func TestServeFlags(t *testing.T) {
	t.Parallel()
	n := startNode(t, nil)
	resp, err := http.Get("http://" + n.portal + "/apis")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "API portal") || !strings.Contains(n.out.String(), `"portal":"`+n.portal+`"`) {
		t.Errorf("the portal on --portal-addr: %d\n%s", resp.StatusCode, n.out.String())
	}
	cmd := exec.Command(binary, "serve", "--store", "mysql://127.0.0.1/test", "--proxy-addr", freeAddr(t), "--admin-addr", freeAddr(t), "--data-dir", t.TempDir())
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "give a postgres:// URL") {
		t.Errorf("--store mysql://: %v\n%s\nwant exit 2 with a clear message", err, out)
	}
}

// TestShutdownWithOpenStreams sends SIGTERM while a WebSocket tunnel and a
// server-sent event stream are open and never end on their own: the node
// must cut both off at the drain deadline and exit 0.
func TestShutdownWithOpenStreams(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			c, brw, _ := http.NewResponseController(w).Hijack()
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			io.Copy(io.Discard, c) // hold the tunnel open
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for {
			io.WriteString(w, "data: tick\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
	defer up.Close()
	file := filepath.Join(t.TempDir(), "portico.yaml")
	cfg := strings.Replace(upstreamConfig(up.URL), `"${ACME_KEY}"`, `"acme-key-0123456789"`, 1)
	os.WriteFile(file, []byte(cfg), 0o644)
	n := startNode(t, nil, "--config", file, "--drain-timeout", "1s")

	ws, err := net.Dial("tcp", n.proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	io.WriteString(ws, "GET /api/ws HTTP/1.1\r\nHost: x\r\nX-API-Key: acme-key-0123456789\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	wsr := bufio.NewReader(ws)
	if line, _ := wsr.ReadString('\n'); !strings.Contains(line, "101") {
		t.Fatalf("WebSocket handshake: %q", line)
	}
	req, _ := http.NewRequest("GET", "http://"+n.proxy+"/api/events", nil)
	req.Header.Set("X-API-Key", "acme-key-0123456789")
	sse, err := http.DefaultClient.Do(req)
	if err != nil || sse.StatusCode != 200 {
		t.Fatalf("SSE: %v %v", sse, err)
	}
	defer sse.Body.Close()
	if line, _ := bufio.NewReader(sse.Body).ReadString('\n'); line != "data: tick\n" {
		t.Fatalf("SSE first line %q", line)
	}

	began := time.Now()
	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit with open streams: %v, want 0", err)
	}
	if took := time.Since(began); took < 900*time.Millisecond || took > 5*time.Second {
		t.Errorf("exited %v after SIGTERM; want about the 1 s drain timeout", took)
	}
	_ = ws.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadAll(wsr); err != nil {
		t.Errorf("the WebSocket tunnel was not closed: %v", err)
	}
	if !strings.Contains(n.out.String(), "cut off") {
		t.Errorf("the node did not log that streams were cut off:\n%s", n.out.String())
	}
}

// TestShutdownUnderLoad sends SIGTERM while clients send a steady stream
// of requests: every request must either get its 200 or fail to connect —
// none may be cut off or answered with an error.
func TestShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	file := filepath.Join(t.TempDir(), "portico.yaml")
	os.WriteFile(file, []byte(strings.Replace(upstreamConfig(up.URL), `"${ACME_KEY}"`, `"acme-key-0123456789"`, 1)), 0o644)
	n := startNode(t, nil, "--config", file, "--drain-timeout", "10s")
	var mu sync.Mutex
	var ok, refused int
	var bad []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", "http://"+n.proxy+"/api/x", nil)
				req.Header.Set("X-API-Key", "acme-key-0123456789")
				resp, err := client.Do(req)
				mu.Lock()
				switch {
				case err != nil && (strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "server closed idle connection")):
					refused++
				case err != nil:
					bad = append(bad, err.Error())
				default:
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if rerr != nil || resp.StatusCode != 200 || string(b) != "ok" {
						bad = append(bad, fmt.Sprintf("%d %q %v", resp.StatusCode, b, rerr))
					} else {
						ok++
					}
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Errorf("exit under load: %v, want 0", err)
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d requests failed during shutdown (%d ok, %d refused), first: %s", len(bad), ok, refused, bad[0])
	}
	if ok < 50 || refused == 0 {
		t.Fatalf("%d ok, %d refused: the test did not shut down under load", ok, refused)
	}
}
