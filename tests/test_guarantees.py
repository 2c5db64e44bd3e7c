"""The README's guarantees, tried as a careless user would: every mistake is one line on stderr and exit code 2, with no
traceback and nothing of the user's touched; an internal error is one line and exit code 1; output paths follow one
rule; and a run killed with -9 at its worst moments resumes to the result of an uninterrupted one."""
import hashlib, importlib.util, json, os, shutil, subprocess, sys
from pathlib import Path
import pytest
from conftest import FAST, SCORE_ARGS, bad_inproc, imagefolder, ldpruner_inproc as ldpruner

TYPES = SCORE_ARGS[SCORE_ARGS.index("--types"):]
OPS = ["mid_block.attentions.0"]


def snapshot(root: Path) -> dict:
    "Every path under `root` with its kind, permissions and content hash: what 'nothing touched' means."
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        if p.is_symlink(): out[str(p.relative_to(root))] = ("link", os.readlink(p)); continue
        out[str(p.relative_to(root))] = (p.is_dir(), st.st_mode, None if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
    return out


@pytest.fixture(scope="module")
def ws(tmp_path_factory, scored_t2i):
    "A workspace with a user's files, a complete scores file, hand-broken ones, a pruned model and non-models."
    d = tmp_path_factory.mktemp("ws")
    (d / "user").mkdir(); (d / "user" / "thesis.tex").write_text("years of work")
    (d / "notes.txt").write_text("a user's file")
    (d / ".thesis.checkpoint").mkdir(); (d / ".thesis.checkpoint" / "draft.tex").write_text("a user's folder")
    shutil.copy(scored_t2i, d / "scores.json")
    good = json.loads((d / "scores.json").read_text())
    first = next(iter(good["operators"]))
    def broken(name, change):
        e = json.loads(json.dumps(good)); change(e); (d / name).write_text(json.dumps(e))
    broken("partial.json", lambda e: (e["operators"].pop(first), e.update(complete=False)))
    broken("negative.json", lambda e: e["operators"][first]["d_avg"].__setitem__(0, -0.5))
    broken("string.json", lambda e: e["operators"][first]["d_std"].__setitem__(0, "0.1"))
    broken("nokey.json", lambda e: e.pop("conditions"))
    broken("nan.json", lambda e: e["operators"][first]["d_avg"].__setitem__(0, float("nan")))
    (d / "corrupt.json").write_text('{"format": "ldpruner-scores/1", "operators": {')
    assert ldpruner("prune", "tiny-uig", "--operators", "mid_block.resnets.1", "-o", d / "pruned").returncode == 0
    assert ldpruner("prune", "tiny-t2i", "--operators", "mid_block.attentions.0", "-o", d / "t2i-pruned").returncode == 0
    (d / "bert").mkdir(); (d / "bert" / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    (d / "listcfg").mkdir(); (d / "listcfg" / "config.json").write_text("[1, 2, 3]")
    (d / "empty").mkdir()
    (d / "proj").mkdir(); (d / "proj" / "plan.json").write_text("{}"); (d / "proj" / "thesis.tex").write_text("work")
    for name, row in (("nullrows", "null"), ("numname", json.dumps({"file_name": 3, "text": "a cat"}))):
        (d / name).mkdir(); (d / name / "metadata.jsonl").write_text(row + "\n")
    (d / "rows.jsonl").write_text('["a red circle"]\n')
    (d / "imgs").mkdir(); (d / "imgs" / "0.png").write_bytes(b"not read"); (d / "imgs" / "metadata.jsonl").write_text('{"file_name": "0.png", "text": "a red circle"}\n')
    import pyarrow as pa, pyarrow.parquet as pq                  # a parquet shard with neither an image nor a caption column
    (d / "shards").mkdir(); pq.write_table(pa.table({"pixels": [b"not read"], "label": [3]}), str(d / "shards" / "part-0.parquet"))
    (d / "clips").mkdir(); (d / "clips" / "0.wav").write_bytes(b"not read"); (d / "clips" / "metadata.jsonl").write_text('{"file_name": "0.wav", "text": "a piano"}\n')
    (d / "tousers").symlink_to(d / "user"); (d / "dangling").symlink_to(d / "nowhere")
    def variant(name, file, change):
        "A copy of the pruned folder with `file` (plan.json or config.json) changed by hand."
        shutil.copytree(d / "pruned", d / name)
        e = json.loads((d / name / file).read_text()); change(e); (d / name / file).write_text(json.dumps(e))
    variant("edited", "plan.json", lambda e: e["operators"].append(dict(name="time_embedding.act", type="SiLU", kind="identity")))
    variant("selfbase", "config.json", lambda e: e["_ldpruner"].update(base=str(d / "selfbase")))
    variant("otherbase", "config.json", lambda e: e["_ldpruner"].update(base="tiny-t2i"))
    variant("badfield", "config.json", lambda e: e.update(block_out_channels="wide"))
    return d


NEW = "new-out"   # a path that does not exist: a mistake must not create it
CASES = [
    # output paths: a user's folder or file is never replaced without --overwrite, a file never becomes a folder
    (["prune", "--operators", *OPS, "-o", "user"], "did not make"),
    (["prune", "--operators", *OPS, "-o", "notes.txt"], "never turns a file into a folder"),
    (["prune", "--operators", *OPS, "-o", "notes.txt", "--overwrite"], "never turns a file into a folder"),
    (["finetune", "pruned", "-o", "user", "--steps", "1"], "did not make"),
    (["finetune", "pruned", "-o", "notes.txt", "--steps", "1"], "never turns a file into a folder"),
    (["finetune", "pruned", "-o", "thesis", "--steps", "1"], "keeps its checkpoint there"),        # .thesis.checkpoint is the user's
    (["run", "-o", "user"], "did not make"),
    (["run", "-o", "notes.txt"], "never turns a file into a folder"),
    (["score", "-o", "user"], "a folder is there"),
    (["score", "-o", "notes.txt"], "did not write"),
    (["bench", "pruned", "--json", "notes.txt"], "did not write"),
    (["eval", "pruned", "--json", "user"], "a folder is there"),
    (["score", "-o", "/proc/ldpruner/scores.json"], "cannot write"),
    (["prune", "--operators", *OPS, "-o", "notes.txt/inside"], "is a file, not a folder"),
    (["prune", "tiny-uig", "--operators", "mid_block.resnets.1", "-o", "proj"], "before ldpruner marked"),   # plan.json is no marker
    (["prune", "--operators", "mid_block.resnets.1", "--plain", "-o", NEW], "cannot hold these removals: mid_block.resnets.1"),
    (["prune", "--method", "bk-sdm-small", "--plain", "-o", NEW], "--plain goes with --scores or --operators"),
    # scores files: complete, well-formed, for this model
    (["prune", "--scores", "partial.json", "--k", "1", "-o", NEW], "incomplete"),
    (["prune", "--scores", "negative.json", "--k", "1", "-o", NEW], "non-negative"),
    (["prune", "--scores", "string.json", "--k", "1", "-o", NEW], "non-negative"),
    (["prune", "--scores", "nan.json", "--k", "1", "-o", NEW], "non-negative"),
    (["prune", "--scores", "nokey.json", "--k", "1", "-o", NEW], "no 'conditions'"),
    (["prune", "--scores", "corrupt.json", "--k", "1", "-o", NEW], "corrupt"),
    (["prune", "--scores", "missing.json", "--k", "1", "-o", NEW], "no scores file"),
    (["prune", "--scores", "user", "--k", "1", "-o", NEW], "is a folder"),
    (["prune", "--scores", "notes.txt", "--k", "1", "-o", NEW], "corrupt"),
    (["prune", "tiny-uig", "--scores", "scores.json", "--k", "1", "-o", NEW], "another model"),
    (["prune", "--scores", "scores.json", "--k", "1", "--speedup", "2", "-o", NEW], "exactly one"),
    (["prune", "--scores", "scores.json", "-o", NEW], "exactly one"),
    (["prune", "--scores", "scores.json", "--k", "1000", "-o", NEW], "larger than the number"),
    (["prune", "--scores", "scores.json", "--speedup", "1000", "-o", NEW], "out of reach"),
    (["prune", "--operators", *OPS, "--k", "1", "-o", NEW], "takes no"),
    (["prune", "-o", NEW], "give --scores"),
    (["prune", "--operators", "mid_block.nope", "-o", NEW], "not in this model"),
    # values in range, checked before any work
    (["score", "--steps", "-1", "-o", NEW], "out of range"),
    (["score", "--n", "-1", "-o", NEW], "out of range"),
    (["score", "--n", "0", "-o", NEW], "out of range"),
    (["score", "--n", "two", "-o", NEW], "not a whole number"),
    (["score", "--guidance", "nan", "-o", NEW], "out of range"),
    (["score", "--steps", "100000", "-o", NEW], "trained with 1000 timesteps"),
    (["score", "--formula", "bogus", "-o", NEW], "invalid choice"),
    (["score", "--device", "cuda:7", "-o", NEW], "CUDA"),
    (["score", "--prompts", "missing.txt", "-o", NEW], "no such file"),
    (["score", *FAST, "--types", "ResnetBlock2D", "-o", "scores.json"], "other operators"),   # never merged into another --types' file
    (["score", "tiny-uig", "--prompt", "a cat", "-o", NEW], "unconditional model"),         # not silently ignored
    (["eval", "pruned", "--prompt", "a cat", "--n", "2"], "unconditional model"),
    (["score", "--seed", str(2**64), "-o", NEW], "out of range"),                             # too large for torch
    (["run", "--k", "-1", "-o", NEW], "out of range"),
    (["run", "--k", "3", "--speedup", "2", "-o", NEW], "exactly one of k or speedup (--k or --speedup)"),
    (["run", "--speedup", "1", "-o", NEW], "above 1"),
    (["run", "--k", "1000", "-o", NEW], "larger than the number of candidate operators"),   # before -o is made
    (["run", "--batch", "0", "-o", NEW], "out of range"),
    (["finetune", "pruned", "--steps", "0", "-o", NEW], "out of range"),
    (["finetune", "pruned", "--lr", "-1", "-o", NEW], "out of range"),
    (["finetune", "pruned", "--lr", "0", "-o", NEW], "above 0"),
    (["finetune", "pruned", "--batch", "0", "-o", NEW], "out of range"),
    (["finetune", "pruned", "--batch", "4", "--grad-accum", "8", "-o", NEW], "larger than --batch"),
    (["finetune", "pruned", "--data", "0", "-o", NEW], "at least 1 sample"),
    (["finetune", "pruned", "--data", "empty", "-o", NEW], "empty folder"),
    (["finetune", "pruned", "--save-every", "0", "-o", NEW], "out of range"),
    (["finetune", "pruned", "--resolution", "64", "-o", NEW], "applies to a data folder"),
    (["finetune", "pruned", "--data", "imgs", "--resolution", "7", "-o", NEW], "takes multiples of"),
    (["finetune", "pruned", "--trained-weights", "-o", NEW], "without --ema"),
    (["eval", "--fid-ref", "empty"], "go with --prompts"),
    (["eval", "--prompts", "notes.txt", "--fid-ref", "empty"], "needs the Inception weights"),
    (["eval", "--prompts", "notes.txt", "--fid-weights", "scores.json"], "not a plain torch state dict"),
    (["eval", "--prompts", "notes.txt", "--fid-weights", "missing.pth"], "no such file"),
    (["finetune", "t2i-pruned", "--data", "shards", "--steps", "1", "-o", NEW], "its columns are pixels, label"),
    (["finetune", "pruned", "--ema", "1", "-o", NEW], "out of range"),
    (["finetune", "pruned", "--lr-schedule", "linear", "-o", NEW], "invalid choice"),
    (["finetune", "pruned", "--recipe", "sd-turbo", "-o", NEW], "invalid choice"),
    (["finetune", "pruned", "--optimizer", "sgd", "-o", NEW], "invalid choice"),
    (["finetune", "pruned", "--warmup", "2", "-o", NEW], "out of range"),
    (["finetune", "tiny-t2i", "-o", NEW], "pruned-model folder"),
    (["finetune", "pruned", "--data", "nullrows", "--steps", "1", "-o", NEW], "not a JSON object"),
    (["finetune", "pruned", "--data", "numname", "--steps", "1", "-o", NEW], "a file's name as a string"),
    (["score", "--prompts", "rows.jsonl", "-o", NEW], "not a JSON object"),
    (["eval", "pruned", "--n", "0"], "out of range"),
    (["eval", "pruned", "--steps", "100000"], "trained with 1000 timesteps"),
    (["eval", "pruned", "--data", "missing"], "no such file or folder"),
    (["bench", "tiny-t2i"], "needs a pruned model"),
    (["bench", "pruned", "--repeats", "0"], "out of range"),
    # models that are not what they claim
    (["operators", "bert"], "not a diffusers U-Net"),
    (["operators", "listcfg"], "not a diffusers config"),
    (["operators", "no-such-model"], "unknown model"),
    (["operators", "empty"], "neither a pruned model"),
    (["operators", "edited"], "not the ones it was saved with"),
    (["operators", "selfbase"], "is a pruned folder, not the model it was pruned from"),     # was a RecursionError
    (["operators", "otherbase"], "is another model"),
    (["operators", "badfield"], "malformed plan or config"),
    (["frobnicate"], "invalid choice"),
    # data of the other kind, and links: judged by what they point at
    (["eval", "tiny-uag", "--data", "imgs", "--n", "1"], "its files are images, and this model makes audio"),
    (["finetune", "pruned", "--data", "clips", "--steps", "1", "-o", NEW], "its files are audio clips, and this model makes images"),
    (["prune", "--operators", *OPS, "-o", "tousers"], "did not make"),
    (["prune", "--operators", *OPS, "-o", "dangling"], "which does not exist"),
]
if importlib.util.find_spec("bitsandbytes") is None:        # an optimiser this machine cannot run: said before any model loads
    CASES.append((["finetune", "pruned", "--optimizer", "adamw8bit", "-o", NEW], "pip install bitsandbytes"))


@pytest.mark.parametrize("args,needle", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input(ws, monkeypatch, args, needle):
    monkeypatch.chdir(ws)
    before = snapshot(ws)
    r = ldpruner(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    errors = [l for l in lines if l.startswith("ldpruner: error:")]
    assert len(errors) == 1 and needle in errors[0], r.stderr
    assert all(l.startswith(("ldpruner:", "model:")) for l in lines), r.stderr     # nothing but its one line (and what loaded)
    assert "Traceback" not in r.stderr and not r.stdout.strip()
    assert snapshot(ws) == before, "a mistake must leave every file and folder as it was"


def test_there_are_forty_cases():
    assert len(CASES) >= 40


def test_internal_error_is_one_line_and_debug_shows_it(ws, monkeypatch):
    import ldpruner.cli as cli
    def boom(a): raise ZeroDivisionError("a bug")
    monkeypatch.setattr(cli, "cmd_operators", boom)
    r = ldpruner("operators")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert "internal error" in line and "ZeroDivisionError" in line and cli.ISSUES_URL in line and "--debug" in line
    with pytest.raises(ZeroDivisionError): cli.main(["operators", "--debug"])


def test_finetune_whose_loss_turns_nan_stops_and_saves_nothing(ws, tmp_path):
    r = ldpruner("finetune", ws / "pruned", "--lr", "1e30", "--steps", "3", "--batch", "2", "--data", "4", "-o", tmp_path / "ft")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    (line,) = [l for l in r.stderr.splitlines() if l.startswith("ldpruner: error:")]
    assert "loss became" in line and "nothing saved" in line
    assert list(tmp_path.iterdir()) == []                  # no model, no checkpoint, no temporary


def test_output_rule_replaces_only_its_own(ws, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ldpruner("prune", "--operators", *OPS, "-o", "p").returncode == 0
    first = (tmp_path / "p" / "plan.json").read_text()
    r = ldpruner("prune", "--operators", "mid_block.resnets.1", "-o", "p")       # ldpruner's own folder: replaced
    assert r.returncode == 0 and (tmp_path / "p" / "plan.json").read_text() != first, r.stderr
    (tmp_path / "mine").mkdir(); (tmp_path / "mine" / "a.txt").write_text("x")
    r = ldpruner("prune", "--operators", *OPS, "-o", "mine", "--overwrite")       # asked for
    assert r.returncode == 0 and not (tmp_path / "mine" / "a.txt").exists() and (tmp_path / "mine" / "plan.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "p"]              # no temporary or old folder left
    # a user's files named like temporaries or old folders beside an output are never swept
    looks = [tmp_path / ".p.old-backup", tmp_path / ".p.draft.tmp", tmp_path / f".p.{'0' * 32}.tmp"]
    looks[0].mkdir(); (looks[0] / "thesis.tex").write_text("years of work"); looks[1].write_text("draft"); looks[2].mkdir()
    assert ldpruner("prune", "--operators", *OPS, "-o", "p").returncode == 0
    assert all(p.exists() for p in looks) and (looks[0] / "thesis.tex").read_text() == "years of work"
    for p in looks: shutil.rmtree(p) if p.is_dir() else p.unlink()
    umask = os.umask(0); os.umask(umask)
    for f in [tmp_path / "p" / "diffusion_pytorch_model.safetensors", tmp_path / "p" / "plan.json"]:
        assert f.stat().st_mode & 0o777 == 0o666 & ~umask, f
    assert ldpruner("score", *FAST, *TYPES, "-o", "s.json").returncode == 0
    assert (tmp_path / "s.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert json.loads((tmp_path / "s.json").read_text())["complete"] is True


# Fault tests: the process kills itself (SIGKILL) at a named point (core.fault_point), then the same command is run
# again. The points are the moments a crash hurts most: a file or folder written but not yet renamed into place.

def _killed(args, point, cwd):
    env = {**os.environ, "LDPRUNER_KILL_AT": point}
    r = subprocess.run(["ldpruner", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == -9, (point, r.returncode, r.stderr[-2000:])


def _strays(folder: Path) -> list:
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or ".old-" in p.name]


def _scores(path):
    d = json.loads(Path(path).read_text())
    return d["model_fingerprint"], d["protocol"], d["conditions"], {n: (r["d_avg"], r["d_std"]) for n, r in d["operators"].items()}, d["complete"]


SCORE = ["score", *FAST, *TYPES, "-o", "s.json"]


@pytest.fixture(scope="module")
def scored(scored_t2i):
    "An uninterrupted scoring run of SCORE (conftest's, shared): what every killed and resumed one must end with."
    assert SCORE[1:-2] == SCORE_ARGS
    assert len(json.loads(scored_t2i.read_text())["operators"]) == 6      # so write 6 is the last, the file's completion
    return scored_t2i


@pytest.mark.parametrize("point", ["write:s.json:1", "score:operator:3", "write:s.json:6"])
def test_score_killed_resumes_bit_identically(scored, tmp_path, monkeypatch, point):
    _killed(SCORE, point, tmp_path)
    if (tmp_path / "s.json").exists(): assert json.loads((tmp_path / "s.json").read_text())["complete"] is False
    monkeypatch.chdir(tmp_path)
    r = ldpruner(*SCORE)
    assert r.returncode == 0, r.stderr
    assert _scores(tmp_path / "s.json") == _scores(scored)
    assert _strays(tmp_path) == []


def test_score_overwrite_keeps_the_old_file_until_the_new_one_is_whole(scored, tmp_path, monkeypatch):
    "--overwrite starts afresh, but a crash half way leaves the old scores file as it was (it used to be deleted first)."
    shutil.copy(scored, tmp_path / "s.json")
    (tmp_path / "s.json").write_text((tmp_path / "s.json").read_text().replace('"complete": true', '"complete": true '))
    before = (tmp_path / "s.json").read_bytes()
    _killed([*SCORE, "--overwrite"], "score:operator:3", tmp_path)
    assert (tmp_path / "s.json").read_bytes() == before
    monkeypatch.chdir(tmp_path)
    r = ldpruner(*SCORE, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s.json").read_bytes() != before and _scores(tmp_path / "s.json") == _scores(scored)
    assert _strays(tmp_path) == []


def test_replace_killed_between_its_two_renames_is_put_back(tmp_path, monkeypatch):
    "A crash after the old folder is moved aside and before the new one is moved in: the next run finds the old one."
    assert ldpruner("prune", "--operators", *OPS, "-o", tmp_path / "p").returncode == 0
    old_plan = (tmp_path / "p" / "plan.json").read_text()
    _killed(["prune", "--operators", "mid_block.resnets.1", "-o", "p"], "swap:p:1", tmp_path)
    assert not (tmp_path / "p").exists()
    monkeypatch.chdir(tmp_path)
    r = ldpruner("prune", "--operators", *OPS, "-o", "p", "--k", "1")          # a mistake: the folder is put back first
    assert r.returncode == 2 and "put back" in r.stderr, r.stderr
    assert (tmp_path / "p" / "plan.json").read_text() == old_plan and _strays(tmp_path) == []
    _killed(["prune", "--operators", "mid_block.resnets.1", "-o", "p"], "swap:p:1", tmp_path)
    r = ldpruner("operators", "p")                                              # a command that only reads it: put back too
    assert r.returncode == 0 and "put back" in r.stderr and (tmp_path / "p" / "plan.json").read_text() == old_plan, r.stderr


FT = ["--steps", "4", "--batch", "4", "--data", "16", "--save-every", "1"]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    d = tmp_path_factory.mktemp("ft")
    assert ldpruner("prune", "tiny-uig", "--operators", "mid_block.resnets.1", "-o", d / "p").returncode == 0
    assert ldpruner("finetune", d / "p", *FT, "-o", d / "ref").returncode == 0
    return d


def test_finetune_with_ema_and_checkpointing_killed_resumes_bit_identically(finetuned, tmp_path):
    "The moving average is saved with the checkpoint: killed after a step and resumed, the saved (EMA) weights are an uninterrupted run's."
    from safetensors.torch import load_file
    ema = [*FT, "--ema", "0.9", "--gradient-checkpointing"]
    assert ldpruner("finetune", finetuned / "p", *ema, "-o", tmp_path / "ref").returncode == 0
    args = ["finetune", finetuned / "p", *ema, "-o", tmp_path / "ft"]
    _killed(args, "finetune:step:3", tmp_path)
    r = ldpruner(*args)
    assert r.returncode == 0 and "moving average" in r.stdout, r.stderr
    w = lambda p: load_file(str(p / "diffusion_pytorch_model.safetensors"))
    a, b, plain = w(tmp_path / "ref"), w(tmp_path / "ft"), w(finetuned / "ref")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert any(not (a[k] == plain[k]).all() for k in a)             # the average, not the trained weights
    assert json.loads((tmp_path / "ft" / "finetune.json").read_text())["weights"] == "ema"


@pytest.mark.parametrize("point", ["finetune:step:2", "dir:.ft.checkpoint:3", "dir:ft:1"])
def test_finetune_killed_resumes_bit_identically(finetuned, tmp_path, point):
    from safetensors.torch import load_file
    args = ["finetune", finetuned / "p", *FT, "-o", tmp_path / "ft"]
    _killed(args, point, tmp_path)
    assert not (tmp_path / "ft").exists()                      # the output appears whole or not at all
    r = ldpruner(*args)
    assert r.returncode == 0, r.stderr
    a, b = load_file(str(finetuned / "ref" / "diffusion_pytorch_model.safetensors")), load_file(str(tmp_path / "ft" / "diffusion_pytorch_model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    hist = lambda p: [h["loss"] for h in json.loads((p / "finetune.json").read_text())["history"]]
    assert hist(tmp_path / "ft") == hist(finetuned / "ref")
    assert _strays(tmp_path) == [] and not (tmp_path / ".ft.checkpoint").exists()


def _tree(p: Path) -> dict:
    "{relative path: bytes} of every file under `p`: what 'whole' is compared by."
    return {str(q.relative_to(p)): q.read_bytes() for q in sorted(p.rglob("*")) if q.is_file()}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="stops a forked copy of this process")
def test_a_replace_stopped_at_every_step_leaves_the_old_or_the_new(tmp_path):
    """`prune` replacing a pruned folder, killed (SIGKILL) at each of its file-system steps in turn, in a forked copy of
    this process: once the next command has looked, the old folder or the new one is at -o, byte for byte."""
    import contextlib, io
    from ldpruner.cli import main
    from ldpruner.core import _reached, recover_hidden
    new_args = ["prune", "tiny-uig", "--operators", "mid_block.resnets.1", "up_blocks.0.resnets.0"]
    old, new = tmp_path / "old", tmp_path / "new"
    assert ldpruner("prune", "tiny-uig", "--operators", "mid_block.resnets.1", "-o", old).returncode == 0
    assert ldpruner(*new_args, "-o", new).returncode == 0
    assert _tree(old) != _tree(new)
    killed = 0
    for step in range(1, 200):
        out = tmp_path / f"p{step}"; shutil.copytree(old, out)
        if (pid := os.fork()) == 0:
            os.environ["LDPRUNER_KILL_AT"] = f"fs:{step}"; _reached.clear()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                rc = main([*new_args, "-o", str(out)])
            os._exit(rc)
        status = os.waitpid(pid, 0)[1]
        with contextlib.redirect_stderr(io.StringIO()): recover_hidden(out)        # what the next command does first
        assert _tree(out) in (_tree(old), _tree(new)), f"step {step}: neither the old nor the new folder"
        if status == 0: break
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9, (step, status)
        killed += 1
        shutil.rmtree(out)
    print(f"stopped at each of {killed} steps")
    assert _tree(out) == _tree(new) and killed >= 10, killed      # the last run was not stopped: every step was tried


@pytest.mark.parametrize("signal_name,code", [("TERM", 143), ("INT", 130)])
def test_finetune_stopped_by_a_signal_cleans_up_and_resumes(finetuned, tmp_path, signal_name, code):
    "SIGTERM or SIGINT while the checkpoint is swapped in: one line, exit 143/130, no temporary; the rerun ends as an uninterrupted one."
    from safetensors.torch import load_file
    args = ["finetune", finetuned / "p", *FT, "-o", tmp_path / "ft"]
    env = {**os.environ, "LDPRUNER_KILL_AT": "dir:.ft.checkpoint:3", "LDPRUNER_KILL_WITH": signal_name}
    r = subprocess.run(["ldpruner", *map(str, args)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    (line,) = [l for l in r.stderr.splitlines() if l.startswith("ldpruner:")]
    assert "nothing half-written is left" in line and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ft.checkpoint"]    # no temporary; the checkpoint of step 2 is whole
    r = ldpruner(*args)
    assert r.returncode == 0, r.stderr
    a, b = load_file(str(finetuned / "ref" / "diffusion_pytorch_model.safetensors")), load_file(str(tmp_path / "ft" / "diffusion_pytorch_model.safetensors"))
    assert all((a[k] == b[k]).all() for k in a)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ft"]


def test_score_sent_sigterm_from_outside_stops_cleanly(scored, tmp_path, monkeypatch):
    "A real SIGTERM (what `kill`, Docker and Slurm send) in the middle of scoring: exit 143 in one line, then the rerun resumes it."
    import signal, time
    p = subprocess.Popen(["ldpruner", *SCORE], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(1200):
        if (tmp_path / "s.json").exists() or p.poll() is not None: break
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=600)
    if p.returncode == 0: pytest.skip("scoring finished before the signal arrived")
    assert p.returncode == 143 and "stopped by SIGTERM" in err and "Traceback" not in err, (p.returncode, err[-2000:])
    assert _strays(tmp_path) == []
    monkeypatch.chdir(tmp_path)
    assert ldpruner(*SCORE).returncode == 0 and _scores(tmp_path / "s.json") == _scores(scored)


def test_two_commands_writing_one_output_are_not_raced(tmp_path, monkeypatch):
    "While one `score` writes s.json (here frozen half way with SIGSTOP), a second one to the same file is refused in one line."
    import signal
    env = {**os.environ, "LDPRUNER_KILL_AT": "score:operator:1", "LDPRUNER_KILL_WITH": "STOP"}
    p = subprocess.Popen(["ldpruner", *SCORE], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _, status = os.waitpid(p.pid, os.WUNTRACED)          # until it has stopped itself, holding the lock
        assert os.WIFSTOPPED(status), status
        monkeypatch.chdir(tmp_path)
        before = snapshot(tmp_path)
        r = ldpruner(*SCORE)
        assert r.returncode == 2 and "another ldpruner command is writing it" in r.stderr, r.stderr
        assert snapshot(tmp_path) == before
        assert ldpruner("prune", "--operators", *OPS, "-o", "p").returncode == 0     # another output is not held up
    finally:
        p.send_signal(signal.SIGKILL); p.wait()


def test_a_linked_output_is_written_through_its_link(tmp_path, monkeypatch):
    "-o LINK, a symlink to a pruned folder: the folder it points at is replaced, the link stays a link, nothing is left beside either."
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert ldpruner("prune", "--operators", *OPS, "-o", "runs/p1").returncode == 0
    (tmp_path / "latest").symlink_to(tmp_path / "runs" / "p1")
    r = ldpruner("prune", "--operators", "mid_block.resnets.1", "-o", "latest")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "latest").is_symlink() and "mid_block.resnets.1" in (tmp_path / "runs" / "p1" / "plan.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "runs"] and sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["p1"]


def test_run_overwrite_keeps_the_old_run_until_the_new_one_is_whole(tmp_path, monkeypatch):
    "run --overwrite over a run folder, killed while scoring: the old run (its report and pruned model) is there as it was."
    monkeypatch.chdir(tmp_path)
    args = ["run", *FAST, *TYPES, "--k", "1", "--repeats", "1", "--sample-steps", "2", "--eval-n", "4", "-o", "r"]
    assert ldpruner(*args).returncode == 0
    before = _tree(tmp_path / "r")
    _killed([*args, "--overwrite"], "score:operator:2", tmp_path)
    assert _tree(tmp_path / "r") == before
    ldpruner(*args, "--overwrite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_a_resumed_finetune_refuses_other_data_of_the_same_size(tmp_path, monkeypatch):
    "A finetune stopped with its checkpoint on one folder, resumed on another folder of as many images: refused, not mixed."
    monkeypatch.setenv("LDPRUNER_CACHE", str(tmp_path / "cache"))
    import subprocess
    a, b = imagefolder(tmp_path / "a", n=4), imagefolder(tmp_path / "b", n=4)
    (b / "0.png").write_bytes((a / "1.png").read_bytes())              # same size and captions, one image differs
    assert ldpruner("prune", "tiny-uig", "--operators", "mid_block.resnets.1", "-o", tmp_path / "p").returncode == 0
    args = ["finetune", tmp_path / "p", "--steps", "3", "--batch", "2", "--save-every", "1", "-o", tmp_path / "ft"]
    env = {**os.environ, "LDPRUNER_KILL_AT": "finetune:step:2"}
    r = subprocess.run(["ldpruner", *map(str, args), "--data", str(a)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == -9 and (tmp_path / ".ft.checkpoint").is_dir(), r.stderr[-2000:]
    bad_inproc([*args, "--data", b], tmp_path, "a checkpoint of a run on other data")
    r = ldpruner(*args, "--data", a)                                     # on its own data it resumes
    assert r.returncode == 0, r.stderr


def test_a_cold_a_warm_and_a_damaged_latent_cache_train_the_same(tmp_path, monkeypatch):
    "Freshly encoded latents and cached ones train the same weights; a cache entry damaged (valid safetensors, other numbers) or of the wrong length is encoded again."
    from safetensors.torch import load_file, save_file
    monkeypatch.setenv("LDPRUNER_CACHE", str(tmp_path / "cache"))
    data = imagefolder(tmp_path / "data", n=4)
    assert ldpruner("prune", "tiny-uig", "--operators", "mid_block.resnets.1", "-o", tmp_path / "p").returncode == 0
    def finetune(name):
        r = ldpruner("finetune", tmp_path / "p", "--data", data, "--steps", "2", "--batch", "2", "-o", tmp_path / name)
        assert r.returncode == 0, r.stderr
        return (tmp_path / name / "diffusion_pytorch_model.safetensors").read_bytes(), "read from the cache" in r.stderr
    cold, warm = finetune("cold"), finetune("warm")
    assert (cold[1], warm[1]) == (False, True) and cold[0] == warm[0]
    (entry,) = (tmp_path / "cache").glob("latents-*.safetensors")
    lat = load_file(str(entry))["latents"]
    save_file({"latents": lat * 2}, str(entry))
    assert finetune("damaged") == (cold[0], False)
    save_file({"latents": lat[:3].contiguous()}, str(entry))
    assert finetune("short") == (cold[0], False)
