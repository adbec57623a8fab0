# Estuary: one command to run the suite, one to test it. Everything else is set up on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROTOS := $(shell find protos -name '*.proto')

.DEFAULT_GOAL := help
.PHONY: help setup protos run test test-fast lint format bench manifests schemas up down clean

# `make run PORT=8100` moves the gateway off 8000 (so does ESTUARY_HTTP_PORT=8100);
# GRPC_PORT_BASE=51051 moves the services' gRPC ports; DATA_DIR chooses the data folder.
PORT ?=
GRPC_PORT_BASE ?=
DATA_DIR ?=
# `make test TEST_WORKERS=1` runs the tests in one process (docs/testing.md: why two).
TEST_WORKERS ?= 2

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@# Generated protobuf code lives in gen/ (never committed); the venv finds it through a .pth file.
	echo "$(CURDIR)/gen" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/estuary-generated.pth"
	touch $@

gen/.generated: $(PROTOS) $(VENV)/.installed
	rm -rf gen && mkdir -p gen
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=gen --pyi_out=gen --grpc_python_out=gen $(PROTOS)
	touch $@

setup: $(VENV)/.installed gen/.generated ## create the virtualenv, install, generate the gRPC code

protos: gen/.generated ## regenerate the gRPC code from protos/

run: setup ## run the whole suite embedded (SQLite, in-process bus) with the gateway on :8000 (PORT=...)
	$(BIN)/estuary up $(if $(PORT),--port $(PORT)) $(if $(GRPC_PORT_BASE),--grpc-port-base $(GRPC_PORT_BASE)) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

test: setup ## run every test (the Postgres/RabbitMQ/Redis ones skip with a reason unless CI=true)
	$(BIN)/python -m pytest $(if $(filter-out 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup)

lint: setup ## ruff, mypy and buf lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy chassis services gateway suite
	$(BIN)/buf lint

format: setup ## apply ruff's formatting and fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup ## run the benchmarks (embedded and production shape) and print the figures
	$(BIN)/python -m bench

# `make mutation MODULE=chassis.bus` mutates one module (a prefix of the dotted name) only;
# SAMPLE=3 runs every third of its mutants not yet checked (docs/testing.md).
MODULE ?=
SAMPLE ?=
MUTATION_JOBS ?= 2

mutation: setup ## mutation testing (mutmut) of the domains, handlers, chassis bus, uow, auth; slow, not in CI
ifeq ($(SAMPLE),)
	$(BIN)/mutmut run --max-children $(MUTATION_JOBS) $(if $(MODULE),"$(MODULE)*")
else
	@# A pattern that names no mutant makes them and the map of tests, then stops (failing).
	test -d mutants || $(BIN)/mutmut run --max-children $(MUTATION_JOBS) "make-only*" \
		|| test -f mutants/mutmut-stats.json
	names="$$($(BIN)/python -m tests.mutation sample "$(MODULE)" $(SAMPLE))"; \
	if [ -n "$$names" ]; then $(BIN)/mutmut run --max-children $(MUTATION_JOBS) $$names; fi
endif
	$(BIN)/python -m tests.mutation $(MODULE)

manifests: setup ## write docker-compose.yml and deploy/ from the services' declarations
	$(BIN)/estuary manifests

schemas: setup ## write docs/openapi.json and docs/asyncapi.json (the published API documents)
	$(BIN)/estuary schemas

up: ## run the production shape with docker compose (needs a Docker engine)
	docker compose up --build

down: ## stop the docker compose suite
	docker compose down

clean: ## remove the virtualenv, generated code and local data
	rm -rf $(VENV) gen var
