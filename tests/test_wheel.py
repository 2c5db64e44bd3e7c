"The reference models ship inside the wheel and load, as diffusers pipelines too, from an installed (not editable) copy, with no network."
import os, subprocess, sys, textwrap, zipfile
from pathlib import Path
from ldpruner.references import REFERENCE_NAMES

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_and_loads_the_references(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    whl = next(tmp_path.glob("ldpruner-*.whl"))
    names = set(zipfile.ZipFile(whl).namelist())
    for n in REFERENCE_NAMES:      # the U-Net references in ldpruner's layout; the transformer one as a diffusers pipeline folder
        parts = ("pipeline/model_index.json", "pipeline/transformer/diffusion_pytorch_model.safetensors", "pipeline/tokenizer/tokenizer.json") \
                if n == "tiny-pixart" else ("unet.safetensors", "vae.safetensors")
        for f in ("config.json", "SHA256SUMS", *parts):
            assert f"ldpruner/weights/{n}/{f}" in names, (n, f)
    assert "ldpruner/weights/tiny-t2i/tokenizer/tokenizer.json" in names
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(whl)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    code = textwrap.dedent(f"""
        import ldpruner, torch
        assert ldpruner.__file__.startswith({str(site)!r}), ldpruner.__file__
        from ldpruner.references import load_reference, REFERENCE_NAMES
        for n in REFERENCE_NAMES:
            m = load_reference(n)
            assert m.extras["path"].startswith({str(site)!r})
            pipe = m.pipeline(); pipe.set_progress_bar_config(disable=True)
            kw = dict(num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0))
            if m.family == "pixart": kw.update(use_resolution_binning=False, max_sequence_length=m.tokenizer.model_max_length)
            img = (pipe("a red circle", **kw) if m.conditional else pipe(batch_size=1, **kw)).images
            assert img.shape[0] == 1 and 0 <= img.min() and img.max() <= 1, img.shape
        print("loaded", len(REFERENCE_NAMES))
    """)
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert r.returncode == 0 and f"loaded {len(REFERENCE_NAMES)}" in r.stdout, r.stderr[-2000:]
