package transform

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The JSON <-> XML mapping, both ways:
//
//   - an object is an element whose children are its members, in name
//     order; a member whose name starts with "@" is an attribute, and
//     "#text" is the element's text;
//   - an array is its member's element repeated (a top-level array is
//     <item> elements under the root);
//   - strings, numbers and booleans are text; null is an empty element.
//
// XML to JSON reads it back: the root element's content becomes the
// document; an element with neither attributes nor child elements is a
// string; repeated children become an array; namespace prefixes are
// dropped. Every value from XML is a string. Neither direction resolves
// DTDs or external entities.

// maxXMLDepth bounds nesting in both directions.
const maxXMLDepth = 256

// JSONToXML converts the JSON document b to XML under an element named
// root.
func JSONToXML(b []byte, root string) ([]byte, error) {
	doc, err := decodeJSON(b)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteString(xml.Header)
	if err := writeXML(&out, root, doc, 0); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// ValidXMLName reports whether s can name an XML element or attribute
// (letters, digits, '_', '-', '.', starting with a letter or '_'; no
// namespace prefix) that an XML reader — encoding/xml, which follows XML
// 1.0's older character classes — reads back.
func ValidXMLName(s string) bool {
	if s == "" || strings.HasPrefix(strings.ToLower(s), "xml") {
		return false
	}
	ascii := true
	for i, r := range s {
		switch {
		case unicode.IsLetter(r) || r == '_':
		case i > 0 && (unicode.IsDigit(r) || r == '-' || r == '.'):
		default:
			return false
		}
		ascii = ascii && r < utf8.RuneSelf
	}
	if ascii {
		return true
	}
	// Not every letter of today's Unicode is a name character of XML 1.0
	// as encoding/xml reads it: ask it.
	d := xml.NewDecoder(strings.NewReader("<" + s + "/>"))
	_, err := d.Token()
	return err == nil
}

func writeXML(out *bytes.Buffer, name string, v any, depth int) error {
	if depth > maxXMLDepth {
		return errors.New("the document is nested too deeply")
	}
	if !ValidXMLName(name) {
		return fmt.Errorf("%q cannot be an XML element name", name)
	}
	switch t := v.(type) {
	case []any:
		for _, item := range t {
			if err := writeXML(out, name, item, depth+1); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out.WriteString("<" + name)
		for _, k := range keys {
			if attr, ok := strings.CutPrefix(k, "@"); ok {
				if !ValidXMLName(attr) {
					return fmt.Errorf("%q cannot be an XML attribute name", attr)
				}
				s, ok := scalarText(t[k])
				if !ok {
					return fmt.Errorf("attribute %q must be a string, number or boolean", attr)
				}
				out.WriteString(" " + attr + `="`)
				escape(out, s)
				out.WriteByte('"')
			}
		}
		out.WriteByte('>')
		if text, ok := t["#text"]; ok {
			s, ok := scalarText(text)
			if !ok {
				return errors.New(`"#text" must be a string, number or boolean`)
			}
			escape(out, s)
		}
		for _, k := range keys {
			if strings.HasPrefix(k, "@") || k == "#text" {
				continue
			}
			if err := writeXML(out, k, t[k], depth+1); err != nil {
				return err
			}
		}
		out.WriteString("</" + name + ">")
		return nil
	case nil:
		out.WriteString("<" + name + "/>")
		return nil
	default:
		s, _ := scalarText(t)
		out.WriteString("<" + name + ">")
		escape(out, s)
		out.WriteString("</" + name + ">")
		return nil
	}
}

func scalarText(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case bool:
		if t {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

func escape(out *bytes.Buffer, s string) {
	_ = xml.EscapeText(out, []byte(s))
}

// XMLToJSON converts the XML document b to JSON: the root element's
// content is the document.
func XMLToJSON(b []byte) ([]byte, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("the XML document is not UTF-8")
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	type frame struct {
		name     string
		attrs    []xml.Attr
		children map[string]any
		text     strings.Builder
	}
	var stack []*frame
	var root any
	seenRoot := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if seenRoot && len(stack) == 0 {
				return nil, errors.New("more than one root element")
			}
			if len(stack) >= maxXMLDepth {
				return nil, errors.New("the document is nested too deeply")
			}
			stack = append(stack, &frame{name: t.Name.Local, attrs: t.Attr, children: map[string]any{}})
			seenRoot = true
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("text outside the root element")
			}
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			var value any
			text := f.text.String()
			if len(f.attrs) == 0 && len(f.children) == 0 {
				value = text
			} else {
				obj := f.children
				for _, a := range f.attrs {
					if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
						continue
					}
					obj["@"+a.Name.Local] = a.Value
				}
				if strings.TrimSpace(text) != "" {
					obj["#text"] = text
				}
				value = obj
			}
			if len(stack) == 0 {
				root = value
				continue
			}
			parent := stack[len(stack)-1]
			// Values from XML are strings and objects, so an array here is
			// one that repeated siblings made.
			switch prev, ok := parent.children[f.name]; {
			case !ok:
				parent.children[f.name] = value
			default:
				if arr, isArr := prev.([]any); isArr {
					parent.children[f.name] = append(arr, value)
				} else {
					parent.children[f.name] = []any{prev, value}
				}
			}
		case xml.Directive:
			return nil, errors.New("DTDs and other directives are not accepted")
		}
	}
	if !seenRoot {
		return nil, errors.New("no root element")
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}
