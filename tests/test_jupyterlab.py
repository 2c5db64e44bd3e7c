"""The README says to read and run the notebooks in JupyterLab (`jupyter lab nbs/`): the dev extra installs it, and it
starts headless here and serves a notebook of nbs/ (on loopback, with a token, stopped by the test)."""
import json, os, secrets, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r: return r.status, r.read()
    except urllib.error.HTTPError as e: return e.code, b""


def test_jupyterlab_serves_a_notebook(tmp_path):
    jupyter = Path(sys.executable).with_name("jupyter")
    assert jupyter.exists() or shutil.which("jupyter"), "jupyter is not installed: the dev extra installs jupyterlab"
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_DATA_DIR": str(tmp_path / "data"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    proc = subprocess.Popen([str(jupyter if jupyter.exists() else "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'nbs'}",
                             *(["--allow-root"] if os.geteuid() == 0 else [])],     # CI machines run as root
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            if proc.poll() is not None: break
            try:
                if _get(f"{base}/api/status?token={token}")[0] == 200: break
            except OSError: pass
            time.sleep(0.5)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        status, body = _get(f"{base}/api/contents/index.ipynb?content=1&token={token}")
        assert status == 200
        nb = json.loads(body)
        assert nb["type"] == "notebook" and nb["content"]["cells"], nb.get("type")
        assert _get(f"{base}/lab?token={token}")[0] == 200                 # the JupyterLab page itself
        assert _get(f"{base}/api/contents/index.ipynb")[0] in (401, 403)   # nothing without the token
    finally:
        if proc.poll() is None: os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
