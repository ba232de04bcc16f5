package admin

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/store"
)

// Consumers and their keys are live data: a change takes effect on the
// gateways at once, without a publish. A key's secret is returned once, at
// creation; only its SHA-256 is stored.

// newKeySecret returns a new API key and its public id.
func newKeySecret() (secret, id string) {
	var b, i [24]byte
	_, _ = rand.Read(b[:])
	_, _ = rand.Read(i[:6])
	return "pk_" + hex.EncodeToString(b[:]), "key_" + hex.EncodeToString(i[:6])
}

func keyJSON(k store.Key) map[string]any {
	m := map[string]any{"id": k.ID, "created_at": k.CreatedAt}
	if !k.ExpiresAt.IsZero() {
		m["expires_at"] = k.ExpiresAt
	}
	if !k.RevokedAt.IsZero() {
		m["revoked_at"] = k.RevokedAt
	}
	return m
}

func (a *API) listConsumers(w http.ResponseWriter, r *http.Request, _ principal) *apiError {
	cs, err := a.Store.Consumers(r.Context())
	if err != nil {
		return storeError(err)
	}
	out := []map[string]any{}
	for _, c := range cs {
		keys, err := a.Store.Keys(r.Context(), c.Name)
		if err != nil {
			return storeError(err)
		}
		ks := []map[string]any{}
		for _, k := range keys {
			ks = append(ks, keyJSON(k))
		}
		m := consumerJSON(c)
		m["keys"] = ks
		out = append(out, m)
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"consumers": out})
	return nil
}

func consumerJSON(c store.Consumer) map[string]any {
	groups := c.Groups
	if groups == nil {
		groups = []string{}
	}
	m := map[string]any{"name": c.Name, "plan": c.Plan, "groups": groups, "created_by": c.CreatedBy}
	if !c.CreatedAt.IsZero() {
		m["created_at"] = c.CreatedAt
	}
	return m
}

// consumerFields are what a caller sets on a consumer.
type consumerFields struct {
	Name   string   `json:"name"`
	Plan   string   `json:"plan"`
	Groups []string `json:"groups"`
}

// check reports what is wrong with f (the name only when withName).
func (f consumerFields) check(withName bool) *apiError {
	var details []fieldDetail
	if withName && !validName(f.Name) {
		details = append(details, fieldDetail{Message: "name: 1-64 letters, digits, '.', '_' and '-'"})
	}
	if withName && strings.HasPrefix(f.Name, config.AppConsumerPrefix) {
		details = append(details, fieldDetail{Message: "name: names starting with " + config.AppConsumerPrefix + " are the developer portal's applications"})
	}
	if f.Plan != "" && !validName(f.Plan) {
		details = append(details, fieldDetail{Message: "plan: the name of a plan of the config, or empty for none"})
	}
	for _, g := range f.Groups {
		if !validName(g) {
			details = append(details, fieldDetail{Message: "groups: " + strconv.Quote(g) + " is not a valid group name"})
		}
	}
	if details != nil {
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid_request", Message: "the consumer is not valid", Details: details}
	}
	return nil
}

func (a *API) createConsumer(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	var req consumerFields
	if e := decodeJSON(r, &req); e != nil {
		return e
	}
	if e := req.check(true); e != nil {
		return e
	}
	c := store.Consumer{Name: req.Name, Plan: req.Plan, Groups: req.Groups, CreatedBy: p.name}
	if err := a.Store.CreateConsumer(r.Context(), c, store.AuditEntry{Actor: p.name, Action: "consumer.create"}); err != nil {
		return storeError(err)
	}
	m := consumerJSON(c)
	m["keys"] = []any{}
	writeJSONStatus(w, http.StatusCreated, m)
	return nil
}

// updateConsumer answers PUT /admin/v1/consumers/{name}: the consumer's
// plan and groups, effective on the gateways without a publish.
func (a *API) updateConsumer(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	var req consumerFields
	if e := decodeJSON(r, &req); e != nil {
		return e
	}
	req.Name = r.PathValue("name")
	if e := req.check(false); e != nil {
		return e
	}
	c := store.Consumer{Name: req.Name, Plan: req.Plan, Groups: req.Groups}
	if err := a.Store.UpdateConsumer(r.Context(), c, store.AuditEntry{Actor: p.name, Action: "consumer.update"}); err != nil {
		return storeError(err)
	}
	if a.Notify != nil {
		a.Notify()
	}
	m := consumerJSON(c)
	delete(m, "created_by")
	writeJSONStatus(w, http.StatusOK, m)
	return nil
}

// createKey answers POST /admin/v1/consumers/{name}/keys: a new key, shown
// once. {"rotate": true, "overlap": "24h"} also makes the consumer's other
// keys expire after the overlap; {"expires_in": "720h"} limits the new key.
func (a *API) createKey(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	var req struct {
		Rotate    bool   `json:"rotate"`
		Overlap   string `json:"overlap"`
		ExpiresIn string `json:"expires_in"`
	}
	if r.ContentLength != 0 && r.Body != http.NoBody {
		if e := decodeJSON(r, &req); e != nil {
			return e
		}
	}
	now := time.Now().UTC()
	var expireOthers, expires time.Time
	if req.Rotate {
		overlap := time.Duration(0)
		if req.Overlap != "" {
			d, err := time.ParseDuration(req.Overlap)
			if err != nil || d < 0 {
				return errorf(http.StatusUnprocessableEntity, "invalid_request", "overlap: a duration such as 24h")
			}
			overlap = d
		}
		expireOthers = now.Add(overlap)
		if overlap == 0 {
			expireOthers = now.Add(time.Millisecond) // at once
		}
	}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return errorf(http.StatusUnprocessableEntity, "invalid_request", "expires_in: a positive duration such as 720h")
		}
		expires = now.Add(d)
	}
	secret, id := newKeySecret()
	consumer := r.PathValue("name")
	action := "key.create"
	if req.Rotate {
		action = "key.rotate"
	}
	k := store.Key{ID: id, Consumer: consumer, Hash: TokenHash(secret), CreatedAt: now, ExpiresAt: expires}
	if err := a.Store.AddKey(r.Context(), k, expireOthers, store.AuditEntry{Actor: p.name, Action: action}); err != nil {
		return storeError(err)
	}
	if a.Notify != nil {
		a.Notify()
	}
	out := keyJSON(k)
	out["key"] = secret
	out["consumer"] = consumer
	writeJSONStatus(w, http.StatusCreated, out)
	return nil
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request, p principal) *apiError {
	consumer, id := r.PathValue("name"), r.PathValue("id")
	if err := a.Store.RevokeKey(r.Context(), consumer, id, time.Now().UTC(), store.AuditEntry{Actor: p.name, Action: "key.revoke"}); err != nil {
		return storeError(err)
	}
	if a.Notify != nil {
		a.Notify()
	}
	writeJSONStatus(w, http.StatusOK, map[string]any{"consumer": consumer, "id": id, "revoked": true})
	return nil
}
