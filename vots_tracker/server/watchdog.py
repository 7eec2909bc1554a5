"""Ends the TraX server when its client is gone, whatever libtrax is doing.

libtrax cannot be interrupted from Python: half a message followed by end of
input makes ``Server.wait()`` spin at 100% CPU forever, inside C. A daemon
thread (ctypes releases the GIL during the call) watches from outside:

* the parent process: when it dies the server is re-parented and
  ``os.getppid()`` changes;
* the protocol input, in stdio mode: ``poll()`` reports POLLHUP once the client
  has closed its end and everything it wrote has been read. ``poll()`` reads
  nothing, so no protocol byte is taken from libtrax. A hang-up is acted on only
  after the main thread has sat in one ``wait()`` call for ``grace`` seconds with it, so
  a request completed before the hang-up (QUIT, a last FRAME) is served normally.

Either way the process ends at once with ``os._exit``: the main thread may be
stuck in C. ``PR_SET_PDEATHSIG`` is not used: it fires when the *thread* that
started the server exits, which would kill a healthy tracker that a client
started from a worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from typing import Iterator, Optional

logger = logging.getLogger(__name__)

EXIT_CLIENT_GONE = 1
# poll() flags meaning "nobody will ever write to this input again".
_HANGUP = select.POLLHUP | select.POLLERR | select.POLLNVAL


def input_hung_up(fd: int) -> bool:
    """True if the writer of ``fd`` is gone and nothing is left to read (never reads)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    events = dict(poller.poll(0)).get(fd, 0)
    return bool(events & _HANGUP) and not events & select.POLLIN


class ClientWatchdog:
    """Watch the parent process and (in stdio mode) the protocol input; exit when the client is gone."""

    def __init__(self, input_fd: Optional[int] = 0, interval: float = 0.25, grace: float = 1.0):
        self.input_fd = input_fd
        self.interval = interval
        self.grace = grace
        self.parent = os.getppid()
        self._waiting_since: Optional[float] = None
        self._stuck_since: Optional[float] = None  # first check that saw wait() blocked on a closed input
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trax-watchdog", daemon=True)

    @classmethod
    def for_environment(cls) -> "ClientWatchdog":
        """In socket mode (TRAX_SOCKET set, a toolkit option) stdin is not the protocol: watch the parent only."""
        return cls(input_fd=None if os.environ.get("TRAX_SOCKET") else 0)

    def start(self) -> "ClientWatchdog":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Mark the main thread as blocked in libtrax's ``wait()``."""
        self._waiting_since = time.monotonic()
        try:
            yield
        finally:
            self._waiting_since = None

    def input_closed(self) -> bool:
        """True if the protocol input is watched and its writer is gone."""
        return self.input_fd is not None and input_hung_up(self.input_fd)

    def client_gone(self) -> Optional[str]:
        """Why the client can no longer be served, or None while it can (called every ``interval``)."""
        if os.getppid() != self.parent:
            return f"the parent process (pid {self.parent}) died"
        waiting_since = self._waiting_since
        if self.input_fd is None or waiting_since is None or not input_hung_up(self.input_fd):
            self._stuck_since = None
            return None
        now = time.monotonic()
        if self._stuck_since is None or waiting_since > self._stuck_since:  # a new wait() call
            self._stuck_since = now
        elif now - self._stuck_since >= self.grace:
            return "the TraX input was closed (the client is gone, maybe in the middle of a request)"
        return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            reason = self.client_gone()
            if reason:
                logger.error("exiting: %s", reason)
                logging.shutdown()  # flush stderr before the hard exit
                os._exit(EXIT_CLIENT_GONE)
