# photocloud: the two commands a newcomer needs are `make demo` and `make test`.
SWIFT ?= swift
RELEASE_BIN := .build/release/photocloud
DEBUG_BIN := .build/debug/photocloud

.PHONY: deps build release test demo bench report fuzz simulate clean

deps:
	@./scripts/ensure-deps.sh

build: deps
	$(SWIFT) build

# The Swift runtime linked in: a process starts in about 11 ms instead of 19
# (no dynamic relocations of libswiftCore and Foundation), which every CLI
# command pays (docs/benchmarks.md).
release: deps
	$(SWIFT) build -c release --static-swift-stdlib

# Unit tests, simulations, the integration tests that spawn the real binary,
# and the browser test of the web album.
test: deps
	$(SWIFT) build --build-tests
	# Units first, then the simulations (seconds of CPU each, which starved the
	# units' clouds of loopback servers when they ran beside them), then the
	# tests that run the binary and its server processes: none competes with
	# another for the two cores.
	$(SWIFT) test --skip-build --disable-xctest --skip IntegrationTests --skip SystemSimulationTests
	$(SWIFT) test --skip-build --disable-xctest --filter SystemSimulationTests
	$(SWIFT) test --skip-build --disable-xctest --filter IntegrationTests
	# The web album in real headless Chromium (installed when missing), keyboard
	# only; its screenshots go to .build/browser-test.
	./scripts/browser-test.sh $(DEBUG_BIN) .build/browser-test

# The whole story on one machine, narrated.
demo: release
	./scripts/demo.sh $(RELEASE_BIN)

# Every benchmark, in release, with JSON next to the printed figures.
bench: release
	mkdir -p bench-results
	$(RELEASE_BIN) bench udp --json bench-results/udp.json
	$(RELEASE_BIN) bench stego --sweep --json bench-results/stego.json
	$(RELEASE_BIN) bench image --json bench-results/image.json
	python3 scripts/compare-stegano.py $(RELEASE_BIN) --json bench-results/stegano.json
	command -v iperf3 >/dev/null || apt-get install -y -qq iperf3 >/dev/null || true
	$(RELEASE_BIN) bench transfer --size 256MiB --compare --json bench-results/transfer-clean.json
	$(RELEASE_BIN) bench transfer --size 16MiB --loss 0.1 --duplicate 0.02 --reorder 0.05 --json bench-results/transfer-faults.json
	$(RELEASE_BIN) bench transfer --size 8MiB --delay-ms 5 --loss 0.01 --compare --json bench-results/transfer-rtt.json

# The original's table beside ours, failover, transfers, steganography and
# peers in one run, with plots: bench-report/report.md (about 5-15 minutes;
# QUICK=1 about 1-2). docs/benchmarks.md holds the latest full one.
report: release
	command -v iperf3 >/dev/null || apt-get install -y -qq iperf3 >/dev/null || true
	$(RELEASE_BIN) bench all --report bench-report $(if $(QUICK),--quick,)

# The protocol machines from many seeds, with faults, checking invariants
# (`make test` runs a few seeds; 1,000 take about 3 minutes). A violation stops
# it with the command that replays it. SEEDS from SEED on, STEPS each.
SEED ?= 1
SEEDS ?= 1000
STEPS ?= 2000
simulate: release
	$(RELEASE_BIN) simulate --seed $(SEED) --count $(SEEDS) --steps $(STEPS)

# libFuzzer on the wire decoders, the transfer machines, the replay guard and
# the PNG decoder, each for FUZZ_SECONDS (docs/fuzzing.md). Not part of `test`:
# the inputs it found are replayed there (Fuzz/regressions).
FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/fuzz.sh

clean:
	rm -rf .build bench-results bench-report demo-out Fuzz/.build Fuzz/work
