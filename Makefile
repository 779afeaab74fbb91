# Two entry points (see README): `make run` (the main job) and `make test` (the test suite).
# Both run the idempotent set-up first.
VENV := .venv/bin
export OPENBLAS_NUM_THREADS := 1

.PHONY: setup run test lint
setup:
	@bash scripts/setup.sh

run: setup
	$(VENV)/perovcalc doctor
	$(VENV)/perovcalc run workflows/kbr_passivation_demo.toml
	$(VENV)/perovcalc report workflows/kbr_passivation_demo.toml

test: setup
	$(VENV)/ruff check perovcalc tests benchmarks workflows
	$(VENV)/ruff format --check perovcalc tests benchmarks workflows
	$(VENV)/pytest -x

lint: setup
	$(VENV)/ruff check --fix perovcalc tests benchmarks workflows
	$(VENV)/ruff format perovcalc tests benchmarks workflows
