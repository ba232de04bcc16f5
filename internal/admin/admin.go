// Package admin serves the admin address: health and readiness probes,
// Prometheus metrics, and the admin API under /admin/v1/ (api.go); the
// console joins it later.
package admin

import (
	"encoding/json"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portico-gw/portico/internal/telemetry"
)

// Handler returns the admin address's handler. ready reports whether the
// node has a config it can serve; api, when not nil, serves /admin/v1/.
func Handler(m *telemetry.Metrics, ready *atomic.Bool, api *API, mounts ...func(*http.ServeMux)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	if api != nil {
		api.Mount(mux)
	}
	for _, m := range mounts {
		m(mux) // the web console, under /ui/
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]string{
			"code": "not_found", "message": "the admin address serves /healthz, /readyz, /metrics and /admin/v1/ (see /admin/v1/openapi.json)",
		}})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
