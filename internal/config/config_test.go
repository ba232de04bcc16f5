package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/invalid")

func testEnv(name string) (string, bool) {
	if name == "ACME_KEY" {
		return "acme-key-0123456789", true
	}
	return "", false
}

func TestLoadValid(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/valid.yaml", testEnv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := c.Consumers[0].APIKeys[0], "acme-key-0123456789"; got != want {
		t.Errorf("interpolated key = %q, want %q", got, want)
	}
	if got, want := c.Upstreams[0].Timeout.D().String(), "10s"; got != want {
		t.Errorf("timeout = %s, want %s", got, want)
	}
	if got := *c.Upstreams[0].Targets[0].Weight; got != 3 {
		t.Errorf("weight = %d, want 3", got)
	}
	if got, want := c.APIs[0].Routes[1].IPAllow, []string{"10.0.0.0/8", "127.0.0.1"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ip_allow = %v, want %v", got, want)
	}
	if c.APIs[0].StripBasePath != nil {
		t.Errorf("strip_base_path = %v, want unset (default true)", *c.APIs[0].StripBasePath)
	}
}

// TestInvalidGolden validates each file in testdata/invalid and compares
// every reported error, with its line and column, to the .golden file.
func TestInvalidGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no test configs found")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			_, err := Load(file, testEnv)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load(%s) = %v, want config.Errors", file, err)
			}
			got := errs.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run go test -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
			for _, e := range errs {
				if !strings.HasPrefix(e.Error(), file+":") {
					t.Errorf("error %q does not start with the file name", e.Error())
				}
			}
		})
	}
}

func TestInterpolate(t *testing.T) {
	t.Parallel()
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"A": "1", "B_2": "two", "EMPTY": ""}[k]
		return v, ok
	}
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "1"},
		{in: "x${A}y${B_2}z", want: "x1ytwoz"},
		{in: "${EMPTY}", want: ""},
		{in: "$${A}", want: "${A}"},
		{in: "cost: $5", want: "cost: $5"},
		{in: "${MISSING}", err: "environment variable MISSING is not set"},
		{in: "${A", err: "unterminated"},
		{in: "${1A}", err: "not a valid environment variable name"},
		{in: "${}", err: "not a valid environment variable name"},
	}
	for _, tt := range tests {
		got, err := Interpolate(tt.in, env)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Interpolate(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Interpolate(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestInterpolationCannotChangeStructure(t *testing.T) {
	t.Parallel()
	env := func(string) (string, bool) { return "x\napis: []\nversion: 9", true }
	f, err := Parse("t.yaml", []byte("version: 1\nconsumers:\n  - name: a\n    api_keys: [\"${K}\"]\n"), env)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := f.Config.Consumers[0].APIKeys[0]; got != "x\napis: []\nversion: 9" {
		t.Fatalf("key = %q, want the variable's value verbatim", got)
	}
	if f.Config.Version != 1 {
		t.Fatalf("version = %d, want 1: the variable changed the document", f.Config.Version)
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	keys := []string{"name", "base_path", "upstream", "routes", "auth", "host"}
	for in, want := range map[string]string{"base_pth": "base_path", "upstrem": "upstream", "rutes": "routes", "colour": "", "Auth": "auth"} {
		if got := suggest(in, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, file := range append(mustGlob(f, "testdata/invalid/*.yaml"), "testdata/valid.yaml") {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data, testEnv)
		if err == nil {
			err = file.Validate()
		}
		if err == nil {
			return
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error %v is not a non-empty config.Errors", err)
		}
		for _, e := range errs {
			if e.Msg == "" || e.File != "fuzz.yaml" {
				t.Fatalf("malformed error %#v", e)
			}
		}
	})
}

func mustGlob(f *testing.F, pattern string) []string {
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		f.Fatalf("no files match %s", pattern)
	}
	return m
}

// TestProductExample decodes the config example of the product brief
// verbatim. Everything in it decodes and validates but for the upstream
// the example leaves out.
func TestProductExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/product_example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("example.yaml", data, testEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := f.Config.Consumers[0].APIKeys[0]; got != "acme-key-0123456789" {
		t.Errorf("api key = %q, want the interpolated ACME_KEY", got)
	}
	if rl := f.Config.APIs[0].Routes[0].RateLimit; len(rl) != 1 || rl[0].Limit != 100 || rl[0].By != "consumer" {
		t.Errorf("rate_limit written as one mapping = %+v, want one limit", rl)
	}
	err = f.Validate()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Validate = %v, want errors", err)
	}
	want := []string{
		`example.yaml:20:19: apis[0].routes[0].upstream: no upstream is named "orders-v2"`,
	}
	if got := strings.Split(errs.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCanonical(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/valid.yaml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Canonical(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), "acme-key-0123456789") {
		t.Fatalf("the canonical document holds an API key in the clear: %s", doc)
	}
	if !strings.Contains(string(doc), `"api_keys":["`+HashKey("acme-key-0123456789")+`"]`) {
		t.Fatalf("the key is not stored as its hash: %s", doc)
	}
	if !strings.Contains(string(doc), `"timeout":"10s"`) {
		t.Fatalf("durations are not written as strings: %s", doc)
	}
	// The canonical document is itself a valid config, whose canonical
	// form is the same bytes: hashes identify configurations.
	f, err := Parse("canonical.json", doc, nil)
	if err != nil {
		t.Fatalf("the canonical document does not parse: %v", err)
	}
	if err := f.Validate(); err != nil {
		t.Fatalf("the canonical document does not validate: %v", err)
	}
	again, _ := Canonical(f.Config)
	if string(again) != string(doc) || ContentHash(again) != ContentHash(doc) {
		t.Fatalf("canonical form is not stable:\n%s\n%s", doc, again)
	}
	if c.Consumers[0].APIKeys[0] != "acme-key-0123456789" {
		t.Fatal("Canonical changed its argument")
	}
}

func TestParseWithoutEnvironmentKeepsVariables(t *testing.T) {
	t.Parallel()
	f, err := Parse("doc.yaml", []byte("version: 1\nconsumers:\n  - name: a\n    api_keys: [\"${SECRET}\", $${X}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Config.Consumers[0].APIKeys; got[0] != "${SECRET}" || got[1] != "$${X}" {
		t.Fatalf("keys = %q; want the text as written", got)
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/valid.yaml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "host: \"\"") || !strings.Contains(string(out), "timeout: 10s") {
		t.Fatalf("YAML output keeps empty fields or loses durations:\n%s", out)
	}
	f, err := Parse("out.yaml", out, testEnv)
	if err != nil {
		t.Fatalf("the YAML output does not parse: %v\n%s", err, out)
	}
	a, _ := Canonical(c)
	b, _ := Canonical(f.Config)
	if string(a) != string(b) {
		t.Fatalf("YAML round trip changed the config:\n%s\n%s", a, b)
	}
}

// TestParseFileInlinesOpenAPI: a portal's OpenAPI file, relative to the
// config file, is read into the configuration when the file is loaded;
// a missing one is an error at its position.
func TestParseFileInlinesOpenAPI(t *testing.T) {
	c, err := Load("testdata/portal/portico.yaml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p := c.APIs[0].Portal
	if p.OpenAPI != "" || !strings.Contains(p.OpenAPIDocument, "operationId: get-order") || !p.Visible(false) {
		t.Fatalf("portal after loading: %+v", p)
	}
	data, _ := os.ReadFile("testdata/portal/portico.yaml")
	_, err = ParseFile("testdata/portal/elsewhere/portico.yaml", data, testEnv)
	if err == nil || !strings.Contains(err.Error(), "portico.yaml:17:16: apis[0].portal.openapi: cannot read specs/orders.yaml") {
		t.Fatalf("a missing OpenAPI file: %v", err)
	}
}

// TestOpenAPIPathOutsideAFile: a document sent to the admin API cannot
// name a file on the server.
func TestOpenAPIPathOutsideAFile(t *testing.T) {
	data, _ := os.ReadFile("testdata/portal/portico.yaml")
	f, err := Parse("draft", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "apis[0].portal.openapi: names a file") {
		t.Fatalf("openapi path in a draft: %v", err)
	}
}

// TestSandboxPathIsReserved: while an API of the portal has a sandbox, no
// API may be mapped under /sandbox/.
func TestSandboxPathIsReserved(t *testing.T) {
	data, _ := os.ReadFile("testdata/portal/portico.yaml")
	doc := strings.Replace(string(data), "    base_path: /orders\n", "    base_path: /sandbox/orders\n", 1)
	p := t.TempDir() + "/portico.yaml"
	_ = os.WriteFile(p, []byte(doc), 0o600)
	_ = os.MkdirAll(filepath.Dir(p)+"/specs", 0o750)
	spec, _ := os.ReadFile("testdata/portal/specs/orders.yaml")
	_ = os.WriteFile(filepath.Dir(p)+"/specs/orders.yaml", spec, 0o600)
	if _, err := Load(p, testEnv); err == nil || !strings.Contains(err.Error(), "apis[0].base_path: /sandbox/ is where the portal's sandboxes are served") {
		t.Fatalf("an API under /sandbox/: %v", err)
	}
}

// aliasBomb is a config of n APIs sharing, through one YAML alias, a list
// of n routes that share one list of n methods: a few tens of kilobytes
// that expand to n³ values.
func aliasBomb(n int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nupstreams:\n  - name: u\n    targets: [{url: \"http://127.0.0.1:1\"}]\napis:\n")
	b.WriteString("  - name: a0\n    base_path: /a0\n    upstream: u\n    auth: [none]\n    routes: &r\n")
	b.WriteString("      - {name: r0, path: /r0, methods: &m [" + strings.TrimSuffix(strings.Repeat("GET,", n), ",") + "]}\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "      - {name: r%d, path: /r%d, methods: *m}\n", i, i)
	}
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  - {name: a%d, base_path: /a%d, upstream: u, auth: [none], routes: *r}\n", i, i)
	}
	return []byte(b.String())
}

func TestAliasesCannotMultiplyTheDocument(t *testing.T) {
	t.Parallel()
	doc := aliasBomb(300)
	// Before the bound this took 32 s and 4 GB; with it, the decoder stops
	// at the alias that crosses it.
	_, err := Parse("bomb.yaml", doc, testEnv)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Parse of a %d-byte alias bomb: %v; want Errors", len(doc), err)
	}
	found := false
	for _, e := range es {
		if strings.Contains(e.Msg, "YAML aliases expand the config by more than") {
			found = true
			if e.Pos.Line < 6 {
				t.Errorf("the error points at line %d; want the alias that crossed the bound", e.Pos.Line)
			}
		}
	}
	if !found || len(es) > 100 {
		t.Fatalf("%d errors, want the alias bound among a few:\n%v", len(es), err)
	}
	// The same through the admin API's entity decoder.
	var api API
	err = ParseInto("api.yaml", []byte("name: a\nbase_path: /a\nupstream: u\nauth: [none]\nroutes: &r\n"+
		"  - {name: r0, path: /r0, methods: &m ["+strings.TrimSuffix(strings.Repeat("GET,", 1000), ",")+"]}\n"+
		strings.Repeat("  - {name: r, path: /r, methods: *m}\n", 1000)), &api)
	if err == nil || !strings.Contains(err.Error(), "YAML aliases expand") {
		t.Fatalf("ParseInto of a million aliased methods: %v", err)
	}
}

func TestAliasesWithinTheBoundDecode(t *testing.T) {
	t.Parallel()
	// A shared list is the alias's ordinary use: 10 APIs sharing 10
	// routes that share one list of methods.
	f, err := Parse("shared.yaml", aliasBomb(10), testEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(f.Config.APIs) != 10 || len(f.Config.APIs[9].Routes) != 10 || len(f.Config.APIs[9].Routes[9].Methods) != 10 {
		t.Fatalf("decoded %d APIs; want 10 of 10 routes of 10 methods each", len(f.Config.APIs))
	}
}

func TestProblemsStopAtTheCap(t *testing.T) {
	t.Parallel()
	check := func(what string, err error) {
		t.Helper()
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("%s: %v; want Errors", what, err)
		}
		if len(es) != maxErrors+1 || es[len(es)-1].Msg != tooMany {
			t.Fatalf("%s: %d errors ending %q; want %d and the note", what, len(es), es[len(es)-1].Msg, maxErrors+1)
		}
	}
	// Decoding: two hundred thousand values of the wrong type.
	_, err := Parse("wide.yaml", []byte("version: 1\nconsumers: ["+strings.TrimSuffix(strings.Repeat("1,", 200_000), ",")+"]\n"), testEnv)
	check("decoding", err)
	// Validation: five thousand consumers with bad names.
	var b strings.Builder
	b.WriteString("version: 1\nconsumers:\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "  - {name: \"-bad%d\"}\n", i)
	}
	f, err := Parse("names.yaml", []byte(b.String()), testEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	check("validation", f.Validate())
}

// TestAppPrefixIsReserved: consumers named app_… are the developer
// portal's applications, which the gateway confines to the portal's APIs;
// the config may not name one so.
func TestAppPrefixIsReserved(t *testing.T) {
	t.Parallel()
	f, err := Parse("c.yaml", []byte("version: 1\nconsumers:\n  - name: app_7\n    api_keys: [app-key-0123456789]\n"), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "developer portal's applications") {
		t.Fatalf("a consumer named app_7: %v", err)
	}
}
