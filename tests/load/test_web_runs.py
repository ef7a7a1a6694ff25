"""Tests started in the web UI are runs: `python -m lab ui` over simulated engines behind the real
vllm-router (the cpu profile, engine.simulated), driven through the UI's own endpoints (as its
page does) and, in the browser test, through the page itself in headless Chromium."""

from __future__ import annotations

import csv
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lab.inproc.samples import CPU_FILE
from lab.load import web_figures
from lab.results import folder as results_folder
from lab.stack import metrics, processes
from lab.stack.metrics import SERVED
from tests.helpers.browser import browser
from tests.helpers.lab import lab_main
from tests.helpers.rendering import without_page
from tests.helpers.simstack import sim_stack
from tests.helpers.webui import SIMULATED, web_ui

pytestmark = pytest.mark.timeout(600)
LOCUST_FILES = {
    "locust_stats.csv",
    "locust_stats_history.csv",
    "locust_failures.csv",
    "locust_exceptions.csv",
    "locust_stats.json",
    "locust.html",
}


def start(ui: httpx.Client, users: int, user_class: str, **parameters: object) -> None:
    form = {"user_count": users, "spawn_rate": users, "user_classes": user_class, **parameters}
    assert ui.post("/swarm", data=form).json()["success"]


def locust_count(ui: httpx.Client, state: str) -> int:
    """The UI's own request count, once a poll says `state` (Locust caches polls for 2 s)."""
    found: dict = {}

    def polled() -> bool:
        found.update(ui.get("/stats/requests").json())
        return found["state"] == state

    assert processes.wait_until(polled, timeout=30), found.get("state")
    (total,) = [row for row in found["stats"] if row["name"] == "Aggregated"]
    return total["num_requests"]


def finished(base: Path, count: int) -> list[Path]:
    """The first `count` results folders, once each has its report (written last)."""

    def written() -> bool:
        return len(list(base.glob("*/report.html"))) >= count

    assert processes.wait_until(written, timeout=120)
    return sorted(p.parent for p in base.glob("*/report.html"))


def requests(folder: Path, scenario: str) -> list[dict[str, str]]:
    with (folder / scenario / "requests.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def locust_final(folder: Path, scenario: str, level: str) -> int:
    stats = json.loads((folder / scenario / level / "locust_stats.json").read_text())
    (posts,) = [e["num_requests"] for e in stats if e["method"] == "POST"]
    return posts


def summary(folder: Path, scenario: str) -> dict:
    return json.loads((folder / scenario / "summary.json").read_text())["levels"]


@dataclass
class Session:
    base: Path
    folders: list[Path]
    shown: list[dict[str, str]]  # the LLM tab's rows after the second test stopped
    counted: int  # the UI's request count then
    served: int  # requests the engines served over the session
    output: list[str]
    options: dict


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    """One UI session: a test reset midway then stopped (two runs), and a third test still
    running when the UI is stopped (Ctrl-C)."""
    base = tmp_path_factory.mktemp("webui")
    state_dir, out = base / "state", base / "results"
    with sim_stack(state_dir, simulated=SIMULATED) as (_, stack):
        with web_ui(state_dir, out) as (url, output), httpx.Client(base_url=url, timeout=90) as ui:
            page = ui.get("/").text
            options = json.loads(re.search(r"templateArgs = (.*)", page)[1])["extra_options"]
            start(ui, 2, "ThroughputUser", lab_output_tokens=6)
            time.sleep(3)
            assert ui.post("/stats/reset").text == "ok"
            time.sleep(3)
            assert ui.post("/stop").json()["success"]
            counted = locust_count(ui, "stopped")
            shown = ui.get("/llm/figures.json").json()["rows"]
            finished(out, 2)
            start(ui, 3, "MultiRoundQAUser", lab_rounds=50, lab_user_qps=5)
            time.sleep(3)
        engines = stack.require_endpoints().engines
        served = sum(metrics.scrape(engine.metrics)[SERVED] for engine in engines)
    return Session(base, finished(out, 3), shown, counted, int(served), output, options)


def test_each_test_leaves_a_results_folder_as_a_headless_run_does(session) -> None:
    first, second, third = session.folders
    for folder in session.folders:
        assert folder.name.endswith("-cpu-ui")
        results_folder.load_manifest(folder)  # valid against the schema
    for folder in (first, second):
        place = folder / "throughput"
        assert {p.name for p in place.iterdir()} == {
            "requests.csv", "engines.csv", "summary.json", "ui-u2-r2"
        }  # fmt: skip
        assert {p.name for p in (place / "ui-u2-r2").iterdir()} == {*LOCUST_FILES, CPU_FILE}
        assert (folder / "report.html").stat().st_size > 10_000  # with its plots
    assert (third / "routing" / "requests.csv").exists()


def test_the_manifest_records_what_the_user_chose(session) -> None:
    first, second, third = (results_folder.load_manifest(f) for f in session.folders)
    for manifest, ended_by in ((first, "reset"), (second, "stop")):
        assert manifest["status"] == "completed"
        (entry,) = manifest["scenarios"]
        assert (entry["name"], entry["kind"], entry["levels"]) == (
            "throughput", "throughput", ["ui-u2-r2"]
        )  # fmt: skip
        chosen = manifest["web_ui"]
        assert chosen["user_classes"] == ["ThroughputUser"]
        assert (chosen["users"], chosen["spawn_rate"], chosen["user_counts"]) == (2, 2, [2])
        assert chosen["parameters"]["lab_output_tokens"] == 6
        assert chosen["ended_by"] == ended_by
        assert manifest["profile_name"] == "cpu" and manifest["platform"] == "local"
    assert first["scenarios"][0]["seed"] == second["scenarios"][0]["seed"]  # one test, reset
    # Cut short by the end of the UI: kept, marked so, never picked for a comparison.
    assert third["status"] == "interrupted" and third["web_ui"]["ended_by"] == "quit"
    (entry,) = third["scenarios"]
    assert (entry["name"], entry["status"], entry["levels"]) == ("routing", "interrupted", [])
    assert third["web_ui"]["parameters"]["lab_rounds"] == 50


def test_every_request_is_counted_once_across_a_reset(session) -> None:
    first, second, third = session.folders
    rows = {f: requests(f, s) for f, s in ((first, "throughput"), (second, "throughput"))}
    for folder, found in rows.items():
        assert found and len(found) == locust_final(folder, "throughput", "ui-u2-r2")
        assert {r["level"] for r in found} == {"ui-u2-r2"}
    # The UI's own count after the stop is the second test's.
    assert session.counted == len(rows[second])
    ids = [r["request_id"] for found in rows.values() for r in found]
    assert len(ids) == len(set(ids))
    # The engines' counters: what they served over the session is what the samples hold (a
    # request a stopped user left unread may have been served: one per user at most).
    total = sum(len(found) for found in rows.values()) + len(requests(third, "routing"))
    assert 0 <= session.served - total <= 2 + 3
    engines = results_folder.read_engines(second / "throughput" / "engines.csv")["ui-u2-r2"]
    assert set(engines) == {"engine-0", "engine-1"}


def test_the_ui_showed_what_summary_json_keeps(session) -> None:
    second = session.folders[1]
    (figures,) = summary(second, "throughput").values()
    shown = {row["figure"]: row["value"] for row in session.shown}
    assert all(shown[label] == value for label, value in web_figures.figure_rows(figures))
    assert shown["requests"] == str(session.counted)
    assert shown["results folder"] == f"{second} (saved)"
    assert shown["profile"] == "cpu" and shown["routing"] == "roundrobin"


def test_the_terminal_names_the_stack_and_each_folder(session) -> None:
    text = "\n".join(session.output)
    assert "the web UI drives profile cpu on local: roundrobin routing at http://127.0.0.1:" in text
    for folder in session.folders:
        assert f"📁 results of the web UI test: {folder}" in text


def test_only_what_shapes_the_load_is_a_custom_parameter(session) -> None:
    assert {"lab_seed", "lab_rounds", "lab_output_tokens", "lab_rate"} <= set(session.options)
    plumbing = {"lab_samples", "lab_level", "lab_results", "lab_model", "lab_session_key"}
    assert not plumbing & set(session.options)


def test_ui_runs_compare_like_any_other(session, monkeypatch) -> None:
    """`nox -s compare` with no runs named: the two completed UI runs (the third was cut
    short), compared on their common level (in this process: which runs, not the page)."""
    without_page(monkeypatch)
    compare = ("compare", "--metrics", "ttft,throughput")
    done = lab_main(*compare, state_dir=session.base / ".lab", cwd=session.base)
    assert done.returncode == 0, done.stderr
    first, second, _ = session.folders
    assert f"B = results/{second.name}" in done.stdout
    assert f"A = results/{first.name}" in done.stdout
    assert "throughput/ui-u2-r2" in done.stdout


@pytest.mark.browser
def test_a_test_run_in_the_browser_is_recorded_as_the_ui_showed_it(tmp_path) -> None:
    state_dir, out = tmp_path / "state", tmp_path / "results"
    stack = sim_stack(state_dir, simulated=SIMULATED)
    with stack, web_ui(state_dir, out) as (url, _), browser() as chromium:
        page = chromium.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url)
        page.get_by_label("Number of users (peak concurrency)").fill("2")
        page.get_by_label("Ramp up (users started/second)").fill("2")
        page.get_by_role("button", name="Start").click()
        page.get_by_role("cell", name="ttft_ms").first.wait_for(timeout=60_000)
        page.wait_for_timeout(4_000)
        page.get_by_role("button", name="Stop").click()
        page.get_by_role("button", name="New").wait_for(timeout=60_000)  # the UI says stopped
        aggregated = next(r for r in page.get_by_role("row").all_inner_texts() if "Aggregated" in r)
        counted = int(aggregated.split("\t")[2])
        page.get_by_role("tab", name="LLM").click()
        page.get_by_role("cell", name="saved", exact=False).wait_for(timeout=30_000)
        shown = {}
        for row in page.get_by_role("row").all_inner_texts():
            figure, _, value = row.partition("\t")
            shown[figure] = value
        page.screenshot(path=str(tmp_path / "web-ui-llm-tab.png"), full_page=True)
        page.goto(f"{url}/llm")
        page.locator("svg polyline").first.wait_for(timeout=30_000)
        charts = page.locator("figure").count()
        page.screenshot(path=str(tmp_path / "web-ui-llm-charts.png"), full_page=True)
    (folder,) = finished(out, 1)
    scenario = "routing_throughput"  # both user classes: what the UI picks by default
    rows = requests(folder, scenario)
    assert len(rows) == counted > 0
    (figures,) = summary(folder, scenario).values()
    assert all(shown[label] == value for label, value in web_figures.figure_rows(figures))
    assert shown["results folder"] == f"{folder} (saved)"
    assert charts == 6
