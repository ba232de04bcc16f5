package jwt

import (
	"fmt"
	"hash/maphash"
	"strings"
	"testing"
)

func (c *tokenCache) size() (entries, bytes int) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		entries += len(s.m)
		bytes += s.bytes
		s.mu.RUnlock()
	}
	return entries, bytes
}

// TestTokenCacheNeedsTheSameToken plants a cached token where another
// token's hash leads, as a collision would: the other token must not be
// served the first one's verdict.
func TestTokenCacheNeedsTheSameToken(t *testing.T) {
	t.Parallel()
	c := newTokenCache()
	const far = int64(1) << 62
	c.put("token-a", cached{consumer: "alice", until: far})
	if e, ok := c.get("token-a", 0); !ok || e.consumer != "alice" {
		t.Fatalf("get(token-a) = %+v, %v; want alice's entry", e, ok)
	}
	h := maphash.String(c.seed, "token-b")
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	s.m[h] = cached{token: "token-a", consumer: "alice", until: far}
	s.mu.Unlock()
	if e, ok := c.get("token-b", 0); ok {
		t.Fatalf("token-b was served token-a's entry: %+v", e)
	}
	if _, ok := c.get("token-a", far); ok {
		t.Fatal("an entry served at its until")
	}
}

// TestTokenCacheBounds fills the cache past its entry count and past its
// byte budget: it keeps within both, and the token put last is served.
func TestTokenCacheBounds(t *testing.T) {
	t.Parallel()
	const far = int64(1) << 62
	c := newTokenCache()
	for i := range 3 * cacheEntries {
		c.put(fmt.Sprint("small-", i), cached{until: far})
	}
	if n, _ := c.size(); n > cacheEntries {
		t.Fatalf("%d entries after many small tokens, the bound is %d", n, cacheEntries)
	}
	big := strings.Repeat("x", MaxTokenLen-10)
	var last string
	for i := range 3 * cacheBytes / MaxTokenLen {
		last = fmt.Sprintf("%s%08d", big, i)
		c.put(last, cached{until: far})
	}
	n, b := c.size()
	if n > cacheEntries || b > cacheBytes {
		t.Fatalf("%d entries, %d bytes of tokens after many large ones; bounds %d and %d", n, b, cacheEntries, cacheBytes)
	}
	if b < cacheBytes/2 {
		t.Fatalf("only %d bytes of tokens kept of a %d budget: evicting too much", b, cacheBytes)
	}
	if _, ok := c.get(last, 0); !ok {
		t.Fatal("the token put last is not served")
	}
}
