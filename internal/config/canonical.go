package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// HashedKeyPrefix marks an API key given as its SHA-256 in hex.
const HashedKeyPrefix = "sha256:"

// HashKey returns the stored form of an API key: "sha256:<hex>". A key
// that is already in that form is returned as is.
func HashKey(key string) string {
	if IsHashedKey(key) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return HashedKeyPrefix + hex.EncodeToString(sum[:])
}

// IsHashedKey reports whether key is "sha256:" and 64 lower-case hex digits.
func IsHashedKey(key string) bool {
	h, ok := strings.CutPrefix(key, HashedKeyPrefix)
	if !ok || len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		default:
			return false
		}
	}
	return true
}

// Canonical returns the document a revision stores for c: JSON with the
// fields in schema order, empty fields left out, and every API key replaced
// by its hash, so a revision never holds a secret. Equal configs give equal
// bytes, so the hash of the result identifies the configuration.
func Canonical(c *Config) ([]byte, error) {
	cp := *c
	cp.Consumers = make([]Consumer, len(c.Consumers))
	for i, cons := range c.Consumers {
		cons.APIKeys = append([]string(nil), cons.APIKeys...)
		for j, k := range cons.APIKeys {
			cons.APIKeys[j] = HashKey(k)
		}
		cp.Consumers[i] = cons
	}
	if len(cp.Consumers) == 0 {
		cp.Consumers = nil
	}
	return json.Marshal(&cp)
}

// ContentHash is the hex SHA-256 of a canonical document.
func ContentHash(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}
