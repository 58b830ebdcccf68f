# Two commands work on a fresh machine with only Python: `make demo` and `make test`.
# Each creates .venv (ignored by git) and installs what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

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

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf build
