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

.PHONY: demo test regen lint bench clean chromium

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

# The browser tests drive Debian's chromium (Playwright downloads no browser): installed here
# when missing and possible (root with apt-get); otherwise those tests skip, saying why.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		>/dev/null; } || echo "chromium not installed: the browser tests will skip"

test: $(VENV)/.installed-test $(AZURITE) chromium
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
