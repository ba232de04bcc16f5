package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// MaxOpenAPIDocument bounds an API's OpenAPI document in the portal.
const MaxOpenAPIDocument = 1 << 20

// ParseFile parses a config file, then reads the files it names
// (apis[].portal.openapi, relative to the file's directory) into the
// configuration, so that a revision carries everything it needs and any
// node can serve it.
func ParseFile(path string, data []byte, getenv func(string) (string, bool)) (*File, error) {
	f, err := Parse(path, data, getenv)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if path == "-" {
		dir = "."
	}
	var errs Errors
	for i := range f.Config.APIs {
		p := f.Config.APIs[i].Portal
		if p == nil || p.OpenAPI == "" {
			continue
		}
		key := fmt.Sprintf("apis[%d].portal.openapi", i)
		name := p.OpenAPI
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		info, err := os.Stat(name)
		if err == nil && info.Size() > MaxOpenAPIDocument {
			err = fmt.Errorf("it is %d bytes; the limit is %d", info.Size(), MaxOpenAPIDocument)
		}
		var doc []byte
		if err == nil {
			doc, err = os.ReadFile(name) //nolint:gosec // a file the operator's config names
		}
		if err != nil {
			errs = append(errs, Error{File: path, Pos: f.Pos(key), Msg: fmt.Sprintf("%s: cannot read %s: %v", key, p.OpenAPI, err)})
			continue
		}
		p.OpenAPIDocument, p.OpenAPI = string(doc), ""
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return f, nil
}
