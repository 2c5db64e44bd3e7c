"""Open every page of the built site in headless Chromium, as a reader would, and check what a reader would notice.

    python tools/check_docs.py [--site _docs] [--chromium /usr/bin/chromium] [--screens _screens]

The site is served on 127.0.0.1 (search needs HTTP). Every page must have a title and one <h1>, the sidebar with every
page of the navigation, no console errors, no raw `#|` directive, every image loaded with a non-zero size; the search
box must find the `prune` API entry for "prune". Screenshots of the index, one API page and one experiment page go to
--screens (git-ignored). Exit code 1 lists every failure.
"""
import argparse, functools, http.server, os, re, shutil, sys, threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
    page.on("console", lambda m: m.type == "error" and errors.append(f"console error: {m.text}"))
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
    for w in ("Warning", "IProgress not found", "/work/", "/tmp/", "site-packages"):      # in what cells printed
        if w in outputs: errors.append(f"an output shows {w!r}")
    if url.endswith("/pruning.html") and "/source/" not in url and page.locator("article table th:has-text('Details')").count() < 8:
        errors.append("the API page shows no parameter tables")
    bad = page.eval_on_selector_all("article img", "els => els.filter(e => !(e.complete && e.naturalWidth > 0)).map(e => e.getAttribute('src'))")
    if bad: errors.append(f"images not loaded: {bad[:3]}")
    return errors


def check_search(page, base: str) -> list[str]:
    page.goto(base + "index.html", wait_until="load")
    page.fill("input.md-search__input", "prune", timeout=10000)
    found = "els => els.some(e => /pruning\\.html(\\?[^#]*)?#prune$/.test(e.getAttribute('href')))"
    try: page.wait_for_function(f"() => ({found})([...document.querySelectorAll('a.md-search-result__link')])", timeout=10000)
    except Exception: return ["search for 'prune' does not return the prune API entry (pruning.html#prune)"]
    return []


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
    pages = nav_pages(site)
    srv, base = serve(site)
    failures = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, args=["--no-sandbox"])
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        for name in pages:
            pg = ctx.new_page()
            errs = check_page(pg, base + name, pages)
            if errs: failures[name] = errs
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
