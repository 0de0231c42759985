# The two commands: `make run` (local federation on embedded defaults) and `make test` (whole suite,
# real Apache Kafka and PostgreSQL). Everything they need is installed on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
## SIMULATE=1 adds the simulator; ARGS are passed on as well (they never replace it). SIMULATE=0 or empty: none.
SIMULATE ?=
ARGS     ?=
RUN_ARGS  = $(strip $(if $(filter-out 0 no false,$(SIMULATE)),--simulate) $(ARGS))

.PHONY: install run test unit schemas infra deploy-tools bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test,embedded]'
	touch $(STAMP)

install: $(STAMP)

## Three county nodes and a monitor over an embedded broker: `make run`, `make run SIMULATE=1` (with simulated
## traffic), `make run SIMULATE=1 ARGS="--rate 20 --duration 60"`, `make run ARGS="--duration 60"`
run: install
	$(BIN)/mpx run $(RUN_ARGS)

## Java/Maven for the Kafka broker (and make run's), PostgreSQL server binaries, Chromium (and a Chinese font, for
## the pages' screenshots) for the browser tests, kcat (librdkafka's command-line client) for the test that reads
## make run's topics with it; Kafka jars fetched once into ~/.cache/mpx
infra:
	@command -v java >/dev/null && command -v mvn >/dev/null || \
		{ apt-get update -q && apt-get install -y -q default-jre-headless maven; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		{ apt-get update -q && apt-get install -y -q postgresql; }
	@command -v chromium >/dev/null || \
		{ apt-get update -q && apt-get install -y -q chromium; }
	@fc-list :lang=zh 2>/dev/null | grep -q . || \
		{ apt-get update -q && apt-get install -y -q fonts-wqy-microhei; }
	@command -v kcat >/dev/null || \
		{ apt-get update -q && apt-get install -y -q kcat; }
	bash deploy/kafka/kafka.sh fetch

## kubeconform (built from the Go module proxy) and the Kubernetes JSON Schemas (PyPI kubernetes-validate), fetched
## once into ~/.cache/mpx, for tests/unit/test_deploy_files.py; the compose schema comes with check-jsonschema
deploy-tools: install
	bash deploy/validate.sh fetch

## The OpenAPI client generator (tests/integration/test_generated_client.py), in its own environment: it pins
## another typer than the node's CLI
GENERATOR       := .venv-generator
GENERATOR_STAMP := $(GENERATOR)/.installed
$(GENERATOR_STAMP): tests/generator-requirements.txt
	$(PYTHON) -m venv $(GENERATOR)
	$(GENERATOR)/bin/pip install -q -r tests/generator-requirements.txt
	touch $(GENERATOR_STAMP)

test: install infra deploy-tools $(GENERATOR_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit: install deploy-tools
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

## Regenerate the committed JSON Schemas after changing a contract model
schemas: install
	$(BIN)/python -m contracts.schemas

BENCH_SCALE ?= small
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -c constraints.txt 'py-spy>=0.4'
	touch $(BENCH_STAMP)

## make bench [BENCH_SCALE=full] [BENCH_ARGS="--only monitor"]: benchmarks on local Apache Kafka and PostgreSQL -> var/bench/results.{md,json}
bench: install infra $(BENCH_STAMP)
	BENCH_SCALE=$(BENCH_SCALE) $(BIN)/python -m tests.benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf var .pytest_cache
