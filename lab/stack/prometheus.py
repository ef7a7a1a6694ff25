"""A Prometheus for the local platform: a generated config that scrapes every engine and the
router, served on loopback. Optional: without the binary the lab says so and goes on.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml

SCRAPE_INTERVAL = "5s"


def binary() -> str | None:
    return shutil.which("prometheus")


def config(engine_urls: list[str], router_metrics_url: str) -> dict:
    """Scrape jobs: `vllm-engines` (one target per engine) and `vllm-router`."""

    def target(url: str) -> str:
        return urlsplit(url).netloc

    jobs = [
        {
            "job_name": "vllm-engines",
            "static_configs": [{"targets": [target(url) for url in engine_urls]}],
        }
    ]
    if router_metrics_url:
        jobs.append(
            {
                "job_name": "vllm-router",
                "metrics_path": urlsplit(router_metrics_url).path or "/metrics",
                "static_configs": [{"targets": [target(router_metrics_url)]}],
            }
        )
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": jobs,
    }


def command(config_file: Path, data_dir: Path, port: int) -> list[str]:
    return [
        binary() or "prometheus",
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1d",
    ]


def write_config(path: Path, engine_urls: list[str], router_metrics_url: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config(engine_urls, router_metrics_url), sort_keys=False))
    return path


def targets(url: str) -> dict[str, str]:
    """{scrape URL: health} of Prometheus' active targets ('up', 'down', 'unknown')."""
    response = httpx.get(f"{url}/api/v1/targets", timeout=5)
    response.raise_for_status()
    active = response.json()["data"]["activeTargets"]
    return {target["scrapeUrl"]: target["health"] for target in active}
