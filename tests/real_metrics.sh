#!/usr/bin/env bash
# The paper's metrics with their real networks (tests/test_real_metrics.py) in a second environment: torch-fidelity's
# Inception needs torchvision, and PyPI's torchvision does not import beside the CPU build of torch 2.13.0 that the main
# test set-up uses. This venv takes the torch/torchvision pair that installs from this machine's disk (x86_64: 2.14.1 and
# 0.29.1, a CUDA build that runs on the CPU, about 5.5 GB; aarch64: 2.9.1 and 0.24.1), then ldpruner and torch-fidelity,
# and runs that one file with LDPRUNER_REAL_METRICS=1, so that it fails rather than skips if anything is missing.
#   tests/real_metrics.sh            (LDPRUNER_METRICS_VENV=/path makes the venv there and keeps it, or reuses one made there;
#                                     LDPRUNER_METRICS_INSTALL_ONLY=1 makes it and stops: tests/run.sh makes it in the background)
set -euo pipefail
cd "$(dirname "$0")/.."
MARK=".made-by-ldpruner-real-metrics"
if [ -n "${LDPRUNER_METRICS_VENV:-}" ]; then venv="$LDPRUNER_METRICS_VENV"
  # a caller's folder is filled only if this script made it (its marker inside) or it is missing or empty
  if [ -e "$venv" ] && { [ ! -d "$venv" ] || { [ -n "$(ls -A "$venv")" ] && [ ! -e "$venv/$MARK" ]; }; }; then
    echo "error: $venv exists and was not made by tests/real_metrics.sh; name another folder" >&2; exit 2
  fi
else                                    # a venv of its own, 5.5 GB: removed when the run ends, passed or failed
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT; venv="$tmp/venv"
fi
case "$(uname -m)" in aarch64|arm64) pair="torch==2.9.1 torchvision==0.24.1" ;; *) pair="torch==2.14.1 torchvision==0.29.1" ;; esac
want="$pair torch-fidelity pytest filelock"
# made only when its last install finished (the stamp names what was installed): a run killed half-way installs again
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ]; then
  mkdir -p "$venv"; touch "$venv/$MARK"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q --no-compile $pair
  "$venv/bin/pip" install -q --no-compile -e . torch-fidelity pytest filelock
  echo "$want" > "$venv/.installed"
fi
if [ -n "${LDPRUNER_METRICS_INSTALL_ONLY:-}" ]; then exit 0; fi
PATH="$venv/bin:$PATH" LDPRUNER_REAL_METRICS=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_real_metrics.py
