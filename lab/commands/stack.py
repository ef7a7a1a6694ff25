"""The verbs of the stack: values, model, images, up, cycle, restart-router, status, smoke,
check-routing, down, monitor."""

from __future__ import annotations

import argparse
import sys

from lab import console, platforms
from lab.commands.options import (
    dry_run_option,
    path,
    platform_option,
    profile_options,
    scenario_arguments,
    scenario_options,
    writable,
)
from lab.errors import ConfigError
from lab.platforms.protocol import HELM, RESTART_ROUTER


def add(verbs: argparse._SubParsersAction) -> None:
    _values_parser(verbs)
    _model_parser(verbs)
    _images_parser(verbs)
    _lifecycle_parsers(verbs)


def _values_parser(verbs: argparse._SubParsersAction) -> None:
    values = verbs.add_parser(
        "values",
        help="print the production-stack Helm values a profile renders to, or check a values file",
    )
    profile_options(values)
    values.add_argument(
        "--platform",
        choices=platforms.named(HELM),
        help="Kubernetes platform the values are for (default: the profile's, kind for auto)",
    )
    values.add_argument(
        "--check", type=path, metavar="VALUES.yaml", help="validate this Helm values file"
    )
    values.add_argument(
        "--strict",
        action="store_true",
        help="with --check: refuse clear-text secrets (token, API key) instead of warning",
    )
    values.set_defaults(run=_values)


def _values(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from lab.config import profile as profiles
    from lab.config import values
    from lab.config.cleartext import clear_text_secrets

    if args.check:
        path = Path(args.check)
        secrets = clear_text_secrets(values.check_file(path))
        lines = [f"{path}: {where}: {advice}" for where, advice in secrets]
        if args.strict and lines:
            raise ConfigError(lines)
        for line in lines:
            console.warn(line)
        console.err.print(f"✅ {console.plain(args.check)}: valid vllm-stack values")
        return 0
    profile = profiles.load(args.profile, args.sets)
    platform = args.platform or profile.platform
    hf_token = bool(os.environ.get(profile.model.hf_token_env))
    sys.stdout.write(values.to_yaml(values.render(profile, platform, hf_token=hf_token)))
    return 0


def _model_parser(verbs: argparse._SubParsersAction) -> None:
    model = verbs.add_parser("model", help="make the lab's tiny model (lab:tiny-llama)")
    model.add_argument("which", choices=["tiny"], help="the model to make")
    model.add_argument(
        "--out", type=path, help="folder to write it to (default: the lab's model cache)"
    )
    model.set_defaults(run=_model)


def _model(args: argparse.Namespace) -> int:
    from lab.config import model
    from lab.console import ok

    folder, made = model.ensure_tiny(writable("--out", args.out) if args.out else None)
    ok(f"{'made' if made else 'already made'}: lab:tiny-llama at {folder} (recipe {model.RECIPE})")
    return 0


def _images_parser(verbs: argparse._SubParsersAction) -> None:
    images = verbs.add_parser(
        "images", help="build the lab's own container images (for Docker hosts with no registry)"
    )
    images.add_argument("action", choices=["build"], help="build (cached) and load them")
    images.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="engine, router, prometheus (default: all three)",
    )
    dry_run_option(images)
    images.set_defaults(run=_images)


def _images(args: argparse.Namespace) -> int:
    platforms.build_images(args.names, dry_run=args.dry_run)
    return 0


def _lifecycle_parsers(verbs: argparse._SubParsersAction) -> None:
    up = verbs.add_parser("up", help="bring a stack up, then smoke-test it")
    profile_options(up)
    platform_option(up)
    up.add_argument("--no-smoke", action="store_true", help="skip the smoke test after up")
    dry_run_option(up)
    up.set_defaults(run=_up)

    cycle = verbs.add_parser(
        "cycle", help="up, smoke, routing check, scenarios, down: what nox -s cpu-lab runs"
    )
    profile_options(cycle)
    platform_option(cycle)
    cycle.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    scenario_options(cycle)
    cycle.set_defaults(run=_cycle)

    restart = verbs.add_parser(
        "restart-router",
        help="start the router again with the profile's router settings; engines untouched "
        f"({', '.join(platforms.named(RESTART_ROUTER))})",
    )
    profile_options(restart)
    restart.set_defaults(run=_restart_router)

    verbs.add_parser("status", help="the running lab at one glance").set_defaults(run=_status)
    verbs.add_parser("smoke", help="smoke-test the running stack").set_defaults(run=_smoke)
    verbs.add_parser(
        "check-routing", help="prove the routing logic from the engines' own counters"
    ).set_defaults(run=_check_routing)
    down = verbs.add_parser("down", help="stop exactly what the lab started")
    down.add_argument(
        "--volumes", action="store_true", help="remove the lab's volumes too (compose platform)"
    )
    dry_run_option(down)
    down.set_defaults(run=_down)

    monitor = verbs.add_parser("monitor", help="where the lab's Prometheus and Grafana are")
    monitor.add_argument(
        "--port-forward", action="store_true", help="forward them to loopback (down stops it)"
    )
    monitor.set_defaults(run=_monitor)


def _up(args: argparse.Namespace) -> int:
    from lab.config import profile

    lab = profile.load(args.profile, args.sets)
    from lab.load import lifecycle  # heavy (openai, matplotlib): after the arguments are checked

    if args.dry_run:
        lifecycle.plan(lab, args.platform)
    else:
        lifecycle.up(lab, args.platform, run_smoke=not args.no_smoke)
    return 0


def _restart_router(args: argparse.Namespace) -> int:
    from lab.config import profile

    lab = profile.load(args.profile, args.sets)
    from lab.load import lifecycle  # heavy (openai, matplotlib): after the arguments are checked

    lifecycle.restart_router(lab)
    return 0


def _cycle(args: argparse.Namespace) -> int:
    from lab.config import profile

    lab = profile.load(args.profile, args.sets)
    out = scenario_arguments(lab, args)
    from lab.load import lifecycle  # heavy (openai, matplotlib): after the arguments are checked

    lifecycle.cycle(lab, args.platform, args.keep, args.scenario, out)
    return 0


def _status(args: argparse.Namespace) -> int:
    from lab.console import say
    from lab.stack import state, status

    current = state.load()
    if current is None or current.endpoints is None:
        say("💤 no lab is up here; start one with `python -m lab up --profile cpu`")
        return 0
    conditions = platforms.get(current.platform).health(current)
    return 0 if status.show(current, conditions) else 1


def _smoke(args: argparse.Namespace) -> int:
    from lab.stack import smoke, state

    smoke.run(state.require().require_endpoints())
    return 0


def _check_routing(args: argparse.Namespace) -> int:
    from lab.stack import routing_check, state

    routing_check.run(state.require().require_endpoints())
    return 0


def _monitor(args: argparse.Namespace) -> int:
    from lab import monitor

    monitor.run(port_forward=args.port_forward)
    return 0


def _down(args: argparse.Namespace) -> int:
    from lab.console import say
    from lab.load import lifecycle

    if not lifecycle.down(dry_run=args.dry_run, volumes=args.volumes):
        say("💤 nothing to stop: no lab is up here")
    return 0
