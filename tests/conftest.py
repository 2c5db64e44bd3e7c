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
