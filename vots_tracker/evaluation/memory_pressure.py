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
how much of it our processes hold (a probe on that node, :func:`node_memory`), and what to do.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Dict, Optional

#: Seconds before the first retry of a task killed for memory; doubles per kill of that task.
DEFAULT_OOM_BACKOFF = 60.0
#: The longest back-off, seconds.
DEFAULT_OOM_BACKOFF_MAX = 600.0
#: Memory kills a task may meet before it counts as failed (with the defaults: about 25 minutes of back-off).
DEFAULT_OOM_RETRIES = 5

_NODE = re.compile(r"Memory on the node \(IP: ([^,]+), ID: (\w+)\) .*?was ([\d.]+)GB used / ([\d.]+)GB limit")


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


def node_memory(node_id: str, timeout: float = 15.0) -> Optional[Dict[str, object]]:
    """What uses the memory of Ray node ``node_id`` now (a tiny probe task pinned there); None if it cannot tell."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    try:
        probe = ray.remote(num_cpus=0, max_retries=0)(_memory_here).options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False))
        return ray.get(probe.remote(), timeout=timeout)
    except Exception:  # the node is gone, or the probe was killed too: Ray's own figures remain
        return None


def _memory_here() -> Dict[str, object]:
    """On the node: used and total memory, and the resident memory of our processes.

    Ours: Ray's worker processes (``ray::...``: they run the tasks) and every process they
    started (the trackers).
    """
    import psutil

    try:  # the figures Ray's memory monitor goes by (a container's cgroup where there is one)
        from ray._common.utils import get_system_memory
        from ray._private.utils import get_used_memory

        used, total = get_used_memory(), get_system_memory()
    except (ImportError, OSError):
        memory = psutil.virtual_memory()
        used, total = memory.total - memory.available, memory.total
    ours = {}
    for process in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            if (process.info["cmdline"] or [""])[0].startswith("ray::"):
                for member in [process] + process.children(recursive=True):
                    ours[member.pid] = member.memory_info().rss
        except psutil.Error:
            continue
    return {"used": used, "total": total, "ours": len(ours),
            "ours_bytes": sum(ours.values())}


def oom_report(key: str, error: str, delay: Optional[float], limit: Optional[int],
               seen: Optional[Dict[str, object]] = None) -> str:
    """One line: what happened to ``key``, the node's memory, how much is ours, what follows, what to do.

    ``error`` is Ray's message (it names the node and its memory at the kill); ``seen`` what
    :func:`node_memory` found on that node right after.
    """
    node = _NODE.search(error)
    where = f"node {node.group(1)} ({node.group(2)[:8]})" if node else "its node"
    usage = f" ({node.group(3)} of {node.group(4)} GiB used)" if node else ""  # Ray's "GB" are GiB
    users = ""
    if seen:
        users = (f"; just after, {_gb(seen['used'])} of {_gb(seen['total'])} GiB used there, of which "
                 f"{_gb(seen['ours_bytes'])} GiB by our {seen['ours']} process(es) (Ray workers and their trackers)")
    if delay is None:
        then = "no retries left"
    else:
        then = f"retrying in {delay:.0f} s with at most {limit} task(s) at once"
    return (f"{key}: Ray's memory monitor killed its task because the memory of {where} was full{usage}{users}; "
            f"{then}. Fewer tasks at once avoid it: --workers N (local Ray) or a larger --cpus-per-task "
            f"(a cluster), or free memory on that node")


def killed_node(error: str) -> Optional[str]:
    """The node id in Ray's memory-kill message."""
    node = _NODE.search(error)
    return node.group(2) if node else None


def _gb(value) -> str:
    return f"{float(value) / 2 ** 30:.2f}"
