# Set-up and everyday targets. The virtual environment is created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Chapters need the kernel's inline matplotlib backend to capture figures.
unexport MPLBACKEND

# Chapters execute with book/ as working directory: make a relative data path absolute.
ifdef DDPM_MNIST_DATA
export DDPM_MNIST_DATA := $(abspath $(DDPM_MNIST_DATA))
endif

.PHONY: book test test-fast bench notebooks clean-book

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[book,test,compare]'
	touch $(STAMP)

## book: build the Jupyter Book into _build/html (from the committed results; no training)
book: $(STAMP)
	$(BIN)/jupyter-book build . --all --warningiserror --keep-going   # --all: re-execute every chapter, the results may have changed

## notebooks: write book/<chapter>.ipynb from the MyST sources, for papermill:
##   papermill book/<chapter>.ipynb out.ipynb -p profile paper -p device cuda
notebooks: $(STAMP)
	$(BIN)/jupytext --to ipynb book/*.md

SMOKE     := $(abspath _build/smoke)
SMOKE_ENV := DDPM_PROFILE=smoke DDPM_RESULTS_DIR=$(SMOKE)/results

## test: the whole test suite. Builds the book in the smoke profile (warnings are errors),
## then runs the unit and integration tests, nbval on every executed chapter (re-executed
## from the stored smoke results and compared) and the checks of the built HTML.
test: $(STAMP)
	rm -rf $(SMOKE)
	$(SMOKE_ENV) $(BIN)/jupyter-book build . --path-output $(SMOKE) -W --keep-going
	$(SMOKE_ENV) DDPM_SMOKE_BOOK=$(SMOKE)/_build $(BIN)/python -m pytest -q tests $(SMOKE)/_build/jupyter_execute \
		--nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

## test-fast: everything but the tests marked slow
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

## bench: training throughput, FID timing and sampling-rate benchmarks (print figures)
bench: $(STAMP)
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/fid_timing.py
	$(BIN)/python benchmarks/sampling_rate.py

clean-book:
	rm -rf _build
