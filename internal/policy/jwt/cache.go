package jwt

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Verified tokens are cached, keyed by the SHA-256 of the whole token, so
// a client that sends the same token again costs a hash instead of a
// signature check (an RS256 check is ~40 µs of CPU). An entry serves only
// that exact token, for at most cacheTTL, and never past the token's exp;
// failures are never cached, so forged tokens cannot fill the cache.
const (
	cacheTTL     = time.Minute
	cacheEntries = 10_000
	cacheShards  = 16
)

type cached struct {
	claims   Claims
	consumer string
	// until is when the entry stops serving (Unix nanoseconds): the
	// earlier of cacheTTL and the token's exp plus leeway.
	until int64
}

type tokenCache struct {
	shards [cacheShards]struct {
		mu sync.RWMutex
		m  map[[sha256.Size]byte]cached
	}
}

func newTokenCache() *tokenCache {
	c := &tokenCache{}
	for i := range c.shards {
		c.shards[i].m = map[[sha256.Size]byte]cached{}
	}
	return c
}

func (c *tokenCache) get(d [sha256.Size]byte, now int64) (cached, bool) {
	s := &c.shards[d[0]%cacheShards]
	s.mu.RLock()
	e, ok := s.m[d]
	s.mu.RUnlock()
	if !ok || now >= e.until {
		return cached{}, false
	}
	return e, true
}

func (c *tokenCache) put(d [sha256.Size]byte, e cached) {
	s := &c.shards[d[0]%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= cacheEntries/cacheShards {
		for k := range s.m { // full: drop an arbitrary entry
			delete(s.m, k)
			break
		}
	}
	s.m[d] = e
}
