# Every target bootstraps .venv idempotently: the stamp is keyed on pyproject.toml,
# so a second run installs nothing unless the dependencies changed.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HASH := $(shell sha256sum pyproject.toml | cut -c1-16)
STAMP := $(VENV)/.installed-$(HASH)
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: run demo test bench lint clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch lies on this machine's disk; installing it first keeps
	# pip from pulling a multi-GB CUDA build for the [train] extra.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[train,test,bench]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/lightdom --home . init --sample
	$(VENV)/bin/lightdom --home .

demo: $(STAMP)
	$(VENV)/bin/lightdom demo

test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
