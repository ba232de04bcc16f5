package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/egress"
	"github.com/portico-gw/portico/internal/governance"
	"github.com/portico-gw/portico/internal/store"
)

func fmtSscan(s string, v any) (int, error) { return fmt.Sscan(s, v) }

// wantsYAML reports whether the client asked for YAML.
func wantsYAML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "yaml")
}

// writeDocument writes a configuration document as JSON, or as YAML when
// the client asked for it.
func writeDocument(w http.ResponseWriter, r *http.Request, doc []byte, headers map[string]string) *apiError {
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Cache-Control", "no-store")
	if !wantsYAML(r) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
		return nil
	}
	f, err := config.Parse("document", doc, nil)
	if err != nil {
		return errorf(http.StatusInternalServerError, "corrupt_document", "the stored document does not parse: "+err.Error())
	}
	out, err := yaml.Marshal(f.Config)
	if err != nil {
		return errorf(http.StatusInternalServerError, "encode_failed", err.Error())
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(out)
	return nil
}

// parseDocument reads a configuration document from the request body, as
// YAML or JSON (JSON is YAML), without ${VAR} expansion, and validates it,
// the group's egress policy included. Errors carry the line and column in
// the body.
func (a *API) parseDocument(r *http.Request, group string) (*config.Config, *apiError) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/json" && mt != "application/yaml" && mt != "application/x-yaml" && mt != "text/yaml" {
			return nil, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the document as application/json or application/yaml")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body_too_large", "a document may be at most 4 MiB")
	}
	f, err := config.Parse("draft", body, nil)
	if err != nil {
		return nil, invalid(err)
	}
	if err := f.Validate(); err != nil {
		return nil, invalid(err)
	}
	if e := a.checkEgress(r, group, f); e != nil {
		return nil, e
	}
	return f.Config, nil
}

// checkEgress refuses target URLs that name an address the group's egress
// policy denies (egress.Policy checks every dial as well).
func (a *API) checkEgress(r *http.Request, group string, f *config.File) *apiError {
	doc, err := a.Store.Settings(r.Context(), group)
	if err != nil {
		return storeError(err)
	}
	s, err := egress.ParseSettings(doc)
	if err != nil {
		return errorf(http.StatusInternalServerError, "corrupt_settings", err.Error())
	}
	denied := egress.NewPolicy(s, a.OwnAddrs...).CheckConfig(f.Config)
	if len(denied) == 0 {
		return nil
	}
	var errs config.Errors
	for path, err := range denied {
		errs = append(errs, config.Error{File: f.Name, Pos: f.Pos(path), Msg: path + ": " + err.Error()})
	}
	slices.SortFunc(errs, func(x, y config.Error) int { return strings.Compare(x.Msg, y.Msg) })
	e := invalid(errs)
	e.Code, e.Message = "upstream_denied", "an upstream target points at an address this group may not reach"
	return e
}

// checkGovernance refuses a publish that breaks one of the group's rules
// without an unexpired exception. Rollbacks are not checked: they restore
// something that was published before, and are the way out of an incident.
func (a *API) checkGovernance(r *http.Request, group string, c *config.Config) *apiError {
	doc, err := a.Store.Settings(r.Context(), group)
	if err != nil {
		return storeError(err)
	}
	p, err := governance.FromSettings(doc)
	if err != nil {
		return errorf(http.StatusInternalServerError, "corrupt_settings", err.Error())
	}
	vs := p.Check(c, time.Now())
	if len(vs) == 0 {
		return nil
	}
	e := errorf(http.StatusUnprocessableEntity, "governance_violation",
		"the draft breaks the group's governance rules; fix it, or ask an admin for an exception")
	for _, v := range vs {
		e.Details = append(e.Details, fieldDetail{Message: v.String()})
	}
	return e
}

func (a *API) fileManaged(group string) *apiError {
	if a.FileMode != "" && group == a.FileGroup {
		return errorf(http.StatusConflict, "managed_by_file",
			"group "+group+" is managed by the config file "+a.FileMode+"; edit the file (or run without --config) instead")
	}
	return nil
}

func (a *API) getDraft(w http.ResponseWriter, r *http.Request, _ principal) *apiError {
	d, err := a.Store.Draft(r.Context(), r.PathValue("group"))
	if err != nil {
		return storeError(err)
	}
	return writeDocument(w, r, d.Content, map[string]string{"ETag": strconv.Quote(strconv.FormatInt(d.Version, 10))})
}

func (a *API) putDraft(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	group := r.PathValue("group")
	if e := a.fileManaged(group); e != nil {
		return e
	}
	cfg, e := a.parseDocument(r, group)
	if e != nil {
		return e
	}
	doc, err := config.Canonical(cfg)
	if err != nil {
		return errorf(http.StatusInternalServerError, "encode_failed", err.Error())
	}
	// If-Match names the version the client edited; without it, the
	// current one (last writer wins, still never a mixed document).
	var expect int64
	if v := strings.Trim(r.Header.Get("If-Match"), `"`); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errorf(http.StatusBadRequest, "bad_request", "If-Match: want the draft's ETag")
		}
		expect = n
	} else {
		d, err := a.Store.Draft(r.Context(), group)
		if err != nil {
			return storeError(err)
		}
		expect = d.Version
	}
	d, err := a.Store.PutDraft(r.Context(), group, doc, expect, store.AuditEntry{Actor: p.name, Action: "draft.put", Group: group, Target: "draft"})
	if err != nil {
		return storeError(err)
	}
	w.Header().Set("ETag", strconv.Quote(strconv.FormatInt(d.Version, 10)))
	writeJSONStatus(w, http.StatusOK, map[string]any{"group": group, "version": d.Version, "hash": config.ContentHash(doc)})
	return nil
}

func (a *API) validateDraft(w http.ResponseWriter, r *http.Request, _ principal) *apiError {
	group := r.PathValue("group")
	var doc []byte
	if r.ContentLength != 0 && r.Body != http.NoBody {
		// A document in the body is validated instead of the stored draft.
		if _, e := a.parseDocument(r, group); e != nil {
			writeJSONStatus(w, http.StatusOK, map[string]any{"valid": false, "errors": e.Details, "message": e.Message})
			return nil
		}
		writeJSONStatus(w, http.StatusOK, map[string]any{"valid": true})
		return nil
	}
	d, err := a.Store.Draft(r.Context(), group)
	if err != nil {
		return storeError(err)
	}
	doc = d.Content
	if _, e := checkDocument(doc); e != nil {
		writeJSONStatus(w, http.StatusOK, map[string]any{"valid": false, "errors": e.Details, "message": e.Message})
		return nil
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"valid": true, "version": d.Version})
	return nil
}

// checkDocument parses and validates a stored document.
func checkDocument(doc []byte) (*config.File, *apiError) {
	f, err := config.Parse("draft", doc, nil)
	if err != nil {
		return nil, invalid(err)
	}
	if err := f.Validate(); err != nil {
		return nil, invalid(err)
	}
	return f, nil
}

// groupSettings is a group's settings document, read strictly.
type groupSettings struct {
	UpstreamDeny  []string           `json:"upstream_deny,omitempty"`
	UpstreamAllow []string           `json:"upstream_allow,omitempty"`
	Governance    *governance.Policy `json:"governance,omitempty"`
}

func parseGroupSettings(doc []byte) (groupSettings, error) {
	var gs groupSettings
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&gs); err != nil {
		return gs, fmt.Errorf("settings: %w", err)
	}
	if _, err := egress.ParseSettings(doc); err != nil {
		return gs, err
	}
	if gs.Governance != nil {
		if err := gs.Governance.Validate(); err != nil {
			return gs, err
		}
	}
	return gs, nil
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request, _ principal) *apiError {
	doc, err := a.Store.Settings(r.Context(), r.PathValue("group"))
	if err != nil {
		return storeError(err)
	}
	gs, err := parseGroupSettings(doc)
	if err != nil {
		return errorf(http.StatusInternalServerError, "corrupt_settings", err.Error())
	}
	writeJSONStatus(w, http.StatusOK, settingsJSON(gs))
	return nil
}

func (a *API) putSettings(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "settings may be at most 4 MiB")
	}
	s, err := parseGroupSettings(body)
	if err != nil {
		return errorf(http.StatusUnprocessableEntity, "invalid_settings", err.Error())
	}
	doc, _ := json.Marshal(s)
	group := r.PathValue("group")
	if err := a.Store.PutSettings(r.Context(), group, doc, store.AuditEntry{Actor: p.name, Action: "settings.put", Group: group}); err != nil {
		return storeError(err)
	}
	if a.Notify != nil {
		a.Notify()
	}
	writeJSONStatus(w, http.StatusOK, settingsJSON(s))
	return nil
}

func (a *API) publish(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	group := r.PathValue("group")
	if e := a.fileManaged(group); e != nil {
		return e
	}
	var req struct {
		Message string `json:"message"`
	}
	if r.ContentLength != 0 && r.Body != http.NoBody {
		if e := decodeJSON(r, &req); e != nil {
			return e
		}
	}
	d, err := a.Store.Draft(r.Context(), group)
	if err != nil {
		return storeError(err)
	}
	f, e := checkDocument(d.Content)
	if e != nil {
		return e
	}
	if e := a.checkEgress(r, group, f); e != nil {
		return e // the settings changed since the draft was stored
	}
	if e := a.checkGovernance(r, group, f.Config); e != nil {
		return e
	}
	doc, err := config.Canonical(f.Config)
	if err != nil {
		return errorf(http.StatusInternalServerError, "encode_failed", err.Error())
	}
	// DraftVersion: what was validated here is exactly what is published.
	rev, err := a.Store.Publish(r.Context(), store.Publication{
		Group: group, Content: doc, Hash: config.ContentHash(doc), Author: p.name, Message: req.Message, DraftVersion: d.Version,
	}, store.AuditEntry{Actor: p.name, Action: "revision.publish", Group: group, Detail: req.Message})
	if err != nil {
		return storeError(err)
	}
	a.published(w, rev)
	return nil
}

// published answers a publish or rollback: 202, since nodes apply the
// revision in the background; its status shows when they did.
func (a *API) published(w http.ResponseWriter, rev store.Revision) {
	if a.Notify != nil {
		a.Notify()
	}
	status := fmt.Sprintf("/admin/v1/groups/%s/revisions/%d", rev.Group, rev.Number)
	w.Header().Set("Location", status)
	writeJSONStatus(w, http.StatusAccepted, map[string]any{"revision": rev.Number, "hash": rev.Hash, "status_url": status})
}

func revisionNumber(r *http.Request, key string) (int64, *apiError) {
	n, err := strconv.ParseInt(r.PathValue(key), 10, 64)
	if err != nil || n <= 0 {
		return 0, errorf(http.StatusBadRequest, "bad_request", "a revision number is a positive integer")
	}
	return n, nil
}

func revisionJSON(rev store.Revision) map[string]any {
	m := map[string]any{"group": rev.Group, "revision": rev.Number, "hash": rev.Hash, "author": rev.Author,
		"message": rev.Message, "created_at": rev.CreatedAt}
	if rev.RollbackOf != 0 {
		m["rollback_of"] = rev.RollbackOf
	}
	return m
}

func (a *API) listRevisions(w http.ResponseWriter, r *http.Request, _ principal) *apiError {
	var before int64
	limit := 50
	if v := r.URL.Query().Get("before"); v != "" {
		if _, err := fmtSscan(v, &before); err != nil {
			return errorf(http.StatusBadRequest, "bad_request", "before: want a revision number")
		}
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		if _, err := fmtSscan(v, &limit); err != nil {
			return errorf(http.StatusBadRequest, "bad_request", "limit: want a number")
		}
	}
	group := r.PathValue("group")
	if _, err := a.Store.Group(r.Context(), group); err != nil {
		return storeError(err)
	}
	revs, err := a.Store.Revisions(r.Context(), group, before, limit)
	if err != nil {
		return storeError(err)
	}
	out := []map[string]any{}
	for _, rev := range revs {
		out = append(out, revisionJSON(rev))
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"revisions": out})
	return nil
}

func (a *API) getRevision(w http.ResponseWriter, r *http.Request, _ principal) *apiError {
	n, e := revisionNumber(r, "n")
	if e != nil {
		return e
	}
	group := r.PathValue("group")
	rev, err := a.Store.Revision(r.Context(), group, n)
	if err != nil {
		return storeError(err)
	}
	if wantsYAML(r) {
		return writeDocument(w, r, rev.Content, map[string]string{"ETag": strconv.Quote(rev.Hash)})
	}
	sts, err := a.Store.RolloutStatuses(r.Context(), group, n)
	if err != nil {
		return storeError(err)
	}
	rollout := []map[string]any{}
	for _, st := range sts {
		m := map[string]any{"node": st.Node, "state": st.State, "updated_at": st.UpdatedAt}
		if st.Detail != "" {
			m["detail"] = st.Detail
		}
		rollout = append(rollout, m)
	}
	out := revisionJSON(rev)
	out["content"] = jsonRaw(rev.Content)
	out["rollout"] = rollout
	writeJSONStatus(w, http.StatusOK, out)
	return nil
}

func (a *API) rollback(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	group := r.PathValue("group")
	if e := a.fileManaged(group); e != nil {
		return e
	}
	n, e := revisionNumber(r, "n")
	if e != nil {
		return e
	}
	old, err := a.Store.Revision(r.Context(), group, n)
	if err != nil {
		return storeError(err)
	}
	rev, err := a.Store.Publish(r.Context(), store.Publication{
		Group: group, Content: old.Content, Hash: old.Hash, Author: p.name,
		Message: fmt.Sprintf("rollback to revision %d", n), RollbackOf: n,
	}, store.AuditEntry{Actor: p.name, Action: "revision.rollback", Group: group, Detail: fmt.Sprintf("to revision %d", n)})
	if err != nil {
		return storeError(err)
	}
	a.published(w, rev)
	return nil
}

// settingsJSON shows the effective settings, defaults included.
func settingsJSON(s groupSettings) map[string]any {
	deny := s.UpstreamDeny
	if deny == nil {
		deny = egress.DefaultDeny
	}
	allow := s.UpstreamAllow
	if allow == nil {
		allow = []string{}
	}
	gov := s.Governance
	if gov == nil {
		gov = &governance.Policy{}
	}
	return map[string]any{"upstream_deny": deny, "upstream_allow": allow, "governance": gov}
}
