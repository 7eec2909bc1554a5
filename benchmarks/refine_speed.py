"""Refinement time per frame for 1, 4 and 16 objects: batched refiner vs the original per-object loop.

Both paths use the same HQ-SAM (random weights, official format), the same frames and the same
coarse masks, in one process:

* ours: `HQSamRefiner.embed` once, then `RefinementSession.refine`: the mask decoder for all
  objects (K = 4 proposals) with the default `decode_batch` (auto: one object per call on a
  CPU) and with every object in one call, then the gate and overlap resolution;
* original: `SamPredictor.set_image` once, then one `predict(box=..., multimask_output=True)`
  call per object and the IoU gate per object, as the research scripts did (K = 1).

Prints median per-frame times (embedding measured once and added to decode + gate for ours)
and the ratio 16 objects / 1 object (goal: <= 1.5).

    .venv/bin/python benchmarks/refine_speed.py [--size vit_tiny] [--objects 1 4 16] [--frames 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vots_tracker.refine.gate import mask_iou  # noqa: E402
from vots_tracker.refine.hqsam import HQSamRefiner, write_random_checkpoint  # noqa: E402
from vots_tracker.refine.prompts import mask_box_inclusive  # noqa: E402
from vots_tracker.refine.stage import RefineOptions, RefinementSession  # noqa: E402


def coarse_masks(objects: int, height: int, width: int, shift: int):
    """`objects` disjoint rectangles on a grid, moved by `shift` pixels."""
    columns = int(np.ceil(np.sqrt(objects)))
    rows = int(np.ceil(objects / columns))
    cell_h, cell_w = height // rows, width // columns
    masks = {}
    for k in range(objects):
        r, c = divmod(k, columns)
        mask = np.zeros((height, width), bool)
        y0, x0 = r * cell_h + cell_h // 4, c * cell_w + cell_w // 4 + shift
        mask[y0:y0 + cell_h // 2, x0:x0 + cell_w // 2] = True
        masks[k + 1] = mask
    return masks


def frames(count: int, height: int, width: int):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def original_loop(predictor, frame, coarse, tau):
    """The research scripts: one predict call per object, one candidate, the IoU gate."""
    predictor.set_image(frame)
    out = {}
    for object_id, mask in coarse.items():
        box = mask_box_inclusive(mask)  # the scripts' box: first to last mask pixel
        masks, _, _ = predictor.predict(box=box, multimask_output=True)
        candidate = masks[0]
        iou = float(mask_iou(candidate[None, None], mask[None])[0, 0])
        out[object_id] = candidate if iou > tau else mask
    return out


def median_times(fn, clip, masks_for):
    totals = []
    for index, frame in enumerate(clip):
        started = time.perf_counter()
        fn(frame, masks_for(index))
        totals.append(time.perf_counter() - started)
    return statistics.median(totals[1:])  # the first frame warms up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="vit_tiny")
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from segment_anything_hq import SamPredictor

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = write_random_checkpoint(args.size, Path(tmp) / f"sam_hq_{args.size}.pth")
        refiner = HQSamRefiner(args.size, checkpoint, torch.device("cpu"), proposals="all")
        # The same weights with every object in one decoder call (a batch limit above any count).
        one_call = HQSamRefiner(args.size, checkpoint, torch.device("cpu"), proposals="all", decode_batch=1 << 20)
    predictor = SamPredictor(refiner.model)
    sessions = {
        f"ours, decode_batch auto ({refiner.decode_batch} per call)": RefinementSession(refiner, RefineOptions(tau=0.59)),
        "ours, one decoder call": RefinementSession(one_call, RefineOptions(tau=0.59)),
    }
    clip = frames(args.frames, args.height, args.width)
    print(f"HQ-SAM {args.size} (random weights), {args.height}x{args.width}, K=4 proposals (original: K=1), "
          f"median of {args.frames - 1} frames, CPU {torch.get_num_threads()} threads, torch {torch.__version__}",
          flush=True)

    with torch.inference_mode():
        # The embedding alone: every path pays it once per frame.
        embed = median_times(lambda frame, _: refiner.embed(frame), clip, lambda i: None)
        print(f"embedding alone: {embed:.3f} s/frame", flush=True)
        embeddings = [refiner.embed(frame) for frame in clip]
        results = {name: {} for name in [*sessions, "original loop"]}
        for count in args.objects:
            masks_for = lambda i, count=count: coarse_masks(count, args.height, args.width, 3 * i)  # noqa: E731
            for name, session in sessions.items():
                decode = median_times(lambda emb, coarse: session.refine(emb, coarse), embeddings, masks_for)
                results[name][count] = embed + decode
                print(f"{count:3d} objects, {name}: decode+gate {decode:.3f} s, frame {embed + decode:.3f} s",
                      flush=True)
            original = median_times(lambda frame, coarse: original_loop(predictor, frame, coarse, 0.59), clip, masks_for)
            results["original loop"][count] = original
            print(f"{count:3d} objects, original loop: frame {original:.3f} s", flush=True)
    low, high = min(args.objects), max(args.objects)
    print(f"refinement time per frame (embedding + decode + gate), {high} objects / {low} object:")
    for name, times in results.items():
        ratio = times[high] / times[low]
        print(f"  {name}: {times[low]:.3f} s -> {times[high]:.3f} s, {ratio:.2f}x")


if __name__ == "__main__":
    main()
