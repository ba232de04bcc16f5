package jwt

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// Verified tokens are cached, so a client that sends the same token again
// costs a lookup instead of a signature check (an RS256 check is ~40 µs
// of CPU). An entry serves only that exact token, for at most cacheTTL,
// and never past the token's exp; failures are never cached, so forged
// tokens cannot fill the cache.
//
// Entries are found by a seeded 64-bit hash of the token (hash/maphash,
// the seed random per process) and hold the token itself, which a hit
// must equal in full: the hash only finds the entry, the comparison is
// what lets a request through, so no collision, found or forced, passes
// for another token. Hashing a token this way costs ~50 ns where its
// SHA-256 cost ~800 ns and an allocation (a 500-byte token). The
// comparison need not be constant-time: it runs only when the presented
// token's hash, under a seed the client cannot know, matches a cached
// one's — in practice only for the same token. Tokens are bounded
// (MaxTokenLen), and so is what the cache holds of them (cacheBytes).
const (
	cacheTTL     = time.Minute
	cacheEntries = 10_000
	cacheBytes   = 16 << 20
	cacheShards  = 16
)

type cached struct {
	token    string
	claims   Claims
	consumer string
	// until is when the entry stops serving (Unix nanoseconds): the
	// earlier of cacheTTL and the token's exp plus leeway.
	until int64
}

type tokenCache struct {
	seed   maphash.Seed
	shards [cacheShards]struct {
		mu sync.RWMutex
		m  map[uint64]cached
		// bytes is the length of the tokens m holds.
		bytes int
	}
}

func newTokenCache() *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = map[uint64]cached{}
	}
	return c
}

func (c *tokenCache) get(token string, now int64) (cached, bool) {
	h := maphash.String(c.seed, token)
	s := &c.shards[h%cacheShards]
	s.mu.RLock()
	e, ok := s.m[h]
	s.mu.RUnlock()
	if !ok || e.token != token || now >= e.until {
		return cached{}, false
	}
	return e, true
}

// put caches e for token, in place of whatever had the same hash.
func (c *tokenCache) put(token string, e cached) {
	// A copy: the caller's string may share its memory with the whole
	// request head.
	e.token = strings.Clone(token)
	h := maphash.String(c.seed, token)
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[h]; ok {
		delete(s.m, h)
		s.bytes -= len(old.token)
	}
	for k, old := range s.m { // full: drop arbitrary entries until e fits
		if len(s.m) < cacheEntries/cacheShards && s.bytes+len(e.token) <= cacheBytes/cacheShards {
			break
		}
		delete(s.m, k)
		s.bytes -= len(old.token)
	}
	s.m[h] = e
	s.bytes += len(e.token)
}
