"""Engines this machine cannot reach, read through the Prometheus that scrapes them: the real
`prometheus` binary scrapes the simulated engines of a stack the test started, naming them as a
cluster's Prometheus would name pods (an `instance` this machine cannot resolve). Attach is
given those names: the routing check comes out whole, from Prometheus' counters."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from lab.stack import processes
from lab.stack.metrics import SERVED
from tests.helpers.foreign import Foreign, foreign_stack
from tests.helpers.lab import lab_main, port_shift

NAMES = ("http://engine-0.invalid:8000", "http://engine-1.invalid:8000")


@contextlib.contextmanager
def prometheus_naming(stack: Foreign, folder: Path) -> Iterator[str]:
    """Prometheus scraping each engine twice a second, its instance label one of NAMES."""
    if shutil.which("prometheus") is None:
        if os.environ.get("LAB_REQUIRE_PROMETHEUS"):
            pytest.fail("prometheus is not installed but this run requires it")
        pytest.skip("prometheus not installed (apt install prometheus)")
    targets = [
        {"targets": [url.split("//")[1]], "labels": {"instance": name.split("//")[1]}}
        for url, name in zip(stack.engines, NAMES, strict=True)
    ]
    job = {"job_name": "vllm-engines", "scrape_interval": "500ms", "static_configs": targets}
    folder.mkdir(parents=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": [job]}))
    port = processes.free_port(19100 + port_shift())
    argv = ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    with (folder / "prometheus.log").open("w") as log:
        server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:

        def both_scraped() -> bool:
            asked = {"query": SERVED}
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                found = httpx.get(f"{url}/api/v1/query", params=asked).json()["data"]["result"]
                return len({series["metric"]["instance"] for series in found}) == len(NAMES)
            return False

        assert processes.wait_until(both_scraped, timeout=30, interval=0.3)
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.slow  # about 25 s: each reading waits for a scrape newer than the question
def test_engines_out_of_reach_are_read_through_prometheus(tmp_path: Path) -> None:
    lab = tmp_path / ".lab"
    with foreign_stack() as stack, prometheus_naming(stack, tmp_path / "prom") as prometheus:
        up = lab_main("up", "--profile", "attach", "--target", stack.router, "--no-smoke",
                      "--set", "target.engines=[" + ",".join(NAMES) + "]",
                      "--set", f"target.prometheus={prometheus}",
                      state_dir=lab, cwd=tmp_path)  # fmt: skip
        assert up.returncode == 0, up.stdout + up.stderr
        done = lab_main("check-routing", state_dir=lab, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "routing check (roundrobin): 12 requests over 2 engines: engine-0 6, engine-1 6" in (
        done.stdout
    )
    notes = json.loads((lab / "state.json").read_text())["endpoints"]["notes"]
    assert f"{NAMES[0]}: not reachable from here; its counters from {prometheus}" in notes
    engines = json.loads((lab / "state.json").read_text())["endpoints"]["engines"]
    assert [e["prometheus"] for e in engines] == [prometheus, prometheus]
