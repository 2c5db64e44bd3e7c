#!/usr/bin/env python
"""How much of the unconstrained plan's speedup a stock-diffusers (`--plain`) plan keeps, at a target of 1.5x.

On the trained `tiny-t2i`: its operators scored with the default protocol (n=4, 10 steps), then `prune(speedup=1.5)`
twice, unconstrained and `plain=True` (the same measured search); the original and both pruned U-Nets are then timed
interleaved in one run (medians after warm-up). On the SD-v1.4 architecture (random weights, 64x64 latents, batch 1:
speed only), the two plans chosen on tiny-t2i (SD-v1.x's block structure, so the same operator names) are built and
timed the same way. Writes `benchmarks/plain_share.json`. Not a test: about ten minutes on a 2-core CPU.

    python tools/plain_share.py
"""
import argparse, json, platform, time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def share(free, plain):
    "The plain plan's speedup gain as a share of the unconstrained plan's (1.0: as fast)."
    return (plain - 1) / (free - 1) if free > 1 else float("nan")


def timed(models, inputs, repeats, warmup):
    from ldpruner.bench import compare_latency
    lat = compare_latency(models, inputs, repeats=repeats, warmup=warmup)
    return {n: dict(latency_s=lat[n], speedup=lat["original"] / lat[n]) for n in models}


def tiny(a):
    from ldpruner.bench import count_params
    from ldpruner.pruning import prune, record_of
    from ldpruner.references import load_reference
    from ldpruner.scoring import score_operators
    ref = load_reference("tiny-t2i")
    cond, uncond = ref.conditions()
    t0 = time.time()
    sc = score_operators(ref.unet, None, cond, uncond, n=4, steps=10, progress=False)
    scoring_s = time.time() - t0
    inputs = ref.unet_inputs(2)
    plans = {kind: prune(ref.unet, sc, speedup=a.target, inputs=inputs, plain=kind == "plain") for kind in ("free", "plain")}
    t = timed({"original": ref.unet, **plans}, inputs, a.repeats, a.warmup)
    out = dict(model="tiny-t2i", scoring_s=scoring_s, batch=2, **{k: dict(operators=[o["name"] for o in record_of(p).operators],
               params=count_params(p), search=record_of(p).report.get("measured_speedup"), **t[k]) for k, p in plans.items()})
    out["original"] = dict(params=count_params(ref.unet), **t["original"])
    return out


def sd14(a, plans):
    from ldpruner.bench import count_params, unet_inputs
    from ldpruner.models import SD14_UNET_CONFIG, unet_from_config
    from ldpruner.pruning import apply_plan
    u = unet_from_config(SD14_UNET_CONFIG, seed=0).eval()
    models = {"original": u}
    for kind, names in plans.items():
        import copy
        models[kind] = apply_plan(copy.deepcopy(u), names).eval()
    inputs = unet_inputs(u, batch=1, seq_len=77)
    t = timed(models, inputs, a.sd_repeats, a.sd_warmup)
    return dict(model="SD-v1.4 architecture (random weights)", batch=1, latent=list(inputs["sample"].shape),
                **{k: dict(params=count_params(m), **t[k]) for k, m in models.items()})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", type=float, default=1.5); ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5); ap.add_argument("--sd-repeats", type=int, default=5)
    ap.add_argument("--sd-warmup", type=int, default=2); ap.add_argument("--skip-sd14", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "plain_share.json"))
    a = ap.parse_args()
    r = dict(machine=platform.platform(), cpu_threads=torch.get_num_threads(), device="cpu", dtype="float32", target=a.target,
             command="python tools/plain_share.py", tiny_t2i=tiny(a))
    t = r["tiny_t2i"]
    t["share"] = share(t["free"]["speedup"], t["plain"]["speedup"])
    print(f"tiny-t2i: unconstrained {t['free']['speedup']:.2f}x ({len(t['free']['operators'])} operators), "
          f"plain {t['plain']['speedup']:.2f}x ({len(t['plain']['operators'])} operators): {t['share']:.0%} of the gain", flush=True)
    if not a.skip_sd14:
        s = r["sd14"] = sd14(a, {k: t[k]["operators"] for k in ("free", "plain")})
        s["share"] = share(s["free"]["speedup"], s["plain"]["speedup"])
        print(f"SD-v1.4 architecture: unconstrained {s['free']['speedup']:.2f}x, plain {s['plain']['speedup']:.2f}x: {s['share']:.0%} of the gain")
    Path(a.out).write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
