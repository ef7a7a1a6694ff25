"""The Locust web UI on the lab's scenarios, driven by a real browser against the real stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from lab.results import report
from lab.stack import processes, smoke, state
from lab.stack.state import State
from tests.helpers.browser import browser
from tests.helpers.lab import port_shift
from tests.helpers.samples import interrupted_run

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.timeout(600)]


def test_a_test_started_from_the_web_ui_shows_ttft_rows(stack: State, tmp_path) -> None:
    port = processes.free_port(8089 + port_shift())
    keep = ["--out", str(tmp_path / "results")]  # the test it leaves running is recorded
    ui = subprocess.Popen(
        [sys.executable, "-m", "lab", "ui", "--profile", "cpu", "--web-port", str(port), *keep],
        env={**os.environ, "LAB_STATE_DIR": str(state.path().parent)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert processes.wait_until(answers, timeout=60)
        with browser() as chromium:
            page = chromium.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_label("Number of users (peak concurrency)").fill("2")
            page.get_by_label("Ramp up (users started/second)").fill("2")
            page.get_by_role("button", name="Start").click()
            page.get_by_role("cell", name="ttft_ms").first.wait_for(timeout=60_000)
            page.wait_for_timeout(2_000)
            rows = page.get_by_role("row").all_inner_texts()
            page.screenshot(path=str(tmp_path / "locust-web-ui.png"), full_page=True)
        ttft = next(row for row in rows if "ttft_ms" in row).split("\t")
        assert ttft[0] == "METRIC" and int(ttft[2]) > 0  # requests measured through the UI
        assert any(row.startswith("POST\t/v1/chat/completions") for row in rows)
    finally:
        ui.send_signal(signal.SIGINT)
        out, _ = ui.communicate(timeout=60)
    assert ui.returncode == 130, out
    assert "using the lab that is up" in out
    # The test was running when the UI stopped: kept, marked interrupted.
    (folder,) = (tmp_path / "results").iterdir()
    assert f"📁 results of the web UI test: {folder}" in out
    assert json.loads((folder / "manifest.json").read_text())["status"] == "interrupted"
    # The UI used the lab that was up: it leaves it up.
    assert all(r.passed for r in smoke.run(stack.endpoints))


def test_a_report_renders_in_the_browser(tmp_path) -> None:
    report.write(interrupted_run(tmp_path))
    with browser() as chromium:
        page = chromium.new_page()
        page.goto((tmp_path / "report.html").as_uri())
        images = page.locator("img")
        assert images.count() >= 4
        widths = [img.evaluate("i => i.naturalWidth") for img in images.all()]
        assert all(width > 100 for width in widths)  # every plot decoded as an image
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
