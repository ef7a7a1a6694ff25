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
from lab.results import manifest as manifests
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


def poll(ui: httpx.Client, state: str) -> dict[str, int]:
    """The UI's own request counts (Aggregated, and each request's row by name), once a poll
    says `state` (Locust caches polls for 2 s)."""
    found: dict = {}

    def polled() -> bool:
        found.update(ui.get("/stats/requests").json())
        return found["state"] == state

    assert processes.wait_until(polled, timeout=30), found.get("state")
    return {row["name"]: row["num_requests"] for row in found["stats"]}


def locust_counts(folder: Path, scenario: str, level: str) -> dict[str, list[int]]:
    """The requests Locust's saved files count, by file: its POST row, then Aggregated."""
    place = folder / scenario / level
    with (place / "locust_stats.csv").open(newline="") as file:
        table = [r for r in csv.DictReader(file) if r["Type"] in ("POST", "")]
    report = (place / "locust.html").read_text()
    shown = json.loads(re.search(r"window.templateArgs = (.*)", report)[1])
    rows = [r for r in shown["requests_statistics"] if r["method"] in ("POST", None, "")]
    (posts,) = [e for e in json.loads((place / "locust_stats.json").read_text())
                if e["method"] == "POST"]  # fmt: skip
    return {
        "locust_stats.csv": [int(r["Request Count"]) for r in table],
        "locust.html": [r["num_requests"] for r in rows],
        "locust_stats.json": [posts["num_requests"]],
    }


def finished(base: Path, count: int) -> list[Path]:
    """The first `count` results folders, once each has its report (written last)."""

    def written() -> bool:
        return len(list(base.glob("*/report.html"))) >= count

    assert processes.wait_until(written, timeout=120)
    return sorted(p.parent for p in base.glob("*/report.html"))


def requests(folder: Path, scenario: str) -> list[dict[str, str]]:
    with (folder / scenario / "requests.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def summary(folder: Path, scenario: str) -> dict:
    return json.loads((folder / scenario / "summary.json").read_text())


@dataclass
class Session:
    base: Path
    folders: list[Path]
    shown: list[dict[str, str]]  # the LLM tab's rows after the second test stopped
    counted: dict[str, int]  # the UI's request counts then, by row
    served: int  # requests the engines served over the session
    output: list[str]
    options: dict


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    """One UI session: a test reset midway then stopped (two runs), and a third test still
    running when the UI is stopped (Ctrl-C): routing users whose conversations are shorter
    than the test."""
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
            counted = poll(ui, "stopped")
            shown = ui.get("/llm/figures.json").json()["rows"]
            finished(out, 2)
            start(ui, 3, "MultiRoundQAUser", lab_rounds=2, lab_user_qps=5)
            time.sleep(3)
        engines = stack.require_endpoints().engines
        served = sum(metrics.scrape(engine.metrics)[SERVED] for engine in engines)
    return Session(base, finished(out, 3), shown, counted, int(served), output, options)


def test_each_test_leaves_a_results_folder_as_a_headless_run_does(session) -> None:
    first, second, third = session.folders
    for folder in session.folders:
        assert folder.name.endswith("-cpu-ui")
        manifests.read(folder)  # valid against the schema
    for folder in (first, second):
        place = folder / "throughput"
        assert {p.name for p in place.iterdir()} == {
            "requests.csv", "engines.csv", "summary.json", "ui-u2-r2"
        }  # fmt: skip
        assert {p.name for p in (place / "ui-u2-r2").iterdir()} == {*LOCUST_FILES, CPU_FILE}
        assert (folder / "report.html").stat().st_size > 10_000  # with its plots
    assert (third / "routing" / "requests.csv").exists()


def test_the_manifest_records_what_the_user_chose(session) -> None:
    first, second, third = (manifests.read(f).to_json() for f in session.folders)
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
    assert third["web_ui"]["parameters"]["lab_rounds"] == 2


def test_every_request_is_counted_once_across_a_reset(session) -> None:
    first, second, third = session.folders
    rows = {f: requests(f, s) for f, s in ((first, "throughput"), (second, "throughput"))}
    for folder, found in rows.items():
        assert found and {r["level"] for r in found} == {"ui-u2-r2"}
        # Locust's own records, as it saved them: every request, in each request's row too.
        counts = locust_counts(folder, "throughput", "ui-u2-r2")
        assert counts == {name: [len(found)] * len(c) for name, c in counts.items()}, counts
    # The UI's own counts after the stop are the second test's, its rows whole.
    assert session.counted["Aggregated"] == session.counted["/v1/chat/completions"]
    assert session.counted["Aggregated"] == len(rows[second])
    ids = [r["request_id"] for found in rows.values() for r in found]
    assert len(ids) == len(set(ids))
    # The engines' counters: what they served over the session is what the samples hold (a
    # request a stopped user left unread may have been served: one per user at most).
    total = sum(len(found) for found in rows.values()) + len(requests(third, "routing"))
    assert 0 <= session.served - total <= 2 + 3
    engines = results_folder.read_engines(second / "throughput" / "engines.csv")["ui-u2-r2"]
    assert set(engines) == {"engine-0", "engine-1"}


def test_locusts_exit_summary_keeps_the_last_tests_rows(session) -> None:
    """Locust's summary as the UI ends: the test cut short there, each request's row whole."""
    third = session.folders[2]
    count = len(requests(third, "routing"))
    rows = [line for line in session.output if "POST" in line and "/v1/chat/completions" in line]
    # Its table of counts ("# reqs" third), then of percentiles ("# reqs" last).
    counts = [line.split()[2 if "|" in line else -1] for line in rows]
    assert count > 0 and len(counts) == 2 and set(counts) == {str(count)}, rows


def test_requests_are_judged_against_the_profiles_slo(session) -> None:
    second = session.folders[1]
    found = requests(second, "throughput")
    assert {r["slo_ok"] for r in found if r["phase"] == "run"} == {"1"}  # fast engines
    assert {r["slo_ok"] for r in found if r["phase"] == "drain"} <= {""}
    kept = summary(second, "throughput")
    assert kept["slo"] == {"ttft_ms": 500, "tpot_ms": 50, "e2e_ms": None, "attainment": 0.9,
                           "max_error_rate": 0.01}  # the cpu profile's  # fmt: skip
    (figures,) = kept["levels"].values()
    assert figures["slo_attainment"] == 1.0 and figures["slo_met"] is True
    assert figures["goodput_rps"] == pytest.approx(figures["requests_per_s"])
    shown = {row["figure"]: row["value"] for row in session.shown}
    assert shown["SLO attainment"] == "100.0%" and shown["SLO met"] == "yes"
    assert shown["SLO"] == "TTFT <= 500 ms, TPOT <= 50 ms for 90% of requests, at most 1% failed"


def test_routing_users_converse_for_the_tests_length(session) -> None:
    """Two rounds each, 5 a second, for seconds: each user went on to new conversations."""
    found = requests(session.folders[2], "routing")
    users = {r["user"] for r in found}
    sessions = {r["session"] for r in found}
    assert len(users) == 3 and len(sessions) >= 2 * len(users), sessions
    assert {r["round"] for r in found} == {"0", "1"}
    for name in sessions:  # one user's, its rounds in order
        mine = [r for r in found if r["session"] == name]
        assert len({r["user"] for r in mine}) == 1
        assert [r["round"] for r in mine] == ["0", "1"][: len(mine)]


def test_the_ui_showed_what_summary_json_keeps(session) -> None:
    second = session.folders[1]
    (figures,) = summary(second, "throughput")["levels"].values()
    shown = {row["figure"]: row["value"] for row in session.shown}
    assert all(shown[label] == value for label, value in web_figures.figure_rows(figures))
    assert shown["requests"] == str(session.counted["Aggregated"])
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
def test_a_test_run_in_the_browser_ends_as_the_ui_showed_it(tmp_path) -> None:
    """A test started, run and stopped in the page, as a user would. Its answers take seconds:
    the stop waits for them, and the page's polls land in that wait. Every record of the test
    counts the same requests; the page settles at STOPPED without a reload; the requests are
    judged against the SLO; the charts can be read, and nothing comes from off the machine."""
    state_dir, out = tmp_path / "state", tmp_path / "results"
    stack = sim_stack(state_dir, simulated=SIMULATED)
    with stack, web_ui(state_dir, out) as (url, _), browser() as chromium:
        page = chromium.new_page(viewport={"width": 1400, "height": 1100})
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url))
        page.goto(url)
        page.get_by_label("Number of users (peak concurrency)").fill("2")
        page.get_by_label("Ramp up (users started/second)").fill("2")
        page.get_by_text("Custom parameters").click()
        page.get_by_label("Lab output tokens", exact=False).fill("500")  # 2.5 s an answer
        page.get_by_label("Lab rounds", exact=False).fill("2")
        page.get_by_role("button", name="Start").click()
        page.get_by_role("cell", name="ttft_ms").first.wait_for(timeout=60_000)
        page.wait_for_timeout(6_000)
        page.get_by_role("button", name="Stop").click()
        # A poll while the stop waits for the answers in flight says the state once it is over.
        states = polled_until_not_running(url)
        status = page.get_by_text("Status", exact=True).locator("xpath=following-sibling::*[1]")
        assert processes.wait_until(lambda: status.inner_text() == "STOPPED", timeout=30)
        rows = [r.split("\t") for r in page.get_by_role("row").all_inner_texts()]
        counted = {row[1]: int(row[2]) for row in rows if row[0] in ("POST", "")}
        page.get_by_role("tab", name="LLM").click()
        page.get_by_role("cell", name="saved", exact=False).wait_for(timeout=30_000)
        shown = dict(r.partition("\t")[::2] for r in page.get_by_role("row").all_inner_texts())
        page.screenshot(path=str(tmp_path / "web-ui-llm-tab.png"), full_page=True)
        page.goto(f"{url}/llm")
        page.locator("svg polyline").first.wait_for(timeout=30_000)
        charts = chart_text(page)
        page.screenshot(path=str(tmp_path / "web-ui-llm-charts.png"), full_page=True)
    assert states[-1] == "stopped" and set(states[:-1]) <= {"running", "spawning"}, states
    assert all(u.startswith(url) for u in asked), [u for u in asked if not u.startswith(url)]
    (folder,) = finished(out, 1)
    scenario = "routing_throughput"  # both user classes: what the UI picks by default
    found = requests(folder, scenario)
    kept = summary(folder, scenario)
    (figures,) = kept["levels"].values()
    assert any(r["phase"] == "drain" for r in found)  # the stop waited for answers
    # One count in every record: the page (Aggregated and the request's own row), Locust's
    # saved files, the LLM tab, requests.csv, summary.json (drained requests included).
    assert counted == {"Aggregated": len(found), "/v1/chat/completions": len(found)}
    saved = locust_counts(folder, scenario, "ui-u2-r2")
    assert saved == {name: [len(found)] * len(c) for name, c in saved.items()}, saved
    assert shown["requests"] == str(len(found)) == str(figures["requests"] + figures["drained"])
    assert all(shown[label] == value for label, value in web_figures.figure_rows(figures))
    assert shown["results folder"] == f"{folder} (saved)"
    assert {r["slo_ok"] for r in found if r["phase"] == "run"} <= {"0", "1"}
    assert all(r["slo_ok"] for r in found if r["phase"] == "run")
    assert shown["SLO attainment"].endswith("%") and kept["slo"]["attainment"] == 0.9
    assert re.fullmatch(r"\d / 2", shown["users active / spawned"])
    # Six charts, each with ticks on both axes, its unit, the time since the start, a legend.
    assert len(charts) == 6
    for chart in charts:
        assert len(chart["x_ticks"]) >= 2 and len(chart["y_ticks"]) >= 2, chart
        assert chart["x_label"] == "seconds since the test started" and chart["y_label"], chart
        assert chart["legend"], chart
    units = {c["caption"]: c["y_label"] for c in charts}
    assert units["TTFT (ms)"] == "ms" and units["Users"] == "users"
    (users,) = [c for c in charts if c["caption"] == "Users"]
    assert users["legend"] == ["spawned", "active"] and users["y_ticks"] == ["0", "1", "2"]


def polled_until_not_running(url: str) -> list[str]:
    """The states Locust's statistics poll says, polled until it says neither running nor
    spawning."""
    states: list[str] = []
    with httpx.Client(base_url=url, timeout=120) as ui:
        while not states or states[-1] in ("running", "spawning"):
            time.sleep(0.1)
            states.append(ui.get("/stats/requests").json()["state"])
    return states


def chart_text(page) -> list[dict]:
    """What each chart of /llm says in words: caption, ticks, axis labels, legend."""
    return page.evaluate(
        """() => [...document.querySelectorAll("figure")].map(f => {
            const words = selector => [...f.querySelectorAll(selector)].map(t => t.textContent);
            return {caption: f.querySelector("figcaption").textContent,
                    x_ticks: words("text.tick.x"), y_ticks: words("text.tick.y"),
                    x_label: words("text.label.x")[0], y_label: words("text.label.y")[0],
                    legend: words("text.legend")};
        })"""
    )
