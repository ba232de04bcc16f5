package urlpath

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc, in, want string
		err            error // nil: no error; errors match by text
	}{
		{desc: "root", in: "/", want: "/"},
		{desc: "clean path is kept", in: "/orders/7", want: "/orders/7"},
		{desc: "trailing slash kept", in: "/orders/", want: "/orders/"},
		{desc: "dot segment", in: "/a/./b", want: "/a/b"},
		{desc: "dot-dot segment", in: "/a/../b", want: "/b"},
		{desc: "dot-dot above root stays at root", in: "/../../b", want: "/b"},
		{desc: "dot-dot at end keeps the slash", in: "/a/b/..", want: "/a/"},
		{desc: "only dots", in: "/..", want: "/"},
		{desc: "encoded dots are dot segments", in: "/a/%2e%2e/b", want: "/b"},
		{desc: "upper-case encoded dots", in: "/a/%2E%2E/b", want: "/b"},
		{desc: "mixed encoded dot", in: "/a/.%2e/b", want: "/b"},
		{desc: "repeated slashes merged", in: "//a///b//", want: "/a/b/"},
		{desc: "leading double slash", in: "//admin", want: "/admin"},
		{desc: "encoded unreserved decoded", in: "/%61dmin/%7Euser", want: "/admin/~user"},
		{desc: "encoded reserved kept with upper-case hex", in: "/a%3fb/c%2bd", want: "/a%3Fb/c%2Bd"},
		{desc: "percent sign stays encoded", in: "/100%25", want: "/100%25"},
		{desc: "double-encoded dots rejected", in: "/%252e%252e/admin", err: errDoubleEnc},
		{desc: "double-encoded slash rejected", in: "/a%252Fb", err: errDoubleEnc},
		{desc: "double-encoded backslash rejected", in: "/a%255cb", err: errDoubleEnc},
		{desc: "other double encoding is kept", in: "/a%2541", want: "/a%2541"},
		// The second layer's hex digits encoded too: rule 3 decodes them
		// into a double encoding, which must be caught all the same.
		{desc: "double-encoded dot spelled with an encoded hex digit", in: "/%252%45", err: errDoubleEnc},
		{desc: "double-encoded dots spelled with encoded digits", in: "/%25%32%65%25%32%45/admin", err: errDoubleEnc},
		{desc: "double-encoded slash spelled with an encoded hex digit", in: "/a%25%32Fb", err: errDoubleEnc},
		{desc: "double-encoded backslash spelled with an encoded hex digit", in: "/a%255%63b", err: errDoubleEnc},
		{desc: "an encoded digit after %25 that spells nothing is kept", in: "/%25%341", want: "/%2541"},
		{desc: "raw non-ASCII is encoded", in: "/caf\xc3\xa9", want: "/caf%C3%A9"},
		{desc: "unsafe ASCII is encoded", in: "/a{b}|c", want: "/a%7Bb%7D%7Cc"},
		{desc: "three dots are a name", in: "/a/.../b", want: "/a/.../b"},
		{desc: "dotfile", in: "/.well-known/x", want: "/.well-known/x"},
		{desc: "matrix parameter allowed", in: "/a;v=1/b", want: "/a;v=1/b"},
		{desc: "encoded slash rejected", in: "/a%2Fb", err: errEncodedSlash},
		{desc: "encoded slash lower-case rejected", in: "/a%2fb", err: errEncodedSlash},
		{desc: "backslash rejected", in: `/a\..\admin`, err: errBackslash},
		{desc: "encoded backslash rejected", in: "/a%5c..%5cadmin", err: errBackslash},
		{desc: "NUL rejected", in: "/a\x00b", err: errControl},
		{desc: "encoded NUL rejected", in: "/a%00b", err: errControl},
		{desc: "encoded CR rejected", in: "/a%0d%0aSet-Cookie:x", err: errControl},
		{desc: "space rejected", in: "/a b", err: errControl},
		{desc: "DEL rejected", in: "/a\x7f", err: errControl},
		{desc: "bad escape", in: "/a%zz", err: errBadEscape},
		{desc: "truncated escape", in: "/a%2", err: errBadEscape},
		{desc: "dot-dot with parameters", in: "/public/..;/admin", err: errDotParams},
		{desc: "dot with parameters", in: "/public/.;x/admin", err: errDotParams},
		{desc: "encoded dot-dot with parameters", in: "/public/%2e%2e;/admin", err: errDotParams},
		{desc: "relative path", in: "admin", err: errNotAbsolute},
		{desc: "empty", in: "", err: errNotAbsolute},
		{desc: "too long", in: "/" + strings.Repeat("a", MaxLen), err: ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			got, err := Normalize(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Normalize(%q) = %q, %v; want error %v", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNormalizeCleanPathDoesNotAllocate(t *testing.T) {
	p := "/orders/v1/customers/42/items"
	if n := testing.AllocsPerRun(100, func() { _, _ = Normalize(p) }); n != 0 {
		t.Fatalf("Normalize of a clean path allocates %v times, want 0", n)
	}
}

// checkNormalized asserts the invariants of a normalised path.
func checkNormalized(t *testing.T, in, out string) {
	t.Helper()
	if out == "" || out[0] != '/' {
		t.Fatalf("Normalize(%q) = %q: not absolute", in, out)
	}
	if strings.Contains(out, "//") {
		t.Fatalf("Normalize(%q) = %q: has an empty segment", in, out)
	}
	for _, seg := range strings.Split(out[1:], "/") {
		if seg == "." || seg == ".." || isDotWithParams(seg) {
			t.Fatalf("Normalize(%q) = %q: has dot segment %q", in, out, seg)
		}
	}
	low := strings.ToLower(out)
	for _, bad := range []string{"%2f", "%5c", "%00", "%2e", "%252e", "%252f", "%255c", "\\", "\x00"} {
		if strings.Contains(low, bad) {
			t.Fatalf("Normalize(%q) = %q: contains %q", in, out, bad)
		}
	}
	again, err := Normalize(out)
	if err != nil || again != out {
		t.Fatalf("Normalize is not idempotent: %q -> %q -> %q, %v", in, out, again, err)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/%2e%2e/x", "//a//b/", "/a%2Fb", "/..;/x", "/caf\xc3\xa9", "/a/./b/../../c/", "/%252e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Normalize(in)
		if err != nil {
			return
		}
		checkNormalized(t, in, out)
	})
}
