package llm

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// This file is the optional response cache of an LLM API: exact-match,
// per consumer, in each node's memory. A request is normalised — its JSON
// decoded and written again, keys sorted and spaces dropped — and hashed
// with the consumer, the endpoint and the alias; a later identical
// request within the TTL gets the same answer, as the client received it
// (a stream is replayed whole), without calling a provider.

// MaxCachedAnswer bounds an answer the cache keeps.
const MaxCachedAnswer = 1 << 20

// CacheHeader says whether an answer came from the cache (hit) or not
// (miss), on APIs that have one.
const CacheHeader = "X-Portico-Cache"

type cacheEntry struct {
	key         [32]byte
	contentType string
	body        []byte
	expires     time.Time
}

// respCache is a least-recently-used map of answers with a TTL, bounded
// in entries and in bytes.
type respCache struct {
	ttl      time.Duration
	max      int
	maxBytes int64

	mu    sync.Mutex
	ll    *list.List // front: most recently used
	items map[[32]byte]*list.Element
	bytes int64 // of the bodies held
}

func newRespCache(ttl time.Duration, maxEntries int, maxBytes int64) *respCache {
	return &respCache{ttl: ttl, max: maxEntries, maxBytes: maxBytes, ll: list.New(), items: map[[32]byte]*list.Element{}}
}

// remove drops el; c.mu is held.
func (c *respCache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.ll.Remove(el)
	delete(c.items, e.key)
	c.bytes -= int64(len(e.body))
}

// cacheKey hashes what makes two requests the same: the consumer, the
// endpoint and the normalised body. ok is false when the body does not
// normalise (it is then not cached).
func cacheKey(consumer, op string, body []byte) (key [32]byte, ok bool) {
	var v any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber() // numbers as written: 0.1 stays 0.1
	if d.Decode(&v) != nil {
		return key, false
	}
	norm, err := json.Marshal(v)
	if err != nil {
		return key, false
	}
	h := sha256.New()
	for _, s := range []string{consumer, op} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(norm)
	h.Sum(key[:0])
	return key, true
}

func (c *respCache) get(key [32]byte, now time.Time) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if now.After(e.expires) {
		c.remove(el)
		return nil
	}
	c.ll.MoveToFront(el)
	return e
}

func (c *respCache) put(key [32]byte, contentType string, body []byte, now time.Time) {
	if int64(len(body)) > c.maxBytes {
		return
	}
	e := &cacheEntry{key: key, contentType: contentType, body: body, expires: now.Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	c.items[key] = c.ll.PushFront(e)
	c.bytes += int64(len(body))
	for c.ll.Len() > c.max || c.bytes > c.maxBytes {
		c.remove(c.ll.Back())
	}
}

// recorder keeps a copy of what is written to the client (up to
// MaxCachedAnswer; past it, nothing is kept), for the cache.
type recorder struct {
	http.ResponseWriter
	status int
	buf    []byte
	over   bool
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if !r.over {
		if len(r.buf)+len(p) > MaxCachedAnswer {
			r.over, r.buf = true, nil
		} else {
			r.buf = append(r.buf, p...)
		}
	}
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (to flush).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
