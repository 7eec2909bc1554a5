"""Soak: resident memory and time per frame over long sequences must stay flat once the memory is full.

Runs the real TrackingSession over a long synthetic clip (objects bouncing around a
textured background, frames made on the fly), DMAOT-only and with refinement, each
phase in its own process so that one's memory does not count in the other's. At each
checkpoint frame it records RSS (and CUDA memory on a GPU); over each segment between
checkpoints, seconds per frame, wall and CPU (process CPU time: all threads). A phase
with only two checkpoints (refinement: 300, 1000) gets the midpoint of its last segment
as a third, so that two segments after the cap can be compared. Last it
prints the ratios last / at-cap: RSS at the last checkpoint over RSS at the first
(DMAOT's long-term memory is full by then: long_max * long_gap frames), and time per
frame in the last segment over the first segment after the cap. Goal: both <= 1.05.

    python benchmarks/soak.py --weights-dir W [--device cuda] [--size 240x320] \
        [--dmaot-frames 3000] [--refine-frames 1000] [--checkpoints 300,1000,2000,3000]

Presets default to the VOTS settings (``dmaot``, ``hqsam_gate``); with random-init
weights (``vots-tracker weights init-random W``) the numbers measure resources only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIB = 1024 * 1024


def bouncing_clip(frames: int, height: int, width: int, objects: int, seed: int = 0) -> Iterator[Tuple[np.ndarray, Dict[int, np.ndarray]]]:
    """(frame, {id: mask}) made one at a time: a long clip never sits in memory."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    size = max(4, min(height, width) // 6)
    start = rng.uniform(0, 1, (objects, 2)) * [height - size, width - size]
    velocity = rng.uniform(1, 3, (objects, 2))
    for t in range(frames):
        frame = background.copy()
        masks = {}
        for k in range(objects):
            y, x = (_bounce(start[k, i] + velocity[k, i] * t, limit) for i, limit in enumerate((height - size, width - size)))
            mask = np.zeros((height, width), dtype=bool)
            mask[y:y + size, x:x + size] = True
            frame[mask] = ((97 * (k + 1)) % 255, (53 * (k + 2)) % 255, (151 * (k + 3)) % 255)
            masks[k + 1] = mask
        yield frame, masks


def _bounce(position: float, limit: int) -> int:
    period = 2 * max(limit, 1)
    p = position % period
    return int(p if p <= limit else period - p)


def run_phase(args, preset: str, frames: int) -> None:
    """One phase in this process: print a table row per checkpoint, then the ratios."""
    import psutil
    import torch

    from vots_tracker.config import make_config
    from vots_tracker.server.session import Tracker

    height, width = (int(v) for v in args.size.split("x"))
    config = make_config(preset, weights_dir=args.weights_dir, device=args.device, threads=args.threads,
                         log_level="WARNING")
    tracker = Tracker.from_config(config)
    checkpoints = phase_checkpoints(args.checkpoints, frames)
    cap = config.long_max * config.long_gap
    print(f"phase {preset}: model {config.model}, sam {config.sam}, {frames} frames {width}x{height}, "
          f"{args.objects} objects, device {tracker.device}; long-term memory full by frame ~{cap}")
    if cap > checkpoints[0]:
        print(f"  note: the first checkpoint ({checkpoints[0]}) comes before the memory is full")
    print(f"  {'frames':>11} {'RSS MiB':>9} {'CUDA MiB':>9} {'wall s/frame':>13} {'cpu s/frame':>12}")
    process = psutil.Process()
    rows: List[Tuple[int, float, float, float]] = []
    session = tracker.new_session()
    segment_start, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    try:
        for t, (frame, masks) in enumerate(bouncing_clip(frames, height, width, args.objects)):
            session.step(frame, masks if t == 0 else None)
            number = t + 1
            if number not in checkpoints:
                continue
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            count = number - segment_start
            rss = process.memory_info().rss / MIB
            cuda = torch.cuda.memory_allocated() / MIB if torch.cuda.is_available() else 0.0
            rows.append((number, rss, wall / count, cpu / count))
            print(f"  {segment_start + 1:>5}-{number:<5} {rss:9.1f} {cuda:9.1f} {wall / count:13.4f} {cpu / count:12.4f}",
                  flush=True)
            segment_start, wall0, cpu0 = number, time.perf_counter(), time.process_time()
    finally:
        session.close()
    print_ratios(rows)


def phase_checkpoints(requested: List[int], frames: int) -> List[int]:
    """The requested checkpoints before ``frames``, and ``frames``; with only two, the midpoint of the
    last segment is added so that two segments after the cap can be compared."""
    points = [c for c in requested if c < frames] + [frames]
    if len(points) == 2:
        points.insert(1, (points[0] + points[1]) // 2)
    return points


def print_ratios(rows: List[Tuple[int, float, float, float]]) -> None:
    if len(rows) < 2:
        print("  ratios: need at least two checkpoints")
        return
    first, last = rows[0], rows[-1]
    at_cap = rows[1]  # the first segment that starts with the memory full
    print(f"  ratio last/at-cap: RSS {last[1] / first[1]:.3f} (frame {last[0]} vs {first[0]}), "
          f"wall {last[2] / at_cap[2]:.3f}, cpu {last[3] / at_cap[3]:.3f} "
          f"(segment ending {last[0]} vs ending {at_cap[0]})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights-dir", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", default="240x320", help="HxW")
    parser.add_argument("--objects", type=int, default=3)
    parser.add_argument("--dmaot-preset", default="dmaot")
    parser.add_argument("--refine-preset", default="hqsam_gate")
    parser.add_argument("--dmaot-frames", type=int, default=3000)
    parser.add_argument("--refine-frames", type=int, default=1000)
    parser.add_argument("--checkpoints", default="300,1000,2000,3000",
                        type=lambda text: sorted(int(v) for v in text.split(",")))
    parser.add_argument("--phase", choices=("both", "dmaot", "refine"), default="both",
                        help="both: each phase in a fresh process (the default)")
    args = parser.parse_args()
    if args.phase == "dmaot":
        run_phase(args, args.dmaot_preset, args.dmaot_frames)
        return 0
    if args.phase == "refine":
        run_phase(args, args.refine_preset, args.refine_frames)
        return 0
    status = 0
    for phase in ("dmaot", "refine"):
        argv = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--phase", phase]
        status |= subprocess.run(argv).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
