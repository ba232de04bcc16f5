package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI is a certificate authority with a server certificate for
// 127.0.0.1 and a client certificate for consumer "acme", as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	client                    tls.Certificate
	pool                      *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(tmpl *x509.Certificate) (*ecdsa.PrivateKey, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return key, der
	}
	srvKey, srvDER := issue(&x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "portico"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	cliKey, cliDER := issue(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "acme"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	p := &testPKI{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"),
		client: tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}, pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	for file, block := range map[string]*pem.Block{
		p.caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		p.certFile: {Type: "CERTIFICATE", Bytes: srvDER},
		p.keyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestTLSListenerAndMTLS serves the proxy over HTTPS and authenticates
// partners by their client certificates: a certificate of the trusted CA
// names the consumer, no certificate is a 401 (an API key still works),
// and the upstream learns the scheme was https.
func TestTLSListenerAndMTLS(t *testing.T) {
	t.Parallel()
	type seen struct{ consumer, proto string }
	got := make(chan seen, 10)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Header.Get("X-Consumer"), r.Header.Get("X-Forwarded-Proto")}
		_, _ = io.WriteString(w, "ok")
	}))
	defer up.Close()
	pki := newTestPKI(t)
	cfg := `version: 1
upstreams:
  - name: up
    targets: [{url: "` + up.URL + `"}]
auth_policies:
  - {name: partners, type: mtls, ca_file: "` + pki.caFile + `", consumer_from: subject_cn}
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
apis:
  - name: api
    base_path: /api
    upstream: up
    auth: [partners, api_key]
    routes:
      - name: all
        path: /{rest...}
`
	n := startNodeTLS(t, writeConfig(t, cfg), pki)
	client := func(cert *tls.Certificate) *http.Client {
		conf := &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}
		if cert != nil {
			conf.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true}, Timeout: 5 * time.Second}
	}
	call := func(c *http.Client, header ...string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", "https://"+n.proxy+"/api/x", nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, body := call(client(&pki.client))
	if resp.StatusCode != 200 || resp.Proto != "HTTP/1.1" {
		t.Fatalf("with a client certificate: %d %s %s", resp.StatusCode, resp.Proto, body)
	}
	if s := <-got; s.consumer != "acme" || s.proto != "https" {
		t.Fatalf("the upstream saw consumer %q over %q, want acme over https", s.consumer, s.proto)
	}
	resp, body = call(client(nil))
	if resp.StatusCode != 401 || !strings.Contains(body, `"unauthorized"`) {
		t.Fatalf("without a certificate: %d %s", resp.StatusCode, body)
	}
	resp, _ = call(client(nil), "X-API-Key", "acme-key-0123456789")
	if resp.StatusCode != 200 {
		t.Fatalf("an API key over TLS: %d", resp.StatusCode)
	}
	<-got

	// Half a key pair is a usage error.
	cmd := exec.Command(binary, "serve", "--proxy-tls-cert", pki.certFile, "--proxy-addr", freeAddr(t), "--admin-addr", freeAddr(t), "--data-dir", t.TempDir())
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "go together") {
		t.Fatalf("--proxy-tls-cert alone: %v\n%s", err, out)
	}
}

// startNodeTLS starts a node serving the proxy over TLS; readiness is
// checked on the admin address, which stays plain HTTP.
func startNodeTLS(t *testing.T, config string, pki *testPKI) *proc {
	t.Helper()
	return startNode(t, nil, "--config", config, "--proxy-tls-cert", pki.certFile, "--proxy-tls-key", pki.keyFile)
}
