# skypatrol — set-up and checks. `make demo`, `make test`, `make bench`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export YOLO_OFFLINE := true
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180
export MPLBACKEND := Agg

.PHONY: install demo test lint typecheck bench clean browser system-packages screenshots

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

# Debian's Chromium and CJK fonts for the page tests, PyQGIS to open the QGIS project, and
# PostgreSQL + PostGIS for the shared register's tests (those tests skip, saying why, without).
SYSTEM_PACKAGES := chromium fonts-noto-cjk python3-qgis qgis-providers postgresql-15 \
	postgresql-15-postgis-3
system-packages:
	@command -v chromium >/dev/null && fc-list :lang=zh | grep -q . && \
	  /usr/bin/python3 -c "import qgis.core" 2>/dev/null && \
	  ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || \
	  { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	     --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null) || \
	     echo "warning: could not install $(SYSTEM_PACKAGES)"; }

browser: system-packages

test: $(STAMP) lint typecheck system-packages
	$(BIN)/python -m pytest -q

screenshots: $(STAMP) system-packages
	test -f demo-output/dashboard/dashboard.html || $(BIN)/skypatrol demo --out demo-output
	$(BIN)/python -m pipeline.screenshots demo-output docs/screenshots

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]' 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -m benchmarks

clean:
	rm -rf demo-output .pytest_cache .mypy_cache .ruff_cache
