# fairnotes — the two commands a user needs are `make book` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FMNIST := /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: setup data test test-all book chapters benchmarks clean help

help:
	@echo "make book   - set up, run every chapter (laptop profile), build the HTML book"
	@echo "make test   - set up and run the tests"
	@echo "make setup  - create .venv and install fairnotes with its dependencies"

setup: $(STAMP) data

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

# Real data that installs from the package registries (see book/data.md): Fashion-MNIST from Debian,
# the emoji art of EmojiProf from npm (fairnotes/data/fetch_emoji.py pins the versions; skips what is there).
data: $(STAMP)
	@if ! ldconfig -p 2>/dev/null | grep -q libcairo.so.2 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing libcairo2 (cairosvg renders the SVG emoji)"; \
	  apt-get install -y -q libcairo2 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q libcairo2 >/dev/null); fi
	@if command -v npm >/dev/null; then $(BIN)/python -m fairnotes.data.fetch_emoji; \
	else echo "npm is not installed (Debian: apt-get install npm); EmojiProf needs it: $(BIN)/python -m fairnotes.data.fetch_emoji"; fi
	@if [ -f $(FMNIST) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Fashion-MNIST from Debian (dataset-fashion-mnist)"; \
	  (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null)); \
	else \
	  echo "Fashion-MNIST is not installed. Run:  sudo apt-get install dataset-fashion-mnist"; \
	  echo "(or let torchvision download it: fairnotes.data.load('fashion-mnist', download=True))"; \
	fi

test: setup
	$(BIN)/python -m pytest -q -m "not heavy"

test-all: setup  # also the heavy tests (the MuSE and D3G exercises on the tiny profile: ~10 more minutes)
	$(BIN)/python -m pytest -q

chapters: setup
	$(BIN)/fairnotes book --no-build

book: setup
	$(BIN)/fairnotes book

benchmarks: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf _build .pytest_cache
