// Package node runs an all-in-one Portico node (what "portico serve"
// starts): the store, the gateway on the proxy address, probes and metrics
// on the admin address, the config file published as revisions, the latest
// revision applied, and a graceful stop.
package node

import (
	"path/filepath"
	"strings"

	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/store/postgres"
	"github.com/portico-gw/portico/internal/store/sqlite"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/admin"
	"github.com/portico-gw/portico/internal/alert"
	"github.com/portico-gw/portico/internal/compiler"
	"github.com/portico-gw/portico/internal/console"
	"github.com/portico-gw/portico/internal/demo"
	"github.com/portico-gw/portico/internal/gateway"
	"github.com/portico-gw/portico/internal/policy/access"
	"github.com/portico-gw/portico/internal/policy/apikey"
	"github.com/portico-gw/portico/internal/policy/jwt"
	"github.com/portico-gw/portico/internal/policy/ratelimit"
	"github.com/portico-gw/portico/internal/portal"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/telemetry"
	"github.com/portico-gw/portico/internal/usage"
)

// Options configure a node. Zero durations take the defaults.
type Options struct {
	// ConfigPath is the declarative config file; "" serves what the store
	// holds (or only the demo).
	ConfigPath string
	// DataDir holds the embedded store (portico.db).
	DataDir string
	// StoreURL is "" for SQLite in DataDir, or a postgres:// URL.
	StoreURL string
	// RedisURL, when set, keeps rate limits and quotas in Redis.
	RedisURL  string
	ProxyAddr string
	// ProxyTLSCert and ProxyTLSKey, when set, make the proxy listener
	// serve HTTPS (HTTP/1.1 over TLS 1.2 or later) with this PEM
	// certificate and key, asking clients for a certificate that mtls
	// auth policies verify.
	ProxyTLSCert, ProxyTLSKey string
	AdminAddr                 string
	// PortalAddr is the developer portal's address; upstreams may not
	// point at it (nor at AdminAddr) unless the group's settings allow it.
	PortalAddr string
	// NodeName identifies this node in rollout statuses. Default: the
	// host name.
	NodeName string
	// AdminToken is the bootstrap admin token ("" to use the stored ones,
	// or to create one on first start and print it once).
	AdminToken string
	// Demo adds the demo API and starts its echo upstream.
	Demo bool
	// DrainTimeout bounds graceful shutdown. Default 30s.
	DrainTimeout time.Duration
	// WatchInterval is how often the config file and the store are checked
	// for changes. Default 1s.
	WatchInterval time.Duration
	Getenv        func(string) (string, bool)
	// Stdout receives the access log and the node's own log lines.
	Stdout io.Writer
	// UsageFlushInterval is how often usage records are written to the
	// store. Default 1s.
	UsageFlushInterval time.Duration
	// Ready, when not nil, receives the bound addresses once serving.
	Ready func(proxyAddr, adminAddr string)
}

// openStore opens the store the options name.
func openStore(ctx context.Context, o Options) (store.Store, error) {
	if strings.HasPrefix(o.StoreURL, "postgres://") || strings.HasPrefix(o.StoreURL, "postgresql://") {
		return postgres.Open(ctx, o.StoreURL)
	}
	if o.StoreURL != "" {
		return nil, fmt.Errorf("--store: %q is not a postgres:// URL; leave it empty for the embedded store", o.StoreURL)
	}
	return sqlite.Open(ctx, filepath.Join(o.DataDir, "portico.db"))
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
	if o.NodeName == "" {
		o.NodeName, _ = os.Hostname()
	}
	// Access log lines and the node's own share one writer of standard
	// output, which never blocks the node on it (telemetry.AccessLog).
	accessLog := telemetry.NewAccessLog(o.Stdout, 200*time.Millisecond)
	defer func() {
		if err := accessLog.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "portico:", err)
		}
	}()
	log := slog.New(slog.NewJSONHandler(accessLog, nil))
	st, err := openStore(ctx, o)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	if err := st.EnsureGroup(ctx, Group); err != nil {
		return err
	}
	if err := bootstrapToken(ctx, st, o.AdminToken, log); err != nil {
		return err
	}
	metrics := telemetry.NewMetrics()
	metrics.WatchOutput(accessLog)
	pools := proxy.NewPools()
	// Key sets of jwt policies are fetched under the same egress policy as
	// upstreams.
	jwksClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, Control: pools.Control}).DialContext,
	}}
	rt := compiler.Runtime{Pools: pools, Metrics: metrics, Tunnels: proxy.NewTunnels(), LiveKeys: &apikey.Live{},
		JWKS: &jwt.Sources{Client: jwksClient, Log: log}, RateLimits: ratelimit.NewTables(), Quotas: ratelimit.NewQuotas(),
		LivePlans: &ratelimit.LivePlans{}, Subscriptions: &access.Subscriptions{}, Health: &proxy.Health{Pools: pools, Log: log, Events: metrics}}
	defer rt.Pools.Close()
	defer rt.JWKS.Close()
	defer rt.RateLimits.Close()
	defer rt.Health.Close()
	if o.RedisURL != "" {
		rt.Remote, err = ratelimit.NewRemote(o.RedisURL, "portico:"+Group+":", log, metrics)
		if err != nil {
			return fmt.Errorf("--redis: %w", err)
		}
		defer func() { _ = rt.Remote.Close() }()
	}
	// Quota counts kept here (without Redis, or while it is down) are
	// written to the store every second, and once more at the end.
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Quotas.Flush(fctx, st, time.Now()); err != nil {
			log.Error("writing quota counts at shutdown failed", "error", err.Error())
		}
	}()
	gw := gateway.New(metrics, accessLog)
	// Usage records: appended by the gateway, written by the writer
	// below, which runs until the listeners have drained and then writes
	// (or spools) what is left.
	rec := usage.NewRecorder(usage.DefaultBuffer, usage.DefaultBatch, metrics)
	gw.RecordUsage(rec)
	rt.Usage = rec
	uw, err := usage.NewWriter(rec, st, usage.WriterOptions{Group: Group, Node: o.NodeName,
		SpoolDir: filepath.Join(o.DataDir, "usage-spool"), Every: o.UsageFlushInterval, Log: log, Events: metrics})
	if err != nil {
		return err
	}

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

	// Alert notifications leave under the egress policy too.
	alerts := alert.New(alert.Options{Store: st, Group: Group, Node: o.NodeName, Log: log, Circuits: rt.Health.Status,
		Client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: (&net.Dialer{Timeout: 5 * time.Second, Control: pools.Control}).DialContext,
		}}})
	a := &applier{o: o, log: log, st: st, rt: rt, gw: gw, metrics: metrics, usage: rec, alerts: alerts, echoURL: echoURL, notify: make(chan struct{}, 1)}
	if err := a.refreshEgress(ctx); err != nil {
		return err
	}
	if err := a.refreshKeys(ctx); err != nil {
		return err
	}
	a.fileChanged() // remember the file as it is now
	if err := a.syncFile(ctx); err != nil {
		return err
	}
	if err := a.applyLatest(ctx); err != nil {
		return err
	}
	var ready atomic.Bool
	ready.Store(true)

	var tlsConf *tls.Config
	if o.ProxyTLSCert != "" || o.ProxyTLSKey != "" {
		cert, err := tls.LoadX509KeyPair(o.ProxyTLSCert, o.ProxyTLSKey)
		if err != nil {
			return fmt.Errorf("proxy TLS certificate: %w", err)
		}
		tlsConf = &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
			// Asked, not verified here: each mtls policy verifies the
			// certificate against its own authorities.
			ClientAuth: tls.RequestClientCert,
			NextProtos: []string{"http/1.1"},
		}
	}
	proxyLn, err := lc.Listen(ctx, "tcp", o.ProxyAddr)
	if err != nil {
		return fmt.Errorf("proxy address: %w", err)
	}
	if tlsConf != nil {
		proxyLn = tls.NewListener(proxyLn, tlsConf)
	}
	adminLn, err := lc.Listen(ctx, "tcp", o.AdminAddr)
	if err != nil {
		_ = proxyLn.Close()
		return fmt.Errorf("admin address: %w", err)
	}
	portalLn, err := lc.Listen(ctx, "tcp", o.PortalAddr)
	if err != nil {
		_ = proxyLn.Close()
		_ = adminLn.Close()
		return fmt.Errorf("portal address: %w", err)
	}
	sandboxURL, sandboxClient, err := sandboxTarget(proxyLn.Addr().String(), tlsConf)
	if err != nil {
		_ = proxyLn.Close()
		_ = adminLn.Close()
		_ = portalLn.Close()
		return err
	}
	log.Info("portico is serving", "proxy", proxyLn.Addr().String(), "admin", adminLn.Addr().String(), "portal", portalLn.Addr().String(),
		"config", o.ConfigPath, "node", o.NodeName, "revision", a.applied)
	if o.Demo {
		log.Info("demo API ready: try  curl -H 'X-API-Key: "+demo.Key+"' http://"+proxyLn.Addr().String()+"/demo/hello",
			"events", "curl -N -H 'X-API-Key: "+demo.Key+"' http://"+proxyLn.Addr().String()+"/demo/events")
	}
	if o.Ready != nil {
		o.Ready(proxyLn.Addr().String(), adminLn.Addr().String())
	}

	wctx, stopWatching := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(5)
	go func() { defer wg.Done(); alerts.Run(wctx) }()
	go func() { defer wg.Done(); a.run(wctx) }()
	go func() { defer wg.Done(); flushQuotas(wctx, rt.Quotas, st, log) }()
	// The usage writer outlives the listeners: requests still draining
	// after the stop signal add records that its last flush must take.
	uctx, stopUsage := context.WithCancel(context.WithoutCancel(ctx))
	defer stopUsage()
	go func() { defer wg.Done(); uw.Run(uctx, 10*time.Second) }()
	go func() { defer wg.Done(); a.pruneUsage(wctx, time.Hour) }()

	proxySrv := gateway.NewProxyServer(gw)
	refusals := ratelimit.NewLimiter(admin.RefusalLimit, time.Minute)
	defer refusals.Close()
	api := &admin.API{Store: st, Notify: a.Notify, FileMode: o.ConfigPath, FileGroup: Group,
		OwnAddrs: []string{adminLn.Addr().String(), portalLn.Addr().String()}, Refusals: refusals, Upstreams: rt.Health.Status}
	adminSrv := gateway.NewServer(admin.Handler(metrics, &ready, api, console.New(api, st, log).Mount))
	dev := portal.New(portal.Options{Store: st, Group: Group, Config: a.current.Load, Log: log,
		SandboxURL: sandboxURL, SandboxClient: sandboxClient})
	defer dev.Close()
	portalSrv := gateway.NewServer(dev.Handler())
	errc := make(chan error, 3)
	go func() { errc <- gateway.Serve(ctx, proxySrv, proxyLn, o.DrainTimeout) }()
	go func() { errc <- gateway.Serve(ctx, adminSrv, adminLn, o.DrainTimeout) }()
	go func() { errc <- gateway.Serve(ctx, portalSrv, portalLn, o.DrainTimeout) }()

	var first error
	for range 3 {
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
			_ = portalSrv.Close()
		}
	}
	stopWatching()
	stopUsage()
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

// flushQuotas writes quota counts to the store every second until ctx is
// done. A failed write keeps the counts for the next one.
func flushQuotas(ctx context.Context, qs *ratelimit.Quotas, st store.Store, log *slog.Logger) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			err := qs.Flush(ctx, st, now)
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				log.Error("writing quota counts failed; they are kept and retried every second", "error", err.Error())
				failing = true
			case err == nil && failing:
				log.Info("quota counts written again")
				failing = false
			}
		}
	}
}

// bootstrapToken makes sure an admin can get in: the token given with
// --admin-token is stored (as its hash) with the admin role; without one,
// a store that has no token at all gets a new one, printed once. There is
// never a built-in credential.
func bootstrapToken(ctx context.Context, st store.Store, secret string, log *slog.Logger) error {
	if secret == "" {
		ts, err := st.Tokens(ctx)
		if err != nil || len(ts) > 0 {
			return err
		}
		secret = admin.NewTokenSecret()
		defer log.Warn("no admin token was configured, so one was created; it is shown only this once: keep it, or start with --admin-token",
			"token", secret)
	}
	hash := admin.TokenHash(secret)
	if _, err := st.TokenByHash(ctx, hash); err == nil {
		return nil
	}
	name := "bootstrap-" + hash[:8]
	err := st.CreateToken(ctx, store.Token{Name: name, Role: admin.RoleAdmin, Hash: hash, CreatedBy: "bootstrap"},
		store.AuditEntry{Actor: "bootstrap", Action: "token.create", Detail: "bootstrap admin token"})
	if err != nil {
		return fmt.Errorf("storing the bootstrap admin token: %w", err)
	}
	return nil
}

// pruneUsage deletes usage data past the config's retention, at start and
// then every interval, until ctx is done.
func (a *applier) pruneUsage(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if ret := a.retention.Load(); ret != nil {
			now := time.Now()
			days := func(n int64) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }
			n, err := a.st.PruneUsage(ctx, Group, days(ret.Records), map[string]time.Time{
				store.Minute: days(ret.Minute), store.Hour: days(ret.Hour), store.Day: days(ret.Day)})
			switch {
			case err != nil && ctx.Err() == nil:
				a.log.Error("pruning old usage data failed; it is tried again later", "error", err.Error())
			case n > 0:
				a.log.Info("old usage data pruned", "rows", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sandboxTarget is where the portal's try-it console sends its calls:
// this node's own proxy listener, trusting its own certificate when it
// serves TLS.
func sandboxTarget(addr string, tlsConf *tls.Config) (string, *http.Client, error) {
	if tlsConf == nil {
		return "http://" + addr, &http.Client{Timeout: 10 * time.Second}, nil
	}
	pool := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(tlsConf.Certificates[0].Certificate[0])
	if err != nil {
		return "", nil, fmt.Errorf("proxy TLS certificate: %w", err)
	}
	pool.AddCert(leaf)
	name := "localhost"
	if len(leaf.DNSNames) > 0 {
		name = leaf.DNSNames[0]
	}
	return "https://" + addr, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12},
	}}, nil
}
