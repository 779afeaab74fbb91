# Two entry points (see README): `make run` (the main job) and `make test` (the test suite).
# Both run the idempotent set-up first.
VENV := .venv/bin
export OPENBLAS_NUM_THREADS := 1
# the demo's cells are small: one rank per task and as many tasks at once as cores
JOBS ?= $(shell nproc)

.PHONY: setup run test lint
setup:
	@bash scripts/setup.sh

run: setup
	$(VENV)/perovcalc doctor
	$(VENV)/perovcalc run workflows/kbr_passivation_demo.toml --ranks 1 --jobs $(JOBS)
	$(VENV)/perovcalc report workflows/kbr_passivation_demo.toml

test: setup
	$(VENV)/ruff check perovcalc tests benchmarks workflows
	$(VENV)/ruff format --check perovcalc tests benchmarks workflows
	$(VENV)/pytest -x

lint: setup
	$(VENV)/ruff check --fix perovcalc tests benchmarks workflows
	$(VENV)/ruff format perovcalc tests benchmarks workflows
