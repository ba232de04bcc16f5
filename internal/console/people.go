package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// This file serves the live data pages: consumers with their keys, and
// alert rules with their history.

type keyInfo struct {
	ID        string     `json:"id"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

type consumerInfo struct {
	Name      string    `json:"name"`
	Plan      string    `json:"plan"`
	Groups    []string  `json:"groups"`
	CreatedAt time.Time `json:"created_at"`
	Keys      []keyInfo `json:"keys"`
}

func (c *Console) consumersPage(rq *request, status int, errs []string, created map[string]string) {
	var list struct {
		Consumers []consumerInfo `json:"consumers"`
	}
	if err := rq.call("GET", "/admin/v1/consumers", "", nil, &list); err != nil {
		rq.failAPI(err)
		return
	}
	v := rq.view("Consumers", "consumers", map[string]any{"Consumers": list.Consumers, "Created": created, "Form": rq.r.PostForm})
	v.Errors = errs
	rq.render(status, "consumers", v)
}

func (c *Console) consumers(rq *request) { c.consumersPage(rq, http.StatusOK, nil, nil) }

// createConsumer adds a consumer of the admin API.
func (c *Console) createConsumer(rq *request) {
	f := rq.r.PostForm
	req := map[string]any{"name": strings.TrimSpace(f.Get("name"))}
	if p := strings.TrimSpace(f.Get("plan")); p != "" {
		req["plan"] = p
	}
	if g := strings.TrimSpace(f.Get("groups")); g != "" {
		var groups []string
		for _, x := range strings.Split(g, ",") {
			if x = strings.TrimSpace(x); x != "" {
				groups = append(groups, x)
			}
		}
		req["groups"] = groups
	}
	body, _ := json.Marshal(req)
	if err := rq.call("POST", "/admin/v1/consumers", "application/json", body, nil); err != nil {
		if e := asAPIError(err); e != nil && e.Status/100 == 4 && e.Status != http.StatusForbidden {
			c.consumersPage(rq, e.Status, append([]string{e.Message}, e.Details...), nil)
			return
		}
		rq.failAPI(err)
		return
	}
	rq.redirect("/ui/consumers", "consumer")
}

// createKey makes a key for a consumer and shows its secret on this page,
// the only time it is ever shown (the answer is not cached).
func (c *Console) createKey(rq *request) {
	name := rq.r.PathValue("name")
	req := map[string]any{}
	if rq.r.PostFormValue("rotate") == "on" {
		req["rotate"] = true
		if o := strings.TrimSpace(rq.r.PostFormValue("overlap")); o != "" {
			req["overlap"] = o
		}
	}
	if e := strings.TrimSpace(rq.r.PostFormValue("expires_in")); e != "" {
		req["expires_in"] = e
	}
	body, _ := json.Marshal(req)
	var key struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := rq.call("POST", "/admin/v1/consumers/"+url.PathEscape(name)+"/keys", "application/json", body, &key); err != nil {
		if e := asAPIError(err); e != nil && e.Status/100 == 4 && e.Status != http.StatusForbidden {
			c.consumersPage(rq, e.Status, append([]string{e.Message}, e.Details...), nil)
			return
		}
		rq.failAPI(err)
		return
	}
	c.consumersPage(rq, http.StatusCreated, nil, map[string]string{"Consumer": name, "ID": key.ID, "Key": key.Key})
}

func (c *Console) revokeKey(rq *request) {
	name, id := rq.r.PathValue("name"), rq.r.PathValue("id")
	if err := rq.call("DELETE", "/admin/v1/consumers/"+url.PathEscape(name)+"/keys/"+url.PathEscape(id), "", nil, nil); err != nil {
		rq.failAPI(err)
		return
	}
	rq.redirect("/ui/consumers", "revoked")
}

func (c *Console) alerts(rq *request) {
	var rules struct {
		Alerts []map[string]any `json:"alerts"`
	}
	if err := rq.call("GET", "/admin/v1/alerts", "", nil, &rules); err != nil {
		rq.failAPI(err)
		return
	}
	var events struct {
		Events []map[string]any `json:"events"`
	}
	if err := rq.call("GET", "/admin/v1/alerts/events?limit=100", "", nil, &events); err != nil {
		rq.failAPI(err)
		return
	}
	rq.render(http.StatusOK, "alerts", rq.view("Alerts", "alerts", map[string]any{"Rules": rules.Alerts, "Events": events.Events}))
}

func (c *Console) subscriptions(rq *request) {
	var list struct {
		Subscriptions []map[string]any `json:"subscriptions"`
	}
	if err := rq.call("GET", "/admin/v1/subscriptions", "", nil, &list); err != nil {
		rq.failAPI(err)
		return
	}
	rq.render(http.StatusOK, "subscriptions", rq.view("Subscriptions", "subscriptions", map[string]any{"Subscriptions": list.Subscriptions}))
}

// decide approves or rejects a portal application's subscription.
func (c *Console) decide(rq *request) {
	app, api, verb := rq.r.PathValue("app"), rq.r.PathValue("api"), rq.r.PathValue("verb")
	if verb != "approve" && verb != "reject" {
		rq.fail(http.StatusNotFound, "There is no such action.")
		return
	}
	if err := rq.call("POST", "/admin/v1/subscriptions/"+url.PathEscape(app)+"/"+url.PathEscape(api)+"/"+verb, "", nil, nil); err != nil {
		rq.failAPI(err)
		return
	}
	rq.redirect("/ui/subscriptions", map[string]string{"approve": "approved", "reject": "rejected"}[verb])
}
