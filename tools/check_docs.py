"""Open every page of the built site in headless Chromium, as a reader would, and check what a reader would notice.

    python tools/check_docs.py [--site _docs] [--chromium /usr/bin/chromium] [--screens _screens]

The site is served on 127.0.0.1 (search needs HTTP). Every page must have a title and one <h1>, the sidebar with every
page of the navigation, no console errors, no raw `#|` directive, every image loaded with a non-zero size; a search
for an API name (`prune`, `distill`, `find_operators`) must list its entry among the first five results. Screenshots of the index, one API page and one experiment page go to
--screens (git-ignored). Exit code 1 lists every failure.

Before the browser, `site_problems` reads the built HTML itself: every internal link and anchor resolves, every figure
a notebook committed is on its page, no cell output holds a progress bar, ANSI codes, a traceback, a Python warning
block or a local path, no docstring is a placeholder, every parameter table holds one parameter a row, and the 404
page loads its styles relative to itself (so it works from a folder or a sub-path). `tests/test_docs_check.py` seeds
each of those faults into a copy of the site and asserts that the check reports it.
"""
import argparse, functools, html, http.server, json, os, re, shutil, sys, threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]

PROGRESS_BAR = re.compile(r"\d+%\|[^|\n]{3,}\|")                  # tqdm's "100%|█████| 108/108"
ANSI = re.compile(r"\x1b\[|\[\d+(;\d+)*m")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
WARNING_BLOCK = re.compile(r"^\S*\.py:\d+: \w*Warning:|^\w*Warning: ", re.M)   # what warnings.showwarning prints
LOCAL_PATH = re.compile(r"(?<![\w.])(/work/|/tmp/|/home/|/root/|[A-Za-z]:\\Users\\)|site-packages")
PLACEHOLDERS = ("Call self as a function.", "Initialize self.  See help(type(self))")
PARAM = re.compile(r"\*{0,2}[A-Za-z_]\w*\s*(:|=)")                  # `name:type` or `name=default`


def _pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "assets" not in p.parts and "search" not in p.parts)


def _ids(text: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', text)) | set(re.findall(r'\sname="([^"]+)"', text))


def _article(text: str) -> str:
    m = re.search(r"<article\b.*?</article>", text, re.S)
    return m.group(0) if m else ""


def _outputs(article: str) -> list[str]:
    """The text of what cells printed: code blocks without a language (a cell's source is `language-python`), and the
    printed result tables the build turned into HTML (`pre.printed`, `table.printed`)."""
    blocks = re.findall(r'<div class="highlight"><pre>(?:<span></span>)?<code[^>]*>(.*?)</code></pre>', article, re.S)
    blocks += re.findall(r'<(?:pre|table) class="printed">(.*?)</(?:pre|table)>', article, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", b)) for b in blocks]


def link_problems(site: Path, page: Path, text: str, ids: dict) -> list[str]:
    "Internal links of `page` that lead nowhere: a missing file, or an anchor its target does not have."
    out = []
    for href in set(re.findall(r'\shref="([^"]+)"', text)):
        u = urlsplit(html.unescape(href))
        if u.scheme or u.netloc or href.startswith(("mailto:", "javascript:")): continue
        target = page if not u.path else (page.parent / unquote(u.path)).resolve()
        if target.is_dir(): target = target / "index.html"
        if not target.exists(): out.append(f"link to a missing page: {href}"); continue
        if u.fragment and target.suffix == ".html":
            if target not in ids: ids[target] = _ids(target.read_text(errors="replace"))
            if unquote(u.fragment) not in ids[target]: out.append(f"link to a missing anchor: {href}")
    return out


def output_problems(outputs: list[str]) -> list[str]:
    out = []
    for o in outputs:
        for what, pat in (("a progress bar", PROGRESS_BAR), ("ANSI codes", ANSI), ("a traceback", TRACEBACK),
                          ("a Python warning", WARNING_BLOCK), ("a local path", LOCAL_PATH)):
            if (m := pat.search(o)): out.append(f"an output shows {what}: {o[max(0, m.start() - 30):m.end() + 30].strip()!r}")
    return out


def _several(cell: str) -> bool:
    "Whether a type or default cell runs on into another parameter (`500, batch:int=32`; commas inside brackets aside)."
    sys.path.insert(0, str(Path(__file__).parent))
    from build_docs import _split_params
    return any(PARAM.match(p) for p in _split_params(cell)[1:])


def table_problems(article: str) -> list[str]:
    "Parameter tables (Type / Default / Details) whose rows hold more than one parameter."
    out = []
    for t in re.findall(r"<table>.*?</table>", article, re.S):
        if "Default" not in t or "Details" not in t: continue
        for row in re.findall(r"<tr>(.*?)</tr>", t, re.S):
            cells = [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            if len(cells) >= 3 and (_several(cells[1]) or _several(cells[2])):
                out.append(f"a parameter table row holds several parameters: {cells[0]} | {cells[1]} | {cells[2][:60]}")
    return out


def committed_figures(nbs: Path) -> dict[str, int]:
    "{notebook stem: images its committed outputs hold}."
    counts = {}
    for nb in sorted(nbs.glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        counts[nb.stem] = sum(1 for c in cells for o in c.get("outputs", []) if any(k.startswith("image/") for k in o.get("data", {})))
    return counts


def figure_problems(site: Path, nbs: Path) -> list[str]:
    sys.path.insert(0, str(Path(__file__).parent))
    from build_docs import page_name
    out = []
    for stem, n in committed_figures(nbs).items():
        page = site / f"{page_name(nbs / (stem + '.ipynb'))}.html"
        if not n or not page.exists(): continue
        shown = re.findall(r'<img[^>]*src="([^"]+)"', _article(page.read_text()))
        present = [s for s in shown if s.startswith("data:") or (page.parent / unquote(s)).exists()]
        if len(present) < n: out.append(f"{n} figures committed in {stem}.ipynb, {len(present)} shown on its page")
    return out


def not_found_problems(site: Path) -> list[str]:
    page = site / "404.html"
    if not page.exists(): return ["no 404 page"]
    rooted = re.findall(r'<(?:link|script)[^>]*(?:href|src)="(/[^/][^"]*)"', page.read_text())
    return [f"the 404 page loads {r} from the site root (unstyled from a folder or a sub-path)" for r in rooted[:3]]


def site_problems(site: Path, nbs: Path = ROOT / "nbs") -> dict[str, list[str]]:
    "{page: problems} the built HTML shows, without a browser."
    found, ids = {}, {}
    for page in _pages(site):
        text = page.read_text(errors="replace")
        art = _article(text)
        errs = link_problems(site, page, text, ids)
        if "source" not in page.relative_to(site).parts:
            errs += output_problems(_outputs(art)) + table_problems(art)
            errs += [f"a placeholder docstring: {p!r}" for p in PLACEHOLDERS if p in art]
        if errs: found[page.relative_to(site).as_posix()] = errs
    for key, errs in (("figures", figure_problems(site, nbs)), ("404.html", not_found_problems(site))):
        if errs: found.setdefault(key, []).extend(errs)
    return found


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Quiet, directory=str(folder))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/"


def nav_pages(site: Path) -> list[str]:
    "The pages the site's navigation lists (read from the index page's sidebar)."
    html = (site / "index.html").read_text()
    tags = re.findall(r'<a\s[^>]*class="md-nav__link[^"]*"[^>]*>', html)
    hrefs = {m.group(1) for t in tags if (m := re.search(r'href="([\w./-]+\.html)"', t))}
    return sorted(hrefs | {"index.html"})


def check_page(page, url: str, pages: list[str]) -> list[str]:
    errors = []
    page.on("console", lambda m: m.type == "error" and not _offline_only(m) and errors.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.goto(url, wait_until="load")
    title = page.title()
    if not title or title.startswith("Notebook"): errors.append(f"title is {title!r}")
    if page.locator("article h1").count() != 1: errors.append(f"{page.locator('article h1').count()} <h1> in the article")
    links = set(page.eval_on_selector_all("nav.md-nav--primary a.md-nav__link[href]", "els => els.map(e => e.getAttribute('href'))"))
    base = lambda l: l.split("#")[0].rsplit("/", 1)[-1]      # page names are unique, wherever the link is relative from
    listed = {base(l) for l in links} | {base(url)}
    missing = [p for p in pages if base(p) not in listed]
    if missing: errors.append(f"navigation lacks {missing[:5]}")
    text = page.inner_text("article")
    if "#|" in text: errors.append("raw '#|' directive in the page")
    outputs = "" if "/source/" in url else "\n".join(page.eval_on_selector_all("article pre > code", "els => els.filter(e => !/language-/.test((e.closest('.highlight') || {}).className || '')).map(e => e.innerText)"))
    if "26_compare_t2i" in url and "hardware:" not in outputs: errors.append("the outputs of cells are not found (check broken)")
    if WARNING_BLOCK.search(outputs): errors.append("an output shows a Python warning")   # not a name such as LDPrunerWarning
    for w in ("IProgress not found", "/work/", "/tmp/", "site-packages"):                   # in what cells printed
        if w in outputs: errors.append(f"an output shows {w!r}")
    if url.endswith("/pruning.html") and "/source/" not in url and page.locator("article table th:has-text('Details')").count() < 8:
        errors.append("the API page shows no parameter tables")
    bad = page.eval_on_selector_all("article img", "els => els.filter(e => !(e.complete && e.naturalWidth > 0)).map(e => e.getAttribute('src'))")
    if bad: errors.append(f"images not loaded: {bad[:3]}")
    return errors


SEARCHES = {"prune": "pruning.html#prune", "distill": "finetune.html#distill", "find_operators": "operators.html#find_operators",
            "evaluate": "tasks.html#evaluate", "PrunedUNet2DModel": "pruning.html#prunedunet2dmodel", "LDM": "models.html#ldm"}

def _offline_only(message) -> bool:
    """A console error that only says another host could not be reached (the theme asks GitHub for the repository's
    stars; this machine is offline): not the site's fault. A file of the site itself failing to load still counts."""
    return any(e in message.text for e in ("ERR_NAME_NOT_RESOLVED", "ERR_INTERNET_DISCONNECTED"))    # the site is served by IP


def check_search(page, base: str, searches: dict = SEARCHES) -> list[str]:
    """A reader who types an API name gets its entry as the first result: the first section listed (the first link is
    its page). A query typed before the index is ready is dropped, so it is typed again until results come."""
    errors = []
    for query, want in searches.items():
        page.goto(base + "index.html", wait_until="load")
        found = False
        for _ in range(8):
            page.fill("input.md-search__input", "", timeout=10000); page.fill("input.md-search__input", query, timeout=10000)
            page.keyboard.press("End")                    # a key event: the theme searches on input and on keyup
            try: page.wait_for_selector("a.md-search-result__link", state="attached", timeout=5000); found = True; break
            except Exception: pass
        if not found: errors.append(f"search for {query!r} returns nothing"); continue
        page.wait_for_timeout(500)                        # the worker fills the list in one go; let it settle
        hrefs = page.eval_on_selector_all("a.md-search-result__link", "els => els.map(e => e.getAttribute('href'))")
        links = [urlsplit(h).path.rsplit("/", 1)[-1] + "#" + urlsplit(h).fragment for h in hrefs[:8]]
        sections = [h for h in links if not h.endswith("#")]
        if not sections or not sections[0].endswith(want):
            errors.append(f"search for {query!r}: the first result is {sections[:1]}, not {want} ({links})")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", default=str(ROOT / "_docs"))
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium"))
    ap.add_argument("--screens", default=str(ROOT / "_screens"))
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright
    site, screens = Path(a.site), Path(a.screens)
    if not (site / "index.html").is_file(): sys.exit(f"{site}/index.html not found: build the site first (python tools/build_docs.py)")
    screens.mkdir(exist_ok=True)
    failures = site_problems(site)
    pages = nav_pages(site)
    srv, base = serve(site)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, args=["--no-sandbox"])
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        for name in pages:
            pg = ctx.new_page()
            errs = check_page(pg, base + name, pages)
            if errs: failures.setdefault(name, []).extend(errs)
            if name in ("index.html", "pruning.html", "26_compare_t2i.html"): pg.screenshot(path=str(screens / name.replace(".html", ".png")), full_page=False)
            pg.close()
        pg = ctx.new_page()
        errs = check_search(pg, base)
        if errs: failures["search"] = errs
        else: pg.screenshot(path=str(screens / "search.png"))
        browser.close()
    srv.shutdown()
    for name, errs in failures.items():
        for e in errs: print(f"FAIL {name}: {e}")
    print(f"{len(pages)} pages opened in Chromium; {len(failures)} with problems; screenshots in {screens}")
    sys.exit(1 if failures or len(pages) < 20 else 0)


if __name__ == "__main__":
    main()
