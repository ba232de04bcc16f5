// Package node runs an all-in-one Portico node (what "portico serve"
// starts): the gateway on the proxy address, probes and metrics on the
// admin address, the config file watched and reloaded, and a graceful stop.
package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portico-gw/portico/internal/admin"
	"github.com/portico-gw/portico/internal/compiler"
	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/demo"
	"github.com/portico-gw/portico/internal/gateway"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/telemetry"
)

// Options configure a node. Zero durations take the defaults.
type Options struct {
	// ConfigPath is the declarative config file; "" serves no APIs (or only
	// the demo).
	ConfigPath string
	ProxyAddr  string
	AdminAddr  string
	// Demo adds the demo API and starts its echo upstream.
	Demo bool
	// DrainTimeout bounds graceful shutdown. Default 30s.
	DrainTimeout time.Duration
	// WatchInterval is how often the config file is checked for changes.
	// Default 1s.
	WatchInterval time.Duration
	Getenv        func(string) (string, bool)
	// Stdout receives the access log and the node's own log lines.
	Stdout io.Writer
	// Ready, when not nil, receives the bound addresses once serving.
	Ready func(proxyAddr, adminAddr string)
}

// Run serves until ctx is done, then drains and returns nil, or returns the
// error that stopped it. A config that is invalid at start is an error; a
// config that becomes invalid later is logged and the previous one serves on.
func Run(ctx context.Context, o Options) error {
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.WatchInterval == 0 {
		o.WatchInterval = time.Second
	}
	log := slog.New(slog.NewJSONHandler(o.Stdout, nil))
	metrics := telemetry.NewMetrics()
	accessLog := telemetry.NewAccessLog(o.Stdout, 200*time.Millisecond)
	defer func() { _ = accessLog.Close() }()
	rt := compiler.Runtime{Pools: proxy.NewPools(), Metrics: metrics, Tunnels: proxy.NewTunnels()}
	defer rt.Pools.Close()
	gw := gateway.New(metrics, accessLog)

	var lc net.ListenConfig
	var echoURL string
	if o.Demo {
		ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("starting the demo upstream: %w", err)
		}
		echo := &http.Server{Handler: demo.Echo(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = echo.Serve(ln) }()
		defer func() { _ = echo.Close() }()
		echoURL = "http://" + ln.Addr().String()
	}

	r := &reloader{o: o, log: log, rt: rt, gw: gw, metrics: metrics, echoURL: echoURL}
	if err := r.load(); err != nil {
		return err
	}
	var ready atomic.Bool
	ready.Store(true)

	proxyLn, err := lc.Listen(ctx, "tcp", o.ProxyAddr)
	if err != nil {
		return fmt.Errorf("proxy address: %w", err)
	}
	adminLn, err := lc.Listen(ctx, "tcp", o.AdminAddr)
	if err != nil {
		_ = proxyLn.Close()
		return fmt.Errorf("admin address: %w", err)
	}
	log.Info("portico is serving", "proxy", proxyLn.Addr().String(), "admin", adminLn.Addr().String(), "config", o.ConfigPath)
	if o.Demo {
		log.Info("demo API ready: try  curl -H 'X-API-Key: "+demo.Key+"' http://"+proxyLn.Addr().String()+"/demo/hello",
			"events", "curl -N -H 'X-API-Key: "+demo.Key+"' http://"+proxyLn.Addr().String()+"/demo/events")
	}
	if o.Ready != nil {
		o.Ready(proxyLn.Addr().String(), adminLn.Addr().String())
	}

	wctx, stopWatching := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.watch(wctx) }()

	proxySrv := gateway.NewServer(gw)
	adminSrv := gateway.NewServer(admin.Handler(metrics, &ready))
	errc := make(chan error, 2)
	go func() { errc <- gateway.Serve(ctx, proxySrv, proxyLn, o.DrainTimeout) }()
	go func() { errc <- gateway.Serve(ctx, adminSrv, adminLn, o.DrainTimeout) }()

	var first error
	for range 2 {
		err := <-errc
		if errors.Is(err, gateway.ErrDrainTimeout) {
			// Streams that outlive the drain time are cut off by design.
			log.Warn("requests still running at the drain deadline were cut off", "drain_timeout", o.DrainTimeout.String())
			continue
		}
		if err != nil && first == nil {
			first = err
			stopWatching()
			_ = proxySrv.Close()
			_ = adminSrv.Close()
		}
	}
	stopWatching()
	wg.Wait()
	// WebSocket tunnels are hijacked connections that Shutdown does not
	// wait for: give them what is left of the drain time, then close them.
	tctx, cancel := context.WithTimeout(context.Background(), o.DrainTimeout)
	rt.Tunnels.Shutdown(tctx)
	cancel()
	if first != nil {
		return first
	}
	log.Info("portico stopped")
	return nil
}

// reloader loads the config and swaps it in, on start, on SIGHUP and when
// the file changes.
type reloader struct {
	o       Options
	log     *slog.Logger
	rt      compiler.Runtime
	gw      *gateway.Gateway
	metrics *telemetry.Metrics
	echoURL string
	// digest is the SHA-256 of the file content serving now.
	digest [sha256.Size]byte
}

func (r *reloader) load() error {
	cfg := &config.Config{Version: 1}
	name := "(demo)"
	var digest [sha256.Size]byte
	if r.o.ConfigPath != "" {
		name = r.o.ConfigPath
		data, err := os.ReadFile(r.o.ConfigPath)
		if err != nil {
			r.metrics.Reloaded(false)
			return fmt.Errorf("reading config: %w", err)
		}
		digest = sha256.Sum256(data)
		f, err := config.Parse(r.o.ConfigPath, data, r.o.Getenv)
		if err != nil {
			r.metrics.Reloaded(false)
			return err
		}
		cfg = f.Config
		if err := f.Validate(); err != nil {
			r.metrics.Reloaded(false)
			return err
		}
	}
	if r.echoURL != "" {
		demo.Merge(cfg, r.echoURL)
	}
	c, err := compiler.Compile(name, cfg, r.rt)
	if err != nil {
		r.metrics.Reloaded(false)
		return err
	}
	c.Activate(r.gw)
	r.digest = digest
	r.metrics.Reloaded(true)
	return nil
}

// reload is load for a running node: failures are logged, never fatal.
func (r *reloader) reload(why string) {
	if err := r.load(); err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				r.log.Error("config rejected; the previous config keeps serving", "reason", why, "error", e.Error())
			}
			return
		}
		r.log.Error("config rejected; the previous config keeps serving", "reason", why, "error", err.Error())
		return
	}
	r.log.Info("config reloaded", "reason", why, "config", r.o.ConfigPath)
}

// watch reloads on SIGHUP and when the config file's content changes. It
// polls the file rather than using inotify: polling sees every way a file
// can be replaced (editors that rename, Kubernetes ConfigMap symlink swaps)
// and costs one stat a second.
func (r *reloader) watch(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(r.o.WatchInterval)
	defer tick.Stop()
	var lastMod time.Time
	var lastSize int64 = -1
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload("SIGHUP")
		case <-tick.C:
			if r.o.ConfigPath == "" {
				continue
			}
			fi, err := os.Stat(r.o.ConfigPath)
			if err != nil || fi.ModTime().Equal(lastMod) && fi.Size() == lastSize {
				continue
			}
			lastMod, lastSize = fi.ModTime(), fi.Size()
			data, err := os.ReadFile(r.o.ConfigPath)
			if err != nil || sha256.Sum256(data) == r.digest {
				continue
			}
			r.reload("file changed")
		}
	}
}
