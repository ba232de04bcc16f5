package llm

import (
	"testing"
	"time"
)

// TestRespCache: keys ignore spacing and key order but not values,
// consumers or endpoints; entries expire after the TTL; past max entries
// the least recently used goes first.
func TestRespCache(t *testing.T) {
	a, _ := cacheKey("acme", "chat", []byte(`{"model":"m","temperature":0.10,"messages":[]}`))
	b, _ := cacheKey("acme", "chat", []byte(` { "messages" : [ ], "temperature":0.10, "model":"m"}`))
	if a != b {
		t.Fatal("the same JSON differently written has two keys")
	}
	for _, c := range [][3]string{
		{"other", "chat", `{"model":"m","temperature":0.10,"messages":[]}`},
		{"acme", "messages", `{"model":"m","temperature":0.10,"messages":[]}`},
		{"acme", "chat", `{"model":"m","temperature":0.1,"messages":[]}`},
	} {
		if k, _ := cacheKey(c[0], c[1], []byte(c[2])); k == a {
			t.Errorf("%v has the key of another request", c)
		}
	}
	if _, ok := cacheKey("acme", "chat", []byte(`{"model":`)); ok {
		t.Error("a body that is not JSON has a key")
	}

	now := time.Now()
	c := newRespCache(time.Minute, 2, 1<<20)
	k := func(s string) [32]byte { key, _ := cacheKey("acme", "chat", []byte(`"`+s+`"`)); return key }
	c.put(k("1"), "application/json", []byte("one"), now)
	c.put(k("2"), "application/json", []byte("two"), now)
	if e := c.get(k("1"), now); e == nil || string(e.body) != "one" {
		t.Fatal("entry 1 is missing")
	}
	c.put(k("3"), "application/json", []byte("three"), now) // 2 is the least recently used
	if c.get(k("2"), now) != nil || c.get(k("1"), now) == nil || c.get(k("3"), now) == nil {
		t.Fatal("the least recently used entry was not the one dropped")
	}
	if c.get(k("1"), now.Add(time.Minute+time.Second)) != nil {
		t.Fatal("an entry outlived its TTL")
	}
}

// TestRespCacheBytes: past max bytes the least recently used answers go
// first, however few entries there are; an answer larger than the whole
// budget is not kept; replacing an answer counts its new size only.
func TestRespCacheBytes(t *testing.T) {
	now := time.Now()
	c := newRespCache(time.Minute, 100, 10)
	k := func(s string) [32]byte { key, _ := cacheKey("acme", "chat", []byte(`"`+s+`"`)); return key }
	c.put(k("a"), "t", []byte("aaaa"), now) // 4
	c.put(k("b"), "t", []byte("bbbb"), now) // 8
	_ = c.get(k("a"), now)                  // b is now the least recently used
	c.put(k("c"), "t", []byte("cccc"), now) // 12 > 10: b goes
	if c.get(k("b"), now) != nil || c.get(k("a"), now) == nil || c.get(k("c"), now) == nil {
		t.Fatal("past max bytes the least recently used answer was not the one dropped")
	}
	if c.bytes != 8 || c.ll.Len() != 2 {
		t.Fatalf("%d bytes in %d entries, want 8 in 2", c.bytes, c.ll.Len())
	}
	c.put(k("a"), "t", []byte("a"), now) // replaced: 1 + 4
	if c.bytes != 5 {
		t.Fatalf("%d bytes after replacing 4 with 1, want 5", c.bytes)
	}
	c.put(k("big"), "t", []byte("0123456789x"), now)
	if c.get(k("big"), now) != nil || c.get(k("a"), now) == nil || c.bytes != 5 {
		t.Fatal("an answer larger than the budget was kept, or pushed others out")
	}
	if e := c.get(k("c"), now.Add(2*time.Minute)); e != nil || c.bytes != 1 {
		t.Fatalf("an expired answer still counts: %d bytes", c.bytes)
	}
}
