# Phase timing for the test command and CI, sourced by tests/run.sh and .ci/run: every phase prints its wall time as it
# ends, and `timing_report` ends the log with all phases, the ten slowest notebooks and the ten slowest tests.
# The first script to source this owns TIMING_DIR and prints the report when it exits, passed or failed; a script it
# calls adds its phases to the same record.
if [ -z "${TIMING_DIR:-}" ]; then
  TIMING_DIR="$(mktemp -d)"; export TIMING_DIR
  trap 'rc=$?; timing_report; exit $rc' EXIT
fi

# phase NAME CMD...: run CMD (a command or a shell function), then print and record how long it took
phase() {
  local name="$1"; shift
  echo "== $name"
  local t0 rc=0; t0=$(date +%s.%N)
  "$@" || rc=$?
  local dt; dt=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)")
  echo "== $name: ${dt} s"
  printf '%s\t%s\n' "$dt" "$name" >> "$TIMING_DIR/phases.tsv"
  if [ "$rc" != 0 ]; then echo "== $name FAILED (exit code $rc)"; fi
  return "$rc"
}

# which machine this log comes from, and how fast it is right now: the same fixed work times differently on a slow or
# a busy machine, so a slow phase can be told from a slow machine
machine_info() {
  python3 - <<'EOF'
import os, platform, time
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
mem = next((int(l.split()[1]) / 2**20 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
t = time.perf_counter(); sum(i * i for i in range(3_000_000)); calib = time.perf_counter() - t
print(f"== machine: {os.cpu_count()} cores, {cpu}, {mem:.0f} GiB, load {os.getloadavg()[0]:.2f}; "
      f"fixed Python work in {calib:.2f} s (lower is faster)")
EOF
}

# the log's last lines: every phase, the ten slowest notebooks (nbdev_test --timing) and the ten slowest tests (pytest)
timing_report() {
  python3 - "$TIMING_DIR" <<'EOF'
import re, sys, xml.etree.ElementTree as ET
from pathlib import Path
d = Path(sys.argv[1])
def table(title, rows):
    print(f"== {title}")
    for secs, name in rows: print(f"{secs:8.1f} s  {name}")
if (d / "phases.tsv").is_file():
    table("phases", [(float(s), n) for s, n in (l.split("\t", 1) for l in (d / "phases.tsv").read_text().splitlines())])
nb = d / "nbdev_test.txt"
if nb.is_file():
    rows = [(float(m[2]), m[1]) for m in re.finditer(r"^(\S+\.ipynb): (\d+) secs$", nb.read_text(), re.M)]
    table("ten slowest notebooks (nbdev_test, whole seconds)", sorted(rows, reverse=True)[:10])
junit = d / "pytest.xml"
if junit.is_file():
    cases = ET.parse(junit).getroot().iter("testcase")
    rows = [(float(c.get("time", 0)), f"{c.get('classname')}::{c.get('name')}") for c in cases]
    table("ten slowest tests (pytest, setup + call + teardown)", sorted(rows, reverse=True)[:10])
EOF
}
