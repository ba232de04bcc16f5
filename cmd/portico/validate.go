package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/portico-gw/portico/internal/config"
)

// validate checks a config file: exit 0 when valid; otherwise every error
// as PATH:LINE:COL: message on stderr, and exit 1.
func validate(args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] == "" || args[0][0] == '-' {
		fmt.Fprintln(stderr, "usage: portico validate PATH")
		return &exitError{code: 2, err: errSilent}
	}
	path := args[0]
	data, err := os.ReadFile(path) //nolint:gosec // the operator names the config file to read
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", path, errors.Unwrap(err))
		return &exitError{code: 1, err: errSilent}
	}
	f, err := config.Parse(path, data, getenv)
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintln(stderr, e.Error())
			}
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
		}
		return &exitError{code: 1, err: errSilent}
	}
	fmt.Fprintf(stdout, "%s: valid\n", path)
	return nil
}
