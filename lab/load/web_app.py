"""Inside the Locust process of `lab ui`: the lab's pages in Locust's web UI. Each statistics
poll carries the LLM tab's rows (the test running, else the last one, and the stack it drives);
/llm is the chart page (lab.load.web_page) and /llm/figures.json its figures. The tests
themselves are recorded by lab.load.web_runs.

Loaded by locustfiles/web_ui.py, which `lab ui` adds to the scenarios. Importing this module
imports Locust, which patches the standard library with gevent.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from flask import Response, request
from locust.env import Environment

from lab.inproc import swarm
from lab.load import web_figures, web_page, web_runs
from lab.load.locust import STOP_TIMEOUT
from lab.results.manifest import Manifest

log = logging.getLogger(__name__)
TAB = "llm"
# How long a poll waits for a stopping test to be recorded: its requests in flight drain for
# up to Locust's --stop-timeout first.
SETTLE_S = STOP_TIMEOUT + 60


def attach(environment: Environment, **_: Any) -> None:
    """Record the web UI's tests and show their figures, when `lab ui` asked for it."""
    if environment.web_ui is None or not getattr(environment.parsed_options, "lab_results", ""):
        return
    options = swarm.parsed(environment)
    template = Manifest.from_json(json.loads(Path(options.lab_run_manifest).read_text()))
    engines = web_runs.engines(options.lab_engine_urls)
    recorder = web_runs.Recorder(environment, Path(options.lab_results), template, engines)
    recorder.listen()
    WebApp(recorder).extend()
    # Locust logs at INFO: httpx would say every read of the engines' counters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    log.info("driving %s", web_figures.stack_line(template))


class WebApp:
    def __init__(self, recorder: web_runs.Recorder) -> None:
        self.recorder = recorder

    def extend(self) -> None:
        web_ui = self.recorder.environment.web_ui
        assert web_ui is not None and web_ui.app is not None
        web_ui.template_args.update(
            extended_tabs=[{"title": "LLM", "key": TAB}],
            extended_tables=[
                {
                    "key": TAB,
                    "structure": [
                        {"key": "figure", "title": "Figure"},
                        {"key": "value", "title": "Value"},
                    ],
                }
            ],
            extended_csv_files=[{"href": "/llm", "title": "LLM figures over time (charts)"}],
        )
        # Locust caches its statistics poll for two seconds: once a test has stopped, the next
        # poll is made afresh. (Its view is wrapped with functools.wraps: the cache's clear
        # shows through.)
        poll: Any = web_ui.app.view_functions["locust.request_stats"]
        self.recorder.forget_poll = poll.clear_cache
        web_ui.app.before_request(self._settle_first)
        web_ui.app.after_request(self._with_figures)
        web_ui.app.add_url_rule("/llm", "lab_llm_page", self._page)
        web_ui.app.add_url_rule("/llm/figures.json", "lab_llm_figures", self._figures)

    def rows(self) -> list[dict[str, str]]:
        """The LLM tab: the test running (else the last one), then the stack."""
        recorder = self.recorder
        shown: list[tuple[str, str]] = []
        test = recorder.test or recorder.last
        if test is not None:
            state = "running" if test is recorder.test else "saved"
            shown += [("results folder", f"{test.folder} ({state})")]
            shown += [("test", f"{test.entry.name}/{test.level}")]
            if test.history:  # the last chart point: the users as the test's load ended
                spawned, active = test.history[-1]["users"], test.history[-1]["active_users"]
                shown += [("users active / spawned", f"{active} / {spawned}")]
            shown += web_figures.figure_rows(test.figures)
        shown += web_figures.stack_rows(recorder.template)
        shown.append(("SLO", web_figures.slo_text(recorder.slo)))
        shown.append(("charts over time", "/llm"))
        return [{"figure": figure, "value": value} for figure, value in shown]

    def _settle_first(self) -> None:
        """The page polls Locust's statistics only while a poll says the test is running: one
        answered while a stop finishes the test (state "cleanup": requests in flight drain,
        the test is recorded) would leave the page there, its counts short of the last
        requests. So a poll in that time waits, and is answered once the test has stopped,
        with every request counted and the figures summary.json keeps."""
        if request.path == "/stats/requests":
            self.recorder.settled.wait(timeout=SETTLE_S)

    def _with_figures(self, response: Response) -> Response:
        """Locust's statistics poll, with the LLM tab's rows (as its extend_web_ui example).
        (Locust caches the poll's response object for two seconds: the rows are set afresh
        on each.)"""
        if request.path != "/stats/requests" or response.status_code != 200:
            return response
        body = response.get_json()
        body["extended_stats"] = [{"key": TAB, "data": self.rows()}]
        response.set_data(json.dumps(body))
        return response

    def _page(self) -> str:
        template = self.recorder.template
        return web_page.page(
            f"{template.profile_name} on {template.platform}", web_figures.WINDOW_S
        )

    def _figures(self) -> dict[str, Any]:
        test = self.recorder.test or self.recorder.last
        return {"rows": self.rows(), "history": test.history if test else []}
