package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/policy/ratelimit"
	"github.com/portico-gw/portico/internal/proxy"
	"github.com/portico-gw/portico/internal/store"
)

// Roles, weakest first. Each role may do what the ones before it may.
const (
	RoleViewer    = "viewer"    // read everything
	RoleEditor    = "editor"    // and change drafts
	RolePublisher = "publisher" // and publish and roll back
	RoleAdmin     = "admin"     // and manage tokens and read the audit log
)

var roleRank = map[string]int{RoleViewer: 1, RoleEditor: 2, RolePublisher: 3, RoleAdmin: 4}

// API is the admin API under /admin/v1/.
type API struct {
	Store store.Store
	// Notify tells the local node that a revision was published.
	Notify func()
	// FileMode names the config file that is the source of truth of the
	// serve node's group; draft edits of that group are refused.
	FileMode string
	// FileGroup is the group this node serves (the one FileMode's file
	// is the source of).
	FileGroup string
	// OwnAddrs are the node's admin and portal listeners, which upstreams
	// may not point at unless a group's settings allow it.
	OwnAddrs []string
	// Upstreams, when not nil, reports the health of this node's upstreams.
	Upstreams func() []proxy.UpstreamStatus
	// Refusals, when not nil, limits the refused calls of each client
	// address (a token guesser, a misconfigured script): past the limit
	// they are answered 429 without an audit entry, so a flood cannot grow
	// the audit log. Calls with a valid token are never held back by it.
	Refusals *ratelimit.Limiter

	callOnce sync.Once
	callMux  *http.ServeMux
}

// RefusalLimit is how many refused admin calls a client address may make
// per minute, burst included, before they are answered 429 unaudited.
const RefusalLimit = 30

// principal is the caller a token identifies.
type principal struct {
	name   string
	role   string
	groups []string
	// consumer, when set, is the one consumer whose usage the token may
	// read; it may do nothing else.
	consumer string
}

func (p principal) mayAccess(group string) bool {
	return len(p.groups) == 0 || slices.Contains(p.groups, group)
}

// mayManage tells whether p may see and manage a token limited to
// groups: a token limited to some groups manages only tokens limited to
// some of them — else it could make itself an unlimited one.
func (p principal) mayManage(groups []string) bool {
	if len(p.groups) == 0 {
		return true
	}
	if len(groups) == 0 {
		return false
	}
	for _, g := range groups {
		if !p.mayAccess(g) {
			return false
		}
	}
	return true
}

// TokenHash is how tokens are stored: the hex SHA-256 of the secret.
func TokenHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewTokenSecret returns a new random token secret.
func NewTokenSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "ptk_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// apiError is the admin API's error: the gateway's JSON shape, plus
// field-level details for validation errors.
type apiError struct {
	Status  int           `json:"-"`
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Details []fieldDetail `json:"details,omitempty"`
}

// fieldDetail is one validation problem at a position in the document sent.
type fieldDetail struct {
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Message }

func errorf(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

// invalid turns config errors into a 422 with one detail per problem.
func invalid(err error) *apiError {
	e := errorf(http.StatusUnprocessableEntity, "invalid_config", "the configuration is not valid")
	var errs config.Errors
	if !errors.As(err, &errs) {
		e.Message = err.Error()
		return e
	}
	for _, ce := range errs {
		e.Details = append(e.Details, fieldDetail{Line: ce.Pos.Line, Column: ce.Pos.Col, Message: ce.Msg})
	}
	return e
}

// storeError maps store errors to responses.
func storeError(err error) *apiError {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, "conflict", err.Error())
	default:
		return errorf(http.StatusInternalServerError, "store_failed", "the store failed; see the node's log")
	}
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	body := map[string]any{"error": map[string]any{
		"code": e.Code, "message": e.Message, "request_id": r.Header.Get("X-Request-Id"), "details": e.Details,
	}}
	if e.Details == nil {
		delete(body["error"].(map[string]any), "details")
	}
	writeJSONStatus(w, e.Status, body)
}

// upstreamStatus answers GET /admin/v1/upstreams: this node's view of
// its upstreams' targets and circuit breakers — its group's (FileGroup),
// which a token limited to other groups may not read.
func (a *API) upstreamStatus(w http.ResponseWriter, _ *http.Request, p principal) *apiError {
	if a.FileGroup != "" && !p.mayAccess(a.FileGroup) {
		return errorf(http.StatusForbidden, "forbidden", "the token may not access group "+a.FileGroup+", whose upstreams this node serves")
	}
	ups := []proxy.UpstreamStatus{}
	if a.Upstreams != nil {
		ups = a.Upstreams()
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"upstreams": ups})
	return nil
}

// handler is an admin API endpoint: it needs a role, and acts on the
// request's {group} when the route has one.
type handler func(w http.ResponseWriter, r *http.Request, p principal) *apiError

// route wraps h with authentication, the role check, the group scope check
// and the audit of refusals: a refused call leaves an audit entry and
// nothing else.
func (a *API) route(need string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		group := r.PathValue("group")
		deny := func(e *apiError, actor string) {
			if a.Refusals != nil {
				if ok, retry := a.Refusals.Allow(ratelimit.PeerKey(r.RemoteAddr), time.Now()); !ok {
					w.Header().Set("Retry-After", strconv.Itoa(max(int((retry+time.Second-1)/time.Second), 1)))
					writeError(w, r, errorf(http.StatusTooManyRequests, "rate_limited",
						"too many refused calls from this address; retry after the time in Retry-After"))
					return
				}
			}
			_ = a.Store.AppendAudit(r.Context(), store.AuditEntry{
				Actor: actor, Action: r.Method + " " + r.URL.Path, Group: group, Outcome: "denied", Detail: e.Message,
			})
			writeError(w, r, e)
		}
		// The console's in-process calls carry the signed-in token's hash;
		// every other call carries the token itself.
		hash, inProcess := r.Context().Value(callKey{}).(string)
		if !inProcess {
			secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || secret == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="portico-admin"`)
				deny(errorf(http.StatusUnauthorized, "unauthorized", "an admin token is required: Authorization: Bearer <token>"), "anonymous")
				return
			}
			hash = TokenHash(secret)
		}
		t, err := a.Store.TokenByHash(r.Context(), hash)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			// The store is unreachable: say so, rather than blame the token.
			writeError(w, r, storeError(err))
			return
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portico-admin", error="invalid_token"`)
			deny(errorf(http.StatusUnauthorized, "unauthorized", "the admin token is not valid"), "unknown-token")
			return
		}
		p := principal{name: t.Name, role: t.Role, groups: t.Groups, consumer: t.Consumer}
		if p.consumer != "" && !consumerScoped[r.Pattern] {
			deny(errorf(http.StatusForbidden, "forbidden", "a consumer's token reads only that consumer's usage and statements"), p.name)
			return
		}
		if roleRank[p.role] < roleRank[need] {
			deny(errorf(http.StatusForbidden, "forbidden", "this needs the "+need+" role; the token has "+p.role), p.name)
			return
		}
		if group != "" && !p.mayAccess(group) {
			deny(errorf(http.StatusForbidden, "forbidden", "the token may not access group "+group), p.name)
			return
		}
		if e := h(w, r, p); e != nil {
			writeError(w, r, e)
		}
	})
}

// consumerScoped are the routes a token bound to a consumer may call;
// their handlers narrow what it reads to that consumer.
var consumerScoped = map[string]bool{
	"GET /admin/v1/analytics/summary":                   true,
	"GET /admin/v1/analytics/timeseries":                true,
	"GET /admin/v1/analytics/top":                       true,
	"GET /admin/v1/consumers/{name}/statements/{month}": true,
}

// Mount adds the admin API's routes to mux.
func (a *API) Mount(mux *http.ServeMux) {
	mux.Handle("GET /admin/v1/groups", a.route(RoleViewer, a.listGroups))
	mux.Handle("PUT /admin/v1/groups/{group}", a.route(RoleAdmin, a.createGroup))
	mux.Handle("GET /admin/v1/groups/{group}/draft", a.route(RoleViewer, a.getDraft))
	mux.Handle("PUT /admin/v1/groups/{group}/draft", a.route(RoleEditor, a.putDraft))
	mux.Handle("POST /admin/v1/groups/{group}/draft/validate", a.route(RoleViewer, a.validateDraft))
	mux.Handle("POST /admin/v1/groups/{group}/draft/import", a.route(RoleEditor, a.importOpenAPI))
	mux.Handle("GET /admin/v1/groups/{group}/draft/{kind}", a.route(RoleViewer, a.listEntities))
	mux.Handle("GET /admin/v1/groups/{group}/draft/{kind}/{name}", a.route(RoleViewer, a.getEntity))
	mux.Handle("PUT /admin/v1/groups/{group}/draft/{kind}/{name}", a.route(RoleEditor, a.putEntity))
	mux.Handle("DELETE /admin/v1/groups/{group}/draft/{kind}/{name}", a.route(RoleEditor, a.deleteEntity))
	mux.Handle("GET /admin/v1/groups/{group}/draft/apis/{api}/routes", a.route(RoleViewer, a.listEntities))
	mux.Handle("GET /admin/v1/groups/{group}/draft/apis/{api}/routes/{name}", a.route(RoleViewer, a.getEntity))
	mux.Handle("PUT /admin/v1/groups/{group}/draft/apis/{api}/routes/{name}", a.route(RoleEditor, a.putEntity))
	mux.Handle("DELETE /admin/v1/groups/{group}/draft/apis/{api}/routes/{name}", a.route(RoleEditor, a.deleteEntity))
	mux.Handle("POST /admin/v1/groups/{group}/revisions", a.route(RolePublisher, a.publish))
	mux.Handle("GET /admin/v1/groups/{group}/revisions", a.route(RoleViewer, a.listRevisions))
	mux.Handle("GET /admin/v1/groups/{group}/revisions/{n}", a.route(RoleViewer, a.getRevision))
	mux.Handle("GET /admin/v1/groups/{group}/revisions/{n}/diff", a.route(RoleViewer, a.diffRevisions))
	mux.Handle("POST /admin/v1/groups/{group}/revisions/{n}/rollback", a.route(RolePublisher, a.rollback))
	mux.Handle("GET /admin/v1/groups/{group}/settings", a.route(RoleViewer, a.getSettings))
	mux.Handle("PUT /admin/v1/groups/{group}/settings", a.route(RoleAdmin, a.putSettings))
	mux.Handle("GET /admin/v1/upstreams", a.route(RoleViewer, a.upstreamStatus))
	mux.Handle("GET /admin/v1/consumers", a.route(RoleViewer, a.listConsumers))
	mux.Handle("POST /admin/v1/consumers", a.route(RoleEditor, a.createConsumer))
	mux.Handle("PUT /admin/v1/consumers/{name}", a.route(RoleEditor, a.updateConsumer))
	mux.Handle("POST /admin/v1/consumers/{name}/keys", a.route(RoleEditor, a.createKey))
	mux.Handle("DELETE /admin/v1/consumers/{name}/keys/{id}", a.route(RoleEditor, a.revokeKey))
	mux.Handle("GET /admin/v1/consumers/{name}/statements/{month}", a.route(RoleViewer, a.consumerStatement))
	mux.Handle("GET /admin/v1/statements/{month}", a.route(RoleViewer, a.allStatements))
	mux.Handle("GET /admin/v1/subscriptions", a.route(RoleViewer, a.listSubscriptions))
	mux.Handle("POST /admin/v1/subscriptions/{app}/{api}/approve", a.route(RoleEditor, a.decideSubscription(store.SubscriptionActive)))
	mux.Handle("POST /admin/v1/subscriptions/{app}/{api}/reject", a.route(RoleEditor, a.decideSubscription(store.SubscriptionRejected)))
	mux.Handle("GET /admin/v1/alerts", a.route(RoleViewer, a.listAlerts))
	mux.Handle("GET /admin/v1/alerts/events", a.route(RoleViewer, a.listAlertEvents))
	mux.Handle("GET /admin/v1/analytics/summary", a.route(RoleViewer, a.analyticsSummary))
	mux.Handle("GET /admin/v1/analytics/timeseries", a.route(RoleViewer, a.analyticsTimeseries))
	mux.Handle("GET /admin/v1/analytics/top", a.route(RoleViewer, a.analyticsTop))
	mux.Handle("GET /admin/v1/tokens", a.route(RoleAdmin, a.listTokens))
	mux.Handle("POST /admin/v1/tokens", a.route(RoleAdmin, a.createToken))
	mux.Handle("DELETE /admin/v1/tokens/{name}", a.route(RoleAdmin, a.revokeToken))
	mux.Handle("GET /admin/v1/audit", a.route(RoleAdmin, a.listAudit))
	mux.HandleFunc("GET /admin/v1/openapi.json", serveOpenAPI)
	mux.HandleFunc("/admin/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errorf(http.StatusNotFound, "not_found", "no admin API endpoint "+r.Method+" "+r.URL.Path+"; see /admin/v1/openapi.json"))
	})
}

func (a *API) listGroups(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	gs, err := a.Store.Groups(r.Context())
	if err != nil {
		return storeError(err)
	}
	out := []map[string]any{}
	for _, g := range gs {
		if p.mayAccess(g.Name) {
			out = append(out, map[string]any{"name": g.Name, "latest_revision": g.LatestRevision, "created_at": g.CreatedAt})
		}
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"groups": out})
	return nil
}

// createGroup creates a gateway group with an empty draft; 201, or 409 when
// it exists.
func (a *API) createGroup(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	group := r.PathValue("group")
	if !validName(group) {
		return errorf(http.StatusUnprocessableEntity, "invalid_request", "a group name is 1-64 letters, digits, '.', '_' and '-'")
	}
	if err := a.Store.CreateGroup(r.Context(), group, store.AuditEntry{Actor: p.name, Action: "group.create"}); err != nil {
		return storeError(err)
	}
	writeJSONStatus(w, http.StatusCreated, map[string]any{"name": group, "latest_revision": 0})
	return nil
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	ts, err := a.Store.Tokens(r.Context())
	if err != nil {
		return storeError(err)
	}
	out := []map[string]any{}
	for _, t := range ts {
		if !p.mayManage(t.Groups) {
			continue
		}
		m := map[string]any{"name": t.Name, "role": t.Role, "groups": t.Groups, "created_at": t.CreatedAt, "created_by": t.CreatedBy}
		if t.Consumer != "" {
			m["consumer"] = t.Consumer
		}
		if !t.RevokedAt.IsZero() {
			m["revoked_at"] = t.RevokedAt
		}
		out = append(out, m)
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	var req struct {
		Name     string   `json:"name"`
		Role     string   `json:"role"`
		Groups   []string `json:"groups"`
		Consumer string   `json:"consumer"`
	}
	if e := decodeJSON(r, &req); e != nil {
		return e
	}
	var details []fieldDetail
	if !validName(req.Name) {
		details = append(details, fieldDetail{Message: "name: 1-64 letters, digits, '.', '_' and '-'"})
	}
	if roleRank[req.Role] == 0 {
		details = append(details, fieldDetail{Message: "role: one of viewer, editor, publisher, admin"})
	}
	for _, g := range req.Groups {
		if !validName(g) {
			details = append(details, fieldDetail{Message: "groups: " + g + " is not a group name"})
		}
	}
	if req.Consumer != "" && (req.Role != RoleViewer || len(req.Consumer) > 256) {
		details = append(details, fieldDetail{Message: "consumer: a token bound to a consumer has the viewer role"})
	}
	if details != nil {
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid_request", Message: "the token request is not valid", Details: details}
	}
	if !p.mayManage(req.Groups) {
		return errorf(http.StatusForbidden, "forbidden", "a token limited to groups "+strings.Join(p.groups, ", ")+
			" creates only tokens limited to some of them: list them in groups")
	}
	secret := NewTokenSecret()
	t := store.Token{Name: req.Name, Role: req.Role, Hash: TokenHash(secret), Groups: req.Groups, Consumer: req.Consumer, CreatedBy: p.name}
	detail := "role " + req.Role
	if req.Consumer != "" {
		detail += ", consumer " + req.Consumer
	}
	if err := a.Store.CreateToken(r.Context(), t, store.AuditEntry{Actor: p.name, Action: "token.create", Detail: detail}); err != nil {
		return storeError(err)
	}
	out := map[string]any{"name": req.Name, "role": req.Role, "groups": req.Groups, "token": secret}
	if req.Consumer != "" {
		out["consumer"] = req.Consumer
	}
	writeJSONStatus(w, http.StatusCreated, out)
	return nil
}

// revokeToken revokes an admin token by name: it stops working at once,
// and the console sessions it started end.
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	name := r.PathValue("name")
	ts, err := a.Store.Tokens(r.Context())
	if err != nil {
		return storeError(err)
	}
	i := slices.IndexFunc(ts, func(t store.Token) bool { return t.Name == name && t.RevokedAt.IsZero() })
	if i < 0 || !p.mayManage(ts[i].Groups) {
		// Another scope's token is answered as an unknown one.
		return errorf(http.StatusNotFound, "not_found", "no live token named "+name)
	}
	if err := a.Store.RevokeToken(r.Context(), name, time.Now().UTC(), store.AuditEntry{Actor: p.name, Action: "token.revoke"}); err != nil {
		return storeError(err)
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"name": name, "revoked": true})
	return nil
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	q := r.URL.Query()
	f := store.AuditFilter{Group: q.Get("group"), Actor: q.Get("actor"), Action: q.Get("action"), Outcome: q.Get("outcome")}
	// A token limited to groups reads their entries only: it names one
	// (or has just one), and entries of no group (tokens, for one) are
	// not its to read.
	if len(p.groups) > 0 {
		if f.Group == "" && len(p.groups) == 1 {
			f.Group = p.groups[0]
		}
		if f.Group == "" || !p.mayAccess(f.Group) {
			return errorf(http.StatusForbidden, "forbidden", "a token limited to groups reads the audit log of one of them: name it with group="+p.groups[0])
		}
	}
	for key, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return errorf(http.StatusBadRequest, "bad_request", key+": want an RFC 3339 time such as 2026-11-27T10:00:00Z")
			}
			*dst = t
		}
	}
	if v := q.Get("before"); v != "" {
		if _, err := fmtSscan(v, &f.BeforeID); err != nil {
			return errorf(http.StatusBadRequest, "bad_request", "before: want an audit entry id")
		}
	}
	if v := q.Get("limit"); v != "" {
		if _, err := fmtSscan(v, &f.Limit); err != nil {
			return errorf(http.StatusBadRequest, "bad_request", "limit: want a number")
		}
	}
	entries, err := a.Store.Audit(r.Context(), f)
	if err != nil {
		return storeError(err)
	}
	out := []map[string]any{}
	for _, e := range entries {
		m := map[string]any{"id": e.ID, "at": e.At, "actor": e.Actor, "action": e.Action, "group": e.Group,
			"target": e.Target, "outcome": e.Outcome, "detail": e.Detail}
		if e.Before != nil {
			m["before"] = json.RawMessage(jsonOrString(e.Before))
		}
		if e.After != nil {
			m["after"] = json.RawMessage(jsonOrString(e.After))
		}
		out = append(out, m)
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"entries": out})
	return nil
}

// jsonOrString returns b if it is JSON, or b as a JSON string.
func jsonOrString(b []byte) []byte {
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

const maxBody = 4 << 20

func decodeJSON(r *http.Request, v any) *apiError {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "bad_request", "the body is not the expected JSON: "+err.Error())
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// callKey marks an in-process call's context with the token hash it acts
// as. Only code in this process can set it.
type callKey struct{}

// CallRequest is an in-process admin API request.
type CallRequest struct {
	Method, Target string
	// ContentType and Accept are the request's headers ("" for none).
	ContentType, Accept string
	Body                []byte
	// RemoteAddr is the browser's address.
	RemoteAddr string
}

// Call serves one admin API request in process, on behalf of the token
// whose hash is tokenHash: what the web console does for its signed-in
// user, so that the console has exactly the API's checks, roles and
// audit. It returns the status, the response headers and the body.
func (a *API) Call(ctx context.Context, tokenHash string, c CallRequest) (int, http.Header, []byte) {
	a.callOnce.Do(func() {
		a.callMux = http.NewServeMux()
		a.Mount(a.callMux)
	})
	r, err := http.NewRequestWithContext(context.WithValue(ctx, callKey{}, tokenHash), c.Method, c.Target, bytes.NewReader(c.Body))
	if err != nil {
		return http.StatusBadRequest, http.Header{}, []byte(`{"error":{"code":"bad_request","message":"bad request target"}}`)
	}
	r.RemoteAddr = c.RemoteAddr
	r.RequestURI = c.Target
	if c.ContentType != "" {
		r.Header.Set("Content-Type", c.ContentType)
	}
	if c.Accept != "" {
		r.Header.Set("Accept", c.Accept)
	}
	rec := &recorder{h: http.Header{}, status: http.StatusOK}
	a.callMux.ServeHTTP(rec, r)
	return rec.status, rec.h, rec.body.Bytes()
}

// recorder is the ResponseWriter of an in-process call.
type recorder struct {
	h      http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.h }

func (w *recorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	w.wrote = true
	return w.body.Write(p)
}
