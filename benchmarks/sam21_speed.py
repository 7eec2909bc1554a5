"""SAM 2.1 vs HQ-SAM on CPU: image embedding and mask decoding per frame, 1/4/16 objects.

Pairs of similar size: SAM 2.1 Hiera-T vs HQ-SAM vit_tiny, SAM 2.1 Hiera-L vs HQ-SAM vit_l. Every
model has random weights in its official format (written to a temporary folder), loaded by the
tracker's own refiners; all see the same real frame (../shared/data judo frame 0, 854x480; a random
frame when absent) and the same coarse masks (a grid of rectangles). Per model: the embedding
(process CPU time and wall time, median of --repeats), then the refiner's decode for N objects
(K = all proposals; box prompt; thresholded masks at frame size) with one object per decoder call
(the CPU default) and with all objects in one call. Process CPU time is what counts on a shared
machine; wall time is printed too.

    .venv/bin/python benchmarks/sam21_speed.py [--pairs t l] [--objects 1 4 16] [--repeats 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from refine_speed import coarse_masks  # noqa: E402
from vots_tracker.refine.prompts import clip_box, mask_box  # noqa: E402
from vots_tracker.refine.refiners import make_refiner  # noqa: E402
from vots_tracker.refine.sam_specs import DEFAULT_CHECKPOINTS  # noqa: E402

PAIRS = {"t": ("sam2.1_hiera_t", "vit_tiny"), "l": ("sam2.1_hiera_l", "vit_l")}
FRAME = ROOT.parent / "shared" / "data" / "judo-objects-appear" / "images" / "00000.jpg"


def real_frame(path: Path) -> np.ndarray:
    import cv2

    if path.is_file():
        return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    print(f"(no {path}: a random 854x480 frame)")
    return np.random.default_rng(0).integers(0, 255, (480, 854, 3), dtype=np.uint8)


def timed(function, repeats: int):
    """Median (process CPU seconds, wall seconds) of `repeats` calls, and the last result."""
    cpu, wall, result = [], [], None
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        result = function()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall), result


def measure(size: str, folder: Path, frame: np.ndarray, objects, repeats: int):
    entry = DEFAULT_CHECKPOINTS[size]
    module = __import__(entry.writer.split(":")[0], fromlist=["x"])
    path = module.write_random_checkpoint(size, folder / entry.filename)
    refiner = make_refiner(size, path, torch.device("cpu"), proposals="all")
    height, width = frame.shape[:2]
    rows = []
    with torch.inference_mode():
        refiner.embed(frame)  # warm-up (allocations, lazy initialisation)
        cpu, wall, embedding = timed(lambda: refiner.embed(frame), repeats)
        rows.append((size, "embed", "-", cpu, wall))
        for count in objects:
            masks = coarse_masks(count, height, width, 0)
            boxes = np.stack([clip_box(mask_box(m), height, width) for m in masks.values()])
            for label, batch in (("per object", 1), ("one call", 1 << 20)):
                refiner.decode_batch = batch
                cpu, wall, _ = timed(lambda: refiner.propose(embedding, boxes), repeats)
                rows.append((size, f"decode {label}", count, cpu, wall))
    del refiner, embedding
    path.unlink()
    gc.collect()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=["t", "l"], choices=sorted(PAIRS))
    parser.add_argument("--objects", nargs="+", type=int, default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frame", type=Path, default=FRAME)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    frame = real_frame(args.frame)
    print(f"frame {frame.shape[1]}x{frame.shape[0]}, torch {torch.__version__}, {args.threads} threads, "
          f"median of {args.repeats}; times in seconds per frame (process CPU / wall)")
    print(f"{'model':16} {'stage':20} {'objects':>7} {'cpu s':>8} {'wall s':>8}")
    with tempfile.TemporaryDirectory(prefix="sam21-speed-") as tmp:
        for pair in args.pairs:
            for size in PAIRS[pair]:
                for model, stage, count, cpu, wall in measure(size, Path(tmp), frame, args.objects, args.repeats):
                    print(f"{model:16} {stage:20} {count!s:>7} {cpu:8.2f} {wall:8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
