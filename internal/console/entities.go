package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file serves one entity of a draft at a time — an upstream, an API,
// an auth policy or a plan — as a YAML document to read, replace or delete,
// and a group's settings (its egress policy and governance rules with
// their expiring exceptions).

var entityTitles = map[string]string{"upstreams": "Upstream", "apis": "API", "auth_policies": "Auth policy", "plans": "Plan"}

func entityPath(g, kind, name string) string {
	return "/admin/v1/groups/" + url.PathEscape(g) + "/draft/" + kind + "/" + url.PathEscape(name)
}

// toYAML writes a JSON document as YAML, for editing.
func toYAML(raw []byte) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		return string(raw)
	}
	return string(out)
}

func (c *Console) entityPage(rq *request, status int, doc string, errs []string) {
	g, kind, name := rq.r.PathValue("group"), rq.r.PathValue("kind"), rq.r.PathValue("name")
	title, ok := entityTitles[kind]
	if !ok {
		rq.fail(http.StatusNotFound, "There is no such kind of entity.")
		return
	}
	if doc == "" {
		var raw string
		if err := rq.call("GET", entityPath(g, kind, name), "", nil, &raw); err != nil {
			if e := asAPIError(err); e != nil && e.Status == http.StatusNotFound {
				doc = "name: " + name + "\n" // a new one
			} else {
				rq.failAPI(err)
				return
			}
		} else {
			doc = toYAML([]byte(raw))
		}
	}
	v := rq.view(title+" "+name, "groups", map[string]any{"Group": g, "Kind": kind, "Name": name, "Title": title, "YAML": doc})
	v.Errors = errs
	rq.render(status, "entity", v)
}

func (c *Console) entity(rq *request) { c.entityPage(rq, http.StatusOK, "", nil) }

// saveEntity replaces (or creates) the entity; the whole draft must still
// validate, and the errors come back on the page otherwise.
func (c *Console) saveEntity(rq *request) {
	g, kind, name := rq.r.PathValue("group"), rq.r.PathValue("kind"), rq.r.PathValue("name")
	if _, ok := entityTitles[kind]; !ok {
		rq.fail(http.StatusNotFound, "There is no such kind of entity.")
		return
	}
	doc := rq.r.PostFormValue("yaml")
	method, done := "PUT", "saved"
	if rq.r.PostFormValue("delete") == "yes" {
		method, done = "DELETE", "deleted"
	}
	err := rq.call(method, entityPath(g, kind, name), "application/yaml", []byte(doc), nil)
	if e := asAPIError(err); e != nil && e.Status/100 == 4 && e.Status != http.StatusForbidden && e.Status != http.StatusUnauthorized {
		c.entityPage(rq, e.Status, keepText(doc), append([]string{e.Message}, e.Details...))
		return
	}
	if err != nil {
		rq.failAPI(err)
		return
	}
	rq.redirect("/ui/groups/"+url.PathEscape(g), done)
}

func (c *Console) settingsPage(rq *request, status int, doc string, errs []string) {
	g := rq.r.PathValue("group")
	var raw string
	if err := rq.call("GET", "/admin/v1/groups/"+url.PathEscape(g)+"/settings", "", nil, &raw); err != nil {
		rq.failAPI(err)
		return
	}
	var s struct {
		Governance struct {
			Rules      map[string]any `json:"rules"`
			Exceptions []struct {
				Rule, API, Reason string
				Expires           string `json:"expires"`
			} `json:"exceptions"`
		} `json:"governance"`
	}
	_ = json.Unmarshal([]byte(raw), &s)
	if doc == "" {
		var v any
		_ = json.Unmarshal([]byte(raw), &v)
		pretty, _ := json.MarshalIndent(v, "", "  ")
		doc = string(pretty)
	}
	v := rq.view("Governance of "+g, "groups", map[string]any{"Group": g, "Rules": s.Governance.Rules,
		"Exceptions": s.Governance.Exceptions, "JSON": doc, "Now": strings.TrimSpace(nowRFC3339())})
	v.Errors = errs
	rq.render(status, "governance", v)
}

func (c *Console) governance(rq *request) { c.settingsPage(rq, http.StatusOK, "", nil) }

// saveSettings replaces the group's settings document (admin role).
func (c *Console) saveSettings(rq *request) {
	g := rq.r.PathValue("group")
	doc := rq.r.PostFormValue("settings")
	err := rq.call("PUT", "/admin/v1/groups/"+url.PathEscape(g)+"/settings", "application/json", []byte(doc), nil)
	if e := asAPIError(err); e != nil && (e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity) {
		c.settingsPage(rq, e.Status, keepText(doc), append([]string{e.Message}, e.Details...))
		return
	}
	if err != nil {
		rq.failAPI(err)
		return
	}
	rq.redirect("/ui/groups/"+url.PathEscape(g)+"/governance", "settings")
}
