# One command each: every target sets up .venv itself, with only what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Azurite (the Azure Storage emulator) is an npm package; the integration tests start it.
AZURITE_VERSION := 3.37.0
AZURITE := .cache/azurite/node_modules/.bin/azurite-blob

# The extras of each level (pyproject.toml): each adds to the one before, so `make demo` then
# `make test` installs the difference into the same venv instead of building a new one.
EXTRAS_demo := demo
EXTRAS_bench := bench
# The suite covers `datapic deploy`/`status`, `--check` and the Python client, so their extras
# come along.
EXTRAS_test := test,deploy,check,client

.PHONY: demo test regen lint bench clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	touch $@

# One stamp per level: reinstalled when the dependencies change, never rebuilt from scratch.
$(VENV)/.installed-%: pyproject.toml templates/pod/requirements.txt | $(VENV)/.created
	$(PY) -m pip install --quiet -e '.[$(EXTRAS_$*)]' -r templates/pod/requirements.txt
	touch $@

demo: $(VENV)/.installed-demo
	$(PY) examples/demo.py

$(AZURITE):
	npm install --silent --no-audit --no-fund --prefix .cache/azurite azurite@$(AZURITE_VERSION)

test: $(VENV)/.installed-test $(AZURITE)
	$(PY) -m ruff check compiler datapic templates tests examples
	$(PY) -m pytest

regen: $(VENV)/.installed-demo
	$(VENV)/bin/datapic compile examples/*.yaml -o generated

lint: $(VENV)/.installed-test
	$(PY) -m ruff check compiler datapic templates tests examples

# make bench BENCH_ARGS="--rows 2000000 --rounds 10": the flags of bench/run.py (--help).
bench: $(VENV)/.installed-bench
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .lakehouse .bench build dist
