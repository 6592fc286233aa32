# VillageGateway: `make demo` runs the main job on the embedded default; `make test` passes the tests.
# Both install what a fresh Debian bookworm machine with Swift 6 lacks (as root), or say how.

SWIFT        ?= swift
BUILD_DIR    ?= .build
BIN          := $(BUILD_DIR)/debug/village-gateway
APT_PACKAGES := libgpiod-dev libserialport-dev libsqlite3-dev pkg-config socat libxml2-utils python3-venv sqlite3
# The county store's PostgreSQL tests: a throwaway server (tools/with-postgres.sh) for the run.
APT_PACKAGES += postgresql
# flash-test: a real sshd to install over, systemd-analyze to verify the unit, readelf for --binary.
APT_PACKAGES += openssh-server openssh-client systemd binutils
# The link-cut test (issue 18): network namespaces and veth (ip), a firewall drop (nft).
APT_PACKAGES += iproute2 nftables
# The dashboard's browser test: headless Chromium, its WebDriver, and a font with Chinese glyphs.
APT_PACKAGES += chromium chromium-driver fonts-wqy-microhei
# make hil only: the kernel source and its build tools, the emulator, the guest's busybox.
HIL_APT_PACKAGES := linux-source-6.1 gcc make flex bison bc libelf-dev cpio file qemu-system-x86 busybox-static binutils
VENV         := .venv
# The Modbus tests talk to a slave this project did not write; pinned so a pymodbus release
# that changes its server API cannot break `make test` on a fresh machine.
PYMODBUS_VERSION := 3.11.4
PYSERIAL_VERSION := 3.5
# The county API tests validate every page they are served against docs/schemas/ with it.
JSONSCHEMA_VERSION := 4.26.0
# The dashboard's browser test drives Chromium with it (4.38: its certifi pin is on Debian's PyPI mirror).
SELENIUM_VERSION := 4.38.0
OUT          := out

.PHONY: all deps build test demo bench bench-fleet soak footprint check-imports clean venv flash-test hil hil-deps fuzz fuzz-build

all: build

# Installs missing Debian packages when run as root; otherwise prints the exact command and stops.
deps:
	@command -v $(SWIFT) >/dev/null || { echo "error: swift not found: install Swift 6 and put it on PATH" >&2; exit 1; }
	@missing=""; for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "installing:$$missing"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	    else \
	        echo "missing Debian packages; run as root:" >&2; \
	        echo "  apt-get update && apt-get install -y$$missing" >&2; \
	        exit 1; \
	    fi; \
	fi

check-imports:
	@tools/check-warninglogic-imports.sh

build: deps
	$(SWIFT) build --build-path $(BUILD_DIR)

# A project-local Python with pymodbus for the Modbus tests (DriversTests find .venv/bin/python).
# Rebuilt only when the pins above change (the stamp records them).
VENV_STAMP := $(VENV)/.pymodbus-$(PYMODBUS_VERSION)-pyserial-$(PYSERIAL_VERSION)-jsonschema-$(JSONSCHEMA_VERSION)-selenium-$(SELENIUM_VERSION)
venv: $(VENV_STAMP)

# deps is order-only: it must run first, but being phony it must not force a reinstall each time.
$(VENV_STAMP): | deps
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	    "pymodbus==$(PYMODBUS_VERSION)" "pyserial==$(PYSERIAL_VERSION)" "jsonschema==$(JSONSCHEMA_VERSION)" \
	    "selenium==$(SELENIUM_VERSION)"
	rm -f $(VENV)/.pymodbus-*
	touch $@

test: deps check-imports venv
	$(SWIFT) build --build-path $(BUILD_DIR) --build-tests
	# One test at a time: the suites share a cooperative pool of two threads on a 2-core machine,
	# and in-process servers starved by other suites' blocking waits missed their timeouts.
	# Beside a throwaway PostgreSQL server (VG_TEST_POSTGRES_URL), stopped and deleted after.
	tools/with-postgres.sh $(SWIFT) test --build-path $(BUILD_DIR) --skip-build --no-parallel
	Tests/CommandLine/probe-and-ports.sh $(BIN) $(VENV)/bin/python
	# Root only (as CI runs): without namespaces or nft it fails, saying what is missing.
	python3 Tests/CommandLine/link-cut.py $(BIN)
	Tests/Flash/flash-test.sh $(BIN)
	$(VENV)/bin/python Tests/Dashboard/browser-test.py $(BUILD_DIR)/debug $(OUT)/dashboard

# tools/flash.sh into a temporary root and over SSH to a throwaway sshd (installs the debug build).
flash-test: deps
	$(SWIFT) build --build-path $(BUILD_DIR) --product village-gateway
	Tests/Flash/flash-test.sh $(BIN)

# Hardware in the loop: the release binary (built by tools/flash.sh) on a small Linux under
# qemu, against gpio-sim and a 16550 UART driven by a pymodbus slave. The kernel is built once
# (niced) and cached in $${XDG_CACHE_HOME:-~/.cache}/village-gateway/hil.
hil-deps:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(HIL_APT_PACKAGES)"

hil: hil-deps venv
	$(VENV)/bin/python tools/hil/run.py --python $(VENV)/bin/python

# Starts the box itself on the embedded default (--board sim) and plays the shipped typhoon in
# about a minute (72 h of storm at 4320x): the level rising, the siren patterns, the broadcasts,
# the SMS, the level clearing; then draws the replay's chart with `simulate`.
DEMO_STATE := $(OUT)/demo-state
demo: build
	@mkdir -p $(OUT)
	@rm -rf $(DEMO_STATE)
	$(BIN) run --config config/example.toml --board sim --scenario scenarios/typhoon-hagupit.csv --speed 4320 \
	    --state-dir $(DEMO_STATE) --exit-after-scenario --log-level notice
	@echo "outputs recorded in $(DEMO_STATE)/outputs.jsonl"
	$(BIN) simulate --config config/example.toml --scenario scenarios/typhoon-hagupit.csv --chart $(OUT)/typhoon-hagupit.svg > /dev/null
	@echo "chart written to $(OUT)/typhoon-hagupit.svg"

# Benchmarks print figures; they are built in release mode and never run as tests.
bench: deps
	$(SWIFT) build --build-path $(BUILD_DIR) -c release --product EngineBenchmark
	$(SWIFT) build --build-path $(BUILD_DIR) -c release --product ModbusBenchmark
	$(SWIFT) build --build-path $(BUILD_DIR) -c release --product village-gateway
	$(SWIFT) build --build-path $(BUILD_DIR) -c release --product village-county
	$(SWIFT) build --build-path $(BUILD_DIR) -c release --product OutboxBenchmark
	$(SWIFT) build --build-path $(BUILD_DIR) -c release --product DashboardBenchmark
	$(BUILD_DIR)/release/EngineBenchmark
	Benchmarks/Simulate/run.sh $(BUILD_DIR)/release/village-gateway
	$(BUILD_DIR)/release/ModbusBenchmark
	Benchmarks/Runtime/run.py $(BUILD_DIR)/release/village-gateway
	Benchmarks/Outbox/run.py $(BUILD_DIR)/release/village-gateway
	python3 Benchmarks/LinkReturn/run.py $(BUILD_DIR)/release/village-gateway
	tools/with-postgres.sh $(BUILD_DIR)/release/DashboardBenchmark $(BUILD_DIR)/release/village-county 2000

# A province: 2 000 simulated boxes (the box's real API, one process) pulled into SQLite and
# PostgreSQL (a throwaway server); prints stations/s, reports/s and a full round's time.
bench-fleet: deps
	$(SWIFT) build --build-path $(BUILD_DIR) -c release --product village-gateway
	$(SWIFT) build --build-path $(BUILD_DIR) -c release --product village-county
	tools/with-postgres.sh Benchmarks/Fleet/run.py $(BUILD_DIR)/release

# The footprint soak (issue 13): 8 Modbus registers at 1 Hz over a 9600-baud pty for SOAK_MINUTES
# (the issue's figure is 120), printing the resident memory curve. Real time: never in CI.
# Built as tools/flash.sh builds it for a board (static Swift runtime), so the figure is the board's.
# tools/board-build-flags: the compiler flags every board build gets (as tools/flash.sh reads them).
BOARD_BUILD_FLAGS := $(shell grep -v '^\#' tools/board-build-flags)
SOAK_MINUTES ?= 120
soak: deps venv
	$(SWIFT) build --build-path $(BUILD_DIR) -c release --static-swift-stdlib $(BOARD_BUILD_FLAGS) --product village-gateway
	Benchmarks/Soak/run.py $(BUILD_DIR)/release/village-gateway --minutes $(SOAK_MINUTES) --python $(VENV)/bin/python

# Where the box's resident memory is (issue 13): the release build a board gets (static Swift
# runtime) beside the same with the runtime as shared libraries, soaked side by side for
# FOOTPRINT_MINUTES, and the floors (Benchmarks/Footprint/Floor: Foundation, FoundationEssentials,
# the standard library). Needs root (process_madvise). Real time: never in CI.
# The dynamic build has a build directory of its own: switching --static-swift-stdlib in one
# recompiles every module (35 minutes on the team's machine).
FOOTPRINT_MINUTES   ?= 6
FOOTPRINT_BUILD_DIR ?= .build-dynamic
footprint: deps venv
	$(SWIFT) build --build-path $(BUILD_DIR) -c release --static-swift-stdlib $(BOARD_BUILD_FLAGS) --product village-gateway
	$(SWIFT) build --build-path $(FOOTPRINT_BUILD_DIR) -c release --product village-gateway
	Benchmarks/Footprint/run.py static=$(BUILD_DIR)/release/village-gateway dynamic=$(FOOTPRINT_BUILD_DIR)/release/village-gateway \
	    --minutes $(FOOTPRINT_MINUTES) --explain --python $(VENV)/bin/python

# Coverage-guided fuzzing (libFuzzer, address sanitizer) of every parser of outside bytes, each
# target for FUZZ_SECONDS from its seeds in Fuzz/corpus; prints exec/s and coverage per target
# (Fuzz/README.md). A second build directory: the sanitized objects never mix with $(BUILD_DIR).
FUZZ_SECONDS   ?= 60
FUZZ_BUILD_DIR ?= .build-fuzz
FUZZ_TARGETS   ?=
fuzz-build: deps
	VG_FUZZ=1 $(SWIFT) build --build-path $(FUZZ_BUILD_DIR) --manifest-cache none --product village-gateway

fuzz: fuzz-build
	tools/fuzz.sh $(FUZZ_BUILD_DIR)/debug/village-gateway $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_BUILD_DIR) $(OUT) $(VENV)
