#!/usr/bin/env bash
# The test command: library in sync with the notebooks, notebooks clean, the docs build, every notebook at its test
# config, pytest; each phase timed, and the log ends with the ten slowest notebooks and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
own_timing=""; [ -n "${TIMING_DIR:-}" ] || own_timing=1      # timing.sh makes TIMING_DIR and its report when no caller did
. tests/timing.sh
machine_info
# Two workers at one thread each: two torch processes at two threads each on two cores thrash, and one process at two
# threads leaves a core idle through the many small, serial steps of a tiny model (measured: see the README's Test).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
WORKERS="${LDPRUNER_TEST_WORKERS:-2}"

# what nbdev_export or nbdev_clean changed (not what was already uncommitted): the tree before and after, as git sees it
tree_state() { git status --porcelain -- "$1"; git diff -- "$1"; }
in_sync() {
  local before; before="$(tree_state ldpruner)"
  nbdev_export
  if [ "$(tree_state ldpruner)" != "$before" ]; then
    echo "FAIL: nbdev_export changed ldpruner/: the library is out of sync with nbs/"; git status --porcelain -- ldpruner; return 1
  fi
  before="$(tree_state nbs)"
  nbdev_clean
  if [ "$(tree_state nbs)" != "$before" ]; then
    echo "FAIL: nbdev_clean changed nbs/: commit clean notebooks"; git status --porcelain -- nbs; return 1
  fi
}
docs() { python tools/build_docs.py --check --site "${DOCS_DIR:-_docs}"; }
notebooks() { nbdev_test --n_workers "$WORKERS" --timing | tee "$TIMING_DIR/nbdev_test.txt"; }
# exit code 5 (no tests collected) fails this script like any other failure
tests() { python -m pytest -q -n "$WORKERS" --dist loadfile --durations=25 --junitxml="$TIMING_DIR/pytest.xml" tests; }

# the second environment for the real metrics (tests/real_metrics.sh) is made in the background while the docs build
# (one process, so one core is free) and the notebooks start; its tests run last. A venv this script makes is removed
# when it ends; one named by LDPRUNER_METRICS_VENV is the caller's and is kept.
metrics_venv_pid=""
if [ -z "${LDPRUNER_METRICS_VENV:-}" ]; then
  metrics_root="$(mktemp -d)"; export LDPRUNER_METRICS_VENV="$metrics_root/venv"
  # this trap replaces timing.sh's: it prints the report too where that one would have; the background install is
  # waited for, so nothing writes into the folder as it goes
  trap 'rc=$?; if [ -n "$metrics_venv_pid" ]; then wait "$metrics_venv_pid" 2>/dev/null || true; fi; rm -rf "$metrics_root"; if [ -n "$own_timing" ]; then timing_report; fi; exit $rc' EXIT
fi
LDPRUNER_METRICS_INSTALL_ONLY=1 tests/real_metrics.sh > "$TIMING_DIR/metrics_venv.log" 2>&1 & metrics_venv_pid=$!
metrics() {
  wait "$metrics_venv_pid" || { echo "FAIL: making the second environment:"; tail -20 "$TIMING_DIR/metrics_venv.log"; return 1; }
  tests/real_metrics.sh
}

if git rev-parse --git-dir >/dev/null 2>&1; then phase "export and clean checks (library and notebooks in sync)" in_sync; fi
phase "docs: README.md up to date with nbs/index.ipynb; the site builds (nbdev's processing, Material for MkDocs, --strict)" docs
phase "nbdev_test: every notebook at its test configuration ($WORKERS workers)" notebooks
phase "pytest ($WORKERS workers)" tests
# FID/IS with torch-fidelity's Inception need torchvision: a second venv with the torch/torchvision pair (tests/real_metrics.sh)
phase "the paper's metrics with their real networks (second environment with torchvision, made in the background)" metrics
