// Command portico is the Portico API gateway and management platform.
//
//	portico serve      run an all-in-one node
//	portico validate   check a config file
//	portico version    print the version
//
// See docs/cli.md for every command, flag and environment variable.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

// exitError carries a process exit code out of run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		keepMonitorAwake() // may start the process again: see monitor.go
	}
	// A gateway's live heap is a few MiB, so with Go's default GOGC=100 the
	// collector runs many times a second under load. 400 trades some tens of
	// MiB for ~20% more throughput and a lower tail (docs/performance.md).
	// GOGC and GOMEMLIMIT in the environment still win.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if ee == nil || !errors.Is(ee.err, errSilent) {
		fmt.Fprintln(os.Stderr, "portico:", err)
	}
	os.Exit(code)
}

// errSilent marks an exit whose messages were already printed.
var errSilent = errors.New("")

const usage = `Portico — API gateway and management platform

Usage:
  portico serve [flags]       run an all-in-one node (gateway, admin, portal)
  portico validate PATH       check a config file; errors as PATH:LINE:COL: message
  portico apply FILE          make FILE the live configuration of a running node
  portico diff FILE           compare FILE with the live configuration (exit 0 same, 1 differs, 2 error)
  portico export              print the live configuration as YAML
  portico usage export --month YYYY-MM
                              print every consumer's statement for a month (CSV, or --format json)
  portico version             print the version

apply, diff, export and usage use --admin URL ($PORTICO_ADMIN_URL) and $PORTICO_ADMIN_TOKEN.
Not available in this version yet: dataplane.
Run "portico COMMAND -h" for a command's flags.
`

// run is the whole program, with its environment passed in for tests.
func run(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2, err: errSilent}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "validate":
		return validate(args[1:], getenv, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "apply":
		return apply(ctx, args[1:], getenv, stdout, stderr)
	case "diff":
		return diff(ctx, args[1:], getenv, stdout, stderr)
	case "export":
		return export(ctx, args[1:], getenv, stdout, stderr)
	case "usage":
		return usageCmd(ctx, args[1:], getenv, stdout, stderr)
	case "dataplane":
		return &exitError{code: 2, err: fmt.Errorf("%s is not available in this version of Portico yet", args[0])}
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2, err: fmt.Errorf("unknown command %q", args[0])}
	}
}

func versionString() string {
	v, commit := version, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				commit = s.Value[:12]
			}
		}
	}
	s := "portico " + v
	if commit != "" {
		s += " (" + commit + ")"
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		s += " " + bi.GoVersion
	}
	return s
}
