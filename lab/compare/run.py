"""`lab compare` (and the comparison at the end of `lab ab`): check every option and input, then
compare, show, write, and return the exit status. Orchestration only: the statistics are
lab.compare.comparison's, the rendering lab.compare.report's and lab.compare.page's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lab.compare import gate, noise, outcomes, page, report, runsets
from lab.compare import metrics as compare_metrics
from lab.compare.comparison import ALPHA, PAIRED_IN_ORDER, Comparison, Options, compare
from lab.compare.runsets import RunSet
from lab.console import out as console
from lab.console import plain, warn
from lab.errors import ConfigError
from lab.paths import safe_name
from lab.results import folder as results


def options(
    metric_names: list[str],
    gate_names: list[str],
    threshold_items: list[str],
    alpha: float = ALPHA,
    noise_path: str | None = None,
    fail_on_regression: bool = False,
    paired: bool = False,
) -> Options:
    """Every option checked before any run is read; ConfigError names what is wrong. The
    metrics compared are --metrics (default all) and the gated ones."""
    shown = compare_metrics.select(metric_names)
    chosen = gate.select(gate_names, shown)
    if chosen.named:
        shown = compare_metrics.select([*(m.name for m in shown), *chosen.kinds])
    if fail_on_regression and not chosen.kinds:
        raise ConfigError(
            f"--fail-on-regression: none of the metrics compared is in the default gate "
            f"({gate.Gate(gate.DEFAULT).describe()}); name what to gate with --gate"
        )
    if not 0 < alpha < 0.5:
        raise ConfigError(f"--alpha {alpha}: must be between 0 and 0.5")
    profile = noise.load(Path(noise_path)) if noise_path else None
    limits = compare_metrics.thresholds(threshold_items)
    pairing = PAIRED_IN_ORDER if paired else ""
    return Options(tuple(shown), chosen, limits, alpha, profile, pairing=pairing)


def run(
    run_a: Path,
    run_b: Path,
    chosen: Options,
    out: Path | None,
    fail_on_regression: bool,
    strict: bool = False,
) -> int:
    """Compare, show, write; the exit status (lab.compare.outcomes) when gating, else 0.
    `strict` refuses a folder of runs that are not all of one configuration, rather than
    warning."""
    if out is not None:
        check_out(out)
    a, b = runsets.load(run_a), runsets.load(run_b)
    runsets.check_order(a, b)
    check_agreement(a, b, strict)
    folder = out or default_out(a, b)
    check_out(folder)
    result = compare(a, b, chosen)
    report.show(result)
    write(result, folder)
    console.print(f"📁 comparison: {plain(str(folder))} (compare.md, compare.csv, compare.html)")
    return result.status() if fail_on_regression else outcomes.OK


def check_agreement(a: RunSet, b: RunSet, strict: bool) -> None:
    """Runs of different configurations in one folder: refused with `strict`, else a warning
    per run that differs (they are still compared as one configuration's)."""
    found = runsets.disagreements(a) + runsets.disagreements(b)
    if strict and found:
        raise ConfigError(
            [f"{line}: --strict takes only repeated runs of one configuration" for line in found]
        )
    for line in found:
        warn(f"{line}: compared as runs of one configuration all the same (--strict refuses)")


def write(result: Comparison, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    report.write_csv(result, folder / "compare.csv")
    (folder / "compare.md").write_text(report.markdown(result))
    (folder / "compare.html").write_text(page.page(result))


def default_out(a: RunSet, b: RunSet, base: Path = Path("results")) -> Path:
    """results/compare-<UTC time>-<A>-vs-<B>, a name not yet taken."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"compare-{stamp}-{safe_name(a.name, 40)}-vs-{safe_name(b.name, 40)}"
    for suffix in ["", *(f"-{n}" for n in range(2, 100))]:
        if not (base / f"{name}{suffix}").exists():
            return base / f"{name}{suffix}"
    raise ConfigError(f"{base}: no free folder name for {name}")


def check_out(out: Path) -> None:
    """The output folder must be new (or empty) and writable: a comparison never overwrites,
    and is refused before anything is computed when it could not be written."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: exists and is not empty; a comparison never overwrites")
    results.check_writable(out, "--out")
