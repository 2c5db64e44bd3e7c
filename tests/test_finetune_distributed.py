"""Finetuning over two processes (torchrun, gloo on CPU) follows the single-process run: each process takes its slice
of the global batch, DDP averages the gradients, and the logged loss is the whole batch's."""
import json, math, shutil, subprocess, sys
from safetensors.torch import load_file
from conftest import ldpruner_inproc as ldpruner     # the single-process runs; torchrun starts its own processes

OPS = ["up_blocks.0.attentions.0", "mid_block.resnets.1"]
FT = ["--steps", "6", "--batch", "8", "--data", "64", "--save-every", "100"]
WEIGHTS = "diffusion_pytorch_model.safetensors"


def test_two_process_finetune_matches_single_process(tmp_path):
    r = ldpruner("prune", "tiny-uig", "--operators", *OPS, "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    single = ldpruner("finetune", tmp_path / "p", "-o", tmp_path / "single", *FT)
    assert single.returncode == 0, single.stderr
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--no-python", "--",
           shutil.which("ldpruner"), "finetune", str(tmp_path / "p"), "-o", str(tmp_path / "dist"), *FT]
    d = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert d.returncode == 0, d.stderr[-3000:]
    want = json.loads((tmp_path / "single" / "finetune.json").read_text())["history"]
    got = json.loads((tmp_path / "dist" / "finetune.json").read_text())["history"]
    assert len(got) == len(want) == 6
    # step 0 sees the same weights and batch: its loss must be the whole batch's (half a batch would differ by far more)
    assert math.isclose(got[0]["loss"], want[0]["loss"], rel_tol=1e-4), (got[0], want[0])
    for g, w in zip(got, want): assert math.isclose(g["loss"], w["loss"], rel_tol=1e-2), (g, w)
    start, a, b = (load_file(str(tmp_path / x / WEIGHTS)) for x in ("p", "single", "dist"))
    norm = lambda d: sum(v.double().pow(2).sum() for v in d.values()).sqrt().item()
    moved, apart = norm({k: a[k] - start[k] for k in a}), norm({k: a[k] - b[k] for k in a})
    # float noise between one thread per rank and two (~1e-4 of the way the weights moved), not another run
    assert moved > 0 and apart < 1e-2 * moved, (apart, moved)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist", "p", "single"]     # no checkpoint left behind
