// Package testenv finds the external services that some tests need. A test
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
