# One command each: every target sets up .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Azurite (the Azure Storage emulator) is an npm package; the integration tests start it.
AZURITE_VERSION := 3.37.0
AZURITE := .cache/azurite/node_modules/.bin/azurite-blob

.PHONY: demo test regen lint bench clean

$(STAMP): pyproject.toml templates/pod/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' -r templates/pod/requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

$(AZURITE):
	npm install --silent --no-audit --no-fund --prefix .cache/azurite azurite@$(AZURITE_VERSION)

test: $(STAMP) $(AZURITE)
	$(PY) -m ruff check compiler templates tests examples
	$(PY) -m pytest

regen: $(STAMP)
	$(VENV)/bin/datapic compile examples/*.yaml -o generated

lint: $(STAMP)
	$(PY) -m ruff check compiler templates tests examples

# make bench BENCH_ARGS="--rows 2000000 --rounds 10": the flags of bench/run.py (--help).
bench: $(STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .lakehouse .bench build dist
