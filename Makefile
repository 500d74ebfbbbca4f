# Tumorscope: `make dev` runs everything locally, `make test` runs the tests.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Images are $(REGISTRY)/<function>:$(TAG); deploy and smoke act on knative/$(ENV).
REGISTRY ?= tumorscope
TAG ?= 0.1.0
ENV ?= test
# The compose command: empty picks docker compose where a Docker engine answers, else
# docker-compose against podman's API (containers/compose.sh); set it to choose.
COMPOSE ?=
# TELEMETRY=1 builds images with OpenTelemetry installed (requirements-otel.txt; docs/deploy.md).
TELEMETRY ?=
CONTAINERS := REGISTRY=$(REGISTRY) TAG=$(TAG) TELEMETRY=$(TELEMETRY) COMPOSE="$(COMPOSE)" containers/compose.sh
DEPLOY := $(BIN)/python -m knative.deploy

.PHONY: help venv dev kaggle test test-unit lint format bench clean build push up down logs deploy smoke load-dataset load soak test-containers

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

# OpenTelemetry goes to a folder of its own, $(OTEL_SITE), not into .venv: redis-py imports
# opentelemetry whenever it is installed, and .venv stands for the images, which have none
# (tests/test_telemetry.py puts the folder on the functions' PYTHONPATH).
OTEL_SITE := $(VENV)/otel

$(STAMP): requirements-dev.txt requirements-otel.txt functions/*/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -rf $(OTEL_SITE)
	$(BIN)/python -m pip install --quiet --target $(OTEL_SITE) -r requirements-otel.txt \
		-c functions/submit/requirements.txt -c functions/render/requirements.txt
	touch $@

venv: $(STAMP) ## create .venv and install the requirements

# DATASET=kaggle: make dev starts with Kaggle's data.csv (as make kaggle fetches it) instead of the bundled copy.
DATASET ?=
dev: $(STAMP) ## run redis and the four functions locally (Ctrl-C stops them); DATASET=kaggle starts with Kaggle's
	@DATASET="$(DATASET)" $(BIN)/python -m devtools.devserver

# The Redis make kaggle loads into: REDIS_URL, else make dev's own (DEV_REDIS_PORT, 6380).
kaggle: $(STAMP) ## download Kaggle's data.csv (KAGGLE_USERNAME + KAGGLE_KEY, or KAGGLE_API_TOKEN), check it, load it
	@REDIS_URL="$${REDIS_URL:-redis://127.0.0.1:$${DEV_REDIS_PORT:-6380}/0}" $(BIN)/python -m shared.dataset kaggle

# $(call debian_package,COMMAND,PACKAGE): install Debian's PACKAGE if COMMAND is missing (as root), else say how.
define debian_package
	@if ! command -v $(1) >/dev/null && [ ! -x /usr/sbin/$(1) ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "make $@ needs $(1): sudo apt-get install -y $(2)"; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq --no-install-recommends $(2) </dev/null \
			|| { apt-get update -qq </dev/null && apt-get install -y -qq --no-install-recommends $(2) </dev/null; }; \
	fi
endef

# make test spreads the tests over TEST_WORKERS pytest-xdist workers, each with its own redis-server
# and functions on free ports (tests/conftest.py says how tests are grouped); TEST_WORKERS=0 runs
# them in one process. Most of a test's time is spent waiting on processes and HTTP, so four workers
# beat two on two cores.
TEST_WORKERS ?= 4
UNIT_WORKERS ?= 2

test: $(STAMP) ## run every test, on TEST_WORKERS (4) workers (the gateway, compose and browser checks need Debian's nginx, docker-compose, chromium; axe-core comes from npm)
	$(call debian_package,nginx,nginx)
	$(call debian_package,docker-compose,docker-compose)
	$(call debian_package,chromium,chromium)
	test -f tests/axe/node_modules/axe-core/axe.min.js || npm ci --prefix tests/axe --no-audit --no-fund
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-unit: $(STAMP) ## the tests that need no server, process or browser, and are not slow: the edit loop (< 60 s)
	$(BIN)/python -m pytest -n $(UNIT_WORKERS) -m "not integration and not containers and not slow" $(PYTEST_ARGS)

load: $(STAMP) ## loopback load: LOAD_JOBS (1000) submits at LOAD_CONCURRENCY (32), every job completes (~5 min)
	LOAD_JOBS=$${LOAD_JOBS:-1000} $(BIN)/python -m pytest tests/test_load.py -s -p no:cacheprovider $(PYTEST_ARGS)

soak: $(STAMP) ## capped store and cache under sustained submits and a plot flood, SOAK_SECONDS (300)
	SOAK_SECONDS=$${SOAK_SECONDS:-300} SOAK_STORE_MB=$${SOAK_STORE_MB:-24} SOAK_CACHE_MB=$${SOAK_CACHE_MB:-8} \
		$(BIN)/python -m pytest tests/test_soak.py -s -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## measure cold starts, latency, turnaround, memory, scale; write BENCHMARKS.md (< 10 min)
	$(call debian_package,wrk,wrk)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

build: ## build the four images, $(REGISTRY)/<function>:$(TAG), from the Dockerfile (docker, else podman)
	$(CONTAINERS) build

push: ## push the four images to $(REGISTRY)
	$(CONTAINERS) push

up: ## run everything in containers (docker, else podman); the gateway answers on http://localhost:5000
	$(CONTAINERS) up

down: ## stop the containers (the Redis volume stays; `containers/compose.sh down -v` drops it)
	$(CONTAINERS) down

logs: ## follow the containers' logs
	$(CONTAINERS) logs

test-containers: $(STAMP) ## build the images and test the compose stack from outside, as a user would
	$(BIN)/python -m pytest -m containers tests/test_containers.py -s -p no:cacheprovider $(PYTEST_ARGS)

deploy: $(STAMP) ## deploy knative/$(ENV) (ENV=test|prod), wait until Ready, smoke it (DRY_RUN=1 prints only)
	$(DEPLOY) deploy --env $(ENV) --registry $(REGISTRY) --tag $(TAG) $(if $(DRY_RUN),--dry-run)

smoke: $(STAMP) ## run the curl journey against the deployed knative/$(ENV)
	$(DEPLOY) smoke --env $(ENV)

load-dataset: $(STAMP) ## load CSV=path/to/data.csv into the deployed knative/$(ENV)'s Redis
	$(DEPLOY) load-dataset --env $(ENV) $(CSV)

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .dev
