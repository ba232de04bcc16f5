package openapi

import (
	"fmt"
	"strings"
	"testing"
)

// TestRecursiveSchemasStaySmall: a schema that refers to itself from
// several properties (a tree node with a parent, children and siblings;
// a person with a mother, a father and a spouse) used to be written out
// to the depth limit along every path — 4 self-references made 262,144
// nodes and megabytes on every page view. A reference already being
// written is marked recursive instead, and no schema is written past a
// node budget.
func TestRecursiveSchemasStaySmall(t *testing.T) {
	var props []string
	for _, p := range []string{"parent", "firstChild", "nextSibling", "previousSibling", "owner", "spouse"} {
		props = append(props, fmt.Sprintf("%s: {$ref: '#/components/schemas/Node'}", p))
	}
	doc := `openapi: 3.0.0
info: {title: t}
paths:
  /nodes/{id}:
    get:
      responses:
        "200":
          description: a node
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Node'}
components:
  schemas:
    Node:
      type: object
      properties:
        id: {type: string}
        children: {type: array, items: {$ref: '#/components/schemas/Node'}}
        ` + strings.Join(props, "\n        ") + `
`
	ref, err := ParseReference([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := ref.Ops[0].Responses[0].Content
	if len(c.Schema) > 8<<10 || len(c.Example) > 8<<10 {
		t.Fatalf("schema outline of %d bytes and example of %d: a recursive schema was written out", len(c.Schema), len(c.Example))
	}
	if !strings.Contains(c.Schema, "recursive") || !strings.Contains(c.Schema, `"id": "string"`) {
		t.Errorf("outline does not show the node and mark its recursion:\n%s", c.Schema)
	}
	if !strings.Contains(c.Example, `"id": "string"`) || !strings.Contains(c.Example, `"parent": null`) || !strings.Contains(c.Example, `"children": []`) {
		t.Errorf("example:\n%s", c.Example)
	}
}

// TestWideSchemasAreBounded: a schema that is not recursive but wide and
// deep (each level a hundred properties of the next) is cut at the node
// budget, not written whole.
func TestWideSchemasAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("openapi: 3.0.0\ninfo: {title: t}\npaths:\n  /x:\n    get:\n      responses:\n        \"200\":\n          description: x\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/L0'}\ncomponents:\n  schemas:\n")
	for level := range 6 {
		fmt.Fprintf(&b, "    L%d:\n      type: object\n      properties:\n", level)
		for p := range 100 {
			fmt.Fprintf(&b, "        p%d: {$ref: '#/components/schemas/L%d'}\n", p, level+1)
		}
	}
	b.WriteString("    L6: {type: string}\n")
	ref, err := ParseReference([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	c := ref.Ops[0].Responses[0].Content
	if len(c.Schema) > 1<<20 || len(c.Example) > 1<<20 {
		t.Fatalf("outline of %d bytes, example of %d: 100^6 nodes were not cut", len(c.Schema), len(c.Example))
	}
}
