# Two commands: `make run` (set up, then serve) and `make test` (set up, then every test).
# Set-up is idempotent: a second run only checks that everything is in place.

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
FRONTEND_STAMP := src/orchestrator/web/static/index.html

.PHONY: run test setup deps system-deps system-deps-test test-servers frontend lint bench clean

run: setup
	$(VENV)/bin/orchestrator serve

test: setup system-deps-test test-servers
	@if [ -f frontend/package.json ]; then cd frontend && npm test --silent; fi
	$(VENV)/bin/python -m pytest

setup: deps system-deps frontend

# uv installs exactly what uv.lock pins; it lives in its own small venv so `uv sync` never removes it.
$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

deps: $(UV)
	@# llama-cpp-python compiles once (about 5 min on 2 cores), then comes from uv's cache.
	@# Bytecode is compiled once here: with PYTHONDONTWRITEBYTECODE set (as on CI machines)
	@# every process would otherwise compile all it imports at each start (2-3x slower).
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	$(VENV)/bin/python -m compileall -q src

system-deps:
	@scripts/system-deps.sh run

system-deps-test:
	@scripts/system-deps.sh test

# Third-party MCP servers the tests run (npm's server-everything; the PyPI ones are in
# the dev dependency group). `npm ci` installs exactly what the lock file pins.
MCP_SERVERS := tests/mcp_client/servers
test-servers: $(MCP_SERVERS)/node_modules/.package-lock.json

$(MCP_SERVERS)/node_modules/.package-lock.json: $(MCP_SERVERS)/package-lock.json
	cd $(MCP_SERVERS) && npm ci --no-audit --no-fund --silent

frontend:
	@if [ -f frontend/package.json ]; then scripts/build-frontend.sh; fi

lint: deps
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: setup
	$(VENV)/bin/python -m bench

clean:
	rm -rf $(VENV) .tools frontend/node_modules $(MCP_SERVERS)/node_modules src/orchestrator/web/static
