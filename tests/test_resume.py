"A scoring run killed part way resumes where it stopped and ends with the same scores as an uninterrupted run."
import json, os, signal, subprocess, time
from conftest import FAST, ldpruner

ARGS = [*FAST, "--types", "ResnetBlock2D", "Downsample2D", "Upsample2D"]


def test_resume_after_kill(tmp_path):
    full = ldpruner("score", "-o", tmp_path / "full.json", *ARGS)
    assert full.returncode == 0, full.stderr
    path = tmp_path / "killed.json"
    p = subprocess.Popen(["ldpruner", "score", "-o", str(path), *ARGS], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:   # wait until some, not all, operators are on disk
        if path.exists() and 3 <= len(json.loads(path.read_text())["operators"]): break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    done = len(json.loads(path.read_text())["operators"])
    want = json.loads((tmp_path / "full.json").read_text())["operators"]
    assert 3 <= done < len(want), done
    resumed = ldpruner("score", "-o", path, *ARGS)
    assert resumed.returncode == 0, resumed.stderr
    got = json.loads(path.read_text())["operators"]
    assert list(got) == list(want)
    for name in want:
        assert got[name]["d_avg"] == want[name]["d_avg"] and got[name]["d_std"] == want[name]["d_std"], name
