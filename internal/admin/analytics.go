package admin

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/portico-gw/portico/internal/analytics"
	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// This file serves usage analytics and statements: GET
// /admin/v1/analytics/{summary,timeseries,top}, GET
// /admin/v1/consumers/{name}/statements/{month} and GET
// /admin/v1/statements/{month} (every consumer, JSON or CSV).

// analyticsQuery reads the common parameters: group (default "default"),
// from and to (RFC 3339; default the last hour), api, route, consumer and
// status (a code or a class such as 5xx).
func analyticsQuery(r *http.Request, p principal) (analytics.Query, *apiError) {
	v := r.URL.Query()
	q := analytics.Query{Group: v.Get("group"), API: v.Get("api"), Route: v.Get("route"), Consumer: v.Get("consumer")}
	if q.Group == "" {
		q.Group = "default"
	}
	if !p.mayAccess(q.Group) {
		return q, errorf(http.StatusForbidden, "forbidden", "the token may not access group "+q.Group)
	}
	if p.consumer != "" {
		if q.Consumer != "" && q.Consumer != p.consumer {
			return q, errorf(http.StatusForbidden, "forbidden", "a consumer's token reads only that consumer's usage")
		}
		q.Consumer = p.consumer
	}
	now := time.Now().UTC()
	q.From, q.To = now.Add(-time.Hour), now
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(f.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return q, errorf(http.StatusBadRequest, "bad_request", f.name+": "+strconv.Quote(s)+" is not an RFC 3339 time such as 2026-11-27T10:00:00Z")
			}
			*f.dst = t.UTC()
		}
	}
	if !q.From.Before(q.To) {
		return q, errorf(http.StatusBadRequest, "bad_request", "from must be before to")
	}
	if s := v.Get("status"); s != "" {
		lo, hi, err := analytics.ParseStatus(s)
		if err != nil {
			return q, errorf(http.StatusBadRequest, "bad_request", err.Error())
		}
		q.StatusMin, q.StatusMax = lo, hi
	}
	return q, nil
}

func queryJSON(q analytics.Query) map[string]any {
	return map[string]any{"group": q.Group, "from": q.From, "to": q.To, "api": q.API, "route": q.Route, "consumer": q.Consumer}
}

func (a *API) analyticsSummary(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	q, e := analyticsQuery(r, p)
	if e != nil {
		return e
	}
	s, err := analytics.Summary(r.Context(), a.Store, q)
	if err != nil {
		return storeError(err)
	}
	writeJSONStatus(w, http.StatusOK, struct {
		analytics.Stats
		Query map[string]any `json:"query"`
	}{s, queryJSON(q)})
	return nil
}

func (a *API) analyticsTimeseries(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	q, e := analyticsQuery(r, p)
	if e != nil {
		return e
	}
	gran := r.URL.Query().Get("granularity")
	if gran == "" {
		gran = store.Minute
	}
	if _, ok := analytics.Sizes[gran]; !ok {
		return errorf(http.StatusBadRequest, "bad_request", "granularity: "+strconv.Quote(gran)+" is not minute, hour or day")
	}
	points, err := analytics.Timeseries(r.Context(), a.Store, q, gran)
	if errors.Is(err, analytics.ErrTooManyPoints) {
		return errorf(http.StatusBadRequest, "bad_request", err.Error())
	}
	if err != nil {
		return storeError(err)
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"granularity": gran, "points": points, "query": queryJSON(q)})
	return nil
}

func (a *API) analyticsTop(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	q, e := analyticsQuery(r, p)
	if e != nil {
		return e
	}
	v := r.URL.Query()
	by, order := v.Get("by"), v.Get("order")
	if by == "" {
		by = "consumer"
	}
	if order == "" {
		order = "requests"
	}
	if !slices.Contains([]string{"consumer", "route", "api", "status"}, by) {
		return errorf(http.StatusBadRequest, "bad_request", "by: consumer, route, api or status")
	}
	if order != "requests" && order != "errors" {
		return errorf(http.StatusBadRequest, "bad_request", "order: requests or errors")
	}
	limit, e := limitParam(r, 10)
	if e != nil {
		return e
	}
	top, err := analytics.Top(r.Context(), a.Store, q, by, order, limit)
	if err != nil {
		return storeError(err)
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"by": by, "order": order, "top": top, "query": queryJSON(q)})
	return nil
}

// billing is what statements need from a group's latest revision.
type billing struct {
	plans    map[string]*config.Plan
	fileCons map[string]string // config consumers' plans
	loc      *time.Location
}

func (a *API) billing(ctx context.Context, group string) (billing, error) {
	b := billing{plans: map[string]*config.Plan{}, fileCons: map[string]string{}, loc: time.UTC}
	rev, err := a.Store.LatestRevision(ctx, group)
	if errors.Is(err, store.ErrNotFound) {
		return b, nil
	}
	if err != nil {
		return b, err
	}
	cfg, err := parseRevision(rev)
	if err != nil {
		return b, err
	}
	for i := range cfg.Plans {
		b.plans[cfg.Plans[i].Name] = &cfg.Plans[i]
	}
	for _, c := range cfg.Consumers {
		b.fileCons[c.Name] = c.Plan
	}
	if tz := cfg.QuotaTimeZone; tz != "" {
		if l, err := time.LoadLocation(tz); err == nil {
			b.loc = l
		}
	}
	return b, nil
}

// statement computes one consumer's statement; plan is the consumer's
// plan name.
func (a *API) statement(ctx context.Context, group string, b billing, consumer, plan, month string) (*analytics.Statement, *apiError) {
	from, to, err := analytics.ParseMonth(month, b.loc)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "bad_request", err.Error())
	}
	s := &analytics.Statement{Consumer: consumer, Month: month, TimeZone: b.loc.String(), From: from.UTC(), To: to.UTC(), Plan: plan}
	if err := analytics.Fill(ctx, a.Store, group, s, from, to); err != nil {
		return nil, storeError(err)
	}
	var pricing *config.Pricing
	if pl := b.plans[plan]; pl != nil {
		pricing = pl.Pricing
	}
	analytics.Price(s, pricing)
	return s, nil
}

// consumerPlans lists every known consumer with its plan: the group's
// config consumers, then those of the admin API.
func (a *API) consumerPlans(ctx context.Context, b billing) (map[string]string, error) {
	out := map[string]string{}
	cs, err := a.Store.Consumers(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		out[c.Name] = c.Plan
	}
	for name, plan := range b.fileCons {
		out[name] = plan // the config's consumer wins, as on the gateway
	}
	return out, nil
}

func statementGroup(r *http.Request, p principal) (string, *apiError) {
	g := r.URL.Query().Get("group")
	if g == "" {
		g = "default"
	}
	if !p.mayAccess(g) {
		return "", errorf(http.StatusForbidden, "forbidden", "the token may not access group "+g)
	}
	return g, nil
}

// statementSetup reads what every statement of the request's group needs:
// the group, its billing settings and every known consumer's plan.
func (a *API) statementSetup(r *http.Request, p principal) (string, billing, map[string]string, *apiError) {
	group, e := statementGroup(r, p)
	if e != nil {
		return "", billing{}, nil, e
	}
	b, err := a.billing(r.Context(), group)
	if err != nil {
		return "", billing{}, nil, storeError(err)
	}
	plans, err := a.consumerPlans(r.Context(), b)
	if err != nil {
		return "", billing{}, nil, storeError(err)
	}
	return group, b, plans, nil
}

func (a *API) consumerStatement(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	group, b, plans, e := a.statementSetup(r, p)
	if e != nil {
		return e
	}
	name := r.PathValue("name")
	if p.consumer != "" && name != p.consumer {
		return errorf(http.StatusForbidden, "forbidden", "a consumer's token reads only that consumer's statements")
	}
	plan, known := plans[name]
	s, e := a.statement(r.Context(), group, b, name, plan, r.PathValue("month"))
	if e != nil {
		return e
	}
	if !known && s.Requests == 0 {
		return errorf(http.StatusNotFound, "not_found", "no consumer "+strconv.Quote(name)+" is known or has usage that month")
	}
	return writeStatements(w, r, []*analytics.Statement{s}, false)
}

func (a *API) allStatements(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	group, b, plans, e := a.statementSetup(r, p)
	if e != nil {
		return e
	}
	month := r.PathValue("month")
	from, to, err := analytics.ParseMonth(month, b.loc)
	if err != nil {
		return errorf(http.StatusBadRequest, "bad_request", err.Error())
	}
	// Consumers with usage that month but unknown to the config and the
	// admin API (such as a JWT's subjects) get a statement too.
	used, err := analytics.Top(r.Context(), a.Store, analytics.Query{Group: group, From: from.UTC(), To: to.UTC()}, "consumer", "requests", 1<<30)
	if err != nil {
		return storeError(err)
	}
	names := make([]string, 0, len(plans))
	for n := range plans {
		names = append(names, n)
	}
	for _, u := range used {
		if _, ok := plans[u.Key]; !ok && u.Key != "" {
			names = append(names, u.Key)
		}
	}
	slices.Sort(names)
	out := make([]*analytics.Statement, 0, len(names))
	for _, n := range names {
		s, e := a.statement(r.Context(), group, b, n, plans[n], month)
		if e != nil {
			return e
		}
		out = append(out, s)
	}
	return writeStatements(w, r, out, true)
}

// writeStatements answers JSON, or CSV when format=csv or the client
// accepts only text/csv.
func writeStatements(w http.ResponseWriter, r *http.Request, ss []*analytics.Statement, list bool) *apiError {
	format := r.URL.Query().Get("format")
	if format == "" && r.Header.Get("Accept") == "text/csv" {
		format = "csv"
	}
	switch format {
	case "", "json":
		if list {
			writeJSONStatus(w, http.StatusOK, map[string]any{"statements": ss})
		} else {
			writeJSONStatus(w, http.StatusOK, ss[0])
		}
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if len(ss) > 0 {
			w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="statements-%s.csv"`, ss[0].Month))
		}
		cw := csv.NewWriter(w)
		_ = cw.Write(analytics.CSVHeader)
		for _, s := range ss {
			for _, row := range s.CSVRows() {
				_ = cw.Write(csvSafe(row))
			}
		}
		cw.Flush()
	default:
		return errorf(http.StatusBadRequest, "bad_request", "format: json or csv")
	}
	return nil
}

// csvSafe keeps a spreadsheet from reading a cell as a formula (a consumer
// name is chosen by whoever created it).
func csvSafe(row []string) []string {
	for i, c := range row {
		if c != "" && (c[0] == '=' || c[0] == '+' || c[0] == '@' || c[0] == '\t' || c[0] == '\r' || c[0] == '-' && i < 3) {
			row[i] = "'" + c
		}
	}
	return row
}

// parseRevision decodes a stored revision's config.
func parseRevision(rev store.Revision) (*config.Config, error) {
	f, err := config.Parse(fmt.Sprintf("revision %d", rev.Number), rev.Content, nil)
	if err != nil {
		return nil, err
	}
	return f.Config, nil
}

// limitParam reads the query's limit (1 to 1000), def when absent.
func limitParam(r *http.Request, def int) (int, *apiError) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, errorf(http.StatusBadRequest, "bad_request", "limit: a number from 1 to 1000")
	}
	return n, nil
}
