"""The ``vots-tracker`` command: one parser, one subcommand per module.

Each module contributes its subcommand through ``register(subparsers)`` and a
``func(args) -> int``; heavy imports (torch, models) stay inside those funcs
so that ``--help`` and argument errors are instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

from . import __version__, stop_signals
from .config import ConfigError, add_tracker_arguments, config_from_args
from .errors import UserError

# Modules that add subcommands, in help order.
SUBCOMMAND_MODULES = (
    "vots_tracker.weights.cli",
    "vots_tracker.track",
    "vots_tracker.workspace",
    "vots_tracker.jobs",
    "vots_tracker.sweep.cli",
    "vots_tracker.convert",
)


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, str(level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )


def _serve(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    setup_logging(config.log_level)
    from .protocol import serve

    return serve(config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vots-tracker",
        description="DMAOT + HQ-SAM gated tracker for the VOTS challenge (TraX server and tools).",
    )
    parser.add_argument("--version", action="version", version=f"vots-tracker {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = subparsers.add_parser(
        "serve",
        help="run the multi-object TraX server (what trackers.ini starts)",
        description="Run the multi-object TraX server on stdin/stdout; logs go to stderr.",
    )
    add_tracker_arguments(serve)
    serve.set_defaults(func=_serve)
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    if argv is None and args.command == "track":  # started from a shell: glibc settings need a restart
        from .malloc_env import restart_with_tunables

        restart_with_tunables(sys.argv[1:])
    if args.command != "serve":
        setup_logging(getattr(args, "log_level", None) or "INFO")
        stop_signals.install()  # SIGTERM/SIGHUP clean up staged output like Ctrl-C
    try:
        return int(args.func(args) or 0)
    except (UserError, ConfigError) as error:
        print(f"vots-tracker: error: {error}", file=sys.stderr)
        return 2
    except stop_signals.Stopped as stop:
        print(f"vots-tracker: interrupted ({stop})", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print("vots-tracker: interrupted", file=sys.stderr)
        return 130


__all__ = ["main", "build_parser", "add_tracker_arguments"]
