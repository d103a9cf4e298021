"""report.html in headless Chromium: the matrices render, sorting works, a click shows the details.

Needs the Debian package: ``apt-get update && apt-get install -y chromium`` (/usr/bin/chromium).
The page reacts to ``#open=<cell id>`` (it clicks that cell), ``#sort=<column>`` and
``#rsort=<column>``, so ``--dump-dom`` shows the DOM after the script ran.

Missing glyphs are checked on the computed DOM with fontconfig (``fc-list``, which Chromium uses to
pick fonts): every character any table cell or the legend shows must be in an installed font, so
that nothing renders as an empty box on a machine without an emoji font (as this one is).
"""
from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fixtures.report import build_report
from fixtures.report.html import cell_id
from tests.test_report_build import BASELINE, FAILURE_RULES, write_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INSTALL = "apt-get update && apt-get install -y chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--dump-dom")
REGRESSED = "suites/test_exchange.py::test_exchange[a-string-input]"
FAILING_IN_ALPHA = "suites/test_stream.py::test_stream[usage-in-terminal-event]"
VOID = {"br", "meta", "img", "input", "hr", "link"}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"chromium is not installed; install it with: {INSTALL}")


class Dom(HTMLParser):
    """Just enough of the dumped DOM: every element's tag and attributes, and text by element id."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, str] = {}
        self._open: list[tuple[str, str]] = []
        self.cells: list[str] = []  # the text of every td, svg titles included, in document order
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "td":
            self._cell = []
        if tag not in VOID:
            self._open.append((tag, str(dict(attrs).get("id") or "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None
        while self._open:  # close up to the matching tag, as a browser would
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for _, ident in self._open:
            if ident:
                self.text[ident] = self.text.get(ident, "") + data

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        """Elements of ``tag`` whose attributes include ``attrs`` (``class_`` matches one class)."""
        wanted = {k.rstrip("_"): v for k, v in attrs.items()}
        return [a for t, a in self.elements if t == tag and all(
            v in (a.get(k) or "").split() if k == "class" else a.get(k) == v for k, v in wanted.items())]


def dump(page: Path, tmp_path: Path, fragment: str = "") -> Dom:
    """The DOM of ``page`` after load, as headless Chromium sees it."""
    done = subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           page.resolve().as_uri() + fragment], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return Dom(done.stdout)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-provider report with one regression against a previous one."""
    base = tmp_path_factory.mktemp("report")
    for provider in ("alpha", "beta"):
        write_run(base / "previous", provider)
    write_run(base / "current", "alpha")
    write_run(base / "current", "beta", dict(BASELINE) | {("test_exchange", "a-string-input", ("core",)): "failed"})
    build_report(base / "current", previous=base / "previous")
    return base / "current" / "report.html"


@pytest.fixture(scope="module")
def page(report: Path, tmp_path_factory: pytest.TempPathFactory) -> Dom:
    """The report's DOM as it loads (no fragment), which four tests read: one Chromium start, not four."""
    return dump(report, tmp_path_factory.mktemp("chromium"))


def test_the_matrix_renders_with_badges(page: Dom) -> None:
    dom = page
    headers = dom.find("th", **{"data-table": "matrix"})
    assert len(headers) == 3  # test, alpha/m1, beta/m1
    rows = dom.find("tr", **{"data-key": REGRESSED})
    assert len(rows) == 1
    assert len([a for t, a in dom.elements if t == "tr" and "data-key" in a]) == len(BASELINE)
    cells = dom.find("td", class_="cell")
    assert len(cells) == 2 * len(BASELINE)
    assert sorted({c["data-outcome"] for c in cells}) == ["failed", "passed", "skipped", "xfailed"]
    assert dom.find("td", id=cell_id(REGRESSED, "beta/m1"), class_="regression")
    assert len(dom.find("span", class_="badge", **{"data-column": "beta/m1"})) == 4  # overall + 3 claimed
    assert dom.find("aside", id="details")[0].get("hidden") is not None


def test_a_click_on_a_cell_shows_rules_and_transcript(report: Path, tmp_path: Path) -> None:
    target = cell_id(REGRESSED, "beta/m1")
    dom = dump(report, tmp_path, f"#open={target}")
    panel = dom.find("aside", id="details")[0]
    assert panel.get("hidden") is None and panel.get("data-cell") == target
    assert dom.find("td", id=target, class_="selected")
    text = dom.text["details"]
    assert f"{REGRESSED} on beta/m1" in text and "failed (regression, was passed)" in text
    assert all(rule in text for rule in FAILURE_RULES)
    assert ">>> POST http://cassette.invalid/v1/responses" in text


def test_a_column_sorts_failures_first(report: Path, page: Dom, tmp_path: Path) -> None:
    dom = dump(report, tmp_path, "#sort=1")
    before, after = ([a["data-key"] for t, a in d.elements if t == "tr" and "data-key" in a] for d in (page, dom))
    assert before[0] != FAILING_IN_ALPHA and after[0] == FAILING_IN_ALPHA
    assert sorted(before) == sorted(after)
    assert dom.find("th", **{"data-col": "1", "data-sorted": "asc"})


def has_glyph(char: str) -> bool:
    """Whether an installed font covers ``char`` (fontconfig: the fonts Chromium can draw with)."""
    done = subprocess.run([str(FC_LIST), f":charset={ord(char):x}", "family"], capture_output=True, text=True,
                          timeout=30)
    return done.returncode == 0 and bool(done.stdout.strip())


FC_LIST = shutil.which("fc-list")


@pytest.mark.skipif(FC_LIST is None, reason="fontconfig's fc-list is not installed (it comes with chromium)")
def test_no_cell_renders_as_a_missing_glyph_box(page: Dom) -> None:
    assert not has_glyph("\u0378")  # an unassigned code point: the check can tell a box when it sees one
    dom = page
    shown = "".join(dom.cells) + dom.text["legend"]
    assert dom.cells and all(cell.strip() for cell in dom.cells)
    missing = sorted({c for c in shown if not c.isspace() and (ord(c) > 0x7E) and not has_glyph(c)})
    assert missing == [], f"no installed font draws {missing}: they render as empty boxes"
    outcome_cells = dom.find("td", class_="cell")
    icons = dom.find("svg", class_="icon")
    assert len(icons) >= len(outcome_cells) and all(i.get("aria-label") for i in icons)
    assert len(dom.find("td", class_="rule-cell")) == 2 * len(FAILURE_RULES)  # two rules × two targets


def test_the_rule_matrix_sorts_like_the_test_matrix(report: Path, page: Dom, tmp_path: Path) -> None:
    def order(dom: Dom) -> list[str | None]:
        return [a["data-rule"] for a in dom.find("tr", class_="rule-row")]

    by_name = dump(report, tmp_path, "#rsort=0:desc")
    assert order(page) == sorted(FAILURE_RULES)  # equal counts: by rule id
    assert order(by_name) == sorted(FAILURE_RULES, reverse=True)
    assert by_name.find("th", **{"data-col": "0", "data-sorted": "desc"})
    beta = by_name.find("td", class_="rule-cell", **{"data-column": "beta/m1"})
    assert [(c["data-tests"], c["data-alone"]) for c in beta] == [("2", "0"), ("2", "0")]
    assert by_name.find("table", class_="causes", **{"data-column": "beta/m1"})
