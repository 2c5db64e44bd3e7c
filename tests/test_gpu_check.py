"""`tools/gpu_check.py --tiny`: the GPU check's smoke run on the CPU writes every field the GPU run writes, each a
measured, positive number (the tool itself is what runs on a GPU machine)."""
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_tiny_writes_every_field(tmp_path):
    out = tmp_path / "check.json"
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), "--tiny", "--out", str(out)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    d = json.loads(out.read_text())
    for key in ("device", "dtype", "torch", "diffusers", "ldpruner"): assert isinstance(d[key], str) and d[key], key
    numbers = {"scoring": ("operators", "seconds_per_operator", "seconds_per_operator_per_condition"),
               "prune": ("measured_speedup", "predicted_speedup", "operators_removed", "search_s", "latency_original_s", "latency_pruned_s"),
               "distillation": ("seconds_per_step", "peak_memory_bytes", "batch"),
               "estimates": ("paper_full_protocol_s", "bk_sdm_recipe_s")}
    for part, keys in numbers.items():
        for k in keys: assert isinstance(d[part][k], (int, float)) and d[part][k] > 0, (part, k, d[part].get(k))
    assert d["distillation"]["gradient_checkpointing"] is True and d["distillation"]["ema"] > 0
    assert d["device_type"] == "cpu" and d["seconds"] < 120
