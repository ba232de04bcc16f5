package admin

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// This file serves alert rules' states and their history: GET
// /admin/v1/alerts and GET /admin/v1/alerts/events.

func (a *API) listAlerts(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	group, e := statementGroup(r, p)
	if e != nil {
		return e
	}
	rev, err := a.Store.LatestRevision(r.Context(), group)
	var rules []map[string]any
	states, serr := a.Store.AlertStates(r.Context(), group)
	if serr != nil {
		return storeError(serr)
	}
	byRule := map[string]store.AlertState{}
	for _, s := range states {
		byRule[s.Rule] = s
	}
	switch {
	case err == nil:
		cfg, perr := parseRevision(rev)
		if perr != nil {
			return storeError(perr)
		}
		for _, al := range cfg.Alerts {
			m := map[string]any{"name": al.Name, "api": al.API, "route": al.Route, "consumer": al.Consumer, "upstream": al.Upstream,
				"when": al.When, "notify": len(al.Notify), "state": store.AlertOK}
			if s, ok := byRule[al.Name]; ok {
				m["state"], m["since"], m["value"] = s.State, s.Since, s.Value
			}
			rules = append(rules, m)
		}
	case !errors.Is(err, store.ErrNotFound):
		return storeError(err)
	}
	if rules == nil {
		rules = []map[string]any{}
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"group": group, "alerts": rules})
	return nil
}

func (a *API) listAlertEvents(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	group, e := statementGroup(r, p)
	if e != nil {
		return e
	}
	v := r.URL.Query()
	limit, e := limitParam(r, 100)
	if e != nil {
		return e
	}
	before := int64(0)
	if s := v.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return errorf(http.StatusBadRequest, "bad_request", "before: an event id")
		}
		before = n
	}
	evs, err := a.Store.AlertEvents(r.Context(), group, v.Get("alert"), before, limit)
	if err != nil {
		return storeError(err)
	}
	out := make([]map[string]any, 0, len(evs))
	for _, ev := range evs {
		state := "firing"
		if ev.State == store.AlertOK {
			state = "resolved"
		}
		out = append(out, map[string]any{"id": ev.ID, "alert": ev.Rule, "state": state, "metric": ev.Metric, "value": ev.Value,
			"threshold": ev.Threshold, "at": ev.At.Format(time.RFC3339Nano), "node": ev.Node, "delivery": ev.Delivery})
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"group": group, "events": out})
	return nil
}
