package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"regexp"
)

var monthRE = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// usageCmd runs "portico usage export": every consumer's statement for a
// month, from the admin API, as CSV (the default) or JSON.
func usageCmd(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		return &exitError{code: 2, err: fmt.Errorf("usage: portico usage export --month YYYY-MM [--format csv|json] [--consumer NAME]")}
	}
	var month, format, consumer *string
	c, _, err := newAdminClient("usage export", args[1:], getenv, stderr, func(f *envFlags) {
		month = f.fs.String("month", "", "the month, YYYY-MM (in the group's quota_time_zone)")
		format = f.fs.String("format", "csv", "csv or json")
		consumer = f.fs.String("consumer", "", "only this consumer's statement")
	})
	if err != nil {
		return err
	}
	if !monthRE.MatchString(*month) {
		return &exitError{code: 2, err: fmt.Errorf("--month %q is not YYYY-MM", *month)}
	}
	if *format != "csv" && *format != "json" {
		return &exitError{code: 2, err: fmt.Errorf("--format %q is not csv or json", *format)}
	}
	path := "/admin/v1/statements/" + *month
	if *consumer != "" {
		path = "/admin/v1/consumers/" + url.PathEscape(*consumer) + "/statements/" + *month
	}
	path += "?format=" + *format + "&group=" + url.QueryEscape(c.group)
	raw, err := c.call(ctx, "GET", path, "", nil, "", nil)
	if err != nil {
		return err
	}
	_, err = stdout.Write(raw)
	return err
}
