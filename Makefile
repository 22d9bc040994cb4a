# Two set-up commands on a fresh machine:
#   make demo   -> creates .venv, installs bsct, runs BSCT on the built-in demo potentials, writes reports/demo/
#   make test   -> creates .venv, installs bsct with test extras, runs the test suite
#   make test-slow -> the long end-to-end tests (marked slow; CI runs them as a second step)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow install bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,models,zoo]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/bsct demo --out reports/demo --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

# pytest exits 5 when it collects no test: no slow test is not a failure
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow || [ $$? -eq 5 ]

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_scan.py

clean:
	rm -rf $(VENV) reports .pytest_cache
