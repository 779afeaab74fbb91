#!/usr/bin/env bash
# Idempotent set-up: Debian packages GPAW needs, a project virtual environment (.venv),
# perovcalc installed into it (GPAW built from source with MPI). A second run with nothing
# changed takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(libxc-dev libopenblas-dev g++ openmpi-bin libopenmpi-dev python3-venv)
# for the service tests (tests/test_hpc.py): a local SLURM and a PostgreSQL server
service_debs=(slurm-wlm munge postgresql)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${debs[@]}"; do installed "$p" || missing+=("$p"); done
missing_services=()
for p in "${service_debs[@]}"; do installed "$p" || missing_services+=("$p"); done
if ((${#missing_services[@]})); then
    if [ "$(id -u)" -eq 0 ]; then
        missing+=("${missing_services[@]}")
    else
        echo "setup: ${missing_services[*]} not installed: the SLURM/PostgreSQL tests will be" \
            "skipped (as root: apt-get install ${missing_services[*]})" >&2
    fi
fi
if ((${#missing[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing Debian packages: ${missing[*]}" >&2
        echo "setup: install them as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# GPAW 26.x compiles as C++: use the MPI C++ wrapper so GPAW is built with MPI.
command -v mpic++ >/dev/null || { echo "setup: mpic++ not found after install" >&2; exit 1; }

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv

stamp=.venv/.perovcalc-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing perovcalc and its dependencies into .venv (GPAW builds from source, ~2 min)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev,hpc]'
    echo "$want" > "$stamp"
fi
