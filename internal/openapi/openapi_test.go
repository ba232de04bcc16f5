package openapi

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/config"
)

func TestImportPetstore(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/petstore.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Import(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := res.API
	if a.Name != "swagger-petstore" || a.BasePath != "/swagger-petstore" || a.Upstream != "swagger-petstore-upstream" || strings.Join(a.Auth, ",") != "api_key" {
		t.Fatalf("API %+v", a)
	}
	if res.Upstream == nil || res.Upstream.Targets[0].URL != "https://petstore.example.com/v1" {
		t.Fatalf("upstream %+v", res.Upstream)
	}
	got, _ := json.Marshal(a.Routes)
	want := `[{"name":"listpets","methods":["GET"],"path":"/pets","auth":["none"]},` +
		`{"name":"createpets","methods":["POST"],"path":"/pets","auth":["swagger-petstore-partnerkey"]},` +
		`{"name":"showpetbyid","methods":["GET"],"path":"/pets/{petId}"},` +
		`{"name":"delete-pets-petid","methods":["DELETE"],"path":"/pets/{petId}"}]`
	if string(got) != want {
		t.Fatalf("routes:\n got %s\nwant %s", got, want)
	}
	if len(res.AuthPolicies) != 1 || res.AuthPolicies[0].Header != "X-Partner-Key" {
		t.Errorf("auth policies %+v", res.AuthPolicies)
	}
	warnings := strings.Join(res.Warnings, "\n")
	for _, w := range []string{"bearerAuth", "/pets/{petId}.json is skipped"} {
		if !strings.Contains(warnings, w) {
			t.Errorf("no warning about %s in:\n%s", w, warnings)
		}
	}
	// The result is a valid configuration.
	c := &config.Config{Version: 1, Upstreams: []config.Upstream{*res.Upstream}, APIs: []config.API{a}, AuthPolicies: res.AuthPolicies}
	if err := config.Validate("import", c); err != nil {
		t.Fatalf("the import does not validate: %v", err)
	}
}

func TestImportRefuses(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		`swagger: "2.0"`,
		`openapi: 3.0.0`,
		"openapi: 3.0.0\ninfo: {title: x}\npaths: {/a: {get: {}}}\n",                              // no servers, no upstream
		"openapi: 3.0.0\ninfo: {title: x}\nservers: [{url: /relative}]\npaths: {/a: {get: {}}}\n", // relative server
		"not: [valid",
	} {
		if _, err := Import([]byte(doc), Options{}); err == nil {
			t.Errorf("%q was imported", doc)
		}
	}
	res, err := Import([]byte("openapi: 3.1.0\ninfo: {title: x}\npaths: {/a: {get: {}}}\n"), Options{Name: "x", Upstream: "existing"})
	if err != nil || res.Upstream != nil || res.API.Upstream != "existing" || res.API.Auth[0] != "api_key" {
		t.Fatalf("import onto an existing upstream: %+v, %v", res, err)
	}
}

func FuzzImport(f *testing.F) {
	data, _ := os.ReadFile("testdata/petstore.yaml")
	f.Add(data)
	f.Add([]byte(`{"openapi":"3.0.0","info":{"title":"t"},"servers":[{"url":"http://h"}],"paths":{"/{a}/{b}":{"get":{}}}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		res, err := Import(doc, Options{})
		if err != nil {
			return
		}
		c := &config.Config{Version: 1, APIs: []config.API{res.API}, AuthPolicies: res.AuthPolicies}
		if res.Upstream != nil {
			c.Upstreams = []config.Upstream{*res.Upstream}
		}
		for _, r := range res.API.Routes {
			if r.Path != "" && !strings.HasPrefix(r.Path, "/") || r.Name == "" { // "" is the base path itself
				t.Fatalf("route %+v", r)
			}
		}
		_ = config.Validate("fuzz", c) // may fail (names, conflicts) but must not panic
	})
}
