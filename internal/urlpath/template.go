package urlpath

import (
	"fmt"
	"strings"
)

// Segment is one segment of a path template.
type Segment struct {
	// Literal is the segment's text when it is not a parameter.
	Literal string
	// Param is the parameter's name for "{name}" and "{name...}".
	Param string
	// Rest marks "{name...}", which captures the rest of the path
	// (possibly empty) and may only be the last segment.
	Rest bool
}

// Template is a parsed route path template such as "/users/{id}/files/{path...}".
type Template struct {
	Segments []Segment
}

// ParseTemplate parses a route path template. "" and "/" are the empty
// template, which matches the base path itself. Literal segments must
// already be in normalised form, since requests are matched normalised.
func ParseTemplate(s string) (Template, error) {
	if s == "" || s == "/" {
		return Template{}, nil
	}
	if s[0] != '/' {
		return Template{}, fmt.Errorf("%q must start with /", s)
	}
	if strings.HasSuffix(s, "/") {
		return Template{}, fmt.Errorf("%q must not end with / (a trailing slash is ignored when matching)", s)
	}
	var t Template
	seen := map[string]bool{}
	parts := strings.Split(s[1:], "/")
	for i, part := range parts {
		if part == "" {
			return Template{}, fmt.Errorf("%q has an empty segment", s)
		}
		if strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}") {
			name := part[1 : len(part)-1]
			rest := false
			if n, ok := strings.CutSuffix(name, "..."); ok {
				name, rest = n, true
				if i != len(parts)-1 {
					return Template{}, fmt.Errorf("%q: {%s...} must be the last segment", s, name)
				}
			}
			if !validParamName(name) {
				return Template{}, fmt.Errorf("%q: %q is not a valid parameter name (letters, digits and _, not starting with a digit)", s, name)
			}
			if seen[name] {
				return Template{}, fmt.Errorf("%q: parameter %q appears twice", s, name)
			}
			seen[name] = true
			t.Segments = append(t.Segments, Segment{Param: name, Rest: rest})
			continue
		}
		if strings.ContainsAny(part, "{}") {
			return Template{}, fmt.Errorf("%q: a parameter must be a whole segment, as in /{id}", s)
		}
		if n, err := Normalize("/" + part); err != nil || n != "/"+part {
			return Template{}, fmt.Errorf("%q: segment %q is not in normalised form (see docs/routing.md)", s, part)
		}
		t.Segments = append(t.Segments, Segment{Literal: part})
	}
	return t, nil
}

// Shape is the template with its parameter names erased; two templates of
// one shape match exactly the same paths.
func (t Template) Shape() string {
	var b strings.Builder
	for _, s := range t.Segments {
		b.WriteByte('/')
		switch {
		case s.Rest:
			b.WriteString("{...}")
		case s.Param != "":
			b.WriteString("{}")
		default:
			b.WriteString(s.Literal)
		}
	}
	return b.String()
}

func validParamName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidBasePath reports why p cannot be an API base path, or nil.
// A base path is "" (or "/"), or a normalised path without a trailing
// slash and without parameters.
func ValidBasePath(p string) error {
	if p == "" || p == "/" {
		return nil
	}
	if strings.ContainsAny(p, "{}") {
		return fmt.Errorf("%q: a base path cannot have parameters", p)
	}
	if strings.HasSuffix(p, "/") {
		return fmt.Errorf("%q must not end with /", p)
	}
	n, err := Normalize(p)
	if err != nil {
		return fmt.Errorf("%q: %w", p, err)
	}
	if n != p {
		return fmt.Errorf("%q is not in normalised form; write %q", p, n)
	}
	return nil
}
