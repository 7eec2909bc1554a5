"""``vots-tracker`` that SIGKILLs its own process at a chosen point of a sweep (test only, never part of the package).

Usage: python sweep_kill_hook.py WHAT:N ARGS...  (ARGS: a ``vots-tracker`` command line, e.g. ``sweep ...``)

* ``write:N``: right after the toolkit wrote its N-th result trajectory (with its ``.value`` files);
* ``publish:N``: right after the N-th staged sequence folder was moved into ``results/``.

The process dies with SIGKILL, as from ``kill -9`` or the kernel's OOM killer: nothing runs after it.
"""

import os
import signal
import sys


def install(spec: str) -> None:
    what, _, count = spec.partition(":")
    seen = {"calls": 0}

    def tick():
        seen["calls"] += 1
        if seen["calls"] == int(count):
            os.kill(os.getpid(), signal.SIGKILL)

    if what == "write":
        from vot.tracker import Trajectory

        write = Trajectory.write

        def counted_write(self, results, name):
            write(self, results, name)
            tick()

        Trajectory.write = counted_write
    elif what == "publish":
        from vots_tracker.evaluation import staged

        replace_folder = staged._replace_folder

        def counted_replace(*args):
            replace_folder(*args)
            tick()

        staged._replace_folder = counted_replace
    else:
        raise SystemExit(f"sweep_kill_hook: unknown kill point {spec!r} (write:N or publish:N)")


if __name__ == "__main__":
    install(sys.argv[1])
    from vots_tracker.cli import main

    sys.exit(main(sys.argv[2:]))
