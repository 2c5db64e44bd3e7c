"""Scoring sharded over two processes with torchrun (gloo on CPU) gives the single-process scores, in the same order.

`--` keeps torchrun's own parser off ldpruner's options (`--n` is an ambiguous prefix of torchrun's `--nnodes`...)."""
import json, math, shutil, subprocess, sys
from conftest import SCORE_ARGS as ARGS     # six operators, three a process; the single-process run is conftest's


def test_torchrun_scoring_matches_single_process(scored_t2i, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--no-python", "--",
           shutil.which("ldpruner"), "score", "-o", str(tmp_path / "dist.json"), *ARGS]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    want = json.loads(scored_t2i.read_text())
    got = json.loads((tmp_path / "dist.json").read_text())
    assert (got["model_fingerprint"], got["protocol"]) == (want["model_fingerprint"], want["protocol"])
    assert list(got["operators"]) == list(want["operators"])
    # one thread per rank vs two: float sums differ in the last bits, and near-zero distances are differences of
    # near-equal latents, so their noise is absolute (~1e-6 of latents of scale ~1)
    for name, w in want["operators"].items():
        for key in ("d_avg", "d_std"):
            assert all(math.isclose(a, b, rel_tol=1e-4, abs_tol=2e-5) for a, b in zip(got["operators"][name][key], w[key])), (name, key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist.json"]   # shard files are gone
