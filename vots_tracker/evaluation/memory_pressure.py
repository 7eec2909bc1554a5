"""Tasks killed by Ray's memory monitor: back off, run fewer at once, and tell the user why.

Ray's memory monitor kills a worker when its node (every process on it, not only Ray's)
passes ``RAY_memory_usage_threshold`` (0.95 by default) of its memory; the task then fails
with ``OutOfMemoryError``. Retrying at once under the same pressure fails again within
seconds, so such a failure is handled apart from the others (:class:`Throttle`):

* nothing new starts until a back-off has passed (``backoff`` seconds after a task's first
  such kill, doubling with each further kill of that task, at most ``max_backoff``);
* from then on at most half as many tasks run at once as ran when it happened (down to one);
* a task may be killed so ``retries`` times before it counts as failed; these kills do not
  use up the ordinary ``--retries``.

:func:`oom_report` turns Ray's message into one line: the node, its memory used / total,
which of the largest processes are ours, and what to do.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

#: Seconds before the first retry of a task killed for memory; doubles per kill of that task.
DEFAULT_OOM_BACKOFF = 60.0
#: The longest back-off, seconds.
DEFAULT_OOM_BACKOFF_MAX = 600.0
#: Memory kills a task may meet before it counts as failed (with the defaults: about 25 minutes of back-off).
DEFAULT_OOM_RETRIES = 5

_NODE = re.compile(r"Memory on the node \(IP: ([^,]+), ID: (\w+)\) .*?was ([\d.]+)GB used / ([\d.]+)GB limit")
_TOP = re.compile(r"^\s*(\d+)\s+([\d.]+)\s+(.+?)\s*$", re.M)
#: Process names that belong to this runner: Ray's task workers and the tracker servers they start.
_OURS = ("ray::", "vots_tracker", "vots-tracker", "traxpython")


@dataclass(frozen=True)
class MemoryPolicy:
    backoff: float = DEFAULT_OOM_BACKOFF
    max_backoff: float = DEFAULT_OOM_BACKOFF_MAX
    retries: int = DEFAULT_OOM_RETRIES

    def __post_init__(self) -> None:
        from ..errors import UserError

        if self.backoff < 0 or self.max_backoff < 0:
            raise UserError(f"--oom-backoff must be >= 0 seconds, got {self.backoff:g}")
        if self.retries < 0:
            raise UserError(f"--oom-retries must be >= 0, got {self.retries}")

    def delay(self, kills: int) -> float:
        """Back-off after a task's ``kills``-th memory kill."""
        return min(self.backoff * 2 ** max(0, kills - 1), max(self.max_backoff, self.backoff))


def is_oom(error: str) -> bool:
    return "OutOfMemoryError" in error


class Throttle:
    """How many tasks may run at once and when the next may start, after memory kills."""

    def __init__(self, policy: MemoryPolicy):
        self.policy = policy
        self.limit: Optional[int] = None  # None: as many as Ray can place (nodes added later count too)
        self.hold_until = 0.0
        self.kills: Dict[str, int] = {}

    def may_start(self, running: int) -> bool:
        return time.monotonic() >= self.hold_until and (self.limit is None or running < self.limit)

    def killed(self, key: str, running: int) -> Optional[float]:
        """Record a memory kill of ``key`` while ``running`` tasks ran (it included); the back-off, or None: give up."""
        self.kills[key] = self.kills.get(key, 0) + 1
        if self.kills[key] > self.policy.retries:
            return None
        self.limit = max(1, min(self.limit or running, running) // 2)
        delay = self.policy.delay(self.kills[key])
        self.hold_until = max(self.hold_until, time.monotonic() + delay)
        return delay


def oom_report(key: str, error: str, delay: Optional[float], limit: Optional[int]) -> str:
    """One line: what happened to ``key``, the node's memory, whose processes used it, what follows, what to do."""
    node = _NODE.search(error)
    where = f"node {node.group(1)} ({node.group(2)[:8]})" if node else "its node"
    usage = f" ({node.group(3)} of {node.group(4)} GB used)" if node else ""
    ours, others = _top_users(error)
    users = ""
    if ours or others:
        users = f"; largest processes: ours {', '.join(ours) or 'none'}; others {', '.join(others) or 'none'}"
    if delay is None:
        then = "no retries left"
    else:
        then = f"retrying in {delay:.0f} s with at most {limit} task(s) at once"
    return (f"{key}: Ray's memory monitor killed its task because the memory of {where} was full{usage}{users}; "
            f"{then}. Fewer tasks at once avoid it: --workers N (local Ray) or a larger --cpus-per-task "
            f"(a cluster), or free memory on that node")


def _top_users(error: str) -> "tuple[List[str], List[str]]":
    """Ray's 'Top 10 memory users' table split into ours and others, as 'command (pid P, G GB)'."""
    ours: List[str] = []
    others: List[str] = []
    if "memory users" not in error:
        return ours, others
    table = error.split("memory users", 1)[1]
    for pid, gigabytes, command in _TOP.findall(table)[:6]:
        name = command.split()[0] if command.split() else command
        entry = f"{name[:40]} (pid {pid}, {gigabytes} GB)"
        (ours if any(mark in command for mark in _OURS) else others).append(entry)
    return ours, others
