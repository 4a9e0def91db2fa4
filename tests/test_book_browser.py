"""The built book in a headless browser, offline, as a reader sees it at 1280 px and on a phone (400 px).

Opens every page of the CI book (book/_build/ci/_build/html, made by `make test`; SCOREGAP_BOOK_HTML names another
built book, e.g. book/_build/html of `make book`) with headless Chromium (no sandbox, no GPU, no background
networking, a fresh profile). A copy of each page, written beside it for the run, carries a script that waits for
MathJax and then measures the page: it must show no raw TeX (`$`, `\\(`, `\\[` in any text outside source code, i.e.
in prose, tables and printed outputs: math is MathJax's output only), no element sticking out of the content column
at 1280 px unless it sits in its own scroll container, no text clipped (CSS ellipsis, hidden overflow, table cells cut
with "…"), no traceback. Screenshots of every page at 1280 px and 400 px, full height, are saved under
<book>/screenshots/. Skips with a reason when Chromium or the built book is missing.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("SCOREGAP_BOOK_HTML", "") or ROOT / "book" / "_build" / "ci" / "_build" / "html")
SHOTS = HTML.parent / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars", "--virtual-time-budget=15000",
         "--run-all-compositor-stages-before-draw", "--allow-file-access-from-files"]
SKIP_PAGES = {"genindex.html", "search.html"}
WIDE, PHONE = 1280, 400
MAX_SHOT_HEIGHT = 16_000  # Chromium's largest capture
CHECK_ID = "scoregap-check"

pytestmark = pytest.mark.slow

# Runs in the page after MathJax has typeset it; writes its findings as JSON into <pre id="scoregap-check">.
CHECK_SCRIPT = """
<script>
(function () {
  function desc(el) {
    var s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    if (el.classList.length) s += '.' + Array.from(el.classList).slice(0, 3).join('.');
    var t = (el.innerText || el.textContent || '').replace(/\\s+/g, ' ').trim();
    return s + ' "' + t.slice(0, 70) + '"';
  }
  function isSource(el) {  // code a reader reads as code: cell inputs and literals outside printed outputs
    if (el.closest('script, style, mjx-container, mjx-assistive-mml, .MathJax, .cell_input, #scoregap-check')) return true;
    return !el.closest('.cell_output, .output') && !!el.closest('pre, code, .highlight');
  }
  function scrolls(el, stop) {  // el or an ancestor below `stop` is its own horizontal scroll container
    for (var p = el; p && p !== stop; p = p.parentElement) {
      var o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll') return true;
    }
    return false;
  }
  function run() {
    var art = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
    var col = art.getBoundingClientRect();
    var out = {width: window.innerWidth, height: document.documentElement.scrollHeight, column: [col.left, col.right],
               mathjax: !!document.querySelector('mjx-container'), raw_tex: [], wide: [], clipped: []};
    var walker = document.createTreeWalker(art, NodeFilter.SHOW_TEXT), n;
    while ((n = walker.nextNode())) {
      var m = /\\$|\\\\\\(|\\\\\\[/.exec(n.data);
      if (m && n.parentElement && !isSource(n.parentElement)) {
        out.raw_tex.push(n.data.slice(Math.max(0, m.index - 30), m.index + 40).replace(/\\s+/g, ' '));
      }
    }
    var flagged = new Set();
    art.querySelectorAll('*').forEach(function (el) {
      if (el.closest('mjx-assistive-mml, .margin, aside, .sidebar, .headerlink, #scoregap-check')) return;
      var r = el.getBoundingClientRect();
      if (!r.width || !r.height) return;
      var s = getComputedStyle(el);
      if (r.right > col.right + 1 || r.left < col.left - 1) {
        if (!scrolls(el.parentElement, art) && !flagged.has(el.parentElement)) {
          out.wide.push(desc(el) + ' spans ' + Math.round(r.left) + '–' + Math.round(r.right) + ' px, column '
                        + Math.round(col.left) + '–' + Math.round(col.right));
        }
        flagged.add(el);
      }
      if (el.closest('mjx-container, span.math')) return;  // MathJax lays out its own glyph boxes
      var hidden = s.overflowX === 'hidden' || s.overflowX === 'clip';
      if (hidden && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) out.clipped.push(desc(el) + ' (overflow hidden)');
      else if (s.textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth + 1) out.clipped.push(desc(el) + ' (CSS ellipsis)');
    });
    art.querySelectorAll('mjx-container[display="true"]').forEach(function (el) {  // a display equation must fit
      var box = el.parentElement, inner = el.firstElementChild, r = el.getBoundingClientRect();
      var cut = el.scrollWidth > el.clientWidth + 1 || (box && box.scrollWidth > box.clientWidth + 1)
                || (inner && inner.getBoundingClientRect().width > r.width + 1);
      if (cut) out.clipped.push(desc(el) + ' (display equation wider than the column: break it with aligned)');
    });
    art.querySelectorAll('td, th').forEach(function (el) {
      if (/(…|\\.\\.\\.)\\s*$/.test(el.textContent)) out.clipped.push(desc(el) + ' (cut with …)');
    });
    var pre = document.createElement('pre');
    pre.id = 'scoregap-check';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  function start(tries) {
    var needsMath = !!document.querySelector('.math, .MathJax_Preview, span.math, div.math');
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(function () { setTimeout(run, 50); });
    } else if (needsMath && tries > 0) {
      setTimeout(function () { start(tries - 1); }, 100);
    } else {
      run();
    }
  }
  window.addEventListener('load', function () { start(50); });
})();
</script>
"""


def _skip_reason() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is not installed (apt-get install chromium) — headless-browser checks skipped"
    if not (HTML / "index.html").is_file():
        return f"the book is not built ({HTML}/index.html missing; `make test` builds the CI book first)"
    return None


def pages() -> list[Path]:
    if not HTML.is_dir():
        return []
    return sorted(p for p in HTML.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts
                  and p.name not in SKIP_PAGES and ".check" not in p.name
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
        out = subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={prof}", *args], capture_output=True, text=True,
                             timeout=timeout)
    if out.returncode != 0:
        raise AssertionError(f"chromium failed ({out.returncode}): {out.stderr[-2000:]}")
    return out.stdout


def measure(page: Path, width: int, html: str | None = None) -> dict:
    """The check script's findings for `page` (or for `html` standing in its place) in a window `width` px wide."""
    text = page.read_text(encoding="utf-8") if html is None else html
    probe = page.with_name(f"{page.stem}.check{width}.html")  # beside the page, so its relative links resolve
    probe.write_text(text.replace("</body>", CHECK_SCRIPT + "</body>", 1), encoding="utf-8")
    try:
        dom = _chromium([f"--window-size={width},1000", "--dump-dom", probe.as_uri()])
    finally:
        probe.unlink(missing_ok=True)
    m = re.search(rf'<pre id="{CHECK_ID}"[^>]*>(.*?)</pre>', dom, re.S)
    assert m, f"{page.name}: the check script did not report (page failed to load or MathJax never finished)"
    import html as _html
    return json.loads(_html.unescape(m.group(1)))


def screenshot(page: Path, width: int, height: int, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    _chromium([f"--screenshot={out}", f"--window-size={width},{min(max(height, 600), MAX_SHOT_HEIGHT)}", page.as_uri()])
    assert out.is_file() and out.stat().st_size > 5_000, f"no screenshot written for {page.name} at {width} px"
    return out


def problems(found: dict) -> list[str]:
    """One line per defect in a page's findings at 1280 px."""
    lines = [f"raw TeX: …{s}…" for s in found["raw_tex"]]
    lines += [f"wider than the column: {s}" for s in found["wide"]]
    lines += [f"clipped: {s}" for s in found["clipped"]]
    return lines


def _page_ids():
    return [str(p.relative_to(HTML)) for p in pages()] or ["no-pages"]


@pytest.fixture(scope="module")
def book():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("rel", _page_ids())
def test_page_reads_cleanly(rel, book):
    """Offline resources, rendered math, no raw TeX, nothing wider than the column, nothing clipped; two screenshots."""
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
        elif u.scheme != "data" and not (page.parent / unquote(u.path)).resolve().is_file():
            broken.append(src)
    assert not broken, f"{rel} has broken images: {broken}"

    with ThreadPoolExecutor(2) as pool:
        wide, phone = pool.map(lambda w: measure(page, w), (WIDE, PHONE))
    stem = str(Path(rel).with_suffix("")).replace("/", "_")
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda a: screenshot(page, *a), [(WIDE, wide["height"], SHOTS / f"{stem}.{WIDE}.png"),
                                                       (PHONE, phone["height"], SHOTS / f"{stem}.{PHONE}.png")]))
    if 'class="math' in raw:
        assert wide["mathjax"], f"{rel} has math but MathJax produced no mjx-container (is MathJax served offline?)"
    text = " ".join(_collect(raw).text)
    assert "Traceback (most recent call last)" not in text, f"{rel} shows a Python traceback"
    bad = problems(wide)
    assert not bad, f"{rel} at {WIDE} px:\n  " + "\n  ".join(bad[:25]) + (f"\n  … {len(bad) - 25} more" if len(bad) > 25 else "")


def test_checks_catch_planted_defects(book):
    """A page with a raw `$w_R$` in a printed output, an over-wide block and a cell cut with "…" fails each check."""
    chapters = [p for p in pages() if p.parent.name == "executed"] or pages()
    page = chapters[0]
    planted = ('<div class="cell_output docutils container"><div class="output stream highlight-myst-ansi notranslate">'
               '<div class="highlight"><pre><span></span>verdict at $w_R = 10$: closed</pre></div></div></div>'
               '<div style="width:3000px">a block wider than the column</div>'
               '<table><tr><td>C2: the ODE improves as w_R grows while the SDE…</td></tr></table>')
    html = page.read_text(encoding="utf-8")
    marker = re.search(r"<article[^>]*>", html)
    assert marker, f"{page.name} has no <article>"
    found = measure(page, WIDE, html[:marker.end()] + planted + html[marker.end():])
    assert any("$w_R = 10$" in s for s in found["raw_tex"]), found["raw_tex"]
    assert any("3000" in s or "wider" in s for s in found["wide"]), found["wide"]
    assert any("cut with" in s for s in found["clipped"]), found["clipped"]


def test_no_remote_urls_in_scripts_or_links(book):
    """No page references a CDN in a <script src> or <link href> (the book must work without network)."""
    bad = []
    for page in pages():
        raw = page.read_text(encoding="utf-8")
        for m in re.finditer(r"<(script|link)\b[^>]*?(src|href)=\"(https?:)?//[^\"]+\"", raw):
            bad.append(f"{page.relative_to(HTML)}: {m.group(0)[:120]}")
    assert not bad, "remote resources: " + "; ".join(bad[:10])
