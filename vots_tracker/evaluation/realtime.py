"""Realtime experiments (``realtime:`` in a stack, e.g. ``vots2025/realtime``) on vot-toolkit 0.9.0.

The toolkit wraps a tracker's runtime in ``RealtimeTrackerRuntime`` for such an experiment:
its ``initialize``/``update`` simulate a camera at the sequence's frame rate (after a slow
answer, the frames that went by meanwhile are skipped: they repeat the last answer, with
time 0). But it derives from ``TrackerRuntime``, not ``OnlineTrackerRuntime``, so it lacks the
``run()`` that the unsupervised experiment calls, and ``vot evaluate`` ends with
"TrackerRuntime.run() is not implemented". :func:`runnable` gives the experiment's realtime
runtime the toolkit's own ``OnlineTrackerRuntime.run`` (the loop over ``initialize`` and
``update``), unchanged, where the runtime has no ``run`` of its own; nothing of the toolkit
is copied or patched.

The realtime runtime asserts that no object is added after the first frame (a frame may be
skipped). :func:`problems` names such objects so that they are refused before anything runs.
"""

from __future__ import annotations

import copy
from typing import List

from ..errors import UserError

_RUNNABLE = {}


def _runnable_class():
    """``RealtimeTrackerRuntime`` with the toolkit's online ``run`` (built once, on first use)."""
    if not _RUNNABLE:
        from vot.tracker import OnlineTrackerRuntime, RealtimeTrackerRuntime

        # The toolkit's own function: it drives self.initialize/self.update, here the realtime ones.
        _RUNNABLE["class"] = type("RunnableRealtimeRuntime", (RealtimeTrackerRuntime,),
                                  {"run": OnlineTrackerRuntime.run, "__module__": __name__})
    return _RUNNABLE["class"]


def _lacks_run(runtime) -> bool:
    from vot.tracker import RealtimeTrackerRuntime, TrackerRuntime

    return isinstance(runtime, RealtimeTrackerRuntime) and type(runtime).run is TrackerRuntime.run


def runnable(experiment):
    """``experiment``, or for a realtime one a copy whose runtime can ``run()`` (the original is left as it is)."""
    if getattr(experiment, "realtime", None) is None:
        return experiment
    make_runtime = experiment._get_runtime  # the toolkit's: tracker runtime wrapped in RealtimeTrackerRuntime

    def get_runtime(tracker, sequence, multiobject=False):
        runtime = make_runtime(tracker, sequence, multiobject)
        if _lacks_run(runtime):
            runtime.__class__ = _runnable_class()  # same object and state, one method more
        return runtime

    proxy = copy.copy(experiment)
    object.__setattr__(proxy, "_get_runtime", get_runtime)
    return proxy


def problems(experiment, sequence) -> List[str]:
    """For a realtime experiment: one line per object of ``sequence`` that appears after its first frame."""
    if getattr(experiment, "realtime", None) is None:
        return []
    from vot.experiment.helpers import MultiObjectHelper

    helper = MultiObjectHelper(sequence)
    first = set(helper.new(0))
    late = [o for o in helper.all() if o not in first]
    lines = []
    for oid in late:
        frame = next(i for i in range(len(sequence)) if oid in helper.new(i))
        lines.append(f"realtime experiment {experiment.identifier!r}, sequence {sequence.name!r}: object {oid} "
                     f"first appears on frame {frame + 1} of {len(sequence)}")
    return lines


def refuse(found: List[str]) -> None:
    """One line (UserError) naming the sequences and objects a realtime experiment cannot take, if any."""
    if not found:
        return
    shown = "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
    raise UserError(f"{shown}: the toolkit's realtime runtime takes objects on the first frame "
                    "only (evaluate these sequences with a stack without `realtime:`)")
