package jwt

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/portico-gw/portico/internal/testenv"
)

// deviations are the four vectors whose expected result Portico does not
// follow, each with the result it does give:
//   - 372 and 373 (marked valid) insert a "?" into the encoded header or
//     payload. Accepting them means decoding leniently, which gives one
//     token many spellings — a malleability that defeats token caches and
//     replay checks — so Portico refuses them.
//   - 367 and 370 (marked invalid, "invalidBase64Padding…") are, in this
//     file, byte for byte a canonical token whose HMAC is correct: the
//     padding their comments describe is not in the strings. Refusing a
//     correctly signed canonical token would be wrong, so Portico accepts.
//   - 346 and 350 (marked valid) are RFC 7520's Figure 20: a PS384
//     signature checked with a key whose "alg" is PS256. The same file
//     marks a PS512 key verifying PS256 invalid (338, 340); Portico follows
//     RFC 7517 — a key's "alg" names the one algorithm it is for — and
//     refuses all four.
var deviations = map[int]bool{367: true, 370: true, 372: false, 373: false, 346: false, 350: false} // tcId -> accepted

// TestWycheproof runs Project Wycheproof's JSON Web Signature vectors
// (shared/testdata/wycheproof): every invalid case must be refused, every
// valid one accepted, with the group's key as the policy's key set and the
// group's algorithm as its only algorithm. The vectors' payloads are not
// JWT claims, so only the signature layer is checked here.
func TestWycheproof(t *testing.T) {
	data, err := os.ReadFile(testenv.SharedFile(t, "wycheproof/json_web_signature_test.json"))
	if err != nil {
		t.Fatalf("the Wycheproof vectors are missing: %v", err)
	}
	var doc struct {
		NumberOfTests int `json:"numberOfTests"`
		TestGroups    []struct {
			Comment string          `json:"comment"`
			Public  json.RawMessage `json:"public"`
			Private json.RawMessage `json:"private"`
			Tests   []struct {
				TcID    int    `json:"tcId"`
				Comment string `json:"comment"`
				JWS     string `json:"jws"`
				Result  string `json:"result"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	ran, valid, invalid := 0, 0, 0
	for _, g := range doc.TestGroups {
		jwk := g.Public
		if jwk == nil {
			jwk = g.Private // HMAC groups have only the secret
		}
		keys, err := ParseJWKS(jwk)
		if err != nil {
			t.Fatalf("group %s: %v", g.Comment, err)
		}
		var alg struct {
			Alg string `json:"alg"`
		}
		_ = json.Unmarshal(jwk, &alg)
		for _, tc := range g.Tests {
			ran++
			// The policy enables the family of the group's key; a key for
			// encryption (no alg) gets every family, and must still fail.
			algs := []string{alg.Alg}
			switch family(alg.Alg) {
			case "HS", "RS", "PS", "ES":
				f := alg.Alg[:2]
				algs = []string{f + "256", f + "384", f + "512"}
			case "":
				if alg.Alg == "ES521" {
					algs = []string{"ES512"}
				} else {
					algs = []string{"RS256", "PS256", "ES256", "HS256"}
				}
			}
			v, err := NewVerifier(Policy{Algorithms: algs}, keys)
			if err != nil {
				t.Fatalf("group %s: %v", g.Comment, err)
			}
			_, err = v.verifySignature(tc.JWS)
			accepted, deviates := deviations[tc.TcID]
			switch {
			case deviates:
				if (err == nil) != accepted {
					t.Errorf("tc %d (%s): accepted = %v, want %v (see deviations)", tc.TcID, tc.Comment, err == nil, accepted)
				}
			case tc.Result == "valid":
				valid++
				if err != nil {
					t.Errorf("tc %d (%s, %s): a valid signature was refused: %v", tc.TcID, g.Comment, tc.Comment, err)
				}
			default:
				invalid++
				if err == nil {
					t.Errorf("tc %d (%s, %s): an invalid token was accepted", tc.TcID, g.Comment, tc.Comment)
				}
			}
		}
	}
	if ran != doc.NumberOfTests || ran != 401 {
		t.Fatalf("ran %d cases, the file has %d", ran, doc.NumberOfTests)
	}
	t.Logf("%d cases: %d valid accepted, %d invalid refused", ran, valid, invalid)
}
