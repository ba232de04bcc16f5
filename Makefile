# Portico's developer commands. `make test` is the one command that runs
# every test; .ci/run calls it too.

GO       ?= go
FUZZTIME ?= 10s

# Tests that need PostgreSQL read its URL from here; scripts/services.sh
# makes sure the server runs. .ci/run also sets PORTICO_REQUIRE_SERVICES=1,
# which turns a missing service from a skip into a failure.
PORTICO_TEST_POSTGRES ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export PORTICO_TEST_POSTGRES
PORTICO_TEST_REDIS ?= redis://127.0.0.1:6379/0
export PORTICO_TEST_REDIS

.PHONY: test vet race unit fuzz bench bench-go build run lint services sdk

## test: vet and lint, the whole suite under the race detector, the LLM
## SDK conformance matrix, then every fuzz target for FUZZTIME each (their
## kept corpora also run as plain tests)
test: vet lint race sdk fuzz

vet:
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

race: services
	$(GO) test -race -count=1 ./...

## unit: the suite without the race detector (faster)
unit: services
	$(GO) test -count=1 ./...

## sdk: the LLM gateway's SDK conformance matrix (test/sdk, a module of its
## own): the official OpenAI and Anthropic SDKs for Go and for Node
## (installed from the npm registry by npm ci) against Portico and the
## mock providers
sdk: services
	cd test/sdk/node && npm ci --no-audit --no-fund --loglevel=error
	cd test/sdk/go && $(GO) vet ./... && $(GO) test -count=1 ./...

## services: start (or install and start) what the tests talk to
services:
	scripts/services.sh

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## bench: Go benchmarks (router, full request), then the load harness
bench: bench-go
	bench/run.sh

bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

build:
	$(GO) build -o portico ./cmd/portico

run:
	$(GO) run ./cmd/portico serve --demo

## lint: golangci-lint with the linters listed in .golangci.yml (pinned;
## built from the Go module proxy on first use, cached afterwards)
lint:
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run ./...
