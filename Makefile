# Run `make help` for the list of targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run run-analyst train test test-fast notebooks docs docs-serve bench bench-live bench-engines bench-sessions clean-cache

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("segkit needs Python 3.11 or newer; found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m segkit.server.serve --install-template
	touch $(STAMP)

run: $(STAMP) ## serve the dashboard on http://127.0.0.1:8866, read-only (data/ or the built-in sample; on new data it trains and saves the model first)
	$(BIN)/python -m segkit.server.serve

run-analyst: $(STAMP) ## the same, letting visitors retrain and save the model (analyst mode)
	$(BIN)/python -m segkit.server.serve --analyst

train: $(STAMP) ## retrain on data/ (or the sample) and save artifacts/
	$(BIN)/segkit train

test: $(STAMP) ## run the whole test suite (real-data tests need SEGKIT_REAL_DATA): the rest, then the browser tests, on both cores; then the ten-visitor test alone
	status=0; \
	$(BIN)/python -m pytest -m "not browser" -n 2 --dist loadfile -p no:cacheprovider -p no:nbval || status=$$?; \
	$(BIN)/python -m pytest -m "browser and not alone" -n 2 --dist loadgroup -p no:cacheprovider -p no:nbval || status=$$?; \
	$(BIN)/python -m pytest -m alone -p no:cacheprovider || status=$$?; \
	exit $$status

test-fast: $(STAMP) ## unit tests only (no browser, subprocess, Spark, notebooks or real data), on both cores
	$(BIN)/python -m pytest -m "not browser and not slow and not real_data" -n 2 -p no:cacheprovider -p no:nbval

notebooks: $(STAMP) ## re-execute the notebooks on the built-in sample, 04-value on the real data when SEGKIT_REAL_DATA is set (artifacts/ untouched)
	tmp=$$(mktemp -d) && for nb in notebooks/0*.ipynb; do \
		SEGKIT_DATA= SEGKIT_ARTIFACTS=$$tmp $(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; \
	done; rm -rf $$tmp
	@if [ -n "$$SEGKIT_REAL_DATA" ]; then \
		tmp=$$(mktemp -d) && real="$$SEGKIT_REAL_DATA/online_retail.parquet" && \
		SEGKIT_DATA="$$real" SEGKIT_ARTIFACTS=$$tmp $(BIN)/jupyter nbconvert --to notebook --execute \
			notebooks/02-train.ipynb --output-dir $$tmp --output 02-train-real.ipynb && \
		SEGKIT_DATA="$$real" SEGKIT_ARTIFACTS=$$tmp $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			notebooks/04-value.ipynb && rm -rf $$tmp; \
	else echo "SEGKIT_REAL_DATA is not set: notebooks/04-value.ipynb now holds the sample's outputs, not the real data's"; fi

DOCS_OUT ?= build/docs/html
DOCS_PORT ?= 8000

docs: $(STAMP) ## build the documentation site into build/docs/html (warnings are errors)
	$(BIN)/python -m sphinx -W --keep-going -n -b html docs $(DOCS_OUT)

docs-serve: docs ## build the site, then serve it on http://127.0.0.1:8000
	$(BIN)/python -m http.server $(DOCS_PORT) --bind 127.0.0.1 --directory $(DOCS_OUT)

bench: $(STAMP) ## time the original approach against segkit on the real workbook
	$(BIN)/python benchmarks/bench_pipeline.py

bench-live: $(STAMP) ## cost of a live refresh: the real data in daily files (library, then page), and as one growing CSV
	$(BIN)/python benchmarks/bench_live.py $${SEGKIT_REAL_DATA:-../shared/data}
	$(BIN)/python benchmarks/bench_live_page.py $${SEGKIT_REAL_DATA:-../shared/data}
	$(BIN)/python benchmarks/bench_live_csv.py $${SEGKIT_REAL_DATA:-../shared/data}

bench-sessions: $(STAMP) ## ten visitors at once on the real data: page ready times and kernel memory
	$(BIN)/python benchmarks/bench_sessions.py $${SEGKIT_REAL_DATA:-../shared/data}

bench-engines: $(STAMP) ## time DuckDB and Spark against pandas on a generated 20M-line log
	test -f .cache/large/log_20M_seed0.parquet || $(BIN)/python benchmarks/make_large_logs.py 20M
	$(BIN)/python benchmarks/bench_engines.py --sizes 20M

clean-cache: ## remove parquet copies of read files
	rm -rf .cache
