# skypatrol — set-up and checks. `make demo`, `make test`, `make bench`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export YOLO_OFFLINE := true
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180
export MPLBACKEND := Agg

.PHONY: install demo test lint typecheck bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch/torchvision: the releases that lie on this machine's disk (a CUDA build that runs on CPU).
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -m pip install -q -e '.[test]' 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import skypatrol, torch, torchvision, ultralytics, rasterio, geopandas, prefect, djitellopy"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/skypatrol demo --out demo-output

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]' 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -m benchmarks

clean:
	rm -rf demo-output .pytest_cache .mypy_cache .ruff_cache
