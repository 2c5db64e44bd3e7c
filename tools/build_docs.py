"""Build the documentation site and the README from the notebooks.

    python tools/build_docs.py            # README.md from nbs/index.ipynb, and the site in _docs/ (open _docs/index.html)
    python tools/build_docs.py --check    # the same, but fail if README.md is not what nbs/index.ipynb renders to

Each notebook goes through nbdev's own documentation processors (`nbdev.processors.FilterDefaults`: directives,
`show_doc` with its docments parameter tables, cross-reference links; what `nbdev_docs` does before Quarto), then
nbconvert's Markdown exporter, and Material for MkDocs builds the site. Material renders nbdev's Markdown as it is
(tables, attribute lists on links, raw HTML outputs such as audio players) and gives a sidebar, search that runs in
the browser from a static folder, a table of contents and previous/next links; Quarto, which `nbdev_docs` needs,
cannot be installed on our machines (`_quarto.yml` stays for those who have it).
"""
import argparse, html, json, multiprocessing, re, shutil, subprocess, sys, warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
from nbconvert import MarkdownExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from nbdev.processors import FilterDefaults
from execnb.nbio import read_nb

# nbdev notes cells that mix imports with code (it runs only the imports for show_doc): true here, and not a problem
warnings.filterwarnings("ignore", message="Found cells containing imports and other code")
ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
SRC = ROOT / "_docs_src"            # the generated Markdown (git-ignored)
HEADER = "<!-- generated from nbs/index.ipynb by tools/build_docs.py: edit the notebook, not this file -->\n\n"
NBDEV_SITE = "https://ldpruner.github.io/ldpruner/"    # where nbdev's settings put the site: its links become relative
NBDEV_SRC = re.compile(r"https://github\.com/ldpruner/ldpruner/blob/[^/]+/ldpruner/(\w+)\.py#L(\d+|None)")

# the sidebar label of each experiment notebook: the paper item (or role) it stands for, and what it does
EXPERIMENTS = {"20_train_t2i": "Training tiny-t2i", "21_train_uig": "Training tiny-uig", "22_train_uag": "Training tiny-uag",
               "23_reference_quality": "Figs. 10-12: the reference models", "24_finetune_t2i": "Tab. 3: preserved weights vs scratch",
               "25_protocols": "§3.3: cheaper scoring protocols", "26_compare_t2i": "Tab. 1, Fig. 7a: beside the other methods",
               "27_dipgo_t2i": "DiP-GO, DeepCache: reuse across steps", "28_audio_uag": "Tab. 2: audio, three seeds",
               "29_formulas_t2i": "Figs. 6-7: score formulas", "30_threshold_t2i": "Tab. 1 past 2x: after distillation",
               "31_userdata_t2i": "Your own data, from the CLI", "32_rounds": "Beyond: pruning in rounds",
               "33_fast_protocol": "Beyond: a 5x cheaper protocol", "34_compose_t2i": "Beyond: LD-Pruner × DiP-GO, peers' packages",
               "35_seeds_t2i": "Seeds under the t2i claims", "36_seeds_dipgo_audio": "Seeds under DiP-GO, uig threshold",
               "37_compose_seeds_t2i": "Seeds under LD-Pruner × step reuse",
               "38_rounds_seeds_t2i": "Seeds under pruning in rounds", "39_plain_t2i": "Beyond: a stock-diffusers architecture",
               "20a_train_pixart": "Training tiny-pixart", "40_transformer_t2i": "Beyond: a transformer denoiser",
               "41_audio_paper_point": "Tab. 2 at the paper's point, audio threshold", "42_operators_uig_uag": "Figs. 11-12, 14-15: image and audio",
               "43_kd_weights_t2i": "Tab. 4: the KD weights", "44_fid_along_finetuning_uig": "Fig. 5: FID along finetuning, images"}

# the library's sidebar: modules grouped by what they do, each labelled by what it holds (the page title stays the module's name)
LIBRARY = {
    "Models and operators": {"models": "Models and the LDM bundle", "references": "Reference models, load_model", "families": "diffusers families",
                             "denoisers": "Transformer denoisers", "text": "Tokenizer and text encoders", "conditioning": "Conditioning",
                             "operators": "Operators", "latents": "The latent loop"},
    "Scoring and criteria": {"scoring": "LD-Pruner's score (Algorithm 1)", "criteria": "Criteria and their registry",
                             "random_criterion": "Random criterion (how to add one)", "laptop_diff": "LAPTOP-Diff's output loss",
                             "block_mse": "Flux.1-Lite's block MSE", "cheaper_scoring": "Cheaper scoring protocols", "rounds": "Pruning in rounds"},
    "Pruning and measuring": {"pruning": "Pruning and pruned models", "bench": "Measured speed", "pipeline": "The whole pipeline",
                              "samples": "Samples beside the base", "report": "Reports", "cli": "The ldpruner command"},
    "Recovery and evaluation": {"finetune": "Distillation", "metrics": "Metrics", "tasks": "Reference tasks", "data": "Offline datasets",
                                "userdata": "Your prompts and data", "train": "Training the references"},
    "The other methods": {"bksdm": "BK-SDM's students", "blockreuse": "Block reuse across steps", "dipgo": "DiP-GO", "reuse": "Reuse schedules"},
    "Package": {"init": "The package", "core": "Errors, fingerprints, registries, atomic writes", "experiments": "Experiment helpers",
                "baselines": "Old names (ldpruner.baselines)", "protocols": "Old names (ldpruner.protocols)"},
}


def page_name(nb: Path) -> str:
    """The page a notebook becomes: a library notebook's as nbdev names it (number dropped: 10_pruning -> pruning), which
    is where nbdev's cross-reference links point; an experiment keeps its number (25_protocols is not `protocols`)."""
    if nb.stem == "index" or is_experiment(nb): return nb.stem
    return re.sub(r"^\d+[a-z]?_", "", nb.stem)


def notebooks() -> list[Path]:
    return sorted(p for p in NBS.glob("*.ipynb") if not p.name.startswith("_"))


def is_experiment(nb: Path) -> bool:
    "Library notebooks export a module; the others (from 20 on) are experiments."
    return nb.stem != "index" and not any(c.cell_type == "code" and "#| default_exp" in c.source for c in read_nb(nb).cells)


def frontmatter(nb: Path) -> tuple[str, str]:
    "(title, summary) from the notebook's first markdown cell (`# title` and `> summary`)."
    src = next((c.source for c in read_nb(nb).cells if c.cell_type == "markdown"), "")
    title = re.search(r"^#\s+(.+)$", src, re.M)
    summ = re.search(r"^>\s*(.+(?:\n>.*)*)", src, re.M)
    return (title.group(1).strip() if title else nb.stem), (re.sub(r"\n>\s*", " ", summ.group(1)).strip() if summ else "")


def processed(path: Path) -> nbformat.NotebookNode:
    "The notebook after nbdev's doc processors: hidden cells dropped, `show_doc` run, directives and export markers removed."
    nb = read_nb(path)
    FilterDefaults()(nb)
    keep = ("cell_type", "source", "metadata", "outputs", "execution_count", "attachments")
    cells = []
    for c in nb.cells:
        if c.cell_type == "raw": continue                  # Quarto front matter: the title is written from the notebook
        c = {k: v for k, v in dict(c).items() if k in keep}
        c.setdefault("metadata", {})
        if c["cell_type"] == "markdown":
            c["source"] = re.sub(r"<!-- WARNING: THIS FILE WAS AUTOGENERATED! DO NOT EDIT! -->\s*", "", c["source"])
        if c["cell_type"] == "code":
            c.setdefault("outputs", []); c.setdefault("execution_count", None)
            if re.search(r"^#\|\s*echo:\s*false", c["source"], re.M):      # output only (show_doc), as Quarto shows it
                c["metadata"] = {**c["metadata"], "tags": ["remove_input"]}
            c["source"] = "\n".join(l for l in c["source"].splitlines() if not l.lstrip().startswith("#|")).strip()
            c["outputs"] = [o2 for o in merged_streams(c["outputs"]) for o2 in tables_of(o)]
        cells.append(c)
    d = {"cells": cells, "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 4}
    return nbformat.reads(json.dumps(d), as_version=4)


def merged_streams(outputs: list) -> list:
    "A cell's consecutive prints to one stream as one output (one block on the page, not several with gaps between)."
    out = []
    for o in outputs:
        o = dict(o)
        if o.get("output_type") == "stream" and out and out[-1].get("output_type") == "stream" and out[-1].get("name") == o.get("name"):
            out[-1] = {**out[-1], "text": "".join(out[-1]["text"]) + "".join(o["text"])}
        else: out.append(o)
    return out


RULE = re.compile(r"^-{20,}\s*$")


def _columns(lines: list[str]) -> list[tuple[int, int]]:
    "Character spans of a fixed-width table's columns: runs between the positions that are blank on every line."
    width = max(len(l) for l in lines)
    blank = [all(i >= len(l) or l[i] == " " for l in lines) for i in range(width)]
    spans, start = [], None
    for i, b in enumerate(blank + [True]):
        if not b and start is None: start = i
        if b and start is not None: spans.append((start, i)); start = None
    return spans


def printed_table(head: str, rows: list[str]) -> list[list[str]] | None:
    """The cells of a printed table (a header line over a rule of dashes, then rows), or None when its columns do not
    line up. A blank position inside a header ("FID (domain)") or a cell ("random (seed 0)") splits a column only where
    every line is blank there; such a split leaves a column with an empty header (merged into its left neighbour) or
    with no value in any row (merged into its right neighbour)."""
    lines = [head] + rows
    spans = _columns(lines)
    cells = [[l[a:b].strip() for a, b in spans] for l in lines]
    for j in range(len(spans) - 1, 0, -1):                           # "± spread" aligned in every row: its mean's column
        pairs = [(r[j - 1], r[j]) for r in cells[1:] if r[j - 1]]    # rows with a mean there have its spread beside it
        if pairs and all(b.startswith("±") for a, b in pairs):
            for r in cells: r[j - 1] = f"{r[j - 1]} {r[j]}".strip(); del r[j]
            del spans[j]
    j = 0
    while j < len(spans):
        col = [r[j] for r in cells]
        if j > 0 and not col[0]:                                       # no header: part of the column on its left
            for r in cells: r[j - 1] = f"{r[j - 1]} {r[j]}".strip(); del r[j]
            del spans[j]; continue
        if j + 1 < len(spans) and not any(col[1:]):                    # no values: a header word of the column on its right
            for r in cells: r[j + 1] = f"{r[j]} {r[j + 1]}".strip(); del r[j]
            del spans[j]; continue
        if all(v in ("|", "") for v in col):                           # a printed column rule
            for r in cells: del r[j]
            del spans[j]; continue
        j += 1
    if len(spans) < 2 or any("  " in v for r in cells for v in r): return None     # columns that do not line up: left printed
    return cells


def tables_of(o: dict) -> list[dict]:
    """A printed output with result tables in it as HTML: each table (header, rule of dashes, rows up to a blank line) a
    real table, the lines around it preformatted, so a wide table wraps in the text column instead of scrolling."""
    if o.get("output_type") != "stream" or o.get("name") != "stdout": return [o]
    lines = "".join(o["text"]).splitlines()
    if not any(RULE.match(l) for l in lines[1:]): return [o]
    parts, pre, i = [], [], 0
    flush = lambda: (parts.append(f"<pre class=\"printed\">{html.escape(chr(10).join(pre).strip(chr(10)))}</pre>") if "".join(pre).strip() else None, pre.clear())
    while i < len(lines):
        if i + 1 < len(lines) and RULE.match(lines[i + 1]) and lines[i].strip():
            end = next((k for k in range(i + 2, len(lines)) if not lines[k].strip()), len(lines))
            cells = printed_table(lines[i], lines[i + 2:end])
            if cells:
                flush()
                head = "".join(f"<th>{html.escape(c)}</th>" for c in cells[0])
                body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in cells[1:])
                parts.append(f"<table class=\"printed\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
                i = end; continue
        pre.append(lines[i]); i += 1
    flush()
    return [{"output_type": "display_data", "metadata": {}, "data": {"text/html": "\n".join(parts), "text/plain": "".join(o["text"])}}]


def _exporter():
    ex = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True)
    ex.register_preprocessor(TagRemovePreprocessor(remove_input_tags={"remove_input"}), enabled=True)
    return ex


def to_markdown(nb: Path) -> tuple[str, dict]:
    "(Markdown body, {file name: bytes} of its images) of a processed notebook."
    body, res = _exporter().from_notebook_node(processed(nb), resources={"output_files_dir": f"{page_name(nb)}_files"})
    return body, res.get("outputs", {})


def site_links(text: str, prefix: str = "", ext: str = ".md") -> str:
    "nbdev's absolute links to the site (and notebook links) made relative: `prefix` + page + `ext`."
    names = {p.stem: page_name(p) for p in notebooks()}
    text = re.sub(re.escape(NBDEV_SITE) + r"([\w.-]+)\.html", lambda m: f"{prefix}{m.group(1)}{ext}", text)
    text = re.sub(r"\]\((?:\.\./nbs/|\./)?(\w+)\.ipynb", lambda m: f"]({prefix}{names.get(m.group(1), m.group(1))}{ext}", text)
    return text


def notebook_links(md: str) -> str:
    "A notebook named in prose (`24_finetune_t2i`, `nbs/24_finetune_t2i.ipynb`) becomes a link to its page; code blocks are left alone."
    names = {p.stem: page_name(p) for p in notebooks()}
    def link(m):
        stem = m.group(1)
        return f"[`{stem}`]({names[stem]}.md)" if stem in names else m.group(0)
    parts = re.split(r"(^```.*?^```)", md, flags=re.M | re.S)
    pat = re.compile(r"(?<!\[)`(?:nbs/)?(\d{2,3}[a-z]?_\w+)(?:\.ipynb)?`(?!\]|\()")
    return "".join(p if i % 2 else pat.sub(link, p) for i, p in enumerate(parts))


def source_links(text: str) -> str:
    """show_doc's source links point to the page's own copy of the module's source (line anchors), which works offline;
    where nbdev found no line (`#LNone`: a class made by a factory), to the top of that source page."""
    return NBDEV_SRC.sub(lambda m: f"source/{m.group(1)}.md" + ("" if m.group(2) == "None" else f"#__codelineno-0-{m.group(2)}"), text)


def _split_default(part: str) -> tuple[str, str]:
    "'type=default' -> (type, default), splitting at the first '=' outside brackets."
    depth = 0
    for i, ch in enumerate(part):
        if ch in "([{": depth += 1
        elif ch in ")]}": depth -= 1
        elif ch == "=" and depth == 0: return part[:i], part[i + 1:]
    return part, ""


def _split_params(code: str) -> list[str]:
    "'a:int=1, b:str=\'x, y\'' -> ['a:int=1', \"b:str='x, y'\"]: the commas outside brackets and quotes."
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(code):
        if quote: quote = None if ch == quote else quote
        elif ch in "'\"": quote = ch
        elif ch in "([{": depth += 1
        elif ch in ")]}": depth -= 1
        elif ch == "," and depth == 0: parts.append(code[start:i]); start = i + 1
    return [p.strip() for p in parts + [code[start:]] if p.strip()]


def _param_rows(line: str, docs: dict) -> list[tuple[str, str, str, str]]:
    """(name, type, default, details) of each parameter on one line of fastcore's signature (`    name:type=default, # details`;
    a dataclass's signature puts several on a line): details from the comment, else from the object's docments."""
    if not line.startswith("    ") or line.strip().startswith((")", "#")): return []
    code, _, comment = line.strip().partition(" # ")
    rows = []
    for part in _split_params(code.rstrip().removesuffix(",")):
        name, sep, rest = part.partition(":")
        if not sep: name, default = _split_default(part); typ = ""
        else: typ, default = _split_default(rest)
        name = name.strip()
        rows.append([name, typ.strip(), default.strip(), docs.get(name.lstrip("*")) or ""])
    if rows and comment.strip(): rows[-1][3] = comment.strip()
    return [(n, t, d, x.replace("|", "\\|").replace("\n", " ")) for n, t, d, x in rows]


def _docments(module: str | None, name: str) -> dict:
    "{parameter: its docments comment} of `name` in `module`, or {} where it cannot be found."
    if not module: return {}
    try:
        import importlib
        from fastcore.docments import docments
        obj = getattr(importlib.import_module(module), name)
        return {k: v for k, v in docments(obj).items() if isinstance(v, str)}
    except Exception: return {}


def _code(x: str) -> str:
    "Code in a table cell: an HTML code element with its `|` as an entity (in a backtick span a table's `\\|` shows literally)."
    return f"<code>{html.escape(x).replace('|', '&#124;')}</code>" if x else ""


def param_tables(md: str, module: str | None = None) -> str:
    """Under each signature `show_doc` writes (one parameter a line, its docments comment beside it), a parameter table:
    name, type, default and details, one parameter a row, as nbdev's docs show them."""
    def table(m):
        sig = m.group(1)
        lines = sig.splitlines()
        docs = _docments(module, re.match(r"(?:def|class) (\w+)", lines[0]).group(1))
        rows = [r for line in lines[1:] for r in _param_rows(line, docs)]
        if not rows: return m.group(0)
        ret = re.search(r"\)\s*->\s*(.+?):?\s*$", lines[-1])
        out = ["|  | **Type** | **Default** | **Details** |", "|---|---|---|---|"]
        out += [f"| {_code(n)} | {_code(t)} | {_code(d)} | {x} |" for n, t, d, x in rows]
        if ret: out.append(f"| **Returns** | {_code(ret.group(1).strip())} |  |  |")
        bare = "\n".join(l.partition(" # ")[0].rstrip() for l in lines)      # the comments are in the table now
        return f"```python\n{bare}\n```\n\n" + "\n".join(out) + "\n"
    return re.sub(r"(?<=\n)```python\n((?:def|class) \w+\(\n(?:.*\n)*?\).*)\n```", table, md)


def page(nb: Path) -> tuple[str, dict]:
    title, summary = frontmatter(nb)
    body, files = to_markdown(nb)
    body = re.sub(r"\A\s*#\s+.+\n(\s*>.*\n)*", "", body)             # the notebook's own title cell, written again below
    boost = "search:\n  boost: 0.5\n" if is_experiment(nb) else "search:\n  boost: 3\n"   # API entries first in search results
    if module_of(nb) == "ldpruner.cli": body += "\n\n" + commands_reference()
    text = f"---\ntitle: {json.dumps(title)}\n{boost}---\n\n# {title}\n\n" + (f"> {summary}\n\n" if summary else "") + body.strip() + "\n"
    return source_links(site_links(notebook_links(figure_alt_text(param_tables(text, module_of(nb)))))), files


def commands_reference() -> str:
    "Every `ldpruner` command's options as tables, read from the argparse parser itself (so the page cannot go stale)."
    import argparse
    from ldpruner.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in sub._choices_actions}
    out = ["## Every command's options", "", "Read from `build_parser()`, the parser the command itself runs.", ""]
    for name, p in sub.choices.items():
        out += [f"### ldpruner {name}", "", helps.get(name) or p.description or "", "", "| option | default | what it does |", "|---|---|---|"]
        for a in p._actions:
            if isinstance(a, argparse._HelpAction): continue
            opt = ", ".join(a.option_strings) or a.dest.upper()
            if a.choices and not isinstance(a.choices, dict): opt += " {" + ", ".join(map(str, a.choices)) + "}"
            dflt = "" if a.default is None or a.default is argparse.SUPPRESS or a.default is False or a.required else str(a.default)
            cell = lambda x: html.escape(x).replace("|", "&#124;")
            out.append(f"| <code>{cell(opt)}</code> | {('<code>' + cell(dflt) + '</code>') if dflt else ''} | {cell(a.help or '')} |")
        out.append("")
    return "\n".join(out)


def module_of(nb: Path) -> str | None:
    "The module a library notebook exports (`#| default_exp`), as an import name."
    for c in read_nb(nb).cells:
        if c.cell_type == "code" and (m := re.search(r"#\|\s*default_exp\s+(\S+)", c.source)): return f"ldpruner.{m.group(1)}"
    return None


def readme() -> str:
    nb = NBS / "index.ipynb"
    title, summary = frontmatter(nb)
    body, _ = to_markdown(nb)
    body = re.sub(r"\A\s*#\s+.+\n(\s*>.*\n)*", "", body)
    text = HEADER + f"# {title}\n\n> {summary}\n\n" + body.strip() + "\n"
    text = text.replace("](../", "](")                    # links relative to nbs/ become relative to the repo root
    text = site_links(text, prefix="_docs/", ext=".html")
    return re.sub(r"\n{3,}", "\n\n", text)


def module_source_pages(out: Path) -> list[str]:
    "One page per module with its source, numbered lines anchored, for show_doc's source links."
    (out / "source").mkdir(exist_ok=True)
    mods = sorted(p for p in (ROOT / "ldpruner").glob("*.py") if not p.name.startswith("_"))
    for m in mods:
        front = f"---\ntitle: \"Source of ldpruner/{m.name}\"\nsearch:\n  exclude: true\n---\n\n"   # out of search: the API pages answer
        (out / "source" / f"{m.stem}.md").write_text(f"{front}# ldpruner/{m.name}\n\n```python linenums=\"1\"\n{m.read_text()}```\n")
    return [f"source/{m.stem}.md" for m in mods]


def nav() -> list:
    "Home, the library in groups (each module labelled by what it holds), the experiments; source pages are linked, not listed."
    pages = {page_name(nb): nb for nb in notebooks() if nb.stem != "index"}
    listed = {name for group in LIBRARY.values() for name in group}
    lib = [{g: [{label: f"{name}.md"} for name, label in group.items() if name in pages]} for g, group in LIBRARY.items()]
    lib += [{name: f"{name}.md"} for name, nb in pages.items() if not is_experiment(nb) and name not in listed]   # a new module, until it is grouped
    exp = [{EXPERIMENTS.get(nb.stem, frontmatter(nb)[0]): f"{name}.md"} for name, nb in pages.items() if is_experiment(nb)]
    return [{"Home": "index.md"}, {"Library": lib}, {"Experiments": exp}]


def quarto_sidebar() -> str:
    "nbs/sidebar.yml, which `_quarto.yml` names: the same Library / Experiments sidebar, for anyone who builds with Quarto."
    lines = ["website:", "  sidebar:", "    contents:", "      - index.ipynb"]
    for section, keep in (("Library", False), ("Experiments", True)):
        lines += [f"      - section: {section}", "        contents:"]
        lines += [f"          - {nb.name}" for nb in notebooks() if nb.stem != "index" and is_experiment(nb) == keep]
    return "\n".join(lines) + "\n"


def _importable():
    """This file as a module workers can import by name: nbdev's show_doc runs each notebook in IPython, which replaces
    `__main__` in whichever process runs it, so a function pickled as `__main__.page` is not found there afterwards."""
    sys.path.insert(0, str(Path(__file__).parent))
    import build_docs
    return build_docs


def build_site(site: Path) -> int:
    "Write every page's Markdown into _docs_src/ and build the site into `site` with MkDocs; returns the page count."
    shutil.rmtree(SRC, ignore_errors=True); SRC.mkdir()
    docs = SRC / "docs"; docs.mkdir()
    nbs = notebooks()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:   # nbdev runs each notebook's exports
        pages = list(pool.map(_importable().page, nbs))
    for nb, (text, files) in zip(nbs, pages):
        (docs / f"{page_name(nb)}.md").write_text(text)
        for name, data in files.items():
            (docs / name).parent.mkdir(parents=True, exist_ok=True)
            (docs / name).write_bytes(data)
    shutil.copy(ROOT / "tools" / "docs.css", docs / "docs.css")
    for extra in ("benchmarks",):                                          # figures the index links to
        if (ROOT / extra).is_dir(): shutil.copytree(ROOT / extra, docs / extra)
    sources = module_source_pages(docs)
    cfg = {"INHERIT": str(ROOT / "mkdocs.yml"), "docs_dir": str(docs), "site_dir": str(site.resolve()), "nav": nav(),
           "site_name": f"ldpruner {version()}", "not_in_nav": "/source/*.md"}
    (SRC / "mkdocs.yml").write_text(json.dumps(cfg, indent=1))       # JSON is YAML
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(SRC / "mkdocs.yml")],
                       capture_output=True, text=True)
    if r.returncode: sys.exit(f"mkdocs build failed:\n{r.stdout}{r.stderr}")
    relative_404(site)
    shorter_titles_first(site)
    return len(notebooks())


def version() -> str:
    "The package's version, as settings.ini (and so `ldpruner.__version__`) has it."
    return re.search(r"^version\s*=\s*(\S+)", (ROOT / "settings.ini").read_text(), re.M).group(1)


def figure_alt_text(md: str) -> str:
    """nbconvert gives every figure the alt text "png": each gets the heading of its section instead (numbered where a
    section has several), which is what a screen reader and a broken image then show."""
    out, heading, count = [], "", 0
    for line in md.splitlines(keepends=True):
        if (h := re.match(r"#{1,4}\s+(.+)", line)): heading, count = h.group(1).strip(), 0
        def alt(m):
            nonlocal count
            count += 1
            label = heading or "figure"
            return f"![{label} (figure {count})" + "]("
        out.append(re.sub(r"!\[(?:png|svg|jpeg|image/png)\]\(", alt, line))
    return "".join(out)


def relative_404(site: Path):
    """MkDocs writes the 404 page's styles, scripts and links from the site root (`/assets/...`), which leaves it unstyled
    when the site is opened from a folder or served under a sub-path: make them relative to the site's top folder."""
    page = site / "404.html"
    if page.exists(): page.write_text(re.sub(r'(\s(?:href|src))="/(?!/)', r'\1="', page.read_text()))


def title_terms(title: str, separator: str) -> int:
    "How many search terms a section title splits into under the search's own separator (its HTML tags dropped)."
    return max(1, len([t for t in re.split(separator, re.sub(r"<[^>]+>", "", title)) if t]))


def shorter_titles_first(site: Path, weight: float = 0.5):
    """Material's search turns off lunr's length normalisation (`b = 0`) and appends a wildcard to what is typed, so
    "prune" matches the titles `prune`, `pruned_class` and `PrunedUNet2DModel` alike and their other terms and text
    decide, where a long class docstring wins. Length normalisation for titles, as a section boost: a section whose title
    splits into n terms gets `1 + weight / n` times its page's boost, so the entry whose name is what the reader
    typed comes first among the entries that contain it."""
    path = site / "search" / "search_index.json"
    index = json.loads(path.read_text())
    sep = index["config"]["separator"]
    for doc in index["docs"]:
        if "#" in doc["location"] and doc.get("title"):
            doc["boost"] = round(doc.get("boost", 1) * (1 + weight / title_terms(doc["title"], sep)), 4)
    path.write_text(json.dumps(index, separators=(",", ":")))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if README.md is stale (what CI runs)")
    ap.add_argument("--site", default=str(ROOT / "_docs"), help="where the site goes (default _docs/)")
    a = ap.parse_args()
    text = readme()
    if a.check and (ROOT / "README.md").read_text() != text:
        sys.exit("README.md is not what nbs/index.ipynb renders to: run python tools/build_docs.py")
    if a.check and (NBS / "sidebar.yml").read_text() != quarto_sidebar():
        sys.exit("nbs/sidebar.yml is stale: run python tools/build_docs.py")
    if not a.check: (ROOT / "README.md").write_text(text); (NBS / "sidebar.yml").write_text(quarto_sidebar())
    n = build_site(Path(a.site))
    print(f"README.md {'up to date' if a.check else 'written'}; {n} pages built into {a.site} (open {Path(a.site) / 'index.html'})")
