package config

import (
	"fmt"
	"strings"
)

// ${NAME} is not valid YAML everywhere: inside a flow sequence such as
// `api_keys: [${KEY}]`, "{" opens a mapping. Before parsing, protect turns
// each ${NAME} into $⦃NAME⦄, whose brackets are ordinary characters to
// YAML; each is one character, so line and column positions do not move.
// Interpolation then works on decoded scalar values, marked or not.
const (
	markOpen  = "$⦃"
	markClose = "⦄"
)

// protect marks every well-formed ${NAME} in a config file's text.
func protect(data []byte) []byte {
	s := string(data)
	if !strings.Contains(s, "${") {
		return data
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return []byte(b.String())
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 || !validEnvName(s[i+2:i+end]) {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(markOpen)
		b.WriteString(s[i+2 : i+end])
		b.WriteString(markClose)
		s = s[i+end+1:]
	}
}

// Interpolate replaces each ${NAME} in s with the environment variable NAME.
// An unset variable is an error, so a forgotten secret never becomes an
// empty key. "$${" stands for a literal "${". Interpolation happens on
// decoded scalar values, never on the YAML text, so a variable's value
// cannot change the structure of the file.
func Interpolate(s string, getenv func(string) (string, bool)) (string, error) {
	return interpolate(string(protect([]byte(s))), getenv)
}

// interpolate expands the marked variables of a protected value.
func interpolate(s string, getenv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "$"+markOpen):
			// $${NAME}: a literal ${NAME}.
			end := strings.Index(s, markClose)
			b.WriteString("${" + s[len("$"+markOpen):end] + "}")
			s = s[end+len(markClose):]
		case strings.HasPrefix(s, markOpen):
			end := strings.Index(s, markClose)
			name := s[len(markOpen):end]
			v, ok := getenv(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(v)
			s = s[end+len(markClose):]
		case strings.HasPrefix(s, "$${"):
			b.WriteString("${")
			s = s[3:]
		case strings.HasPrefix(s, "${"):
			// protect left it unmarked, so it is malformed.
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q; write ${NAME}, or $${ for a literal ${", unprotect(s))
			}
			return "", fmt.Errorf("%q is not a valid environment variable name", s[2:end])
		default:
			b.WriteByte('$')
			s = s[1:]
		}
	}
}

// unprotect undoes protect, for messages that quote the user's text.
func unprotect(s string) string {
	return strings.NewReplacer(markOpen, "${", markClose, "}").Replace(s)
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
