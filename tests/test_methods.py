"""Methods as plug-ins: a criterion registered in one place is offered by `ldpruner score`; BK-SDM's students and
block-reuse schedules (DeepCache, DiP-GO) come from the command line like every other method."""
import json
import pytest
from conftest import FAST, ldpruner_inproc as ldpruner, bad_inproc


def readme_criterion_code() -> str:
    "The Python block of the README's 'Add a method' section, as a reader copies it."
    from pathlib import Path
    text = (Path(__file__).parents[1] / "README.md").read_text()
    section = text[text.index("## Add a method"):]
    return section[section.index("```python") + len("```python"):section.index("```", section.index("```python") + 3)]


@pytest.fixture
def toy_criterion():
    "The README's criterion, a class with one typed setting, registered by running the README's own code."
    from ldpruner.criteria import CRITERIA
    exec(compile(readme_criterion_code(), "README.md", "exec"), {})
    yield "param-count"
    del CRITERIA["param-count"]


def test_the_readme_criterion_is_a_strategy_object(toy_criterion):
    from ldpruner.criteria import get_criterion
    cls = get_criterion(toy_criterion)
    assert cls.settings() == {"scale": 1.0} and cls(scale=2.0).scale == 2.0
    assert cls.from_options(dict(scale=3.0, n=4, steps=None)).scale == 3.0


def test_a_registered_criterion_is_offered_by_the_cli(toy_criterion, tmp_path):
    r = ldpruner("score", "tiny-uig", "--criterion", toy_criterion, "--types", "ResnetBlock2D", "-o", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["criterion"] == "param-count" and s["complete"] is True and len(s["operators"]) > 3 and s["parts"] == ["params"]
    r = ldpruner("prune", "tiny-uig", "--scores", tmp_path / "s.json", "--k", "2", "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    bad_inproc(["prune", "tiny-uig", "--scores", tmp_path / "s.json", "--k", "2", "--formula", "product", "-o", tmp_path / "q"],
               tmp_path, "param-count")


def test_formula_of_ld_pruner_refused_on_output_loss(tmp_path):
    bad_inproc(["score", "tiny-uig", "--criterion", "output-loss", "--formula", "product", "-o", tmp_path / "s.json"],
               tmp_path, "not one that output-loss scores answer")
    r = ldpruner("score", "tiny-uig", "--criterion", "random", "-o", tmp_path / "r.json")
    assert r.returncode == 0, r.stderr
    bad_inproc(["prune", "tiny-uig", "--scores", tmp_path / "r.json", "--k", "2", "--formula", "std", "-o", tmp_path / "p"],
               tmp_path, "not one that random scores answer")


def test_bk_sdm_small_end_to_end(tmp_path):
    r = ldpruner("prune", "--method", "bk-sdm-small", "-o", tmp_path / "bk")
    assert r.returncode == 0 and "bk-sdm-small student" in r.stdout, r.stderr
    plan = json.loads((tmp_path / "bk" / "plan.json").read_text())
    assert plan["report"]["method"] == "bk-sdm-small" and plan["report"]["params_pruned"] < plan["report"]["params_original"]
    r = ldpruner("finetune", tmp_path / "bk", "--steps", "2", "--batch", "4", "--data", "8", "-o", tmp_path / "ft")
    assert r.returncode == 0, r.stderr
    r = ldpruner("bench", tmp_path / "ft", "--repeats", "2", "--json", tmp_path / "b.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "b.json").read_text())["params_pruned"] == plan["report"]["params_pruned"]
    r = ldpruner("eval", tmp_path / "ft", "--n", "4", "--steps", "2")
    assert r.returncode == 0 and "alignment" in r.stdout, r.stderr
    bad_inproc(["prune", "--method", "bk-sdm-small", "--k", "3", "-o", tmp_path / "x"], tmp_path, "builds its own student")


def test_deepcache_reuse_end_to_end(tmp_path):
    r = ldpruner("reuse", "--method", "deepcache", "--target", "0.3", "--steps", "6", "--repeats", "2", "-o", tmp_path / "dc")
    assert r.returncode == 0 and "cache interval" in r.stdout, r.stderr
    sched = json.loads((tmp_path / "dc" / "reuse.json").read_text())
    assert sched["method"] == "deepcache" and len(sched["schedule"]) == 6 and 0 < sched["removed_share"] < 1
    r = ldpruner("bench", "--reuse", tmp_path / "dc", "--repeats", "2", "--json", tmp_path / "b.json")
    assert r.returncode == 0 and "measured" in r.stdout, r.stderr
    assert json.loads((tmp_path / "b.json").read_text())["measured_speedup"] > 0
    r = ldpruner("eval", "--reuse", tmp_path / "dc", "--n", "4", "--steps", "6")
    assert r.returncode == 0 and "alignment" in r.stdout, r.stderr
    bad_inproc(["eval", "--reuse", tmp_path / "dc", "--n", "4", "--steps", "5"], tmp_path, "--steps 6")
    bad_inproc(["eval", "tiny-uig", "--reuse", tmp_path / "dc", "--n", "4", "--steps", "6"], tmp_path, "blocks")
    bad_inproc(["reuse", "--method", "deepcache", "--target", "1.5", "-o", tmp_path / "x"], tmp_path, "between 0 and 1")


def test_dipgo_reuse_from_the_cli(tmp_path):
    r = ldpruner("reuse", "--method", "dipgo", "--target", "0.3", "--steps", "4", "--train-steps", "2", "--batch", "2",
                 "--repeats", "2", "-o", tmp_path / "dg")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "dg" / "reuse.json").read_text())["method"] == "dipgo"


def test_a_criterion_that_misnames_its_scores_is_refused(tmp_path):
    "A criterion names and fingerprints its own scores; the pipeline checks, it does not overwrite."
    from ldpruner.criteria import CRITERIA, register_criterion
    from ldpruner.scoring import OperatorScores

    @register_criterion("sloppy", "scores for no model in particular")
    def sloppy(ldm, operators, options):
        sc = OperatorScores("", {}, ["size"], criterion="sloppy", parts=["x"])
        for op in operators: sc.add(op, [1.0])
        return sc
    try: bad_inproc(["score", "tiny-uig", "--criterion", "sloppy", "-o", tmp_path / "s.json"], tmp_path, "stored_fingerprint")
    finally: del CRITERIA["sloppy"]
