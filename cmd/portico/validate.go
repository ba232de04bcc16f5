package main

import (
	"fmt"
	"io"
)

// validate checks a config file: exit 0 when valid; otherwise every error
// as PATH:LINE:COL: message on stderr, and exit 1.
func validate(args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] == "" || args[0][0] == '-' && args[0] != "-" {
		fmt.Fprintln(stderr, "usage: portico validate PATH")
		return &exitError{code: 2, err: errSilent}
	}
	if _, err := readConfigFile(args[0], getenv, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: valid\n", args[0])
	return nil
}
