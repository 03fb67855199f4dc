# ostinato-tcp: everyday commands. `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help deps install demo test unit-test catalogue lab-up lab-down proto proto-check bench clean

help:
	@echo "make demo       build the lab, establish 1000 connections through the DUT, show the verdict, remove the lab"
	@echo "make test       install what is missing, run the whole test suite (lab tests included; needs root)"
	@echo "make unit-test  only the tests that need no lab"
	@echo "make catalogue  run the bad-input cases in the lab and rewrite the README's catalogue table"
	@echo "make deps       install the Debian packages (ostinato, conntrack, nftables, openssh-server, iproute2)"
	@echo "make install    deps + a virtual environment in $(VENV) with ostinato-tcp and its Python dependencies"
	@echo "make proto      regenerate ostinato_tcp/drone/_pb/*_pb2.py from the .proto files"
	@echo "make bench      run the benchmarks (minutes; figures go to stdout)"

deps:
	@scripts/install-deps.sh

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

install: deps $(STAMP)

demo: install
	@scripts/demo.sh $(BIN)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit-test: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

catalogue: install
	OSTINATO_TCP_WRITE_CATALOGUE=1 $(BIN)/python -m pytest -q tests/lab/test_bad_inputs_lab.py

lab-up: install
	$(BIN)/ostinato-tcp lab up

lab-down: install
	$(BIN)/ostinato-tcp lab down

proto: $(STAMP)
	$(BIN)/python -m ostinato_tcp.drone.protogen

proto-check: $(STAMP)
	$(BIN)/python -m ostinato_tcp.drone.protogen --check

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
