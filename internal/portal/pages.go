package portal

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/analytics"
	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/openapi"
	"github.com/portico-gw/portico/internal/store"
	"github.com/portico-gw/portico/internal/web"
)

func (p *Portal) home(rq *request) {
	rq.render(http.StatusOK, "home", rq.view("Welcome", "home", map[string]any{"APIs": rq.apis()}))
}

func (p *Portal) catalog(rq *request) {
	rq.render(http.StatusOK, "catalog", rq.view("APIs", "apis", map[string]any{"APIs": rq.apis()}))
}

// reference shows one API: its introduction and the operations of its
// OpenAPI document.
func (p *Portal) reference(rq *request) {
	name := rq.r.PathValue("name")
	i := slices.IndexFunc(rq.apis(), func(a config.API) bool { return a.Name == name })
	if i < 0 {
		rq.fail(http.StatusNotFound, "There is no API of that name in the portal.")
		return
	}
	a := rq.apis()[i]
	data := map[string]any{"API": a}
	if a.Portal.OpenAPIDocument != "" {
		doc, err := openapi.ParseReference([]byte(a.Portal.OpenAPIDocument))
		if err != nil {
			data["DocError"] = "The API's OpenAPI document could not be read."
			p.o.Log.Warn("an API's OpenAPI document does not parse", "api", a.Name, "error", err.Error())
		} else {
			data["Doc"] = doc
		}
	}
	rq.render(http.StatusOK, "reference", rq.view(title(&a), "apis", data))
}

func title(a *config.API) string {
	if a.Portal != nil && a.Portal.Title != "" {
		return a.Portal.Title
	}
	return a.Name
}

// appView is an application with its keys and subscriptions.
type appView struct {
	store.App
	Keys []store.Key
	Subs []store.Subscription
}

// myApps returns the developer's applications with their keys.
func (rq *request) myApps() ([]appView, error) {
	apps, err := rq.p.o.Store.Apps(rq.r.Context(), rq.dev.ID)
	if err != nil {
		return nil, err
	}
	out := make([]appView, 0, len(apps))
	for _, a := range apps {
		keys, err := rq.p.o.Store.Keys(rq.r.Context(), a.Consumer)
		if err != nil {
			return nil, err
		}
		subs, err := rq.p.o.Store.Subscriptions(rq.r.Context(), rq.p.o.Group, a.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, appView{App: a, Keys: keys, Subs: subs})
	}
	return out, nil
}

// myApp returns the application the path names if it is the developer's;
// another developer's is answered 404, as an unknown one is.
func (rq *request) myApp() (store.App, bool) {
	a, err := rq.p.o.Store.App(rq.r.Context(), rq.r.PathValue("id"))
	if err != nil || a.DeveloperID != rq.dev.ID {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			rq.internal(err)
			return a, false
		}
		rq.fail(http.StatusNotFound, "There is no such application among yours.")
		return a, false
	}
	return a, true
}

func (p *Portal) appsPage(rq *request, status int, errs []string, created map[string]string) {
	apps, err := rq.myApps()
	if err != nil {
		rq.internal(err)
		return
	}
	v := rq.view("Your applications", "apps", map[string]any{"Apps": apps, "Created": created, "APIs": rq.apis()})
	v.Errors = errs
	rq.render(status, "apps", v)
}

func (p *Portal) apps(rq *request) { p.appsPage(rq, http.StatusOK, nil, nil) }

func (p *Portal) createApp(rq *request) {
	name := strings.TrimSpace(rq.r.PostFormValue("name"))
	if name == "" || len(name) > 100 {
		p.appsPage(rq, http.StatusUnprocessableEntity, []string{"Give the application a name (at most 100 characters)."}, nil)
		return
	}
	// Each application is a consumer every node of the group loads: a
	// developer's are bounded. Counting and adding are one step on this
	// node (across nodes, each may add one past the bound at once).
	full, err := func() (int, error) {
		p.creating.Lock()
		defer p.creating.Unlock()
		apps, err := p.o.Store.Apps(rq.r.Context(), rq.dev.ID)
		if err != nil || len(apps) >= MaxApps {
			return len(apps), err
		}
		now := time.Now().UTC()
		id := newID("app_")
		app := store.App{ID: id, DeveloperID: rq.dev.ID, Name: name, Consumer: id, CreatedAt: now}
		return 0, p.o.Store.CreateApp(rq.r.Context(), app, store.Consumer{Name: id, CreatedAt: now, CreatedBy: "developer:" + rq.dev.Email},
			store.AuditEntry{Actor: "developer:" + rq.dev.Email, Action: "app.create", Detail: "application " + name})
	}()
	switch {
	case err != nil:
		rq.internal(err)
	case full > 0:
		p.appsPage(rq, http.StatusUnprocessableEntity, []string{"You have " + strconv.Itoa(full) +
			" applications, the most a developer may have; add keys to one of them instead."}, nil)
	default:
		rq.redirect("/apps", "app")
	}
}

// createKey makes a key for one of the developer's applications and shows
// it on this answer only.
func (p *Portal) createKey(rq *request) {
	app, ok := rq.myApp()
	if !ok {
		return
	}
	secret, id := newKey()
	// An application holds at most MaxKeys live keys (rotated ones count
	// until they expire), counted and added as one step on this node.
	live, err := func() (int, error) {
		p.creating.Lock()
		defer p.creating.Unlock()
		keys, err := p.o.Store.Keys(rq.r.Context(), app.Consumer)
		if err != nil {
			return 0, err
		}
		now := time.Now().UTC()
		live := 0
		for _, k := range keys {
			if k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || k.ExpiresAt.After(now)) {
				live++
			}
		}
		if live >= MaxKeys {
			return live, nil
		}
		var expireOthers time.Time
		if rq.r.PostFormValue("rotate") == "on" {
			expireOthers = now.Add(24 * time.Hour) // the old keys keep working a day
		}
		return 0, p.o.Store.AddKey(rq.r.Context(), store.Key{ID: id, Consumer: app.Consumer, Hash: sha(secret), CreatedAt: now}, expireOthers,
			store.AuditEntry{Actor: "developer:" + rq.dev.Email, Action: "key.create", Detail: "application " + app.Name})
	}()
	switch {
	case err != nil:
		rq.internal(err)
	case live > 0:
		p.appsPage(rq, http.StatusUnprocessableEntity, []string{"The application " + app.Name + " has " + strconv.Itoa(live) +
			" keys, the most it may hold at once; revoke one first."}, nil)
	default:
		p.appsPage(rq, http.StatusCreated, nil, map[string]string{"App": app.Name, "ID": id, "Key": secret})
	}
}

func (p *Portal) revokeKey(rq *request) {
	app, ok := rq.myApp()
	if !ok {
		return
	}
	err := p.o.Store.RevokeKey(rq.r.Context(), app.Consumer, rq.r.PathValue("key"), time.Now().UTC(),
		store.AuditEntry{Actor: "developer:" + rq.dev.Email, Action: "key.revoke", Detail: "application " + app.Name})
	if errors.Is(err, store.ErrNotFound) {
		rq.fail(http.StatusNotFound, "There is no such key on this application.")
		return
	}
	if err != nil {
		rq.internal(err)
		return
	}
	rq.redirect("/apps", "revoked")
}

// subscribe subscribes an application to an API of the portal under one
// of its plans: at once, or pending an administrator's approval.
func (p *Portal) subscribe(rq *request) {
	app, ok := rq.myApp()
	if !ok {
		return
	}
	apiName, plan := rq.r.PostFormValue("api"), rq.r.PostFormValue("plan")
	i := slices.IndexFunc(rq.apis(), func(a config.API) bool { return a.Name == apiName })
	if i < 0 {
		p.appsPage(rq, http.StatusUnprocessableEntity, []string{"Choose an API of the catalog."}, nil)
		return
	}
	pt := rq.apis()[i].Portal
	if plan == "" && len(pt.Plans) > 0 {
		plan = pt.Plans[0]
	}
	if len(pt.Plans) > 0 && !slices.Contains(pt.Plans, plan) {
		p.appsPage(rq, http.StatusUnprocessableEntity, []string{"Choose one of the API's plans."}, nil)
		return
	}
	now := time.Now().UTC()
	sub := store.Subscription{AppID: app.ID, Group: p.o.Group, API: apiName, Plan: plan, State: store.SubscriptionActive,
		CreatedAt: now, DecidedAt: now, DecidedBy: "auto"}
	done := "subscribed"
	if pt.Subscription == "approval" {
		sub.State, sub.DecidedAt, sub.DecidedBy, done = store.SubscriptionPending, time.Time{}, "", "pending"
	}
	// An application is one consumer, and a consumer has one plan, which
	// applies on every API it calls: a subscription under another plan
	// than the application's other subscriptions would set that plan for
	// all of them — a generous plan of an open API in place of the one
	// an administrator approved elsewhere. Such a subscription is
	// refused; another application can hold it.
	other, err := func() (store.Subscription, error) {
		p.creating.Lock()
		defer p.creating.Unlock()
		subs, err := p.o.Store.Subscriptions(rq.r.Context(), p.o.Group, app.ID)
		if err != nil {
			return store.Subscription{}, err
		}
		for _, s := range subs {
			if s.API != apiName && s.Plan != "" && plan != "" && s.Plan != plan &&
				(s.State == store.SubscriptionActive || s.State == store.SubscriptionPending) {
				return s, nil
			}
		}
		return store.Subscription{}, p.o.Store.Subscribe(rq.r.Context(), sub, store.AuditEntry{Actor: "developer:" + rq.dev.Email,
			Action: "subscription." + sub.State, Group: p.o.Group, Detail: "application " + app.Name + " to API " + apiName + " under plan " + plan})
	}()
	switch {
	case err != nil:
		rq.internal(err)
	case other.API != "":
		p.appsPage(rq, http.StatusUnprocessableEntity, []string{"The application " + app.Name + " is on plan " + other.Plan +
			" (its subscription to " + other.API + "), and a plan applies to every API an application calls: subscribe under " +
			other.Plan + ", or create another application for plan " + plan + "."}, nil)
	default:
		rq.redirect("/apps", done)
	}
}

// usageView is one application's usage.
type usageView struct {
	App       appView
	Summary   analytics.Stats
	Chart     any
	Statement *analytics.Statement
	Quota     *quotaView
}

type quotaView struct {
	Limit, Used, Left int64
	Period            string
}

// usage shows the developer's own applications' usage: the last day's
// traffic, the month's statement and the quota left. Queries name the
// application's consumer, so nobody else's usage can appear.
func (p *Portal) usage(rq *request) {
	apps, err := rq.myApps()
	if err != nil {
		rq.internal(err)
		return
	}
	cfg := p.o.Config()
	loc := time.UTC
	if l, err := time.LoadLocation(cfg.QuotaTimeZone); err == nil && cfg.QuotaTimeZone != "" {
		loc = l
	}
	consumers, err := p.o.Store.Consumers(rq.r.Context())
	if err != nil {
		rq.internal(err)
		return
	}
	now := time.Now().UTC()
	var out []usageView
	for _, a := range apps {
		ctx := rq.r.Context()
		q := analytics.Query{Group: p.o.Group, From: now.Add(-24 * time.Hour).Truncate(time.Hour), To: now.Truncate(time.Hour).Add(time.Hour), Consumer: a.Consumer}
		u := usageView{App: a}
		if u.Summary, err = analytics.Summary(ctx, p.o.Store, q); err != nil {
			rq.internal(err)
			return
		}
		pts, err := analytics.Timeseries(ctx, p.o.Store, q, store.Hour)
		if err != nil {
			rq.internal(err)
			return
		}
		times, req := make([]time.Time, len(pts)), make([]float64, len(pts))
		for i, pt := range pts {
			times[i], req[i] = pt.Time, float64(pt.Requests)
		}
		u.Chart = web.LineChart("Requests per hour, last 24 hours", times, "", web.Series{Name: "requests", Values: req})
		plan := ""
		for _, c := range consumers {
			if c.Name == a.Consumer {
				plan = c.Plan
			}
		}
		var pl *config.Plan
		for i := range cfg.Plans {
			if cfg.Plans[i].Name == plan {
				pl = &cfg.Plans[i]
			}
		}
		month := now.In(loc).Format("2006-01")
		from, to, _ := analytics.ParseMonth(month, loc)
		st := &analytics.Statement{Consumer: a.Consumer, Month: month, TimeZone: loc.String(), From: from, To: to, Plan: plan}
		if err := analytics.Fill(ctx, p.o.Store, p.o.Group, st, from, to); err != nil {
			rq.internal(err)
			return
		}
		var pricing *config.Pricing
		if pl != nil {
			pricing = pl.Pricing
		}
		analytics.Price(st, pricing)
		u.Statement = st
		if pl != nil && pl.Quota != nil {
			qf := from
			if pl.Quota.Period == "day" {
				l := now.In(loc)
				qf = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
			}
			used, _, err := analytics.Count(ctx, p.o.Store, p.o.Group, a.Consumer, qf, now.Add(time.Hour))
			if err != nil {
				rq.internal(err)
				return
			}
			u.Quota = &quotaView{Limit: pl.Quota.Limit, Used: used, Left: max(pl.Quota.Limit-used, 0), Period: pl.Quota.Period}
		}
		out = append(out, u)
	}
	rq.render(http.StatusOK, "usage", rq.view("Your usage", "usage", map[string]any{"Apps": out}))
}
