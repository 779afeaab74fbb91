#!/usr/bin/env bash
# The 2x2x2 V_Br+ hop of benchmarks/neb_cost.py on two cores, resumable across sessions: every
# saved evaluation in benchmarks/neb_cost_222/ replays at no cost. The endpoints relax side by
# side; then the surrogate relaxations of the same starts and the DFT bands (perovcalc's and
# plain ASE CI-NEB: finished) run on one core and the surrogate bands on the other; then the
# table goes to reference/computed_neb_cost_222.csv. Logs: results/neb_cost_222/.
#   nohup bash benchmarks/neb_cost_222.sh &
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
logs=results/neb_cost_222
mkdir -p "$logs"
run() {
    .venv/bin/python benchmarks/neb_cost.py --supercell 2 2 2 --host tilted --host-fmax 0.05 \
        --relax-fmax 0.02 --workdir benchmarks/neb_cost_222 "$@"
}
run --only relax-initial > "$logs/initial.log" 2>&1 &
first=$!
run --only relax-final > "$logs/final.log" 2>&1
wait "$first"
run --only surrogate-relax perovcalc ase > "$logs/perovcalc.log" 2>&1 &
first=$!
run --only surrogate prior > "$logs/bands.log" 2>&1
wait "$first"
run --csv reference/computed_neb_cost_222.csv --json "$logs/neb_cost_222.json" > "$logs/table.log" 2>&1
cat "$logs/table.log"
