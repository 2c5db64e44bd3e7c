#!/usr/bin/env bash
# The test command: library in sync with the notebooks, notebooks clean, every notebook at its test config, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if git rev-parse --git-dir >/dev/null 2>&1; then
  nbdev_export
  if [ -n "$(git status --porcelain -- ldpruner)" ]; then
    echo "FAIL: nbdev_export changed ldpruner/: the library is out of sync with nbs/"; git status --porcelain -- ldpruner; exit 1
  fi
  nbdev_clean
  if [ -n "$(git status --porcelain -- nbs)" ]; then
    echo "FAIL: nbdev_clean changed nbs/: commit clean notebooks"; git status --porcelain -- nbs; exit 1
  fi
fi
echo "== docs: README.md up to date with nbs/index.ipynb; the site builds (nbdev's processing, Material for MkDocs, --strict)"
python tools/build_docs.py --check --site "${DOCS_DIR:-_docs}"
echo "== nbdev_test (notebooks at their test configuration)"
nbdev_test --n_workers 1 --timing
echo "== pytest"
python -m pytest -q tests   # exit code 5 (no tests collected) fails this script like any other failure
