"""SIGTERM and SIGHUP end a command the way Ctrl-C does.

Job schedulers, ``timeout`` and closed terminals stop a process with SIGTERM or SIGHUP,
whose default action kills it on the spot: staged output would stay behind as hidden
debris. :func:`install` turns SIGINT, SIGTERM and SIGHUP into :class:`Stopped` (a
``KeyboardInterrupt``), so every ``finally``/``except BaseException`` clean-up runs.
:func:`deferred` holds a stop until a block that must not be cut in half (a rename
pair) has finished. CPython runs signal handlers in the main thread whichever thread
the kernel picked, so the deferral is a flag checked by the handler, not a signal mask.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator, List

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_pending: List[int] = []
_depth = 0


class Stopped(KeyboardInterrupt):
    """The command was stopped by a signal; ``exit_code`` follows the shell's 128 + signal number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


def _handle(signum: int, frame) -> None:
    if _depth:
        _pending.append(signum)
        return
    raise Stopped(signum)


def install() -> None:
    """Route the stop signals to :class:`Stopped` (main thread only, as ``signal.signal`` requires)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _handle)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Run the block to its end; a stop signal received meanwhile is raised right after it."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _pending:
            signum = _pending[0]
            _pending.clear()
            raise Stopped(signum)
