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
	c := newRespCache(time.Minute, 2)
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
