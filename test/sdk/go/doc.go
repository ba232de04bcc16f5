// Package sdk runs the official LLM SDKs — OpenAI's and Anthropic's, for Go
// and for Node — against Portico's LLM gateway in front of the mock
// providers of internal/llm/llmtest: the conformance matrix of the LLM
// gateway. It is a module of its own so that the SDKs stay out of
// Portico's dependencies.
package sdk
