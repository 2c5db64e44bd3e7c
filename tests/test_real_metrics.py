"""The paper's metrics from the CLI with their real networks, at random weights saved to files: FID and IS with
torch-fidelity's InceptionV3 (through torchmetrics, as BK-SDM evaluates), CLIP score with a transformers CLIPModel, on
an MS-COCO-style caption file. torch-fidelity needs torchvision, which does not import beside the CPU build of torch
2.13.0 the main test set-up uses, so this file runs in a second environment (`tests/real_metrics.sh`, called by the test
command); elsewhere it is skipped, unless LDPRUNER_REAL_METRICS=1 says that it must run."""
import json, os
import numpy as np
import pytest
from conftest import imagefolder, ldpruner_inproc as ldpruner

try:
    import torch_fidelity  # noqa: F401  (imports torchvision)
except Exception as e:    # ImportError, or torchvision's own failure beside a torch it was not built for
    if os.environ.get("LDPRUNER_REAL_METRICS") == "1": raise
    pytest.skip(f"torch-fidelity cannot be imported here ({type(e).__name__}); tests/real_metrics.sh runs this file", allow_module_level=True)
from test_userdata import _standin_clip


def _random_inception(path):
    "torch-fidelity's FeatureExtractorInceptionV3 with its own random initialisation, saved as the .pth it reads."
    import torch
    import torch_fidelity.feature_extractor_inceptionv3 as fe
    url, load = fe.load_state_dict_from_url, fe.FeatureExtractorInceptionV3.load_state_dict
    fe.load_state_dict_from_url = lambda *a, **k: {}                         # nothing to download: keep the fresh weights
    fe.FeatureExtractorInceptionV3.load_state_dict = lambda self, *a, **k: None
    try:
        torch.manual_seed(0)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"])
    finally: fe.load_state_dict_from_url, fe.FeatureExtractorInceptionV3.load_state_dict = url, load
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    d = tmp_path_factory.mktemp("nets")
    return _random_inception(d / "pt_inception.pth"), _standin_clip(d / "clip")


def test_eval_captions_fid_is_clip_with_the_real_networks(nets, tmp_path, monkeypatch):
    "One command: a caption file, N images resized to 256, FID against a folder and against its .npz, IS and CLIP score."
    from ldpruner.metrics import Uint8Adapter, inception_extractor
    from ldpruner.userdata import fid_statistics, reference_images
    monkeypatch.setenv("LDPRUNER_CACHE", str(tmp_path / "cache"))
    inception, clip = nets
    real = imagefolder(tmp_path / "real", n=6)
    captions = tmp_path / "captions.txt"
    captions.write_text("".join(json.loads(l)["text"] + "\n" for l in (real / "metadata.jsonl").read_text().splitlines()))
    mu, sigma = fid_statistics(reference_images(real, 256), Uint8Adapter(inception_extractor(str(inception))))
    np.savez(tmp_path / "real.npz", mu=mu, sigma=sigma)
    common = ["eval", "tiny-t2i", "--prompts", captions, "--n", "4", "--steps", "2", "--resize", "256", "--fid-weights", inception,
              "--clip", clip]
    by_folder = ldpruner(*common, "--fid-ref", real, "--json", tmp_path / "a.json")
    assert by_folder.returncode == 0, by_folder.stderr
    by_stats = ldpruner(*common, "--fid-ref", tmp_path / "real.npz", "--json", tmp_path / "b.json")
    assert by_stats.returncode == 0, by_stats.stderr
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert a["samples"] == 4 and a["resize"] == 256
    for k in ("FID (Inception)", "IS (Inception)", "CLIP score (clip)"): assert np.isfinite(a[k]), (k, a)
    assert a["FID (Inception)"] > 0 and a["IS (Inception)"] >= 1
    assert abs(a["FID (Inception)"] - b["FID (Inception)"]) <= 1e-3 * max(1.0, a["FID (Inception)"])   # the folder and its statistics agree
    assert a["IS (Inception)"] == b["IS (Inception)"] and a["CLIP score (clip)"] == b["CLIP score (clip)"]


def test_eval_folder_fid_with_the_real_inception(nets, tmp_path, monkeypatch):
    "An imagefolder's captions and images: FID (Inception) beside the domain features, CLIP score."
    monkeypatch.setenv("LDPRUNER_CACHE", str(tmp_path / "cache"))
    inception, clip = nets
    data = imagefolder(tmp_path / "data", n=4)
    r = ldpruner("eval", "tiny-t2i", "--data", data, "--steps", "2", "--fid-weights", inception, "--clip", clip, "--json", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    e = json.loads((tmp_path / "e.json").read_text())
    assert np.isfinite(e["FID (Inception)"]) and np.isfinite(e["CLIP score (clip)"]), e


def test_a_pickled_program_as_inception_weights_is_refused(tmp_path):
    "torch-fidelity unpickles its weights file: ldpruner first checks that it holds plain tensors."
    import torch
    torch.save({"w": torch.zeros(1), "run": os.system}, tmp_path / "evil.pth")
    (tmp_path / "c.txt").write_text("a red circle\n")
    r = ldpruner("eval", "tiny-t2i", "--prompts", tmp_path / "c.txt", "--steps", "1", "--fid-weights", tmp_path / "evil.pth")
    assert r.returncode == 2 and "not a plain torch state dict" in r.stderr, r.stderr
