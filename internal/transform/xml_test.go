package transform

import (
	"strings"
	"testing"
)

// TestXMLGolden runs testdata/xml/*.txt: files named *.xml.txt convert
// their "-- xml --" part to JSON, the others their "-- json --" part to XML
// under <order>.
func TestXMLGolden(t *testing.T) {
	eachGolden(t, "testdata/xml/*.txt", func(t *testing.T, file, data string) {
		var err error
		part := func(name string) string {
			_, rest, _ := strings.Cut(data, "-- "+name+" --\n")
			body, _, _ := strings.Cut(rest, "\n-- ")
			return strings.TrimSpace(body)
		}
		var got []byte
		var want string
		if strings.HasSuffix(file, ".xml.txt") {
			got, err = XMLToJSON([]byte(part("xml")))
			want = part("json")
		} else {
			got, err = JSONToXML([]byte(part("json")), "order")
			want = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + part("xml")
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
}

func TestJSONToXML(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{`[1,2]`, `<order>1</order><order>2</order>`},
		{`"just text"`, `<order>just text</order>`},
	} {
		got, err := JSONToXML([]byte(c.in), "order")
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + c.want; string(got) != want {
			t.Errorf("%s\ngot  %s\nwant %s", c.in, got, want)
		}
	}
	for _, bad := range []string{`{"1st":1}`, `{"a b":1}`, `{"xmlfoo":1}`, `{"@a":{"b":1}}`, `{"#text":[1]}`, `{`, `{"a":1} x`, strings.Repeat(`{"a":`, 300) + `1` + strings.Repeat(`}`, 300)} {
		if _, err := JSONToXML([]byte(bad), "root"); err == nil {
			t.Errorf("%.50s was converted", bad)
		}
	}
}

func TestXMLToJSON(t *testing.T) {
	t.Parallel()
	if got, err := XMLToJSON([]byte(`<a><b>1</b><b>2</b><b>3</b></a>`)); err != nil || string(got) != `{"b":["1","2","3"]}` {
		t.Errorf("three repeats: %s, %v", got, err)
	}
	for _, bad := range []string{
		``, `<a>`, `<a></b>`, `<a/><b/>`, `text`, `<a>&undefined;</a>`,
		`<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>`,
		`<!DOCTYPE a [<!ENTITY x "xx">]><a>&x;</a>`,
		"<a>\xff</a>",
		strings.Repeat("<a>", 300) + strings.Repeat("</a>", 300),
	} {
		if got, err := XMLToJSON([]byte(bad)); err == nil {
			t.Errorf("%.50q was converted to %s", bad, got)
		}
	}
}

// TestRoundTrip: JSON made of objects and strings survives JSON -> XML ->
// JSON (XML has no numbers, booleans or one-element arrays).
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	in := `{"customer":{"@id":"42","name":"Ada"},"items":["a","b"],"note":"x < y"}`
	x, err := JSONToXML([]byte(in), "order")
	if err != nil {
		t.Fatal(err)
	}
	back, err := XMLToJSON(x)
	if err != nil {
		t.Fatal(err)
	}
	if string(back) != in {
		t.Fatalf("round trip:\n%s\n%s\n%s", in, x, back)
	}
}

func FuzzXMLToJSON(f *testing.F) {
	for _, s := range []string{`<a b="1"><c>x</c><c>y</c></a>`, `<a>t<b/>u</a>`, `<?xml version="1.0"?><a/>`, `<a xmlns:p="u"><p:b p:c="d"/></a>`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		j, err := XMLToJSON([]byte(in))
		if err != nil {
			return
		}
		// Valid JSON always; and XML again when its names allow.
		if _, err := mapJSON(j, &BodyMapping{}, nil); err != nil {
			t.Fatalf("%q became invalid JSON %q: %v", in, j, err)
		}
		_, _ = JSONToXML(j, "root")
	})
}

func FuzzJSONToXML(f *testing.F) {
	for _, s := range []string{`{"a":{"@b":"1","#text":"t","c":[1,2]}}`, `[null,true,"x"]`, `{"é":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		x, err := JSONToXML([]byte(in), "root")
		if err != nil {
			return
		}
		// Whatever was accepted is well-formed XML that reads back, unless
		// a top-level array made several roots.
		if _, err := XMLToJSON(x); err != nil && !strings.HasPrefix(strings.TrimSpace(in), "[") {
			t.Fatalf("%q became XML %q that does not read back: %v", in, x, err)
		}
	})
}

// TestValidXMLName: names are what an XML reader reads back — letters of
// newer Unicode versions that XML 1.0's classes lack are refused (a fuzz
// finding: U+0529).
func TestValidXMLName(t *testing.T) {
	for name, want := range map[string]bool{"order": true, "order_id": true, "é-1": true, "ԩ": false, "1a": false, "xmlns": false, "a b": false, "": false} {
		if got := ValidXMLName(name); got != want {
			t.Errorf("%q: %v, want %v", name, got, want)
		}
	}
}
