# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# llama-cpp-python builds from source here; skip what we never use (multimodal, tools, server).
# Portable AVX2 code, not -march=native: on CPUs with AMX (seen on this fleet's machines) the
# native build segfaults in decode. pip's own wheel cache ignores CMAKE_ARGS, so the wheel is
# kept in a folder named after the version and the flags, and pip's cache is bypassed.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF \
	-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_VERSION := $(shell sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' services/llm-orchestrator/pyproject.toml)
LLAMA_WHEELS := $(HOME)/.cache/chatbot-platform/llama-cpp-python-$(LLAMA_VERSION)-$(shell echo '$(CMAKE_ARGS)' | sha256sum | cut -c1-12)
export HF_HUB_OFFLINE := 1
PACKAGES := libs/common libs/eval services/gateway services/conversation services/llm-orchestrator services/rag services/ingest-worker
STAMP := $(VENV)/.installed
# The web app (services/gateway/web): npm ci from the committed lockfile, then a build the gateway
# serves; each redone only when its inputs change. Browser tests drive Debian's chromium.
WEB := services/gateway/web
WEB_DEPS := $(WEB)/node_modules/.ci-installed
WEB_BUILD := $(WEB)/dist/index.html
WEB_SOURCES := $(shell find $(WEB)/src $(WEB)/public $(WEB)/scripts -type f -not -name '*.test.*' 2>/dev/null) \
	$(WEB)/index.html $(WEB)/vite.config.ts $(WEB)/tsconfig.json $(WEB)/package.json
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
# The operators' schemas the Helm chart's custom resources are validated against (tests/deploy).
SCHEMAS := tests/deploy/schemas
SCHEMAS_DEPS := $(SCHEMAS)/node_modules/.ci-installed

.PHONY: install proto proto-check migrate run test test-unit test-contract test-e2e test-web bench clean web

$(STAMP): $(foreach p,$(PACKAGES),$(p)/pyproject.toml) requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.3 setuptools==84.2.1
	ls $(LLAMA_WHEELS)/*.whl >/dev/null 2>&1 || $(PY) -m pip wheel --quiet --no-cache-dir --no-deps -w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(PY) -m pip install --quiet --no-deps $(LLAMA_WHEELS)/*.whl
	$(PY) -m pip install --quiet $(foreach p,$(PACKAGES),-e $(p)) -r requirements-dev.txt
	touch $@

install: $(STAMP)

$(WEB_DEPS): $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $@

$(WEB_BUILD): $(WEB_DEPS) $(WEB_SOURCES)
	cd $(WEB) && npm run build
	touch $@

web: $(WEB_BUILD)

$(SCHEMAS_DEPS): $(SCHEMAS)/package-lock.json
	cd $(SCHEMAS) && npm ci --no-audit --no-fund
	touch $@

# Vitest: the SSE client and the Markdown sanitising (the browser tests run in tests/e2e).
test-web: $(WEB_DEPS)
	cd $(WEB) && npm test

proto: $(STAMP)
	$(PY) tools/protogen.py

proto-check: $(STAMP)
	$(PY) tools/protogen.py --check

migrate: $(STAMP)
	$(PY) -m gateway migrate
	$(PY) -m conversation migrate
	$(PY) -m llm_orchestrator migrate
	$(PY) -m rag migrate

run: $(STAMP) proto web
	$(PY) tools/fleet.py

test: $(STAMP) proto-check web test-web $(SCHEMAS_DEPS)
	$(PY) -m pytest

test-unit: $(STAMP) $(SCHEMAS_DEPS)
	$(PY) -m pytest -m "not e2e and not contract"

test-contract: $(STAMP)
	$(PY) -m pytest -m contract

test-e2e: $(STAMP) web
	$(PY) -m pytest tests/e2e

bench: $(STAMP)
	$(PY) bench/streaming.py

clean:
	rm -rf $(VENV) var .pytest_cache $(WEB)/node_modules $(WEB)/dist

print-%:
	@echo $($*)
