# Two commands work on a fresh machine with only Python and Swift: `make demo` and `make test`.
# Each creates .venv (ignored by git) and installs what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean swift-test-data swift-test

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned to the build this machine serves from disk (timm needs torchvision).
	$(PIP) install --quiet torch==2.14.1 torchvision==0.29.1
	$(PIP) install --quiet -e '.[test]'
	# The original EdgeTAM code (test oracle); its declared deps would pull a second torch.
	$(PIP) install --quiet --no-deps edgetam-dimos==1.0.1
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m edgetam_export.demo

# The Python suite records the traces the Swift tests replay (tests/test_trace.py writes them to
# build/swift-test-data/traces); then the Swift package builds without warnings and `swift test` replays them.
# Swift is found on PATH or in /opt/swift, where the toolchain installs.
SWIFT_DATA := $(CURDIR)/build/swift-test-data
export PATH := $(PATH):/opt/swift/usr/bin

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q
	$(PY) -m tests.swift_vectors $(SWIFT_DATA)/vectors
	cd ios_demo && swift build -Xswiftc -warnings-as-errors
	cd ios_demo && EDGETAM_TEST_DATA=$(SWIFT_DATA) swift test -Xswiftc -warnings-as-errors

# Regenerate the Swift tests' data without the Python suite, then run only the Swift tests.
swift-test-data: $(STAMP)
	$(PY) -m tests.record_traces $(SWIFT_DATA)/traces
	$(PY) -m tests.swift_vectors $(SWIFT_DATA)/vectors

swift-test:
	cd ios_demo && swift build -Xswiftc -warnings-as-errors
	cd ios_demo && EDGETAM_TEST_DATA=$(SWIFT_DATA) swift test -Xswiftc -warnings-as-errors

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf build
