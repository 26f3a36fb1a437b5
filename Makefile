# cubegate — see README.md. The module and build caches are kept warm on
# purpose: pg_query_go and DuckDB are cgo and slow to build the first time.

GO       ?= go
BIN      := bin/cubegate
PKGS     := ./...
STATICCHECK_VERSION := v0.8.2

.PHONY: all build demo test test-go fuzz-short fuzz deps lint fmt-check vet staticcheck bench clean soak

all: build

build:
	$(GO) build -o $(BIN) ./cmd/cubegate

## demo: the gateway on embedded DuckDB with a million generated orders; prints a psql line.
demo: build
	./$(BIN) demo

## test: everything, against real PostgreSQL, DuckDB and real clients.
test: deps lint test-go fuzz-short

test-go:
	$(GO) test -count=1 -timeout 40m $(PKGS)

# Fuzz targets of the decoders of untrusted bytes: briefly in make test,
# longer with make fuzz (FUZZTIME=5000000x for more). Budgets are counts
# of executions, not durations: with a duration, Go 1.26's coordinator can
# report a spurious "context deadline exceeded" at the deadline
# (go.dev/issue/75804, fixed in Go 1.27).
FUZZ_TARGETS := ./pgwire:FuzzStartup ./pgwire:FuzzMessageDecoding ./auth:FuzzSCRAMServer ./auth:FuzzParseVerifier ./catalog:FuzzCatalog
FUZZTIME ?= 1000000x
# Minimizing a new input runs it again and again (60 s by default): an
# input that ends at a 2 s time budget stalled make test for 45 s.
FUZZMINIMIZE ?= 50x

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=20000x

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg; \
	done

deps:
	@./scripts/deps.sh

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

## bench: the gateway against the warehouse queried directly, in one run; prints the figures.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 2s ./cubes ./planner ./catalog ./auth
	$(GO) test -run '^$$' -bench 'GatewayVsDirect' -benchtime 30x ./cmd/cubegate/app
	$(GO) test -run '^$$' -bench 'LoadVsPostgres|IdleConnections|ResultCache' -benchtime 1x ./cmd/cubegate/app
	$(GO) test -run '^$$' -bench 'PreAggregation$$' -benchtime 1x -timeout 30m ./cmd/cubegate/app
	$(GO) test -run '^$$' -bench . -benchtime 1x ./warehouse/rollup

## soak: issue #13's soak: the real binary under mixed hostile and normal load
## from 4 clients for SOAK_DURATION (20s of it runs in make test); prints
## statements by outcome, crashes (must be 0), peak RSS, RSS over time and
## the bystander's latency.
SOAK_DURATION ?= 30m
SOAK_TIMEOUT  ?= 3h
soak:
	CUBEGATE_SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -run '^TestSoak$$' -v -timeout $(SOAK_TIMEOUT) ./cmd/cubegate/app

clean:
	rm -rf bin .cubegate
