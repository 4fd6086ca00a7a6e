# credchain: two commands on a fresh machine, `make run` and `make test`; each installs what it needs
# (`make run` only the Python side: the embedded demo needs neither npm nor anvil).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_PY := $(VENV)/.installed
STAMP_NPM := node_modules/.installed

.PHONY: run demo-ledger test lint typecheck unit integration build check-artifacts bench install chromium clean

PORT ?=
RESET ?=

install: $(STAMP_PY) $(STAMP_NPM)

$(STAMP_PY): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(STAMP_NPM): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## the embedded gateway: in-process chain, contracts deployed, the demo consortium seeded
## (API keys in var/demo-credentials.json), serving http://127.0.0.1:8000 (OpenAPI at /docs);
## `make run PORT=8123` (or CREDCHAIN_PORT=8123) serves another port, `make run RESET=1` starts over
run: $(STAMP_PY)
	$(BIN)/credchain run $(if $(PORT),--port $(PORT)) $(if $(RESET),--reset)

## the ledger-only walk-through (no gateway): issue -> accept -> split -> transfer, printed
demo-ledger: $(STAMP_PY)
	$(BIN)/python -m service.setup.demo

## headless chromium for the browser tests (the API docs and the console): Debian's package, with
## the Noto CJK fonts for the console's Chinese, installed when absent and we are root on Linux
## (Playwright's own download is not used)
chromium:
	@if [ "$$(uname -s)" = Linux ] && { [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; }; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; \
	  else echo "warning: install chromium and fonts-noto-cjk (apt-get) for the browser tests" >&2; fi; \
	fi

## lint, types, artifact and vendored-asset checks, and the whole test suite on worker processes (a
## module that shares one expensive rig, like the chaos scenarios, runs on one worker:
## `pytest.mark.xdist_group`; `make test TEST_WORKERS=0` runs it in one process)
TEST_WORKERS ?= 3
test: install chromium
	$(BIN)/ruff check service scripts tests examples
	$(BIN)/ruff format --check service scripts tests examples
	$(BIN)/mypy
	$(BIN)/python scripts/build_contracts.py --check
	$(BIN)/python scripts/vendor_console_assets.py --check
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup

## compile contracts/ into service/ledger/artifacts/
build: install
	$(BIN)/python scripts/build_contracts.py

check-artifacts: install
	$(BIN)/python scripts/build_contracts.py --check

bench: install
	$(BIN)/python scripts/bench_gas.py

clean:
	rm -rf $(VENV) node_modules var .pytest_cache .mypy_cache .ruff_cache .hypothesis
