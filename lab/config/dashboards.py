"""The lab's Grafana dashboards (dashboards/*.json), delivered to a cluster as ConfigMaps that
Grafana's dashboard sidecar (kube-prometheus-stack's Grafana) picks up by their label.

They travel in the chart's `extraObjects`, so they belong to the Helm release and go with it.
The chart renders each extra object through Helm's `tpl`, which would read Grafana's
`{{pod}}` legends as template actions: the JSON is escaped so that `tpl` gives it back as is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lab.paths import asset

LABEL = {"grafana_dashboard": "1", "app.kubernetes.io/part-of": "vllm-stack-lab"}
_BRACES = re.compile(r"\{\{|\}\}")
_ESCAPED = re.compile(r'\{\{ "(\{\{|\}\})" \}\}')


def files() -> list[Path]:
    return sorted(asset("dashboards").glob("*.json"))


def configmaps(release: str) -> list[dict[str, Any]]:
    """One ConfigMap per dashboard, named after the release, for the chart's extraObjects."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{release}-lab-dashboard-{path.stem}", "labels": dict(LABEL)},
            "data": {path.name: escape_for_tpl(path.read_text())},
        }
        for path in files()
    ]


def escape_for_tpl(text: str) -> str:
    """`{{` and `}}` as Go template actions that print them."""
    return _BRACES.sub(lambda found: '{{ "' + found[0] + '" }}', text)


def unescape(text: str) -> str:
    """What `tpl` makes of escape_for_tpl's output (for tests and for reading values back)."""
    return _ESCAPED.sub(lambda found: found[1], text)
