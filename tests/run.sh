#!/usr/bin/env bash
# The test command: library in sync with the notebooks, notebooks clean, the docs build, every notebook at its test
# config, pytest; each phase timed, and the log ends with the ten slowest notebooks and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
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

if git rev-parse --git-dir >/dev/null 2>&1; then phase "export and clean checks (library and notebooks in sync)" in_sync; fi
phase "docs: README.md up to date with nbs/index.ipynb; the site builds (nbdev's processing, Material for MkDocs, --strict)" docs
phase "nbdev_test: every notebook at its test configuration ($WORKERS workers)" notebooks
phase "pytest ($WORKERS workers)" tests
# FID/IS with torch-fidelity's Inception need torchvision: a second venv with the torch/torchvision pair (tests/real_metrics.sh)
phase "the paper's metrics with their real networks (second environment with torchvision)" tests/real_metrics.sh
