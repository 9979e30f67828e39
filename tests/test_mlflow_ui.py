"""What a user sees of a sweep in the MLflow UI, in a real browser (issue 14).

One tiny real sweep (the baseline and `smoothing=0.1`, 2 paired seeds) and one `mlflow server`
over its SQLite store serve every test; each test opens a fresh headless Chromium context
(driven by Playwright, so with a new browser's defaults) and checks names and values on the
pages, never only that a page loaded.

Needs the `playwright` pip package and a Chromium executable (`ABLATE_CHROMIUM`, else
`chromium` on the PATH, else /usr/bin/chromium; Debian's `chromium` package works, no
`playwright install` needed). Without them the tests are skipped, or fail where
`ABLATE_REQUIRE_SERVICES=1` (CI).
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from conftest import TINY, free_port, missing_service, run_cli

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips (or fails) with the reason
    expect = None

pytestmark = pytest.mark.slow

WAIT_MS = 30_000  # a page on 2 busy cores can take several seconds
CHILDREN = ("baseline seed=0", "baseline seed=1", "smoothing=0.1 seed=0", "smoothing=0.1 seed=1")
REPORT_FIGURES = ("forest.png", "pareto.png", "learning_curves.png", "per_seed.png")
REPORT_FILES = ("report.md", "report.csv", "report.html", *REPORT_FIGURES)


@dataclass
class Sweep:
    """The sweep as the store holds it, and the URL of the UI that serves it."""

    base_url: str
    experiment_id: str
    sweep_id: str
    parent_id: str
    children: dict[str, str]  # run name -> run id
    val_accuracy: dict[str, list[tuple[int, float]]]  # run name -> (epoch, value) per epoch
    headline: dict[str, float]
    verdict: str

    def url(self, route: str) -> str:
        return f"{self.base_url}/#/{route}"

    def runs_url(self) -> str:
        return self.url(f"experiments/{self.experiment_id}/runs")

    def run_url(self, run_id: str, tab: str = "") -> str:
        return self.url(f"experiments/{self.experiment_id}/runs/{run_id}{tab}")


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's executable, once Playwright imports."""
    if expect is None:
        missing_service("playwright cannot be imported: pip install playwright")
    path = os.environ.get("ABLATE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        missing_service(
            f"no Chromium executable at {path}: apt-get install chromium, or set ABLATE_CHROMIUM"
        )
    return path


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    """`mlflow server` over the folder's store; returns the process and its URL once it answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # else 8 more processes, ~1.9 GB
    log = folder / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--workers", "1"]
            + ["--backend-store-uri", f"sqlite:///{folder}/mlflow.db"]
            + ["--host", "127.0.0.1", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its uvicorn worker goes with it in teardown
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow server exited {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return server, url
        except OSError:
            time.sleep(0.5)
    stop_server(server)
    pytest.fail(f"mlflow server did not answer within 120 s:\n{log.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen) -> None:
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def sweep(chromium, tmp_path_factory):
    """Runs the sweep, reads it back from the store, and serves the store with `mlflow server`."""
    folder = tmp_path_factory.mktemp("ui")
    result = run_cli("-m", "smoothing=0,0.1", "ablation.seeds=2", *TINY, cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]

    client = mlflow.MlflowClient(f"sqlite:///{folder}/mlflow.db")
    experiment = client.get_experiment_by_name("ablate")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("ablate.kind") == "sweep"]
    children = {r.info.run_name: r.info.run_id for r in runs if r is not parent}
    assert sorted(children) == sorted(CHILDREN)
    history = {
        name: [(m.step, m.value) for m in client.get_metric_history(run_id, "val_accuracy")]
        for name, run_id in children.items()
    }
    server, base_url = start_server(folder)
    try:
        yield Sweep(
            base_url=base_url,
            experiment_id=experiment.experiment_id,
            sweep_id=parent.data.tags["ablate.sweep_id"],
            parent_id=parent.info.run_id,
            children=children,
            val_accuracy={name: sorted(points) for name, points in history.items()},
            headline=parent.data.metrics,
            verdict=parent.data.tags["verdict/smoothing:0.1"],
        )
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=WAIT_MS)
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield browser
        browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser):
    """A page in a fresh context: no stored preference, as in a browser never used with MLflow."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


def open_runs_table(page, sweep: Sweep):
    """Opens the experiment's runs table; returns the row of the sweep's parent run."""
    page.goto(sweep.runs_url(), wait_until="load")
    name = f"sweep {sweep.sweep_id}"
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
    expect(row).to_have_count(1)
    return row


def run_links(scope, experiment_id: str) -> dict[str, str]:
    """Each link to a run of the experiment in `scope` (a page or a locator): text -> run id."""
    pattern = re.compile(rf"^#/experiments/{experiment_id}/runs/([0-9a-f]{{32}})$")
    links = scope.get_by_role("link").evaluate_all(
        "links => links.map(a => [a.textContent.trim(), a.getAttribute('href') || ''])"
    )
    return {text: match[1] for text, href in links if (match := pattern.match(href))}


def plotted(page) -> dict[str, list[tuple[float, float]]]:
    """The points of every Plotly trace on the page, by trace name."""
    traces = page.locator(".js-plotly-plot").evaluate_all(
        "plots => plots.flatMap(p => p.data.map(t => [t.name, t.x, t.y]))"
    )
    return {name: list(zip(xs, ys, strict=True)) for name, xs, ys in traces}


def test_the_runs_table_nests_every_arm_and_seed_under_the_sweeps_parent_run(page, sweep):
    parent_row = open_runs_table(page, sweep)
    expect(page.get_by_text("5 matching runs", exact=True)).to_be_visible()
    assert set(run_links(page, sweep.experiment_id)) == {f"sweep {sweep.sweep_id}"}  # collapsed

    parent_row.get_by_role("button").click()  # the expander (MLflow gives it no name)
    for name in CHILDREN:
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    assert run_links(page, sweep.experiment_id) == {
        f"sweep {sweep.sweep_id}": sweep.parent_id,
        **sweep.children,
    }
    left = {
        name: page.get_by_role("link", name=name, exact=True).bounding_box()["x"]
        for name in (f"sweep {sweep.sweep_id}", *CHILDREN)
    }
    parent_x = left.pop(f"sweep {sweep.sweep_id}")
    assert len(set(left.values())) == 1 and min(left.values()) >= parent_x + 12, left  # indented


def test_the_parent_run_page_shows_its_children_and_the_sweeps_headline(page, sweep):
    page.goto(sweep.run_url(sweep.parent_id), wait_until="load")
    expect(page.get_by_role("heading", name=f"sweep {sweep.sweep_id}")).to_be_visible()
    child_runs = page.get_by_test_id("key-value-Child runs").get_by_role("link")
    expect(child_runs).to_have_count(len(CHILDREN))
    assert run_links(page.get_by_test_id("key-value-Child runs"), sweep.experiment_id) == (
        sweep.children
    )

    for metric in ("baseline_test_accuracy", "delta_pp/smoothing:0.1"):
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=metric, exact=True))
        expect(row).to_have_count(1)
        shown = row.get_by_role("cell").nth(1).inner_text()
        assert float(shown) == pytest.approx(sweep.headline[metric]), metric
    verdict = page.get_by_role("status").filter(has_text="verdict/smoothing:0.1")
    expect(verdict).to_contain_text(sweep.verdict)


def test_the_parent_run_lists_the_report_files_and_previews_them(page, sweep):
    page.goto(sweep.run_url(sweep.parent_id, "/artifacts"), wait_until="load")

    def node(name):
        return page.locator(f'[data-testid="artifact-tree-node"][artifact-name="{name}"]')

    tree = page.get_by_test_id("artifact-tree-node")
    expect(tree).to_have_count(2)
    node("report").click()
    expect(tree).to_have_count(2 + len(REPORT_FILES))
    names = tree.evaluate_all("nodes => nodes.map(n => n.getAttribute('artifact-name'))")
    assert sorted(names) == sorted(["report", "plan.md", *REPORT_FILES])

    node("report.md").click()  # rendered as markdown: its tables are tables
    expect(page.get_by_text(f"Ablation report: {sweep.sweep_id}", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="smoothing=0.1", exact=True).first).to_be_visible()
    node("report.csv").click()  # a table of the CSV's rows
    expect(page.get_by_text("p_equivalence_holm", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="baseline", exact=True).first).to_be_visible()
    for figure in REPORT_FIGURES:
        node(figure).click()
        image = page.get_by_role("img", name=f"report/{figure}").first
        expect(image).to_be_visible()
        width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
        assert width > 100, (figure, width)  # the PNG itself arrived and decoded


def test_a_child_run_charts_its_val_accuracy_per_epoch(page, sweep):
    name = "baseline seed=0"
    page.goto(sweep.run_url(sweep.children[name]), wait_until="load")
    page.get_by_role("tab", name="Model metrics").click()
    page.get_by_role("searchbox").fill("val_accuracy")  # charts are lazy: only the first render
    expect(page.get_by_text(f"{name} (val_accuracy)", exact=True)).to_be_visible()  # the legend
    expect(page.locator(".js-plotly-plot")).to_have_count(1)
    assert plotted(page) == {name: sweep.val_accuracy[name]}


def metric_row_values(page, metric: str) -> list[float]:
    """The values shown beside `metric` in the compare page's metrics table.

    The table scrolls in two columns: metric names and values. MLflow 3.17 scrolls the names to
    where the values were one scroll event before, so a row's name sits beside another row's
    values until one more scroll event; this scrolls the values until the name is in view, then
    one pixel back, which brings the names level with the values.
    """
    names, values = page.get_by_role("grid").first, page.get_by_role("grid").last
    link = names.get_by_role("link", name=metric, exact=True)
    for _ in range(80):
        column = names.bounding_box()
        box = link.bounding_box() if link.count() else None
        in_view = box is not None and column["y"] <= box["y"] <= column["y"] + column["height"] - 45
        level = abs(names.evaluate("g => g.scrollTop") - values.evaluate("g => g.scrollTop")) <= 1
        if in_view and level:
            break
        values.evaluate(
            "(grid, step) => { const bottom = grid.scrollHeight - grid.clientHeight;"
            " let top = Math.min(grid.scrollTop + step, bottom);"
            " if (top === grid.scrollTop) top -= 1; grid.scrollTop = top; }",
            -1 if in_view else 45,
        )
        page.wait_for_timeout(100)
    else:
        raise AssertionError(f"{metric} never came into view in the compare page's metrics table")
    middle = box["y"] + box["height"] / 2
    cells = values.locator("span").evaluate_all(
        "spans => spans.map(s => { const r = s.getBoundingClientRect();"
        " return [s.textContent, r.top, r.bottom]; })"
    )
    return [float(text) for text, top, bottom in cells if top - 12 <= middle <= bottom + 12]


def test_comparing_two_children_shows_both_and_their_val_accuracy(page, sweep):
    pair = ("baseline seed=0", "smoothing=0.1 seed=0")
    open_runs_table(page, sweep).get_by_role("button").click()
    for name in pair:
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
        row.get_by_role("checkbox", name=re.compile("toggle row selection")).check()
    page.get_by_role("button", name="Compare", exact=True).click()

    expect(page.get_by_text("Comparing 2 Runs from 1 Experiment")).to_be_visible()
    assert all(sweep.children[name] in page.url for name in pair), page.url
    run_names = page.get_by_role("row").filter(has_text="Run Name:")
    for name in pair:
        expect(run_names.get_by_text(name, exact=True)).to_be_visible()
    finals = [sweep.val_accuracy[name][-1][1] for name in pair]
    assert metric_row_values(page, "val_accuracy") == pytest.approx(finals, abs=5e-4)

    page.get_by_role("grid").first.get_by_role("link", name="val_accuracy", exact=True).click()
    for name in pair:  # the metric's chart, one line per run
        expect(page.get_by_text(f"{name} (val_accuracy)", exact=True)).to_be_visible()
    assert plotted(page) == {name: sweep.val_accuracy[name] for name in pair}


def experiment_link(page):
    """The experiment's link in the experiments list."""
    return page.get_by_test_id("experiment-list-item-link").filter(has_text=re.compile("^ablate$"))


def test_model_training_is_one_url_parameter_or_one_click_away(page, sweep):
    page.goto(
        sweep.url(f"experiments/{sweep.experiment_id}?workflowType=machine_learning"),
        wait_until="load",
    )
    expect(page.get_by_role("link", name=f"sweep {sweep.sweep_id}", exact=True)).to_be_visible()
    assert f"/experiments/{sweep.experiment_id}/runs" in page.url, page.url
    expect(page.get_by_role("link", name="Evaluation runs", exact=True)).to_have_count(0)

    page.goto(sweep.url("experiments"), wait_until="load")  # the sidebar's switch, remembered
    page.get_by_role("button", name="Model training", exact=True).click()
    experiment_link(page).click()
    expect(page.get_by_role("link", name=f"sweep {sweep.sweep_id}", exact=True)).to_be_visible()
    assert f"/experiments/{sweep.experiment_id}/runs" in page.url, page.url
