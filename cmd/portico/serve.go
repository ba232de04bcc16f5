package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/node"
)

// envFlags is a flag set whose flags default to an environment variable.
type envFlags struct {
	fs     *flag.FlagSet
	getenv func(string) (string, bool)
	envs   map[string]string // flag name -> variable
	errs   []error
}

func newEnvFlags(name string, getenv func(string) (string, bool), stderr io.Writer) *envFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &envFlags{fs: fs, getenv: getenv, envs: map[string]string{}}
}

func (e *envFlags) string(name, env, def, usage string) *string {
	if v, ok := e.getenv(env); ok {
		def = v
	}
	e.envs[name] = env
	return e.fs.String(name, def, usage+" [$"+env+"]")
}

func (e *envFlags) bool(name, env string, usage string) *bool {
	def := false
	if v, ok := e.getenv(env); ok {
		def = v == "1" || strings.EqualFold(v, "true")
	}
	e.envs[name] = env
	return e.fs.Bool(name, def, usage+" [$"+env+"]")
}

func (e *envFlags) duration(name, env string, def time.Duration, usage string) *time.Duration {
	if v, ok := e.getenv(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("$%s: %q is not a duration", env, v))
		} else {
			def = d
		}
	}
	e.envs[name] = env
	return e.fs.Duration(name, def, usage+" [$"+env+"]")
}

// given reports whether a flag was set on the command line or through its
// environment variable.
func (e *envFlags) given(name string) bool {
	set := false
	e.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	_, inEnv := e.getenv(e.envs[name])
	return set || inEnv
}

func (e *envFlags) parse(args []string) error {
	if err := e.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{code: 0, err: errSilent}
		}
		return &exitError{code: 2, err: errSilent}
	}
	if len(e.errs) > 0 {
		return &exitError{code: 2, err: errors.Join(e.errs...)}
	}
	if e.fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q", e.fs.Arg(0))}
	}
	return nil
}

func serve(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	f := newEnvFlags("serve", getenv, stderr)
	configPath := f.string("config", "PORTICO_CONFIG", "", "declarative config file (YAML, version 1); reloaded on change and on SIGHUP")
	dataDir := f.string("data-dir", "PORTICO_DATA_DIR", "./portico-data", "directory for the embedded store and local state")
	proxyAddr := f.string("proxy-addr", "PORTICO_PROXY_ADDR", "127.0.0.1:8080", "address of the gateway (API traffic)")
	tlsCert := f.string("proxy-tls-cert", "PORTICO_PROXY_TLS_CERT", "", "PEM certificate (chain) for serving the gateway over HTTPS; with --proxy-tls-key")
	tlsKey := f.string("proxy-tls-key", "PORTICO_PROXY_TLS_KEY", "", "PEM private key of --proxy-tls-cert")
	adminAddr := f.string("admin-addr", "PORTICO_ADMIN_ADDR", "127.0.0.1:9080", "address of /healthz, /readyz, /metrics and the admin API")
	portalAddr := f.string("portal-addr", "PORTICO_PORTAL_ADDR", "127.0.0.1:9090", "address of the developer portal")
	store := f.string("store", "PORTICO_STORE", "", "store URL: empty for SQLite in the data dir, or postgres://…")
	nodeName := f.string("node-name", "PORTICO_NODE_NAME", "", "this node's name in rollout statuses (default: the host name)")
	redisURL := f.string("redis", "PORTICO_REDIS_URL", "", "Redis URL (redis://host:port/db) for rate limits and quotas exact across every node sharing it")
	adminToken := f.string("admin-token", "PORTICO_ADMIN_TOKEN", "", "bootstrap admin token (default: the stored tokens, or a new one printed once)")
	demoOn := f.bool("demo", "PORTICO_DEMO", "add a demo API backed by a built-in echo upstream")
	drain := f.duration("drain-timeout", "PORTICO_DRAIN_TIMEOUT", 30*time.Second, "how long in-flight requests may run after SIGTERM")
	if err := f.parse(args); err != nil {
		return err
	}
	if *store != "" && !strings.HasPrefix(*store, "postgres://") && !strings.HasPrefix(*store, "postgresql://") {
		return &exitError{code: 2, err: errors.New("--store: give a postgres:// URL, or leave it empty for the embedded SQLite store in --data-dir")}
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return &exitError{code: 2, err: errors.New("--proxy-tls-cert and --proxy-tls-key go together")}
	}
	if err := os.MkdirAll(*dataDir, 0o750); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	return node.Run(ctx, node.Options{
		ConfigPath:   *configPath,
		DataDir:      *dataDir,
		StoreURL:     *store,
		RedisURL:     *redisURL,
		NodeName:     *nodeName,
		AdminToken:   *adminToken,
		ProxyAddr:    *proxyAddr,
		ProxyTLSCert: *tlsCert,
		ProxyTLSKey:  *tlsKey,
		AdminAddr:    *adminAddr,
		PortalAddr:   *portalAddr,
		Demo:         *demoOn,
		DrainTimeout: *drain,
		Getenv:       getenv,
		Stdout:       stdout,
	})
}
