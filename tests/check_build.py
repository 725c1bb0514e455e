"""Checks of the built course site and handouts (``make check-build``, run by ``make test``).

Run after ``make site handouts`` (``make check-build`` does both first)::

    .venv/bin/python -m pytest tests/check_build.py

Not collected by a plain ``pytest`` (the file name does not start with ``test_``): it checks build
outputs, which ``make test`` makes after the notebook tests have stored their executions.

The site, in headless Chromium **with the network off**: Chromium gets a dead proxy
(``--proxy-server=127.0.0.1:9``) and a host resolver that resolves nothing but 127.0.0.1, and every
request each page makes is read from the DevTools log and must go to the local server. The site is
served from 127.0.0.1, and also opened from the disk (``file://``). Checked: the table of contents
lists every numbered notebook, previous/next links walk through them in order, the README's
notebook table and the slide map (with links that work) are there, every ``$...$`` is typeset by
MathJax (no raw TeX, no MathJax error), no page has a widget view or slider left, every notebook
page has a widget note with its Binder link, every figure has loaded and has an alt text, search
works, and no request failed.

The handouts (``build/handouts``): one per numbered notebook, none with solution text
(coursekit.handouts.leaks), every other cell kept.

Environment: ``COURSE_SITE_DIR`` (default build/site), ``COURSE_HANDOUT_DIR`` (default
build/handouts), ``ARTIFACTS_DIR`` (screenshots go to ``$ARTIFACTS_DIR/site``), ``CI`` (a missing
browser fails instead of skipping).
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coursekit import config, handouts  # noqa: E402
from coursekit.notebooks import is_solution, numbered_notebooks, read, split_details_solutions  # noqa: E402

SITE = Path(os.environ.get("COURSE_SITE_DIR", REPO / "build" / "site")).resolve()
HANDOUTS = Path(os.environ.get("COURSE_HANDOUT_DIR", REPO / "build" / "handouts")).resolve()
NOTEBOOKS = numbered_notebooks()
STEMS = [p.stem for p in NOTEBOOKS]
CHROMIUM = Path(os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


# --------------------------------------------------------------------------- handouts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=STEMS)
def test_handout_has_no_solution_text(path: Path):
    handout_path = HANDOUTS / path.name
    assert handout_path.is_file(), f"{handout_path} missing: run `make handouts`"
    instructor, handout = read(path), read(handout_path)
    problems = handouts.leaks(handout, instructor)
    assert not problems, "\n".join(problems)
    converted, _ = split_details_solutions(instructor)
    kept = [c.source for c in converted.cells if not is_solution(c)]
    assert [c.source for c in handout.cells] == kept, "the handout must keep every non-solution cell"


# --------------------------------------------------------------------------- site: files


def test_site_built_with_every_notebook():
    assert (SITE / "index.html").is_file(), f"{SITE}/index.html missing: run `make site`"
    for stem in STEMS:
        assert (SITE / "notebooks" / f"{stem}.html").is_file(), f"no page for {stem}"
    assert (SITE / "docs" / "slide_map.html").is_file()
    assert (SITE / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax is not shipped with the site"


def test_pages_reference_nothing_remote():
    """No script, stylesheet, font or image is loaded from another host (links are fine)."""
    bad = []
    for page in SITE.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        for m in re.finditer(r"<(script|link|img|iframe|source)\b[^>]*?\b(src|href)=\"(https?:)?//[^\"]+\"", html):
            tag = m.group(0)
            if m.group(1) == "link" and not re.search(r'rel="(stylesheet|preload|modulepreload|icon)"', tag):
                continue
            bad.append(f"{page.relative_to(SITE)}: {tag[:120]}")
    assert not bad, "remote resources:\n" + "\n".join(bad[:20])


# --------------------------------------------------------------------------- site: browser


class _Handler(http.server.SimpleHTTPRequestHandler):
    failures: list[str] = []

    def log_message(self, fmt, *args):  # quiet; remember failed requests
        pass

    def log_request(self, code="-", size="-"):
        if str(code).isdigit() and int(code) >= 400 and self.path != "/favicon.ico":
            self.failures.append(f"{code} {self.path}")


@pytest.fixture(scope="module")
def server():
    if not (SITE / "index.html").is_file():
        pytest.fail(f"{SITE}/index.html missing: run `make site`")
    _Handler.failures = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(SITE)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    problems = [f"{p} not found" for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        problems.append("python package 'selenium' not installed")
    if problems:
        reason = "; ".join(problems) + " (install with scripts/install_browser.sh)"
        if _in_ci():
            pytest.fail(f"site check cannot run under CI: {reason}")
        pytest.skip(reason)
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager must not download anything
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--window-size=1300,1000", f"--user-data-dir={profile}",
                 "--allow-file-access-from-files",
                 # the network is off: a dead proxy, and no name resolves but the loopback address
                 "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER))
    drv = webdriver.Chrome(service=service, options=opts)
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(60)
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def shots() -> Path:
    base = os.environ.get("ARTIFACTS_DIR")
    path = (Path(base) if base else REPO / "build" / "artifacts") / "site"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _requests(drv) -> list[str]:
    urls = []
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def _assert_local(drv, base: str) -> list[str]:
    urls = _requests(drv)
    remote = [u for u in urls if urlparse(u).scheme in ("http", "https", "ws", "wss", "ftp")
              and not u.startswith(base)]
    assert not remote, "the page tried to reach the network:\n" + "\n".join(remote[:20])
    return urls


_MATHJAX_DONE = """
const done = arguments[arguments.length - 1];
const t0 = Date.now();
(function wait() {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) { mj.startup.promise.then(() => done(true), e => done('error: ' + e)); }
  else if (Date.now() - t0 > 30000) { done('MathJax did not load'); }
  else { setTimeout(wait, 100); }
})();
"""

_MATH_STATE = r"""
const math = Array.from(document.querySelectorAll('article span.math, article div.math'));
const prose = document.querySelector('article').cloneNode(true);
prose.querySelectorAll('pre, code, script, style, .cell_output, mjx-container, .math').forEach(e => e.remove());
return {
  total: math.length,
  rendered: math.filter(e => e.querySelector('mjx-container')).length,
  errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
  raw: (prose.innerText.match(/\$[^$\n]{1,120}\$|\\\([^\n]{1,120}?\\\)/g) || []).slice(0, 5),
};
"""


def _open(drv, url: str, wait_math: bool = True):
    # Chromium's performance log is per driver session, not per page: leave the previous page
    # (another test's, possibly still loading or prefetching its "next" link) and drain what it
    # requested, so _assert_local judges this page's requests only.
    drv.get("about:blank")
    drv.get_log("performance")
    drv.get(url)
    if wait_math:
        status = drv.execute_async_script(_MATHJAX_DONE)
        assert status is True, f"{url}: {status}"


def _page_stem(drv) -> str:
    return Path(unquote(urlparse(drv.current_url).path)).stem


def test_index_toc_and_readme_table(driver, server, shots):
    from selenium.webdriver.common.by import By

    _open(driver, f"{server}/index.html", wait_math=False)
    driver.save_screenshot(str(shots / "index.png"))
    toc = [Path(urlparse(a.get_attribute("href")).path).stem
           for a in driver.find_elements(By.CSS_SELECTOR, ".bd-sidebar-primary a.reference.internal")
           if "/notebooks/" in (a.get_attribute("href") or "")]
    assert toc == STEMS, f"sidebar table of contents {toc} != notebooks {STEMS}"
    tables = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "article table")]
    assert any("claim shown and checked" in t for t in tables), "the README's notebook table is missing"
    assert driver.find_elements(By.CSS_SELECTOR, "article a[href*='docs/slide_map']"), "no link to the slide map"
    _assert_local(driver, server)


def test_next_and_previous_links_walk_the_notebooks(driver, server):
    from selenium.webdriver.common.by import By

    _open(driver, f"{server}/notebooks/{STEMS[0]}.html", wait_math=False)
    visited = [_page_stem(driver)]
    for _ in STEMS[1:]:
        driver.find_element(By.CSS_SELECTOR, "a.right-next").click()
        visited.append(_page_stem(driver))
    assert visited == STEMS, f"next links visit {visited}, expected {STEMS}"
    if len(STEMS) > 1:
        driver.find_element(By.CSS_SELECTOR, "a.left-prev").click()
        assert _page_stem(driver) == STEMS[-2]
    _assert_local(driver, server)


def test_slide_map_links_to_notebooks(driver, server):
    from selenium.webdriver.common.by import By

    _open(driver, f"{server}/docs/slide_map.html", wait_math=False)
    links = driver.find_elements(By.CSS_SELECTOR, "article table a[href*='notebooks/']")
    targets = {Path(urlparse(a.get_attribute("href")).path).stem for a in links}
    assert targets == set(STEMS), f"slide map links {sorted(targets)}, notebooks {STEMS}"
    links[0].click()
    assert _page_stem(driver) in STEMS
    _assert_local(driver, server)


@pytest.mark.parametrize("stem", STEMS)
def test_notebook_page_offline(driver, server, shots, stem):
    """Math typeset, no widget left, a widget note with the Binder link, figures loaded with alt text."""
    from selenium.webdriver.common.by import By

    _open(driver, f"{server}/notebooks/{stem}.html")
    math = driver.execute_script(_MATH_STATE)
    assert math["total"] > 0, "no math on the page: expected $...$ from the notebook's markdown"
    assert math["rendered"] == math["total"], f"MathJax typeset {math['rendered']} of {math['total']} formulas"
    assert math["errors"] == 0, f"{math['errors']} MathJax errors"
    assert not math["raw"], f"raw TeX left in the text: {math['raw']}"

    leftovers = driver.execute_script(
        "return document.querySelectorAll('.widget-slider, .jupyter-widgets, "
        "script[type^=\"application/vnd.jupyter.widget\"]').length")
    assert leftovers == 0, f"{leftovers} widget elements on a static page"
    notes = driver.find_elements(By.CSS_SELECTOR, ".coursekit-widget")
    assert notes, "no widget note: every notebook has a widget (standard 3)"
    binder = config.load().binder_url(f"notebooks/{stem}.ipynb")
    for note in notes:
        hrefs = [a.get_attribute("href") for a in note.find_elements(By.TAG_NAME, "a")]
        assert binder in hrefs, f"widget note without the Binder link {binder}: {hrefs}"

    images = driver.execute_script(
        "return Array.from(document.querySelectorAll('article img')).map(i => "
        "({src: i.getAttribute('src'), alt: i.getAttribute('alt') || '', ok: i.complete && i.naturalWidth > 0}))")
    assert images, "no figures on the page"
    for img in images:
        assert img["ok"], f"figure did not load: {img['src']}"
        assert img["alt"].strip() and img["alt"] != img["src"] and not img["alt"].endswith(".png"), \
            f"figure without a real alt text: {img}"
    driver.save_screenshot(str(shots / f"{stem}.png"))
    _assert_local(driver, server)


def test_search_works_offline(driver, server):
    from selenium.webdriver.common.by import By

    _open(driver, f"{server}/search.html?q=kernel", wait_math=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not driver.find_elements(By.CSS_SELECTOR, "#search-results li"):
        time.sleep(0.3)
    assert driver.find_elements(By.CSS_SELECTOR, "#search-results li"), "search for 'kernel' found nothing"
    _assert_local(driver, server)


def test_site_opens_from_disk(driver):
    """Copied to a laptop or a USB stick and opened as file://, math and navigation still work."""
    from selenium.webdriver.common.by import By

    _open(driver, (SITE / "notebooks" / f"{STEMS[0]}.html").as_uri())
    math = driver.execute_script(_MATH_STATE)
    assert math["total"] > 0 and math["rendered"] == math["total"], math
    if len(STEMS) > 1:
        driver.find_element(By.CSS_SELECTOR, "a.right-next").click()
        assert _page_stem(driver) == STEMS[1]
    _assert_local(driver, "file://")


def test_no_request_failed(server, driver):
    """Every file a page asked the local server for existed (MathJax fonts and extensions included)."""
    assert not _Handler.failures, "failed requests:\n" + "\n".join(_Handler.failures)
