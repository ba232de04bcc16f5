// Package urlpath holds Portico's one rule for request paths: how a path
// received from a client is turned into the single normalised form that the
// router matches, the policies see, and the upstream receives. Route path
// templates are parsed here too, so that config validation and the router
// agree on what a template means.
//
// The rule (docs/routing.md repeats it for users):
//
//  1. The path must start with "/" and be at most MaxLen bytes (else 414).
//  2. Rejected with 400: control bytes and spaces (raw or percent-encoded,
//     NUL included), backslashes (raw or %5C), encoded slashes (%2F), a "%"
//     not followed by two hex digits, a double-encoded dot, slash or
//     backslash ("%252e", "%252f", "%255c": an upstream that decodes twice
//     would read them as dot segments), and a segment that is "." or ".."
//     once its ";parameters" are removed (the "..;/" trick that servlet
//     containers honour). The double encodings are looked for in the
//     segment as rule 3 leaves it, so "%252%45" (whose "%45" decodes to
//     "E") is rejected like "%252E".
//  3. Percent-encoded unreserved characters (letters, digits, "-._~") are
//     decoded; every other percent-encoding is kept, with upper-case hex.
//     Bytes that may not appear raw in a path (non-ASCII, `"<>[]^{|}` and
//     backquote) are percent-encoded.
//  4. Empty segments are removed ("//" becomes "/").
//  5. Dot segments are resolved as RFC 3986 §5.2.4 says ("/a/./b/../c" is
//     "/a/c"; ".." at the root stays at the root).
//  6. A trailing slash is kept. The router ignores it when matching, so
//     "/admin/" is guarded by the same route as "/admin".
//
// The normalised path is what is forwarded, so no spelling of a path can
// reach an upstream resource without passing the route that guards it.
package urlpath

import (
	"errors"
	"strings"
)

// MaxLen is the longest path accepted.
const MaxLen = 8 << 10

// ErrTooLong is returned for a path longer than MaxLen.
var ErrTooLong = errors.New("path is longer than 8192 bytes")

// Error says why a path was rejected.
type Error struct{ Reason string }

func (e *Error) Error() string { return "invalid path: " + e.Reason }

var (
	errNotAbsolute  = &Error{"it must start with /"}
	errControl      = &Error{"control characters and spaces are not allowed"}
	errBackslash    = &Error{"backslashes are not allowed"}
	errEncodedSlash = &Error{"encoded slashes (%2F) are not allowed"}
	errBadEscape    = &Error{"% must be followed by two hex digits"}
	errDotParams    = &Error{`dot segments with parameters (such as "..;") are not allowed`}
	errDoubleEnc    = &Error{"double-encoded dots, slashes and backslashes (%252e, %252f, %255c) are not allowed"}
)

// Normalize returns the normalised form of an escaped request path (the
// part of the request target before "?"). A path that is already
// normalised is returned as is, without allocating.
func Normalize(p string) (string, error) {
	if len(p) > MaxLen {
		return "", ErrTooLong
	}
	if p == "" || p[0] != '/' {
		return "", errNotAbsolute
	}
	if isClean(p) {
		return p, nil
	}
	return normalizeSlow(p)
}

// isClean reports whether p needs no work: only characters that may stand
// raw in a path, no "%", and no empty or dot segments.
func isClean(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' {
			if i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.') {
				return false
			}
			continue
		}
		if c == '%' || c == ';' || !isPathChar(c) {
			return false
		}
	}
	return true
}

func normalizeSlow(p string) (string, error) {
	var segs []string
	trailing := false
	var seg strings.Builder
	for rest := p[1:]; ; {
		i := strings.IndexByte(rest, '/')
		raw := rest
		if i >= 0 {
			raw = rest[:i]
		}
		s, err := normalizeSegment(raw, &seg)
		if err != nil {
			return "", err
		}
		last := i < 0
		switch s {
		case "":
			trailing = last
		case ".":
			trailing = last
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
			trailing = last
		default:
			if isDotWithParams(s) {
				return "", errDotParams
			}
			segs = append(segs, s)
			trailing = false
		}
		if last {
			break
		}
		rest = rest[i+1:]
	}
	var b strings.Builder
	b.Grow(len(p))
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if trailing || len(segs) == 0 {
		b.WriteByte('/')
	}
	out := b.String()
	if len(out) > MaxLen {
		return "", ErrTooLong
	}
	return out, nil
}

// normalizeSegment applies rules 2 and 3 to one segment.
func normalizeSegment(raw string, b *strings.Builder) (string, error) {
	b.Reset()
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "", errBadEscape
			}
			d := unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
			switch {
			case d == '/':
				return "", errEncodedSlash
			case d == '\\':
				return "", errBackslash
			case d <= ' ' || d == 0x7f:
				return "", errControl
			case isUnreserved(d):
				b.WriteByte(d)
			default:
				writeEscaped(b, d)
			}
		case c <= ' ' || c == 0x7f:
			return "", errControl
		case c == '\\':
			return "", errBackslash
		case isPathChar(c):
			b.WriteByte(c)
		default:
			writeEscaped(b, c)
		}
	}
	// A double encoding is looked for in what the segment became, not in
	// what the client wrote: the hex digits after "%25" may themselves
	// have been encoded ("%252%45" becomes "%252E").
	s := b.String()
	if doubleEncoded(s) {
		return "", errDoubleEnc
	}
	return s, nil
}

// doubleEncoded reports whether s holds a double-encoded dot, slash or
// backslash: "%25" followed by the hex of one, in either case.
func doubleEncoded(s string) bool {
	for {
		i := strings.Index(s, "%25")
		if i < 0 || i+5 > len(s) {
			return false
		}
		if isHex(s[i+3]) && isHex(s[i+4]) {
			switch unhex(s[i+3])<<4 | unhex(s[i+4]) {
			case '.', '/', '\\':
				return true
			}
		}
		s = s[i+3:]
	}
}

// isDotWithParams reports whether s is "." or ".." followed by ";params".
func isDotWithParams(s string) bool {
	base, _, found := strings.Cut(s, ";")
	return found && (base == "." || base == "..")
}

func writeEscaped(b *strings.Builder, c byte) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&15])
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isPathChar reports whether c may stand raw in a normalised segment:
// RFC 3986 pchar less "%" (unreserved, sub-delims, ":" and "@").
func isPathChar(c byte) bool {
	if isUnreserved(c) {
		return true
	}
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
