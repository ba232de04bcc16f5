package openapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file reads an OpenAPI 3 document into what the portal's reference
// page shows, and what the sandbox answers: operations with their parameters, request bodies and responses,
// schemas written out as JSON-like outlines, and examples — the ones the
// document gives, or ones generated from the schemas. Local "$ref"s
// (#/components/…) are followed; anything else is shown as the reference.

// Reference is an OpenAPI document as the portal shows it.
type Reference struct {
	Title, Version, Description string
	Servers                     []string
	Ops                         []Operation
}

// Operation is one method on one path.
type Operation struct {
	Method, Path, ID, Summary, Description string
	Params                                 []Parameter
	Body                                   *Content
	Responses                              []Response
}

// Parameter is an operation's parameter.
type Parameter struct {
	Name, In, Type, Description string
	Required                    bool
}

// Content is a request or response body: its media type, schema outline
// and example (JSON).
type Content struct {
	Type    string
	Schema  string
	Example string
	// Value is the example before it was written out.
	Value any
}

// Response is one documented response.
type Response struct {
	Code, Description string
	Content           *Content
}

var docMethods = []string{"get", "post", "put", "patch", "delete", "head", "options"}

// maxDepth bounds how deep schemas are followed (a recursive schema ends
// there).
const maxDepth = 8

// ParseReference reads an OpenAPI 3 document (YAML or JSON).
func ParseReference(data []byte) (*Reference, error) {
	var root map[string]any
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("the OpenAPI document does not parse: %w", err)
	}
	if v, _ := root["openapi"].(string); !strings.HasPrefix(v, "3.") {
		return nil, errors.New("not an OpenAPI 3 document")
	}
	r := &resolver{root: root}
	d := &Reference{}
	if info, ok := root["info"].(map[string]any); ok {
		d.Title, d.Version, d.Description = str(info["title"]), str(info["version"]), str(info["description"])
	}
	for _, s := range list(root["servers"]) {
		if m, ok := s.(map[string]any); ok {
			d.Servers = append(d.Servers, str(m["url"]))
		}
	}
	paths, _ := root["paths"].(map[string]any)
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, path := range keys {
		item, _ := r.deref(paths[path]).(map[string]any)
		shared := list(item["parameters"])
		for _, m := range docMethods {
			raw, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			op := Operation{Method: strings.ToUpper(m), Path: path, ID: str(raw["operationId"]), Summary: str(raw["summary"]), Description: str(raw["description"])}
			for _, p := range append(slices.Clone(shared), list(raw["parameters"])...) {
				pm, _ := r.deref(p).(map[string]any)
				if pm == nil {
					continue
				}
				sch, _ := r.deref(pm["schema"]).(map[string]any)
				req, _ := pm["required"].(bool)
				op.Params = append(op.Params, Parameter{Name: str(pm["name"]), In: str(pm["in"]), Type: str(sch["type"]),
					Description: str(pm["description"]), Required: req})
			}
			if rb, ok := r.deref(raw["requestBody"]).(map[string]any); ok {
				op.Body = r.content(rb["content"])
			}
			resps, _ := raw["responses"].(map[string]any)
			codes := make([]string, 0, len(resps))
			for c := range resps {
				codes = append(codes, c)
			}
			sort.Strings(codes)
			for _, c := range codes {
				rm, _ := r.deref(resps[c]).(map[string]any)
				op.Responses = append(op.Responses, Response{Code: c, Description: str(rm["description"]), Content: r.content(rm["content"])})
			}
			d.Ops = append(d.Ops, op)
		}
	}
	return d, nil
}

type resolver struct {
	root map[string]any
	// left is how many more schema nodes the outline or example being
	// written may have (maxNodes each); open are the local $refs being
	// written, outermost first. A schema that refers to itself is marked
	// where it recurs, and no schema is written past the budget: written
	// out to maxDepth along every path, a node with seven self-references
	// was some 7^9 nodes, and every portal page view wrote them.
	left int
	open []string
}

// maxNodes bounds the nodes of one schema outline or example.
const maxNodes = 2000

// enter records that the schema v is being written: false when the
// budget is spent or v is a reference already being written (then leave
// is not to be called).
func (r *resolver) enter(v any) (ok, recursive bool) {
	if r.left <= 0 {
		return false, false
	}
	r.left--
	ref := refOf(v)
	if ref == "" {
		r.open = append(r.open, "")
		return true, false
	}
	if slices.Contains(r.open, ref) {
		return false, true
	}
	r.open = append(r.open, ref)
	return true, false
}

func (r *resolver) leave() { r.open = r.open[:len(r.open)-1] }

// refOf is v's local $ref, or "".
func refOf(v any) string {
	m, _ := v.(map[string]any)
	ref, _ := m["$ref"].(string)
	if !strings.HasPrefix(ref, "#/") {
		return ""
	}
	return ref
}

// deref follows a local $ref (a few times, for chains).
func (r *resolver) deref(v any) any {
	for range maxDepth {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		ref, ok := m["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#/") {
			return v
		}
		var cur any = r.root
		for _, part := range strings.Split(ref[2:], "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			cm, ok := cur.(map[string]any)
			if !ok {
				return v
			}
			cur = cm[part]
		}
		v = cur
	}
	return v
}

// content picks a media type (JSON first) and describes it.
func (r *resolver) content(v any) *Content {
	m, _ := v.(map[string]any)
	if len(m) == 0 {
		return nil
	}
	types := make([]string, 0, len(m))
	for t := range m {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		ji, jj := strings.Contains(types[i], "json"), strings.Contains(types[j], "json")
		if ji != jj {
			return ji
		}
		return types[i] < types[j]
	})
	mt, _ := m[types[0]].(map[string]any)
	c := &Content{Type: types[0]}
	schema := mt["schema"]
	if r.deref(schema) != nil {
		r.left = maxNodes
		c.Schema = pretty(r.outline(schema, 0))
	}
	r.left = maxNodes
	ex, ok := r.example(mt, schema)
	if ok {
		c.Value = normalize(ex)
		c.Example = pretty(ex)
	}
	return c
}

// example returns the media type's example, its first named example, or
// one generated from its schema.
func (r *resolver) example(mt map[string]any, schema any) (any, bool) {
	if ex, ok := mt["example"]; ok {
		return ex, true
	}
	if exs, ok := mt["examples"].(map[string]any); ok && len(exs) > 0 {
		names := make([]string, 0, len(exs))
		for n := range exs {
			names = append(names, n)
		}
		sort.Strings(names)
		if e, ok := r.deref(exs[names[0]]).(map[string]any); ok {
			if v, ok := e["value"]; ok {
				return v, true
			}
		}
	}
	if schema != nil {
		return r.generate(schema, 0), true
	}
	return nil, false
}

// generate makes a value that fits schema: its example or default, the
// first enum value, or a placeholder of its type.
func (r *resolver) generate(v any, depth int) any {
	if depth > maxDepth {
		return nil
	}
	if ok, _ := r.enter(v); !ok {
		return nil // a recursion, or the budget spent: null
	}
	defer r.leave()
	s, _ := r.deref(v).(map[string]any)
	if s == nil {
		return nil
	}
	if ex, ok := s["example"]; ok {
		return ex
	}
	if d, ok := s["default"]; ok {
		return d
	}
	if e := list(s["enum"]); len(e) > 0 {
		return e[0]
	}
	for _, k := range []string{"allOf", "oneOf", "anyOf"} {
		if alts := list(s[k]); len(alts) > 0 {
			if k == "allOf" {
				out := map[string]any{}
				for _, a := range alts {
					if m, ok := r.generate(a, depth+1).(map[string]any); ok {
						for kk, vv := range m {
							out[kk] = vv
						}
					}
				}
				return out
			}
			return r.generate(alts[0], depth+1)
		}
	}
	switch t := str(s["type"]); {
	case t == "object" || s["properties"] != nil:
		out := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		for name, ps := range props {
			out[name] = r.generate(ps, depth+1)
		}
		return out
	case t == "array":
		if item := r.generate(s["items"], depth+1); item != nil {
			return []any{item}
		}
		return []any{} // of a recursive or unknown item: empty, not [null]
	case t == "integer":
		return 0
	case t == "number":
		return 0.0
	case t == "boolean":
		return true
	case t == "string":
		switch str(s["format"]) {
		case "date-time":
			return "2026-01-01T00:00:00Z"
		case "date":
			return "2026-01-01"
		case "email":
			return "user@example.com"
		case "uuid":
			return "00000000-0000-0000-0000-000000000000"
		}
		return "string"
	}
	return nil
}

// outline writes a schema as a value whose leaves name their types.
func (r *resolver) outline(v any, depth int) any {
	if depth > maxDepth {
		return "…"
	}
	ok, recursive := r.enter(v)
	switch {
	case recursive:
		ref := refOf(v)
		return "… (" + ref[strings.LastIndexByte(ref, '/')+1:] + ", recursive)"
	case !ok:
		return "…"
	}
	defer r.leave()
	s, _ := r.deref(v).(map[string]any)
	if s == nil {
		return nil
	}
	switch t := str(s["type"]); {
	case t == "object" || s["properties"] != nil:
		out := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		req := list(s["required"])
		for name, ps := range props {
			key := name
			if slices.Contains(req, any(name)) {
				key += " (required)"
			}
			out[key] = r.outline(ps, depth+1)
		}
		return out
	case t == "array":
		return []any{r.outline(s["items"], depth+1)}
	default:
		label := t
		if f := str(s["format"]); f != "" {
			label += " (" + f + ")"
		}
		if e := list(s["enum"]); len(e) > 0 {
			label += " one of " + fmt.Sprint(e...)
		}
		if label == "" {
			label = "any"
		}
		return label
	}
}

func pretty(v any) string {
	b, err := json.MarshalIndent(normalize(v), "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// normalize turns YAML's map[any]any (should any appear) into JSON-able maps.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, vv := range t {
			out[k] = normalize(vv)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, vv := range t {
			out[fmt.Sprint(k)] = normalize(vv)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, vv := range t {
			out[i] = normalize(vv)
		}
		return out
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}
