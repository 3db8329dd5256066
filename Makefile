# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the test suite).
PYTHON ?= python3
# Optional: the index torch comes from, e.g. PyTorch's CPU wheels (see the README).
TORCH_INDEX ?=
VENV := .venv
BIN := $(VENV)/bin
SHARED_MNIST := $(abspath ../shared/data/mnist)
# Use the team's offline MNIST mirror when it is beside the checkout (CI, team machines).
ifneq ($(wildcard $(SHARED_MNIST)/train-images-idx3-ubyte.gz),)
export FIRSTNET_MIRRORS ?= file://$(SHARED_MNIST)
endif

.PHONY: demo test lint bench install clean distclean

# The demo installs what it uses; the tests add their tools (pytest, Playwright, ONNX, the
# PostgreSQL driver, Jupyter's kernel) on top.
$(BIN)/firstnet: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# The pinned torch first, from TORCH_INDEX when given (the README says which build you get).
	$(BIN)/pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(BIN)/firstnet
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/firstnet

demo: install
	$(BIN)/firstnet report --quick

test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# One worker per core (at most 4), each on one thread: on 2 cores, 2 workers of one thread
	# finish the suite sooner than one of two threads (tests/conftest.py).
	$(BIN)/pytest -n auto --maxprocesses=4 --dist worksteal

bench: install
	$(BIN)/python benchmarks/mlp_speed.py

# `make clean` keeps the environment (minutes to rebuild); `make distclean` removes it too. Neither
# touches the MNIST cache (~/.cache/firstnet): `rm -rf ~/.cache/firstnet` frees its 55 MB.
clean:
	rm -rf runs .pytest_cache .ruff_cache

distclean: clean
	rm -rf $(VENV)
