"""The book (tools/build_book.py), built afresh and read in headless Chromium from disk: on every
page no console error, every image loaded, every equation typeset by the local MathJax, every
link inside the book leading to a file and an anchor that exist, and no request to any host.
Screenshots of the landing page and of chapter 4 (its top, and its equations (1) to (3)) are saved
in book/_build/screenshots.

Runs once, under the numpy backend (the book does not depend on the array backend); skips where
Sphinx's book extra, selenium or Chromium and its driver are missing (CI installs them)."""
import json
import os
import re
import shutil
import sys
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "book" / "_build"
INDEX = ROOT / "docs" / "EQUATIONS.md"

pytestmark = pytest.mark.skipif(os.environ.get("MINIL2O_BACKEND") == "strict",
                                reason="the book is checked once, under the numpy backend")


def find_browser():
    """(Chromium, its driver) on this machine, or None."""
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                    "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


# ---------------------------------------------------------------------------------------------
# The equation index: its rows link to their derivations and functions (no browser needed)
# ---------------------------------------------------------------------------------------------

ROW = re.compile(r"^\| ([^|]+) \| [^|]+ \| ([^|]+) \| ([^|]+) \|$")
SECTION_LINK = re.compile(r"^\[(\d+\.\d+)\]\(\.\./tutorials/(\d\d)_\w+\.ipynb#(\d+)-[\w-]+\)$")
FUNCTION_LINK = re.compile(r"\[`(minil2o(?:\.\w+)+)`\]\(\.\./(minil2o/[\w/]+\.py)\)")


def equation_rows():
    """(citation, derived-in cell, functions cell) for each row of the index's equation tables."""
    return [m.groups() for m in map(ROW.match, INDEX.read_text(encoding="utf-8").splitlines())
            if m and m.group(1) != "citation"]


def test_every_index_row_links_its_derivation_and_functions():
    rows = equation_rows()
    assert len(rows) >= 80
    for citation, derived, functions in rows:
        link = SECTION_LINK.match(derived.strip())
        assert link, f"{citation}: the derived-in cell is not a link to a chapter section"
        section, chapter, anchor = link.groups()
        assert int(section.split(".")[0]) == int(chapter) and anchor == section.replace(".", "")
        names = re.findall(r"`(minil2o(?:\.\w+)+)`", functions)
        linked = FUNCTION_LINK.findall(functions)
        assert [n for n, _ in linked] == names, f"{citation}: a function without its link"
        for name, path in linked:
            module = path[:-len(".py")].replace("/", ".").removesuffix(".__init__")
            assert name.startswith(module + ".") and (ROOT / path).is_file(), (citation, name)


def test_the_row_check_sees_a_missing_link():
    good = "[4.1](../tutorials/04_learning_to_learn.ipynb#41-the-optimizer-as-a-recurrent-network)"
    assert SECTION_LINK.match(good)
    assert not SECTION_LINK.match("4.1") and not SECTION_LINK.match(good.replace("#41", ""))
    assert FUNCTION_LINK.findall("[`minil2o.meta.unroll`](../minil2o/meta.py)") == \
        [("minil2o.meta.unroll", "minil2o/meta.py")]
    assert not FUNCTION_LINK.findall("`minil2o.meta.unroll`")


# ---------------------------------------------------------------------------------------------
# The book in a browser
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site():
    """The book, built afresh into book/_build; a warning fails the build."""
    if os.environ.get("CI"):
        import myst_nb  # noqa: F401  (CI installs the book extra: a missing one fails here)
    pytest.importorskip("myst_nb", reason="the book extra is not installed: pip install -e .[book]")
    sys.path.insert(0, str(ROOT / "tools"))
    import build_book
    assert build_book.build(OUT, strict=True) == 0, "the book's build failed or warned"
    return OUT / "html"


@pytest.fixture(scope="module")
def browser(site):
    found = find_browser()
    if found is None and os.environ.get("CI"):
        pytest.fail("CI must install chromium and chromium-driver (.ci/run does)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    if found is None:
        pytest.skip("no chromium and chromedriver on this machine")
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=found[1]))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


# After the page has loaded: images loaded eagerly, MathJax finished; then what the page holds.
INSPECT = """
const done = arguments[arguments.length - 1];
document.querySelectorAll('img').forEach(img => { img.loading = 'eager'; });
const deadline = Date.now() + 20000;
const images = new Promise(ok => { const poll = () =>
    [...document.images].every(i => i.complete) || Date.now() > deadline ? ok()
                                                                        : setTimeout(poll, 50);
  poll(); });
const math = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
const late = new Promise(ok => setTimeout(ok, 25000));
Promise.race([Promise.all([images, math]), late]).then(() => {
  const text = document.body.cloneNode(true);
  text.querySelectorAll('pre, code, script, style, mjx-container, .highlight, textarea')
      .forEach(e => e.remove());
  done({
    broken_images: [...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.src),
    pending_images: [...document.images].filter(i => !i.complete).map(i => i.src),
    untypeset: [...document.querySelectorAll('.math')]
        .filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80)),
    math_errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent),
    cut: [...document.querySelectorAll('div.math mjx-container')].filter(c =>
        c.getBoundingClientRect().left < c.closest('div.math').getBoundingClientRect().left - 1)
        .map(c => c.closest('div.math').id || c.textContent.slice(0, 40)),
    text: text.textContent,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  });
});
"""
RAW_MATH = re.compile(r"\$\$|\\\(|\\\[|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$")
LOCAL_SCHEMES = {"file", "data", "blob", "about"}
REFRESH = re.compile(r'http-equiv="refresh" content="0; url=([^"]+)"')


@lru_cache(maxsize=None)
def anchors(path):
    """The ids and names a built HTML file defines."""
    return set(re.findall(r'\b(?:id|name)="([^"]+)"', Path(path).read_text(encoding="utf-8")))


def broken_link(url):
    """Why a link inside the book does not resolve, or None (links to other hosts are allowed:
    following one is the reader's choice, not a request the page makes)."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    path = Path(unquote(parts.path))
    if not path.is_file():
        return f"{url}: no such file"
    if parts.fragment and path.suffix == ".html" and unquote(parts.fragment) not in anchors(path):
        return f"{url}: no such anchor"
    return None


def requests_made(driver):
    """Every URL the page asked for since the last call (Chromium's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def page_problems(driver, page):
    """What is wrong with one page as Chromium shows it: a list of lines, empty when all is well."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get_log("browser"), requests_made(driver)                 # forget the last page's
    driver.get(page.as_uri())
    refresh = REFRESH.search(page.read_text(encoding="utf-8"))
    if refresh:                                        # a redirect: inspect where it leads
        target = (page.parent / refresh.group(1)).resolve().as_uri()
        try:
            WebDriverWait(driver, 10).until(lambda d: d.current_url == target)
        except TimeoutException:
            return [f"does not lead to {target}"]
    seen = driver.execute_async_script(INSPECT)
    problems = [f"console: {e['message']}" for e in driver.get_log("browser")
                if e["level"] == "SEVERE"]
    problems += [f"image not loaded: {src}" for src in seen["broken_images"]]
    problems += [f"image still loading after 20 s: {src}" for src in seen["pending_images"]]
    problems += [f"equation not typeset: {m}" for m in seen["untypeset"]]
    problems += [f"MathJax error: {m}" for m in seen["math_errors"]]
    problems += [f"equation cut off at the left: {m}" for m in seen["cut"]]
    problems += [f"raw TeX in the text: {m.group(0)[:60]}" for m in RAW_MATH.finditer(seen["text"])]
    problems += list(filter(None, map(broken_link, set(seen["links"]))))
    problems += [f"request off the machine: {url}" for url in requests_made(driver)
                 if urlsplit(url).scheme not in LOCAL_SCHEMES]
    return problems


def test_every_page_reads_offline(site, browser):
    pages = sorted(site.rglob("*.html"))
    pages = [p for p in pages if "_static" not in p.relative_to(site).parts]
    names = {p.relative_to(site).as_posix() for p in pages}
    chapters = {f"tutorials/{p.stem}.html" for p in (ROOT / "tutorials").glob("[0-9][0-9]_*.ipynb")}
    assert len(chapters) == 11 and chapters <= names, "a chapter is missing from the book"
    assert {"index.html", "book/index.html", "RESULTS.html", "docs/EQUATIONS.html",
            "book/workbook.html", "search.html"} <= names
    failures = {p.relative_to(site).as_posix(): page_problems(browser, p) for p in pages}
    failures = {page: lines for page, lines in failures.items() if lines}
    assert not failures, f"{len(failures)} of {len(pages)} pages: " + json.dumps(failures, indent=1)
    print(f"{len(pages)} pages read in Chromium, each without a problem")


def test_the_page_check_sees_each_fault(browser, tmp_path):
    """A page with every fault the book must not have: each is reported (an equation cut off
    at the left is seen in the book's own pages, where a wide tagged equation was)."""
    (tmp_path / "there.html").write_text('<p id="here">x</p>')
    page = tmp_path / "bad.html"
    page.write_text('<html><body><p>raw $$x^2$$ and $\\alpha$</p><img src="missing.png">'
                    '<img src="http://127.0.0.1:9/remote.png"><a href="nowhere.html">a</a>'
                    '<a href="there.html#gone">b</a><a href="there.html#here">c</a>'
                    '<script>console.error("broken")</script></body></html>')
    problems = "\n".join(page_problems(browser, page))
    for fault in ("console:", "image not loaded", "raw TeX in the text: $$", "raw TeX in the "
                  "text: $\\alpha$", "nowhere.html: no such file", "there.html#gone: no such "
                  "anchor", "request off the machine: http://127.0.0.1:9/remote.png"):
        assert fault in problems, (fault, problems)
    assert "#here" not in problems


def test_equation_numbers_link_to_their_derivation(site, browser):
    """Chapter 6's (4.5)-style numbers lead to the equation in chapter 4; the index's (3.5) too."""
    browser.get((site / "docs" / "EQUATIONS.html").as_uri())
    hrefs = browser.execute_script(
        "return [...document.querySelectorAll('a.equation-link')].map(a => a.href)")
    assert any(h.endswith("tutorials/03_lstm.html#eq-3-5") for h in hrefs)
    assert any(h.endswith("tutorials/04_learning_to_learn.html#eq-1") for h in hrefs)
    sources = browser.execute_script(
        "return [...document.querySelectorAll('a.source-link')].map(a => a.href)")
    assert any(h.endswith("_modules/minil2o/meta.html#meta_gradient") for h in sources)


def test_screenshots(site, browser):
    shots = OUT / "screenshots"
    shots.mkdir(exist_ok=True)
    chapter4 = site / "tutorials" / "04_learning_to_learn.html"
    for name, page in (("landing", site / "book" / "index.html"), ("chapter04", chapter4),
                       ("chapter04-equations", chapter4.with_name(chapter4.name + "#eq-3"))):
        browser.get(page.as_uri().replace("%23", "#"))
        browser.execute_async_script(INSPECT)
        assert browser.save_screenshot(str(shots / f"{name}.png"))
        assert (shots / f"{name}.png").stat().st_size > 10_000
