package llm

import "testing"

// Bedrock's embedding models in their own formats: Titan one text per
// call (the i-th), with the dimensions asked; Cohere every text at once.
func TestBedrockEmbedRequest(t *testing.T) {
	t.Parallel()
	body := []byte(`{"model":"e","input":["a","b"],"dimensions":256}`)
	for _, c := range []struct {
		model string
		i     int
		path  string
		out   string
	}{
		{"amazon.titan-embed-text-v2:0", 1, "/model/amazon.titan-embed-text-v2:0/invoke", `{"dimensions":256,"inputText":"b"}`},
		{"cohere.embed-english-v3", 0, "/model/cohere.embed-english-v3/invoke", `{"input_type":"search_document","texts":["a","b"]}`},
		{"arn:aws:bedrock:us-east-1:1:x/y", 0, "/model/arn:aws:bedrock:us-east-1:1:x%2Fy/invoke", `{"dimensions":256,"inputText":"a"}`},
	} {
		path, out, err := bedrockEmbedRequest(body, c.model, c.i)
		if err != nil || path != c.path || string(out) != c.out {
			t.Errorf("%s: %s %s %v, want %s %s", c.model, path, out, err, c.path, c.out)
		}
	}
	if _, _, err := bedrockEmbedRequest([]byte(`{"input":[[1,2,3]]}`), "amazon.titan-embed-text-v2:0", 0); err == nil {
		t.Error("a token list was translated")
	}
}
