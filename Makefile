# Two commands: `make demo` runs the listeners' graph on the bundled samples and serves the UI;
# `make test` runs the test suite. Both set everything up themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DAGSTER_HOME ?= $(CURDIR)/.dagster_home
DEMO_DATA ?= $(CURDIR)/gwtm-data
DEMO_PORT ?= 3000
DEMO_API_PORT ?= 8765

.PHONY: install lint test test-fast demo bench ui-screenshots clean

# The test environment is locked like the image: deploy/constraints-dev.txt (python deploy/lock.py).
$(BIN)/activate: pyproject.toml deploy/constraints-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c deploy/constraints-dev.txt -e '.[test]'
	touch $(BIN)/activate

install: $(BIN)/activate

# Gates: ruff (pyflakes, pycodestyle, imports, bugbear, blind except, pyupgrade; the formatter) and mypy.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy gwtm_assets

test: install
	bash scripts/test-services/install.sh
	$(BIN)/python -m pytest -q

# The loop while editing: everything that needs no server, container or daemon (`servers`) and runs no
# multi-notice scenario or retry wait (`slow`), on both cores. `make test` runs those too.
test-fast: install
	$(BIN)/python -m pytest -q -m "not servers and not slow" -n 2

demo: install
	DAGSTER_HOME=$(DAGSTER_HOME) LOCAL_STORAGE_DIR=$(DEMO_DATA) DEMO_PORT=$(DEMO_PORT) DEMO_API_PORT=$(DEMO_API_PORT) \
		PATH=$(CURDIR)/$(BIN):$$PATH bash scripts/demo.sh

bench: install
	$(BIN)/python benchmarks/bench_ligo_products.py
	$(BIN)/python benchmarks/bench_ingest_memory.py
	$(BIN)/python benchmarks/bench_stream_latency.py
	$(BIN)/python benchmarks/bench_migration.py
	$(BIN)/python benchmarks/bench_galaxy_list.py
	$(BIN)/python benchmarks/bench_checks.py
	$(BIN)/python benchmarks/bench_notice_cost.py
	$(BIN)/python benchmarks/bench_keystone_tokens.py
	$(BIN)/python benchmarks/bench_intermediate_reads.py
	$(BIN)/python benchmarks/bench_event_log.py
	$(BIN)/python benchmarks/bench_postgres_instances.py
	$(BIN)/python benchmarks/bench_broker_connections.py
	$(BIN)/python benchmarks/bench_partition_key.py

# PNGs of the UI after the demo (lineage, a partition's picture, checks, runs): needs Debian's chromium.
ui-screenshots: install
	$(BIN)/python scripts/ui_screenshots.py --out ui-screenshots

clean:
	rm -rf $(VENV) $(DAGSTER_HOME) $(DEMO_DATA) .pytest_cache
