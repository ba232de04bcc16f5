package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/portico-gw/portico/internal/store"
)

// This file serves the portal applications' subscriptions: GET
// /admin/v1/subscriptions and their approval or rejection.

func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	group, e := statementGroup(r, p)
	if e != nil {
		return e
	}
	state := r.URL.Query().Get("state")
	subs, err := a.Store.Subscriptions(r.Context(), group, "")
	if err != nil {
		return storeError(err)
	}
	out := []map[string]any{}
	for _, s := range subs {
		if state != "" && s.State != state {
			continue
		}
		app, err := a.Store.App(r.Context(), s.AppID)
		if err != nil {
			return storeError(err)
		}
		dev, err := a.Store.Developer(r.Context(), app.DeveloperID)
		if err != nil {
			return storeError(err)
		}
		m := map[string]any{"app": s.AppID, "app_name": app.Name, "consumer": app.Consumer, "developer": dev.Email,
			"api": s.API, "plan": s.Plan, "state": s.State, "created_at": s.CreatedAt}
		if !s.DecidedAt.IsZero() {
			m["decided_at"], m["decided_by"] = s.DecidedAt, s.DecidedBy
		}
		out = append(out, m)
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"group": group, "subscriptions": out})
	return nil
}

// decideSubscription approves or rejects an application's subscription
// to an API; an approval gives the application's consumer the plan.
func (a *API) decideSubscription(state string) handler {
	return func(w http.ResponseWriter, r *http.Request, p principal) *apiError {
		group, e := statementGroup(r, p)
		if e != nil {
			return e
		}
		appID, api := r.PathValue("app"), r.PathValue("api")
		subs, err := a.Store.Subscriptions(r.Context(), group, appID)
		if err != nil {
			return storeError(err)
		}
		var sub *store.Subscription
		for i := range subs {
			if subs[i].API == api {
				sub = &subs[i]
			}
		}
		if sub == nil {
			return errorf(http.StatusNotFound, "not_found", "application "+appID+" has no subscription to API "+api+" in group "+group)
		}
		sub.State, sub.DecidedAt, sub.DecidedBy = state, time.Now().UTC(), p.name
		action := map[string]string{store.SubscriptionActive: "subscription.approve", store.SubscriptionRejected: "subscription.reject"}[state]
		err = a.Store.Subscribe(r.Context(), *sub, store.AuditEntry{Actor: p.name, Action: action, Group: group,
			Detail: "application " + appID + " to API " + api + " under plan " + sub.Plan})
		if errors.Is(err, store.ErrNotFound) {
			return storeError(err)
		}
		if err != nil {
			return storeError(err)
		}
		writeJSONStatus(w, http.StatusOK, map[string]any{"app": appID, "api": api, "plan": sub.Plan, "state": state})
		return nil
	}
}
