package transform

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/pipeline"
)

// TestMappingGolden runs every testdata/mapping/*.txt: mapping lines
// ("op path=value"), then "-- in --" and the input JSON, then "-- out --"
// and the expected output.
func TestMappingGolden(t *testing.T) {
	eachGolden(t, "testdata/mapping/*.txt", func(t *testing.T, _, data string) {
		head, rest, _ := strings.Cut(data, "-- in --\n")
		in, want, _ := strings.Cut(rest, "-- out --\n")
		m := &BodyMapping{}
		for _, line := range strings.Split(head, "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			op, arg, _ := strings.Cut(line, " ")
			k, v, _ := strings.Cut(arg, "=")
			kp, err := ParsePath(k)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			switch op {
			case "rename":
				vp, err := ParsePath(v)
				if err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				m.Rename = append(m.Rename, [2]Path{kp, vp})
			case "remove":
				m.Remove = append(m.Remove, kp)
			case "set", "defaults":
				tmpl, err := ParseTemplate(v, nil)
				if err != nil {
					t.Fatal(err)
				}
				pv := PathValue{Path: kp, Value: tmpl}
				if op == "set" {
					m.Set = append(m.Set, pv)
				} else {
					m.Defaults = append(m.Defaults, pv)
				}
			}
		}
		e := &env{r: httptest.NewRequest("GET", "/", nil), x: &pipeline.Exchange{Consumer: "acme"}}
		got, err := mapJSON([]byte(in), m, e)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != strings.TrimSpace(want) {
			t.Errorf("got  %s\nwant %s", got, strings.TrimSpace(want))
		}
	})
}

// eachGolden runs f on every file matching pattern, as a subtest.
func eachGolden(t *testing.T, pattern string, f func(t *testing.T, file, data string)) {
	files, _ := filepath.Glob(pattern)
	if len(files) == 0 {
		t.Fatalf("no golden files match %s", pattern)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f(t, file, string(data))
		})
	}
}

func TestMalformedJSON(t *testing.T) {
	t.Parallel()
	m := &BodyMapping{Remove: []Path{{{member: "a"}}}}
	e := &env{r: httptest.NewRequest("GET", "/", nil), x: &pipeline.Exchange{}}
	for _, in := range []string{``, `{`, `{"a":1}{"b":2}`, `{"a":1} trailing`, `nul`, "\xff", `{"a":` + strings.Repeat("[", 100_000)} {
		if _, err := mapJSON([]byte(in), m, e); err == nil {
			t.Errorf("%.40q was accepted", in)
		}
	}
}

func TestParsePath(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "a.b", "items[0].sku", "items[].price", `"a.b".c`, `a."x[y]"`, "a[0][1]", "ünï.cødé"} {
		p, err := ParsePath(ok)
		if err != nil {
			t.Errorf("%q: %v", ok, err)
			continue
		}
		if again, err := ParsePath(p.String()); err != nil || again.String() != p.String() {
			t.Errorf("%q does not round-trip: %q, %v", ok, p.String(), err)
		}
	}
	for _, bad := range []string{"", ".a", "a.", "a..b", "[0]", "a[x]", "a[-1]", "a[01]", "a[", `"a`, "a.[0]", `a"b"`, "a]" + strings.Repeat(".a", 40)} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/orders/7?page=2", nil)
	r.Header.Set("X-Tenant", "blue\r\nX-Evil: 1")
	x := &pipeline.Exchange{Consumer: "acme", RequestID: "rid", API: "shop", Route: "get", UpstreamPath: "/7",
		Claims: map[string]any{"email": "ada@example.com", "roles": []any{"a", "b"}, "level": float64(3)}}
	e := &env{r: r, x: x, params: map[string]string{"id": "7"}}
	tmpl, err := ParseTemplate("{{consumer}}/{{path.id}}/{{query.page}}/{{header.x-tenant}}/{{request_id}}/{{api}}.{{route}} {{path}}", []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	if got := headerSafe(e.render(tmpl)); got != "acme/7/2/blueX-Evil: 1/rid/shop.get /7" {
		t.Fatalf("rendered %q", got)
	}
	claims, err := ParseTemplate("{{claim.email}};{{claim.roles}};{{claim.level}};{{claim.missing}}", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.render(claims); got != "ada@example.com;a,b;3;" {
		t.Fatalf("claims rendered %q", got)
	}
	for _, bad := range []string{"{{nope}}", "{{path.missing}}", "{{consumer", "{{query.}}"} {
		if _, err := ParseTemplate(bad, []string{"id"}); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"a.b", "items[].price", `"a.b".c`, "a[0][1]", "[", `"`, "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		again, err := ParsePath(p.String())
		if err != nil || again.String() != p.String() {
			t.Fatalf("%q parsed to %q, which does not round-trip (%v)", s, p.String(), err)
		}
	})
}

func FuzzMapJSON(f *testing.F) {
	f.Add(`{"a":{"b":[1,{"c":2}]},"d":"x"}`, "a.b[].c", "d.e")
	f.Add(`[1,2]`, "a", "b")
	f.Add(`{"a":1}`, "a", "a.b.c")
	f.Fuzz(func(t *testing.T, doc, from, to string) {
		fp, err1 := ParsePath(from)
		tp, err2 := ParsePath(to)
		if err1 != nil || err2 != nil {
			return
		}
		tmpl, _ := ParseTemplate("v", nil)
		m := &BodyMapping{Rename: [][2]Path{{fp, tp}}, Remove: []Path{tp}, Set: []PathValue{{fp, tmpl}}, Defaults: []PathValue{{tp, tmpl}}}
		e := &env{r: httptest.NewRequest("GET", "/", nil), x: &pipeline.Exchange{}}
		out, err := mapJSON([]byte(doc), m, e)
		if err != nil {
			return
		}
		// Whatever the mapping did, the result is one valid JSON document.
		if _, err := mapJSON(out, &BodyMapping{}, e); err != nil {
			t.Fatalf("the mapping produced invalid JSON %q: %v", out, err)
		}
	})
}
