# bayes_il2: two commands do everything.
#   make run   -> set up .venv and run every shipped analysis on the bundled data
#   make test  -> set up .venv and run the test suite
SHELL := /bin/bash
PY_VERSION := $(shell cat .python-version)
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Find an interpreter for .python-version: pythonX.Y on PATH, then pyenv.
define find_python
$(shell command -v python$(PY_VERSION) 2>/dev/null || \
  (command -v pyenv >/dev/null 2>&1 && pyenv root >/dev/null 2>&1 && \
   ls -d $$(pyenv root)/versions/$(PY_VERSION)*/bin/python 2>/dev/null | sort -V | tail -1) || \
  ls -d $$HOME/.pyenv/versions/$(PY_VERSION)*/bin/python 2>/dev/null | sort -V | tail -1)
endef
BASE_PY := $(strip $(call find_python))

.PHONY: setup run test bench clean lint

$(VPY):
	@if [ -z "$(BASE_PY)" ]; then echo "error: Python $(PY_VERSION) not found (install it, e.g. 'pyenv install $(PY_VERSION)')" >&2; exit 2; fi
	$(BASE_PY) -m venv $(VENV)

$(STAMP): $(VPY) pyproject.toml
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/bayes-il2 run
	$(VENV)/bin/bayes-il2 data check
	$(VENV)/bin/bayes-il2 data crosscheck

test: setup
	bash scripts/ensure_chromium.sh || echo "warning: Chromium unavailable; browser tests will be skipped"
	$(VPY) -m pytest -n 2 --dist worksteal --timeout 900

bench: setup
	$(VPY) benchmarks/run.py

clean:
	rm -rf $(VENV) results .pytest_cache
