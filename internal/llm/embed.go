package llm

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/proxy"
)

// This file translates OpenAI's embeddings endpoint to Gemini's
// batchEmbedContents and to Bedrock's embedding models. Gemini reports no
// token counts for embeddings: the input is counted with the tokenizer,
// and the record marked estimated. Bedrock's models are called through
// InvokeModel, each in its own format: Titan's takes one text per call (a
// list is sent as one call per text, in turn), Cohere's a list; both
// report the input's tokens.

type embedRequest struct {
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     int             `json:"dimensions"`
}

// embedInputs reads input: a string or a list of strings (lists of
// tokens cannot be translated).
func embedInputs(raw json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil || len(many) == 0 {
		return nil, errors.New("input must be a string or a list of strings (token lists cannot be translated)")
	}
	return many, nil
}

// readEmbedRequest reads an embeddings request and its inputs.
func readEmbedRequest(body []byte) (embedRequest, []string, error) {
	var r embedRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return r, nil, err
	}
	inputs, err := embedInputs(r.Input)
	return r, inputs, err
}

// geminiEmbedRequest writes a batchEmbedContents request for model.
func geminiEmbedRequest(body []byte, model string) (string, []byte, error) {
	r, inputs, err := readEmbedRequest(body)
	if err != nil {
		return "", nil, err
	}
	type content struct {
		Parts []map[string]string `json:"parts"`
	}
	type one struct {
		Model                string  `json:"model"`
		Content              content `json:"content"`
		OutputDimensionality int     `json:"outputDimensionality,omitempty"`
	}
	out := struct {
		Requests []one `json:"requests"`
	}{}
	for _, in := range inputs {
		out.Requests = append(out.Requests, one{Model: "models/" + model, Content: content{Parts: []map[string]string{{"text": in}}},
			OutputDimensionality: r.Dimensions})
	}
	return "/models/" + model + ":batchEmbedContents", mustJSON(out), nil
}

// geminiEmbeddings answers with Gemini's embeddings in OpenAI's format,
// metered with the tokenizer's count of the input.
func (c *call) geminiEmbeddings(resp *http.Response, model string) error {
	body, done, err := c.wholeAnswer(resp)
	if done {
		return err
	}
	var g struct {
		Embeddings []struct {
			Values []float64 `json:"values"`
		} `json:"embeddings"`
	}
	if json.Unmarshal(body, &g) != nil {
		return &pipeline.Error{Status: http.StatusBadGateway, Code: "llm_bad_answer", Message: "the provider's answer could not be read"}
	}
	vectors := make([][]float64, 0, len(g.Embeddings))
	for _, e := range g.Embeddings {
		vectors = append(vectors, e.Values)
	}
	r, inputs, _ := readEmbedRequest(c.body) // valid: written into the call already
	tokens := countInputs(inputs)
	c.e.estimate(c.x, model, usage{PromptTokens: tokens}, nil, "")
	return c.writeEmbeddings(vectors, r.EncodingFormat, model, tokens)
}

// writeEmbeddings answers with vectors in OpenAI's format: floats, or
// base64 of little-endian float32 when the client asked for
// encoding_format base64 (as OpenAI's SDKs do by default).
func (c *call) writeEmbeddings(vectors [][]float64, encoding, model string, tokens int64) error {
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	data := make([]item, 0, len(vectors))
	for i, values := range vectors {
		var v any = values
		if strings.EqualFold(encoding, "base64") {
			buf := make([]byte, 4*len(values))
			for j, f := range values {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(f)))
			}
			v = base64.StdEncoding.EncodeToString(buf)
		}
		data = append(data, item{Object: "embedding", Index: i, Embedding: v})
	}
	_, name, _ := strings.Cut(model, "/")
	out := mustJSON(map[string]any{"object": "list", "data": data, "model": name,
		"usage": map[string]int64{"prompt_tokens": tokens, "total_tokens": tokens}})
	if _, err := c.w.Write(out); err != nil {
		return proxy.ErrClientGone
	}
	return nil
}

// cohereEmbed says whether a Bedrock model id is one of Cohere's embedding
// models (the others are taken for Titan's).
func cohereEmbed(model string) bool { return strings.Contains(model, "cohere.embed") }

// bedrockEmbedRequest writes the InvokeModel request that embeds input i
// (Titan) or every input (Cohere).
func bedrockEmbedRequest(body []byte, model string, i int) (string, []byte, error) {
	r, inputs, err := readEmbedRequest(body)
	if err != nil {
		return "", nil, err
	}
	path := "/model/" + url.PathEscape(model) + "/invoke"
	if cohereEmbed(model) {
		return path, mustJSON(map[string]any{"texts": inputs, "input_type": "search_document"}), nil
	}
	req := map[string]any{"inputText": inputs[i]}
	if r.Dimensions > 0 {
		req["dimensions"] = r.Dimensions
	}
	return path, mustJSON(req), nil
}

// bedrockEmbeddings reads a Bedrock embedding model's answer — and, for
// Titan and a list of inputs, calls it again for each further input — and
// answers in OpenAI's format, metered with the tokens Bedrock reported.
func (c *call) bedrockEmbeddings(resp *http.Response, t *target, model string) error {
	r, inputs, _ := readEmbedRequest(c.body) // valid: written into the call already
	var vectors [][]float64
	var tokens int64
	reported := true
	for i := 0; ; i++ {
		body, done, err := c.wholeAnswer(resp)
		_ = resp.Body.Close()
		if done {
			return err
		}
		var a struct {
			Embedding  []float64   `json:"embedding"`           // Titan
			Tokens     *int64      `json:"inputTextTokenCount"` // Titan
			Embeddings [][]float64 `json:"embeddings"`          // Cohere
		}
		if json.Unmarshal(body, &a) != nil || a.Embedding == nil && a.Embeddings == nil {
			return &pipeline.Error{Status: http.StatusBadGateway, Code: "llm_bad_answer", Message: "the provider's answer could not be read"}
		}
		if a.Embedding != nil {
			vectors = append(vectors, a.Embedding)
		}
		vectors = append(vectors, a.Embeddings...)
		if n, err := strconv.ParseInt(resp.Header.Get("X-Amzn-Bedrock-Input-Token-Count"), 10, 64); err == nil {
			tokens += n
		} else if a.Tokens != nil {
			tokens += *a.Tokens
		} else {
			reported = false
		}
		if cohereEmbed(t.model) || i+1 >= len(inputs) {
			break
		}
		path, out, _ := bedrockEmbedRequest(c.body, t.model, i+1)
		if resp, err = t.p.call(c.r.Context(), path, out, c.r.Header); err != nil {
			if c.r.Context().Err() != nil {
				return proxy.ErrClientGone
			}
			return &pipeline.Error{Status: http.StatusBadGateway, Code: "llm_bad_answer", Message: "the provider failed in the middle of the inputs"}
		}
	}
	if len(vectors) != len(inputs) {
		return &pipeline.Error{Status: http.StatusBadGateway, Code: "llm_bad_answer", Message: "the provider's answer has not one vector per input"}
	}
	if reported {
		c.e.meter(c.x, model, &usage{PromptTokens: tokens})
	} else {
		tokens = countInputs(inputs)
		c.e.estimate(c.x, model, usage{PromptTokens: tokens}, nil, "")
	}
	return c.writeEmbeddings(vectors, r.EncodingFormat, model, tokens)
}
