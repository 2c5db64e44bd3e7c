import os, shutil, subprocess, sys
from pathlib import Path
import pytest
from filelock import FileLock

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

def imagefolder(path, n=12):
    "An imagefolder of `n` scenes of the reference text-to-image task (40 px PNGs and their captions)."
    import json
    import numpy as np
    from PIL import Image
    from ldpruner import data
    path.mkdir()
    rows = []
    for i, scene in enumerate(data.sample_scenes(n, seed=3)):
        Image.fromarray((data.draw(scene, size=40).transpose(1, 2, 0) * 255).astype(np.uint8)).save(path / f"{i}.png")
        rows.append(dict(file_name=f"{i}.png", text=data.caption(scene)))
    (path / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# the start of a script run in a fresh process where `import ldpruner` fails: what a user without ldpruner has
WITHOUT_LDPRUNER = """import importlib.abc, sys
class NoLdpruner(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "ldpruner": raise ImportError("ldpruner is not installed here")
sys.meta_path.insert(0, NoLdpruner())
try: import ldpruner
except ImportError: pass
else: sys.exit("ldpruner imported")
"""


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


# Expensive inputs many tests read, made once per test run: under pytest-xdist the workers share one copy (the first to
# ask builds it under a file lock; the others wait and read it). Tests only read them: anything they change, they copy.

def shared(tmp_path_factory, name, make):
    "The folder `name`, filled once by `make(folder)` for the whole run and every xdist worker; returns the folder."
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"): root = root.parent      # the workers' common parent
    folder, done = root / f"shared-{name}", root / f"shared-{name}.done"
    with FileLock(str(root / f"shared-{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True); folder.mkdir()
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def pipes(tmp_path_factory):
    "Tiny random diffusers pipelines saved as real folders: SD-2.x (v-prediction), SDXL, AudioLDM."
    def make(root):
        from ldpruner.families import tiny_pipeline
        for fam in ["sd-2", "sdxl", "audioldm"]: tiny_pipeline(fam, root / fam)
    return shared(tmp_path_factory, "pipes", make)


SCORE_ARGS = [*FAST, "--types", "Downsample2D", "Upsample2D"]     # six operators of tiny-t2i


@pytest.fixture(scope="session")
def scored_t2i(tmp_path_factory):
    "An uninterrupted `ldpruner score` of tiny-t2i's six resamplers (SCORE_ARGS): the file `s.json`."
    def make(d):
        r = ldpruner_inproc("score", *SCORE_ARGS, "-o", d / "s.json")
        assert r.returncode == 0, r.stderr
    return shared(tmp_path_factory, "scored-t2i", make) / "s.json"
