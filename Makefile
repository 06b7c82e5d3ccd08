# Two commands do all of the set-up on a fresh machine with Python 3.11:
#   make demo   create .venv, install, write the sample landing data, run the pipeline
#   make test   create .venv, install, run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LANDING ?= data/landing
DB ?= data/warehouse.duckdb

.PHONY: install demo sample run test lint ui clean

# `dbt parse` of dbt_metrics/: the definitions read its manifest (`retouch run`, the tests and
# `dagster dev` parse it again when a dbt file changed; `make lint` does too, for dg check).
PREPARE_DBT := from retouch_assets.defs.metrics.project import prepare_manifest; prepare_manifest

# The install also puts a DuckDB 1.4 LTS client in .venv/duckdb14, apart from the project's
# DuckDB: the analyst-snapshot test opens the snapshot with it, as BI tools embedding 1.4 do.
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -c "from retouch_assets.quality.delta_e import compile_kernels; compile_kernels()"
	$(BIN)/python -c "from retouch_assets.delivery.fidelity import compile_kernel; compile_kernel()"
	$(BIN)/python -c "from retouch_assets.gates.heal import compile_kernel; compile_kernel()"
	$(BIN)/python -c "$(PREPARE_DBT)(force=True)"
	$(BIN)/uv pip install --quiet --target $(VENV)/duckdb14 duckdb==1.4.5
	@touch $(STAMP)

install: $(STAMP)

sample: $(STAMP)
	$(BIN)/retouch sample --out $(LANDING)

# With no CLIP model of your own configured (clip.model_dir, RETOUCH_CLIP_MODEL), the demo
# scores with the small seeded untrained model shipped in models/: real ONNX Runtime sessions,
# scores that exercise the plumbing, not the judgement (the summary says so).
DEMO_CLIP_MODEL ?= models/clip-untrained-tiny

# Every published image carries a signed C2PA manifest. With no signing identity of your own
# configured (provenance: in retouch-slo.yaml, RETOUCH_C2PA_CERT / RETOUCH_C2PA_KEY), the demo
# signs with a local TEST certificate chain, created once here (FOR TESTING ONLY).
DEMO_C2PA ?= data/c2pa-test

$(DEMO_C2PA)/README.txt: | $(STAMP)
	$(BIN)/retouch provenance test-chain --out $(DEMO_C2PA)

run: $(STAMP) $(DEMO_C2PA)/README.txt
	$(BIN)/retouch run --landing $(LANDING) --db $(DB) --fallback-clip-model $(DEMO_CLIP_MODEL) \
		--fallback-c2pa-identity $(DEMO_C2PA)

demo: sample run

# pytest exits 5 when it collects no tests: for this project that means collection broke,
# so it fails the target instead of passing silently.
test: $(STAMP)
	@$(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose" >&2; exit 1; fi; \
	exit $$rc

# ruff, the type checker (pyright, zero errors on retouch_assets/), and `dg check defs`, which
# loads the definitions the way `dagster dev` does.
lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/pyright
	$(BIN)/python -c "$(PREPARE_DBT)()"
	VIRTUAL_ENV="$(CURDIR)/$(VENV)" PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dg check defs

# Runs launched in the UI sign with your identity (RETOUCH_C2PA_*, provenance:), else with the
# demo's TEST chain when `make demo` made one.
ui: $(STAMP)
	RETOUCH_C2PA_FALLBACK_DIR=$(DEMO_C2PA) $(BIN)/dagster dev -w workspace.yaml

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra dev pyproject.toml -o requirements.lock

clean:
	rm -rf $(VENV) data/landing data/business data/warehouse.duckdb data/analytics.duckdb \
		data/warehouse.duckdb.run.lock data/outputs data/reports dbt_metrics/target dbt_metrics/logs \
		$(DEMO_C2PA)
