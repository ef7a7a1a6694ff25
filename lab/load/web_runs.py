"""Inside the Locust process of `lab ui`: each test started in the web UI becomes a results
folder like a headless run's (lab.results.folder), its figures computed live as it runs (the UI
shows them: lab.load.web_app).

A test runs from its start to its stop (the Stop button, or the run time set in the UI: its
routing users converse until then), or to a reset of the statistics, which starts the next test
at once since Locust counts from zero again; one cut short by the end of the UI is kept,
marked interrupted. Its scenario and level are named from what the user chose: the user
classes' scenario kinds, the users and the spawn rate (e.g. routing/ui-u8-r2). Its requests
are judged against the profile's SLO, as a headless level's are against its scenario's.

Loaded by locustfiles/web_ui.py, which `lab ui` adds to the scenarios. Importing this module
imports Locust, which patches the standard library with gevent.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from locust import argument_parser
from locust import stats as locust_stats
from locust.env import Environment
from locust.runners import STATE_RUNNING

from lab.config import profile as profiles
from lab.config.slo import Slo
from lab.console import bad, say
from lab.inproc import llm_user, locust_files, swarm
from lab.inproc.samples import CPU_FILE
from lab.load import gauges, progress, web_figures
from lab.paths import safe_name
from lab.results import figures, summary
from lab.results import folder as results
from lab.results import manifest as manifests
from lab.results.manifest import Manifest, ScenarioRecord
from lab.stack import metrics
from lab.stack.endpoints import Engine

REFRESH_S = 2.0  # how often a running test's figures are computed again


def add_options(parser: Any) -> None:
    """Set by `lab ui`, hidden from the UI's custom parameters."""
    parser.add_argument(
        "--lab-results", default="", help="record each test in this results folder", **swarm.HIDDEN
    )
    parser.add_argument(
        "--lab-run-manifest",
        default="",
        help="the manifest a recorded test starts from",
        **swarm.HIDDEN,
    )
    parser.add_argument(
        "--lab-engine-urls", default="", help="NAME=URL,...: the engines' base URLs", **swarm.HIDDEN
    )


def engines(text: str) -> tuple[Engine, ...]:
    """Engines from NAME=URL,NAME=URL."""
    pairs = (item.partition("=") for item in text.split(",") if item)
    return tuple(Engine(name, url) for name, _, url in pairs)


def level_name(users: int, spawn_rate: float) -> str:
    return f"ui-u{users}-r{spawn_rate:g}"


def _kind(user: type) -> str:
    """The scenario kind a user class plays (the lab's users say it)."""
    assert issubclass(user, llm_user.LLMUser), f"{user.__name__} is not one of the lab's users"
    return user.kind


@dataclass
class Test:
    """A test in progress (or the last one), and where it is recorded."""

    recorder: manifests.Recorder  # its manifest
    level: str
    began: float
    tail: web_figures.Tail
    stats_csv: locust_stats.StatsCSVFileWriter
    writer: gevent.Greenlet
    before: dict[str, dict[str, float]] | None = None  # engines' counters at its start
    figures: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    refresher: gevent.Greenlet | None = None

    @property
    def folder(self) -> Path:
        return self.recorder.folder

    @property
    def manifest(self) -> Manifest:
        return self.recorder.manifest

    @property
    def chosen(self) -> dict[str, Any]:
        """What the user chose in the UI (the manifest's web_ui)."""
        assert self.manifest.web_ui is not None
        return self.manifest.web_ui

    @property
    def entry(self) -> ScenarioRecord:
        return self.manifest.scenarios[0]

    @property
    def place(self) -> Path:
        return self.folder / self.entry.name

    @property
    def prefix(self) -> Path:
        """Locust's own files: <scenario>/<level>/locust*, as in a headless run."""
        return self.place / self.level / "locust"


class Recorder:
    def __init__(
        self,
        environment: Environment,
        base: Path,
        template: Manifest,
        engines: tuple[Engine, ...],
    ) -> None:
        self.environment = environment
        self.base = base
        self.template = template
        self.engines = engines
        # The SLO `lab ui` gave the users (--lab-slo) is the profile's: whole, from its manifest.
        self.slo: Slo | None = profiles.build(template.profile, template.profile_source).slo
        self.test: Test | None = None
        self.last: Test | None = None
        # Cleared while a stop is finishing a test: the UI's polls then wait (lab.load.web_app),
        # and are made afresh once it is recorded (forget_poll: set by the UI).
        self.settled = Event()
        self.settled.set()
        self.forget_poll: Callable[[], None] = lambda: None
        self.pending: list[gevent.Greenlet] = []
        self.ending = "stop"  # how a test that stops now ends: stop, or quit

    def listen(self) -> None:
        events = self.environment.events
        events.test_start.add_listener(self.started)
        events.spawning_complete.add_listener(self.spawned)
        events.test_stopping.add_listener(self.stopping)
        events.test_stop.add_listener(self.stopped)
        events.reset_stats.add_listener(self.reset)
        events.quitting.add_listener(self.quitting)

    # Locust's events

    def started(self, **_: Any) -> None:
        test = self.test = self._begin()
        test.before = gauges.counters(self.engines)  # before any user is spawned

    def spawned(self, user_count: int, **_: Any) -> None:
        if self.test is not None:
            self.test.chosen["user_counts"].append(user_count)

    def stopping(self, **_: Any) -> None:
        self.settled.clear()
        if self.test is not None and self.test.refresher is not None:
            self.test.refresher.kill(block=False)  # its charts end as the test's load does

    def stopped(self, **_: Any) -> None:
        try:
            if self.test is not None:
                self._end(self._take(), gauges.counters(self.engines), self.ending)
        finally:
            self.forget_poll()
            self.settled.set()

    def reset(self, **_: Any) -> None:
        """The test so far is recorded, the next begins. Nothing here may yield to other
        greenlets: a request ending meanwhile would be in one test's samples and the other's
        Locust counts. The engines are read afterwards, once for both."""
        if self.test is None:
            return
        old = self._take()
        new = self.test = self._begin()
        runner = self.environment.runner
        if runner is not None and runner.state == STATE_RUNNING:
            new.chosen["user_counts"].append(runner.user_count)  # ramped already
        self.pending.append(gevent.spawn(self._hand_over, old, new))

    def quitting(self, **_: Any) -> None:
        """The UI is ending (Ctrl-C): a running test ends here, its users stopped first so
        that its samples, Locust's counts and the engines' counters cover the same requests."""
        self.ending = "quit"
        if self.environment.runner is not None:
            self.environment.runner.stop()  # then `stopped` ends the test, if one runs
        gevent.joinall(self.pending, timeout=120)

    # A test's life

    def _begin(self) -> Test:
        """A new results folder for the test starting now, its samples and Locust's CSVs
        written there from now on."""
        env = self.environment
        options = swarm.parsed(env)
        kinds = sorted({_kind(user) for user in env.user_classes})
        scenario = "_".join(kinds)  # a plain name (the manifest schema): its folder
        level = level_name(options.num_users, options.spawn_rate)
        name = safe_name(self.template.profile_name, limit=40)  # from the state file
        folder = results.new_folder(self.base, f"{results.stamp()}-{name}-ui")
        manifest = copy.deepcopy(self.template)
        manifest.started, manifest.ended, manifest.status = manifests.now(), None, "running"
        kind = "routing" if "routing" in kinds else "throughput"
        manifest.scenarios = [
            ScenarioRecord(scenario, kind, started=manifest.started, seed=llm_user.SEED["base"])
        ]
        manifest.web_ui = {
            "user_classes": sorted(user.__name__ for user in env.user_classes),
            "users": options.num_users,
            "spawn_rate": options.spawn_rate,
            "run_time": options.run_time,
            "user_counts": [],
            "parameters": {
                name: getattr(options, name) for name in argument_parser.ui_extra_args_dict()
            },
            "ended_by": None,
        }
        (folder / scenario / level).mkdir(parents=True)
        recorder = manifests.Recorder(folder, manifest)
        # The lab's user writes these in every row; hidden from the UI, so set here.
        options.lab_scenario, options.lab_level = scenario, level
        samples = folder / scenario / "requests.csv"
        cpu = folder / scenario / level / CPU_FILE
        for log, path in ((swarm.SAMPLES, samples), (swarm.CPU_LOG, cpu)):
            log.close()
            log.open(str(path))
        prefix = folder / scenario / level / "locust"
        stats_csv = locust_stats.StatsCSVFileWriter(
            env, locust_stats.PERCENTILES_TO_REPORT, str(prefix), full_history=True
        )
        test = Test(
            recorder=recorder,
            level=level,
            began=time.time(),
            tail=web_figures.Tail(samples),
            stats_csv=stats_csv,
            writer=gevent.spawn(stats_csv.stats_writer),
        )
        test.refresher = gevent.spawn(self._refresh, test)
        say(f"📁 {folder}: recording the test started in the web UI ({scenario}/{level})")
        return test

    def _take(self) -> Test:
        """Detach the running test and close what Locust and its users write for it, without
        yielding: Locust's statistics are still the test's own here."""
        test, self.test = self.test, None
        assert test is not None
        for greenlet in (test.refresher, test.writer):
            if greenlet is not None:
                greenlet.kill(block=False)
        test.stats_csv.close_files()
        swarm.SAMPLES.close()
        swarm.CPU_LOG.close()
        test.tail.close()
        locust_files.save(self.environment, test.prefix)
        return test

    def _end(self, test: Test, after: dict[str, dict[str, float]], ended_by: str) -> None:
        """Write what a headless level leaves (engines.csv, summary.json, the manifest), show
        the figures, and render report.html aside."""
        deltas = metrics.delta(after, test.before or {})
        results.write_engines(test.place / "engines.csv", test.level, deltas)
        entry = test.entry
        level_figures = figures.summarize_level(
            test.place, test.level, deltas, entry.kind, None, self.slo
        )
        figures.write(test.place, {test.level: level_figures}, self.slo)
        finished = ended_by != "quit"
        entry.status = "completed" if finished else "interrupted"
        entry.ended = test.manifest.ended = manifests.now()
        entry.levels = [test.level] if finished else []
        entry.error = "" if finished else "the web UI was stopped during the test"
        test.manifest.status = entry.status
        test.chosen["ended_by"] = ended_by
        test.recorder.save()
        test.figures = level_figures
        self.last = test
        progress.say_level(entry.name, test.level, level_figures)
        self.pending.append(gevent.spawn(self._report, test.folder))

    def _hand_over(self, old: Test, new: Test) -> None:
        counters = gauges.counters(self.engines)
        new.before = counters
        self._end(old, counters, "reset")

    def _refresh(self, test: Test) -> None:
        """The running test's figures and a chart point, every REFRESH_S seconds."""
        while True:
            gevent.sleep(REFRESH_S)
            samples = test.tail.read()
            deltas = {}
            if test.before is not None:
                deltas = metrics.delta(gauges.counters(self.engines), test.before)
            figures = summary.summarize(samples, deltas)
            if self.slo is not None:  # as summarize_level judges it at the end
                figures["slo_met"] = self.slo.met(figures["slo_attainment"], figures["error_rate"])
            test.figures = figures
            now = time.time()
            hit_rate = figures["prefix_cache_hit_rate"]
            test.history.append(
                web_figures.point(samples, test.began, now, self._users(now), hit_rate)
            )

    def _users(self, now: float) -> tuple[int, int]:
        """(spawned, active): Locust's users, and those at work (web_figures.active_users)."""
        activity = llm_user.activity(self.environment)
        return swarm.runner(self.environment).user_count, web_figures.active_users(activity, now)

    def _report(self, folder: Path) -> None:
        """report.html in a process of its own: plotting would stall this one's event loop,
        and with it the next test's users."""
        command = [sys.executable, "-m", "lab", "report", str(folder)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            bad(f"{folder}: report.html not written: {done.stderr.strip()[-300:]}")
        say(f"📁 results of the web UI test: {folder}")
