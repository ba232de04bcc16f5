package llm

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"

	"github.com/portico-gw/portico/internal/pipeline"
	"github.com/portico-gw/portico/internal/proxy"
)

// This file translates OpenAI's embeddings endpoint to Gemini's
// batchEmbedContents. Gemini reports no token counts for embeddings: the
// input is counted with the tokenizer, and the record marked estimated.

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

// geminiEmbedRequest writes a batchEmbedContents request for model.
func geminiEmbedRequest(body []byte, model string) (string, []byte, error) {
	var r embedRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return "", nil, err
	}
	inputs, err := embedInputs(r.Input)
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

// geminiEmbeddings answers with Gemini's embeddings in OpenAI's format:
// floats, or base64 of little-endian float32 when the client asked for
// encoding_format base64 (as OpenAI's SDKs do by default).
func (c *call) geminiEmbeddings(resp *http.Response, model string) error {
	w, x := c.w, c.x
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
	var r embedRequest
	_ = json.Unmarshal(c.body, &r)
	inputs, _ := embedInputs(r.Input)
	tokens := int64(0)
	for _, in := range inputs {
		tokens += countTokens(in)
	}
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	data := make([]item, 0, len(g.Embeddings))
	for i, e := range g.Embeddings {
		var v any = e.Values
		if strings.EqualFold(r.EncodingFormat, "base64") {
			buf := make([]byte, 4*len(e.Values))
			for j, f := range e.Values {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(f)))
			}
			v = base64.StdEncoding.EncodeToString(buf)
		}
		data = append(data, item{Object: "embedding", Index: i, Embedding: v})
	}
	_, name, _ := strings.Cut(model, "/")
	out := mustJSON(map[string]any{"object": "list", "data": data, "model": name,
		"usage": map[string]int64{"prompt_tokens": tokens, "total_tokens": tokens}})
	c.e.estimate(x, model, usage{PromptTokens: tokens}, nil, "")
	if _, err := w.Write(out); err != nil {
		return proxy.ErrClientGone
	}
	return nil
}
