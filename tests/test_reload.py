"A saved pruned model reloads in a fresh process and computes exactly what it computed before saving."
import subprocess, sys, textwrap
import torch
from safetensors.torch import save_file
from ldpruner.bench import unet_inputs
from ldpruner.models import tiny_uncond_unet, tiny_unet
from ldpruner.operators import find_operators
from ldpruner.pruning import prune, save_pruned


def _roundtrip(unet, tmp_path):
    ops = find_operators(unet, "all")
    pruned = prune(unet, [o.name for o in ops[3::9]])
    save_pruned(pruned, tmp_path / "m")
    inp = unet_inputs(unet)
    with torch.no_grad(): out = pruned(**inp).sample
    save_file({**{f"in.{k}": v for k, v in inp.items()}, "out": out}, str(tmp_path / "io.safetensors"))
    code = textwrap.dedent(f"""
        import torch
        from safetensors.torch import load_file
        from ldpruner.pruning import load_pruned
        io = load_file({str(tmp_path / 'io.safetensors')!r})
        m = load_pruned({str(tmp_path / 'm')!r})
        with torch.no_grad(): out = m(**{{k[3:]: v for k, v in io.items() if k.startswith('in.')}}).sample
        assert torch.equal(out, io['out']), (out - io['out']).abs().max()
        print('identical')
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "identical" in r.stdout, r.stderr


def test_reload_conditional(tmp_path): _roundtrip(tiny_unet(), tmp_path)

def test_reload_unconditional(tmp_path): _roundtrip(tiny_uncond_unet(), tmp_path)
