#!/usr/bin/env bash
# One entry point for a fresh machine.
#   bash scripts/run.sh report [costmodel report options]  -> set up, then build the HTML report
#                                                            (with measured latency; add --no-latency to skip)
#   bash scripts/run.sh test   [pytest options]            -> set up, then run the test suite
#   bash scripts/run.sh setup                              -> set up only
# Set-up is idempotent: a .venv in the project root with the CPU torch wheel installed FIRST
# (a bare `torch` requirement would pull a multi-GB CUDA build), then costmodel and test deps.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PY" -m venv "$VENV"
    fi
    if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
        "$VENV/bin/pip" install -q --disable-pip-version-check "torch==2.13.0"
    fi
    if ! "$VENV/bin/python" -c "import costmodel, fvcore, pytest, hypothesis, xdist, pyarrow, distributed" 2>/dev/null \
        || [ pyproject.toml -nt "$VENV/.costmodel-installed" ]; then
        "$VENV/bin/pip" install -q --disable-pip-version-check -e ".[test,peers,distributed]"
        touch "$VENV/.costmodel-installed"
    fi
}

cmd=${1:-report}
shift || true
setup
case "$cmd" in
    setup) ;;
    report) exec "$VENV/bin/costmodel" report --latency "$@" ;;  # latency: calibrates this machine once (about 3 min)
    test) exec "$VENV/bin/python" -m pytest -n 2 "$@" ;;
    *) echo "usage: bash scripts/run.sh [report|test|setup] [args...]" >&2; exit 2 ;;
esac
