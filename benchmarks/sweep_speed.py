"""`vots-tracker sweep` against ordinary evaluations: wall-time ratios measured in one run.

On the same workspace and sequences, one after the other:
  1. one ordinary evaluation: `vot evaluate --force BASE` (one TraX process per sequence);
  2. the sweep's tracking pass over every setting (default: 11 taus, 0.50:0.70:0.02),
     writing all derived trackers' results (the analysis is timed separately);
  3. the separate evaluations: `vot evaluate --force` of every derived tracker,
     which also checks that their `*.bin` files equal what the sweep wrote.
Prints each wall time and the ratios sweep / one evaluation (goal: <= 1.3) and
separate evaluations / sweep.

    python benchmarks/sweep_speed.py --synthetic 2 --frames 12 --size 320x240   # random-init smoke models
    python benchmarks/sweep_speed.py --workspace WS --tracker hqsam_gate_light  # an existing workspace

With random-init weights the figures measure speed only. ``--separate K`` runs only the
first K derived evaluations and scales their time to all settings (marked as estimated).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vots_tracker.evaluation import outputs, toolkit  # noqa: E402
from vots_tracker.workspace import folder as wsmod  # noqa: E402
from vots_tracker.evaluation.sweep.cli import base_config  # noqa: E402
from vots_tracker.evaluation.sweep.report import analyse  # noqa: E402
from vots_tracker.evaluation.sweep.runner import SequenceSweeper, run_tasks  # noqa: E402
from vots_tracker.evaluation.sweep.settings import register_derived, settings_from  # noqa: E402


def evaluate(ws: Path, trackers, log_name: str) -> float:
    started = time.monotonic()
    toolkit.run_vot(["evaluate", "--workspace", str(ws), "--force", *trackers], ws, log_name)
    for tracker in trackers:
        problems = outputs.check_results(ws, tracker)
        if problems:
            raise SystemExit(f"{tracker}: incomplete results: {problems[:3]}")
    return time.monotonic() - started


def bins(ws: Path, tracker: str):
    folder = ws / "results" / tracker
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*.bin")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", help="existing workspace (default: a new synthetic one in a temp folder)")
    parser.add_argument("--tracker", default="hqsam_gate_smoke")
    parser.add_argument("--tau", default="0.50:0.70:0.02", help="SPEC [0.50:0.70:0.02, 11 settings]")
    parser.add_argument("--synthetic", type=int, default=2, help="sequences of the new workspace [2]")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--objects", type=int, default=3)
    parser.add_argument("--separate", type=int, default=0, help="derived evaluations to run (0: all)")
    args = parser.parse_args()

    temporary = None
    if args.workspace:
        ws = Path(args.workspace).resolve()
    else:
        temporary = tempfile.TemporaryDirectory(prefix="sweep-speed-")
        ws = wsmod.init_workspace(Path(temporary.name) / "ws", synthetic=args.synthetic, frames=args.frames,
                                  size=wsmod._parse_size(args.size), objects=args.objects)
    toolkit.set_numba_cache(ws)
    settings = settings_from(args.tau, None)
    base, config = base_config(ws, args.tracker)
    names = register_derived(ws / "trackers.ini", base, settings)

    one = evaluate(ws, [args.tracker], "bench-one")
    started = time.monotonic()
    sweeper = SequenceSweeper(ws, args.tracker, settings, config, ws / "sweeps" / args.tracker)
    run_tasks(sweeper, sweeper.tasks(), force=True)
    sweep = time.monotonic() - started
    started = time.monotonic()
    analyse(ws, names, f"bench-{int(time.time())}")
    analysis = time.monotonic() - started
    swept = {name: bins(ws, name) for name in names}

    chosen = names[: args.separate] if args.separate else names
    separate = evaluate(ws, chosen, "bench-separate")
    identical = all(bins(ws, name) == swept[name] for name in chosen)
    estimated = separate * len(names) / len(chosen)

    print(f"workspace: {ws} ({len(sweeper.tasks())} sequences), tracker {args.tracker}, {len(names)} settings")
    print(f"one evaluation:             {one:9.1f} s")
    print(f"sweep (tracking + results): {sweep:9.1f} s   analysis of all settings: {analysis:.1f} s")
    print(f"{len(chosen)} separate evaluations:  {separate:9.1f} s" +
          (f"   (all {len(names)}, estimated: {estimated:.1f} s)" if len(chosen) < len(names) else ""))
    print(f"ratio sweep / one evaluation:          {sweep / one:.2f}  (goal <= 1.3)")
    print(f"ratio {len(names)} evaluations / sweep:{'':10}{estimated / sweep:.2f}" +
          (" (estimated)" if len(chosen) < len(names) else ""))
    print(f"derived *.bin identical to the sweep's: {'yes' if identical else 'NO'}")
    if temporary is not None:
        temporary.cleanup()
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
