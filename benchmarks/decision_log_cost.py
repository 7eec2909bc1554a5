"""What keeping the gate's decisions costs per frame, against the frame itself.

Runs the real session (DMAOT + HQ-SAM + gate) with its decision file on, and times the
decision line of every frame (building the record: pixel counts and CRC-32 of every final
mask, JSON, write, flush) inside the frame it belongs to: wall and CPU time of that line
against the frame's wall time and the process's CPU time for the frame. Then the line alone
for frames the CPU cannot track quickly (default: 1080p with 44 objects), in absolute terms.

    python benchmarks/decision_log_cost.py --weights-dir W [--preset hqsam_gate_smoke] \
        [--frames 12 --objects 4 --size 480x854 --max-edge 1040] [--big 1080x1920x44]

With random-init weights (``vots-tracker weights init-random W deaott vit_tiny``) the
numbers measure speed only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from synthetic import moving_blobs  # noqa: E402
from vots_tracker.config import make_config  # noqa: E402
from vots_tracker.server.decision_log import DecisionLog, frame_record, header  # noqa: E402
from vots_tracker.server.session import Tracker  # noqa: E402


def tracked(args, folder: Path):
    """(per-frame wall, per-frame process CPU, per-frame line wall, per-frame line CPU), frames after warm-up."""
    height, width = (int(v) for v in args.size.split("x"))
    config = make_config(args.preset, weights_dir=args.weights_dir, threads=args.threads, log_level="WARNING",
                         max_edge=args.max_edge)
    tracker = Tracker.from_config(config)
    session = tracker.new_session()
    session.keep_decisions(folder / "seq.jsonl", "bench", "seq")
    line_wall, line_cpu = [], []
    write = session._write_decisions

    def timed(*a, **k):  # the whole line: record (areas, CRCs), JSON, write, flush
        w0, c0 = time.perf_counter(), time.thread_time()
        write(*a, **k)
        line_wall.append(time.perf_counter() - w0)
        line_cpu.append(time.thread_time() - c0)

    session._write_decisions = timed
    frame_wall, frame_cpu = [], []
    try:
        for t, (frame, masks) in enumerate(moving_blobs(args.frames, height, width, objects=args.objects)):
            c0 = time.process_time()
            session.step(frame, masks if t == 0 else None)
            frame_cpu.append(time.process_time() - c0)
            frame_wall.append(session.timing.total)
    finally:
        session.close()
    skip = 2  # the first frame (no tracking) and one warm-up frame
    return frame_wall[skip:], frame_cpu[skip:], line_wall[skip:], line_cpu[skip:]


def line_alone(height: int, width: int, objects: int, repeats: int, folder: Path):
    """(wall, CPU) median seconds of one decision line for ``objects`` masks of ``height`` x ``width``."""
    rng = np.random.default_rng(0)
    final = {}
    for n in range(1, objects + 1):
        mask = np.zeros((height, width), bool)
        y, x = rng.integers(0, height - 60), rng.integers(0, width - 80)
        mask[y:y + 60, x:x + 80] = True
        final[n] = mask
    reports = {n: type("R", (), dict(accepted=n % 2 == 0, iou=0.7, proposal="hq", redetected=False))()
               for n in final}
    log = DecisionLog(folder / "big.jsonl", header("bench", "big", 0.59, "exact", "all"))
    walls, cpus = [], []
    for frame in range(repeats):
        w0, c0 = time.perf_counter(), time.thread_time()
        log.write(frame_record(frame, list(final), final, reports, list(final), ()))
        walls.append(time.perf_counter() - w0)
        cpus.append(time.thread_time() - c0)
    log.close()
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights-dir", required=True)
    parser.add_argument("--preset", default="hqsam_gate_smoke")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--objects", type=int, default=4)
    parser.add_argument("--size", default="480x854", help="HxW")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-edge", type=int, default=1040)
    parser.add_argument("--big", default="1080x1920x44", help="HxWxOBJECTS for the line alone")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        frame_wall, frame_cpu, line_wall, line_cpu = tracked(args, Path(tmp))
        big_h, big_w, big_n = (int(v) for v in args.big.split("x"))
        big_wall, big_cpu = line_alone(big_h, big_w, big_n, 20, Path(tmp))
        size = (Path(tmp) / "seq.jsonl").stat().st_size
    fw, fc, lw, lc = (statistics.median(v) for v in (frame_wall, frame_cpu, line_wall, line_cpu))
    print(f"preset {args.preset}, {args.objects} objects, {args.size}, max edge {args.max_edge}, "
          f"{args.threads} threads, {len(frame_wall)} frames measured")
    print(f"frame: wall {fw:.3f} s, process CPU {fc:.3f} s (median)")
    print(f"decision line: wall {lw * 1e3:.3f} ms, CPU {lc * 1e3:.3f} ms (median)")
    print(f"line / frame: wall {lw / fw:.5%}, CPU {lc / fc:.5%}; worst frame wall "
          f"{max(l / f for l, f in zip(line_wall, frame_wall)):.5%}")
    print(f"file: {size} bytes for {args.frames} frames ({size / args.frames:.0f} bytes per frame)")
    print(f"line alone, {big_n} objects at {big_h}x{big_w}: wall {big_wall * 1e3:.2f} ms, CPU {big_cpu * 1e3:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
