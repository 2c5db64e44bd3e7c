#!/usr/bin/env python
"""Gradient checkpointing at real size: distillation steps of BK-SDM-Base's student of the SD-v1.4 architecture (random
weights: time and memory do not depend on them) from the full SD-v1.4 U-Net, batch 1, with and without
`gradient_checkpointing`, through `ldpruner.finetune.distill` itself (feature KD at BK-SDM's points, AdamW, float32).

Each configuration runs in a process of its own, one after another, so each peak is its own: the process's peak
resident memory (VmHWM), and the training's own share of it (the peak less the resident memory before the first step:
activations, gradients, optimiser state). Step time: the median of the steps after the first. Writes
`benchmarks/checkpointing.json`, and its ratios into `benchmarks/real_size.json` (key `checkpointing`), beside the
other real-size numbers. Not a test: minutes on a 2-core CPU.

    python tools/bench_checkpointing.py                     # 32x32 latents (256 px), then 64x64 (SD's 512 px) if it fits
    python tools/bench_checkpointing.py --sizes 32 --steps 3 --tiny --out /tmp/c.json   # a smoke run on the tiny SD config
    python tools/bench_checkpointing.py --merge       # only copy benchmarks/checkpointing.json's ratios into real_size.json
"""
import argparse, json, platform, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss(field: str) -> int:
    "A field of /proc/self/status in bytes (VmRSS: resident now; VmHWM: the peak)."
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"): return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def one(size: int, checkpointing: bool, steps: int, tiny: bool) -> dict:
    "One configuration, in this process: build teacher and student, distil `steps` steps, report time and memory."
    import torch
    from ldpruner.bksdm import bk_sdm_feature_map, bk_sdm_student
    from ldpruner.finetune import DistillConfig, distill
    from ldpruner.models import DEFAULT_PROMPTS, LDM, SD14_UNET_CONFIG, SHAPE_WORDS, TINY_SD_CONFIG, unet_from_config
    from ldpruner.text import build_tokenizer, tiny_text_encoder
    torch.set_num_threads(torch.get_num_threads())
    cfg = TINY_SD_CONFIG if tiny else SD14_UNET_CONFIG
    teacher = unet_from_config(cfg, seed=0).eval()
    student = bk_sdm_student(teacher, "base")
    tok = build_tokenizer(SHAPE_WORDS)   # the conditioning's width is what matters to the U-Net; a small encoder makes it
    ldm = LDM(name="SD-v1.4 architecture", unet=teacher, tokenizer=tok, prompts=list(DEFAULT_PROMPTS),
              text_encoder=tiny_text_encoder(len(tok.get_vocab()), hidden_size=cfg["cross_attention_dim"], max_length=77))
    latents = torch.randn(8, 4, size, size, generator=torch.Generator().manual_seed(0))
    prompts = [DEFAULT_PROMPTS[i % len(DEFAULT_PROMPTS)] for i in range(len(latents))]
    config = DistillConfig(steps=steps, batch=1, lr=5e-5, warmup=0.0, lr_schedule="constant", p_uncond=0.0,
                           gradient_checkpointing=checkpointing, save_every=10**9)
    times, before = [], rss("VmRSS")
    last = [time.perf_counter()]
    def tick(step, model):
        now = time.perf_counter(); times.append(now - last[0]); last[0] = now
    distill(student, teacher, latents, config, prompts=prompts, ldm=ldm, progress=False, callback=tick,
            feature_map=bk_sdm_feature_map("base"), device="cpu")
    peak = rss("VmHWM")
    return dict(latent=[1, 4, size, size], gradient_checkpointing=checkpointing, steps=steps,
                step_s=statistics.median(times[1:]) if len(times) > 1 else times[0], step_times_s=times,
                peak_rss_bytes=peak, rss_before_training_bytes=before, training_peak_bytes=peak - before,
                student_params=sum(p.numel() for p in student.parameters()), teacher_params=sum(p.numel() for p in teacher.parameters()))


def merge_into_real_size(checkpointing: Path, real_size: Path = ROOT / "benchmarks" / "real_size.json"):
    "Copy a checkpointing run's ratios (and what made them) into the real-size benchmark's JSON, key `checkpointing`."
    ck = json.loads(checkpointing.read_text())
    rs = json.loads(real_size.read_text())
    rs["checkpointing"] = dict(what=ck["what"], model=ck["model"], device=ck["device"], cpu_threads=ck["cpu_threads"],
                               command=ck["command"], file=str(checkpointing.relative_to(ROOT)), ratios=ck["ratios"])
    real_size.write_text(json.dumps(rs, indent=1) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64], help="latent sides to measure")
    ap.add_argument("--steps", type=int, default=4, help="distillation steps a configuration (the first is the warm-up)")
    ap.add_argument("--tiny", action="store_true", help="the tiny SD config instead of SD-v1.4's (a smoke run)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "checkpointing.json"))
    ap.add_argument("--merge", action="store_true", help="only copy --out's ratios into benchmarks/real_size.json")
    ap.add_argument("--one", nargs=2, metavar=("SIZE", "CHECKPOINTING"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(int(a.one[0]), a.one[1] == "1", a.steps, a.tiny))); return
    if a.merge: merge_into_real_size(Path(a.out).resolve()); return
    import torch, diffusers
    runs = []
    for size in a.sizes:
        for ckpt in (False, True):
            cmd = [sys.executable, __file__, "--one", str(size), str(int(ckpt)), "--steps", str(a.steps)] + (["--tiny"] if a.tiny else [])
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                runs.append(dict(latent=[1, 4, size, size], gradient_checkpointing=ckpt, failed=f"exit {r.returncode}: {r.stderr.strip()[-300:]}"))
                print(f"{size}x{size}, checkpointing {ckpt}: failed (exit {r.returncode})", file=sys.stderr); continue
            runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
            x = runs[-1]
            print(f"{size}x{size}, checkpointing {ckpt}: {x['step_s']:.2f} s a step, peak {x['peak_rss_bytes'] / 2**30:.2f} GiB "
                  f"(training's own {x['training_peak_bytes'] / 2**30:.2f} GiB)", file=sys.stderr)
    ratios = []
    for size in a.sizes:
        off, on = ([r for r in runs if r["latent"][2] == size and r["gradient_checkpointing"] == c and "failed" not in r] for c in (False, True))
        if off and on:
            off, on = off[0], on[0]
            ratios.append(dict(latent=[1, 4, size, size], step_time_ratio=on["step_s"] / off["step_s"],
                               peak_rss_ratio=on["peak_rss_bytes"] / off["peak_rss_bytes"],
                               training_peak_ratio=on["training_peak_bytes"] / off["training_peak_bytes"]))
    out = dict(what="distillation steps of BK-SDM-Base's student from the SD-v1.4 U-Net (random weights), batch 1, float32, AdamW; "
                    "with and without gradient checkpointing (checkpointed / not)",
               model="tiny SD config" if a.tiny else "SD-v1.4 architecture", machine=platform.platform(), cpu_threads=torch.get_num_threads(),
               device="cpu", torch=torch.__version__, diffusers=diffusers.__version__, command=" ".join(["python", "tools/bench_checkpointing.py", *sys.argv[1:]]),
               runs=runs, ratios=ratios)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    if not a.tiny and Path(a.out).resolve() == (ROOT / "benchmarks" / "checkpointing.json"): merge_into_real_size(Path(a.out).resolve())
    for r in ratios:
        print(f"latents {r['latent']}: checkpointing takes {r['step_time_ratio']:.2f}x the step time and {r['training_peak_ratio']:.2f}x "
              f"the training's own peak memory ({r['peak_rss_ratio']:.2f}x the process's peak)")


if __name__ == "__main__":
    main()
