"""Another package's methods: a reuse method (decorated) and a student (a bare subclass) installed as entry points (the `ldpruner.reuse_methods`
and `ldpruner.students` groups) are offered by `ldpruner reuse --method` and `ldpruner prune --method`, with no edit
to ldpruner, by the one registry mechanism criteria use too."""
import json, sys
import pytest
from conftest import ldpruner_inproc as ldpruner

PLUGIN = '''
import copy
from ldpruner.reuse import ReuseMethod, ReuseSchedule, register_reuse_method
from ldpruner.blockreuse import deepcache_schedule, unet_blocks
from ldpruner.pruning import PruneRecord, Student, as_pruned, register_student

@register_reuse_method("every-other", "DeepCache's schedule at interval 2, whatever the target (a test plug-in)")
class EveryOther(ReuseMethod):
    def schedule(self, ldm, steps, target, costs, progress=True):
        return ReuseSchedule(deepcache_schedule(ldm.unet, steps, 2), self.name, unet_blocks(ldm.unet), 0.0, target, {})

class SameSize(Student):
    "the teacher itself (a test plug-in, registered by its entry point's name alone)"
    def build(self, unet):
        return as_pruned(copy.deepcopy(unet), PruneRecord([], report=dict(method=self.name, operators=0)))
'''


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    "A package `ldp_plugin` installed on sys.path with its entry points, as pip would leave it; the registries read afresh."
    from ldpruner.reuse import REUSE_METHODS
    from ldpruner.pruning import STUDENTS
    site = tmp_path / "site"
    (site / "ldp_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "ldp_plugin.py").write_text(PLUGIN)
    (site / "ldp_plugin-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: ldp-plugin\nVersion: 0.1\n")
    (site / "ldp_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[ldpruner.reuse_methods]\nevery-other = ldp_plugin:EveryOther\n\n[ldpruner.students]\nsame-size = ldp_plugin:SameSize\n")
    monkeypatch.syspath_prepend(str(site))
    for reg in (REUSE_METHODS, STUDENTS): monkeypatch.setattr(reg, "_loaded", False)
    yield
    for reg, name in ((REUSE_METHODS, "every-other"), (STUDENTS, "same-size")): reg.pop(name, None)
    sys.modules.pop("ldp_plugin", None)


def test_an_installed_reuse_method_and_student_are_offered_by_the_cli(installed_plugin, tmp_path):
    r = ldpruner("reuse", "--method", "every-other", "--target", "0.3", "--steps", "4", "--repeats", "1", "-o", tmp_path / "eo")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "eo" / "reuse.json").read_text())["method"] == "every-other"
    r = ldpruner("prune", "--method", "same-size", "-o", tmp_path / "s")
    assert r.returncode == 0 and "same-size student" in r.stdout, r.stderr
    assert json.loads((tmp_path / "s" / "plan.json").read_text())["report"]["method"] == "same-size"


def test_an_unknown_method_is_one_line():
    from ldpruner.core import LDPrunerError
    from ldpruner.pruning import STUDENTS
    with pytest.raises(LDPrunerError, match="unknown student 'bk-sdm-huge'; known: .*bk-sdm-base"):
        STUDENTS.named("bk-sdm-huge")
