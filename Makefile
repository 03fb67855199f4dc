# ostinato-tcp: everyday commands. `make demo` and `make test` are all a newcomer needs.
# They build the built-in lab, so they install its Debian packages (make lab-deps, as root).
# A controller for your own lab needs none of that: pip install . (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help lab-deps venv install demo test unit-test catalogue lab-up lab-down proto proto-check bench wheel clean

help:
	@echo "make demo       build the lab, establish 1000 connections through the DUT, show the verdict, remove the lab"
	@echo "make test       install what is missing, run the whole test suite (lab tests included; needs root)"
	@echo "make unit-test  only the tests that need no lab"
	@echo "make catalogue  run the bad-input cases in the lab and rewrite docs/errors.md's table"
	@echo "make lab-deps   the built-in lab's Debian packages (ostinato, conntrack, nftables, openssh-server, ...)"
	@echo "make venv       a virtual environment in $(VENV) with ostinato-tcp and its test tools (no apt)"
	@echo "make proto      regenerate ostinato_tcp/drone/_pb/*_pb2.py with Debian 12's protoc 3.21.12"
	@echo "make bench      run the benchmarks (minutes; figures go to stdout and bench-out/)"
	@echo "make wheel      build the wheel into dist/"

lab-deps:
	@scripts/install-deps.sh

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

venv: $(STAMP)

install: venv

demo: lab-deps venv
	@scripts/demo.sh $(BIN)

test: lab-deps venv
	@scripts/test.sh $(BIN) $(PYTEST_ARGS)

unit-test: venv
	$(BIN)/python -m pytest tests/unit -n auto --dist loadfile $(PYTEST_ARGS)

catalogue: lab-deps venv
	OSTINATO_TCP_WRITE_CATALOGUE=1 $(BIN)/python -m pytest -q tests/lab/test_bad_inputs_lab.py

lab-up: lab-deps venv
	$(BIN)/ostinato-tcp lab up

lab-down: venv
	$(BIN)/ostinato-tcp lab down

proto: venv
	$(BIN)/python -m ostinato_tcp.drone.protogen

proto-check: venv
	$(BIN)/python -m ostinato_tcp.drone.protogen --check

bench: lab-deps venv
	$(BIN)/python benchmarks/run_all.py

wheel: venv
	$(BIN)/python -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache build dist
