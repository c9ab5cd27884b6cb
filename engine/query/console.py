"""The job's web console (`GET /`): one page, no external assets (the job may run where
nothing but loopback is reachable). It shows the topology (the plan's Mermaid text and its
sub-topologies), live input rate and lag per partition, the latest dead letters with their
reasons, and a table browser with key lookup; it polls `/console/status` every second.
`?table=NAME&key=KEY` looks a key up when the page opens."""

from __future__ import annotations

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shoal: {pipeline}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; color: #1d2733; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 16px; margin-top: 1.4em; }}
pre {{ background: #f3f5f7; padding: .8em; overflow: auto; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #cfd6dd; padding: 2px 8px; }}
.num {{ text-align: right; }}
</style></head>
<body>
<h1>Shoal job <code>{pipeline}</code></h1>
<div id="summary">loading&hellip;</div>
<h2>Topology</h2>
<pre id="topology">{topology}</pre>
<h2>Input lag per partition</h2>
<table id="lag"><tr><th>topic</th><th>partition</th><th>end</th><th>committed</th>
<th>lag</th></tr></table>
<h2>Latest dead letters</h2>
<table id="dead"><tr><th>offset</th><th>stage</th><th>operator</th><th>error</th></tr></table>
<h2>Tables</h2>
<form id="lookup"><select id="table"></select> <input id="key" placeholder="key">
<button>look up</button></form>
<pre id="value"></pre>
<script>
const $ = (id) => document.getElementById(id);
function row(cells, cls) {{
  const tr = document.createElement("tr");
  cells.forEach((c, i) => {{ const td = document.createElement("td");
    td.textContent = c; if (cls && cls[i]) td.className = cls[i]; tr.appendChild(td); }});
  return tr;
}}
function fill(id, rows, cls) {{
  const t = $(id); while (t.rows.length > 1) t.deleteRow(1);
  rows.forEach((r) => t.appendChild(row(r, cls)));
}}
async function status() {{
  const s = await (await fetch("/console/status")).json();
  $("summary").textContent = `${{s.records_in}} records in, ${{s.records_per_s.toFixed(0)}}`
    + ` records/s, ${{s.dead_letters}} dead letters, ${{s.tasks}} tasks`;
  fill("lag", s.lag.map((l) => [l.topic, l.partition, l.end, l.committed, l.lag]),
       [null, "num", "num", "num", "num"]);
  fill("dead", s.dead.map((d) => [d.offset, d.stage, d.operator, d.error]));
}}
async function tables() {{
  const t = await (await fetch("/tables")).json();
  t.tables.forEach((x) => {{ const o = document.createElement("option");
    o.value = o.textContent = x.name; $("table").appendChild(o); }});
}}
async function lookup(table, key) {{
  const r = await fetch(`/tables/${{encodeURIComponent(table)}}/${{encodeURIComponent(key)}}`);
  const body = await r.json();
  $("value").textContent = JSON.stringify(r.ok ? body : body.error, null, 2);
}}
$("lookup").addEventListener("submit", (e) => {{ e.preventDefault();
  lookup($("table").value, $("key").value); }});
const asked = new URLSearchParams(location.search);
tables().then(() => {{
  if (asked.get("table")) {{ $("table").value = asked.get("table");
    $("key").value = asked.get("key") || ""; lookup(asked.get("table"), asked.get("key")); }}
}});
status(); setInterval(status, 1000);
</script></body></html>
"""


def page(pipeline: str, topology: str) -> str:
    """The console's HTML for `pipeline` with its Mermaid `topology`."""
    escape = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
    return PAGE.format(pipeline=pipeline.translate(escape), topology=topology.translate(escape))
