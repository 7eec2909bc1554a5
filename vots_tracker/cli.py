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

from . import __version__
from .runtime import stop_signals
from .config import ConfigError, add_tracker_arguments, config_from_args
from .errors import UserError

# Modules that add subcommands, in help order.
SUBCOMMAND_MODULES = (
    "vots_tracker.weights.cli",
    "vots_tracker.server.track",
    "vots_tracker.workspace.folder",
    "vots_tracker.evaluation.commands",
    "vots_tracker.evaluation.sweep.cli",
    "vots_tracker.viewer.command",
    "vots_tracker.workspace.convert",
)


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, str(level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )


SERVE_DESCRIPTION = "Run the multi-object TraX server on stdin/stdout; logs go to stderr."


class _RaisingParser(argparse.ArgumentParser):
    """serve's parser: an argument error is raised, so that it can reach the TraX client."""

    def error(self, message: str):
        raise ConfigError(message)


def _serve(argv: List[str]) -> int:
    """``vots-tracker serve``: any configuration error goes to the client as the quit reason, after the handshake.

    SIGTERM/SIGHUP/SIGINT end it cleanly, with one line on stderr (server.protocol.serve).
    """
    stop_signals.install()
    parser = _RaisingParser(prog="vots-tracker serve", description=SERVE_DESCRIPTION)
    add_tracker_arguments(parser)
    try:
        config = config_from_args(parser.parse_args(argv))
    except ConfigError as error:
        setup_logging()
        from .server.protocol import refuse

        return refuse(f"vots-tracker: bad configuration: {error}")
    setup_logging(config.log_level)
    from .server.protocol import serve

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
        description=SERVE_DESCRIPTION,
    )
    add_tracker_arguments(serve)  # for --help only: main() hands serve's arguments to _serve
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from_shell = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["serve"]:
            return _serve(argv[1:])
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        if from_shell and args.command == "track":  # started from a shell: glibc settings need a restart
            from .runtime.malloc_env import restart_with_tunables

            restart_with_tunables(sys.argv[1:])
        setup_logging(getattr(args, "log_level", None) or "INFO")
        stop_signals.install()  # SIGTERM/SIGHUP clean up staged output like Ctrl-C
        return int(args.func(args) or 0)
    except UserError as error:
        print(f"vots-tracker: error: {error}", file=sys.stderr)
        return 2
    except stop_signals.Stopped as stop:
        print(f"vots-tracker: interrupted ({stop})", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print("vots-tracker: interrupted", file=sys.stderr)
        return 130


__all__ = ["main", "build_parser", "add_tracker_arguments"]
