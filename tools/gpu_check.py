#!/usr/bin/env python
"""What the paper-scale work costs on a GPU, measured in one short run (at most about 8 minutes on one GPU): on the
SD-v1.5 U-Net architecture (random weights; time and memory do not depend on them), at 512 px (64x64 latents):

1. scoring: the time per operator of LD-Pruner's full protocol (4 latents a condition, 10 DDIM steps, guidance 3),
   every condition batched in one U-Net call, timed over a few operators after a warm-up one;
2. `prune(speedup=1.5)`: the measured search's measured speedup against the latency profile's prediction (operators
   ranked by seeded random scores: the search's cost and accuracy do not depend on the ranking);
3. distillation: the time and peak memory of a step of the pruned student from the original at batch 8, with gradient
   checkpointing and EMA, in the chosen mixed precision.

Writes JSON with the device, dtype, versions and every number, and the full costs they imply (the paper's full
protocol over every operator; BK-SDM's 50K-step recipe at its batch 256, from the batch-8 step). With `--tiny` the same
runs on the tiny SD config on the CPU in under a minute (CI runs it; its numbers say nothing about a GPU).

    python tools/gpu_check.py --out benchmarks/gpu_check_h100.json     # on a GPU machine
    python tools/gpu_check.py --tiny --out /tmp/gpu_check_tiny.json    # the smoke run
"""
import argparse, json, platform, statistics, sys, time
from pathlib import Path

PAPER_CONDITIONS = 50          # LD-Pruner's t2i scoring prompts as read in METHODS.md (Hybrid-SD's reading)
BK_SDM_STEPS, BK_SDM_BATCH = 50_000, 256


def peak_memory_reset(device):
    import torch
    if device.type == "cuda": torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device) -> int:
    "Peak bytes: CUDA's allocator peak since the last reset, or this process's peak resident memory on the CPU."
    import torch
    if device.type == "cuda": return torch.cuda.max_memory_allocated(device)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"): return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def sync(device):
    import torch
    if device.type == "cuda": torch.cuda.synchronize(device)


def bundle(unet, cross_dim: int):
    "The U-Net in an `LDM` bundle with a small text encoder of the U-Net's conditioning width (prompts become embeddings)."
    from ldpruner.models import DEFAULT_PROMPTS, LDM, SHAPE_WORDS
    from ldpruner.text import build_tokenizer, tiny_text_encoder
    tok = build_tokenizer(SHAPE_WORDS)
    return LDM(name="SD-v1.5 architecture", unet=unet, tokenizer=tok, prompts=list(DEFAULT_PROMPTS),
               text_encoder=tiny_text_encoder(len(tok.get_vocab()), hidden_size=cross_dim, max_length=77))


def scoring(ldm, device, conditions: int, timed_ops: int) -> dict:
    "Seconds per operator of the full protocol over `conditions` batched prompts (the first operator is the warm-up)."
    from ldpruner.models import DEFAULT_PROMPTS
    from ldpruner.operators import find_operators
    from ldpruner.scoring import PROTOCOLS, score_operators
    prompts = [DEFAULT_PROMPTS[i % len(DEFAULT_PROMPTS)] for i in range(conditions)]
    conds, uncond = ldm.conditions(prompts)
    ops = find_operators(ldm.unet)
    full = PROTOCOLS["full"]
    times = []
    for op in ops[:timed_ops + 1]:
        sync(device); t0 = time.perf_counter()
        score_operators(ldm.unet, [op], conds, uncond, n=full["n"], steps=full["steps"], progress=False, scheduler=ldm.scheduler)
        sync(device); times.append(time.perf_counter() - t0)
    per_op = statistics.median(times[1:])
    return dict(protocol=dict(n=full["n"], steps=full["steps"], guidance_scale=3.0, conditions=conditions, batched=True),
                operators=len(ops), timed_operators=len(times) - 1, seconds_per_operator=per_op,
                seconds_per_operator_per_condition=per_op / conditions, warmup_operator_s=times[0])


def pruning(unet, inputs, target: float) -> tuple:
    "(the pruned U-Net, the measured search's numbers) at `target`."
    from ldpruner.random_criterion import random_scores
    from ldpruner.pruning import prune, record_of
    t0 = time.perf_counter()
    pruned = prune(unet, random_scores(unet), speedup=target, inputs=inputs, repeats=10)
    r = record_of(pruned).report
    return pruned, dict(target_speedup=target, measured_speedup=r["measured_speedup"], predicted_speedup=r["predicted_speedup"],
                        operators_removed=len(record_of(pruned).operators), search_s=time.perf_counter() - t0,
                        latency_original_s=r["latency_original_s"], latency_pruned_s=r["latency_pruned_s"])


def distillation(student, ldm, device, batch: int, size: int, mixed: str, steps: int) -> dict:
    "Seconds a step (median after the first) and peak memory of distilling `student` from `ldm.unet`, checkpointing and EMA on."
    import torch
    from ldpruner.finetune import DistillConfig, distill
    from ldpruner.models import DEFAULT_PROMPTS
    n = 2 * batch
    latents = torch.randn(n, 4, size, size, generator=torch.Generator().manual_seed(0))
    prompts = [DEFAULT_PROMPTS[i % len(DEFAULT_PROMPTS)] for i in range(n)]
    config = DistillConfig(steps=steps, batch=batch, lr=5e-5, warmup=0.0, lr_schedule="constant", ema=0.9999,
                           gradient_checkpointing=True, save_every=10**9)
    times, last = [], [time.perf_counter()]
    def tick(step, model):
        sync(device); now = time.perf_counter(); times.append(now - last[0]); last[0] = now
    peak_memory_reset(device)
    distill(student, ldm.unet, latents, config, prompts=prompts, ldm=ldm, progress=False, callback=tick, device=device,
            mixed_precision=mixed)
    return dict(batch=batch, latent=[batch, 4, size, size], gradient_checkpointing=True, ema=0.9999, mixed_precision=mixed,
                steps=steps, seconds_per_step=statistics.median(times[1:]), peak_memory_bytes=peak_memory(device),
                peak_memory_kind="torch.cuda.max_memory_allocated" if device.type == "cuda" else "process peak resident memory (VmHWM)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="the tiny SD config on the CPU (a smoke run, under a minute)")
    ap.add_argument("--device", default=None, help="default: cuda (cpu with --tiny)")
    ap.add_argument("--dtype", default=None, choices=["float32", "float16", "bfloat16"], help="default: float16 on a GPU, float32 on the CPU")
    ap.add_argument("--out", required=True, help="the JSON file to write")
    a = ap.parse_args(argv)
    import torch, diffusers
    import ldpruner
    from ldpruner.bench import device_name, unet_inputs
    from ldpruner.models import SD14_UNET_CONFIG, TINY_SD_CONFIG, cast, unet_from_config
    device = torch.device(a.device or ("cpu" if a.tiny else "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available(): sys.exit("gpu_check: no CUDA device here; use --tiny for the CPU smoke run")
    dtype = getattr(torch, a.dtype or ("float16" if device.type == "cuda" else "float32"))
    mixed = {torch.float32: "no", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    cfg = TINY_SD_CONFIG if a.tiny else SD14_UNET_CONFIG       # SD-v1.5's U-Net is SD-v1.4's architecture
    size = cfg["sample_size"]
    t_start = time.perf_counter()
    unet = cast(unet_from_config(cfg, seed=0), device, dtype).eval()
    ldm = bundle(unet, cfg["cross_attention_dim"]).to(device, dtype)
    score = scoring(ldm, device, conditions=4 if a.tiny else 8, timed_ops=2 if a.tiny else 3)
    pruned, search = pruning(unet, unet_inputs(unet, batch=2, seq_len=77), 1.5)
    teacher = cast(unet_from_config(cfg, seed=0), device).eval()          # distillation keeps float32 weights (mixed precision)
    student = cast(pruned, device, torch.float32)
    train = distillation(student, bundle(teacher, cfg["cross_attention_dim"]).to(device), device, batch=2 if a.tiny else 8,
                         size=size, mixed=mixed, steps=3 if a.tiny else 4)
    per_op_condition = score["seconds_per_operator_per_condition"]
    out = dict(
        what="LD-Pruner scoring, prune(speedup=1.5) and a distillation step on the SD-v1.5 U-Net architecture (random weights)"
             if not a.tiny else "the same on the tiny SD config (a smoke run: no statement about any GPU)",
        device=device_name(device), device_type=device.type, dtype=str(dtype).removeprefix("torch."), torch=torch.__version__,
        diffusers=diffusers.__version__, ldpruner=ldpruner.__version__, machine=platform.platform(), model="tiny SD config" if a.tiny else
        "SD-v1.5 architecture", latent=[4, size, size], scoring=score, prune=search, distillation=train,
        estimates=dict(
            paper_full_protocol_s=per_op_condition * PAPER_CONDITIONS * score["operators"],
            paper_full_protocol_what=f"every one of the {score['operators']} operators under the full protocol over {PAPER_CONDITIONS} "
                                     "prompts, at the measured seconds per operator and prompt (batched 8 at a time)",
            bk_sdm_recipe_s=train["seconds_per_step"] * BK_SDM_BATCH / train["batch"] * BK_SDM_STEPS,
            bk_sdm_recipe_what=f"BK-SDM's {BK_SDM_STEPS} steps at batch {BK_SDM_BATCH}, as {BK_SDM_BATCH // train['batch']} accumulated "
                               f"pieces of the measured batch-{train['batch']} step (the pruned student here, not BK-SDM's)"),
        seconds=time.perf_counter() - t_start, command=" ".join(["python", "tools/gpu_check.py", *(argv if argv is not None else sys.argv[1:])]))
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{out['device']}, {out['dtype']}: scoring {score['seconds_per_operator']:.3g} s an operator ({score['protocol']['conditions']} "
          f"conditions batched); prune to 1.5x measured {search['measured_speedup']:.2f}x against {search['predicted_speedup']:.2f}x "
          f"predicted; a distillation step {train['seconds_per_step']:.3g} s, peak {train['peak_memory_bytes'] / 2**30:.2f} GiB; "
          f"the paper's full protocol ~{out['estimates']['paper_full_protocol_s'] / 3600:.2g} h, BK-SDM's recipe "
          f"~{out['estimates']['bk_sdm_recipe_s'] / 86400:.2g} days; {out['seconds']:.0f} s in all; written to {a.out}")


if __name__ == "__main__":
    main()
