# Everything starts from a fresh machine: `make demo` and `make test` install what they need.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: deps demo test lint bench clean

deps:
	@scripts/install-deps.sh

demo: deps
	$(PY) scripts/demo.py

test: deps
	$(PY) -m pytest $(PYTEST_ARGS)

lint: deps
	$(VENV)/bin/ruff check registry pipe vocab test bench

bench: deps
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) test-artifacts bench/.work .pytest_cache
