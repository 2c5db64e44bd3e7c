"""The user's own prompts and data from the CLI: prompt files, an imagefolder to distil on (encoded once, cached) and
to evaluate against, with a CLIP stand-in of the real architecture; bad data is one line and exit 2."""
import json, os, string
import numpy as np
import pytest
from PIL import Image
from conftest import FAST, bad_inproc as _bad, imagefolder as _imagefolder, ldpruner_inproc as ldpruner


def _standin_clip(path):
    "A real CLIPModel + CLIPProcessor with random weights and a character-level vocabulary, saved as a model folder."
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer, CLIPImageProcessorPil
    chars = list(string.ascii_lowercase)
    vocab = ["<|startoftext|>", "<|endoftext|>", *chars, *[c + "</w>" for c in chars]]
    tok = CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=[])
    proc = CLIPProcessor(image_processor=CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}), tokenizer=tok)
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    torch.manual_seed(0)
    CLIPModel(CLIPConfig(text_config=dict(vocab_size=len(vocab), max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1, **small),
                         vision_config=dict(image_size=32, patch_size=8, **small), projection_dim=16)).save_pretrained(path)
    proc.save_pretrained(path)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LDPRUNER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_one_channel_model_reads_an_imagefolder_in_grey(tmp_path, cache):
    "tiny-uig's VAE takes one channel: the user's RGB images are read as greyscale, not refused by a shape error."
    data = _imagefolder(tmp_path / "data", n=4)
    r = ldpruner("prune", "tiny-uig", "--operators", "mid_block.resnets.1", "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    r = ldpruner("finetune", tmp_path / "p", "--data", data, "--steps", "1", "--batch", "2", "-o", tmp_path / "ft")
    assert r.returncode == 0 and "4 samples" in r.stderr, r.stderr


def test_finetune_and_eval_on_an_imagefolder(tmp_path, cache):
    data = _imagefolder(tmp_path / "data")
    r = ldpruner("prune", "--operators", "mid_block.attentions.0", "up_blocks.3.resnets.2", "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    ft = ["--steps", "2", "--batch", "4", "--save-every", "1"]
    r = ldpruner("finetune", tmp_path / "p", "--data", data, *ft, "-o", tmp_path / "ft")
    assert r.returncode == 0, r.stderr
    assert "12 samples" in r.stderr and "latents cached" in r.stderr
    assert len(list(cache.glob("latents-*.safetensors"))) == 1
    csv = (tmp_path / "ft" / "loss.csv").read_text().splitlines()
    assert csv[0].startswith("step,loss") and len(csv) == 3
    r = ldpruner("finetune", tmp_path / "p", "--data", data, *ft, "-o", tmp_path / "ft2")
    assert r.returncode == 0 and "read from the cache" in r.stderr, r.stderr     # not encoded again
    w = [(tmp_path / f / "diffusion_pytorch_model.safetensors").read_bytes() for f in ("ft", "ft2")]
    assert w[0] == w[1], "a cold and a warm cache must train the same weights, bit for bit"
    clip = _standin_clip(tmp_path / "clip")
    r = ldpruner("eval", tmp_path / "ft", "--data", data, "--n", "4", "--steps", "2", "--clip", clip, "--json", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    e = json.loads((tmp_path / "e.json").read_text())
    assert 0 <= e["CLIP score (clip)"] <= 100 and e["samples"] == 4
    assert "FID (Inception) skipped" in r.stderr
    (tmp_path / "p.txt").write_text("a red circle\na blue square at the top\n")
    r = ldpruner("eval", tmp_path / "ft", "--prompts", tmp_path / "p.txt", "--steps", "2", "--clip", clip)
    assert r.returncode == 0 and "CLIP score (clip)" in r.stdout, r.stderr
    work = tmp_path / "work"; work.mkdir()
    _bad(["eval", tmp_path / "ft", "--data", data, "--fid-weights", tmp_path / "no-such.pth"], work, "--fid-weights: no such file")
    _bad(["eval", tmp_path / "ft", "--prompts", tmp_path / "p.txt"], work, "(--clip PATH")


def test_prompts_file(tmp_path):
    (tmp_path / "p.txt").write_text("a red circle at the top\n\na blue square at the bottom\n")
    r = ldpruner("score", "--prompts", tmp_path / "p.txt", *FAST, "--types", "Downsample2D", "-o", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "s.json").read_text())["conditions"] == ["a red circle at the top", "a blue square at the bottom"]


def test_bad_data(tmp_path, cache):
    r = ldpruner("prune", "--operators", "mid_block.attentions.0", "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    work = tmp_path / "work"; work.mkdir()
    empty = tmp_path / "empty"; empty.mkdir()
    nometa = tmp_path / "nometa"; nometa.mkdir(); Image.new("RGB", (8, 8)).save(nometa / "a.png")
    broken = tmp_path / "broken"; broken.mkdir(); (broken / "a.png").write_bytes(b"no image")
    (broken / "metadata.jsonl").write_text(json.dumps(dict(file_name="a.png", text="a red circle")) + "\n")
    words = _imagefolder(tmp_path / "words", n=2)
    (words / "metadata.jsonl").write_text(json.dumps(dict(file_name="0.png", text="a purple cat")) + "\n")
    ft = ["--steps", "1", "--batch", "2"]
    _bad(["finetune", tmp_path / "p", "--data", empty, *ft, "-o", work / "o"], work, "empty folder")
    _bad(["finetune", tmp_path / "p", "--data", nometa, *ft, "-o", work / "o"], work, "no metadata.jsonl")
    _bad(["finetune", tmp_path / "p", "--data", broken, "--caption-column", "prompt", *ft, "-o", work / "o"], work, "no 'prompt' column")
    _bad(["finetune", tmp_path / "p", "--data", broken, *ft, "-o", work / "o"], work, "none of its 1 files could be decoded")
    _bad(["finetune", tmp_path / "p", "--data", words, *ft, "-o", work / "o"], work, "outside the model's vocabulary: cat, purple")
    _bad(["score", "--prompts", tmp_path / "none.txt", "-o", work / "s.json"], work, "no such file")
    assert not cache.exists() or not list(cache.glob("latents-*"))     # nothing cached half-written


def test_audio_folder_eval_and_finetune(tmp_path, cache):
    "The audio reference on a folder of .wav clips: FAD on its music embedding, distillation on the clips."
    import soundfile
    from ldpruner.data import synth_clip
    clips = tmp_path / "clips"; clips.mkdir()
    for i in range(6): soundfile.write(clips / f"{i}.wav", synth_clip(np.random.default_rng(i)), 16000)
    r = ldpruner("eval", "tiny-uag", "--data", clips, "--steps", "2", "--json", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    e = json.loads((tmp_path / "e.json").read_text())
    assert e["FAD (domain features: music-embedding)"] >= 0 and "FAD (VGGish) skipped" in r.stderr
    r = ldpruner("prune", "tiny-uag", "--operators", "mid_block.attentions.0", "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    r = ldpruner("finetune", tmp_path / "p", "--data", clips, "--steps", "2", "--batch", "4", "-o", tmp_path / "ft")
    assert r.returncode == 0 and "6 samples" in r.stderr, r.stderr


def test_audioldm_on_a_captioned_audio_folder(tmp_path, cache, pipes):
    "AudioLDM reads a folder of captioned clips through its own mel front end: distilled on them, evaluated against them."
    import soundfile
    from ldpruner.data import synth_clip
    clips = tmp_path / "clips"; clips.mkdir()
    for i in range(4): soundfile.write(clips / f"{i}.wav", synth_clip(np.random.default_rng(i)), 22050)
    (clips / "metadata.jsonl").write_text("".join(json.dumps(dict(file_name=f"{i}.wav", text=f"music {i}")) + "\n" for i in range(4)))
    r = ldpruner("prune", pipes / "audioldm", "--operators", "mid_block.attentions.0", "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    r = ldpruner("finetune", tmp_path / "p", "--data", clips, "--steps", "2", "--batch", "2", "-o", tmp_path / "ft")
    assert r.returncode == 0 and "4 samples" in r.stderr, r.stderr
    r = ldpruner("eval", tmp_path / "ft", "--data", clips, "--steps", "2", "--json", tmp_path / "e.json")
    assert r.returncode == 0 and "FAD (VGGish) skipped" in r.stderr, r.stderr
    assert json.loads((tmp_path / "e.json").read_text())["samples"] == 4

