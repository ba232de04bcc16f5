package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsLLMExample: the LLM gateway's example in docs/llm.md is a valid
// config (with every ${VARIABLE} set).
func TestDocsLLMExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/llm.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/llm.md has no yaml block")
	}
	cfg := "version: 1\nconsumers:\n  - {name: acme, plan: gold, api_keys: [acme-key-0123456789]}\n" + block
	f, err := Parse("docs/llm.md", []byte(cfg), func(string) (string, bool) { return "secret", true })
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		t.Fatalf("the example does not validate:\n%v", err)
	}
}
