"""The web UI's chart page (/llm, served by Locust's own Flask app): the stack, the current or
last test's figures, and charts over time drawn as inline SVG from /llm/figures.json every two
seconds. Self-contained: no script or style from outside loopback."""

from __future__ import annotations

import html

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>LLM figures: TITLE</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } .meta { color: #555; }
table { border-collapse: collapse; font-size: 0.9em; margin: 1em 0; }
td { border: 1px solid #ddd; padding: 0.2em 0.6em; } td:last-child { text-align: right; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figcaption { font-size: 0.9em; }
svg { background: #fafafa; border: 1px solid #ddd; }
</style></head>
<body>
<h1>LLM figures: TITLE</h1>
<p class="meta">The lab's own measurements (TTFT, TPOT, E2E from each streamed answer; the
prefix-cache hit rate from the engines' counters). Charts: requests that ended in the last
WINDOW seconds, every two seconds. <a href="/">Back to Locust</a></p>
<div class="charts" id="charts"></div>
<table id="figures"></table>
<script>
// [title, [[key in a point, legend], ...]]: a legend only where a chart has two lines.
const CHARTS = [
  ["TTFT (ms)", [["ttft_p50", "p50"], ["ttft_p90", "p90"]]],
  ["TPOT (ms)", [["tpot_p50", "p50"], ["tpot_p90", "p90"]]],
  ["E2E latency (ms)", [["e2e_p50", "p50"], ["e2e_p90", "p90"]]],
  ["output tokens/s", [["output_tokens_per_s", ""]]],
  ["prefix-cache hit rate (%)", [["prefix_cache_hit_rate", ""]]],
  ["users", [["users", ""]]],
];
const COLOURS = ["#1f77b4", "#d62728"];
const W = 420, H = 180, PAD = 36;

function chart(title, lines, history) {
  const xs = history.map(p => p.t);
  const ys = history.flatMap(p => lines.map(([k]) => p[k])).filter(v => v !== null);
  const xmax = Math.max(1, ...xs), ymax = Math.max(1e-9, ...ys) * 1.1;
  const x = t => PAD + (W - 2 * PAD) * t / xmax;
  const y = v => H - PAD + (2 * PAD - H) * v / ymax;
  let svg = `<svg width="${W}" height="${H}" role="img" aria-label="${title}">`;
  svg += `<line x1="${PAD}" y1="${H - PAD}" x2="${W - PAD}" y2="${H - PAD}" stroke="#999"/>`;
  svg += `<line x1="${PAD}" y1="${PAD}" x2="${PAD}" y2="${H - PAD}" stroke="#999"/>`;
  svg += `<text x="2" y="${PAD}" font-size="10">${+ymax.toPrecision(3)}</text>`;
  svg += `<text x="${W - PAD}" y="${H - PAD + 14}" font-size="10">${xmax} s</text>`;
  lines.forEach(([key, legend], i) => {
    const points = history.filter(p => p[key] !== null).map(p => `${x(p.t)},${y(p[key])}`);
    const colour = COLOURS[i];
    svg += `<polyline fill="none" stroke="${colour}" points="${points.join(" ")}"/>`;
    const top = PAD - 8 + 12 * i;
    svg += `<text x="${W - PAD - 20}" y="${top}" font-size="10" fill="${colour}">${legend}</text>`;
  });
  return `<figure><figcaption>${title}</figcaption>${svg}</svg></figure>`;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function refresh() {
  const data = await (await fetch("/llm/figures.json")).json();
  document.getElementById("charts").innerHTML =
    CHARTS.map(([title, lines]) => chart(title, lines, data.history)).join("");
  const table = document.getElementById("figures");
  table.replaceChildren(...data.rows.map(row => {
    const tr = document.createElement("tr");
    tr.append(cell(row.figure), cell(row.value));
    return tr;
  }));
}
refresh();
setInterval(refresh, 2000);
</script>
</body></html>
"""


def page(title: str, window_s: float) -> str:
    return PAGE.replace("TITLE", html.escape(title)).replace("WINDOW", f"{window_s:g}")
