"""`vots-tracker evaluate` on a stack with a `realtime:` experiment, which vot-toolkit 0.9.0 cannot run by itself.

The stack mirrors vots2025/realtime (a baseline and a realtime experiment, unsupervised,
multi-object) with the offline stack's Quality analysis. The tracker is the model-free slow
tracker (tests/e2e/vots_slow_tracker.py): it sleeps on every request, longer than a frame
lasts at the sequence's 30 fps, so the toolkit's realtime runtime skips frames; its answers
name the request they came from, so the stored results show which frames reached it.
The check replays the toolkit's documented rule (RealtimeTrackerRuntime: after an answer
that took t > 1/fps, once the grace answers are used up, frames are skipped while the
remaining lateness exceeds 1/fps, and a skipped frame repeats the last answer with time 0)
on the times the toolkit itself stored.
"""

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import vots_tracker.workspace.folder as wsmod
from vots_tracker.errors import UserError
from vots_tracker.workspace.synthetic_sequences import generate_sequence

E2E_DIR = Path(__file__).resolve().parent
FRAMES = 12
SIZE = 64
FPS = 30  # the synthetic sequences' metadata: the realtime interval is 1/30 s
GRACE = 1
SLEEP = 0.1  # three frames' time per answer: about two frames skipped after each

STACK = f"""title: realtime test stack (like vots2025/realtime, scored offline)
experiments:
  baseline:
    type: unsupervised
    repetitions: 1
    multiobject: True
    analyses:
      - type: average_accuracy
        name: Quality
        burnin: 0
        ignore_unknown: False
        weighted: False
  realtime:
    type: unsupervised
    repetitions: 1
    multiobject: True
    realtime:
      grace: {GRACE}
    analyses:
      - type: average_accuracy
        name: Quality
        burnin: 0
        ignore_unknown: False
        weighted: False
"""

SLOW_ENTRY = f"""
[slow]
label = slow test tracker
protocol = traxpython
python = {sys.executable}
command = vots_slow_tracker
paths = {E2E_DIR}
timeout = 60
env_VOTS_TEST_SLEEP = {SLEEP}
"""

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one Ray cluster at a time under xdist


def realtime_workspace(folder: Path, weights: Path, late_object: bool) -> Path:
    """A synthetic workspace on the realtime stack; every object starts on frame 1 unless ``late_object``."""
    ws = wsmod.init_workspace(folder, synthetic=1, frames=FRAMES, size=(SIZE, SIZE), objects=2, weights_dir=weights)
    (ws / "stacks" / "realtime_test.yaml").write_text(STACK, encoding="utf-8")
    config = (ws / "config.yaml").read_text(encoding="utf-8")
    (ws / "config.yaml").write_text(re.sub(r"^stack: .*$", "stack: stacks/realtime_test.yaml", config, flags=re.M))
    with open(ws / "trackers.ini", "a", encoding="utf-8") as handle:
        handle.write(SLOW_ENTRY)
    if not late_object:  # the generator always adds a late object: replace its sequence by one without
        shutil.rmtree(ws / "sequences" / "synthetic-01")
        generate_sequence(ws / "sequences" / "rt-01", FRAMES, (SIZE, SIZE), objects=2, late_objects=0)
        (ws / "sequences" / "list.txt").write_text("rt-01\n", encoding="utf-8")
    return ws


def stored(ws: Path, experiment: str):
    """Per object: (regions as (row, column) pixel lists, times) the toolkit stored for rt-01."""
    from vot.region.io import read_trajectory
    from vot.region.shapes import Mask

    folder = ws / "results" / "slow" / experiment / "rt-01"
    out = []
    for oid in ("001", "002"):
        regions = read_trajectory(str(folder / f"rt-01_{oid}_001.bin"))
        pixels = [tuple(map(tuple, np.argwhere(r.rasterize((0, 0, SIZE - 1, SIZE - 1))))) if isinstance(r, Mask)
                  else None for r in regions]
        times = [float(line) for line in (folder / f"rt-01_{oid}_001_time.value").read_text().split()]
        out.append((pixels, times))
    return out


def expected_skips(times, interval: float, grace: int):
    """The frames the toolkit's realtime rule skips, replayed on the stored per-frame times."""
    countdown, late, skipped = grace, 0.0, []

    def answered(took: float):
        nonlocal countdown
        if took <= interval:
            return 0.0
        if countdown > 0:
            countdown -= 1
            return 0.0
        return took - interval

    late = answered(times[0])
    for frame in range(1, len(times)):
        if late > interval:
            late -= interval
            skipped.append(frame)
            continue
        late = answered(times[frame])
    return skipped


def test_realtime_stack_skips_frames_as_the_toolkit_specifies(tmp_path, smoke_weights, capsys):
    from vots_tracker.evaluation.evaluate import run_evaluate

    ws = realtime_workspace(tmp_path / "ws", smoke_weights, late_object=False)
    rc = run_evaluate(ws, ["slow"], echo=False, workers=1, cpus_per_task=1, gpus_per_task=0)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "evaluate slow: ok, results complete" in out
    # `vot analysis` read both experiments' results
    assert re.search(r"^Q slow: [0-9.]+$", out, re.M) and re.search(r"^Q slow \(realtime\): [0-9.]+$", out, re.M), out
    assert re.search(r"^pack slow: .+\.zip$", out, re.M), out

    for j, (pixels, times) in enumerate(stored(ws, "baseline")):  # offline: every frame reaches the tracker
        assert [p[0] for p in pixels[1:]] == [(2 * j, 2 * k) for k in range(1, FRAMES)] and min(times[1:]) >= SLEEP

    realtime = stored(ws, "realtime")
    skipped = expected_skips(realtime[0][1], 1.0 / FPS, GRACE)
    assert len(skipped) >= FRAMES // 3, realtime[0][1]  # the tracker was late: frames went by unseen
    for j, (pixels, times) in enumerate(realtime):
        assert times == realtime[0][1]  # one time per frame, for every object
        requests = 0
        for frame in range(1, FRAMES):
            if frame in skipped:  # the last answer again, with time 0
                assert times[frame] == 0 and pixels[frame] == pixels[frame - 1], (frame, pixels, times)
            else:  # the next request reached the tracker
                requests += 1
                assert times[frame] >= SLEEP and pixels[frame][0] == (2 * j, 2 * requests), (frame, pixels, times)
        assert requests == FRAMES - 1 - len(skipped)


def test_an_object_after_the_first_frame_is_refused_before_anything_runs(tmp_path, smoke_weights):
    from vots_tracker.evaluation.evaluate import run_evaluate

    ws = realtime_workspace(tmp_path / "ws", smoke_weights, late_object=True)
    with pytest.raises(UserError) as refused:
        run_evaluate(ws, ["slow"], echo=False, workers=1, cpus_per_task=1, gpus_per_task=0)
    message = str(refused.value)
    assert "\n" not in message
    assert re.search(r"realtime experiment 'realtime', sequence 'synthetic-01': object 002 first appears on "
                     rf"frame {FRAMES // 3 + 1} of {FRAMES}", message), message
    assert not (ws / "results").exists() or not any((ws / "results").rglob("*"))


def test_runnable_gives_the_realtime_runtime_the_toolkits_online_run(tmp_path, smoke_weights):
    from vot.tracker import OnlineTrackerRuntime, RealtimeTrackerRuntime

    from vots_tracker.evaluation import outputs, realtime, toolkit

    ws = toolkit.load_workspace(realtime_workspace(tmp_path / "ws", smoke_weights, late_object=False))
    baseline, live = ws.stack.experiments["baseline"], ws.stack.experiments["realtime"]
    assert realtime.runnable(baseline) is baseline
    tracker = outputs.resolve_tracker(ws, "slow")
    sequence = ws.dataset["rt-01"]
    assert type(live._get_runtime(tracker, sequence, True)).run is not OnlineTrackerRuntime.run  # the toolkit's gap
    runtime = realtime.runnable(live)._get_runtime(tracker, sequence, True)
    assert isinstance(runtime, RealtimeTrackerRuntime) and type(runtime).run is OnlineTrackerRuntime.run
    assert runtime._interval == pytest.approx(1.0 / FPS) and runtime._grace == GRACE
    assert type(live._get_runtime(tracker, sequence, True)) is RealtimeTrackerRuntime  # the original is untouched
