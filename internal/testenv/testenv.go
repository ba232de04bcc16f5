// Package testenv finds the external services that some tests need, and
// holds the few test servers that several packages' tests share. A test
// whose service is missing is skipped with a loud message; when
// PORTICO_REQUIRE_SERVICES=1 (as .ci/run sets it) it fails instead, so a
// green CI run never hides a skipped suite.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// RequireServicesEnv turns a missing service from a skip into a failure.
const RequireServicesEnv = "PORTICO_REQUIRE_SERVICES"

// PostgresEnv holds the URL of a PostgreSQL server for tests, such as
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const PostgresEnv = "PORTICO_TEST_POSTGRES"

// PostgresURL returns the test PostgreSQL URL, or skips (fails, when
// services are required) when it is not set.
func PostgresURL(t testing.TB) string {
	t.Helper()
	return need(t, PostgresEnv, "PostgreSQL")
}

func need(t testing.TB, env, what string) string {
	t.Helper()
	v := os.Getenv(env)
	if v != "" {
		return v
	}
	msg := "SKIPPING: " + what + " is not configured; set " + env + " to run this test (make test and .ci/run do)"
	if os.Getenv(RequireServicesEnv) == "1" {
		t.Fatal(msg + ", and " + RequireServicesEnv + "=1 requires it")
	}
	t.Skip(msg)
	return ""
}

// SharedFile returns the path of a file of the workspace's shared test data
// (shared/testdata/…, beside the repository), searching upwards from the
// test's directory. The external vectors there are run, not copied; a
// test that needs one fails when it is missing.
func SharedFile(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "testdata", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("shared/testdata/%s was not found above %s; the external test vectors live beside the repository", rel, mustWd())
		}
		dir = parent
	}
}

func mustWd() string {
	wd, _ := os.Getwd()
	return wd
}

// ChromiumEnv holds the path of a Chromium (or Chrome) binary for the
// browser tests; without it, /usr/bin/chromium is used when present.
const ChromiumEnv = "PORTICO_TEST_CHROMIUM"

// Chromium returns the path of a headless-capable Chromium, or skips
// (fails, when services are required) when there is none.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(ChromiumEnv); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return need(t, ChromiumEnv, "Chromium (Debian's chromium package)")
}

// ScreenshotDir returns where browser tests write their screenshots:
// $PORTICO_SCREENSHOTS, or build/screenshots at the repository's root.
func ScreenshotDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PORTICO_SCREENSHOTS")
	if dir == "" {
		wd, _ := os.Getwd()
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, "build", "screenshots")
				break
			}
			if filepath.Dir(d) == d {
				dir = filepath.Join(t.TempDir(), "screenshots")
				break
			}
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil { //nolint:gosec // a directory the developer names for test output
		t.Fatal(err)
	}
	return dir
}
