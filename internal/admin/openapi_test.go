package admin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portico-gw/portico/internal/admin"
	"github.com/portico-gw/portico/internal/telemetry"
)

// responses records every JSON response the tests received.
type responses struct {
	mu   sync.Mutex
	list []recorded
}

type recorded struct {
	method, path string
	status       int
	body         map[string]any
}

func (r *responses) add(method, path string, status int, body map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, recorded{method, path, status, body})
}

var sharedResponses = &responses{}

// TestMain runs the tests, then checks what they received against the
// OpenAPI document the server serves: each response's status must be
// documented for its operation and its body must fit the schema, and each
// documented operation must have been exercised.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && !testing.Short() {
		if problems := checkOpenAPI(); len(problems) > 0 {
			fmt.Println("--- FAIL: the admin API does not match its OpenAPI document:")
			for _, p := range problems {
				fmt.Println("    " + p)
			}
			code = 1
		}
	}
	os.Exit(code)
}

func serveDoc() map[string]any {
	var ready atomic.Bool
	srv := httptest.NewServer(admin.Handler(telemetry.NewMetrics(), &ready, &admin.API{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/admin/v1/openapi.json")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		panic(err)
	}
	return doc
}

func checkOpenAPI() []string {
	doc := serveDoc()
	paths := doc["paths"].(map[string]any)
	type op struct {
		method, template string
		re               *regexp.Regexp
		responses        map[string]any
	}
	var ops []op
	for tmpl, item := range paths {
		for method, v := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			ops = append(ops, op{strings.ToUpper(method), tmpl, regexp.MustCompile("^" + pathPattern(tmpl) + "$"), v.(map[string]any)["responses"].(map[string]any)})
		}
	}
	var problems []string
	exercised := map[string]bool{}
	sharedResponses.mu.Lock()
	defer sharedResponses.mu.Unlock()
	for _, r := range sharedResponses.list {
		var found *op
		for i := range ops {
			if ops[i].method == r.method && ops[i].re.MatchString(r.path) {
				found = &ops[i]
			}
		}
		if found == nil {
			if r.status != 404 {
				problems = append(problems, fmt.Sprintf("%s %s (%d) is not documented", r.method, r.path, r.status))
			}
			continue
		}
		exercised[found.method+" "+found.template] = true
		resp, ok := found.responses[strconv.Itoa(r.status)]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s %s answered %d, which is not documented", r.method, found.template, r.status))
			continue
		}
		schema := responseSchema(doc, resp)
		if schema == nil || r.body == nil {
			continue // no body, or not JSON (YAML documents)
		}
		for _, p := range checkSchema(doc, schema, r.body, "body") {
			problems = append(problems, fmt.Sprintf("%s %s %d: %s", r.method, found.template, r.status, p))
		}
	}
	for _, o := range ops {
		if !exercised[o.method+" "+o.template] && o.template != "/admin/v1/openapi.json" {
			problems = append(problems, fmt.Sprintf("%s %s is documented but no test called it", o.method, o.template))
		}
	}
	slices.Sort(problems)
	return slices.Compact(problems)
}

func pathPattern(tmpl string) string {
	return regexp.MustCompile(`\\\{[a-z]+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), `[^/]+`)
}

func resolve(doc, v map[string]any) map[string]any {
	for {
		ref, ok := v["$ref"].(string)
		if !ok {
			return v
		}
		cur := any(doc)
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(map[string]any)[part]
		}
		v = cur.(map[string]any)
	}
}

func responseSchema(doc map[string]any, resp any) map[string]any {
	r := resolve(doc, resp.(map[string]any))
	content, ok := r["content"].(map[string]any)
	if !ok {
		return nil
	}
	media, ok := content["application/json"].(map[string]any)
	if !ok {
		return nil
	}
	s, _ := media["schema"].(map[string]any)
	return s
}

// checkSchema checks v against the parts of JSON Schema the document uses:
// $ref, allOf, type (one or a list), required, properties, items, enum.
func checkSchema(doc, schema map[string]any, v any, at string) []string {
	schema = resolve(doc, schema)
	var problems []string
	if all, ok := schema["allOf"].([]any); ok {
		for _, s := range all {
			problems = append(problems, checkSchema(doc, s.(map[string]any), v, at)...)
		}
	}
	if t, ok := schema["type"]; ok && !typeMatches(t, v) {
		return append(problems, fmt.Sprintf("%s: %T does not match type %v", at, v, t))
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		problems = append(problems, fmt.Sprintf("%s: %v is not one of %v", at, v, enum))
	}
	if obj, ok := v.(map[string]any); ok {
		if req, ok := schema["required"].([]any); ok {
			for _, k := range req {
				if _, ok := obj[k.(string)]; !ok {
					problems = append(problems, fmt.Sprintf("%s: required %q is missing", at, k))
				}
			}
		}
		if props, ok := schema["properties"].(map[string]any); ok {
			for k, s := range props {
				if val, ok := obj[k]; ok {
					problems = append(problems, checkSchema(doc, s.(map[string]any), val, at+"."+k)...)
				}
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := schema["items"].(map[string]any); ok {
			for i, item := range arr {
				problems = append(problems, checkSchema(doc, items, item, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return problems
}

func typeMatches(t, v any) bool {
	if list, ok := t.([]any); ok {
		for _, one := range list {
			if typeMatches(one, v) {
				return true
			}
		}
		return false
	}
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	case "number":
		_, ok := v.(float64)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	}
	return true
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	doc := serveDoc()
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v", doc["openapi"])
	}
	// Every path of the product's fixed admin surface that this version
	// serves is documented.
	for _, p := range []string{
		"/admin/v1/groups/{group}/draft", "/admin/v1/groups/{group}/draft/validate", "/admin/v1/groups/{group}/revisions",
		"/admin/v1/groups/{group}/revisions/{n}", "/admin/v1/groups/{group}/revisions/{n}/diff",
		"/admin/v1/groups/{group}/revisions/{n}/rollback", "/admin/v1/tokens", "/admin/v1/audit", "/admin/v1/openapi.json",
	} {
		if _, ok := doc["paths"].(map[string]any)[p]; !ok {
			t.Errorf("%s is not documented", p)
		}
	}
}
