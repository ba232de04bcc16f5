// Package mtls authenticates requests by the client certificate of their
// TLS connection (mutual TLS), verified against a policy's certificate
// authorities, and names the consumer from the certificate's subject or a
// subject alternative name.
//
// The proxy listener asks every client for a certificate but verifies none
// during the handshake: which authorities are trusted is a property of the
// route's policy, not of the listener, and a policy's authorities change
// with the config without restarting the listener. A verified certificate
// is cached (by its SHA-256) for at most five minutes and never past its
// NotAfter, so a keep-alive connection costs one chain verification.
package mtls

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/portico-gw/portico/internal/pipeline"
)

// Where a consumer name is taken from.
const (
	SubjectCN = "subject_cn"
	SANDNS    = "san_dns"
	SANEmail  = "san_email"
	SANURI    = "san_uri"
)

// consumerRE is what a consumer name from a certificate must look like
// (the config's consumer names), so that no certificate can put control
// characters or a forged list into X-Consumer.
var consumerRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,254}$`)

// Method is an mtls auth policy.
type Method struct {
	roots  *x509.CertPool
	from   string
	groups map[string][]string
	mu     sync.RWMutex
	cache  map[[sha256.Size]byte]entry
}

type entry struct {
	consumer string
	until    time.Time
}

const cacheTTL = 5 * time.Minute

// New returns the policy trusting the PEM certificates in caPEM, naming
// consumers by from, with the consumers' groups (read-only).
func New(caPEM []byte, from string, groups map[string][]string) (*Method, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("ca_file holds no PEM certificate")
	}
	switch from {
	case "":
		from = SubjectCN
	case SubjectCN, SANDNS, SANEmail, SANURI:
	default:
		return nil, errors.New("consumer_from must be subject_cn, san_dns, san_email or san_uri")
	}
	return &Method{roots: roots, from: from, groups: groups, cache: map[[sha256.Size]byte]entry{}}, nil
}

// Authenticate implements auth.Method. A request over plain HTTP, or
// without a client certificate, carries no credential of this method.
func (m *Method) Authenticate(r *http.Request) (id pipeline.Identity, header string, found bool) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return id, "", false
	}
	leaf := r.TLS.PeerCertificates[0]
	k := sha256.Sum256(leaf.Raw)
	now := time.Now()
	m.mu.RLock()
	e, ok := m.cache[k]
	m.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		e.consumer = m.verify(leaf, r.TLS.PeerCertificates[1:], now)
		if e.consumer == "" {
			return id, "", true // failures are not cached
		}
		e.until = now.Add(cacheTTL)
		if leaf.NotAfter.Before(e.until) {
			e.until = leaf.NotAfter
		}
		m.mu.Lock()
		if len(m.cache) >= 10_000 {
			clear(m.cache)
		}
		m.cache[k] = e
		m.mu.Unlock()
	}
	id.Consumer = e.consumer
	id.Groups = m.groups[e.consumer]
	return id, "", true
}

// verify checks leaf's chain to the policy's roots for client
// authentication at now and returns the consumer it names ("" when it
// does not verify or names no acceptable consumer).
func (m *Method) verify(leaf *x509.Certificate, rest []*x509.Certificate, now time.Time) string {
	inter := x509.NewCertPool()
	for _, c := range rest {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: m.roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return ""
	}
	var name string
	switch m.from {
	case SubjectCN:
		name = leaf.Subject.CommonName
	case SANDNS:
		if len(leaf.DNSNames) > 0 {
			name = leaf.DNSNames[0]
		}
	case SANEmail:
		if len(leaf.EmailAddresses) > 0 {
			name = leaf.EmailAddresses[0]
		}
	case SANURI:
		if len(leaf.URIs) > 0 {
			name = leaf.URIs[0].String()
		}
	}
	if !consumerRE.MatchString(name) {
		return ""
	}
	return name
}
