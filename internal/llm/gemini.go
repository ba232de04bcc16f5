package llm

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path"
	"strconv"
	"strings"
)

// This file is Google's Gemini generateContent format, as a provider:
// requests to it, its answers and stream chunks to the neutral form.

type gemPart struct {
	Text         string   `json:"text,omitempty"`
	Thought      bool     `json:"thought,omitempty"`
	InlineData   *gemBlob `json:"inlineData,omitempty"`
	FileData     *gemFile `json:"fileData,omitempty"`
	FunctionCall *struct {
		ID   string          `json:"id,omitempty"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall,omitempty"`
	FunctionResponse *struct {
		ID       string          `json:"id,omitempty"`
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse,omitempty"`
}

type gemBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type gemFile struct {
	MimeType string `json:"mimeType"`
	FileURI  string `json:"fileUri"`
}

type gemContent struct {
	Role  string    `json:"role,omitempty"`
	Parts []gemPart `json:"parts"`
}

// geminiPath is the path of model's method.
func geminiPath(model string, stream bool) string {
	if stream {
		return "/models/" + model + ":streamGenerateContent?alt=sse"
	}
	return "/models/" + model + ":generateContent"
}

// encodeGemini writes a generateContent request (the model is in the
// path).
func encodeGemini(c *chat) []byte {
	type decl struct {
		Name                 string          `json:"name"`
		Description          string          `json:"description,omitempty"`
		ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
	}
	type genConfig struct {
		MaxOutputTokens    int64           `json:"maxOutputTokens,omitempty"`
		Temperature        json.RawMessage `json:"temperature,omitempty"`
		TopP               json.RawMessage `json:"topP,omitempty"`
		StopSequences      []string        `json:"stopSequences,omitempty"`
		ResponseMimeType   string          `json:"responseMimeType,omitempty"`
		ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	}
	out := struct {
		SystemInstruction *gemContent               `json:"systemInstruction,omitempty"`
		Contents          []gemContent              `json:"contents"`
		Tools             []map[string][]decl       `json:"tools,omitempty"`
		ToolConfig        map[string]map[string]any `json:"toolConfig,omitempty"`
		GenerationConfig  *genConfig                `json:"generationConfig,omitempty"`
	}{Contents: []gemContent{}}
	if s := c.sysText(); s != "" {
		out.SystemInstruction = &gemContent{Parts: []gemPart{{Text: s}}}
	}
	names := c.toolNames()
	for _, m := range c.messages {
		gc := gemContent{Role: "user"}
		if m.role == "assistant" {
			gc.Role = "model"
		}
		for _, p := range m.parts {
			switch p.kind {
			case partText:
				gc.Parts = append(gc.Parts, gemPart{Text: p.text})
			case partImage:
				if p.url != "" {
					gc.Parts = append(gc.Parts, gemPart{FileData: &gemFile{MimeType: mimeOf(p.url), FileURI: p.url}})
				} else {
					gc.Parts = append(gc.Parts, gemPart{InlineData: &gemBlob{MimeType: p.mediaType, Data: p.data}})
				}
			case partToolCall:
				gp := gemPart{FunctionCall: &struct {
					ID   string          `json:"id,omitempty"`
					Name string          `json:"name"`
					Args json.RawMessage `json:"args"`
				}{Name: p.name, Args: objectOr(p.args)}}
				gc.Parts = append(gc.Parts, gp)
			case partToolResult:
				resp := json.RawMessage(p.text)
				var obj map[string]json.RawMessage
				if json.Unmarshal(resp, &obj) != nil || obj == nil {
					key := "content"
					if p.isError {
						key = "error"
					}
					resp = mustJSON(map[string]string{key: p.text})
				}
				gc.Parts = append(gc.Parts, gemPart{FunctionResponse: &struct {
					ID       string          `json:"id,omitempty"`
					Name     string          `json:"name"`
					Response json.RawMessage `json:"response"`
				}{Name: names[p.id], Response: resp}})
			}
		}
		if len(gc.Parts) > 0 {
			out.Contents = append(out.Contents, gc)
		}
	}
	if len(c.tools) > 0 {
		var ds []decl
		for _, t := range c.tools {
			ds = append(ds, decl{Name: t.name, Description: t.description, ParametersJSONSchema: t.parameters})
		}
		out.Tools = []map[string][]decl{{"functionDeclarations": ds}}
		switch c.toolChoice {
		case "auto":
			out.ToolConfig = map[string]map[string]any{"functionCallingConfig": {"mode": "AUTO"}}
		case "none":
			out.ToolConfig = map[string]map[string]any{"functionCallingConfig": {"mode": "NONE"}}
		case "any":
			out.ToolConfig = map[string]map[string]any{"functionCallingConfig": {"mode": "ANY"}}
		case "tool":
			out.ToolConfig = map[string]map[string]any{"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": []string{c.toolName}}}
		}
	}
	g := genConfig{MaxOutputTokens: c.maxTokens, Temperature: c.temperature, TopP: c.topP, StopSequences: c.stop}
	switch {
	case c.schema != nil:
		g.ResponseMimeType, g.ResponseJSONSchema = "application/json", c.schema
	case c.jsonObject:
		g.ResponseMimeType = "application/json"
	}
	if g.MaxOutputTokens != 0 || g.Temperature != nil || g.TopP != nil || g.StopSequences != nil || g.ResponseMimeType != "" {
		out.GenerationConfig = &g
	}
	return mustJSON(out)
}

// mimeOf guesses an image URL's media type from its extension (Gemini
// needs one for a file by URL).
func mimeOf(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	switch strings.ToLower(path.Ext(u)) {
	case ".png":
		return "image/png"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".pdf":
		return "application/pdf"
	}
	return "image/jpeg"
}

type gemResponse struct {
	Candidates []struct {
		Content      gemContent `json:"content"`
		FinishReason string     `json:"finishReason"`
	} `json:"candidates"`
	UsageMetadata *struct {
		PromptTokenCount        int64 `json:"promptTokenCount"`
		CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
		CachedContentTokenCount int64 `json:"cachedContentTokenCount"`
		ThoughtsTokenCount      int64 `json:"thoughtsTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
	ResponseID   string `json:"responseId"`
	Error        *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func (r *gemResponse) usage() (usage, bool) {
	var u usage
	m := r.UsageMetadata
	if m == nil {
		return u, false
	}
	// Gemini's candidates do not count the thoughts; both are output.
	u.PromptTokens, u.CompletionTokens = m.PromptTokenCount, m.CandidatesTokenCount+m.ThoughtsTokenCount
	u.PromptTokensDetails.CachedTokens, u.CompletionTokensDetails.ReasoningTokens = m.CachedContentTokenCount, m.ThoughtsTokenCount
	return u, true
}

func gemStop(reason string, toolCalls bool) string {
	switch reason {
	case "", "STOP":
		if toolCalls {
			return stopTool
		}
		return stopEnd
	case "MAX_TOKENS":
		return stopLength
	}
	return stopFilter // SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, …
}

// callID names a tool call Gemini gave no id: the answer's id and the
// call's index, or random when the answer has no id either.
func callID(responseID string, n int) string {
	if responseID == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		return "call_" + hex.EncodeToString(b[:])
	}
	return "call_" + responseID + "_" + strconv.Itoa(n)
}

// decodeGeminiAnswer reads a whole generateContent answer.
func decodeGeminiAnswer(body []byte) (*answer, error) {
	var r gemResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	a := &answer{id: r.ResponseID, model: r.ModelVersion}
	a.usage, _ = r.usage()
	calls := 0
	reason := ""
	if len(r.Candidates) > 0 {
		ca := r.Candidates[0]
		reason = ca.FinishReason
		for _, p := range ca.Content.Parts {
			switch {
			case p.FunctionCall != nil:
				id := cmp.Or(p.FunctionCall.ID, callID(r.ResponseID, calls))
				a.parts = append(a.parts, part{kind: partToolCall, id: id, name: p.FunctionCall.Name, args: objectOr(p.FunctionCall.Args)})
				calls++
			case p.Thought:
				a.parts = append(a.parts, part{kind: partThinking, text: p.Text})
			case p.Text != "":
				a.parts = append(a.parts, part{kind: partText, text: p.Text})
			}
		}
	}
	a.stop = gemStop(reason, calls > 0)
	return a, nil
}

// gemDecoder reads Gemini stream chunks: each a generateContent answer
// with the next parts; function calls come whole; the usage of the last
// chunk is the call's.
type gemDecoder struct {
	started bool
	id      string
	calls   int
	last    usage
	hasUse  bool
}

func (d *gemDecoder) decode(data []byte, out []event) ([]event, error) {
	var r gemResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return out, nil
	}
	if r.Error != nil {
		return out, errors.New(r.Error.Message)
	}
	u, ok := r.usage()
	if ok {
		d.last, d.hasUse = u, true
	}
	if !d.started {
		d.started, d.id = true, r.ResponseID
		out = append(out, event{kind: evStart, id: r.ResponseID, model: r.ModelVersion, usage: prompt(u)})
	}
	if len(r.Candidates) == 0 {
		return out, nil
	}
	ca := r.Candidates[0]
	for _, p := range ca.Content.Parts {
		switch {
		case p.FunctionCall != nil:
			id := cmp.Or(p.FunctionCall.ID, callID(d.id, d.calls))
			out = append(out, event{kind: evToolStart, index: d.calls, id: id, name: p.FunctionCall.Name},
				event{kind: evToolArgs, index: d.calls, text: string(objectOr(p.FunctionCall.Args))})
			d.calls++
		case p.Thought:
			out = append(out, event{kind: evThinking, text: p.Text})
		case p.Text != "":
			out = append(out, event{kind: evText, text: p.Text})
		}
	}
	if ca.FinishReason != "" {
		out = append(out, event{kind: evStop, stop: gemStop(ca.FinishReason, d.calls > 0)})
	}
	return out, nil
}

func (d *gemDecoder) finish(out []event) []event {
	if d.hasUse {
		out = append(out, event{kind: evUsage, usage: d.last})
	}
	return append(out, event{kind: evEnd})
}
