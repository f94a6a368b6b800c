"""api.reporting: the HTML page is self-contained and carries the table,
figures and data of the report; CSV files carry the raw numbers."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from api.reporting import html
from api.reporting.files import write_report
from api.reporting.html import render_html
from planner.codec import encode
from planner.domain import TimedPlan
from planner.evaluation.reports import (
    CapacityRow,
    CompareReport,
    KnobSweep,
    ReplanReport,
    StrategyTimeline,
    Sweep,
    SwitchLoss,
    build_compare,
    from_experiment,
)
from planner.placement.solution import SolveResult
from tests.unit.report_cases import (
    CLUSTER,
    MEMORY_BOUND_EXPERIMENT,
    MODELS,
    PLACEMENT,
    SETTINGS,
    WORK,
    result_of,
    two_seeds,
)


class Page(HTMLParser):
    """Collects what the tests look at: every URL-bearing attribute, the
    text of each table cell by row, figure ids, inline SVGs, script blocks."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self.row_classes: list[str | None] = []
        self.figures: list[str] = []
        self.svgs_in_figures = 0
        self.scripts: list[dict[str, str | None]] = []
        self.script_text: list[str] = []
        self._cell: list[str] | None = None
        self._in_body = False
        self._in_figure = False
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "action")]
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
            self.row_classes.append(attributes.get("class"))
        elif tag == "td":
            self._cell = []
        elif tag == "figure":
            self.figures.append(attributes.get("id") or "")
            self._in_figure = True
        elif tag == "svg" and self._in_figure:
            self.svgs_in_figures += 1
        elif tag == "script":
            self.scripts.append(attributes)
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "figure":
            self._in_figure = False
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_script:
            self.script_text.append(data)


def sample_report() -> CompareReport:
    """Rows from hand-made plans (a static one and one that switches once)
    and made-up sweeps."""
    settings = dataclasses.replace(SETTINGS, solvers=("greedy", "clockwork"))
    plan = TimedPlan(
        ((0.0, PLACEMENT), (15.0, dataclasses.replace(PLACEMENT, groups=PLACEMENT.groups[:1])))
    )
    results = {"greedy": result_of(PLACEMENT), "clockwork": result_of(plan)}
    base = build_compare(CLUSTER, MODELS, WORK, settings, title="Tiny comparison", results=results)
    sweeps = (
        Sweep(
            "rate_scale",
            (0.5, 1.0, 2.0),
            {"greedy": (1.0, 0.9, 0.5), "clockwork": (0.99, None, 0.4)},
        ),
        Sweep(
            "num_devices",
            (2.0, 4.0),
            {"greedy": (0.7, 0.9), "clockwork": (0.6, 0.8)},
            status={"greedy": ("timeout", "heuristic")},
            gap_points={"greedy": (None, 1.5)},
            solve_s={"greedy": (2.0, 0.25)},
        ),
    )
    return dataclasses.replace(base, sweeps=sweeps)


@pytest.fixture(scope="module")
def report() -> CompareReport:
    return sample_report()


@pytest.fixture(scope="module")
def text(report: CompareReport) -> str:
    return render_html(report)


@pytest.fixture(scope="module")
def page(text: str) -> Page:
    return Page(text)


def test_page_is_self_contained(text: str, page: Page) -> None:
    assert page.urls, "figures reference their own elements"
    assert all(url.startswith("#") for url in page.urls), page.urls
    assert "link" not in page.tags and "img" not in page.tags and "iframe" not in page.tags
    assert all(s.get("src") is None for s in page.scripts)
    assert [s.get("type") for s in page.scripts] == ["application/json"]
    assert all(ref.startswith("#") for ref in re.findall(r"url\(([^)]*)\)", text))
    assert "@import" not in text
    # namespace names of inline SVG are identifiers, never fetched; no other URL
    assert not re.search(r"https?://", re.sub(r'xmlns(:\w+)?="[^"]*"', "", text))


def test_table_has_a_row_per_solver(report: CompareReport, page: Page) -> None:
    greedy = report.row("greedy")
    assert [row[0] for row in page.rows] == ["greedy", "clockwork"]
    cells = dict(
        zip(
            ["solver", "status", "attainment", "goodput_rps", "p50_ms", "p99_ms"],
            page.rows[0],
            strict=False,
        )
    )
    assert cells["attainment"] == f"{100 * greedy.attainment:.2f}%"
    assert cells["goodput_rps"] == f"{greedy.goodput_rps:.2f}"
    assert greedy.latency_p99_s is not None
    assert cells["p99_ms"] == f"{1000 * greedy.latency_p99_s:.1f}"
    best = page.row_classes.index("best")
    assert report.rows[best] is report.best


def test_a_figure_per_sweep_and_placement(page: Page) -> None:
    assert page.figures == [
        "sweep-rate_scale",
        "sweep-num_devices",
        "placement-greedy",
        "placement-clockwork",
    ]
    assert page.svgs_in_figures == 4


def test_embedded_data_is_the_report(report: CompareReport, page: Page) -> None:
    assert json.loads("".join(page.script_text)) == encode(report)


def test_markup_in_titles_is_escaped() -> None:
    hostile = "</script><script>alert(1)</script><!--"
    page = Page(html.page(hostile, "compare", [f"<p>{escape(hostile)}</p>"], {"title": hostile}))
    assert len(page.scripts) == 1
    assert json.loads("".join(page.script_text)) == {"title": hostile}


def test_rendering_is_deterministic(report: CompareReport, text: str) -> None:
    assert render_html(report) == text


def test_files(report: CompareReport, tmp_path: Path) -> None:
    paths = write_report(report, tmp_path / "out")
    assert sorted(paths) == ["report.html", "report.json", "sweeps.csv", "table.csv"]
    assert json.loads(paths["report.json"].read_text()) == encode(report)
    table = list(csv.DictReader(io.StringIO(paths["table.csv"].read_text())))
    greedy = report.row("greedy")
    assert table[0]["solver"] == "greedy"
    assert float(table[0]["attainment"]) == greedy.attainment
    assert int(table[0]["memory_used"]) == greedy.memory_used_bytes
    assert greedy.latency_p99_s is not None
    assert float(table[0]["p99_ms"]) == pytest.approx(1000 * greedy.latency_p99_s)
    assert table[0]["gap"] == ""
    sweeps = list(csv.reader(io.StringIO(paths["sweeps.csv"].read_text())))
    header = ["axis", "value", "solver", "attainment", "status", "gap_points", "solve_s"]
    assert sweeps[0] == header
    assert len(sweeps) == 1 + 3 * 2 + 2 * 2
    assert ["rate_scale", "1.0", "clockwork", "", "", "", ""] in sweeps
    # a point cut short by its time limit is told from a worse plan by its status
    assert ["num_devices", "2.0", "greedy", "0.7", "timeout", "", "2.0"] in sweeps
    assert ["num_devices", "4.0", "greedy", "0.9", "heuristic", "1.5", "0.25"] in sweeps
    assert ["num_devices", "4.0", "clockwork", "0.8", "", "", ""] in sweeps


def sample_replan() -> ReplanReport:
    """A hand-made re-placement report: two strategies on one case."""
    switch = SwitchLoss(
        window=2, start_s=120.0, replicas_loaded=3, load_s=4.5, lost_replica_s=6.0, lost_requests=7
    )
    timelines = (
        StrategyTimeline(
            "s1 / trace @ rate x1", "static", 0.97, 60.0, (None, 0.99, 0.95, 0.97), ()
        ),
        StrategyTimeline(
            "s1 / trace @ rate x1",
            "periodic/oracle",
            0.985,
            60.0,
            (None, 0.99, 0.97, 1.0),
            (switch,),
        ),
    )
    capacity = (
        CapacityRow("s1", "trace", "static", 2.0, 1.0, 0, 0.0),
        CapacityRow("s1", "trace", "periodic/oracle", 2.5, 1.25, 1, 6.0),
    )
    sweeps = (KnobSweep("cv", (1.0, 4.0), {"periodic/oracle": (1.1, None)}, "relative"),)
    return ReplanReport("Re-placement", {}, 0.99, capacity, timelines, sweeps)


def test_replan_page_and_files(tmp_path: Path) -> None:
    report = sample_replan()
    text = render_html(report)
    page = Page(text)
    assert page.figures == ["capacity-figure", "knob-cv", "timeline-0", "losses-0"]
    assert page.svgs_in_figures == 4
    assert all(url.startswith("#") for url in page.urls)
    capacity, strategies, switches = page.rows[:2], page.rows[2:4], page.rows[4:]
    assert capacity[1][:6] == ["s1", "trace", "periodic/oracle", "2.500", "x", "1.25"]
    assert strategies == [
        ["static", "97.00%", "0", "0", "0.0", "0", ""],
        ["periodic/oracle", "98.50%", "1", "3", "6.0", "7", ""],
    ]
    assert switches == [["periodic/oracle", "2", "120", "3", "4.50", "6.00", "7"]]
    paths = write_report(report, tmp_path)
    assert sorted(paths) == [
        "capacity.csv",
        "capacity_sweeps.csv",
        "report.html",
        "report.json",
        "switches.csv",
        "timelines.csv",
    ]
    ratios = list(csv.reader(io.StringIO(paths["capacity_sweeps.csv"].read_text())))
    assert ratios[1:] == [
        ["cv", "1.0", "periodic/oracle", "1.1"],
        ["cv", "4.0", "periodic/oracle", ""],
    ]
    timeline_rows = list(csv.reader(io.StringIO(paths["timelines.csv"].read_text())))
    assert timeline_rows[1] == ["s1 / trace @ rate x1", "static", "0", "0.0", ""]
    assert timeline_rows[-1] == ["s1 / trace @ rate x1", "periodic/oracle", "3", "180.0", "1.0"]
    switch_rows = list(csv.DictReader(io.StringIO(paths["switches.csv"].read_text())))
    assert switch_rows == [
        {
            "case": "s1 / trace @ rate x1",
            "strategy": "periodic/oracle",
            "window": "2",
            "start_s": "120.0",
            "replicas_loaded": "3",
            "load_s": "4.5",
            "lost_replica_s": "6.0",
            "lost_requests": "7",
        }
    ]


def test_the_table_says_how_far_from_optimal(tmp_path: Path) -> None:
    plain = result_of(PLACEMENT)
    assert isinstance(plain, SolveResult)
    bounded = dataclasses.replace(plain, upper_bound=1.0, stats={"proxy_rank_correlation": 0.8})
    settings = dataclasses.replace(SETTINGS, solvers=("greedy", "cpsat"))
    report = build_compare(
        CLUSTER, MODELS, WORK, settings, results={"greedy": plain, "cpsat": bounded}
    )
    table = {
        row["solver"]: row
        for row in csv.DictReader(
            io.StringIO(write_report(report, tmp_path)["table.csv"].read_text())
        )
    }
    gap = 100 * (1.0 - plain.attainment)
    assert (table["cpsat"]["bound"], table["cpsat"]["proxy_rho"]) == ("1.0", "0.8")
    assert float(table["cpsat"]["gap_pts"]) == pytest.approx(gap)
    assert (table["greedy"]["bound"], table["greedy"]["gap_pts"]) == ("", "")
    text = render_html(report)
    assert (
        f"cpsat is within {gap:.2f} points of optimal: no static placement exceeds 100.00% "
        "attainment; its proxy ranks the plans it visited as the simulator does with rank "
        "correlation 0.80." in text
    )
    assert "greedy is within" not in text


def test_goodput_rows_on_the_replan_page(tmp_path: Path) -> None:
    report = from_experiment(MEMORY_BOUND_EXPERIMENT)
    text = render_html(report)
    page = Page(text)
    assert 'id="goodput"' in text and "Goodput (memory-bound cases)" in text
    assert page.rows == [
        [
            "s1 (4 dev)",
            "rotating-2019",
            "static",
            "oracle (whole trace)",
            "none",
            "20.00",
            "10.00",
            "1.000",
            "11.00 @ 40.0 req/s",
            "40.0",
            "1.600",
            "0.00",
            "—",
            "—",
            "0",
            "0.0",
        ],
        [
            "s1 (4 dev)",
            "rotating-2019",
            "periodic/forecast",
            "forecast holt",
            "real",
            "20.00",
            "14.50",
            "1.450",
            "15.50 @ 40.0 req/s (sweep's top)",
            "40.0",
            "1.600",
            "0.75",
            "1.500",
            "0.90",
            "3",
            "7.5",
        ],
        [
            "s1 (4 dev)",
            "rotating-2019",
            "headroom bound",
            "any plan, free switches",
            "free",
            "20.00",
            "16.00",
            "1.600",
            "17.00 @ 40.0 req/s",
            "40.0",
            "1.600",
            "1.00",
            "—",
            "—",
            "0",
            "0.0",
        ],
    ]
    paths = write_report(report, tmp_path)
    rows = list(csv.DictReader(io.StringIO(paths["goodput.csv"].read_text())))
    assert [
        (r["strategy"], r["goodput_rps"], r["share_captured"], r["share_of_reached"]) for r in rows
    ] == [
        ("static", "10.0", "0.0", ""),
        ("periodic/forecast", "14.5", "0.75", "0.9"),
        ("headroom bound", "16.0", "1.0", ""),
    ]
    assert "goodput_over_seeds.csv" not in paths  # one seed: no table over seeds


def test_goodput_over_seeds_on_the_replan_page(tmp_path: Path) -> None:
    report = from_experiment(two_seeds())
    text = render_html(report)
    assert 'id="goodput-seeds"' in text and "Goodput over seeds" in text
    paths = write_report(report, tmp_path)
    rows = list(csv.DictReader(io.StringIO(paths["goodput_over_seeds.csv"].read_text())))
    assert [
        (r["strategy"], r["seeds"], r["x_static_min"], r["x_static_max"], r["share_of_reached"])
        for r in rows
    ] == [
        ("static", "2", "1.0", "1.0", ""),
        ("periodic/forecast", "2", "1.3", "1.45", "0.75"),
        ("headroom bound", "2", "1.6", "1.6", ""),
    ]
