package transform

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A Path names a place in a JSON document, in a small syntax:
//
//	customer.id        the member "id" of the member "customer"
//	items[0].sku       the first element of "items", then its "sku"
//	items[].price      "price" of every element of "items"
//	"a.b".c            a member whose name holds a dot or a bracket, quoted
//
// Members are separated by dots; [n] indexes an array (from 0), [] stands
// for every element. Paths are parsed once, when the config is compiled.
type Path []step

type step struct {
	member string
	index  int  // with isIndex
	every  bool // []
	// isIndex marks an array step ([n] or []).
	isIndex bool
}

// maxPathSteps bounds a path, and so the nesting a mapping can create.
const maxPathSteps = 32

// ParsePath parses a path.
func ParsePath(s string) (Path, error) {
	if s == "" {
		return nil, errors.New("a path is empty")
	}
	var p Path
	i := 0
	expectMember := true
	for i < len(s) {
		if len(p) >= maxPathSteps {
			return nil, fmt.Errorf("a path has at most %d steps", maxPathSteps)
		}
		switch s[i] {
		case '[':
			if expectMember {
				return nil, fmt.Errorf("%q: an index follows a member name, as in items[0]", s)
			}
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("%q: [ without ]", s)
			}
			inner := s[i+1 : i+end]
			st := step{isIndex: true}
			if inner == "" {
				st.every = true
			} else {
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 || n > 1<<20 || inner != strconv.Itoa(n) {
					return nil, fmt.Errorf("%q: [%s] is not an index (a number from 0, or [] for every element)", s, inner)
				}
				st.index = n
			}
			p = append(p, st)
			i += end + 1
			expectMember = false
		case '.':
			if expectMember {
				return nil, fmt.Errorf("%q: an empty member name", s)
			}
			i++
			expectMember = true
			if i == len(s) {
				return nil, fmt.Errorf("%q ends with a dot", s)
			}
		case '"':
			if !expectMember {
				return nil, fmt.Errorf("%q: a quoted name must follow a dot", s)
			}
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("%q: unclosed quote", s)
			}
			p = append(p, step{member: s[i+1 : i+1+end]})
			i += end + 2
			expectMember = false
		default:
			if !expectMember {
				return nil, fmt.Errorf("%q: members are separated by dots", s)
			}
			end := strings.IndexAny(s[i:], ".[\"")
			if end < 0 {
				end = len(s) - i
			}
			p = append(p, step{member: s[i : i+end]})
			i += end
			expectMember = false
		}
	}
	return p, nil
}

// String writes p back in the path syntax.
func (p Path) String() string {
	var b strings.Builder
	for i, st := range p {
		switch {
		case st.every:
			b.WriteString("[]")
		case st.isIndex:
			b.WriteString("[" + strconv.Itoa(st.index) + "]")
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			if st.member == "" || strings.ContainsAny(st.member, ".[]\"") {
				b.WriteString(`"` + st.member + `"`)
			} else {
				b.WriteString(st.member)
			}
		}
	}
	return b.String()
}

// get returns the values at p in doc (several with []).
func (p Path) get(doc any) []any {
	vals := []any{doc}
	for _, st := range p {
		vals = st.walk(vals, false)
	}
	return vals
}

// parents returns the containers that hold the last step of p, creating
// missing objects on the way when create is set (never arrays: an index
// that does not exist is left alone).
func (p Path) parents(doc any, create bool) []any {
	vals := []any{doc}
	for _, st := range p[:len(p)-1] {
		vals = st.walk(vals, create)
	}
	return vals
}

// walk takes one step from each of vals.
func (st step) walk(vals []any, create bool) []any {
	var next []any
	for _, v := range vals {
		if st.isIndex {
			arr, ok := v.([]any)
			switch {
			case !ok:
			case st.every:
				next = append(next, arr...)
			case st.index < len(arr):
				next = append(next, arr[st.index])
			}
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			continue
		}
		child, ok := obj[st.member]
		if !ok && create {
			child = map[string]any{}
			obj[st.member] = child
			ok = true
		}
		if ok && (child != nil || !create) {
			next = append(next, child)
		}
	}
	return next
}

// set puts value at p (in every element with []); with onlyIfAbsent it
// leaves existing values alone.
func (p Path) set(doc any, value any, onlyIfAbsent bool) {
	last := p[len(p)-1]
	for _, parent := range p.parents(doc, true) {
		switch {
		case last.isIndex:
			arr, ok := parent.([]any)
			if !ok {
				continue
			}
			for i := range arr {
				if (last.every || i == last.index) && (!onlyIfAbsent || arr[i] == nil) {
					arr[i] = value
				}
			}
		default:
			obj, ok := parent.(map[string]any)
			if !ok {
				continue
			}
			if _, exists := obj[last.member]; onlyIfAbsent && exists {
				continue
			}
			obj[last.member] = value
		}
	}
}

// remove deletes what is at p (array elements are set to null, so that
// the other elements keep their indexes).
func (p Path) remove(doc any) {
	last := p[len(p)-1]
	for _, parent := range p.parents(doc, false) {
		switch {
		case last.isIndex:
			if arr, ok := parent.([]any); ok {
				for i := range arr {
					if last.every || i == last.index {
						arr[i] = nil
					}
				}
			}
		default:
			if obj, ok := parent.(map[string]any); ok {
				delete(obj, last.member)
			}
		}
	}
}

// move moves the value at from to to. Where both paths go through the
// same array with [] (items[].price to items[].cost), it moves within each
// element; otherwise from must name at most one value.
func move(doc any, from, to Path) {
	for i := range min(len(from), len(to)) {
		if from[i] != to[i] {
			break
		}
		if from[i].every && i < len(from)-1 && i < len(to)-1 {
			for _, elem := range from[:i+1].get(doc) {
				move(elem, from[i+1:], to[i+1:])
			}
			return
		}
	}
	vals := from.get(doc)
	if len(vals) != 1 {
		return
	}
	from.remove(doc)
	to.set(doc, vals[0], false)
}
