"""The documentation site at 1,280 px in a real browser (issue 14, item 7): no code block
overflows the content column nor scrolls sideways, the page itself never scrolls
sideways, and every picture loads.

The site is built as `make docs` builds it (``mkdocs build --strict``), into a temporary
folder, and each page is opened from disk in headless Chromium (tests/chromium.py, one
browser for the module).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import Chromium, require_chromium

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 1280

# Per page: the content column, the page's own width, each code block that scrolls or
# sticks out of the column (with its longest line), and each picture that did not load.
MEASURE = """
const column = document.querySelector('.md-content__inner').getBoundingClientRect();
const blocks = [...document.querySelectorAll('.md-content pre')].map((pre) => {
  const code = pre.querySelector('code') || pre;
  const box = pre.getBoundingClientRect();
  const longest = code.textContent.split('\\n').reduce((a, b) => (b.length > a.length ? b : a));
  return {scroll: code.scrollWidth - code.clientWidth, past: box.right - column.right, longest};
});
return {
  column: column.width,
  page: document.documentElement.scrollWidth,
  viewport: window.innerWidth,
  blocks: blocks.length,
  overflowing: blocks.filter((b) => b.scroll > 1 || b.past > 1),
  broken: [...document.querySelectorAll('.md-content img')]
    .filter((img) => !img.complete || img.naturalWidth === 0)
    .map((img) => img.getAttribute('src')),
};
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run(  # noqa: S603 (this venv's mkdocs, fixed arguments)
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    require_chromium()
    with Chromium(WIDTH, 800) as chromium:
        yield chromium


def measure_every_page(site: Path, browser: Chromium) -> dict[str, dict[str, Any]]:
    pages = sorted(site.rglob("index.html"))
    assert len(pages) > 20, pages
    measured = {}
    for page in pages:
        browser.driver.get(page.as_uri())
        measured[str(page.parent.relative_to(site))] = browser.driver.execute_script(MEASURE)
    return measured


def test_no_code_block_overflows_at_1280_px(site: Path, browser: Chromium) -> None:
    measured = measure_every_page(site, browser)
    assert sum(m["blocks"] for m in measured.values()) > 100  # the pages have their code
    assert {m["viewport"] for m in measured.values()} == {WIDTH}
    # Material's three columns at this width: the content column is the narrow one.
    assert all(600 < m["column"] < 800 for m in measured.values()), measured
    overflowing = {name: m["overflowing"] for name, m in measured.items() if m["overflowing"]}
    assert overflowing == {}
    assert {name: m["page"] for name, m in measured.items() if m["page"] > WIDTH} == {}
    assert {name: m["broken"] for name, m in measured.items() if m["broken"]} == {}


def test_a_wrapped_line_is_still_one_line_for_the_copy_button(
    site: Path, browser: Chromium
) -> None:
    """The longest line of the docs wraps on screen, yet the text a reader copies is the
    line as written."""
    browser.driver.get((site / "credentials" / "index.html").as_uri())
    line = browser.driver.execute_script(
        """
        const code = [...document.querySelectorAll('.md-content pre code')]
          .find((c) => c.textContent.includes('is a publishable key'));
        const wrapped = code.getBoundingClientRect().height;
        code.style.whiteSpace = 'pre';  // as without the docs' stylesheet
        const unwrapped = code.getBoundingClientRect().height;
        code.style.whiteSpace = '';
        const text = code.textContent.split('\\n').find((l) => l.includes('publishable'));
        return {text, wrapped, unwrapped};
        """
    )
    assert len(line["text"]) > 100  # longer than the column holds, in one line
    assert line["wrapped"] > line["unwrapped"]  # taller on screen: it wraps
