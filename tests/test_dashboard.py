"""The dashboard (SPEC §8) in a real browser, Debian's headless Chromium, as a file and served.

On the sample built through 2026-01-31: every chart draws, the console stays clean, nothing is
fetched from anywhere but the server (from nothing at all for the file), the stats and a table cell
of every chart equal the JSON document's values, and change with the project filter and the range
to the values of those documents; an accessibility scan finds no WCAG 2 level A violation.
Expected figures are worked out here from the document, by the spec's definitions.
"""

import datetime as dt
import math
import statistics

import pytest

from pipeline import dashboard, job, trends
from pipeline.lake import Lake
from pipeline.server.app import create_app
from pipeline.server.tokens import Tokens
from tests.web import serving

TOKEN = "dashboard-token-0123456789abcdef"
FIRST, LAST = dt.date(2025, 12, 31), dt.date(2026, 1, 31)  # the month up to the sample's last built day
CHARTS = ["users", "flags", "technical-debt", "lifecycle", "production", "creation", "time-to-production",
          "evaluations", "updates"]
SEEN_UNTIL = dt.date(2026, 1, 31)  # the day the sample warehouse's flags table is as of


@pytest.fixture(scope="module")
def page_file(sample_warehouse, tmp_path_factory):
    target = tmp_path_factory.mktemp("page") / "insights.html"
    dashboard.write_file(sample_warehouse, target, dashboard.range_page(sample_warehouse, FIRST, LAST))
    return target


@pytest.fixture(scope="module")
def server(sample_warehouse):
    with serving(create_app(sample_warehouse, Tokens([TOKEN]), today=lambda: LAST)) as url:
        yield url


class Page:
    """A browser tab on the dashboard, with what it logged and requested."""

    def __init__(self, tab):
        self.tab, self.errors, self.requests = tab, [], []
        tab.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: self.errors.append(str(e)))
        tab.on("request", lambda r: self.requests.append(r.url))

    def drawn(self, view: str = "") -> None:
        self.tab.wait_for_function(f"document.body.dataset.ready === 'true' && document.body.dataset.drawn.endsWith({view!r})",
                                   timeout=30000)

    def stats(self) -> dict[str, str]:
        return dict(self.tab.eval_on_selector_all("[data-stat]", "els => els.map(e => [e.dataset.stat, e.textContent])"))

    def first_row(self, chart: str) -> dict[str, str]:
        """The first row of a chart's table, by the document's name of each column."""
        return self.tab.eval_on_selector(f"[data-table='{chart}']", """t => {
            const heads = [...t.querySelectorAll('thead th')].map(h => h.dataset.key);
            const cells = [...t.querySelectorAll('tbody tr:first-child > *')].map(c => c.textContent);
            return Object.fromEntries(heads.map((h, i) => [h, cells[i]])); }""")


def open_file(chromium, page_file, view: str = "") -> Page:
    page = Page(chromium.new_page(viewport={"width": 1300, "height": 900}))
    page.tab.goto(page_file.as_uri() + (f"#{view}" if view else ""))
    page.drawn()
    return page


def open_served(chromium, server, view: str = "") -> Page:
    page = Page(chromium.new_page(viewport={"width": 1300, "height": 900}))
    page.tab.goto(f"{server}/" + (f"#{view}" if view else ""))
    page.tab.fill("input[name=token]", TOKEN)
    page.tab.click("button[type=submit]")
    page.drawn()
    return page


def figures(doc: dict, lifecycle: dict, projects: list[str] | None = None) -> dict[str, float]:
    """The stats the page should show for a document, by the spec's definitions."""
    keep = (lambda rows: [r for r in rows if r["project"] in projects]) if projects else (lambda rows: rows)
    weekly = keep(doc["projectFlagTrends"])
    latest = [r for r in weekly if r["week"] == max(r["week"] for r in weekly)]
    total, stale, potentially = (sum(r[k] for r in latest) for k in ("total", "stale", "potentiallyStale"))
    production = {}
    for r in keep(doc["lifecycleTrends"]):
        production[r["week"]] = production.get(r["week"], 0) + r["newProductionFlags"]
    created = sum(sum(r["createdFlags"].values()) for r in keep(doc["creationArchiveTrends"]))
    archived = sum(r["archivedFlags"] for r in keep(doc["creationArchiveTrends"]))
    metrics = keep(doc["metricsSummaryTrends"])
    expected = {
        "technical-debt:Technical debt": f"{math.floor((stale + potentially) * 100 / total + 0.5)}%",
        "technical-debt:Healthy": total - stale - potentially, "technical-debt:Stale": stale,
        "technical-debt:Potentially stale": potentially,
        "production:Median per week": statistics.median(production.values()) if production else "N/A",
        "creation:Created": created, "creation:Archived": archived,
        "creation:Archived to created": f"{math.floor(archived * 100 / created + 0.5)}%" if created else "N/A",
        "evaluations:Evaluations": sum(r["totalRequests"] for r in metrics),
        "evaluations:Exposed": sum(r["totalYes"] for r in metrics),
        "evaluations:Not exposed": sum(r["totalNo"] for r in metrics),
        "updates:Updates": sum(r["totalUpdates"] for r in doc["environmentTypeTrends"]),
        "lifecycle:Develop: flags": lifecycle["lifecycleTrends"]["develop"]["totalFlags"],
        "lifecycle:Production: flags": lifecycle["lifecycleTrends"]["production"]["totalFlags"],
        "lifecycle:Cleanup: flags": lifecycle["lifecycleTrends"]["cleanup"]["totalFlags"],
    }
    if projects:
        expected["flags:Total flags"] = total
    else:
        last_users, last_flags = doc["userTrends"][-1], doc["flagTrends"][-1]
        expected.update({"users:Total users": last_users["total"], "users:Active (60 days)": last_users["active"],
                         "users:Inactive": last_users["inactive"], "flags:Total flags": last_flags["total"],
                         "flags:Stale": last_flags["stale"], "flags:Potentially stale": last_flags["potentiallyStale"]})
    return expected


def shown(stats: dict[str, str]) -> dict[str, object]:
    """The page's stats as numbers where they are numbers."""
    return {k: (float(v.replace(",", "")) if v.replace(",", "").replace(".", "").isdigit() else v) for k, v in stats.items()}


def assert_figures(page: Page, doc: dict, lifecycle: dict, projects: list[str] | None = None) -> None:
    stats = shown(page.stats())
    for key, value in figures(doc, lifecycle, projects).items():
        assert stats[key] == value, key


def test_the_file_draws_every_chart_with_no_request_at_all(chromium, page_file):
    page = open_file(chromium, page_file)
    marks = dict(page.tab.eval_on_selector_all("[data-chart]", "els => els.map(e => [e.dataset.chart, e.querySelectorAll("
                                               "'svg path, svg rect, svg line, svg symbol').length])"))
    assert list(marks) == CHARTS and all(n > 10 for n in marks.values()), marks
    assert page.errors == []
    assert [url for url in page.requests if not url.startswith(("file:", "data:", "blob:"))] == []


def test_the_served_page_draws_every_chart_from_the_server_alone(chromium, server):
    page = open_served(chromium, server)
    marks = page.tab.eval_on_selector_all("[data-chart]", "els => els.map(e => e.querySelectorAll('svg path').length)")
    assert len(marks) == len(CHARTS) and all(n > 3 for n in marks)
    assert page.errors == []
    assert page.requests and all(url.startswith(server) for url in page.requests), page.requests


@pytest.mark.parametrize("how", ["file", "served"])
def test_stats_and_a_table_cell_of_every_chart_are_the_documents(chromium, sample_warehouse, page_file, server, how):
    page = open_file(chromium, page_file) if how == "file" else open_served(chromium, server, f"from={FIRST}&to={LAST}")
    doc = job.export(sample_warehouse, FIRST, LAST)
    lifecycle = trends.lifecycle_now(Lake(sample_warehouse), LAST)
    assert_figures(page, doc, lifecycle)
    first_week = doc["projectFlagTrends"][0]["week"]
    of_week = lambda array: [r for r in doc[array] if r["week"] == first_week]  # noqa: E731
    cells = {chart: page.first_row(chart) for chart in CHARTS}
    assert cells["users"] == {**cells["users"], "date": FIRST.isoformat(), "total": f'{doc["userTrends"][0]["total"]:,}'}
    assert cells["flags"]["potentiallyStale"] == f'{doc["flagTrends"][0]["potentiallyStale"]:,}'
    assert cells["technical-debt"]["week"] == first_week
    assert cells["production"]["newProductionFlags"] == f'{sum(r["newProductionFlags"] for r in of_week("lifecycleTrends")):,}'
    assert cells["creation"]["archived"] == f'{sum(r["archivedFlags"] for r in of_week("creationArchiveTrends")):,}'
    yes = sum(r["totalYes"] for r in of_week("metricsSummaryTrends"))
    assert yes >= 1000 and cells["evaluations"]["totalYes"] == f"{yes:,}"  # with the cards' separators
    development = [r for r in doc["environmentTypeTrends"] if r["week"] == first_week and r["environmentType"] == "development"]
    assert cells["updates"]["development"] == f'{sum(r["totalUpdates"] for r in development):,}'
    develop = lifecycle["lifecycleTrends"]["develop"]["categories"]["experimental"]
    assert cells["lifecycle"] == {"stage": "develop", "category": "experimental", "older": f'{develop["flagsOlderThanWeek"]:,}',
                                  "new": f'{develop["newFlagsThisWeek"]:,}'}
    project = sorted({r["project"] for r in doc["projectFlagTrends"] if r["timeToProduction"]})[0]
    assert cells["time-to-production"][project] == _number(next(
        r["timeToProduction"] for r in doc["projectFlagTrends"] if r["week"] == first_week and r["project"] == project))


@pytest.mark.parametrize("how", ["file", "served"])
def test_the_project_filter_and_the_range_change_the_figures_to_those_documents(
    chromium, sample_warehouse, page_file, server, how
):
    page = open_file(chromium, page_file) if how == "file" else open_served(chromium, server, f"from={FIRST}&to={LAST}")
    doc = job.export(sample_warehouse, FIRST, LAST)
    project = sorted({r["project"] for r in doc["metricsSummaryTrends"]})[0]
    page.tab.select_option("#projects", [project])
    page.drawn(project)
    assert_figures(page, doc, trends.lifecycle_now(Lake(sample_warehouse), LAST, [project]), [project])
    assert f"projects={project}" in page.tab.url  # a link reproduces the view

    page.tab.click("#all-projects")
    page.drawn("|")
    page.tab.click("button[data-weeks='4']")
    four = (LAST - dt.timedelta(days=27), LAST)
    page.drawn(f"{four[0]}|{four[1]}|")
    assert_figures(page, job.export(sample_warehouse, *four), trends.lifecycle_now(Lake(sample_warehouse), LAST))
    assert page.errors == []


@pytest.mark.parametrize("how", ["file", "served"])
def test_the_flags_to_clean_up_are_the_flags_tables_sortable_and_filtered(chromium, sample_warehouse, page_file,
                                                                          server, how):
    import pyarrow.parquet as pq

    page = open_file(chromium, page_file) if how == "file" else open_served(chromium, server, f"from={FIRST}&to={LAST}")
    table = pq.read_table(sample_warehouse / "warehouse" / "flags" / "part-0.parquet").to_pylist()
    candidates = [r for r in table if r["cleanup_reason"]]
    assert candidates and {r["as_of"] for r in table} == {SEEN_UNTIL}
    rows = lambda: page.tab.eval_on_selector_all(  # noqa: E731
        "[data-table='cleanup'] tbody tr", "trs => trs.map(tr => [...tr.children].map(c => c.textContent))")
    assert sorted(r[0] for r in rows()) == sorted(r["flag"] for r in candidates)
    assert page.stats()["cleanup:Flags to clean up"] == str(len(candidates))
    heads = page.tab.eval_on_selector_all("[data-table='cleanup'] thead th", "ths => ths.map(th => th.textContent)")
    assert heads == ["Flag", "Project", "Type", "Reason", "Age (days)", "Last evaluated", "Evaluations, 30 days"]
    page.tab.click("[data-table='cleanup'] thead th:nth-child(7) button")  # evaluations in 30 days, ascending
    ascending = [int(r[6].replace(",", "")) for r in rows()]
    assert ascending == sorted(ascending) and page.tab.get_attribute("[data-table='cleanup'] thead th:nth-child(7)",
                                                                       "aria-sort") == "ascending"
    assert max(ascending) >= 1000 and f"{max(ascending):,}" in [r[6] for r in rows()]  # separators, sorted by value
    page.tab.click("[data-table='cleanup'] thead th:nth-child(7) button")
    assert [int(r[6].replace(",", "")) for r in rows()] == sorted(ascending, reverse=True)
    project = candidates[0]["project"]
    page.tab.select_option("#projects", [project])
    page.drawn(project)
    assert sorted(r[0] for r in rows()) == sorted(r["flag"] for r in candidates if r["project"] == project)
    csv = page.tab.evaluate("fetch(document.querySelector(\"[data-csv='cleanup']\").href).then(r => r.text())")
    assert csv.splitlines()[0] == "flag,project,type,reason,age,lastEvaluated,evaluations30d"
    assert len(csv.splitlines()) == 1 + sum(1 for r in candidates if r["project"] == project)


def test_the_json_download_is_the_ranges_document(chromium, sample_warehouse, page_file):
    import json

    page = open_file(chromium, page_file)
    text = page.tab.evaluate("fetch(document.getElementById('download-document').href).then(r => r.text())")
    assert json.loads(text) == job.export(sample_warehouse, FIRST, LAST)
    csv = page.tab.evaluate("fetch(document.querySelector(\"[data-csv='users']\").href).then(r => r.text())")
    assert csv.splitlines()[0] == "date,total,active,inactive" and len(csv.splitlines()) == 1 + 32


@pytest.mark.parametrize("how", ["file", "served"])
def test_no_wcag_2_level_a_violation(chromium, page_file, server, how):
    from axe_playwright_python.sync_playwright import Axe

    page = open_file(chromium, page_file) if how == "file" else open_served(chromium, server)
    result = Axe().run(page.tab, options={"runOnly": {"type": "tag", "values": ["wcag2a"]}})
    assert [v["id"] for v in result.response["violations"]] == []


def test_a_range_without_data_says_so(chromium, page_file, sample_warehouse, tmp_path):
    target = tmp_path / "empty.html"
    dashboard.write_file(sample_warehouse, target, dashboard.range_page(sample_warehouse, dt.date(2027, 1, 1),
                                                                        dt.date(2027, 1, 31)))
    page = open_file(chromium, target)
    assert page.tab.is_visible("#range-empty")
    assert page.tab.eval_on_selector_all(".empty", "els => els.length") >= 5
    assert page.errors == []


def test_the_file_stays_small(page_file):
    assert page_file.stat().st_size < 3_000_000


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def open_at(chromium, how: str, page_file, server, width: int, height: int, view: str = "") -> Page:
    page = Page(chromium.new_page(viewport={"width": width, "height": height}))
    if how == "file":
        page.tab.goto(page_file.as_uri() + (f"#{view}" if view else ""))
    else:
        page.tab.goto(f"{server}/" + (f"#{view}" if view else ""))
        page.tab.fill("input[name=token]", TOKEN)
        page.tab.click("button[type=submit]")
    page.drawn()
    return page


@pytest.mark.parametrize("how", ["file", "served"])
def test_at_phone_width_nothing_scrolls_sideways(chromium, page_file, server, how):
    page = open_at(chromium, how, page_file, server, 360, 740, f"from={FIRST}&to={LAST}")
    assert page.tab.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]") == [360, 360]
    widths = page.tab.eval_on_selector_all(".widget", "els => els.map(e => e.getBoundingClientRect().right)")
    assert widths and max(widths) <= 360
    assert page.errors == []


def test_the_partial_week_is_drawn_apart_and_said_in_its_table(chromium, page_file):
    page = open_file(chromium, page_file)  # ends on Saturday 2026-01-31: week 2026-05 holds Monday to Saturday
    marked = page.tab.eval_on_selector_all("[data-table='evaluations'] tr.partial th", "els => els.map(e => e.textContent)")
    assert marked == ["2026-05 (partial: its days so far)"]
    labels = page.tab.eval_on_selector_all("[data-chart='evaluations'] g[aria-label^='X-axis'] .role-axis-label text",
                                           "els => els.map(e => e.textContent)")
    assert labels[-1] == "2026-05 (partial)" and labels[:-1] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    dashed = page.tab.eval_on_selector_all("[data-chart='evaluations'] path[stroke-dasharray]", "els => els.length")
    assert dashed == 3  # evaluations, exposed, not exposed: each a dashed last step
    assert page.tab.eval_on_selector_all("[data-table='users'] tr.partial", "els => els.length") == 0  # a whole day


def test_count_axes_have_whole_number_ticks(chromium, page_file):
    import re

    page = open_file(chromium, page_file, "from=2026-01-19&to=2026-01-31")  # two weeks: small weekly counts
    for chart in ["users", "flags", "production", "creation", "evaluations", "updates", "lifecycle"]:
        ticks = page.tab.eval_on_selector_all(f"[data-chart='{chart}'] g[aria-label^='Y-axis'] .role-axis-label text",
                                              "els => els.map(e => e.textContent)")
        assert ticks and all(re.fullmatch(r"[\d,]+", t) for t in ticks) and len(set(ticks)) == len(ticks), (chart, ticks)


def test_the_files_picker_says_its_range_and_disables_presets_beyond_it(chromium, page_file):
    page = open_file(chromium, page_file)
    note = page.tab.text_content("#range-note")
    assert note.startswith(f"This file holds {FIRST} to {LAST} only")
    disabled = {b: page.tab.is_disabled(f"button[data-weeks='{b}']") for b in (4, 13, 52, 0)}
    assert disabled == {4: False, 13: True, 52: True, 0: False}
    assert page.tab.text_content("button[data-weeks='0']") == "All in this file"


@pytest.mark.parametrize(("how", "view", "words"), [
    ("file", "from=2030-01-01&to=2020-01-01", "from 2030-01-01 is after to 2020-01-01"),
    ("served", "from=2030-01-01&to=2020-01-01", "from 2030-01-01 is after to 2020-01-01"),
    ("file", "from=2025-02-30&to=2026-01-10", 'from "2025-02-30" is not a day written YYYY-MM-DD'),
    ("file", "from=2020-01-01&to=2026-01-10", f"this file holds {FIRST} to {LAST} only"),
])
def test_a_range_the_page_cannot_show_is_refused_in_words(chromium, page_file, server, how, view, words):
    page = open_at(chromium, how, page_file, server, 1300, 900, view)
    notice = page.tab.text_content("#notice")
    assert notice.startswith("The link's range cannot be shown: ") and words in notice, notice
    assert page.tab.get_attribute("#notice", "role") == "alert"


def test_the_project_list_shows_every_name(chromium, page_file):
    page = open_file(chromium, page_file)
    size, options = page.tab.evaluate("[document.getElementById('projects').size, document.getElementById('projects').options.length]")
    assert options >= 5 and size == options


def test_the_header_says_when_the_data_was_landed_and_which_days_it_holds(chromium, sample_warehouse, page_file):
    import json

    landed = json.loads((sample_warehouse / "state" / "landed.json").read_text())
    assert landed["generation"] == Lake(sample_warehouse).generation
    landed = dt.datetime.fromisoformat(landed["landed_at"]).astimezone(dt.timezone.utc)
    assert abs((dt.datetime.now(dt.timezone.utc) - landed).total_seconds()) < 3600  # this session's clock, not the data's
    page = open_file(chromium, page_file)
    header, behind = page.tab.eval_on_selector_all(".provenance", "ps => ps.map(p => p.textContent)")
    assert header == (f"Landed {landed:%Y-%m-%d %H:%M} UTC from sample(seed=1), covering 2024-01-01 to 2026-01-31 "
                      "(extracted up to 2026-01-31 23:59 UTC).")
    assert behind.startswith(f"Lake generation {Lake(sample_warehouse).generation}, build-g") and "warehouse commit" in behind
    sizes = page.tab.eval_on_selector_all(".provenance", "ps => ps.map(p => parseFloat(getComputedStyle(p).fontSize))")
    assert sizes[1] < sizes[0]  # the identifiers after, smaller


@pytest.mark.parametrize("how", ["file", "served"])
def test_the_unknown_flags_are_the_unknown_flags_table(chromium, sample_warehouse, page_file, server, how):
    import pyarrow.parquet as pq

    page = open_file(chromium, page_file) if how == "file" else open_served(chromium, server, f"from={FIRST}&to={LAST}")
    table = pq.read_table(sample_warehouse / "warehouse" / "unknown_flags" / "part-0.parquet").to_pylist()
    assert {r["flag"] for r in table} == {"serach-autocomplete", "new-checkout-flow-v1"}  # the sample's (sample.toml)
    rows = page.tab.eval_on_selector_all("[data-table='unknown'] tbody tr",
                                         "trs => trs.map(tr => [...tr.children].map(c => c.textContent))")
    assert sorted(rows) == sorted([r["flag"], r["status"].replace("_", " "), str(r["first_evaluated_day"]),
                                   str(r["last_evaluated_day"]), f'{r["evaluations_7d"]:,}', f'{r["evaluations_30d"]:,}',
                                   " ".join(r["apps"])] for r in table)
    assert page.stats()["unknown:Unknown flags"] == "2"
    assert page.stats()["unknown:Evaluations in 7 days"] == f"{sum(r['evaluations_7d'] for r in table):,}"


def test_the_flags_to_clean_up_filter_by_reason_and_link_to_unleash(chromium, sample_warehouse, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    monkeypatch.setenv("INSIGHTS_UNLEASH_URL", "https://unleash.example.com/")
    target = tmp_path / "insights.html"
    dashboard.write_file(sample_warehouse, target, dashboard.range_page(sample_warehouse, FIRST, LAST))
    table = pq.read_table(sample_warehouse / "warehouse" / "flags" / "part-0.parquet").to_pylist()
    always_on = sorted(r["flag"] for r in table if r["cleanup_reason"] == "always_on")
    assert always_on  # the sample has some
    page = open_file(chromium, target)
    page.tab.select_option("[data-filter='cleanup']", "always_on")
    page.tab.wait_for_function("document.body.dataset.ready === 'true' && document.body.dataset.reason === 'always_on'")
    links = page.tab.eval_on_selector_all("[data-table='cleanup'] tbody tr th a",
                                          "as => as.map(a => [a.textContent, a.getAttribute('href')])")
    assert sorted(links) == [[flag, f"https://unleash.example.com/projects/{project}/features/{flag}"]
                             for flag, project in sorted((r["flag"], r["project"]) for r in table
                                                         if r["cleanup_reason"] == "always_on")]
    assert page.stats()["cleanup:Flags to clean up"] == str(len(always_on))
    assert "reason=always_on" in page.tab.url  # the choice is in the link, as the range is
    assert page.errors == []


WEEK_CHARTS = ["technical-debt", "production", "creation", "time-to-production", "evaluations", "updates"]


@pytest.fixture(scope="module")
def two_years_file(sample_warehouse, tmp_path_factory):
    """The dashboard file of the sample's last two years, for long ranges."""
    target = tmp_path_factory.mktemp("long") / "insights.html"
    dashboard.write_file(sample_warehouse, target, dashboard.range_page(sample_warehouse, dt.date(2024, 1, 1), LAST))
    return target


def overlapping(boxes: list[dict]) -> list[tuple[dict, dict]]:
    """Pairs of boxes (x, y, width, height) that share any area."""
    return [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a["x"] < b["x"] + b["width"] - 0.5 and b["x"] < a["x"] + a["width"] - 0.5
            and a["y"] < b["y"] + b["height"] - 0.5 and b["y"] < a["y"] + a["height"] - 0.5]


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize("weeks", [52, 104])
def test_long_ranges_label_their_weeks_without_overlap(chromium, two_years_file, weeks, width):
    first = LAST - dt.timedelta(weeks=weeks) + dt.timedelta(days=1)
    page = Page(chromium.new_page(viewport={"width": width, "height": 900}))
    page.tab.goto(two_years_file.as_uri() + f"#from={first}&to={LAST}")
    page.drawn()
    for chart in [*WEEK_CHARTS, "users", "flags"]:
        boxes = page.tab.eval_on_selector_all(
            f"[data-chart='{chart}'] g[aria-label^='X-axis'] .role-axis-label text",
            "ts => ts.filter(t => getComputedStyle(t).opacity !== '0' && t.getAttribute('opacity') !== '0')"
            ".map(t => { const r = t.getBoundingClientRect(); return {text: t.textContent, x: r.x, y: r.y, "
            "width: r.width, height: r.height}; })")
        assert len(boxes) >= (3 if width > 1000 else 2), (chart, boxes)
        assert overlapping(boxes) == [], (chart, width, overlapping(boxes)[:3])
        if chart in WEEK_CHARTS:  # the latest week is always labelled
            assert boxes[-1]["text"].startswith("2026-05"), (chart, boxes[-1])
    assert page.errors == []


def test_every_tables_columns_are_visible_or_reachable_at_1280_px(chromium, two_years_file):
    page = Page(chromium.new_page(viewport={"width": 1280, "height": 900}))
    page.tab.goto(two_years_file.as_uri() + f"#from={LAST - dt.timedelta(weeks=52)}&to={LAST}")
    page.drawn()
    page.tab.eval_on_selector_all("details.numbers", "ds => ds.forEach(d => d.open = true)")
    tables = page.tab.eval_on_selector_all("[data-table]", """ts => ts.map(t => {
        const widget = t.closest('.widget'), box = widget.getBoundingClientRect();
        const heads = [...t.querySelectorAll('thead th')].map(h => h.getBoundingClientRect());
        let scrolls = false;
        for (let e = t; e && e !== widget; e = e.parentElement)
            scrolls = scrolls || ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
        return {table: t.dataset.table, inside: heads.every(h => h.left >= box.left - 1 && h.right <= box.right + 1),
                scrolls}; })""")
    assert tables and all(t["inside"] or t["scrolls"] for t in tables), tables
    whole = {t["table"]: t["inside"] for t in tables}
    assert whole["cleanup"] and whole["unknown"], whole  # the flag tables show every column


@pytest.mark.parametrize("how", ["file", "served"])
def test_at_phone_width_no_table_or_caption_is_cut(chromium, page_file, server, how):
    page = open_at(chromium, how, page_file, server, 360, 740, f"from={FIRST}&to={LAST}")
    page.tab.eval_on_selector_all("details.numbers", "ds => ds.forEach(d => d.open = true)")
    cut = page.tab.eval_on_selector_all(".widget caption, .widget thead th, .widget tbody th, .widget tbody td", """els =>
        els.filter(e => e.getClientRects().length).map(e => {
            const r = e.getBoundingClientRect(), box = e.closest('.widget').getBoundingClientRect();
            return {text: e.textContent, left: r.left, right: r.right, box: [box.left, box.right],
                    overflowing: e.scrollWidth > e.clientWidth + 1}; })
        .filter(e => e.left < e.box[0] - 1 || e.right > e.box[1] + 1 || e.overflowing)""")
    assert cut == [], cut[:5]
    assert page.errors == []
