"""Per-frame CPU time of our DMAOT engine against the reference (deaotpy) engine.

Same random weights (reference network saved in the official format, loaded by our loader),
same frames and masks, same thread count; VOTS engine settings. Prints the median per-frame
time of frames 2..N for each engine and the speed-up.

    .venv/bin/python benchmarks/dmaot_speed.py [--models deaott swinb_dm_deaotl] [--frames 12]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dmaot.clips import moving_discs  # noqa: E402
from tests.dmaot.reference import ReferenceRunner, build_reference_model, save_official  # noqa: E402
from vots_tracker.dmaot import EngineConfig, Propagator, build_model, load_checkpoint  # noqa: E402


def bench(name: str, frames: int, height: int, width: int, objects: int) -> None:
    config = EngineConfig()  # VOTS: long_max 10, long_gap 30, short_gap 2, max_edge 1040
    clip = moving_discs(frames, height, width, objects=objects, seed=0)
    cfg, reference_model = build_reference_model(name, seed=0, long_max=config.long_max)
    with tempfile.TemporaryDirectory() as tmp:
        model = load_checkpoint(build_model(name), save_official(reference_model, Path(tmp) / "w.pth"), "cpu")
    reference = ReferenceRunner(cfg, reference_model, config.long_gap, config.short_gap, config.max_edge)
    ours = Propagator(model, config, "cpu")
    first, labels = clip[0]
    reference.start(first, labels)
    ours.add_objects({k: labels == k for k in range(1, objects + 1)}, first)
    times = {"reference": [], "ours": []}
    for frame, _ in clip[1:]:
        started = time.perf_counter()
        logits = reference.propagate(frame)
        reference.update_memory(logits.argmax(1)[0].numpy())
        times["reference"].append(time.perf_counter() - started)
        started = time.perf_counter()
        ours.propagate(frame)
        ours.update_memory()
        times["ours"].append(time.perf_counter() - started)
    ref = statistics.median(times["reference"][1:])
    own = statistics.median(times["ours"][1:])
    print(f"{name}: {height}x{width}, {objects} objects, median of {len(times['ours']) - 1} frames: "
          f"reference {ref:.3f} s/frame, ours {own:.3f} s/frame, speed-up {ref / own:.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["deaott", "swinb_dm_deaotl"])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", type=int, nargs=2, default=(480, 854))
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}", flush=True)
    for name in args.models:
        bench(name, args.frames, *args.size, args.objects)


if __name__ == "__main__":
    main()
