"""Not a scenario (it has no users): `python -m lab ui` loads it beside routing.py and
throughput.py so that each test started in the web UI is recorded as a results folder, and the
UI shows the lab's own figures (an LLM tab, charts at /llm). See lab/load/web_runs.py and
web_app.py.
"""

from __future__ import annotations

from locust import events

from lab.load import web_app, web_runs

events.init_command_line_parser.add_listener(web_runs.add_options)
events.init.add_listener(web_app.attach)
