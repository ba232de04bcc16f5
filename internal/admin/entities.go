package admin

import (
	"io"
	"net/http"
	"slices"
	"strconv"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/openapi"
	"github.com/portico-gw/portico/internal/store"
)

// Entities inside the draft: upstreams, APIs, an API's routes and auth
// policies, each read, created or replaced (PUT) and deleted by name. Every
// change is applied to the whole draft, which must still validate, and is
// stored with the draft's version check, so two editors never produce a
// mixed draft.

// entityKind knows how to find, set and delete one kind of entity.
type entityKind struct {
	list   func(c *config.Config) []any
	get    func(c *config.Config, name string) (any, bool)
	put    func(c *config.Config, name string, body []byte) error
	delete func(c *config.Config, name string) bool
}

func named[T any](list []T, name string, nameOf func(T) string) int {
	return slices.IndexFunc(list, func(v T) bool { return nameOf(v) == name })
}

func kindOf[T any](field func(c *config.Config) *[]T, nameOf func(T) string, setName func(*T, string)) entityKind {
	return entityKind{
		list: func(c *config.Config) []any {
			out := []any{}
			for _, v := range *field(c) {
				out = append(out, v)
			}
			return out
		},
		get: func(c *config.Config, name string) (any, bool) {
			l := *field(c)
			if i := named(l, name, nameOf); i >= 0 {
				return l[i], true
			}
			return nil, false
		},
		put: func(c *config.Config, name string, body []byte) error {
			var v T
			if err := config.ParseInto("body", body, &v); err != nil {
				return err
			}
			if n := nameOf(v); n != "" && n != name {
				return config.Errors{{File: "body", Msg: "name: the body names " + strconv.Quote(n) + ", the path " + strconv.Quote(name)}}
			}
			setName(&v, name)
			l := field(c)
			if i := named(*l, name, nameOf); i >= 0 {
				(*l)[i] = v
			} else {
				*l = append(*l, v)
			}
			return nil
		},
		delete: func(c *config.Config, name string) bool {
			l := field(c)
			i := named(*l, name, nameOf)
			if i < 0 {
				return false
			}
			*l = slices.Delete(*l, i, i+1)
			return true
		},
	}
}

var entityKinds = map[string]entityKind{
	"upstreams": kindOf(func(c *config.Config) *[]config.Upstream { return &c.Upstreams },
		func(u config.Upstream) string { return u.Name }, func(u *config.Upstream, n string) { u.Name = n }),
	"apis": kindOf(func(c *config.Config) *[]config.API { return &c.APIs },
		func(a config.API) string { return a.Name }, func(a *config.API, n string) { a.Name = n }),
	"auth_policies": kindOf(func(c *config.Config) *[]config.AuthPolicy { return &c.AuthPolicies },
		func(p config.AuthPolicy) string { return p.Name }, func(p *config.AuthPolicy, n string) { p.Name = n }),
	"plans": kindOf(func(c *config.Config) *[]config.Plan { return &c.Plans },
		func(p config.Plan) string { return p.Name }, func(p *config.Plan, n string) { p.Name = n }),
}

// routesOf is the kind for the routes of one API of c.
func routesOf(api string) entityKind {
	return kindOf(func(c *config.Config) *[]config.Route {
		if i := named(c.APIs, api, func(a config.API) string { return a.Name }); i >= 0 {
			return &c.APIs[i].Routes
		}
		var none []config.Route
		return &none
	}, func(r config.Route) string { return r.Name }, func(r *config.Route, n string) { r.Name = n })
}

// draftConfig loads and decodes a group's draft.
func (a *API) draftConfig(r *http.Request, group string) (*config.Config, store.Draft, *apiError) {
	d, err := a.Store.Draft(r.Context(), group)
	if err != nil {
		return nil, d, storeError(err)
	}
	f, err := config.Parse("draft", d.Content, nil)
	if err != nil {
		return nil, d, errorf(http.StatusInternalServerError, "corrupt_document", "the stored draft does not parse")
	}
	if f.Config.Version == 0 {
		f.Config.Version = 1
	}
	return f.Config, d, nil
}

// resolveKind returns the entity kind of a request, and checks that the
// API exists for routes.
func resolveKind(r *http.Request, c *config.Config) (entityKind, *apiError) {
	if api := r.PathValue("api"); api != "" {
		if named(c.APIs, api, func(a config.API) string { return a.Name }) < 0 {
			return entityKind{}, errorf(http.StatusNotFound, "not_found", "the draft has no API "+api)
		}
		return routesOf(api), nil
	}
	k, ok := entityKinds[r.PathValue("kind")]
	if !ok {
		return entityKind{}, errorf(http.StatusNotFound, "not_found", "the draft has no "+r.PathValue("kind")+"; kinds: upstreams, apis, auth_policies, apis/{api}/routes")
	}
	return k, nil
}

// readEntities loads the draft and the request's entity kind.
func (a *API) readEntities(r *http.Request) (*config.Config, entityKind, *apiError) {
	c, _, e := a.draftConfig(r, r.PathValue("group"))
	if e != nil {
		return nil, entityKind{}, e
	}
	k, e := resolveKind(r, c)
	return c, k, e
}

func (a *API) listEntities(w http.ResponseWriter, r *http.Request, _ principal) *apiError {
	c, k, e := a.readEntities(r)
	if e != nil {
		return e
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"items": k.list(c)})
	return nil
}

func (a *API) getEntity(w http.ResponseWriter, r *http.Request, _ principal) *apiError {
	c, k, e := a.readEntities(r)
	if e != nil {
		return e
	}
	v, ok := k.get(c, r.PathValue("name"))
	if !ok {
		return errorf(http.StatusNotFound, "not_found", "the draft has no "+r.PathValue("name"))
	}
	writeJSONStatus(w, http.StatusOK, v)
	return nil
}

// changeEntity applies change to the draft, validates the whole draft and
// stores it.
func (a *API) changeEntity(w http.ResponseWriter, r *http.Request, p principal, change func(k entityKind, c *config.Config) (int, *apiError), respond ...func(http.ResponseWriter, int)) *apiError {
	group := r.PathValue("group")
	if e := a.fileManaged(group); e != nil {
		return e
	}
	c, d, e := a.draftConfig(r, group)
	if e != nil {
		return e
	}
	k, e := resolveKind(r, c)
	if e != nil {
		return e
	}
	status, e := change(k, c)
	if e != nil {
		return e
	}
	doc, err := config.Canonical(c)
	if err != nil {
		return errorf(http.StatusInternalServerError, "encode_failed", err.Error())
	}
	f, err := config.Parse("draft", doc, nil)
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		ae := invalid(err)
		ae.Message = "the draft would not be valid after this change"
		for i := range ae.Details { // positions in the stored draft mean nothing to the caller
			ae.Details[i].Line, ae.Details[i].Column = 0, 0
		}
		return ae
	}
	if e := a.checkEgress(r, group, f); e != nil {
		return e
	}
	target := r.PathValue("kind") + "/" + r.PathValue("name")
	if api := r.PathValue("api"); api != "" {
		target = "apis/" + api + "/routes/" + r.PathValue("name")
	}
	nd, err := a.Store.PutDraft(r.Context(), group, doc, d.Version, store.AuditEntry{
		Actor: p.name, Action: "draft." + r.Method, Group: group, Target: "draft/" + target})
	if err != nil {
		return storeError(err)
	}
	w.Header().Set("ETag", strconv.Quote(strconv.FormatInt(nd.Version, 10)))
	if len(respond) > 0 {
		respond[0](w, status)
		return nil
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return nil
	}
	v, _ := k.get(c, r.PathValue("name"))
	writeJSONStatus(w, status, v)
	return nil
}

func (a *API) putEntity(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "an entity may be at most 4 MiB")
	}
	name := r.PathValue("name")
	if !validName(name) {
		return errorf(http.StatusUnprocessableEntity, "invalid_request", "a name is 1-64 letters, digits, '.', '_' and '-'")
	}
	return a.changeEntity(w, r, p, func(k entityKind, c *config.Config) (int, *apiError) {
		_, existed := k.get(c, name)
		if err := k.put(c, name, body); err != nil {
			return 0, invalid(err)
		}
		if existed {
			return http.StatusOK, nil
		}
		return http.StatusCreated, nil
	})
}

func (a *API) deleteEntity(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	return a.changeEntity(w, r, p, func(k entityKind, c *config.Config) (int, *apiError) {
		if !k.delete(c, r.PathValue("name")) {
			return 0, errorf(http.StatusNotFound, "not_found", "the draft has no "+r.PathValue("name"))
		}
		return http.StatusNoContent, nil
	})
}

// importOpenAPI answers POST …/draft/import: the OpenAPI 3 document in the
// body becomes an API (and, unless ?upstream= names one, an upstream) in
// the draft. ?name= and ?base_path= override what the document implies.
func (a *API) importOpenAPI(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "a document may be at most 4 MiB")
	}
	q := r.URL.Query()
	res, err := openapi.Import(body, openapi.Options{Name: q.Get("name"), BasePath: q.Get("base_path"), Upstream: q.Get("upstream")})
	if err != nil {
		return errorf(http.StatusUnprocessableEntity, "invalid_openapi", err.Error())
	}
	r.SetPathValue("kind", "apis")
	r.SetPathValue("name", res.API.Name)
	return a.changeEntity(w, r, p, func(_ entityKind, c *config.Config) (int, *apiError) {
		if named(c.APIs, res.API.Name, func(x config.API) string { return x.Name }) >= 0 {
			return 0, errorf(http.StatusConflict, "conflict", "the draft already has an API "+res.API.Name+"; pass ?name= to import it under another name")
		}
		if res.Upstream != nil {
			if named(c.Upstreams, res.Upstream.Name, func(u config.Upstream) string { return u.Name }) >= 0 {
				return 0, errorf(http.StatusConflict, "conflict", "the draft already has an upstream "+res.Upstream.Name+"; pass ?upstream= to use it")
			}
			c.Upstreams = append(c.Upstreams, *res.Upstream)
		}
		for _, ap := range res.AuthPolicies {
			if named(c.AuthPolicies, ap.Name, func(x config.AuthPolicy) string { return x.Name }) < 0 {
				c.AuthPolicies = append(c.AuthPolicies, ap)
			}
		}
		c.APIs = append(c.APIs, res.API)
		return http.StatusCreated, nil
	}, func(w http.ResponseWriter, status int) {
		warnings := res.Warnings
		if warnings == nil {
			warnings = []string{}
		}
		writeJSONStatus(w, status, map[string]any{"api": res.API.Name, "routes": len(res.API.Routes), "warnings": warnings})
	})
}
