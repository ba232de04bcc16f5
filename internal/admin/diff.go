package admin

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"

	"github.com/portico-gw/portico/internal/config"
)

// Change is one entity-level difference between two configurations.
type Change struct {
	// Kind is upstream, api, route, auth_policy, consumer or settings.
	Kind string `json:"kind"`
	// Name is the entity's name; a route's is "api/route".
	Name string `json:"name"`
	// Change is added, removed or changed.
	Change string `json:"change"`
	// Fields lists the changed fields of a changed entity.
	Fields []string `json:"fields,omitempty"`
}

// Diff compares two configurations entity by entity, in a stable order.
func Diff(from, to *config.Config) []Change {
	var out []Change
	out = appendDiff(out, "upstream", index(from.Upstreams, func(u config.Upstream) string { return u.Name }),
		index(to.Upstreams, func(u config.Upstream) string { return u.Name }))
	strip := func(a config.API) config.API { a.Routes = nil; return a }
	apis := func(c *config.Config) map[string]any {
		m := map[string]any{}
		for _, a := range c.APIs {
			m[a.Name] = strip(a)
		}
		return m
	}
	out = appendDiff(out, "api", apis(from), apis(to))
	routes := func(c *config.Config) map[string]any {
		m := map[string]any{}
		for _, a := range c.APIs {
			for _, r := range a.Routes {
				m[a.Name+"/"+r.Name] = r
			}
		}
		return m
	}
	out = appendDiff(out, "route", routes(from), routes(to))
	out = appendDiff(out, "auth_policy", index(from.AuthPolicies, func(p config.AuthPolicy) string { return p.Name }),
		index(to.AuthPolicies, func(p config.AuthPolicy) string { return p.Name }))
	out = appendDiff(out, "consumer", index(from.Consumers, func(c config.Consumer) string { return c.Name }),
		index(to.Consumers, func(c config.Consumer) string { return c.Name }))
	settings := func(c *config.Config) map[string]any {
		return map[string]any{"trusted_proxies": struct {
			TrustedProxies []string `json:"trusted_proxies,omitempty"`
		}{c.TrustedProxies}}
	}
	return appendDiff(out, "settings", settings(from), settings(to))
}

func index[T any](list []T, name func(T) string) map[string]any {
	m := make(map[string]any, len(list))
	for _, v := range list {
		m[name(v)] = v
	}
	return m
}

func appendDiff(out []Change, kind string, from, to map[string]any) []Change {
	names := make([]string, 0, len(from)+len(to))
	for n := range from {
		names = append(names, n)
	}
	for n := range to {
		if _, ok := from[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		a, inFrom := from[n]
		b, inTo := to[n]
		switch {
		case !inFrom:
			out = append(out, Change{Kind: kind, Name: n, Change: "added"})
		case !inTo:
			out = append(out, Change{Kind: kind, Name: n, Change: "removed"})
		default:
			if fields := changedFields(a, b); len(fields) > 0 {
				out = append(out, Change{Kind: kind, Name: n, Change: "changed", Fields: fields})
			}
		}
	}
	return out
}

// changedFields compares two entities by their JSON fields.
func changedFields(a, b any) []string {
	var ma, mb map[string]any
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	_ = json.Unmarshal(ja, &ma)
	_ = json.Unmarshal(jb, &mb)
	var fields []string
	for k, v := range ma {
		if !reflect.DeepEqual(v, mb[k]) {
			fields = append(fields, k)
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			fields = append(fields, k)
		}
	}
	slices.Sort(fields)
	return fields
}

func jsonRaw(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	return jsonOrString(b)
}

// diffRevisions answers GET …/revisions/{n}/diff?against=M (a revision
// number, or "draft"): what changes from M (or the draft) to revision n.
func (a *API) diffRevisions(w http.ResponseWriter, r *http.Request, _ principal) *apiError {
	group := r.PathValue("group")
	n, e := revisionNumber(r, "n")
	if e != nil {
		return e
	}
	to, err := a.Store.Revision(r.Context(), group, n)
	if err != nil {
		return storeError(err)
	}
	against := r.URL.Query().Get("against")
	var fromDoc []byte
	switch against {
	case "":
		return errorf(http.StatusBadRequest, "bad_request", "against: name the revision number (or draft) to compare with")
	case "draft":
		d, err := a.Store.Draft(r.Context(), group)
		if err != nil {
			return storeError(err)
		}
		fromDoc = d.Content
	default:
		m, err := strconv.ParseInt(against, 10, 64)
		if err != nil || m <= 0 {
			return errorf(http.StatusBadRequest, "bad_request", "against: a revision number or draft")
		}
		from, err := a.Store.Revision(r.Context(), group, m)
		if err != nil {
			return storeError(err)
		}
		fromDoc = from.Content
	}
	fromCfg, err1 := config.Parse("from", fromDoc, nil)
	toCfg, err2 := config.Parse("to", to.Content, nil)
	if err1 != nil || err2 != nil {
		return errorf(http.StatusInternalServerError, "corrupt_document", "a stored document does not parse")
	}
	changes := Diff(fromCfg.Config, toCfg.Config)
	if changes == nil {
		changes = []Change{}
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"from": against, "to": n, "changes": changes})
	return nil
}
