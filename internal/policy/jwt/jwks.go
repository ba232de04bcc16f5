package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/clock"
)

// Key set refresh bounds. A set is refetched when the issuer's
// Cache-Control max-age runs out (clamped to [MinRefresh, MaxRefresh]),
// and at most once per KidMissInterval because a token names a kid the set
// lacks — so a flood of made-up kids cannot make Portico hammer the issuer.
const (
	DefaultRefresh  = 10 * time.Minute
	MinRefresh      = time.Minute
	MaxRefresh      = 24 * time.Hour
	KidMissInterval = 30 * time.Second
	fetchTimeout    = 5 * time.Second
	maxJWKSBytes    = 1 << 20
)

// Source is a key set fetched from a JWKS URL, or from the jwks_uri of an
// OpenID provider's discovery document. It refreshes itself in the
// background and keeps the last good set when the issuer is unreachable.
type Source struct {
	url       string // the JWKS URL, or the issuer for discovery
	discovery bool
	client    *http.Client
	log       *slog.Logger

	keys     atomic.Pointer[[]Key]
	lastMiss atomic.Int64 // Unix nanoseconds of the last kid-miss refresh
	mu       sync.Mutex   // one fetch at a time
	wake     chan struct{}
	stop     chan struct{}
}

// Keys returns the current key set (empty until the first fetch succeeds).
func (s *Source) Keys() []Key {
	if k := s.keys.Load(); k != nil {
		return *k
	}
	return nil
}

// Miss reports a token whose kid the set lacks; the set is refetched in the
// background, at most once per KidMissInterval.
func (s *Source) Miss() {
	now := clock.Now()
	last := s.lastMiss.Load()
	if now-last < int64(KidMissInterval) || !s.lastMiss.CompareAndSwap(last, now) {
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Source) run() {
	wait := time.Duration(0) // the first fetch at once
	failures := 0
	for {
		select {
		case <-time.After(wait):
		case <-s.wake:
		case <-s.stop:
			return
		}
		maxAge, err := s.fetch()
		if err == nil {
			failures = 0
			wait = maxAge
			continue
		}
		// Keep the last good set; retry sooner, backing off to the
		// refresh interval.
		failures++
		wait = min(time.Duration(failures)*5*time.Second, DefaultRefresh)
		s.log.Warn("fetching the JWT key set failed; the last good set stays", "url", s.url, "error", err.Error())
	}
}

// fetch loads the key set and returns how long it may be cached.
func (s *Source) fetch() (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	jwksURL := s.url
	if s.discovery {
		var disco struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		wellKnown := strings.TrimSuffix(s.url, "/") + "/.well-known/openid-configuration"
		if _, err := s.get(wellKnown, &disco); err != nil {
			return 0, err
		}
		if disco.Issuer != s.url || !strings.HasPrefix(disco.JWKSURI, "https://") && !strings.HasPrefix(disco.JWKSURI, "http://") {
			return 0, fmt.Errorf("discovery document of %s names issuer %q and jwks_uri %q", s.url, disco.Issuer, disco.JWKSURI)
		}
		jwksURL = disco.JWKSURI
	}
	var raw json.RawMessage
	maxAge, err := s.get(jwksURL, &raw)
	if err != nil {
		return 0, err
	}
	keys, err := ParseJWKS(raw)
	if err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, errors.New("the key set has no signing keys")
	}
	s.keys.Store(&keys)
	return maxAge, nil
}

// get fetches url as JSON into v and returns its cache lifetime.
func (s *Source) get(url string, v any) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return 0, err
	}
	if len(body) > maxJWKSBytes {
		return 0, fmt.Errorf("%s: the document is larger than 1 MiB", url)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return 0, fmt.Errorf("%s: %w", url, err)
	}
	return cacheLifetime(resp.Header.Get("Cache-Control")), nil
}

// cacheLifetime reads max-age, clamped; no-store and no-cache mean the
// shortest refresh.
func cacheLifetime(cc string) time.Duration {
	age := DefaultRefresh
	for d := range strings.SplitSeq(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return MinRefresh
		case strings.HasPrefix(d, "max-age="):
			if n, err := strconv.Atoi(d[len("max-age="):]); err == nil {
				age = time.Duration(n) * time.Second
			}
		}
	}
	return min(max(age, MinRefresh), MaxRefresh)
}

// Sources shares key sources by URL across configs, so a reload keeps
// warm key sets, and stops them all at shutdown.
type Sources struct {
	// Client fetches key sets; the node gives it the egress policy's
	// dialer, so a key set URL cannot reach a denied address either.
	Client *http.Client
	Log    *slog.Logger

	mu      sync.Mutex
	sources map[string]*Source
}

// Get returns the source for a JWKS URL (discovery false) or an issuer
// (discovery true), starting it on first use.
func (ss *Sources) Get(url string, discovery bool) *Source {
	key := url
	if discovery {
		key = "discovery:" + url
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.sources == nil {
		ss.sources = map[string]*Source{}
	}
	if s := ss.sources[key]; s != nil {
		return s
	}
	client, log := ss.Client, ss.Log
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{url: url, discovery: discovery, client: client, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	ss.sources[key] = s
	go s.run()
	return s
}

// Close stops every source.
func (ss *Sources) Close() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, s := range ss.sources {
		close(s.stop)
		delete(ss.sources, k)
	}
}
