#!/usr/bin/env python
"""Real-size numbers: SD-v1.4's and SDXL's full U-Nets (random weights: speed does not depend on them) at their native
latent sizes, batch 1. Per-operator latency profile; for BK-SDM Base/Small/Tiny (SD-v1.4) and a 42-operator plan (the
size of LD-Pruner's SD plan: on SD-v1.4 the one LD-Pruner picks on tiny-t2i, which shares its operator names): parameters, measured speedup (original and pruned interleaved, medians after warm-up)
against the speedup the profile predicts; peak memory of scoring and of `prune(speedup=...)`.

Each stage runs in its own process, one after another, so each peak memory is that stage's own. Writes
`benchmarks/real_size.json` and `benchmarks/real_size.png`. Not a test: it takes tens of minutes on a 2-core CPU.

    python tools/bench_real_size.py                  # everything, CPU float32
    python tools/bench_real_size.py --device cuda --dtype float16 --out benchmarks/real_size_gpu.json
"""
import argparse, json, platform, resource, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHS = ("sd14", "sdxl")
PLAN_SIZE = 42                   # operators in LD-Pruner's plan for SD-v1.4 (the paper's Tab. 1 model)
PAPER_PROMPTS, PAPER_N, PAPER_STEPS = 50, 1, 25   # 50 prompts x 1 latent x 25 steps: Hybrid-SD's reading (METHODS.md), not stated in the paper


def sdxl_config():
    "SDXL-base-1.0's U-Net config (as published with the model)."
    return dict(sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280),
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"), mid_block_type="UNetMidBlock2DCrossAttn",
                transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), use_linear_projection=True,
                cross_attention_dim=2048, addition_embed_type="text_time", addition_time_embed_dim=256,
                projection_class_embeddings_input_dim=2816, norm_num_groups=32, act_fn="silu", flip_sin_to_cos=True, freq_shift=0)


def build(arch, device, dtype, seed=0, plan=None):
    "The full-size U-Net (random weights), or with `plan` applied, built on meta and filled (no full copy in memory)."
    import torch
    from ldpruner.models import SD14_UNET_CONFIG, TINY_SD_CONFIG, unet_from_config
    from ldpruner.pruning import apply_plan
    cfg = {"sd14": SD14_UNET_CONFIG, "sdxl": sdxl_config(), "tiny": TINY_SD_CONFIG}[arch]   # tiny: a smoke run of the script
    if plan is None: return unet_from_config(cfg, seed=seed).to(device, dtype).eval()
    u = unet_from_config(cfg, device="meta")
    apply_plan(u, plan)
    u = u.to_empty(device="cpu")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in u.named_parameters():
            if name.endswith("bias"): p.zero_()
            elif "norm" in name and p.ndim == 1: p.fill_(1.0)
            else: p.normal_(0, 0.02, generator=g)
        for b in u.buffers(): b.zero_()
    return u.to(device, dtype).eval()


def inputs(unet, arch):
    from ldpruner.bench import unet_inputs
    return unet_inputs(unet, batch=1, seq_len=77)


def bk_removed(unet, variant):
    "The modules of the SD U-Net that BK-SDM's `variant` student does not have (for the profile's prediction)."
    out = [f"down_blocks.{i}.{k}.1" for i in range(4) for k in ("resnets", "attentions") if i < 3 or k == "resnets"]
    out += [f"up_blocks.{i}.{k}.1" for i in range(4) for k in ("resnets", "attentions") if i > 0 or k == "resnets"]
    if variant != "base": out.append("mid_block")
    if variant == "tiny":
        out = [o for o in out if not o.startswith(("down_blocks.3", "up_blocks.0"))] + ["down_blocks.3", "up_blocks.0"]
    return out


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def stage_profile(a):
    import torch
    from ldpruner.bench import compare_latency, count_params, device_name, latency_profile
    from ldpruner.operators import find_operators
    u = build(a.arch, a.device, getattr(torch, a.dtype))
    ops = find_operators(u)
    inp = inputs(u, a.arch)
    t0 = time.time()
    total = compare_latency({"original": u}, inp, repeats=a.repeats, warmup=1)["original"]
    names = [o.name for o in ops] + (sorted({n for v in ("base", "small", "tiny") for n in bk_removed(u, v)}) if a.arch != "sdxl" else [])
    prof = latency_profile(u, inp, list(dict.fromkeys(names)), repeats=a.repeats, warmup=1)
    return dict(arch=a.arch, device=device_name(inp["sample"].device), dtype=a.dtype, params=count_params(u),
                latent=list(inp["sample"].shape), forward_s=total, profile_s=prof,
                operators=[dict(name=o.name, type=o.type, kind=o.kind) for o in ops], seconds=time.time() - t0, peak_rss_gb=peak_rss_gb())


def _plan(a, profile):
    """42 operators. SD-v1.4: the plan LD-Pruner chooses on the trained `tiny-t2i` (SD-v1.x's block structure, so the same
    operator names), scored here with the default protocol. SDXL has no trained stand-in: 42 of its leaf operators
    (Attention, FeedForward, ResnetBlock2D) drawn at random, seeded."""
    import torch
    from ldpruner.operators import Operator
    from ldpruner.pruning import lowest_k, ranked_operators
    ops = {o["name"]: Operator(**o) for o in profile["operators"]}
    if a.arch != "sdxl":
        from ldpruner.references import load_reference
        from ldpruner.scoring import score_operators
        ref = load_reference("tiny-t2i")
        cond, uncond = ref.conditions()
        sc = score_operators(ref.unet, None, cond, uncond, n=4, steps=10, progress=False)
        plan = lowest_k(ranked_operators(sc), PLAN_SIZE)
        return [ops[o.name] for o in plan], "LD-Pruner's 42 on tiny-t2i"
    leaves = [o for o in ops.values() if o.type in ("Attention", "FeedForward", "ResnetBlock2D")]
    order = torch.randperm(len(leaves), generator=torch.Generator().manual_seed(0)).tolist()
    return lowest_k([leaves[i] for i in order], PLAN_SIZE), "42 random leaf operators"


def stage_plan(a):
    import torch
    from ldpruner.bench import compare_latency, count_params, predicted_speedup
    from ldpruner.bksdm import bk_sdm_unet
    prof = json.loads(Path(a.profile).read_text())
    dtype = getattr(torch, a.dtype)
    u = build(a.arch, a.device, dtype)
    inp = inputs(u, a.arch)
    if a.plan == "ld42":
        plan, label = _plan(a, prof)
        p = build(a.arch, a.device, dtype, plan=plan)
        removed = [o.name for o in plan]
    else:
        p = bk_sdm_unet(u, a.plan).to(a.device, dtype).eval()
        removed, label = bk_removed(u, a.plan), f"BK-SDM-{a.plan.capitalize()}"
    lat = compare_latency({"original": u, "pruned": p}, inp, repeats=a.repeats, warmup=a.warmup)
    return dict(arch=a.arch, plan=a.plan, label=label, repeats=a.repeats, warmup=a.warmup, params_original=count_params(u), params_pruned=count_params(p),
                measured_speedup=lat["original"] / lat["pruned"], latency_original_s=lat["original"], latency_pruned_s=lat["pruned"],
                predicted_speedup=predicted_speedup(prof["forward_s"], prof["profile_s"], removed), peak_rss_gb=peak_rss_gb())


def stage_score(a):
    "Peak memory of scoring: one prompt, n=1, a few steps, two operators (the cost per call is what scales)."
    import torch
    from ldpruner.conditioning import synthetic_conditioning
    from ldpruner.operators import find_operators
    from ldpruner.scoring import score_operators
    u = build(a.arch, a.device, getattr(torch, a.dtype))
    cond = synthetic_conditioning(u, 1, seq_len=77)
    t0 = time.time()
    sc = score_operators(u, find_operators(u)[:2], cond, cond, n=1, steps=a.steps, guidance_scale=3.0, progress=False)
    calls = 3 * a.steps                      # original + 2 modified, each `steps` U-Net calls at batch 2 (guidance)
    return dict(arch=a.arch, stage="score", steps=a.steps, seconds=time.time() - t0, per_call_batch2_s=(time.time() - t0) / calls,
                peak_rss_gb=peak_rss_gb())


def stage_prune(a):
    "Peak memory of prune(speedup=...): one copy of the U-Net, operators removed round by round on it."
    import torch
    from ldpruner.random_criterion import random_scores
    from ldpruner.pruning import prune, record_of
    u = build(a.arch, a.device, getattr(torch, a.dtype))
    t0 = time.time()
    p = prune(u, random_scores(u), speedup=a.speedup, inputs=inputs(u, a.arch), repeats=a.repeats)
    r = record_of(p).report
    return dict(arch=a.arch, stage="prune", target=a.speedup, measured_speedup=r["measured_speedup"], predicted_speedup=r["predicted_speedup"],
                operators=r["operators"], seconds=time.time() - t0, peak_rss_gb=peak_rss_gb())


def run_stage(args, **kw):
    cmd = [sys.executable, __file__, "--stage", *args, *[f"--{k}={v}" for k, v in kw.items()]]
    print("+", " ".join(cmd[2:]), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0: raise SystemExit(f"stage failed: {' '.join(args)}\n{r.stderr[-3000:]}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    print("  ", {k: v for k, v in res.items() if k not in ("profile_s", "operators")}, flush=True)
    return res


def remeasure(a, out, common):
    "Measure some plans again (more warm-up or repeats, say) and put them in place of their entries in `out`."
    res = json.loads(out.read_text())
    res.setdefault("commands", []).append(" ".join(["python tools/bench_real_size.py", *sys.argv[1:]]))
    for arch in a.archs:
        prof_path = out.with_name(f".{out.stem}.{arch}.profile.json")
        prof_path.write_text(json.dumps(res["profiles"][arch]))
        for plan in a.plans:
            cmd = " ".join(["python tools/bench_real_size.py", *sys.argv[1:]])
            if plan in ("score", "prune"):
                kw = dict(steps=a.steps, device=a.device, dtype=a.dtype) if plan == "score" else dict(speedup=a.speedup, **common)
                new = dict(run_stage([plan], arch=arch, **kw), command=cmd)
                res["memory"] = [new if (m["arch"], m["stage"]) == (arch, plan) else m for m in res["memory"]]
                continue
            new = dict(run_stage(["plan"], arch=arch, plan=plan, profile=prof_path, warmup=a.warmup, **common), command=cmd)
            res["plans"] = [new if (p["arch"], p["plan"]) == (arch, plan) else p for p in res["plans"]]
        prof_path.unlink()
    add_paper_protocol(res)
    out.write_text(json.dumps(res, indent=1))
    plot(res, out.with_suffix(".png"))
    print(f"updated {out} and {out.with_suffix('.png')}")


def plot(res, path):
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    archs = list(res["profiles"])
    fig, axs = plt.subplots(1, len(archs) + 1, figsize=(5 * (len(archs) + 1), 3.8))
    for ax, arch in zip(axs, archs):
        pr = res["profiles"][arch]
        ops = [o for o in pr["operators"] if o["type"] in ("ResnetBlock2D", "Transformer2DModel", "Downsample2D", "Upsample2D")]
        share = [100 * pr["profile_s"][o["name"]] / pr["forward_s"] for o in ops]
        colours = {"ResnetBlock2D": "#1f77b4", "Transformer2DModel": "#ff7f0e", "Downsample2D": "#8c564b", "Upsample2D": "#e377c2"}
        ax.bar(range(len(ops)), share, color=[colours[o["type"]] for o in ops])
        ax.set_title(f"{arch.upper()} U-Net, latent {pr['latent'][2]}x{pr['latent'][3]}, batch 1: "
                     f"{pr['forward_s']:.2f} s/forward\n{pr['device']}, {pr['dtype']}", fontsize=8)
        ax.set_ylabel("% of one forward pass"); ax.set_xlabel("ResNet / Transformer / down / up operators, network order")
        from matplotlib.patches import Patch
        ax.legend(handles=[Patch(color=c, label=t) for t, c in colours.items()], fontsize=7)
    ax = axs[-1]
    markers = {"sd14": "o", "sdxl": "s"}
    for i, p in enumerate(res["plans"]):
        ax.scatter(p["predicted_speedup"], p["measured_speedup"], s=40, marker=markers.get(p["arch"], "o"), color=f"C{i}",
                   label=f"{p['arch'].upper()} {p['label']}: {p['measured_speedup']:.2f}x measured, {p['predicted_speedup']:.2f}x predicted")
    hi = max(max(p["predicted_speedup"], p["measured_speedup"]) for p in res["plans"]) * 1.08
    ax.plot([1, hi], [1, hi], "k--", lw=0.8)
    ax.set_xlim(1, hi); ax.set_ylim(1, hi)
    ax.set_xlabel("speedup predicted by the latency profile"); ax.set_ylabel("speedup measured (interleaved medians)")
    ax.set_title("Plans at real size (dashed: measured = predicted)", fontsize=9); ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout(); fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", nargs="*"); ap.add_argument("--arch", default="sd14"); ap.add_argument("--plan")
    ap.add_argument("--profile"); ap.add_argument("--device", default="cpu"); ap.add_argument("--dtype", default="float32")
    ap.add_argument("--repeats", type=int, default=3); ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--speedup", type=float, default=1.3)
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls of each model before the timed rounds")
    ap.add_argument("--plot-only", action="store_true", help="redraw the plot from --out")
    ap.add_argument("--plans", nargs="+", help="re-measure only these plans (or the score / prune stages) of --archs, in place in --out")
    ap.add_argument("--archs", nargs="+", default=list(ARCHS))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "real_size.json"))
    a = ap.parse_args()
    if a.stage is not None:
        import torch
        torch.set_flush_denormal(True)
        print(json.dumps({"profile": stage_profile, "plan": stage_plan, "score": stage_score, "prune": stage_prune}[a.stage[0]](a)))
        return
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    common = dict(device=a.device, dtype=a.dtype, repeats=a.repeats)
    if a.plot_only: return plot(json.loads(out.read_text()), out.with_suffix(".png"))
    if a.plans: return remeasure(a, out, common)
    res = json.loads(out.read_text()) if out.is_file() else dict(machine=platform.platform(), profiles={}, plans=[], memory=[],
        protocol=dict(batch=1, seq_len=77, repeats=a.repeats, warmup=a.warmup, weights="random (seeded)"))
    res.setdefault("commands", []).append(" ".join(["python tools/bench_real_size.py", *sys.argv[1:]]))
    res.pop("command", None)
    for arch in a.archs:                         # an arch measured again replaces its old entries
        res["plans"] = [p for p in res["plans"] if p["arch"] != arch]
        res["memory"] = [m for m in res["memory"] if m["arch"] != arch]
        prof_path = out.with_name(f".{out.stem}.{arch}.profile.json")
        prof = run_stage(["profile"], arch=arch, **common)
        prof_path.write_text(json.dumps(prof))
        res["profiles"][arch] = prof
        for plan in (("base", "small", "tiny", "ld42") if arch != "sdxl" else ("ld42",)):
            res["plans"].append(run_stage(["plan"], arch=arch, plan=plan, profile=prof_path, warmup=a.warmup, **common))
        prof_path.unlink()
        res["memory"].append(run_stage(["score"], arch=arch, steps=a.steps, device=a.device, dtype=a.dtype))
        if arch != "sdxl": res["memory"].append(run_stage(["prune"], arch=arch, speedup=a.speedup, **common))
        out.write_text(json.dumps(res, indent=1))
    add_paper_protocol(res)
    out.write_text(json.dumps(res, indent=1))
    plot(res, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


def add_paper_protocol(res):
    "What the paper's scoring protocol would cost at the measured per-call time."
    for m in res["memory"]:
        if m["stage"] == "score":
            n_ops = len(res["profiles"][m["arch"]]["operators"])
            calls = (n_ops + 1) * PAPER_PROMPTS * PAPER_N * PAPER_STEPS
            m["paper_protocol"] = dict(operators=n_ops, prompts=PAPER_PROMPTS, n=PAPER_N, steps=PAPER_STEPS, unet_calls_batch2=calls,
                                       estimated_hours=calls * m["per_call_batch2_s"] / 3600)


if __name__ == "__main__":
    main()
