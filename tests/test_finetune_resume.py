"A finetuning run killed part way resumes from its checkpoint and ends with the weights of an uninterrupted run."
import json, signal, subprocess, time
from safetensors.torch import load_file
from conftest import ldpruner

OPS = ["up_blocks.0.attentions.0", "mid_block.resnets.1"]
FT = ["--steps", "24", "--batch", "8", "--data", "64", "--save-every", "4"]


def test_finetune_resume_after_kill(tmp_path):
    r = ldpruner("prune", "tiny-uig", "--operators", *OPS, "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    full = ldpruner("finetune", tmp_path / "p", "-o", tmp_path / "full", *FT)
    assert full.returncode == 0, full.stderr
    out, ckpt = tmp_path / "killed", tmp_path / ".killed.checkpoint"
    p = subprocess.Popen(["ldpruner", "finetune", str(tmp_path / "p"), "-o", str(out), *FT],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:   # wait for a checkpoint part way through
        state = ckpt / "state.json"
        if state.exists():
            try:
                if json.loads(state.read_text())["step"] >= 8: break
            except (json.JSONDecodeError, OSError): pass
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    assert not out.exists()
    step = json.loads((ckpt / "state.json").read_text())["step"]
    assert 8 <= step < 24, step
    resumed = ldpruner("finetune", tmp_path / "p", "-o", out, *FT)
    assert resumed.returncode == 0, resumed.stderr
    assert not ckpt.exists()
    a = load_file(str(tmp_path / "full" / "ldpruner_pruned.safetensors"))
    b = load_file(str(out / "ldpruner_pruned.safetensors"))
    assert a.keys() == b.keys()
    for k in a: assert (a[k] - b[k]).abs().max() < 1e-6, k
    assert len(json.loads((out / "finetune.json").read_text())["history"]) == 24
