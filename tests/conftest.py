import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def ldpruner(*args, cwd=None, timeout=600):
    "Run the installed `ldpruner` console script; returns the CompletedProcess."
    return subprocess.run(["ldpruner", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout)

@pytest.fixture
def cli(): return ldpruner

# small but real settings for every scoring run under test
FAST = ["--n", "2", "--steps", "2"]


class _Result:
    def __init__(self, returncode, stdout, stderr): self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

def ldpruner_inproc(*args):
    """Run the `ldpruner` command in this process (what the console script calls), output captured: the same CLI
    without the few seconds of importing torch and diffusers per call. Fresh-process behaviour has its own tests."""
    import contextlib, io
    from ldpruner.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in args])
        except SystemExit as e: rc = e.code if isinstance(e.code, int) else 2
    return _Result(rc, out.getvalue(), err.getvalue())

def check_bad(run, args, folder, needle):
    "With runner `run`, a mistake is one line on stderr, exit code 2, no traceback, and nothing written in `folder`."
    before = sorted(p.name for p in folder.iterdir())
    r = run(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.startswith("ldpruner: error")]
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in folder.iterdir()) == before, "bad input must not write anything"

def bad_inproc(args, folder, needle): check_bad(ldpruner_inproc, args, folder, needle)
