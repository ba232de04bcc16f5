package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// ca is a test certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a client certificate signed by c, changed by mut.
func (c *ca) issue(t *testing.T, mut func(*x509.Certificate)) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "acme"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if mut != nil {
		mut(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serve starts a TLS server that asks for client certificates, as the
// proxy listener does, and answers with the consumer m names.
func serve(t *testing.T, m *Method) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _, found := m.Authenticate(r)
		if !found {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "consumer="+id.Consumer)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, srv *httptest.Server, cert *tls.Certificate) string {
	t.Helper()
	conf := &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}
	conf.RootCAs.AddCert(srv.Certificate())
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusUnauthorized {
		return "no certificate"
	}
	return string(b)
}

func TestClientCertificates(t *testing.T) {
	t.Parallel()
	trusted, stranger := newCA(t, "partners"), newCA(t, "stranger")
	m, err := New(trusted.pem, "", map[string][]string{"acme": {"partners"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, m)
	good := trusted.issue(t, nil)
	for _, c := range []struct {
		name string
		cert *tls.Certificate
		want string
	}{
		{"trusted", &good, "consumer=acme"},
		{"trusted, again (cached)", &good, "consumer=acme"},
		{"no certificate", nil, "no certificate"},
		{"another authority", ptr(stranger.issue(t, nil)), "consumer="},
		{"expired", ptr(trusted.issue(t, func(c *x509.Certificate) { c.NotAfter = time.Now().Add(-time.Minute) })), "consumer="},
		{"server-only key usage", ptr(trusted.issue(t, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })), "consumer="},
		{"CN with a comma", ptr(trusted.issue(t, func(c *x509.Certificate) { c.Subject.CommonName = "acme, admin" })), "consumer="},
		{"empty CN", ptr(trusted.issue(t, func(c *x509.Certificate) { c.Subject.CommonName = "" })), "consumer="},
	} {
		if got := call(t, srv, c.cert); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if len(m.cache) != 1 {
		t.Errorf("%d cached certificates, want only the good one", len(m.cache))
	}
}

func TestConsumerFromSAN(t *testing.T) {
	t.Parallel()
	trusted := newCA(t, "partners")
	u, _ := url.Parse("spiffe://example.org/acme")
	for from, want := range map[string]string{
		SANDNS:   "consumer=acme.partners.example",
		SANEmail: "consumer=ops@acme.example",
		SANURI:   "consumer=spiffe://example.org/acme",
	} {
		m, err := New(trusted.pem, from, nil)
		if err != nil {
			t.Fatal(err)
		}
		cert := trusted.issue(t, func(c *x509.Certificate) {
			c.DNSNames = []string{"acme.partners.example"}
			c.EmailAddresses = []string{"ops@acme.example"}
			c.URIs = []*url.URL{u}
		})
		if got := call(t, serve(t, m), &cert); got != want {
			t.Errorf("%s: %q, want %q", from, got, want)
		}
	}
	if _, err := New([]byte("not pem"), "", nil); err == nil {
		t.Error("a CA file without certificates was accepted")
	}
	if _, err := New(trusted.pem, "serial", nil); err == nil {
		t.Error("consumer_from serial was accepted")
	}
}

func ptr[T any](v T) *T { return &v }
