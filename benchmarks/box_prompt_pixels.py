"""How many mask pixels the box convention changes: ``box`` (SAM's inclusive mask box) vs ``box-edges``.

``box`` ends on the last mask pixel, as SAM's ``batched_mask_to_box`` and the original runners do;
``box-edges`` ends one pixel past it. On real frames with real masks (../shared/data), HQ-SAM
(random weights: the figures say how much the prompt moves the output, nothing about accuracy)
embeds each frame once and decodes every object with both boxes; every proposal (hq, sam1..3)
is compared pixel by pixel.

    .venv/bin/python benchmarks/box_prompt_pixels.py [--size vit_tiny] [--threads 2] [--data ../shared/data, or $VOTS_TRACKER_SHARED_DATA]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vots_tracker.refine.hqsam import HQSamRefiner, write_random_checkpoint  # noqa: E402
from vots_tracker.refine.prompts import prompt_boxes  # noqa: E402

# (name, frame, label map) on each sequence's first annotated frame
FRAMES = (
    ("davis2016-car-shadow", "JPEGImages/480p/car-shadow/00000.jpg", "Annotations/480p/car-shadow/00000.png"),
    ("judo-objects-appear", "images/00013.jpg", "masks/00013.png"),
    ("demo-1080p-many-objects", "images/00002058.jpg", "masks/00002058.png"),
)


def object_masks(label_path: Path, shape) -> np.ndarray:
    labels = np.array(Image.open(label_path))
    canvas = np.zeros(shape, dtype=labels.dtype)  # masks narrower than their frame (judo) are padded
    h, w = min(shape[0], labels.shape[0]), min(shape[1], labels.shape[1])
    canvas[:h, :w] = labels[:h, :w]
    ids = [i for i in np.unique(canvas) if i != 0]
    return np.stack([canvas == i for i in ids])


def compare(refiner: HQSamRefiner, frame: np.ndarray, masks: np.ndarray):
    emb = refiner.embed(frame)
    inclusive = refiner.propose(emb, prompt_boxes(masks, "box"), masks)
    edges = refiner.propose(emb, prompt_boxes(masks, "box-edges"), masks)
    differ = (inclusive.masks != edges.masks).reshape(len(masks), len(inclusive.names), -1).sum(axis=2)
    area = inclusive.masks.reshape(len(masks), len(inclusive.names), -1).sum(axis=2)
    return differ, area, inclusive.names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="vit_tiny")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("VOTS_TRACKER_SHARED_DATA", ROOT.parent / "shared" / "data")))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = write_random_checkpoint(args.size, Path(tmp) / f"sam_hq_{args.size}.pth")
        refiner = HQSamRefiner(args.size, checkpoint, torch.device("cpu"), proposals="all")
    print(f"HQ-SAM {args.size}, RANDOM weights; box (inclusive) vs box-edges; pixels that differ per proposal")
    totals = []
    with torch.inference_mode():
        for name, frame_rel, label_rel in FRAMES:
            frame = np.array(Image.open(args.data / name / frame_rel).convert("RGB"))
            masks = object_masks(args.data / name / label_rel, frame.shape[:2])
            differ, area, names = compare(refiner, frame, masks)
            totals.append((differ, area))
            changed = int((differ.sum(axis=1) > 0).sum())
            print(f"{name} ({frame.shape[1]}x{frame.shape[0]}, {len(masks)} objects): "
                  f"{changed} object(s) with any change; per proposal ({', '.join(names)}): "
                  f"differing pixels {differ.sum(axis=0).tolist()} of {area.sum(axis=0).tolist()} foreground, "
                  f"largest per mask {differ.max(axis=0).tolist()}")
    differ = np.concatenate([d for d, _ in totals])
    area = np.concatenate([a for _, a in totals])
    share = differ.sum() / max(1, area.sum())
    print(f"all: {differ.size} masks, {int(differ.sum())} differing pixels of {int(area.sum())} foreground "
          f"({100 * share:.3f}%), median per mask {float(np.median(differ)):.0f}, max {int(differ.max())}")


if __name__ == "__main__":
    main()
