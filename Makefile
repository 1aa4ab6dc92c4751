# creditgate — common tasks. `make help` lists them.
.PHONY: help test test-short lint fuzz run demo build bench

TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export TEST_REDIS_URL TEST_DATABASE_URL

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build the creditgate binary into ./bin
	go build -o bin/creditgate ./cmd/creditgate

test: ## the full suite against the local Redis and PostgreSQL (what CI runs)
	go test -race -count=1 -timeout 20m ./...

test-short: ## the suite with the embedded broker and SQLite only
	env -u TEST_REDIS_URL -u TEST_DATABASE_URL go test -count=1 ./...

lint: ## gofmt, go vet and golangci-lint (.golangci.yml) when it is installed
	test -z "$$(gofmt -l .)" || (gofmt -l . && false)
	go vet ./...
	@if command -v golangci-lint >/dev/null; then golangci-lint run ./...; \
	else echo "golangci-lint not installed: go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0"; fi

fuzz: ## a short run of every fuzz target
	go test -run='^$$' -fuzz=FuzzDecodeWebhook -fuzztime=30s ./calapi
	go test -run='^$$' -fuzz=FuzzVerifySignature -fuzztime=30s ./calapi

# The bench flushes the Redis database it measures in: keep it apart from
# database 0 (people's) and from the low numbers tests lease first.
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/15

bench: ## creditgate against raw asynq on the local Redis and PostgreSQL (docs/performance.md); BENCH_FLAGS=--json
	REDIS_URL=$(BENCH_REDIS_URL) DATABASE_URL=$(TEST_DATABASE_URL) go run ./cmd/creditgate bench $(BENCH_FLAGS)

demo: ## the whole flow on this machine, no set-up
	go run ./cmd/creditgate demo

run: ## creditgate serve with defaults
	go run ./cmd/creditgate serve
