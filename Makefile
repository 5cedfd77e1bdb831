# l2l-repro: every figure of the paper from one command. See README.md.
#   make figure3 [PROFILE=paper|quick] [ARGS="--meta.lr 0.01"]
#   make test | lint | figures | clean
PROFILE   ?= paper
DATASET   ?= mnist
DATA_ROOT ?= data
ARGS      ?=
PYTHON_BOOT ?= python3.11

VENV   := .venv
PY     := $(VENV)/bin/python
# The environment is keyed on the pinned requirements: a new pin set means a new install.
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
RUNS   := runs/$(PROFILE)
FIGDIR := $(if $(filter paper,$(PROFILE)),paper_figures,paper_figures/$(PROFILE))
DATA   := $(FIGDIR)/data
REPRO  := PYTHONPATH=$(CURDIR) $(PY) -m repro
COMMON = --profile $(PROFILE) --runs-dir $(RUNS) --figures-dir $(FIGDIR) $(ARGS)

.PHONY: setup test lint figures figure3 figure4a clean
.DELETE_ON_ERROR:

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check repro tests bench

# ---- quadratics: Figure 3 (one step of the trained LSTM) and Figure 4, left panel ----------
QUAD := experiments/quadratic.yaml

$(RUNS)/quadratic/optimizer.ckpt: $(QUAD) | $(STAMP)
	$(REPRO) fit --config $(QUAD) $(COMMON)

$(DATA)/tuned_lr_quadratic.json: $(QUAD) | $(STAMP)
	$(REPRO) tune --config $(QUAD) $(COMMON)

$(DATA)/figure4a.json $(DATA)/figure3.json &: $(RUNS)/quadratic/optimizer.ckpt $(DATA)/tuned_lr_quadratic.json
	$(REPRO) evaluate --config $(QUAD) $(COMMON)

$(FIGDIR)/figure%.png: $(DATA)/figure%.json | $(STAMP)
	$(REPRO) figure figure$* --config $(QUAD) $(COMMON)

figure4a: $(FIGDIR)/figure4a.png
figure3: $(FIGDIR)/figure3.png $(FIGDIR)/figure4a.png

figures: figure3

clean:
	rm -rf runs paper_figures/quick .pytest_cache .ruff_cache
