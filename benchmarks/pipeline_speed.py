"""Full-pipeline frame time with and without the overlapped HQ-SAM embedding.

Runs the real session (DMAOT + HQ-SAM + gate) on the same frames twice in one
process, once with the embedding computed in a worker thread while DMAOT
propagates and once sequentially, and prints median per-frame times plus the
stage times (propagation alone, embedding alone, decoding + gate).

    python benchmarks/pipeline_speed.py --weights-dir W --preset hqsam_gate_smoke \
        --frames 12 --objects 4 --size 480x854 [--device cuda]

With random-init weights (``vots-tracker weights init-random W``) the numbers
measure speed only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from synthetic import moving_blobs  # noqa: E402
from vots_tracker.config import make_config  # noqa: E402
from vots_tracker.server.session import Tracker  # noqa: E402


def run(tracker: Tracker, clip, parallel: bool, warmup: int = 1):
    tracker.config.parallel_embedding = parallel
    session = tracker.new_session()
    totals, cpu, propagate, wait, refine = [], [], [], [], []
    try:
        for t, (frame, masks) in enumerate(clip):
            cpu_before = time.process_time()  # all threads of the process
            session.step(frame, masks if t == 0 else None)
            if t > warmup:
                timing = session.timing
                cpu.append(time.process_time() - cpu_before)
                totals.append(timing.total)
                propagate.append(timing.propagate)
                wait.append(timing.embed_wait)
                refine.append(timing.refine)
    finally:
        session.close()
    return {
        "frame": statistics.median(totals),
        "cpu": statistics.median(cpu),
        "propagate": statistics.median(propagate),
        "embed_wait": statistics.median(wait),
        "decode_gate": statistics.median(refine),
    }


def _median_of(results):
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights-dir", required=True)
    parser.add_argument("--preset", default="hqsam_gate_smoke")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--objects", type=int, default=4)
    parser.add_argument("--size", default="480x854", help="HxW")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-edge", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved repetitions (medians across rounds)")
    args = parser.parse_args()

    import torch

    height, width = (int(v) for v in args.size.split("x"))
    overrides = dict(weights_dir=args.weights_dir, device=args.device, threads=args.threads, log_level="WARNING")
    if args.max_edge is not None:
        overrides["max_edge"] = args.max_edge
    config = make_config(args.preset, **overrides)
    tracker = Tracker.from_config(config)
    clip = moving_blobs(args.frames, height, width, objects=args.objects)

    # The embedding alone, on the same device, for the overlap bound.
    embed_times = []
    for frame, _ in clip[:4]:
        started = time.perf_counter()
        with torch.inference_mode():
            tracker.refiner.embed(frame)
        if tracker.device.type == "cuda":
            torch.cuda.synchronize()
        embed_times.append(time.perf_counter() - started)
    embed = statistics.median(embed_times[1:])

    # Rounds alternate the order (S O, O S, ...) so that both modes see the same machine load.
    rounds = {"sequential": [], "overlapped": []}
    for index in range(args.rounds):
        for name in (("sequential", "overlapped") if index % 2 == 0 else ("overlapped", "sequential")):
            rounds[name].append(run(tracker, clip, parallel=name == "overlapped"))
    sequential, overlapped = (_median_of(rounds[name]) for name in ("sequential", "overlapped"))
    device = torch.cuda.get_device_name() if tracker.device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"preset {args.preset}, {args.objects} objects, {height}x{width}, {args.frames} frames, {device}")
    print(f"HQ-SAM embedding alone: {embed:.3f} s")
    for name, result in (("sequential", sequential), ("overlapped", overlapped)):
        print(
            f"{name:>10}: frame {result['frame']:.3f} s, CPU {result['cpu']:.3f} s (propagate {result['propagate']:.3f}, "
            f"embedding wait {result['embed_wait']:.3f}, decode+gate {result['decode_gate']:.3f})"
        )
    bound = max(sequential["propagate"], embed) + sequential["decode_gate"]
    print(f"overlapped / sequential frame time: {overlapped['frame'] / sequential['frame']:.3f}, "
          f"CPU time: {overlapped['cpu'] / sequential['cpu']:.3f}")
    if args.rounds > 1:
        ratios = [o["frame"] / s["frame"] for s, o in zip(rounds["sequential"], rounds["overlapped"])]
        print("per-round overlapped / sequential frame time: " + ", ".join(f"{r:.3f}" for r in ratios))
    print(f"overlapped / (max(propagate, embed) + decode): {overlapped['frame'] / bound:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
