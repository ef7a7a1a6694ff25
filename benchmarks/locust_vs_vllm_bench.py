"""The lab's Locust throughput scenario beside `vllm bench serve`, against one local stack.

    nox -s benchmark -- locust-vs-vllm-bench [--concurrency 4] [--requests 200]

1. Same prompt and answer lengths, same concurrency: medians of TTFT, TPOT and E2E and output
   tokens/s of both clients side by side, with their ratios (lab / vllm bench).
2. Open-loop request rates, doubled until a client falls short: the highest rate each client
   sustains (achieved >= 95% of offered) and the CPU time each spends per request, since on
   two cores the load generator competes with the engines it measures.

vLLM's client runs from the installed vllm package (its `vllm` script does not), in its own
process, as the lab's Locust does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from lab.config import model, profile
from lab.config.profile import ThroughputScenario
from lab.load import levels, lifecycle, locust
from lab.results import summary
from lab.stack import state

PROMPT, OUTPUT = 128, 32
VLLM_BENCH = """
import argparse, sys
from vllm.benchmarks import serve
parser = argparse.ArgumentParser()
serve.add_cli_args(parser)
serve.main(parser.parse_args(sys.argv[1:]))
"""


def run_vllm_bench(endpoint, out: Path, concurrency: int | None, rate: float | None, n: int):
    args = [
        "--backend", "openai-chat", "--base-url", endpoint.router,
        "--endpoint", "/v1/chat/completions", "--model", endpoint.model,
        "--tokenizer", str(model.tiny_dir()), "--dataset-name", "random",
        "--random-input-len", str(PROMPT), "--random-output-len", str(OUTPUT),
        "--num-prompts", str(n), "--ignore-eos", "--seed", "1",
        "--percentile-metrics", "ttft,tpot,itl,e2el",
        "--save-result", "--result-dir", str(out), "--result-filename", "vllm.json",
    ]  # fmt: skip
    if concurrency:
        args += ["--max-concurrency", str(concurrency)]
    if rate:
        args += ["--request-rate", str(rate)]
    return timed([sys.executable, "-c", VLLM_BENCH, *args], out / "vllm.json")


def run_locust(current, folder: Path, level: levels.Level, words: str, scenario):
    folder.mkdir(parents=True, exist_ok=True)
    command = locust.command(level, scenario, current.endpoints, folder, words)
    return timed(command, folder / "requests.csv")


def timed(command: list[str], output: Path) -> tuple[Path, float]:
    """Run a client to its end; return its output file and the CPU seconds it used."""
    with open(os.devnull, "w") as quiet:
        child = psutil.Popen(command, stdout=quiet, stderr=subprocess.STDOUT)
        cpu = 0.0
        while child.poll() is None:
            try:
                times = child.cpu_times()
                cpu = times.user + times.system
            except psutil.Error:
                pass
            time.sleep(0.2)
    if child.returncode != 0:
        raise SystemExit(f"{command[:4]} failed with {child.returncode}")
    return output, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--duration", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("LAB_STATE_DIR", tempfile.mkdtemp(prefix="lab-bench-"))
    work = Path(tempfile.mkdtemp(prefix="lab-bench-out-"))
    lab = profile.load("cpu")
    words = levels.word_list(lab)
    throughput = workload((args.concurrency,), (), args.duration)
    existing = state.load()
    current = existing or lifecycle.up(lab, "local")
    owned = existing is None  # a stack this benchmark brought up is stopped by it
    try:
        side_by_side(current, work, args, words, throughput)
        max_rates(current, work, words)
    finally:
        if owned:
            lifecycle.down()


def workload(concurrency: tuple[int, ...], rates: tuple[float, ...], duration: int):
    """The lab's throughput scenario at the benchmark's lengths, with fresh prompts."""
    return ThroughputScenario(
        "bench", "throughput", concurrency, rates, duration, PROMPT, OUTPUT, seed=None, slo=None
    )


def side_by_side(current, work: Path, args, words: str, throughput) -> None:
    result, vllm_cpu = run_vllm_bench(
        current.endpoints, work / "vllm-c", args.concurrency, None, args.requests
    )
    vllm = json.loads(result.read_text())
    (level,) = levels.levels(throughput)[:1]
    samples_file, lab_cpu = run_locust(current, work / "lab-c", level, words, throughput)
    samples = summary.read_samples(samples_file)
    lab = summary.summarize(samples)
    rows = [
        ("TTFT median, ms", lab["p50_ttft_ms"], vllm["median_ttft_ms"]),
        ("TPOT median, ms", lab["p50_tpot_ms"], vllm["median_tpot_ms"]),
        ("E2E median, ms", lab["p50_e2e_ms"], vllm["median_e2el_ms"]),
        ("output tokens/s", lab["output_tokens_per_s"], vllm["output_throughput"]),
        ("requests/s", lab["requests_per_s"], vllm["request_throughput"]),
        ("requests", lab["completed"], vllm["completed"]),
        ("client CPU ms per request", lab_cpu * 1000 / max(1, lab["completed"]),
         vllm_cpu * 1000 / max(1, vllm["completed"])),
        ("mean prompt tokens", lab["mean_prompt_tokens"], vllm["total_input_tokens"] /
         max(1, vllm["completed"])),
    ]  # fmt: skip
    table = Table(title=f"concurrency {args.concurrency}, {PROMPT} in / {OUTPUT} out")
    for column in ("metric", "lab (Locust)", "vllm bench serve", "lab / vllm"):
        table.add_column(column, justify="right")
    for name, ours, theirs in rows:
        table.add_row(name, f"{ours:.2f}", f"{theirs:.2f}", f"{ours / theirs:.2f}")
    Console().print(table)


def max_rates(current, work: Path, words: str) -> None:
    table = Table(title="open loop: achieved request rate and client CPU per request")
    for column in ("offered req/s", "lab achieved", "lab CPU ms/req", "vllm achieved",
                   "vllm CPU ms/req"):  # fmt: skip
        table.add_column(column, justify="right")
    sustained = {"lab": 0.0, "vllm": 0.0}
    rate = 2.0
    while rate <= 64:
        n = int(rate * 20)
        result, vllm_cpu = run_vllm_bench(
            current.endpoints, work / f"vllm-r{rate:g}", None, rate, n
        )
        vllm = json.loads(result.read_text())
        opened = workload((), (rate,), 20)
        (level,) = levels.levels(opened)
        samples_file, lab_cpu = run_locust(current, work / f"lab-r{rate:g}", level, words, opened)
        lab = summary.summarize(summary.read_samples(samples_file))
        achieved = {"lab": lab["requests_per_s"], "vllm": vllm["request_throughput"]}
        table.add_row(
            f"{rate:g}",
            f"{achieved['lab']:.2f}",
            f"{lab_cpu * 1000 / max(1, lab['completed']):.1f}",
            f"{achieved['vllm']:.2f}",
            f"{vllm_cpu * 1000 / max(1, vllm['completed']):.1f}",
        )
        for client in sustained:
            if achieved[client] >= 0.95 * rate:
                sustained[client] = rate
        if all(achieved[c] < 0.95 * rate for c in achieved):
            break
        rate *= 2
    Console().print(table)
    Console().print(
        f"highest rate sustained (>= 95% of offered): lab {sustained['lab']:g} req/s, "
        f"vllm bench {sustained['vllm']:g} req/s"
    )


if __name__ == "__main__":
    main()
