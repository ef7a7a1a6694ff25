"""The web UI's chart page (/llm, served by Locust's own Flask app): the stack, the current or
last test's figures, and charts over time drawn as inline SVG from /llm/figures.json every two
seconds. Self-contained: no script or style from outside loopback.

Each chart has ticks on both axes (1, 2 or 5 times a power of ten), the unit on its value
axis, the seconds since the test started on its time axis, and a legend naming every line."""

from __future__ import annotations

import html

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>LLM figures: TITLE</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } .meta { color: #555; max-width: 60em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 1em 0; }
td { border: 1px solid #ddd; padding: 0.2em 0.6em; } td:last-child { text-align: right; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figcaption { font-size: 0.9em; font-weight: 600; }
svg { background: #fafafa; border: 1px solid #ddd; font-size: 10px; }
svg .grid { stroke: #e4e4e4; } svg .axis { stroke: #888; }
</style></head>
<body>
<h1>LLM figures: TITLE</h1>
<p class="meta">The lab's own measurements (TTFT, TPOT, E2E from each streamed answer; the
prefix-cache hit rate from the engines' counters). Each chart point, every two seconds, covers
the requests that ended in the last WINDOW seconds. A user is active while a request of its own
is in flight or ended within the last WINDOW seconds. <a href="/">Back to Locust</a></p>
<div class="charts" id="charts"></div>
<table id="figures"></table>
<script>
// [caption, unit of the value axis, [[key in a point, legend], ...], whole numbers only]
const CHARTS = [
  ["TTFT (ms)", "ms", [["ttft_p50", "p50"], ["ttft_p90", "p90"]], false],
  ["TPOT (ms)", "ms", [["tpot_p50", "p50"], ["tpot_p90", "p90"]], false],
  ["E2E latency (ms)", "ms", [["e2e_p50", "p50"], ["e2e_p90", "p90"]], false],
  ["Output throughput (tokens/s)", "tokens/s", [["output_tokens_per_s", "all users"]], false],
  ["Prefix-cache hit rate (%)", "%", [["prefix_cache_hit_rate", "since the start"]], false],
  ["Users", "users", [["users", "spawned"], ["active_users", "active"]], true],
];
const COLOURS = ["#1f77b4", "#d62728"], DASHES = ["", "6 3"];  // lines that meet stay seen
const W = 440, H = 230, LEFT = 52, RIGHT = 14, TOP = 30, BOTTOM = 42;

// Ticks from 0 to at least `top`, 1, 2 or 5 times a power of ten apart (whole: at least 1).
function ticks(top, whole) {
  const span = top > 0 ? top : 1;
  const rough = span / 4;
  const power = Math.pow(10, Math.floor(Math.log10(rough)));
  let step = [1, 2, 5, 10].map(m => m * power).find(s => s >= rough * 0.999);
  if (whole) step = Math.max(1, step);
  const count = Math.ceil(span / step - 1e-9);
  return Array.from({length: count + 1}, (_, i) => +(i * step).toPrecision(10));
}

function text(x, y, words, attributes) {
  return `<text x="${x}" y="${y}" ${attributes}>${words}</text>`;
}

function line(x1, y1, x2, y2, attributes) {
  return `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" ${attributes}/>`;
}

function chart([caption, unit, lines, whole], history) {
  const values = history.flatMap(p => lines.map(([k]) => p[k])).filter(v => v !== null);
  const xs = ticks(Math.max(0, ...history.map(p => p.t)), false);
  const ys = ticks(Math.max(0, ...values), whole);
  const xmax = xs[xs.length - 1], ymax = ys[ys.length - 1];
  const bottom = H - BOTTOM, middle = (TOP + bottom) / 2;
  const x = t => LEFT + (W - LEFT - RIGHT) * t / xmax;
  const y = v => bottom - (bottom - TOP) * v / ymax;
  let svg = `<svg width="${W}" height="${H}" role="img" aria-label="${caption}">`;
  for (const v of ys) {
    svg += line(LEFT, y(v), W - RIGHT, y(v), 'class="grid"');
    svg += text(LEFT - 4, y(v) + 3, v, 'class="tick y" text-anchor="end"');
  }
  for (const t of xs) {
    svg += line(x(t), bottom, x(t), bottom + 4, 'class="axis"');
    svg += text(x(t), bottom + 14, t, 'class="tick x" text-anchor="middle"');
  }
  svg += line(LEFT, bottom, W - RIGHT, bottom, 'class="axis"');
  svg += line(LEFT, TOP, LEFT, bottom, 'class="axis"');
  const across = "seconds since the test started";
  svg += text((LEFT + W - RIGHT) / 2, H - 6, across, 'class="label x" text-anchor="middle"');
  const turned = `transform="rotate(-90 12 ${middle})"`;
  svg += text(12, middle, unit, `class="label y" text-anchor="middle" ${turned}`);
  lines.forEach(([key, legend], i) => {
    const points = history.filter(p => p[key] !== null).map(p => `${x(p.t)},${y(p[key])}`);
    const colour = `stroke="${COLOURS[i]}" stroke-dasharray="${DASHES[i]}"`;
    const left = LEFT + 8 + 110 * i;
    svg += `<polyline fill="none" ${colour} stroke-width="1.5" points="${points.join(" ")}"/>`;
    svg += line(left, TOP - 12, left + 16, TOP - 12, `${colour} stroke-width="2"`);
    svg += text(left + 20, TOP - 9, legend, `class="legend" fill="${COLOURS[i]}"`);
  });
  return `<figure><figcaption>${caption}</figcaption>${svg}</svg></figure>`;
}

function cell(words) {
  const td = document.createElement("td");
  td.textContent = words;
  return td;
}

async function refresh() {
  const data = await (await fetch("/llm/figures.json")).json();
  document.getElementById("charts").innerHTML =
    CHARTS.map(spec => chart(spec, data.history)).join("");
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
