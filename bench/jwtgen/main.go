// Command jwtgen writes a JSON Web Key Set and prints a token signed by it,
// valid for a day, for the benchmark's jwt route.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func main() {
	out := flag.String("jwks", "jwks.json", "where to write the key set")
	flag.Parse()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	set, _ := json.Marshal(map[string]any{"keys": []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "bench", Use: "sig", Algorithm: "RS256"}}})
	if err := os.WriteFile(*out, set, 0o600); err != nil {
		log.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "bench"))
	if err != nil {
		log.Fatal(err)
	}
	claims, _ := json.Marshal(map[string]any{"sub": "bench", "iss": "https://id.bench", "aud": "orders",
		"exp": time.Now().Add(24 * time.Hour).Unix(), "iat": time.Now().Unix()})
	obj, err := signer.Sign(claims)
	if err != nil {
		log.Fatal(err)
	}
	tok, _ := obj.CompactSerialize()
	fmt.Println(tok)
}
