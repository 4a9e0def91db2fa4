"""The built book in a headless browser, offline: math rendered, no raw TeX, no broken images, no remote scripts.

Opens every page of book/_build/html with headless Chromium (flags from FACTS.md: no sandbox, no GPU, no background
networking, a fresh profile) via --dump-dom, and checks the DOM after MathJax has run. Saves screenshots of the intro
and of the closing-the-gap chapter under book/_build/screenshots/. Skips with a reason when Chromium or the built book
is missing (build it with `make book`, or `jupyter-book build . --path-output book` after executing the notebooks).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "book" / "_build" / "html"
SHOTS = ROOT / "book" / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars", "--virtual-time-budget=15000", "--run-all-compositor-stages-before-draw"]
SKIP_PAGES = {"genindex.html", "search.html"}

pytestmark = pytest.mark.slow


def _skip_reason() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is not installed (apt-get install chromium) — headless-browser checks skipped"
    if not (HTML / "index.html").is_file():
        return f"the book is not built ({HTML.relative_to(ROOT)}/index.html missing; run `make book`)"
    return None


def pages() -> list[Path]:
    if not HTML.is_dir():
        return []
    return sorted(p for p in HTML.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts and p.name not in SKIP_PAGES
                  and not (p.name == "index.html" and p.stat().st_size < 1000))  # index.html is a redirect stub


class _Collector(HTMLParser):
    """Text outside <script>/<style>, and every <img src> / <script src>."""

    def __init__(self):
        super().__init__()
        self.text, self.imgs, self.scripts, self._skip = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
            if tag == "script" and a.get("src"):
                self.scripts.append(a["src"])
        if tag == "img" and a.get("src"):
            self.imgs.append(a["src"])

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _collect(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    return c


def _chromium(args: list[str], timeout: int = 120) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as prof:
        out = subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={prof}", *args], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise AssertionError(f"chromium failed ({out.returncode}): {out.stderr[-2000:]}")
    return out.stdout


def _dump_dom(page: Path) -> str:
    return _chromium(["--dump-dom", page.as_uri()])


@pytest.fixture(scope="module")
def dom():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    cache = {}

    def get(page: Path) -> str:
        if page not in cache:
            cache[page] = _dump_dom(page)
        return cache[page]

    return get


def _page_ids():
    return [str(p.relative_to(HTML)) for p in pages()] or ["no-pages"]


@pytest.mark.parametrize("rel", _page_ids())
def test_page_renders_offline(rel, dom):
    page = HTML / rel
    if not page.is_file():
        pytest.skip("no built pages")
    raw = page.read_text(encoding="utf-8")
    static = _collect(raw)
    remote = [s for s in static.scripts if urlparse(s).scheme in ("http", "https") or s.startswith("//")]
    assert not remote, f"{rel} loads remote scripts: {remote}"
    broken = []
    for src in static.imgs:
        u = urlparse(src)
        if u.scheme in ("http", "https") or src.startswith("//"):
            broken.append(f"{src} (remote)")
            continue
        if u.scheme == "data":
            continue
        target = (page.parent / unquote(u.path)).resolve()
        if not target.is_file():
            broken.append(src)
    assert not broken, f"{rel} has broken images: {broken}"

    rendered = dom(page)
    text = " ".join(_collect(rendered).text)
    assert "$$" not in text, f"{rel} shows raw $$ (unparsed display math) in its text"
    has_math = 'class="math' in raw
    if has_math:
        assert "mjx-container" in rendered, f"{rel} has math but MathJax produced no mjx-container (is MathJax served offline?)"
        assert not re.search(r"\\\(|\\\[", text), f"{rel} shows raw \\( or \\[ TeX after MathJax ran"
    assert "Traceback (most recent call last)" not in text, f"{rel} shows a Python traceback"


def test_no_remote_urls_in_scripts_or_links():
    """No page references a CDN in a <script src> or <link href> (the book must work without network)."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    bad = []
    for page in pages():
        raw = page.read_text(encoding="utf-8")
        for m in re.finditer(r"<(script|link)\b[^>]*?(src|href)=\"(https?:)?//[^\"]+\"", raw):
            bad.append(f"{page.relative_to(HTML)}: {m.group(0)[:120]}")
    assert not bad, "remote resources: " + "; ".join(bad[:10])


@pytest.mark.parametrize("stem", ["book/intro", "book/executed/closing_the_gap"])
def test_screenshots(stem):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    page = HTML / f"{stem}.html"
    if not page.is_file():
        pytest.skip(f"{page.relative_to(ROOT)} not built")
    SHOTS.mkdir(parents=True, exist_ok=True)
    out = SHOTS / f"{Path(stem).name}.png"
    if out.exists():
        out.unlink()
    _chromium([f"--screenshot={out}", "--window-size=1280,3000", page.as_uri()])
    assert out.is_file() and out.stat().st_size > 10_000, f"no screenshot written for {stem}"
