package console

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/admin"
	"github.com/portico-gw/portico/internal/web"
)

// loginForm shows the sign-in page.
func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	if _, err := c.sessions.Get(r); err == nil {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	c.render(w, http.StatusOK, "login", view{Title: "Sign in", Data: map[string]string{"Next": safeNext(r.URL.Query().Get("next"))}})
}

// safeNext keeps a post-sign-in destination only when it is a console
// page: never another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "/ui//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

// login checks the admin token and starts a session. The token itself is
// not kept: the session refers to its hash.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.render(w, http.StatusBadRequest, "login", view{Title: "Sign in", Errors: []string{"The form could not be read."}})
		return
	}
	if !web.SameOrigin(r) {
		c.render(w, http.StatusForbidden, "login", view{Title: "Sign in", Errors: []string{"Sign in from this console's own page."}})
		return
	}
	next := safeNext(r.PostFormValue("next"))
	secret := strings.TrimSpace(r.PostFormValue("token"))
	fail := func(msg string) {
		c.render(w, http.StatusUnauthorized, "login", view{Title: "Sign in", Errors: []string{msg}, Data: map[string]string{"Next": next}})
	}
	if secret == "" {
		fail("Enter an admin token.")
		return
	}
	hash := admin.TokenHash(secret)
	tok, err := c.st.TokenByHash(r.Context(), hash)
	if err != nil || subtle.ConstantTimeCompare([]byte(tok.Hash), []byte(hash)) != 1 {
		fail("That token is not valid.")
		return
	}
	if tok.Consumer != "" {
		fail("That token belongs to a consumer: it reads its usage through the API, not the console.")
		return
	}
	if _, err := c.sessions.Start(w, r, hash); err != nil {
		c.log.Error("starting a console session failed", "error", err.Error())
		fail("The session could not be started; the node's log says why.")
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther) //nolint:gosec // safeNext keeps console paths only
}

func (c *Console) logout(rq *request) {
	if err := c.sessions.End(rq.w, rq.r); err != nil {
		rq.failAPI(err)
		return
	}
	http.Redirect(rq.w, rq.r, "/ui/login", http.StatusSeeOther)
}

// groupInfo is a group as the admin API lists it.
type groupInfo struct {
	Name           string    `json:"name"`
	LatestRevision int64     `json:"latest_revision"`
	CreatedAt      time.Time `json:"created_at"`
}

func (c *Console) dashboard(rq *request) {
	var groups struct {
		Groups []groupInfo `json:"groups"`
	}
	if err := rq.call("GET", "/admin/v1/groups", "", nil, &groups); err != nil {
		rq.failAPI(err)
		return
	}
	data := map[string]any{"Groups": groups.Groups}
	if slices.ContainsFunc(groups.Groups, func(g groupInfo) bool { return g.Name == "default" }) {
		a, err := c.loadAnalytics(rq, "default", time.Hour, "minute")
		if err != nil {
			rq.failAPI(err)
			return
		}
		data["Analytics"] = a
	}
	rq.render(http.StatusOK, "dashboard", rq.view("Dashboard", "dashboard", data))
}

// draftDoc is the part of a draft the group page lists.
type draftDoc struct {
	Upstreams []struct {
		Name    string `json:"name"`
		Targets []struct {
			URL string `json:"url"`
		} `json:"targets"`
	} `json:"upstreams"`
	APIs []struct {
		Name     string   `json:"name"`
		BasePath string   `json:"base_path"`
		Host     string   `json:"host"`
		Upstream string   `json:"upstream"`
		Auth     []string `json:"auth"`
		Routes   []struct {
			Name    string   `json:"name"`
			Methods []string `json:"methods"`
			Path    string   `json:"path"`
		} `json:"routes"`
	} `json:"apis"`
	Plans []struct {
		Name string `json:"name"`
	} `json:"plans"`
	AuthPolicies []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"auth_policies"`
}

func (c *Console) group(rq *request) {
	g := rq.r.PathValue("group")
	var info groupInfo
	var groups struct {
		Groups []groupInfo `json:"groups"`
	}
	if err := rq.call("GET", "/admin/v1/groups", "", nil, &groups); err != nil {
		rq.failAPI(err)
		return
	}
	i := slices.IndexFunc(groups.Groups, func(x groupInfo) bool { return x.Name == g })
	if i < 0 {
		rq.fail(http.StatusNotFound, "There is no gateway group of that name.")
		return
	}
	info = groups.Groups[i]
	var draft draftDoc
	if err := rq.call("GET", "/admin/v1/groups/"+url.PathEscape(g)+"/draft", "", nil, &draft); err != nil {
		rq.failAPI(err)
		return
	}
	rq.render(http.StatusOK, "group", rq.view("Group "+g, "groups", map[string]any{"Group": info, "Draft": draft}))
}

// change is one entry of an entity-level diff.
type change struct {
	Change string   `json:"change"`
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
}

// draftData is what the draft page shows.
type draftData struct {
	Group    string
	YAML     string
	Latest   int64
	Changes  []change
	Warnings []string
	Import   map[string]string
}

func (c *Console) draftPage(rq *request, g string, status int, yaml string, errs []string, imp map[string]string, warnings []string) {
	d := draftData{Group: g, YAML: yaml, Import: imp, Warnings: warnings}
	if d.YAML == "" {
		y, err := rq.yaml("/admin/v1/groups/" + url.PathEscape(g) + "/draft")
		if err != nil {
			rq.failAPI(err)
			return
		}
		d.YAML = y
	}
	latest, err := rq.latest(g)
	if err != nil {
		rq.failAPI(err)
		return
	}
	d.Latest = latest
	if latest > 0 {
		// The API's diff goes from "against" to the revision: from the
		// draft to the latest here, so its sense is turned around.
		var diff struct {
			Changes []change `json:"changes"`
		}
		if err := rq.call("GET", "/admin/v1/groups/"+url.PathEscape(g)+"/revisions/"+strconv.FormatInt(latest, 10)+"/diff?against=draft", "", nil, &diff); err != nil {
			rq.failAPI(err)
			return
		}
		for _, ch := range diff.Changes {
			switch ch.Change {
			case "added":
				ch.Change = "removed"
			case "removed":
				ch.Change = "added"
			}
			d.Changes = append(d.Changes, ch)
		}
	}
	v := rq.view("Draft of "+g, "groups", d)
	v.Errors = errs
	rq.render(status, "draft", v)
}

// latest returns the number of a group's newest revision (0: none).
func (rq *request) latest(g string) (int64, error) {
	var groups struct {
		Groups []groupInfo `json:"groups"`
	}
	if err := rq.call("GET", "/admin/v1/groups", "", nil, &groups); err != nil {
		return 0, err
	}
	for _, x := range groups.Groups {
		if x.Name == g {
			return x.LatestRevision, nil
		}
	}
	return 0, &apiError{Status: http.StatusNotFound, Message: "There is no gateway group of that name."}
}

func (c *Console) draft(rq *request) {
	c.draftPage(rq, rq.r.PathValue("group"), http.StatusOK, "", nil, nil, nil)
}

// saveDraft replaces the draft with the submitted YAML; an invalid one is
// shown again with its errors, and nothing is stored.
func (c *Console) saveDraft(rq *request) {
	g := rq.r.PathValue("group")
	doc := rq.r.PostFormValue("yaml")
	err := rq.call("PUT", "/admin/v1/groups/"+url.PathEscape(g)+"/draft", "application/yaml", []byte(doc), nil)
	if e := (*apiError)(nil); errors.As(err, &e) && (e.Status == http.StatusUnprocessableEntity || e.Status == http.StatusBadRequest || e.Status == http.StatusConflict) {
		c.draftPage(rq, g, e.Status, keepText(doc), append([]string{e.Message}, e.Details...), nil, nil)
		return
	}
	if err != nil {
		rq.failAPI(err)
		return
	}
	rq.redirect("/ui/groups/"+url.PathEscape(g)+"/draft", "saved")
}

// keepText returns what the user typed, or a placeholder when it was
// empty (so the page does not reload the stored draft over it).
func keepText(s string) string {
	if s == "" {
		return "\n"
	}
	return s
}

// importOpenAPI adds an OpenAPI document to the draft.
func (c *Console) importOpenAPI(rq *request) {
	g := rq.r.PathValue("group")
	f := rq.r.PostForm
	imp := map[string]string{"Doc": f.Get("openapi"), "Name": f.Get("name"), "BasePath": f.Get("base_path")}
	q := url.Values{}
	for k, v := range map[string]string{"name": imp["Name"], "base_path": imp["BasePath"]} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var res struct {
		API      string   `json:"api"`
		Warnings []string `json:"warnings"`
	}
	target := "/admin/v1/groups/" + url.PathEscape(g) + "/draft/import"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	err := rq.call("POST", target, "application/yaml", []byte(imp["Doc"]), &res)
	if e := (*apiError)(nil); errors.As(err, &e) && e.Status/100 == 4 && e.Status != http.StatusForbidden && e.Status != http.StatusUnauthorized {
		c.draftPage(rq, g, e.Status, "", append([]string{"Import: " + e.Message}, e.Details...), imp, nil)
		return
	}
	if err != nil {
		rq.failAPI(err)
		return
	}
	if len(res.Warnings) > 0 {
		c.draftPage(rq, g, http.StatusOK, "", nil, nil, res.Warnings)
		return
	}
	rq.redirect("/ui/groups/"+url.PathEscape(g)+"/draft", "imported")
}

func (c *Console) publish(rq *request) {
	g := rq.r.PathValue("group")
	body, _ := jsonMarshal(map[string]string{"message": rq.r.PostFormValue("message")})
	err := rq.call("POST", "/admin/v1/groups/"+url.PathEscape(g)+"/revisions", "application/json", body, nil)
	if e := (*apiError)(nil); errors.As(err, &e) && (e.Status == http.StatusUnprocessableEntity || e.Status == http.StatusConflict || e.Status == http.StatusBadRequest) {
		c.draftPage(rq, g, e.Status, "", append([]string{"Publish: " + e.Message}, e.Details...), nil, nil)
		return
	}
	if err != nil {
		rq.failAPI(err)
		return
	}
	rq.redirect("/ui/groups/"+url.PathEscape(g)+"/revisions", "published")
}

// revisionInfo is a revision as the admin API lists it.
type revisionInfo struct {
	Revision   int64     `json:"revision"`
	Author     string    `json:"author"`
	Message    string    `json:"message"`
	CreatedAt  time.Time `json:"created_at"`
	RollbackOf int64     `json:"rollback_of"`
	Hash       string    `json:"hash"`
}

func (c *Console) revisions(rq *request) {
	g := rq.r.PathValue("group")
	var list struct {
		Revisions []revisionInfo `json:"revisions"`
	}
	if err := rq.call("GET", "/admin/v1/groups/"+url.PathEscape(g)+"/revisions?limit=100", "", nil, &list); err != nil {
		rq.failAPI(err)
		return
	}
	rq.render(http.StatusOK, "revisions", rq.view("History of "+g, "groups", map[string]any{"Group": g, "Revisions": list.Revisions}))
}

func (c *Console) revision(rq *request) {
	g, n := rq.r.PathValue("group"), rq.r.PathValue("n")
	num, err := strconv.ParseInt(n, 10, 64)
	if err != nil || num < 1 {
		rq.fail(http.StatusNotFound, "There is no such revision.")
		return
	}
	var rev struct {
		revisionInfo
		Rollout []struct {
			Node      string    `json:"node"`
			State     string    `json:"state"`
			Detail    string    `json:"detail"`
			UpdatedAt time.Time `json:"updated_at"`
		} `json:"rollout"`
	}
	base := "/admin/v1/groups/" + url.PathEscape(g) + "/revisions/" + n
	if err := rq.call("GET", base, "", nil, &rev); err != nil {
		rq.failAPI(err)
		return
	}
	yaml, err := rq.yaml(base)
	if err != nil {
		rq.failAPI(err)
		return
	}
	var diff struct {
		Changes []change `json:"changes"`
	}
	if num > 1 {
		if err := rq.call("GET", base+"/diff?against="+strconv.FormatInt(num-1, 10), "", nil, &diff); err != nil {
			rq.failAPI(err)
			return
		}
	}
	rq.render(http.StatusOK, "revision", rq.view("Revision "+n+" of "+g, "groups",
		map[string]any{"Group": g, "Rev": rev, "YAML": yaml, "Changes": diff.Changes, "Previous": num - 1}))
}

func (c *Console) rollback(rq *request) {
	g, n := rq.r.PathValue("group"), rq.r.PathValue("n")
	if err := rq.call("POST", "/admin/v1/groups/"+url.PathEscape(g)+"/revisions/"+url.PathEscape(n)+"/rollback", "", nil, nil); err != nil {
		rq.failAPI(err)
		return
	}
	rq.redirect("/ui/groups/"+url.PathEscape(g)+"/revisions", "rolledback")
}

// analyticsView is what the analytics panels show.
type analyticsView struct {
	Range        string
	Summary      map[string]any
	Traffic      any
	Latency      any
	TopConsumers []map[string]any
	TopRoutes    []map[string]any
}

// loadAnalytics reads a group's last span of usage.
func (c *Console) loadAnalytics(rq *request, g string, span time.Duration, gran string) (*analyticsView, error) {
	to := time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	from := to.Add(-span)
	q := url.Values{"group": {g}, "from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	a := &analyticsView{}
	if err := rq.call("GET", "/admin/v1/analytics/summary?"+q.Encode(), "", nil, &a.Summary); err != nil {
		return nil, err
	}
	var ts struct {
		Points []struct {
			Time     time.Time `json:"time"`
			Requests float64   `json:"requests"`
			Errors   float64   `json:"errors"`
			P50      float64   `json:"p50_ms"`
			P95      float64   `json:"p95_ms"`
			P99      float64   `json:"p99_ms"`
		} `json:"points"`
	}
	q.Set("granularity", gran)
	if err := rq.call("GET", "/admin/v1/analytics/timeseries?"+q.Encode(), "", nil, &ts); err != nil {
		return nil, err
	}
	times := make([]time.Time, len(ts.Points))
	req, errs, p50, p95, p99 := make([]float64, len(times)), make([]float64, len(times)), make([]float64, len(times)), make([]float64, len(times)), make([]float64, len(times))
	for i, p := range ts.Points {
		times[i], req[i], errs[i], p50[i], p95[i], p99[i] = p.Time, p.Requests, p.Errors, p.P50, p.P95, p.P99
	}
	a.Traffic = web.LineChart("Requests and errors per "+gran, times, "", web.Series{Name: "requests", Values: req}, web.Series{Name: "errors (5xx)", Values: errs})
	a.Latency = web.LineChart("Latency per "+gran+" (ms)", times, " ms", web.Series{Name: "p50", Values: p50}, web.Series{Name: "p99", Values: p99}, web.Series{Name: "p95", Values: p95})
	q.Del("granularity")
	for _, t := range []struct {
		by  string
		dst *[]map[string]any
	}{{"consumer", &a.TopConsumers}, {"route", &a.TopRoutes}} {
		q.Set("by", t.by)
		var top struct {
			Top []map[string]any `json:"top"`
		}
		if err := rq.call("GET", "/admin/v1/analytics/top?"+q.Encode(), "", nil, &top); err != nil {
			return nil, err
		}
		*t.dst = top.Top
	}
	return a, nil
}

// ranges are the spans the analytics page offers, with their granularity.
var ranges = map[string]struct {
	span time.Duration
	gran string
}{"1h": {time.Hour, "minute"}, "24h": {24 * time.Hour, "hour"}, "7d": {7 * 24 * time.Hour, "hour"}, "30d": {30 * 24 * time.Hour, "day"}}

func (c *Console) analytics(rq *request) {
	rng := rq.r.URL.Query().Get("range")
	sp, ok := ranges[rng]
	if !ok {
		rng, sp = "1h", ranges["1h"]
	}
	g := rq.r.URL.Query().Get("group")
	if g == "" {
		g = "default"
	}
	a, err := c.loadAnalytics(rq, g, sp.span, sp.gran)
	if err != nil {
		rq.failAPI(err)
		return
	}
	a.Range = rng
	rq.render(http.StatusOK, "analytics", rq.view("Analytics", "analytics", map[string]any{"Group": g, "A": a, "Ranges": []string{"1h", "24h", "7d", "30d"}}))
}

func (c *Console) audit(rq *request) {
	in := rq.r.URL.Query()
	q := url.Values{"limit": {"200"}}
	for _, k := range []string{"group", "actor", "action", "outcome"} {
		if v := in.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	var list struct {
		Entries []map[string]any `json:"entries"`
	}
	if err := rq.call("GET", "/admin/v1/audit?"+q.Encode(), "", nil, &list); err != nil {
		rq.failAPI(err)
		return
	}
	rq.render(http.StatusOK, "audit", rq.view("Audit log", "audit", map[string]any{"Entries": list.Entries,
		"Filter": map[string]string{"group": in.Get("group"), "actor": in.Get("actor"), "action": in.Get("action"), "outcome": in.Get("outcome")}}))
}
