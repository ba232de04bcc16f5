package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/portico-gw/portico/internal/alert"
	"github.com/portico-gw/portico/internal/usage"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portico-gw/portico/internal/compiler"
	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/demo"
	"github.com/portico-gw/portico/internal/egress"
	"github.com/portico-gw/portico/internal/gateway"
	"github.com/portico-gw/portico/internal/governance"
	"github.com/portico-gw/portico/internal/policy/apikey"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/telemetry"
)

// Group is the gateway group a serve node runs.
const Group = "default"

// applier keeps the gateway on the group's latest revision. Revisions come
// from the admin API (which calls Notify) and, with --config, from the file:
// whenever the file's content differs from the latest revision, it is
// published as a new one. Applying compiles a revision and swaps it in; a
// revision that fails to compile leaves the previous one serving, and both
// outcomes are recorded as the node's rollout status.
type applier struct {
	o       Options
	log     *slog.Logger
	st      store.Store
	rt      compiler.Runtime
	gw      *gateway.Gateway
	metrics *telemetry.Metrics
	// usage is the gateway's usage recorder, switched by the config, and
	// retention the config's analytics retention, read by the pruner.
	usage     *usage.Recorder
	alerts    *alert.Evaluator
	retention atomic.Pointer[config.Retention]
	// current is the config serving now (for the portal's catalog).
	current atomic.Pointer[config.Config]
	echoURL string
	notify  chan struct{}
	// applied is the number of the revision serving (0: none yet).
	applied int64
	// started is set once something was activated, even an empty config.
	started bool
	// settings is the group's settings document the egress policy was
	// built from.
	settings string
	// liveVersion is the live-data version the live keyring was built at.
	liveVersion int64
	// fileMod and fileSize are the config file's last seen stat.
	fileMod  time.Time
	fileSize int64
}

// Notify asks the applier to look for a new revision now.
func (a *applier) Notify() {
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

// syncFile publishes the config file as a revision when its content
// differs from the latest revision. Errors name the file's positions.
func (a *applier) syncFile(ctx context.Context) error {
	if a.o.ConfigPath == "" {
		return nil
	}
	data, err := os.ReadFile(a.o.ConfigPath)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	f, err := config.ParseFile(a.o.ConfigPath, data, a.o.Getenv)
	if err != nil {
		return err
	}
	if err := f.Validate(); err != nil {
		return err
	}
	settings, err := a.st.Settings(ctx, Group)
	if err != nil {
		return err
	}
	gov, err := governance.FromSettings(settings)
	if err != nil {
		return err
	}
	if vs := gov.Check(f.Config, time.Now()); len(vs) > 0 {
		return governance.Error(vs)
	}
	doc, err := config.Canonical(f.Config)
	if err != nil {
		return err
	}
	hash := config.ContentHash(doc)
	latest, err := a.st.LatestRevision(ctx, Group)
	switch {
	case err == nil && latest.Hash == hash:
		return nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	actor := "file:" + a.o.ConfigPath
	r, err := a.st.Publish(ctx, store.Publication{
		Group: Group, Content: doc, Hash: hash, Author: actor, Message: "published from the config file",
	}, store.AuditEntry{Actor: actor, Action: "revision.publish", Group: Group, Detail: "config file changed"})
	if err != nil {
		return err
	}
	a.log.Info("config file published", "group", Group, "revision", r.Number, "config", a.o.ConfigPath)
	return nil
}

// applyLatest compiles and activates the group's latest revision if it is
// not the one serving.
func (a *applier) applyLatest(ctx context.Context) error {
	r, err := a.st.LatestRevision(ctx, Group)
	if errors.Is(err, store.ErrNotFound) {
		if !a.started { // nothing published yet: serve the demo, if any
			a.started = true
			return a.activate(&config.Config{Version: 1}, "(no revision)")
		}
		return nil
	}
	if err != nil {
		return err
	}
	if r.Number == a.applied {
		return nil
	}
	cfg, err := a.decode(r)
	if err == nil {
		err = a.activate(cfg, fmt.Sprintf("revision %d", r.Number))
	}
	status := store.RolloutStatus{Group: Group, Number: r.Number, Node: a.o.NodeName, State: store.RolloutApplied}
	if err != nil {
		status.State, status.Detail = store.RolloutFailed, err.Error()
	}
	if serr := a.st.SetRolloutStatus(ctx, status); serr != nil {
		a.log.Error("recording the rollout status failed", "revision", r.Number, "error", serr.Error())
	}
	a.applied = r.Number // a revision that cannot compile here is not retried
	if err != nil {
		return fmt.Errorf("revision %d: %w", r.Number, err)
	}
	a.started = true
	a.log.Info("revision applied", "group", Group, "revision", r.Number, "hash", r.Hash)
	return nil
}

func (a *applier) decode(r store.Revision) (*config.Config, error) {
	f, err := config.Parse(fmt.Sprintf("revision %d", r.Number), r.Content, nil)
	if err != nil {
		return nil, err
	}
	return f.Config, nil
}

// activate compiles cfg (with the demo API added) and swaps it in.
func (a *applier) activate(cfg *config.Config, name string) error {
	if a.echoURL != "" {
		demo.Merge(cfg, a.echoURL)
	}
	c, err := compiler.Compile(name, cfg, a.rt)
	if err != nil {
		a.metrics.Reloaded(false)
		return err
	}
	if len(c.Quotas) > 0 && a.rt.Remote == nil {
		// Go on from the counts of the last run. Should the store not
		// answer, the first flush a second later brings them in.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := a.rt.Quotas.Load(ctx, a.st, c.Quotas, time.Now()); err != nil {
			a.log.Error("reading quota counts failed; they are read again at the next write", "error", err.Error())
		}
		cancel()
	}
	c.Activate(a.gw)
	a.current.Store(cfg)
	a.usage.SetEnabled(cfg.Analytics.RecordUsage())
	a.alerts.SetConfig(cfg)
	ret := cfg.Analytics.Retention()
	a.retention.Store(&ret)
	a.metrics.Reloaded(true)
	return nil
}

// logRejected logs a refused config, one line per problem.
func (a *applier) logRejected(why string, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			a.log.Error("config rejected; the previous config keeps serving", "reason", why, "error", e.Error())
		}
		return
	}
	a.log.Error("config rejected; the previous config keeps serving", "reason", why, "error", err.Error())
}

// run publishes file changes and applies new revisions until ctx is done:
// on SIGHUP, when notified, and every WatchInterval. The file is polled
// rather than watched with inotify: polling sees every way a file can be
// replaced (editors that rename, Kubernetes ConfigMap symlink swaps).
func (a *applier) run(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(a.o.WatchInterval)
	defer tick.Stop()
	for {
		why := ""
		select {
		case <-ctx.Done():
			return
		case <-hup:
			why = "SIGHUP"
		case <-a.notify:
		case <-tick.C:
			if a.fileChanged() {
				why = "file changed"
			}
		}
		if why != "" {
			if err := a.syncFile(ctx); err != nil {
				a.logRejected(why, err)
				continue
			}
		}
		if err := a.refreshEgress(ctx); err != nil {
			a.log.Error("reading the group's settings failed; the previous egress policy stays", "error", err.Error())
		}
		if err := a.refreshKeys(ctx); err != nil {
			a.log.Error("reading the API keys failed; the previous keys stay", "error", err.Error())
		}
		if err := a.applyLatest(ctx); err != nil {
			a.logRejected("new revision", err)
		}
	}
}

// fileChanged reports whether the config file's size or modification time
// changed since it was last seen.
func (a *applier) fileChanged() bool {
	if a.o.ConfigPath == "" {
		return false
	}
	fi, err := os.Stat(a.o.ConfigPath)
	if err != nil || fi.ModTime().Equal(a.fileMod) && fi.Size() == a.fileSize {
		return false
	}
	a.fileMod, a.fileSize = fi.ModTime(), fi.Size()
	return true
}

// refreshEgress rebuilds the upstream address policy when the group's
// settings changed. The policy is enforced on every dial.
func (a *applier) refreshEgress(ctx context.Context) error {
	doc, err := a.st.Settings(ctx, Group)
	if err != nil {
		return err
	}
	if a.settings == string(doc) && a.settings != "" {
		return nil
	}
	s, err := egress.ParseSettings(doc)
	if err != nil {
		return err
	}
	own := []string{a.o.AdminAddr, a.o.PortalAddr}
	a.rt.Pools.SetEgress(egress.NewPolicy(s, own...))
	a.settings = string(doc)
	return nil
}

// refreshKeys rebuilds the live keyring when consumers or keys changed.
// Expiry is checked on every lookup, so a rotation's overlap ends on time
// between refreshes.
func (a *applier) refreshKeys(ctx context.Context) error {
	v, err := a.st.LiveVersion(ctx)
	if err != nil || (v == a.liveVersion && a.liveVersion != 0) {
		return err
	}
	keys, v, err := a.st.ActiveKeys(ctx, time.Now())
	if err != nil {
		return err
	}
	live := make([]apikey.LiveKey, 0, len(keys))
	for _, k := range keys {
		var d apikey.Digest
		if _, err := hex.Decode(d[:], []byte(k.Hash)); err != nil {
			return fmt.Errorf("key %s of %s has a malformed hash", k.ID, k.Consumer)
		}
		live = append(live, apikey.LiveKey{Consumer: k.Consumer, Digest: d, ExpiresAt: k.ExpiresAt})
	}
	consumers, err := a.st.Consumers(ctx)
	if err != nil {
		return err
	}
	groups, plans := map[string][]string{}, map[string]string{}
	for _, c := range consumers {
		if len(c.Groups) > 0 {
			groups[c.Name] = c.Groups
		}
		if c.Plan != "" {
			plans[c.Name] = c.Plan
		}
	}
	subs, err := a.st.Subscriptions(ctx, Group, "")
	if err != nil {
		return err
	}
	apps := map[string]string{} // application id -> consumer
	active := map[string]map[string]bool{}
	for _, s := range subs {
		if s.State != store.SubscriptionActive {
			continue
		}
		c, ok := apps[s.AppID]
		if !ok {
			app, err := a.st.App(ctx, s.AppID)
			if err != nil {
				return err
			}
			c, apps[s.AppID] = app.Consumer, app.Consumer
		}
		if active[c] == nil {
			active[c] = map[string]bool{}
		}
		active[c][s.API] = true
	}
	a.rt.LiveKeys.Set(apikey.NewLiveKeyring(live, groups))
	a.rt.LivePlans.Set(plans)
	a.rt.Subscriptions.Set(active)
	a.liveVersion = v
	return nil
}
