package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// echoJSON is an upstream that answers with what it received, as JSON
// headers and body fields, or with a fixed body when asked.
func transformUpstream(t *testing.T) (*httptest.Server, *recorder) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.RequestURI, r.Host, r.Header.Clone(), string(b), r.ContentLength, r.TransferEncoding})
		rec.mu.Unlock()
		switch r.URL.Query().Get("answer") {
		case "broken":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id": 7,`)
		case "big":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"pad":"`+strings.Repeat("x", 3000)+`"}`)
		case "text":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "id: not json")
		case "missing":
			w.WriteHeader(http.StatusNotFound)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Internal", "secret")
			_, _ = io.WriteString(w, `{"id":"ord_7","total":12.50,"debug":{"host":"db1"}}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

const transformConfig = `
version: 1
upstreams:
  - name: up
    targets: [{url: "UPSTREAM"}]
apis:
  - name: shop
    base_path: /shop
    upstream: up
    auth: [api_key]
    routes:
      - name: order
        path: /orders/{id}
        transform:
          max_body_bytes: 2048
          request:
            headers: {set: {X-Tenant: "{{consumer}}", X-Order: "{{path.id}}"}, remove: [X-Debug], rename: {X-Old: X-New}}
            query: {set: {src: gateway}, remove: [token], rename: {q: search}}
            path: /v2/orders/{{path.id}}
            body: {rename: {customerId: customer.id}, set: {source: "{{consumer}}"}, remove: [internal]}
          response:
            headers: {set: {Cache-Control: no-store}, remove: [X-Internal]}
            body: {rename: {id: orderId}, remove: [debug]}
            status: {"404": 200}
            modifiers: [no_store]
consumers:
  - name: acme
    api_keys: [acme-key-0123456789]
`

func TestTransforms(t *testing.T) {
	t.Parallel()
	up, rec := transformUpstream(t)
	e := start(t, transformConfig, up.URL)
	key := "acme-key-0123456789"

	resp, body := e.do("POST", "/shop/orders/7?q=shoes&token=abc&page=2",
		hdr("X-API-Key", key, "Content-Type", "application/json", "X-Debug", "1", "X-Old", "o"),
		strings.NewReader(`{"customerId":42,"internal":true,"note":"Grüße ✓"}`))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got := rec.last(t)
	if got.URI != "/v2/orders/7?page=2&search=shoes&src=gateway" {
		t.Errorf("upstream URI %q", got.URI)
	}
	if got.Header.Get("X-Tenant") != "acme" || got.Header.Get("X-Order") != "7" || got.Header.Get("X-Debug") != "" ||
		got.Header.Get("X-New") != "o" || got.Header.Get("X-Old") != "" {
		t.Errorf("upstream headers %v", got.Header)
	}
	if got.Body != `{"customer":{"id":42},"note":"Grüße ✓","source":"acme"}` || got.ContentLength != int64(len(got.Body)) {
		t.Errorf("upstream body %q (length %d)", got.Body, got.ContentLength)
	}
	if body != `{"orderId":"ord_7","total":12.50}` || resp.Header.Get("X-Internal") != "" ||
		resp.Header.Get("Cache-Control") != "no-store" || resp.ContentLength != int64(len(body)) {
		t.Errorf("client got %q with %v", body, resp.Header)
	}

	// A body exactly at the cap (2048 bytes) is mapped; one byte more is a 413.
	atCap := `{"pad":"` + strings.Repeat("x", 2048-10) + `"}`
	if len(atCap) != 2048 {
		t.Fatalf("test body is %d bytes", len(atCap))
	}
	if resp, body := e.do("POST", "/shop/orders/7", hdr("X-API-Key", key, "Content-Type", "application/json"), strings.NewReader(atCap)); resp.StatusCode != 200 {
		t.Errorf("a body at the cap: %d %s", resp.StatusCode, body)
	}

	// The route's own body limit still answers 413 when a mapping reads the body.
	e.load(strings.Replace(transformConfig, "        transform:\n          max_body_bytes: 2048", "        max_body_bytes: 100\n        transform:\n          max_body_bytes: 2048", 1), up.URL)
	resp, body = e.do("POST", "/shop/orders/7", hdr("X-API-Key", key, "Content-Type", "application/json"), strings.NewReader(`{"pad":"`+strings.Repeat("x", 200)+`"}`))
	if resp.StatusCode != 413 || decodeError(t, resp, body).Error.Code != "body_too_large" {
		t.Errorf("a body over the route's max_body_bytes with a mapping: %d %s", resp.StatusCode, body)
	}
	e.load(transformConfig, up.URL)

	// Status mapping; a non-JSON answer passes untouched.
	if resp, _ := e.do("GET", "/shop/orders/7?answer=missing", hdr("X-API-Key", key), nil); resp.StatusCode != 200 {
		t.Errorf("404 mapped to %d, want 200", resp.StatusCode)
	}
	if _, body := e.do("GET", "/shop/orders/7?answer=text", hdr("X-API-Key", key), nil); body != "id: not json" {
		t.Errorf("a text answer became %q", body)
	}

	// Bad input: never a panic, always the documented JSON error.
	for _, c := range []struct {
		name, query, ctype, body string
		status                   int
		code                     string
	}{
		{"malformed request JSON", "", "application/json", `{"customerId":`, 400, "bad_request"},
		{"request body over the cap", "", "application/json", `{"pad":"` + strings.Repeat("x", 3000) + `"}`, 413, "body_too_large"},
		{"malformed upstream JSON", "?answer=broken", "", "", 502, "upstream_failed"},
		{"upstream answer over the cap", "?answer=big", "", "", 502, "upstream_failed"},
	} {
		h := hdr("X-API-Key", key)
		var b io.Reader
		if c.body != "" {
			h.Set("Content-Type", c.ctype)
			b = strings.NewReader(c.body)
		}
		resp, body := e.do("POST", "/shop/orders/7"+c.query, h, b)
		if resp.StatusCode != c.status || decodeError(t, resp, body).Error.Code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.StatusCode, body, c.status, c.code)
		}
		if resp.Header.Get("X-Internal") != "" {
			t.Errorf("%s: the upstream's headers leaked into the error", c.name)
		}
	}
}

func TestTransformConfigErrors(t *testing.T) {
	t.Parallel()
	e := start(t, transformConfig, "http://127.0.0.1:1")
	for _, c := range []struct{ from, to, want string }{
		{"X-Tenant: \"{{consumer}}\"", "X-Consumer: \"{{consumer}}\"", "X-Consumer is managed by Portico"},
		{"{{path.id}}\"}", "{{path.nope}}\"}", `the route's path has no parameter "nope"`},
		{"customerId: customer.id", "customerId: customer..id", "an empty member name"},
		{"modifiers: [no_store]", "modifiers: [gzip]", `no response modifier is registered as "gzip"`},
		{`status: {"404": 200}`, `status: {"404": 999}`, "999 is not a status code"},
	} {
		_, err := e.compile(strings.Replace(transformConfig, c.from, c.to, 1), "http://127.0.0.1:1")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s -> %s: %v, want %q", c.from, c.to, err, c.want)
		}
	}
}

// TestJSONClientXMLUpstream: a JSON client in front of an XML upstream —
// the request body arrives as XML, the XML answer leaves as JSON, mapped.
func TestJSONClientXMLUpstream(t *testing.T) {
	t.Parallel()
	var gotBody, gotType string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotType = string(b), r.Header.Get("Content-Type")
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		if r.URL.Query().Get("answer") == "broken" {
			_, _ = io.WriteString(w, `<Envelope><Body>`)
			return
		}
		_, _ = io.WriteString(w, `<?xml version="1.0"?><Envelope><Body><order id="7"><status>shipped</status></order></Body></Envelope>`)
	}))
	defer up.Close()
	e := start(t, `
version: 1
upstreams:
  - {name: soap, targets: [{url: "UPSTREAM"}]}
apis:
  - name: legacy
    base_path: /legacy
    upstream: soap
    auth: [none]
    routes:
      - name: orders
        path: /orders
        transform:
          convert: json_to_xml
          xml_root: CreateOrder
          response:
            body: {rename: {Body.order: order}, remove: [Body]}
      - name: reverse
        path: /reverse
        transform: {convert: xml_to_json}
`, up.URL)
	resp, body := e.do("POST", "/legacy/orders", hdr("Content-Type", "application/json"), strings.NewReader(`{"sku":"a-1","qty":2}`))
	if resp.StatusCode != 200 || body != `{"order":{"@id":"7","status":"shipped"}}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("client got %d %q (%s)", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	if gotType != "application/xml; charset=utf-8" || gotBody != `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<CreateOrder><qty>2</qty><sku>a-1</sku></CreateOrder>` {
		t.Fatalf("upstream got %q (%s)", gotBody, gotType)
	}
	for _, c := range []struct {
		name, query, body string
		status            int
		code              string
	}{
		{"JSON that cannot be XML", "", `{"1st": true}`, 400, "bad_request"},
		{"malformed JSON", "", `{"sku":`, 400, "bad_request"},
		{"malformed upstream XML", "?answer=broken", `{"sku":"a"}`, 502, "upstream_failed"},
	} {
		resp, body := e.do("POST", "/legacy/orders"+c.query, hdr("Content-Type", "application/json"), strings.NewReader(c.body))
		if resp.StatusCode != c.status || decodeError(t, resp, body).Error.Code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.StatusCode, body, c.status, c.code)
		}
	}
	// An XML client (xml_to_json): malformed XML, or a DTD, is a 400 and
	// never reaches the upstream.
	before := gotBody
	for _, bad := range []string{`<order><sku>a</order>`, `<!DOCTYPE o [<!ENTITY x SYSTEM "file:///etc/passwd">]><o>&x;</o>`} {
		resp, body := e.do("POST", "/legacy/reverse", hdr("Content-Type", "application/xml"), strings.NewReader(bad))
		if resp.StatusCode != 400 || decodeError(t, resp, body).Error.Code != "bad_request" || gotBody != before {
			t.Errorf("XML client sent %q: %d %s", bad, resp.StatusCode, body)
		}
	}
}

// TestTransformWithClaims: header templates read the verified token's
// claims.
func TestTransformWithClaims(t *testing.T) {
	t.Parallel()
	iss := newFileIssuer(t)
	rec := newRecorder(t)
	e := start(t, `
version: 1
upstreams:
  - {name: up, targets: [{url: "UPSTREAM"}]}
auth_policies:
  - {name: idp, type: jwt, jwks_file: "`+iss.file+`", algorithms: [RS256]}
apis:
  - name: api
    base_path: /api
    upstream: up
    auth: [idp]
    routes:
      - name: me
        path: /me
        transform:
          request:
            headers: {set: {X-User-Email: "{{claim.email}}", X-Roles: "{{claim.roles}}"}}
`, rec.srv.URL)
	tok := iss.sign(t, map[string]any{"sub": "ada", "email": "ada@example.com", "roles": []string{"admin", "ops"}})
	if resp, body := e.do("GET", "/api/me", hdr("Authorization", "Bearer "+tok), nil); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got := rec.last(t).Header
	if got.Get("X-User-Email") != "ada@example.com" || got.Get("X-Roles") != "admin,ops" || got.Get("X-Consumer") != "ada" {
		t.Fatalf("upstream headers %v", got)
	}
}
