"""Locust's own records of a test, written whole when the lab says the test ended: its CSVs,
its statistics as JSON and its HTML report, as a headless Locust leaves them at exit. The web
UI's tests end while Locust goes on (lab.load.web_runs), and its rows stay on show in the UI.

Importing this module imports Locust, which patches the standard library with gevent.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from locust import stats
from locust.env import Environment
from locust.html import get_html_report


def save(environment: Environment, prefix: Path) -> None:
    """<prefix>_stats.csv, _failures.csv, _exceptions.csv, _stats.json and .html, with every
    request counted so far. Locust's periodic CSV writer may be a second behind: the CSVs are
    written once more here. The JSON is made with StatsEntry.serialize, not save_stats_json:
    that goes through RequestStats.serialize_stats, made for a worker's reports to its master,
    which empties each row once it is sent (harmless at exit, where Locust calls it last)."""
    final = stats.StatsCSV(environment, stats.PERCENTILES_TO_REPORT)
    for name, write in (
        ("stats", final.requests_csv),
        ("failures", final.failures_csv),
        ("exceptions", final.exceptions_csv),
    ):
        with open(f"{prefix}_{name}.csv", "w", newline="") as file:
            write(csv.writer(file))
    entries = environment.stats.entries.values()
    rows = [entry.serialize() for entry in entries if entry.num_requests or entry.num_failures]
    Path(f"{prefix}_stats.json").write_text(json.dumps(rows, indent=4))
    html = get_html_report(environment, show_download_link=False)
    prefix.with_suffix(".html").write_text(html, encoding="utf-8")
