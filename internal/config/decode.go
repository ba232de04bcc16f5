package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Pos is a position in the config file, 1-based. The zero Pos means unknown.
type Pos struct{ Line, Col int }

// File is a parsed configuration file: the decoded Config and the position
// of every value in it, so that validation can point at the offending line.
type File struct {
	Name   string
	Config *Config
	pos    map[string]Pos
}

// Pos returns the position of the value at a config path such as
// "apis[0].routes[1].path", or of its nearest ancestor that has one.
func (f *File) Pos(path string) Pos {
	for path != "" {
		if p, ok := f.pos[path]; ok {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return f.pos[""]
}

// maxConfigBytes bounds what Parse accepts; a config larger than this is
// almost certainly a mistake, and YAML parsing cost grows with the input.
const maxConfigBytes = 16 << 20

// Parse decodes a version 1 config strictly: an unknown key, a value of the
// wrong type or an unset ${VAR} is an error. Every problem found is reported,
// as Errors, not only the first. JSON is YAML, so Parse reads both. With a
// nil getenv, ${VAR} is kept as written (documents sent to the admin API
// are stored as they are, never filled from the server's environment).
func Parse(name string, data []byte, getenv func(string) (string, bool)) (*File, error) {
	f := &File{Name: name, Config: &Config{}, pos: map[string]Pos{}}
	if len(data) > maxConfigBytes {
		return nil, Errors{{File: name, Msg: fmt.Sprintf("config is %d bytes; the limit is %d", len(data), maxConfigBytes)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(protect(data)))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: name, Pos: Pos{1, 1}, Msg: "config is empty; it needs at least \"version: 1\""}}
		}
		return nil, Errors{yamlSyntaxError(name, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{File: name, Pos: Pos{extra.Line, extra.Column}, Msg: "config holds more than one YAML document; keep one"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, Errors{yamlSyntaxError(name, err)}
	}
	d := &decoder{file: f, getenv: getenv}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	d.decode(doc, reflect.ValueOf(f.Config).Elem(), "")
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return f, nil
}

// ParseInto decodes a document holding one entity of the schema (an
// Upstream, an API, a Route, an AuthPolicy …) into v, a pointer to it,
// as strictly as Parse, without ${VAR} expansion. Errors are Errors with
// positions in data.
func ParseInto(name string, data []byte, v any) error {
	if len(data) > maxConfigBytes {
		return Errors{{File: name, Msg: "document too large"}}
	}
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return Errors{{File: name, Pos: Pos{1, 1}, Msg: "the document is empty"}}
		}
		return Errors{yamlSyntaxError(name, err)}
	}
	d := &decoder{file: &File{Name: name, pos: map[string]Pos{}}}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	d.decode(doc, reflect.ValueOf(v).Elem(), "")
	if len(d.errs) > 0 {
		return d.errs
	}
	return nil
}

// yamlSyntaxError turns a yaml.v3 parse error ("yaml: line 3: did not find
// expected key") into an Error with a position.
func yamlSyntaxError(name string, err error) Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := Error{File: name, Msg: "invalid YAML: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				e.Pos = Pos{n, 1}
				e.Msg = "invalid YAML:" + rest[i+1:]
			}
		}
	}
	return e
}

// maxAliasedValues bounds how many values a document's YAML aliases may
// add when they are expanded. An alias repeats the node it names, and an
// alias of a list of aliases multiplies: a "billion laughs" document of a
// few kilobytes expands to billions of values (a 37 KB config of 300 APIs
// sharing one list of 300 routes sharing one list of 300 methods decoded
// to 27 million values, in 32 s and 4 GB). A document's own values are
// never counted; what its aliases repeat may add this many.
const maxAliasedValues = 200_000

type decoder struct {
	file   *File
	getenv func(string) (string, bool)
	errs   Errors
	// inAlias is how many aliases the value being decoded lies under;
	// aliased counts the values decoded under one; over is set once
	// they pass maxAliasedValues or the errors pass maxErrors, and
	// decoding stops.
	inAlias, aliased int
	over             bool
}

// maxErrors is how many problems one config reports: past it, decoding
// (or validation) stops and the list ends with a note. A 4 MB list of two
// million wrong values otherwise made two million errors, 2.7 GB of them
// with their positions.
const maxErrors = 1000

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	if d.over {
		return
	}
	if len(d.errs) == maxErrors {
		d.errs = append(d.errs, Error{File: d.file.Name, Pos: Pos{n.Line, n.Column}, Msg: tooMany})
		d.over = true
		return
	}
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.errs = append(d.errs, Error{File: d.file.Name, Pos: Pos{n.Line, n.Column}, Msg: msg})
}

var (
	durationType   = reflect.TypeFor[Duration]()
	rateLimitsType = reflect.TypeFor[RateLimits]()
	decimalType    = reflect.TypeFor[Decimal]()
	decimalRE      = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,12})?$`)
)

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.over {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		d.inAlias++
		defer func() { d.inAlias-- }()
		n = n.Alias
	}
	if d.inAlias > 0 {
		if d.aliased++; d.aliased > maxAliasedValues {
			d.errorf(n, path, "YAML aliases expand the config by more than %d values; write the repeated parts out, or share fewer of them", maxAliasedValues)
			d.over = true
			return
		}
	}
	d.file.pos[path] = Pos{n.Line, n.Column}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // absent and null are the same: the zero value
	}
	if v.Type() == durationType {
		s, ok := d.scalar(n, path, "a duration such as 10s or 250ms")
		if !ok {
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil || dur < 0 {
			d.errorf(n, path, "%q is not a duration; write a non-negative value such as 10s or 250ms", s)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	if v.Type() == decimalType {
		s, ok := d.scalar(n, path, "a decimal number such as 0.0005")
		if !ok {
			return
		}
		if !decimalRE.MatchString(s) {
			d.errorf(n, path, "%q is not a decimal number; write digits with an optional fraction, such as 12 or 0.0005", s)
			return
		}
		v.SetString(s)
		return
	}
	if v.Type() == rateLimitsType && n.Kind == yaml.MappingNode {
		// One limit without the list.
		s := reflect.MakeSlice(v.Type(), 1, 1)
		d.decode(n, s.Index(0), path+"[0]")
		v.Set(s)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		d.decode(n, nv.Elem(), path)
		v.Set(nv)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map: // map[string]T: free-form keys, such as header names
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "must be a mapping, got %s", kindName(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key, ok := d.scalar(k, path, "a key")
			if !ok {
				continue
			}
			kp := path + "." + key
			if m.MapIndex(reflect.ValueOf(key)).IsValid() {
				d.errorf(k, kp, "is given twice")
				continue
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, ev, kp)
			m.SetMapIndex(reflect.ValueOf(key), ev)
		}
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "must be a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Int, reflect.Int64:
		s, ok := d.scalar(n, path, "an integer")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			d.errorf(n, path, "%q is not an integer", s)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		s, ok := d.scalar(n, path, "a number")
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.errorf(n, path, "%q is not a number", s)
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		switch s {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.errorf(n, path, "%q is not a boolean; write true or false", s)
		}
	default:
		panic(fmt.Sprintf("config: no decoder for %s", v.Type())) // a schema type we forgot
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping of keys to values, got %s", kindName(n))
		return
	}
	t := v.Type()
	fields := make(map[string]int, t.NumField())
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[tag] = i
		names = append(names, tag)
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be plain names, got %s", kindName(k))
			continue
		}
		if k.Value == "<<" {
			d.errorf(k, path, "YAML merge keys (<<) are not supported; repeat the keys instead")
			continue
		}
		kp := k.Value
		if path != "" {
			kp = path + "." + k.Value
		}
		idx, ok := fields[k.Value]
		if !ok {
			msg := fmt.Sprintf("unknown key %q", unprotect(k.Value))
			if s := suggest(k.Value, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			d.errorf(k, path, "%s", msg)
			continue
		}
		if seen[k.Value] {
			d.errorf(k, path, "key %q is set twice", k.Value)
			continue
		}
		seen[k.Value] = true
		d.decode(val, v.Field(idx), kp)
	}
}

// scalar returns the interpolated text of a scalar node.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "must be %s, got %s", want, kindName(n))
		return "", false
	}
	if d.getenv == nil {
		return unprotect(n.Value), true // documents sent to the admin API: no ${VAR}
	}
	s, err := interpolate(n.Value, d.getenv)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return "", false
	}
	return s, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", unprotect(n.Value))
	default:
		return "something else"
	}
}

// suggest returns the candidate closest to s when it is close enough to be
// a likely typo, or "".
func suggest(s string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		if dist := levenshtein(strings.ToLower(s), c); bestDist < 0 || dist < bestDist {
			best, bestDist = c, dist
		}
	}
	if bestDist >= 0 && (bestDist <= 2 || bestDist <= len(s)/3) {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
