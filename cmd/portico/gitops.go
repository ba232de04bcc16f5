package main

// apply, diff and export: the GitOps commands. They speak to a running
// node's admin API, so the same YAML can live in git and be applied by CI.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/portico-gw/portico/internal/admin"
	"github.com/portico-gw/portico/internal/config"
)

// adminClient calls the admin API.
type adminClient struct {
	base, token, group string
	http               *http.Client
}

func newAdminClient(name string, args []string, getenv func(string) (string, bool), stderr io.Writer, more ...func(*envFlags)) (*adminClient, *envFlags, error) {
	f := newEnvFlags(name, getenv, stderr)
	base := f.string("admin", "PORTICO_ADMIN_URL", "http://127.0.0.1:9080", "the admin API of a running node")
	group := f.string("group", "PORTICO_GROUP", "default", "the gateway group")
	for _, m := range more {
		m(f)
	}
	f.fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: portico %s [flags]%s\n(the admin token comes from $PORTICO_ADMIN_TOKEN)\n", name, map[bool]string{true: " FILE", false: ""}[name == "apply" || name == "diff"])
		f.fs.PrintDefaults()
	}
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, &exitError{code: 0, err: errSilent}
		}
		return nil, nil, &exitError{code: 2, err: errSilent}
	}
	token, _ := getenv("PORTICO_ADMIN_TOKEN")
	if token == "" {
		return nil, nil, &exitError{code: 2, err: errors.New("set PORTICO_ADMIN_TOKEN to an admin token")}
	}
	return &adminClient{base: strings.TrimSuffix(*base, "/"), token: token, group: *group, http: &http.Client{Timeout: 30 * time.Second}}, f, nil
}

// call sends a request and decodes a JSON answer into out (when not nil).
// A non-2xx answer becomes an error carrying the API's message.
func (c *adminClient) call(ctx context.Context, method, path, contentType string, body []byte, accept string, out any) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Code, Message string
				Details       []struct {
					Line, Column int
					Message      string
				}
			} `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			msg := fmt.Sprintf("admin API: %s (%d %s)", e.Error.Message, resp.StatusCode, e.Error.Code)
			for _, d := range e.Error.Details {
				msg += "\n  " + d.Message
			}
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("admin API: %s %s answered %d", method, path, resp.StatusCode)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("admin API: %w", err)
		}
	}
	return raw, nil
}

// latest returns the number of the group's newest revision (0: none).
func (c *adminClient) latest(ctx context.Context) (int64, error) {
	var list struct {
		Revisions []struct {
			Revision int64 `json:"revision"`
		} `json:"revisions"`
	}
	if _, err := c.call(ctx, "GET", "/admin/v1/groups/"+c.group+"/revisions?limit=1", "", nil, "", &list); err != nil {
		return 0, err
	}
	if len(list.Revisions) == 0 {
		return 0, nil
	}
	return list.Revisions[0].Revision, nil
}

// liveConfig returns the group's newest revision and its configuration.
func (c *adminClient) liveConfig(ctx context.Context) (int64, *config.Config, string, error) {
	n, err := c.latest(ctx)
	if err != nil || n == 0 {
		return 0, &config.Config{Version: 1}, "", err
	}
	var rev struct {
		Hash    string          `json:"hash"`
		Content json.RawMessage `json:"content"`
	}
	if _, err := c.call(ctx, "GET", fmt.Sprintf("/admin/v1/groups/%s/revisions/%d", c.group, n), "", nil, "", &rev); err != nil {
		return 0, nil, "", err
	}
	f, err := config.Parse(fmt.Sprintf("revision %d", n), rev.Content, nil)
	if err != nil {
		return 0, nil, "", err
	}
	return n, f.Config, rev.Hash, nil
}

// readConfigFile reads, interpolates and validates a config file ("-" is
// standard input), printing every problem as PATH:LINE:COL: message and
// returning exit status 1 when there is one.
func readConfigFile(path string, getenv func(string) (string, bool), stderr io.Writer) (*config.Config, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path) //nolint:gosec // the operator names the file
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", path, errors.Unwrap(err))
		return nil, &exitError{code: 1, err: errSilent}
	}
	f, err := config.ParseFile(path, data, getenv)
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintln(stderr, e.Error())
			}
			return nil, &exitError{code: 1, err: errSilent}
		}
		return nil, err
	}
	return f.Config, nil
}

func fileArg(f *envFlags, name string) (string, error) {
	if f.fs.NArg() != 1 {
		return "", &exitError{code: 2, err: fmt.Errorf("usage: portico %s [flags] FILE", name)}
	}
	return f.fs.Arg(0), nil
}

// export prints the group's newest revision as YAML.
func export(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	c, _, err := newAdminClient("export", args, getenv, stderr)
	if err != nil {
		return err
	}
	n, err := c.latest(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("group %s has no revision yet", c.group)
	}
	raw, err := c.call(ctx, "GET", fmt.Sprintf("/admin/v1/groups/%s/revisions/%d", c.group, n), "", nil, "application/yaml", nil)
	if err != nil {
		return err
	}
	_, err = stdout.Write(raw)
	return err
}

// apply makes FILE the group's configuration: it replaces the draft and
// publishes it, unless the file already equals the newest revision.
func apply(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	c, f, err := newAdminClient("apply", args, getenv, stderr)
	if err != nil {
		return err
	}
	path, err := fileArg(f, "apply")
	if err != nil {
		return err
	}
	cfg, err := readConfigFile(path, getenv, stderr)
	if err != nil {
		return err
	}
	doc, err := config.Canonical(cfg)
	if err != nil {
		return err
	}
	n, _, hash, err := c.liveConfig(ctx)
	if err != nil {
		return err
	}
	if hash == config.ContentHash(doc) {
		fmt.Fprintf(stdout, "%s equals revision %d of group %s; nothing to apply\n", path, n, c.group)
		return nil
	}
	if _, err := c.call(ctx, "PUT", "/admin/v1/groups/"+c.group+"/draft", "application/json", doc, "", nil); err != nil {
		return err
	}
	msg, _ := json.Marshal(map[string]string{"message": "portico apply " + path})
	var pub struct {
		Revision int64  `json:"revision"`
		Hash     string `json:"hash"`
	}
	if _, err := c.call(ctx, "POST", "/admin/v1/groups/"+c.group+"/revisions", "application/json", msg, "", &pub); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "published revision %d of group %s (%s)\n", pub.Revision, c.group, pub.Hash)
	return nil
}

// diff compares FILE with the group's newest revision: exit 0 when they
// are the same configuration, 1 when they differ (the changes are
// printed), 2 on error.
func diff(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	c, f, err := newAdminClient("diff", args, getenv, stderr)
	if err != nil {
		return err
	}
	path, err := fileArg(f, "diff")
	if err != nil {
		return err
	}
	cfg, err := readConfigFile(path, getenv, stderr)
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			ee.code = 2
		}
		return err
	}
	n, live, _, err := c.liveConfig(ctx)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	// Compare canonical forms, so keys given in the clear match their hashes.
	liveDoc, _ := config.Canonical(live)
	fileDoc, _ := config.Canonical(cfg)
	lf, _ := config.Parse("live", liveDoc, nil)
	ff, _ := config.Parse(path, fileDoc, nil)
	changes := admin.Diff(lf.Config, ff.Config)
	if len(changes) == 0 {
		fmt.Fprintf(stdout, "%s equals revision %d of group %s\n", path, n, c.group)
		return nil
	}
	for _, ch := range changes {
		mark := map[string]string{"added": "+", "removed": "-", "changed": "~"}[ch.Change]
		line := fmt.Sprintf("%s %s %s", mark, ch.Kind, ch.Name)
		if len(ch.Fields) > 0 {
			line += ": " + strings.Join(ch.Fields, ", ")
		}
		fmt.Fprintln(stdout, line)
	}
	return &exitError{code: 1, err: errSilent}
}
