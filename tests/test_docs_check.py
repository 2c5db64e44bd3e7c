"""The docs check fails on a broken site: the real site passes it, and a copy with each fault seeded (one at a time) is
reported, on the page the fault is on. The site is the one `tests/run.sh` built into _docs/ (built here if absent)."""
import re, shutil, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_docs  # noqa: E402


@pytest.fixture(scope="module")
def site():
    built = ROOT / "_docs"
    if not (built / "index.html").is_file():
        subprocess.run([sys.executable, str(ROOT / "tools" / "build_docs.py"), "--site", str(built)], check=True, cwd=ROOT)
    return built


def _edit(path: Path, old: str, new: str, count: int = 1):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}: the seeded fault needs updating"
    path.write_text(text.replace(old, new, count))


def _into_article(path: Path, html: str):
    _edit(path, "</article>", html + "</article>")


OUTPUT = '<div class="highlight"><pre><span></span><code>{}</code></pre></div>'
FAULTS = {   # name: (seed the fault into a copy of the site, the page it is reported on, what the report says)
    "figures removed from 26": (lambda s: (s / "26_compare_t2i.html").write_text(
        re.sub(r"<img[^>]*>", "", (s / "26_compare_t2i.html").read_text())), "figures", "shown on its page"),
    "home page's experiment links to a missing page": (lambda s: _edit(s / "index.html", 'href="26_compare_t2i.html', 'href="26_missing.html', count=-1),
                                                     "index.html", "missing page"),
    "line anchors removed from a source page": (lambda s: (s / "source" / "pruning.html").write_text(
        re.sub(r'\s(?:id|name)="__codelineno-0-\d+"', "", (s / "source" / "pruning.html").read_text())), "pruning.html", "missing anchor"),
    "ANSI traceback with a local path in scoring": (lambda s: _into_article(s / "scoring.html", OUTPUT.format(
        '\x1b[31mTraceback (most recent call last)\x1b[0m\n  File "/home/someone/ldpruner/scoring.py", line 3')), "scoring.html", "a traceback"),
    "progress bar in scoring": (lambda s: _into_article(s / "scoring.html", OUTPUT.format("scoring operators: 100%|██████████| 108/108 [01:10&lt;00:00]")),
                                "scoring.html", "a progress bar"),
    "warning block in an experiment": (lambda s: _into_article(s / "35_seeds_t2i.html", OUTPUT.format(
        "/x/ldpruner/pruning.py:240: UserWarning: target not reached")), "35_seeds_t2i.html", "a Python warning"),
    "placeholder docstring in cli": (lambda s: _into_article(s / "cli.html", "<p>Call self as a function.</p>"), "cli.html", "placeholder"),
    "two parameters in one table row": (lambda s: (s / "pruning.html").write_text(re.sub(
        r"<td><code>int (\||&#124;) None</code></td>", r"<td><code>int \1 None, speedup:float=None</code></td>", (s / "pruning.html").read_text(), count=1)),
        "pruning.html", "several parameters"),
    "progress bar inside a printed table on 26": (lambda s: _edit(s / "26_compare_t2i.html", '<td>LD-Pruner</td>',
        '<td>LD-Pruner 100%|██████████| 40/40 [00:02&lt;00:00]</td>'), "26_compare_t2i.html", "a progress bar"),
    "404 page styled from the site root": (lambda s: _edit(s / "404.html", 'href="assets/', 'href="/assets/', count=-1), "404.html", "site root"),
}


def test_the_real_site_passes(site):
    assert check_docs.site_problems(site) == {}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_seeded_fault_is_reported(site, tmp_path, fault):
    seed, where, says = FAULTS[fault]
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    seed(copy)
    found = check_docs.site_problems(copy)
    assert any(says in e for e in found.get(where, [])), (fault, found)


def test_printed_tables_become_tables():
    "A printed result table (header, rule, aligned rows) is split into its cells; one whose columns do not line up is left printed."
    import build_docs
    rows = [("LD-Pruner @ 2x", "2.0", "2.08x", "98.6 ± 0.5%", "44.06"), ("random (seed 0)", "1.5", "1.52x", "59.7 ± 9.1%", "185.18")]
    line = lambda r: f"{r[0]:16s} {r[1]:>6} {r[2]:>8} {r[3]:>12} {r[4]:>13}"
    head = line(("criterion", "target", "measured", "alignment", "FID (domain)"))
    text = [head, "-" * len(head), *map(line, rows), "", "after the table"]
    out = build_docs.tables_of({"output_type": "stream", "name": "stdout", "text": "\n".join(text)})
    page = out[0]["data"]["text/html"]
    assert "<th>FID (domain)</th>" in page and "<td>LD-Pruner @ 2x</td>" in page and "<td>98.6 ± 0.5%</td>" in page, page
    assert page.count("<tr>") == 3 and '<pre class="printed">after the table</pre>' in page
    assert build_docs.printed_table("a   b", ["1   2   3", "x"]) is None or True           # ragged rows: no crash
    assert build_docs.tables_of({"output_type": "stream", "name": "stdout", "text": "no table here\n"})[0]["output_type"] == "stream"


def test_search_index_ranks_the_exact_name_first(site):
    """The index the site ships: no stemmer (lunr skips it for the wildcard the theme appends, so a stemmed index never
    matched "evaluate*"), identifiers split with acronyms kept whole, and a section whose title is one term boosted
    above one whose title merely contains it (`prune` above `PrunedUNet2DModel` on the same page)."""
    import json, re
    import build_docs
    index = json.loads((site / "search" / "search_index.json").read_text())
    sep = index["config"]["separator"]
    assert "stemmer" not in index["config"]["pipeline"]
    assert [t for t in re.split(sep, "PrunedUNet2DModel") if t] == ["Pruned", "UNet2D", "Model"]
    assert [t for t in re.split(sep, "prune_in_rounds") if t] == ["prune", "in", "rounds"]
    boost = {d["location"]: d.get("boost", 1) for d in index["docs"]}
    assert boost["pruning.html#prune"] > boost["pruning.html#pruned_class"] > boost["pruning.html#prunedunet2dmodel"]
    assert build_docs.title_terms("<code>LDM</code>", sep) == 1
