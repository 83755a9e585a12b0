# Insight: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DB ?= insight.duckdb
PORT ?= 8501
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install browser-deps test test-browser docs-screenshot test-fast demo sample bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-installs only when pyproject.toml changes; torch is pinned to the local CPU wheel first,
# so nothing else can pull a CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Headless Chromium for the browser test (Debian packages; skipped quietly where apt is not available).
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "note: chromium not installed; the browser test will be skipped"

# The import contracts (pyproject.toml, ARCHITECTURE.md) first: a layering break fails in seconds.
test: install browser-deps
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

test-browser: install browser-deps
	$(BIN)/python -m pytest -q -m browser tests/test_browser.py

# Refreshes the README screenshot with the real model's figures (about 5 minutes).
docs-screenshot: install browser-deps
	INSIGHT_UPDATE_DOCS=1 INSIGHT_MODEL=all-MiniLM-L6-v2 $(BIN)/python -m pytest -q -m browser tests/test_browser.py

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not browser"

# Loads the sample study and runs the pipelines (each step is idempotent), then starts the app.
STUDY := Living with local services
sample: install
	$(BIN)/insight --db $(DB) codebook load codebooks/lived_experience.yaml
	$(BIN)/insight --db $(DB) ingest corpora/ --study "$(STUDY)"
	$(BIN)/insight --db $(DB) code --study "$(STUDY)" --methods rules,semantic,classifier --train-coder "Priya Shah"
	$(BIN)/insight --db $(DB) themes --study "$(STUDY)"

demo: sample
	$(BIN)/insight --db $(DB) app --port $(PORT)

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(DB) .pytest_cache
