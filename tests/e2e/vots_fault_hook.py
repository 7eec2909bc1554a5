"""Test-only fault injection and probes for TraX trackers and Ray tasks (not part of the package).

A test trackers.ini ``command`` installs the hook before the tracker starts::

    import vots_fault_hook; vots_fault_hook.install(); <start the tracker>

It wraps the official ``trax.Server.wait`` and acts on environment variables (trackers.ini ``env_`` keys):

* ``VOTS_TEST_KILL=SEQUENCE:K:MARKER``: on the K-th request (INITIALIZE is 1) of SEQUENCE, if
  the file MARKER does not exist, create it and die with ``os._exit`` (so: once);
* ``VOTS_TEST_FAIL=SEQUENCE``: die on the first request of SEQUENCE, every time;
* ``VOTS_TEST_PROBE=DIR``: write the ``CUDA_VISIBLE_DEVICES`` and ``OMP_NUM_THREADS`` this process
  sees to ``DIR/<sequence>.txt``;
* ``VOTS_TEST_HOLD=DIR``: on INITIALIZE, unless ``DIR/release`` exists, write
  ``DIR/<sequence>-<pid>.held`` and wait for ``DIR/release`` (at most 60 s);
* ``VOTS_TEST_HOG=SEQUENCE:MIB:MARKER``: on INITIALIZE of SEQUENCE, if MARKER does not exist, take
  memory until the node's use (as Ray's memory monitor reckons it) passes ``RAY_memory_usage_threshold``
  (at most MIB MiB), having written MARKER first (``pid 0 started``; then ``pid MiB over|short``), and wait (at most 30 s) to be killed;
* ``VOTS_TEST_TIMES=FILE``: append ``<sequence> start|end <time> <pid>`` lines (INITIALIZE, QUIT).

A tracker that waits exits as soon as its parent (the Ray worker running the toolkit) is gone,
so a removed node or a killed worker never leaves it behind.
"""

import os
from pathlib import Path


def _sequence(request) -> str:
    import trax

    image = (request.image or {}).get(trax.ImageChannel.COLOR)
    return Path(image.path()).parents[1].name if image is not None else ""


def install() -> None:
    import trax

    original = trax.Server.wait
    seen = {"requests": 0}

    def wait(self):
        request = original(self)
        if request.type == trax.TraxStatus.QUIT and "sequence" in seen:
            _log_time(seen["sequence"], "end")
        if request.type not in (trax.TraxStatus.INITIALIZE, trax.TraxStatus.FRAME):
            return request
        seen["requests"] += 1
        sequence = seen.setdefault("sequence", _sequence(request))
        if seen["requests"] == 1:
            _log_time(sequence, "start")
            _hold(sequence)
            _hog(sequence)
        probe = os.environ.get("VOTS_TEST_PROBE")
        if probe and seen["requests"] == 1:
            Path(probe, f"{sequence}.txt").write_text(
                f"{os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')} {os.environ.get('OMP_NUM_THREADS', '<unset>')}\n"
            )
        if os.environ.get("VOTS_TEST_FAIL") == sequence:
            os._exit(3)
        kill = os.environ.get("VOTS_TEST_KILL")
        if kill:
            target, frame, marker = kill.split(":", 2)
            if target == sequence and seen["requests"] == int(frame) and not os.path.exists(marker):
                Path(marker).write_text("killed\n")
                os._exit(9)
        return request

    trax.Server.wait = wait


def _wait_orphaned(until, seconds: float) -> None:
    """Sleep until ``until()`` is true, ``seconds`` passed, or the parent process is gone (then exit)."""
    import time

    parent, deadline = os.getppid(), time.monotonic() + seconds
    while not until() and time.monotonic() < deadline:
        if os.getppid() != parent:
            os._exit(9)
        time.sleep(0.05)


def _log_time(sequence: str, what: str) -> None:
    import time

    path = os.environ.get("VOTS_TEST_TIMES")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{sequence} {what} {time.time():.3f} {os.getpid()}\n")


def _hold(sequence: str) -> None:
    folder = os.environ.get("VOTS_TEST_HOLD")
    if folder and not os.path.exists(os.path.join(folder, "release")):
        Path(folder, f"{sequence}-{os.getpid()}.held").write_text("")
        _wait_orphaned(lambda: os.path.exists(os.path.join(folder, "release")), 60)


def _hog(sequence: str) -> None:
    """Take memory, 128 MiB at a time, until Ray's view of the node passes its kill threshold (at most MIB)."""
    spec = os.environ.get("VOTS_TEST_HOG")
    if not spec:
        return
    target, mib, marker = spec.split(":", 2)
    if target != sequence or os.path.exists(marker):
        return
    from ray._common.utils import get_system_memory
    from ray._private.utils import get_used_memory

    goal = float(os.environ["RAY_memory_usage_threshold"]) * get_system_memory() + 256 * 1024 * 1024
    # The marker first: the memory monitor may kill this process before the loop ends, and the retried
    # task must then run without the hog (else every retry is killed the same way).
    Path(marker).write_text(f"{os.getpid()} 0 started\n")
    blocks = []
    while get_used_memory() < goal and len(blocks) * 128 < int(mib):
        block = bytearray(128 * 1024 * 1024)
        block[::4096] = b"\x01" * len(block[::4096])  # touch every page: resident, not just reserved
        blocks.append(block)
    Path(marker).write_text(f"{os.getpid()} {len(blocks) * 128} {'over' if get_used_memory() >= goal else 'short'}\n")
    _wait_orphaned(lambda: False, 30)
    del blocks


def die_once(payload):
    """A task function for ``run_tasks``: the Ray worker process dies on the first call (marker file), then succeeds."""
    marker, value = payload
    if not os.path.exists(marker):
        Path(marker).write_text("died\n")
        os._exit(9)
    return {"value": value}


def run_sequence_dying_mid_write(task):
    """``evaluate_tasks.run_sequence`` whose worker dies right after the toolkit wrote the first result file."""
    from vot.tracker import Trajectory

    from vots_tracker.evaluation.tasks import run_sequence

    original = Trajectory.write

    def write(self, results, name):
        original(self, results, name)
        os._exit(9)

    Trajectory.write = write
    return run_sequence(task)
