"""The library's structure: its modules import one another without a loop (each `from ldpruner.X import ...` or
`import ldpruner.X`, at the top of a module or inside a function, points down a tree; the criteria registry names no
module: it finds those that register criteria as plug-ins are found), and every public function documents its
parameters."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "ldpruner"


def imports() -> dict:
    graph = {}
    for f in PKG.glob("*.py"):
        if f.name.startswith("_"): continue
        deps = set()
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.ImportFrom) and n.module:
                mod = ("ldpruner." + n.module) if n.level == 1 else n.module
                if mod.startswith("ldpruner."): deps.add(mod.split(".")[1])
            if isinstance(n, ast.Import):                       # `import ldpruner.X` too, at the top or inside a function
                deps |= {a.name.split(".")[1] for a in n.names if a.name.startswith("ldpruner.")}
        graph[f.stem] = deps - {f.stem}
    return graph


def test_no_import_loop():
    graph, loops = imports(), []
    def walk(node, path):
        for d in graph.get(node, ()):
            if d in path: loops.append(" -> ".join(path[path.index(d):] + [d]))
            else: walk(d, path + [d])
    for n in graph: walk(n, [n])
    assert len(graph) > 10 and not loops, sorted(set(loops))


def library_notebooks() -> dict:
    "{module: notebook stem} for every library notebook (one that exports a module), in file-name order."
    import json, re
    out = {}
    for nb in sorted((PKG.parent / "nbs").glob("*.ipynb")):
        src = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        if m := re.search(r"#\| default_exp (\S+)", src): out[m.group(1)] = nb.stem
    return out


def test_library_notebooks_read_in_import_order():
    "A library notebook comes after every notebook whose module it imports: read in file order, nothing is used before it is built."
    graph, nbs = imports(), library_notebooks()
    order = {m: i for i, m in enumerate(nbs)}
    late = [f"{nbs[m]} imports {nbs[d]}" for m, deps in graph.items() for d in deps if d in order and order[d] > order[m]]
    assert len(nbs) > 20 and set(graph) <= set(nbs) and not late, late


def test_every_public_function_has_docments():
    "Each parameter of each exported function carries its comment, so the docs show a parameter table (nbdev docments)."
    missing = []
    for f in PKG.glob("*.py"):
        if f.name.startswith("_"): continue
        src = f.read_text(); lines = src.splitlines(); tree = ast.parse(src)
        names = next((ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                      and any(getattr(t, "id", "") == "__all__" for t in n.targets)), [])
        for n in tree.body:
            if isinstance(n, ast.FunctionDef) and n.name in names:
                a = n.args
                args = a.posonlyargs + a.args + a.kwonlyargs + [x for x in (a.vararg, a.kwarg) if x]
                if not all("#" in lines[x.lineno - 1] for x in args): missing.append(f"{f.stem}.{n.name}")
    assert not missing, missing


def test_no_state_stuck_onto_modules():
    "What ldpruner did to a U-Net is a `PruneRecord` in its config, not attributes set on the torch module."
    stuck = []
    for f in PKG.glob("*.py"):
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.Assign):
                for t in n.targets:
                    for x in ast.walk(t):
                        if isinstance(x, ast.Attribute) and x.attr.startswith(("ldpruner_", "bk_sdm_")): stuck.append(f"{f.stem}: .{x.attr}")
    assert not stuck, stuck


MOVED = {"ldpruner.models": {"ldpruner.references": ["REFERENCE_NAMES", "REFERENCES", "weights_root", "save_reference", "verify_reference",
                                                     "load_reference", "load_model"],
                             "ldpruner.text": ["SPECIAL_TOKENS", "WordTokenizer", "tiny_t5_encoder"]},
         "ldpruner.baselines": {"ldpruner.bksdm": ["BK_SDM_VARIANTS", "bk_sdm_config", "bk_sdm_unet", "bk_sdm_feature_map"],
                                "ldpruner.blockreuse": ["unet_blocks", "block_consumers", "computed_blocks", "BlockReuse", "block_costs",
                                                        "kept_compute", "deepcache_schedule"],
                                "ldpruner.dipgo": ["DipGoConfig", "dipgo_schedule", "train_dipgo"],
                                "ldpruner.random_criterion": ["random_scores", "random_criterion"],
                                "ldpruner.laptop_diff": ["calibration_set", "predict_noise", "output_loss_scores", "OutputLoss",
                                                         "output_loss_criterion"]},
         "ldpruner.protocols": {"ldpruner.cheaper_scoring": ["latency_filter", "score_coarse_to_fine", "plan_agreement"]},
         "ldpruner.report": {"ldpruner.report": [("bench", "bench_pruned")]}}


def test_moved_public_names_still_import_from_their_old_modules():
    "Every public name that moved keeps its old import path (with a DeprecationWarning), and is the same object."
    import importlib, warnings
    for old, homes in MOVED.items():
        for new, names in homes.items():
            for name in names:
                name, new_name = name if isinstance(name, tuple) else (name, name)    # a renamed name: (old, new)
                with warnings.catch_warnings(record=True) as w:
                    warnings.simplefilter("always")
                    got = getattr(importlib.import_module(old), name)
                assert got is getattr(importlib.import_module(new), new_name), (old, name)
                assert any(issubclass(x.category, DeprecationWarning) and new in str(x.message) for x in w), (old, name)


def test_the_cli_parses_calls_and_prints():
    "The pipeline lives in the library: cli.py imports no torch, and no `cmd_*` function is over 25 lines."
    tree = ast.parse((PKG / "cli.py").read_text())
    torch_imports = [n.lineno for n in ast.walk(tree) if (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "torch" for a in n.names))
                     or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "torch")]
    long = {n.name: n.end_lineno - n.lineno + 1 for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("cmd_")}
    assert not torch_imports, torch_imports
    assert len(long) >= 8 and all(v <= 25 for v in long.values()), long


def test_no_notebook_cell_that_prints_ends_in_a_semicolon():
    """execnb (which runs the notebooks for their committed outputs and under nbdev_test) drops a cell's printed output when
    its last line ends in `;`: a cell that prints ends another way (`fig = ...`), so its committed output is whole."""
    from execnb.nbio import read_nb
    bad = []
    for f in sorted((PKG.parent / "nbs").glob("*.ipynb")):
        for i, c in enumerate(read_nb(f).cells):
            src = c.source.rstrip()
            if c.cell_type == "code" and src.endswith(";") and "print(" in src: bad.append(f"{f.name} cell {i}")
    assert not bad, bad
