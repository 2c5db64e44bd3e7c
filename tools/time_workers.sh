#!/usr/bin/env bash
# How to use two cores for the tests: time the same part of the suite (notebooks 04 to 09 under nbdev_test, then
# tests/test_methods.py and tests/test_guarantees.py under pytest) as WORKERS processes at THREADS threads each, on a
# quiet machine or, with "load", beside one busy process (another job on the machine). Run from the repository root in
# the test command's environment; appends "LABEL notebooks_s pytest_s" to benchmarks/test_workers.txt.
#
#   tools/time_workers.sh LABEL WORKERS THREADS [load]
set -euo pipefail
label=$1; w=$2; t=$3; load=${4:-}
out=benchmarks/test_workers.txt
[ -f "$out" ] || echo "# label notebooks_s pytest_s (tools/time_workers.sh; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))" > "$out"
if [ -n "$load" ]; then python3 -c "while True: pass" & hog=$!; trap 'kill $hog' EXIT; fi
t0=$(date +%s.%N)
OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t nbdev_test --n_workers "$w" --file_glob "0[4-9]_*.ipynb" > /dev/null
t1=$(date +%s.%N)
OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t python -m pytest -q -n "$w" --dist loadfile -p no:cacheprovider tests/test_methods.py tests/test_guarantees.py > /dev/null
t2=$(date +%s.%N)
python3 -c "import sys; a, b, c = map(float, sys.argv[2:]); print(sys.argv[1], f'{b - a:.0f}', f'{c - b:.0f}')" "$label" "$t0" "$t1" "$t2" >> "$out"
