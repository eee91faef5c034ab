# skypatrol — set-up and checks. `make demo`, `make test`, `make bench`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export YOLO_OFFLINE := true
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180
export MPLBACKEND := Agg

.PHONY: install demo test lint typecheck bench clean browser screenshots

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

# Debian's Chromium and CJK fonts for the page tests (they skip, saying why, without them).
browser:
	@command -v chromium >/dev/null && fc-list :lang=zh | grep -q . || \
	  { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	     chromium fonts-noto-cjk >/dev/null) || echo "warning: could not install chromium"; }

test: $(STAMP) lint typecheck browser
	$(BIN)/python -m pytest -q

screenshots: $(STAMP) browser
	test -f demo-output/dashboard/dashboard.html || $(BIN)/skypatrol demo --out demo-output
	$(BIN)/python -m pipeline.screenshots demo-output docs/screenshots

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]' 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -m benchmarks

clean:
	rm -rf demo-output .pytest_cache .mypy_cache .ruff_cache
