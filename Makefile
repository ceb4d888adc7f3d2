# spool — the targets a developer needs. Bare `make` lists them.
#
# giouring links only with -checklinkname=0 on Go 1.26, so every build and
# test passes it. Tests build with -tags invariants, which turns on the
# expensive self-checks (indexes agree with scans, segment lists contiguous).

GO        ?= go
LDFLAGS   := -ldflags=-checklinkname=0
TESTFLAGS := -tags invariants $(LDFLAGS)
PKGS      := ./...
FUZZTIME  ?= 30s
BENCHCOUNT ?= 5
CRASH_ITERATIONS ?= 300
FAILOVER_CYCLES ?= 30

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build the one binary at bin/spool
	$(GO) build $(LDFLAGS) -o bin/spool ./tools/spool

.PHONY: run
run: build ## serve Kafka on 127.0.0.1:9092 with data under ./data
	./bin/spool serve --log.dirs=./data --listeners=PLAINTEXT://127.0.0.1:9092

.PHONY: test
test: ## the test command: lint, then every test with invariants on, storage packages under -race too
	$(GO) vet $(LDFLAGS) $(PKGS)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) test $(TESTFLAGS) -count=1 -timeout 20m $(PKGS)
	$(GO) test $(TESTFLAGS) -race -count=1 -timeout 20m ./index/ ./segment/ ./engine/... ./wire/ ./netio/ ./replica/ ./broker/ ./tools/...

.PHONY: lint
lint: ## gofmt, go vet, and the project's lint tests (import table of docs/ARCHITECTURE.md, function length ratchet)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet $(LDFLAGS) $(PKGS)
	$(GO) test $(TESTFLAGS) -count=1 ./internal/lint/

.PHONY: compat
compat: ## report spool's advertised API versions against Kafka 4.1's client-facing keys (missing, behind)
	$(GO) run $(LDFLAGS) ./tools/compat

.PHONY: bench
bench: ## storage benchmarks, BENCHCOUNT runs each, fixed op counts (feed to benchstat)
	$(GO) test $(LDFLAGS) -run='^$$' -bench='SegmentFill|RecoveryScan' -benchtime=10x -count=$(BENCHCOUNT) ./segment/
	$(GO) test $(LDFLAGS) -run='^$$' -bench='Plan' -benchtime=200000x -count=$(BENCHCOUNT) ./segment/
	$(GO) test $(LDFLAGS) -run='^$$' -bench='LogAppend|ShardGroupCommit' -benchtime=1000x -count=$(BENCHCOUNT) ./engine/
	$(GO) test $(LDFLAGS) -run='^$$' -bench='LogRead' -benchtime=200000x -count=$(BENCHCOUNT) ./engine/
	$(GO) test $(LDFLAGS) -run='^$$' -bench=. -count=$(BENCHCOUNT) ./index/

.PHONY: bench-broker
bench-broker: build ## spool bench: e2e latency of spool, kfake and the harness's sink, alternating, 3 rounds (~2 min); results in bench-results/
	./bin/spool bench compare --brokers spool,kfake,sink --rounds 3 --warmup 2s --duration 6s --rate 10000 e2e
	./bin/spool bench compare --brokers spool,kfake,sink --rounds 3 --warmup 1s --duration 4s --record-size 1024 --acks 1 --producers 2 --inflight 5 produce

.PHONY: interop
interop: ## real-client interop: kcat, confluent-kafka and kafka-python (from Debian) against a real broker
	@(command -v kcat >/dev/null && /usr/bin/python3 -c 'import confluent_kafka, kafka' 2>/dev/null) || \
	  (apt-get update -qq && apt-get install -y -qq kcat python3-confluent-kafka python3-kafka)
	SPOOL_INTEROP=1 $(GO) test $(TESTFLAGS) -count=1 -run 'Interop' -v ./broker/

.PHONY: fuzz
fuzz: ## every fuzz target for FUZZTIME each, then the long torn-tail run
	@for target in $$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' . | sed 's/func //' | sort -u); do \
	  pkg=$$(grep -rlE "^func $$target\(" --include='*_test.go' . | xargs dirname); \
	  echo "== $$target in $$pkg"; \
	  $(GO) test $(TESTFLAGS) -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	done
	$(MAKE) crash

.PHONY: crash
crash: ## long randomized crash and torn-tail runs (CRASH_ITERATIONS each), then FAILOVER_CYCLES leader-kill/promote/rejoin cycles
	SPOOL_CRASH_ITERATIONS=$(CRASH_ITERATIONS) $(GO) test $(TESTFLAGS) -count=1 -timeout 60m -run 'Crash|TornTail' -v ./engine/ ./segment/
	$(GO) test $(TESTFLAGS) -count=$(FAILOVER_CYCLES) -timeout 60m -run 'TestFailoverKeepsAcknowledgedRecords' ./broker/

.PHONY: clean
clean: ## remove build output (never ./data)
	rm -rf bin
