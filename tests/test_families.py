"""Every diffusers family a user brings, from the CLI: tiny random pipelines saved as real diffusers folders
(SD-2.x with v-prediction, SDXL, AudioLDM: conftest's `pipes`), a bare U-Net folder with an embeddings file, device and dtype flags."""
import json, subprocess, sys, textwrap
import pytest
import torch
from conftest import FAST, WITHOUT_LDPRUNER, bad_inproc as _bad, ldpruner_inproc as ldpruner

TYPES = ["--types", "Transformer2DModel", "Downsample2D"]


@pytest.mark.parametrize("family", ["sd-2", "sdxl", "audioldm"])
def test_pipeline_folder_scored_pruned_benched(pipes, tmp_path, family):
    src = pipes / family
    r = ldpruner("score", src, *FAST, *TYPES, "-o", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert len(s["operators"]) >= 3 and all(all(v >= 0 for v in o["d_avg"]) for o in s["operators"].values())
    assert s["protocol"]["prediction_type"] == ("v_prediction" if family == "sd-2" else "epsilon")
    assert s["protocol"]["device"] == "cpu" and s["protocol"]["dtype"] == "float32"
    sel = ["--speedup", "1.05"] if family == "sdxl" else ["--k", "2"]
    r = ldpruner("prune", src, "--scores", tmp_path / "s.json", *sel, "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    # a pipeline in, a whole pipeline out: model_index.json names ldpruner's pruned U-Net class
    index = json.loads((tmp_path / "p" / "model_index.json").read_text())
    assert index["unet"][0] == "ldpruner.pruning" and (tmp_path / "p" / "unet" / "plan.json").is_file()
    r = ldpruner("bench", tmp_path / "p", "--repeats", "3", "--json", tmp_path / "b.json")
    assert r.returncode == 0, r.stderr
    b = json.loads((tmp_path / "b.json").read_text())
    assert b["params_pruned"] < b["params_original"]


def test_saved_pruned_pipeline_reloads_pruned_in_a_fresh_process(pipes, tmp_path):
    r = ldpruner("prune", pipes / "sd-2", "--operators", "mid_block.attentions.0", "down_blocks.1.resnets.1", "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    draw = """
        import numpy, torch
        from diffusers import DiffusionPipeline
        pipe = DiffusionPipeline.from_pretrained({path!r})
        img = pipe("a red cat", num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0)).images
        print(type(pipe.unet).__name__, sum(p.numel() for p in pipe.unet.parameters()))
        numpy.save({out!r}, img)
    """
    run = lambda pre, out: subprocess.run([sys.executable, "-c", pre + textwrap.dedent(draw).format(path=str(tmp_path / "p"), out=str(out))],
                                          capture_output=True, text=True, timeout=300)
    # diffusers imports only modules the process has imported: without ldpruner it refuses, loudly
    r = run("", tmp_path / "a.npy")
    assert r.returncode != 0 and "ldpruner.pruning" in r.stderr
    r = run("import ldpruner.pruning\n", tmp_path / "a.npy")
    assert r.returncode == 0 and r.stdout.startswith("PrunedUNet2DConditionModel"), r.stderr
    from ldpruner.references import load_model
    import numpy
    ldm = load_model(str(tmp_path / "p"))
    assert type(ldm.unet).__name__ == "PrunedUNet2DConditionModel"
    assert int(r.stdout.split()[1]) == sum(p.numel() for p in ldm.unet.parameters())
    pipe = ldm.pipeline()
    img = pipe("a red cat", num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0)).images
    assert numpy.array_equal(numpy.load(tmp_path / "a.npy"), img)


def test_bare_unet_folder_with_embeddings(pipes, tmp_path):
    from ldpruner.conditioning import save_embeddings
    from ldpruner.families import load_pipeline
    sd = load_pipeline(pipes / "sd-2")
    sd.unet.save_pretrained(tmp_path / "unet")
    cond, uncond = sd.conditions(["a red cat", "a blue dog"])
    save_embeddings(tmp_path / "emb.safetensors", cond, uncond, ["a red cat", "a blue dog"])
    r = ldpruner("score", tmp_path / "unet", "--embeddings", tmp_path / "emb.safetensors", *FAST, *TYPES, "-o", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "s.json").read_text())["conditions"] == ["a red cat", "a blue dog"]
    save_embeddings(tmp_path / "no-uncond.safetensors", cond)
    r = ldpruner("score", tmp_path / "unet", "--embeddings", tmp_path / "no-uncond.safetensors", "--guidance", "1", *FAST, *TYPES,
                 "-o", tmp_path / "s1.json")
    assert r.returncode == 0, r.stderr
    sdxl = load_pipeline(pipes / "sdxl")
    sdxl.unet.save_pretrained(tmp_path / "sdxl-unet")
    work = tmp_path / "work"; work.mkdir()
    _bad(["score", tmp_path / "unet", "-o", work / "x.json"], work, "--embeddings FILE")
    _bad(["score", tmp_path / "unet", "--embeddings", tmp_path / "no-uncond.safetensors", "-o", work / "x.json"], work, "--guidance 1")
    _bad(["score", tmp_path / "sdxl-unet", "--embeddings", tmp_path / "emb.safetensors", "-o", work / "x.json"], work,
         "pooled text embeddings")


def test_unsupported_family_and_missing_device(tmp_path):
    bad = tmp_path / "dit"; bad.mkdir()
    (bad / "model_index.json").write_text(json.dumps({"_class_name": "DiTPipeline", "transformer": ["diffusers", "DiTTransformer2DModel"],
                                                      "vae": ["diffusers", "AutoencoderKL"], "scheduler": ["diffusers", "DDIMScheduler"]}))
    work = tmp_path / "work"; work.mkdir()
    _bad(["operators", bad], work, "DiTPipeline (a DiTTransformer2DModel denoiser) is not a supported transformer family")
    if not torch.cuda.is_available():
        _bad(["score", "--device", "cuda", "-o", work / "s.json"], work, "no CUDA GPU")
        _bad(["run", "--device", "cuda:1", "-o", work / "run"], work, "no CUDA GPU")


def test_bfloat16_on_cpu_every_command(tmp_path):
    bf = ["--device", "cpu", "--dtype", "bfloat16"]
    r = ldpruner("score", *bf, *FAST, *TYPES, "-o", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "s.json").read_text())["protocol"]["dtype"] == "bfloat16"
    r = ldpruner("prune", *bf, "--scores", tmp_path / "s.json", "--k", "3", "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr          # scores name the model as stored, whatever dtype it ran in
    r = ldpruner("bench", tmp_path / "p", *bf, "--repeats", "3", "--json", tmp_path / "b.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "b.json").read_text())["dtype"] == "bfloat16"
    r = ldpruner("eval", tmp_path / "p", *bf, "--n", "18", "--steps", "2")
    assert r.returncode == 0 and "alignment" in r.stdout, r.stderr
    r = ldpruner("finetune", tmp_path / "p", *bf, "--steps", "2", "--batch", "4", "--data", "16", "-o", tmp_path / "ft")
    assert r.returncode == 0, r.stderr


def test_hub_id_from_the_local_cache_offline(pipes, tmp_path):
    "A hub id already in huggingface_hub's cache loads with HF_HUB_OFFLINE=1: the cache layout huggingface_hub writes."
    import os, shutil
    rev = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--tiny-sd2"
    shutil.copytree(pipes / "sd-2", repo / "snapshots" / rev)
    (repo / "refs").mkdir(); (repo / "refs" / "main").write_text(rev)
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(["ldpruner", "operators", "someone/tiny-sd2", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) > 10 and "StableDiffusionPipeline (sd)" in r.stderr
    r = subprocess.run(["ldpruner", "operators", "someone/not-cached"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2 and "HF_HUB_OFFLINE" in r.stderr and "Traceback" not in r.stderr
    # a bare pruned U-Net published on its own (no model_index.json): its base named in its record, its plan checked
    from ldpruner.pruning import prune, save_pruned
    from ldpruner.references import load_model
    whole = load_model(str(pipes / "sd-2")).unet
    pruned = prune(whole, ["mid_block.attentions.0", "down_blocks.0.resnets.1"])
    unet_repo = tmp_path / "hub" / "models--someone--pruned-unet"
    save_pruned(pruned, unet_repo / "snapshots" / rev, base=str(pipes / "sd-2"))
    (unet_repo / "refs").mkdir(); (unet_repo / "refs" / "main").write_text(rev)
    r = subprocess.run(["ldpruner", "operators", "someone/pruned-unet", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    names = json.loads(r.stdout)
    assert "mid_block.attentions.0" not in json.dumps(names) and "pruned (someone/pruned-unet)" in r.stderr


def test_finetune_a_pruned_v_prediction_pipeline_on_an_imagefolder(pipes, tmp_path, monkeypatch):
    "Distillation on the user's data for a pipeline family: captions through its own encoder, v-prediction targets."
    from PIL import Image
    monkeypatch.setenv("LDPRUNER_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"; data.mkdir()
    rng = torch.Generator().manual_seed(0)
    for i in range(6):
        Image.fromarray((torch.rand(20, 24, 3, generator=rng) * 255).byte().numpy()).save(data / f"{i}.png")
    (data / "metadata.jsonl").write_text("".join(json.dumps(dict(file_name=f"{i}.png", text=f"photo number {i}")) + "\n" for i in range(6)))
    r = ldpruner("prune", pipes / "sd-2", "--operators", "mid_block.attentions.0", "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    r = ldpruner("finetune", tmp_path / "p", "--data", data, "--steps", "2", "--batch", "2", "-o", tmp_path / "ft")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "ft" / "model_index.json").is_file() and (tmp_path / "ft" / "loss.csv").is_file()
    info = json.loads((tmp_path / "ft" / "finetune.json").read_text())
    assert info["data"] == 6 and all(h["loss"] == h["loss"] for h in info["history"])   # finite losses


def test_a_pruned_unet_trains_with_diffusers_tools(pipes, tmp_path):
    """What diffusers' training scripts do with a U-Net, on a pruned SD-2 one: `from_config` (the pruned structure),
    `EMAModel` saved and reloaded, gradient checkpointing, and accelerate's `save_state`/`load_state` with the scripts'
    save/load hooks (`save_pretrained` into the checkpoint, `from_pretrained` back)."""
    from accelerate import Accelerator
    from diffusers.training_utils import EMAModel
    from ldpruner.pruning import PrunedUNet2DConditionModel, load_pruned
    assert ldpruner("prune", pipes / "sd-2", "--operators", "mid_block.attentions.0", "down_blocks.1.resnets.1", "-o", tmp_path / "p").returncode == 0
    unet = load_pruned(tmp_path / "p")
    n = sum(p.numel() for p in unet.parameters())
    assert sum(p.numel() for p in PrunedUNet2DConditionModel.from_config(unet.config).parameters()) == n
    unet.enable_gradient_checkpointing(); unet.train()
    ema = EMAModel(unet.parameters(), model_cls=PrunedUNet2DConditionModel, model_config=unet.config)
    acc = Accelerator(cpu=True)
    def save_hook(models, weights, out):
        ema.save_pretrained(f"{out}/unet_ema")
        for m in models: m.save_pretrained(f"{out}/unet"); weights.pop()
    def load_hook(models, inp):
        back = EMAModel.from_pretrained(f"{inp}/unet_ema", model_cls=PrunedUNet2DConditionModel)
        ema.load_state_dict(back.state_dict())
        for _ in range(len(models)):
            m = models.pop(); m.load_state_dict(PrunedUNet2DConditionModel.from_pretrained(inp, subfolder="unet").state_dict())
    acc.register_save_state_pre_hook(save_hook); acc.register_load_state_pre_hook(load_hook)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-3)
    model, opt = acc.prepare(unet, opt)
    cfg = unet.config
    x = torch.randn(2, cfg.in_channels, cfg.sample_size, cfg.sample_size)
    enc = torch.randn(2, 4, cfg.cross_attention_dim)
    loss = model(x, torch.tensor([10, 500]), encoder_hidden_states=enc).sample.pow(2).mean()
    acc.backward(loss); opt.step(); ema.step(unet.parameters())
    acc.save_state(str(tmp_path / "ckpt"))
    trained = {k: v.clone() for k, v in unet.state_dict().items()}
    with torch.no_grad():
        for p in unet.parameters(): p.zero_()
    acc.load_state(str(tmp_path / "ckpt"))
    assert all(unet.state_dict()[k].equal(v) for k, v in trained.items())
    assert ema.optimization_step == 1 and len(ema.shadow_params) == len(list(unet.parameters()))


def _check_control(pipe, base, scale_arg: str):
    "`pipe` generates from a control image at the base's size, and the control (`scale_arg` 1 against 0) changes the image."
    size = base.unet.config.sample_size * base.vae_scale_factor
    control = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    def draw(scale):
        return pipe("a red cat", image=control, num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0),
                    **{scale_arg: scale}).images
    on, off = draw(1.0), draw(0.0)
    assert on.shape == (1, size, size, 3) and torch.isfinite(torch.from_numpy(on)).all()
    assert abs(on - off).max() > 0


def test_a_controlnet_made_from_the_base_drives_a_pruned_unet(pipes, tmp_path):
    "`ControlNetModel.from_unet(base)` in diffusers' `StableDiffusionControlNetPipeline` with the pruned U-Net: it generates, and the control changes the image."
    import math
    from diffusers import ControlNetModel, DiffusionPipeline, StableDiffusionControlNetPipeline
    from ldpruner.pruning import load_pruned
    assert ldpruner("prune", pipes / "sd-2", "--operators", "mid_block.attentions.0", "down_blocks.1.resnets.1", "-o", tmp_path / "p").returncode == 0
    base = DiffusionPipeline.from_pretrained(pipes / "sd-2")
    steps = int(math.log2(base.vae_scale_factor))          # the control embedding downsamples to the latents' size
    cn = ControlNetModel.from_unet(base.unet, conditioning_embedding_out_channels=tuple(16 * 2 ** i for i in range(steps + 1)))
    with torch.no_grad():                                  # as a trained ControlNet: its zero convolutions no longer zero
        for m in [*cn.controlnet_down_blocks, cn.controlnet_mid_block]: m.weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(2))
    pipe = StableDiffusionControlNetPipeline(vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, unet=load_pruned(tmp_path / "p"),
                                             controlnet=cn, scheduler=base.scheduler, safety_checker=None, feature_extractor=None,
                                             requires_safety_checker=False)
    _check_control(pipe, base, "controlnet_conditioning_scale")


def test_a_t2i_adapter_drives_a_pruned_unet(pipes, tmp_path):
    "A T2I-Adapter for the base's channels in diffusers' `StableDiffusionAdapterPipeline` with the pruned U-Net: it generates, and the adapter changes the image."
    from diffusers import DiffusionPipeline, StableDiffusionAdapterPipeline, T2IAdapter
    from ldpruner.pruning import load_pruned
    assert ldpruner("prune", pipes / "sd-2", "--operators", "mid_block.attentions.0", "down_blocks.1.resnets.1", "-o", tmp_path / "p").returncode == 0
    base = DiffusionPipeline.from_pretrained(pipes / "sd-2")
    cfg = base.unet.config
    torch.manual_seed(0)
    adapter = T2IAdapter(in_channels=3, channels=list(cfg.block_out_channels), num_res_blocks=1, downscale_factor=base.vae_scale_factor,
                         adapter_type="full_adapter")
    pipe = StableDiffusionAdapterPipeline(vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, unet=load_pruned(tmp_path / "p"),
                                          adapter=adapter, scheduler=base.scheduler, safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)
    _check_control(pipe, base, "adapter_conditioning_scale")


def test_a_plain_export_loads_in_stock_diffusers_without_ldpruner(pipes, tmp_path):
    "`prune --plain`: a pipeline folder that diffusers loads in a process where `import ldpruner` fails, drawing what the pruned model draws."
    from safetensors.torch import save_file
    from ldpruner.bench import unet_inputs
    from ldpruner.pruning import plain_units, prune
    from ldpruner.references import load_model
    sd = load_model(str(pipes / "sd-2"))
    names = [o.name for x in plain_units(sd.unet)[:2] for o in x] + ["mid_block.attentions.0", "mid_block.resnets.1"]
    r = ldpruner("prune", pipes / "sd-2", "--operators", *names, "--plain", "-o", tmp_path / "plain")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "plain" / "model_index.json").read_text())["unet"] == ["diffusers", "UNet2DConditionModel"]
    pruned = prune(sd.unet, names)
    pipe = sd.pipeline(); pipe.unet = pruned; pipe.set_progress_bar_config(disable=True)
    inp = unet_inputs(pruned)
    with torch.no_grad(): out = pruned(**inp).sample
    image = pipe("a cat", num_inference_steps=2, output_type="pt", generator=torch.Generator().manual_seed(0)).images
    save_file({**{f"in.{k}": v for k, v in inp.items()}, "out": out, "image": image.contiguous()}, str(tmp_path / "io.safetensors"))
    code = WITHOUT_LDPRUNER + textwrap.dedent(f"""
        import torch
        from diffusers import DiffusionPipeline, UNet2DConditionModel
        from safetensors.torch import load_file
        io = load_file({str(tmp_path / 'io.safetensors')!r})
        pipe = DiffusionPipeline.from_pretrained({str(tmp_path / 'plain')!r})
        pipe.set_progress_bar_config(disable=True)
        assert type(pipe.unet) is UNet2DConditionModel
        with torch.no_grad(): out = pipe.unet(**{{k[3:]: v for k, v in io.items() if k.startswith('in.')}}).sample
        assert torch.allclose(out, io['out'], atol=1e-5), (out - io['out']).abs().max()
        image = pipe("a cat", num_inference_steps=2, output_type="pt", generator=torch.Generator().manual_seed(0)).images
        assert torch.allclose(image, io['image'], atol=1e-4), (image - io['image']).abs().max()
        print("same, without ldpruner")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "same, without ldpruner" in r.stdout, r.stderr
