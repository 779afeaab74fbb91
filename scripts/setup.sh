#!/usr/bin/env bash
# Idempotent set-up: Debian packages GPAW needs, a project virtual environment (.venv),
# perovcalc installed into it (GPAW built from source with MPI). A second run with nothing
# changed takes seconds. One line per step; the output of apt and pip is shown only if a step
# fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# run a command with its output in a temporary log, shown (its end) only if it fails
quiet() {
    local log status=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || status=$?
    if ((status)); then
        tail -n 40 "$log" >&2
        echo "setup: failed (status $status): $*" >&2
    fi
    rm -f "$log"
    return "$status"
}

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
    quiet apt-get update -q
    DEBIAN_FRONTEND=noninteractive quiet apt-get install -y -q "${missing[@]}"
else
    echo "setup: Debian packages present"
fi

# GPAW 26.x compiles as C++: use the MPI C++ wrapper so GPAW is built with MPI.
command -v mpic++ >/dev/null || { echo "setup: mpic++ not found after install" >&2; exit 1; }

python=${PYTHON:-python3}
if [ -x .venv/bin/python ]; then
    echo "setup: virtual environment .venv present"
else
    echo "setup: creating the virtual environment .venv"
    quiet "$python" -m venv .venv
fi

stamp=.venv/.perovcalc-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing perovcalc and its dependencies into .venv (GPAW builds from source, ~2 min)"
    quiet .venv/bin/python -m pip install --upgrade pip
    quiet .venv/bin/python -m pip install -e '.[dev,hpc]'
    echo "$want" > "$stamp"
else
    echo "setup: perovcalc and its dependencies up to date in .venv"
fi
echo "setup: done"
