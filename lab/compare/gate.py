"""Which metrics a regression gate judges, and Holm's correction over them.

The whole comparison is the unit of a false alarm: `--fail-on-regression` fails when any gated
metric of any level is worse, so the chance that an unchanged configuration fails must be
bounded for all gated metrics and levels together (family-wise), not for each. Holm's
step-down procedure does that: sort the m p-values, reject the smallest if it is below
alpha/m, the next if below alpha/(m-1), and so on, stopping at the first that is not.
It holds under any dependence between the tests (latency percentiles of one level, or one
metric across levels, are strongly correlated here), is uniformly more powerful than
Bonferroni (alpha/m for every test), and is simple to explain.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lab.compare import metrics as compare_metrics
from lab.config import kinds

EVERY_LEVEL: tuple[str, ...] = ()  # a metric gated on every level, whatever its kind
# Fixed levels: the same in every run of a profile. A capacity search's steps are not among
# them: their rates are wherever each run's search went, so two runs share few of them, and
# those they share are often overloaded ones; the search is judged by its capacity_rps alone.
FIXED = tuple(kind.name for kind in kinds.every() if not kind.searches)
SEARCH = tuple(kind.name for kind in kinds.every() if kind.searches)
# Kinds of fixed levels that gate nothing (a soak is judged by its own drift) are named.
GATED = tuple(kind.name for kind in kinds.every() if not kind.searches and kind.gated)
UNGATED = tuple(name for name in FIXED if name not in GATED)
WHERE = {
    GATED: "fixed levels" + (f", not {'/'.join(UNGATED)}" if UNGATED else ""),
    SEARCH: "capacity searches",
}


def _default() -> dict[str, tuple[str, ...]]:
    """The default gate: each metric some scenario kind gates (lab.config.kinds), with the
    kinds of the levels it is gated on, in the order metrics are shown. A kind joins the gate
    by declaring it; one that gates nothing has said why."""
    out = {}
    for metric in compare_metrics.METRICS:
        where = tuple(kind.name for kind in kinds.every() if metric.name in kind.gated)
        if where:
            out[metric.name] = where
    return out


DEFAULT: dict[str, tuple[str, ...]] = _default()


@dataclass(frozen=True)
class Gate:
    """Gated metrics, each with the scenario kinds it is gated on (empty: every level)."""

    kinds: dict[str, tuple[str, ...]]
    named: bool = False  # chosen with --gate, rather than the default

    def covers(self, metric: str, kind: str) -> bool:
        if metric not in self.kinds:
            return False
        kinds = self.kinds[metric]
        return not kinds or kind in kinds

    def describe(self) -> str:
        """The gate in words: its metrics, and where each is limited to some levels."""
        parts = [
            name if not kinds else f"{name} ({WHERE.get(kinds, '/'.join(kinds) + ' levels')})"
            for name, kinds in self.kinds.items()
        ]
        return ", ".join(parts) if parts else "nothing"


def select(items: Iterable[str], shown: Sequence[compare_metrics.Metric]) -> Gate:
    """The gate: --gate's metrics or families on every level, or else the default gate
    limited to the metrics shown. Unknown names are refused with the valid ones."""
    wanted = [n.strip() for item in items for n in item.split(",") if n.strip()]
    if not wanted:
        names = {m.name for m in shown}
        return Gate({k: v for k, v in DEFAULT.items() if k in names})
    chosen = compare_metrics.select(wanted, option="--gate")
    return Gate({m.name: EVERY_LEVEL for m in chosen}, named=True)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given: a test is rejected at family-wise level
    alpha when its adjusted p-value is below alpha."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if not m:
        return []
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted.tolist()
