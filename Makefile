# Two commands: `make demo` and `make test`. Each creates .venv if missing and installs
# the package with all extras (quick when already installed), then runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch must come from the local CPU wheel (torch==2.13.0): never let pip fetch CUDA torch.
PIP_INSTALL := $(PY) -m pip install --quiet --constraint constraints.txt

.PHONY: demo test test-all lint install bench clean

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP_INSTALL) -e ".[baselines,dev]"
	touch $(STAMP)

# Test files run in parallel workers (pytest-xdist), each file whole on one worker, handed out
# in the order tests/conftest.py sorts them (the longest first). A worker that crashes ends the
# run (--max-worker-restart 0): pytest-xdist 3.8's loadfile scheduler can hang for good after
# replacing a crashed worker.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --max-worker-restart 0 -m "not exhaustive"

# Everything, the "exhaustive" checks too (e.g. the env checkers on every spring id: ~15 more minutes on 2 cores).
test-all: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --max-worker-restart 0

# ruff over the whole tree; mypy over the public API modules ([tool.mypy] files in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

demo: $(STAMP)
	$(PY) -m gcrl_depth.demo

bench: $(STAMP)
	$(PY) -m benchmarks.env_throughput

clean:
	rm -rf $(VENV) build *.egg-info
