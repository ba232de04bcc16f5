package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// RedisEnv holds the URL of the machine's Redis server for tests, such as
// redis://127.0.0.1:6379/0.
const RedisEnv = "PORTICO_TEST_REDIS"

// RedisURL returns the test Redis URL, or skips (fails, when services are
// required) when it is not set. Tests sharing it must use keys of their
// own (a unique API name, say): other tests run against it at once.
func RedisURL(t testing.TB) string {
	t.Helper()
	return need(t, RedisEnv, "Redis")
}

// Redis is a throwaway redis-server of one test, which the test may kill
// and start again on the same port to see what an outage does.
type Redis struct {
	URL  string
	t    testing.TB
	bin  string
	port int
	cmd  *exec.Cmd
}

// StartRedis starts a redis-server (from PATH) on a free loopback port,
// stopped when the test ends. Without the binary it skips, or fails when
// services are required.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "SKIPPING: redis-server is not installed (scripts/services.sh installs it)"
		if os.Getenv(RequireServicesEnv) == "1" {
			t.Fatal(msg + ", and " + RequireServicesEnv + "=1 requires it")
		}
		t.Skip(msg)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	r := &Redis{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), t: t, bin: bin, port: port}
	r.Start()
	t.Cleanup(r.Kill)
	return r
}

// Start starts the server (again) and waits until it accepts connections.
func (r *Redis) Start() {
	r.t.Helper()
	// The machine's redis-server, found in PATH by the test itself.
	r.cmd = exec.CommandContext(context.Background(), r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", //nolint:gosec
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir())
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("starting redis-server: %v", err)
	}
	for range 100 {
		d := net.Dialer{Timeout: 100 * time.Millisecond}
		c, err := d.DialContext(context.Background(), "tcp", fmt.Sprintf("127.0.0.1:%d", r.port))
		if err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("redis-server on port %d did not start", r.port)
}

// Kill stops the server at once, as a crash would (SIGKILL).
func (r *Redis) Kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}
