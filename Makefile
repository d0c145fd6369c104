# cratedig: `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-data
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck bench clean venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m cratedig.demo --dir $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy src

# Each benchmark prints its figures; RecTools (a peer) gets a venv of its own.
bench: $(STAMP)
	[ -x .venv-bench/bin/python ] || bash benchmarks/setup_rectools_venv.sh .venv-bench
	$(BIN)/python benchmarks/simulate.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/matrix.py
	CRATEDIG_RECTOOLS_PYTHON=.venv-bench/bin/python $(BIN)/python benchmarks/accuracy_lastfm.py --seeds 0,1,2
	$(BIN)/python benchmarks/serve_load.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
