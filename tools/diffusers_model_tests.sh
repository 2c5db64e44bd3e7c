#!/usr/bin/env bash
# diffusers' own model tests, run on ldpruner's pruned classes: the UNet2DModel and UNet2DConditionModel testers of
# diffusers' repository at a tag (default v0.40.0), against that diffusers release from PyPI, in a venv of their own.
# Each tested class is a subclass of ldpruner's pruned class that prunes a few operators as it is built (a mid-block
# attention, a cross-attention, a resnet: whichever the tester's config has), so every test that builds, saves,
# loads, trains or adapts a model does so on a pruned one. Two tests read the very attentions a plan removes (one
# counts every attention's calls, one reads the mid block's attention): for them the class prunes resnets only.
#   tools/diffusers_model_tests.sh [PYTEST ARGS]
#   DIFFUSERS_REPO=/path/to/diffusers (a clone or bare git dir; else it is cloned from GitHub)  DIFFUSERS_TAG=v0.40.0
#   LDPRUNER_DT_VENV=/tmp/ldpruner-dt-venv (reused when there)  WORK=/tmp/ldpruner-dt
# The plain classes' results for comparison: LDPRUNER_DT_PLAIN=1 tools/diffusers_model_tests.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TAG="${DIFFUSERS_TAG:-v0.40.0}"; VERSION="${TAG#v}"
VENV="${LDPRUNER_DT_VENV:-/tmp/ldpruner-dt-venv}"; WORK="${WORK:-/tmp/ldpruner-dt}"
MARK=".made-by-ldpruner-diffusers-tests"
# a folder is this script's to fill or empty only if it made it (its marker inside) or finds it missing or empty
for d in "$VENV" "$WORK"; do                # both checked before either is touched
  if [ -e "$d" ] && { [ ! -d "$d" ] || { [ -n "$(ls -A "$d")" ] && [ ! -e "$d/$MARK" ]; }; }; then
    echo "error: $d exists and was not made by this script; name another folder" >&2; exit 2
  fi
done
for d in "$VENV" "$WORK"; do mkdir -p "$d"; touch "$d/$MARK"; done
want="torch==2.13.0 diffusers==$VERSION pytest parameterized peft>=0.17.0 pytest-timeout requests-mock"
# made only when its last install finished (the stamp names what was installed): a run killed half-way installs again
if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --no-compile torch==2.13.0
  "$VENV/bin/pip" install -q --no-compile -e "$ROOT" "diffusers==$VERSION" pytest parameterized "peft>=0.17.0" pytest-timeout requests-mock
  echo "$want" > "$VENV/.installed"
fi
find "$WORK" -mindepth 1 -maxdepth 1 ! -name "$MARK" -exec rm -rf {} +     # ours (claimed above): emptied, marker kept
REPO="${DIFFUSERS_REPO:-$WORK/diffusers.git}"
[ -d "$REPO" ] || git clone -q --bare --filter=blob:none https://github.com/huggingface/diffusers "$REPO"
git --git-dir="$( [ -d "$REPO/.git" ] && echo "$REPO/.git" || echo "$REPO" )" archive "$TAG" tests/__init__.py tests/testing_utils.py \
  tests/others tests/models/__init__.py tests/models/testing_utils tests/models/test_modeling_common.py tests/models/unets/__init__.py \
  tests/models/unets/test_models_unet_2d.py tests/models/unets/test_models_unet_2d_condition.py | tar -x -C "$WORK"
cat > "$WORK/tests/models/unets/test_ldpruner_pruned.py" <<'PY'
"diffusers' UNet testers with `model_class` set to a class that prunes a few operators as it is built."
import inspect, os
from ldpruner.operators import find_operators
from ldpruner.pruning import PrunedUNet2DConditionModel, PrunedUNet2DModel, apply_plan
from . import test_models_unet_2d as u2d, test_models_unet_2d_condition as u2dc

RESNETS = ["down_blocks.1.resnets.1", "up_blocks.0.resnets.1", "down_blocks.0.resnets.1"]
WANTED = ["mid_block.attentions.0", "up_blocks.1.attentions.1.transformer_blocks.0.attn2", *RESNETS]
# tests that assert on the attentions a plan removes: the count of attention calls, the mid block's attention
READS_ATTENTIONS = {"test_special_attn_proc", "test_mid_block_attn_groups"}

def wanted():
    "The operators to prune in the test now running (pytest names it in PYTEST_CURRENT_TEST)."
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[-1].split(" ")[0].split("[")[0]
    return RESNETS if test in READS_ATTENTIONS else WANTED

def pruning(base):
    "A subclass of ldpruner's `base` whose `__init__` builds the model and prunes those of WANTED it has."
    class Pruned(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            names = {o.name for o in find_operators(self, "all")}
            apply_plan(self, [n for n in wanted() if n in names])
        @classmethod
        def from_pretrained(cls, *args, **kwargs): return base.from_pretrained(*args, **kwargs)
    Pruned.__init__.__signature__ = inspect.signature(base.__init__)   # what diffusers reads a config's keys by
    Pruned.__name__ = Pruned.__qualname__ = f"Pruning{base.__name__}"
    return Pruned

PLAIN = bool(os.environ.get("LDPRUNER_DT_PLAIN"))
COND = u2dc.UNet2DConditionModel if PLAIN else pruning(PrunedUNet2DConditionModel)
UNCOND = u2d.UNet2DModel if PLAIN else pruning(PrunedUNet2DModel)

def _with(cls, model_class):
    return type(cls.__name__, (cls,), {"model_class": property(lambda self: model_class), "__module__": __name__})

for mod, model_class in ((u2dc, COND), (u2d, UNCOND)):
    for name, cls in vars(mod).items():
        if name.startswith("Test") and isinstance(cls, type) and "model_class" in dir(cls): globals()[name] = _with(cls, model_class)
del cls
PY
cd "$WORK"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/models/unets/test_ldpruner_pruned.py "$@"
