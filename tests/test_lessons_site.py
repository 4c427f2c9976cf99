"""``scratchnet lessons``: the listing, the Jupyter Lab launcher's error, and the website, read in a real browser.

The website test builds two lessons in quick mode (``--only``: the full
build is ``SCRATCHNET_LESSON_QUICK=1 scratchnet lessons site DIR``) and opens
their pages in headless Chromium, which loads each page from disk, runs its
scripts and hands back the DOM. A probe script added to a copy of the page
reports what the browser made of it: how many math elements MathJax turned
into ``mjx-container``s, and each image's ``naturalWidth`` (0 for a figure
that did not load). Two broken copies of a page, one without MathJax and one
with a figure's file missing, show that each check can fail.
"""

from __future__ import annotations

import html as html_module
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scratchnet import cli
from scratchnet.course.book import offline_mathjax
from scratchnet.course.catalogue import find_lessons, lessons_folder
from scratchnet.course.destination import check_destination

SITE_LESSONS = "01,04"      # small ones, both with math and figures
BROWSER_BUDGET_MS = 30_000  # virtual time for MathJax to typeset a long page
PROBE = """
<script>
window.addEventListener("load", function () {
  function report() {
    var maths = Array.from(document.querySelectorAll(".math"));
    var out = document.createElement("pre");
    out.id = "scratchnet-probe";
    out.textContent = JSON.stringify({
      math: maths.length,
      typeset: maths.filter(function (m) { return m.querySelector("mjx-container"); }).length,
      errors: document.querySelectorAll("[data-mjx-error], mjx-merror").length,
      images: Array.from(document.querySelectorAll("img")).map(function (i) {
        return {src: i.getAttribute("src"), width: i.naturalWidth}; })
    });
    document.body.appendChild(out);
  }
  var started = window.MathJax && MathJax.startup && MathJax.startup.promise;
  (started || Promise.resolve()).then(report, report);
});
</script>
"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def probe_page(page: Path) -> dict:
    """What headless Chromium sees on ``page`` once loaded and typeset (the probe's JSON)."""
    probed = page.with_name(f"_probe_{page.name}")
    html = page.read_text(encoding="utf-8")
    probed.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
               f"--virtual-time-budget={BROWSER_BUDGET_MS}", "--dump-dom", probed.as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=180, check=True).stdout
    probed.unlink()
    found = re.search(r'<pre id="scratchnet-probe"[^>]*>(.*?)</pre>', dom, re.DOTALL)
    assert found, f"{page.name}: the probe never reported (the page did not finish loading)"
    return json.loads(html_module.unescape(found.group(1)))


def math_problem(seen: dict) -> str | None:
    """Why the page's math is not typeset, or None when every math element holds MathJax output."""
    if seen["math"] == 0:
        return "the page has no math elements"
    if seen["typeset"] < seen["math"]:
        return f"MathJax typeset {seen['typeset']} of {seen['math']} math elements"
    if seen["errors"]:
        return f"MathJax reported {seen['errors']} TeX error(s)"
    return None


def figure_problem(seen: dict) -> str | None:
    """Why the page's figures did not load, or None when it has some and every one has a width."""
    figures = [image for image in seen["images"] if "_images/" in (image["src"] or "")]
    if not figures:
        return "the page shows no figures"
    broken = [image["src"] for image in figures if image["width"] == 0]
    return f"{len(broken)} of {len(figures)} figures did not load: {broken[:3]}" if broken else None


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    for module in ("jupyter_book", "nbclient", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e \".[site]\")")
    if offline_mathjax() is None:   # the CDN's copy cannot be reached from a machine without a network
        pytest.skip("no offline MathJax (django-static-mathjax, in the site extra)")
    if chromium() is None:
        pytest.skip("no headless browser: install Debian's chromium (apt-get install chromium)")
    dest = tmp_path_factory.mktemp("site") / "html"
    env = dict(os.environ, SCRATCHNET_LESSON_QUICK="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "scratchnet.cli", "lessons", "site", str(dest),
                           "--only", SITE_LESSONS], env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return dest


def lesson_pages(site: Path) -> list[Path]:
    stems = {lesson.stem for lesson in find_lessons() if lesson.number in SITE_LESSONS.split(",")}
    return [site / f"{stem}.html" for stem in sorted(stems)]


@pytest.mark.slow
def test_the_site_has_a_contents_page_and_one_page_per_lesson(site):
    pages = lesson_pages(site)
    assert len(pages) == 2 and all(page.is_file() for page in pages), sorted(p.name for p in site.iterdir())
    contents = (site / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{page.name}"' in contents for page in pages), "the contents page links every lesson"
    assert "04_lrn.html" in [page.name for page in pages]


@pytest.mark.slow
def test_math_is_typeset_and_figures_load_in_chromium(site):
    for page in lesson_pages(site):
        seen = probe_page(page)
        assert math_problem(seen) is None, f"{page.name}: {math_problem(seen)}"
        assert figure_problem(seen) is None, f"{page.name}: {figure_problem(seen)}"


@pytest.mark.slow
def test_the_checks_fail_on_a_page_without_mathjax_or_with_a_missing_figure(site):
    page = site / "04_lrn.html"
    html = page.read_text(encoding="utf-8")
    without_mathjax = site / "broken_math.html"
    without_mathjax.write_text(re.sub(r'<script[^>]*tex-svg\.js[^>]*></script>', "", html), encoding="utf-8")
    assert "tex-svg.js" not in without_mathjax.read_text(encoding="utf-8")
    assert math_problem(probe_page(without_mathjax)).startswith("MathJax typeset 0 of")

    missing_figure = site / "broken_figure.html"
    first_figure = re.search(r'src="(_images/[^"]+\.png)"', html).group(1)
    missing_figure.write_text(html.replace(first_figure, "_images/no-such-figure.png"), encoding="utf-8")
    assert "1 of" in figure_problem(probe_page(missing_figure))


def test_lessons_lists_every_lesson_by_number_and_title(capsys):
    assert cli.main(["lessons"]) == 0
    listing = capsys.readouterr().out
    for lesson in find_lessons():
        assert f"{lesson.number}  {lesson.title}" in listing
    assert "04  Local response normalisation (LRN)" in listing


def test_lessons_open_without_jupyter_lab_says_what_to_install(monkeypatch, capsys):
    import scratchnet.commands.lessons as command

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(command.importlib.util, "find_spec",
                        lambda name, *rest: None if name == "jupyterlab" else real_find_spec(name, *rest))
    assert cli.main(["lessons", "open"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and 'pip install -e ".[lessons]"' in error, error


def test_without_the_lessons_folder_the_error_says_where_lessons_come_from(tmp_path, monkeypatch, capsys):
    import scratchnet

    # As installed from a wheel: site-packages/scratchnet, with no lessons/ beside it.
    monkeypatch.setattr(scratchnet, "__file__", str(tmp_path / "site-packages" / "scratchnet" / "__init__.py"))
    assert cli.main(["lessons"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "clone of the repository" in error and "wheel" in error, error


def test_site_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert cli.main(["lessons", "site", str(tmp_path), "--only", "01"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    with pytest.raises(ValueError, match="holds no site built before"):
        check_destination(tmp_path, True, lessons_folder())
    (tmp_path / "index.html").write_text("<html></html>")
    check_destination(tmp_path, True, lessons_folder())   # a site built before: --overwrite may replace it
    with pytest.raises(ValueError, match="holds the lessons"):
        check_destination(lessons_folder().parent, True, lessons_folder())
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_site_rejects_an_unknown_lesson_number(tmp_path, capsys):
    assert cli.main(["lessons", "site", str(tmp_path / "new"), "--only", "01,99"]) == 2
    assert "no lesson 99" in capsys.readouterr().err
