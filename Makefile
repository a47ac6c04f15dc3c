# Set-up and everyday targets. The virtual environment is created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test test-fast bench clean-book

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[book,test]'
	touch $(STAMP)

## book: build the Jupyter Book into _build/html (from the committed results; no training)
book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --keep-going

## test: the whole test suite (unit, integration, notebooks with nbval)
test: $(STAMP)
	$(BIN)/python -m pytest -q

## test-fast: everything but the tests marked slow
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

## bench: throughput and FID timing benchmarks (print figures)
bench: $(STAMP)
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/fid_timing.py

clean-book:
	rm -rf _build
