# The README's commands. `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo
# The browser viewer's runtime, onnxruntime-web (its WASM file alone is 14 MB, so it is not
# committed): npm installs the version locked in web/package-lock.json and only the files the
# page loads are copied into the package (git-ignored, installed as package data).
# VIEWER_WEBGPU=1 adds the WebGPU build (27 MB more). Without npm or the network: a warning;
# `nerveseg view` then says how to fix it and the viewer's browser tests skip with the reason.
VENDOR := src/nerveseg/viewer/static/vendor
ORT_DIST := web/node_modules/onnxruntime-web/dist
ORT_FILES := ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm \
	$(if $(VIEWER_WEBGPU),ort.webgpu.min.mjs ort-wasm-simd-threaded.asyncify.mjs ort-wasm-simd-threaded.asyncify.wasm)
# Two torch threads collapse under any other CPU load without this (see NOTES): it costs nothing otherwise.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: demo test setup lint fix bench clean-demo

setup: $(VENV)/.installed $(VENDOR)/.installed

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Torch first and only when missing: letting pip choose torch pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

$(VENDOR)/.installed: web/package-lock.json
	@if command -v npm >/dev/null && npm ci --prefix web --ignore-scripts --no-audit --no-fund --silent; then \
	  mkdir -p $(VENDOR) && cp $(addprefix $(ORT_DIST)/,$(ORT_FILES)) $(VENDOR)/ && touch $@; \
	else \
	  echo "warning: onnxruntime-web could not be installed (needs npm, and the network once): nerveseg view will not start and its browser tests skip"; \
	fi

demo: setup
	$(BIN)/nerveseg synth $(DEMO_DIR)/data --preset demo --overwrite
	$(BIN)/nerveseg train --data $(DEMO_DIR)/data --preset demo --run $(DEMO_DIR)/run --overwrite
	$(BIN)/nerveseg fit-postprocess $(DEMO_DIR)/run
	$(BIN)/nerveseg evaluate --run $(DEMO_DIR)/run
	$(BIN)/nerveseg predict --run $(DEMO_DIR)/run --input $(DEMO_DIR)/data/test --out $(DEMO_DIR)/predictions --overwrite
	$(BIN)/nerveseg report $(DEMO_DIR)/run
	@$(BIN)/python -m nerveseg.cli.demo_summary $(DEMO_DIR)

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

fix: setup
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

bench: setup
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/nerveseg bench --preset realtime --preset default --runtimes torch,onnx

clean-demo:
	rm -rf $(DEMO_DIR)
