"""Transformer denoisers (PixArt, SD3, Flux, Sana): tiny random pipelines saved as diffusers folders go through the CLI
(operators, score, prune by k and by speedup, bench, run), and whole-block plans load in stock diffusers without ldpruner."""
import json, subprocess, sys, textwrap
import pytest
import torch
from conftest import WITHOUT_LDPRUNER, ldpruner_inproc as ldpruner, bad_inproc, shared

FAMILIES = ("pixart", "sd3", "flux", "sana")
BLOCKS = {"pixart": "BasicTransformerBlock", "sd3": "JointTransformerBlock", "flux": "FluxSingleTransformerBlock", "sana": "SanaTransformerBlock"}


@pytest.fixture(scope="session")
def transformer_pipes(tmp_path_factory):
    "Tiny random pipelines of the four transformer families, saved as real diffusers folders (once per run)."
    def make(root):
        from ldpruner.families import tiny_pipeline
        for fam in FAMILIES: tiny_pipeline(fam, root / fam)
    return shared(tmp_path_factory, "transformer-pipes", make)


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_transformer_pipeline_is_scored_pruned_and_benched_from_the_cli(fam, transformer_pipes, tmp_path):
    model = transformer_pipes / fam
    r = ldpruner("operators", model, "--json")
    assert r.returncode == 0, r.stderr
    ops = json.loads(r.stdout)
    assert BLOCKS[fam] in {o["type"] for o in ops} and any(o["kind"] == "skip" for o in ops)
    r = ldpruner("score", model, "--n", "1", "--steps", "2", "-o", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["complete"] and len(s["operators"]) == len(ops)
    r = ldpruner("prune", model, "--scores", tmp_path / "s.json", "--k", "2", "-o", tmp_path / "k")
    assert r.returncode == 0 and "pruned 2 operators" in r.stdout, r.stderr
    r = ldpruner("prune", model, "--scores", tmp_path / "s.json", "--speedup", "1.1", "--plain", "-o", tmp_path / "plain")
    assert r.returncode == 0, r.stderr
    index = json.loads((tmp_path / "plain" / "model_index.json").read_text())
    assert index["transformer"][0] == "diffusers", index["transformer"]          # a stock class: loads without ldpruner
    r = ldpruner("bench", tmp_path / "k", "--repeats", "3", "--json", tmp_path / "b.json")
    assert r.returncode == 0, r.stderr
    b = json.loads((tmp_path / "b.json").read_text())
    assert b["params_pruned"] < b["params_original"] and b["measured_speedup"] > 0


def test_run_on_a_transformer_pipeline_writes_its_report(transformer_pipes, tmp_path):
    r = ldpruner("run", transformer_pipes / "flux", "--n", "1", "--steps", "2", "--k", "2", "--repeats", "3", "--sample-steps", "2",
                 "--eval-n", "2", "-o", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    for f in ("report.md", "samples.png", "quality.png", "importance.png", "scores.json"): assert (tmp_path / "run" / f).is_file(), f
    assert "FluxTransformerBlock" in (tmp_path / "run" / "report.md").read_text() or "FeedForward" in (tmp_path / "run" / "report.md").read_text()


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_whole_block_plan_loads_in_stock_diffusers_without_ldpruner(fam, transformer_pipes, tmp_path):
    from ldpruner.bench import unet_inputs
    from ldpruner.pruning import plain_units, prune
    from ldpruner.references import load_model
    m = load_model(str(transformer_pipes / fam))
    names = [u[0].name for u in plain_units(m.unet)][1:3]
    r = ldpruner("prune", transformer_pipes / fam, "--operators", *names, "--plain", "-o", tmp_path / "plain")
    assert r.returncode == 0, r.stderr
    pruned = prune(m.unet, names)
    inp = unet_inputs(pruned)
    with torch.no_grad(): out = pruned(**inp).sample
    torch.save(dict(inp=inp, out=out, n=len(getattr(m.unet, names[0].split(".")[0])) - 1), tmp_path / "io.pt")
    stack = names[0].split(".")[0]
    code = WITHOUT_LDPRUNER + textwrap.dedent(f"""
        import torch
        from diffusers import DiffusionPipeline
        io = torch.load({str(tmp_path / 'io.pt')!r}, weights_only=False)
        pipe = DiffusionPipeline.from_pretrained({str(tmp_path / 'plain')!r})
        t = pipe.transformer.eval()
        assert type(t).__module__.startswith("diffusers.") and len(t.{stack}) <= io["n"], (type(t), len(t.{stack}))
        with torch.no_grad(): out = t(**io["inp"]).sample
        assert torch.allclose(out, io["out"], atol=1e-5), (out - io["out"]).abs().max()
        print("same, without ldpruner")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "same, without ldpruner" in r.stdout, r.stderr


def test_transformer_bad_input_is_one_line(transformer_pipes, tmp_path):
    bad_inproc(["prune", transformer_pipes / "sd3", "--operators", "transformer_blocks.3", "-o", tmp_path / "x"], tmp_path,
               "SD3's last block is built context_pre_only")
    bad_inproc(["prune", transformer_pipes / "pixart", "--operators", "transformer_blocks.0.ff", "--plain", "-o", tmp_path / "x"], tmp_path,
               "cannot hold these removals: transformer_blocks.0.ff")
    other = tmp_path / "hunyuan"
    other.mkdir()
    (other / "model_index.json").write_text(json.dumps({"_class_name": "HunyuanDiTPipeline", "transformer": ["diffusers", "HunyuanDiT2DModel"]}))
    bad_inproc(["operators", other], tmp_path, "HunyuanDiTPipeline (a HunyuanDiT2DModel denoiser) is not a supported transformer family")


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_pruned_transformer_distils_with_flow_matching_targets(fam, transformer_pipes, tmp_path):
    "finetune: the scheduler's target (velocity for flow matching, noise for PixArt), output KD and feature KD at the blocks both keep."
    from conftest import imagefolder
    data = imagefolder(tmp_path / "imgs", n=4)
    r = ldpruner("prune", transformer_pipes / fam, "--operators", "transformer_blocks.1", "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    r = ldpruner("finetune", tmp_path / "p", "--steps", "2", "--batch", "2", "--data", data, "--resolution", "16", "-o", tmp_path / "ft")
    assert r.returncode == 0 and "distilled 2 steps" in r.stdout, r.stderr
    info = json.loads((tmp_path / "ft" / "finetune.json").read_text())
    h = info["history"]
    assert len(h) == 2 and all(s["feat_kd"] > 0 and s["out_kd"] > 0 and s["task"] > 0 for s in h), h
    r = ldpruner("bench", tmp_path / "ft", "--repeats", "2")
    assert r.returncode == 0, r.stderr


def test_block_mse_criterion_chooses_whole_blocks_of_a_transformer(transformer_pipes, tmp_path):
    "Flux.1-Lite's rule, registered as `block-mse`: it scores whole blocks only, so its plan saves as a stock config."
    r = ldpruner("score", transformer_pipes / "sd3", "--criterion", "block-mse", "--steps", "2", "-o", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["criterion"] == "block-mse" and s["parts"] == ["mse"]
    r = ldpruner("prune", transformer_pipes / "sd3", "--scores", tmp_path / "s.json", "--k", "2", "--plain", "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "p" / "transformer" / "config.json").read_text())["num_layers"] == 2


@pytest.mark.parametrize("fam", FAMILIES)
def test_eval_on_a_transformer_pipeline_with_clip(fam, transformer_pipes, tmp_path):
    "eval on the user's prompts: samples through the family's own pipeline, decoded by its VAE, scored by a (stand-in) CLIP."
    from test_userdata import _standin_clip
    clip = _standin_clip(tmp_path / "clip")
    (tmp_path / "p.txt").write_text("a red circle\na blue square\n")
    r = ldpruner("eval", transformer_pipes / fam, "--prompts", tmp_path / "p.txt", "--steps", "2", "--clip", clip, "--json", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    e = json.loads((tmp_path / "e.json").read_text())
    assert e["samples"] == 2 and e["CLIP score (clip)"] == e["CLIP score (clip)"], e
