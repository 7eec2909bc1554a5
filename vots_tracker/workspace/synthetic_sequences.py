"""Synthetic VOT sequences for offline workspaces (adapted from ``vot.dataset.dummy``).

Drawn the way the toolkit's ``vot.dataset.dummy`` draws them (its cow template on a
noise background, circular motion), adapted so that masks are the ground truth,
objects occlude each other, and at least one object appears after the first frame
(ground truth ``0`` = unknown before that frame, so the toolkit hands it to the
tracker in a later frame request).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Dict, List, Tuple

from ..errors import UserError
from ..media.staging import write_text_atomic

#: Written next to list.txt: the sequences the generator wrote (so a rewrite can tell them from user data).
SYNTHETIC_MANIFEST = "SYNTHETIC.json"



def _cow_template():
    from PIL import Image
    import vot.dataset.dummy as dummy

    return Image.open(os.path.join(os.path.dirname(dummy.__file__), "cow.png")).convert("RGBA")


def check_synthetic_args(count: int, length: int, size: Tuple[int, int], objects: int) -> None:
    """Reject impossible synthetic-dataset settings before anything is written."""
    if count < 1:
        raise UserError(f"--synthetic must be >= 1, got {count}")
    if length < 2:
        raise UserError(f"--frames must be >= 2, got {length}")
    if objects < 1:
        raise UserError(f"--objects must be >= 1, got {objects}")
    width, height = size
    if width < 64 or height < 64:
        raise UserError(f"--size must be at least 64x64, got {width}x{height}")


def _background(rng, width: int, height: int):
    """The dummy's dark noise plus a soft gradient, so frames are not featureless."""
    import numpy as np

    yy, xx = np.mgrid[0:height, 0:width]
    gradient = (40 * xx / max(width - 1, 1) + 30 * yy / max(height - 1, 1))[..., None]
    return np.clip(rng.normal(15, 5, (height, width, 3)) + gradient, 0, 255).astype(np.uint8)


def _sprites(rng, objects: int, height: int) -> list:
    """One RGBA cow per object, each with its own scale and colour tint."""
    import numpy as np
    from PIL import Image

    template = _cow_template()
    sprites = []
    for o in range(objects):
        scale = 0.30 * height / template.size[1] * (1.0 - 0.12 * (o % 3))
        w = max(8, int(round(template.size[0] * scale)))
        h = max(8, int(round(template.size[1] * scale)))
        arr = np.asarray(template.resize((w, h), Image.BILINEAR)).astype(np.float32)
        tint = rng.uniform(0.5, 1.3, size=3)
        arr[..., :3] = np.clip(arr[..., :3] * tint, 0, 255)
        sprites.append(arr.astype(np.uint8))
    return sprites


def _paste(frame, labels, sprite, x: int, y: int, label: int) -> None:
    """Alpha-blend ``sprite`` with its top-left corner at (x, y), clipped to the frame; mark its pixels."""
    height, width = labels.shape
    sh, sw = sprite.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + sw, width), min(y + sh, height)
    if x1 <= x0 or y1 <= y0:
        return
    crop = sprite[y0 - y : y1 - y, x0 - x : x1 - x].astype("float32")
    alpha = crop[..., 3:4] / 255.0
    frame[y0:y1, x0:x1] = frame[y0:y1, x0:x1] * (1 - alpha) + crop[..., :3] * alpha
    labels[y0:y1, x0:x1][crop[..., 3] > 127] = label


def _write_sequence_files(base: Path, groundtruth: Dict[str, list], width: int, height: int, length: int) -> None:
    from vot.region.io import write_trajectory
    from vot.utilities import write_properties

    if list(groundtruth) == ["object"]:
        write_trajectory(str(base / "groundtruth.txt"), groundtruth["object"])
    else:
        for oid, trajectory in groundtruth.items():
            write_trajectory(str(base / f"groundtruth_{oid}.txt"), trajectory)
    write_properties(
        str(base / "sequence"),
        {
            "name": base.name,
            "fps": 30,
            "format": "default",
            "channel.default": "color",
            "channels.color": "color/%08d.jpg",
            "width": width,
            "height": height,
            "length": length,
        },
    )


def generate_sequence(
    base: Path,
    length: int = 16,
    size: Tuple[int, int] = (320, 240),
    objects: int = 3,
    late_objects: int = 1,
    seed: int = 0,
) -> Dict[str, int]:
    """Write one VOT-format multi-object sequence into ``base``; return object id -> first frame.

    Like ``vot.dataset.dummy._generate`` (cow template, noise background, objects on a
    circle), but: mask ground truth with occlusions resolved by paste order, a per-object
    tint and scale, and the last ``late_objects`` objects entering at frame ``length // 3``
    (ground truth ``0`` = unknown before that, so the toolkit adds them in a later frame).
    """
    import numpy as np
    from PIL import Image
    from vot.dataset import Sequence
    from vot.region import Special
    from vot.region.shapes import Mask

    check_synthetic_args(1, length, size, objects)
    width, height = size
    rng = np.random.default_rng(seed)
    (base / "color").mkdir(parents=True, exist_ok=True)
    background = _background(rng, width, height)
    late_objects = min(max(late_objects, 0), objects - 1)
    starts = [max(1, length // 3) if o >= objects - late_objects else 0 for o in range(objects)]
    sprites = _sprites(rng, objects, height)

    cx, cy = width / 2.0, height / 2.0
    max_w = max(s.shape[1] for s in sprites)
    max_h = max(s.shape[0] for s in sprites)
    radius = max(0.0, 0.85 * min(cx - max_w / 2.0, cy - max_h / 2.0))
    speed = math.pi / max(length, 1)  # half a turn over the sequence
    offset = 2 * math.pi / objects

    ids = [f"{o + 1:03d}" if objects > 1 else "object" for o in range(objects)]
    groundtruth: Dict[str, list] = {oid: [] for oid in ids}
    for i in range(length):
        frame = background.astype(np.float32).copy()
        labels = np.zeros((height, width), dtype=np.int32)
        for o, sprite in enumerate(sprites):
            if i >= starts[o]:
                sh, sw = sprite.shape[:2]
                x = int(round(cx + math.cos(i * speed + offset * o) * radius - sw / 2.0))
                y = int(round(cy + math.sin(i * speed + offset * o) * radius - sh / 2.0))
                _paste(frame, labels, sprite, x, y, o + 1)
        Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8)).save(
            base / "color" / f"{i + 1:08d}.jpg", quality=95
        )
        for o, oid in enumerate(ids):
            if i < starts[o]:
                groundtruth[oid].append(Special(Sequence.UNKNOWN))
            else:
                mask = np.ascontiguousarray((labels == o + 1).astype(np.uint8))
                groundtruth[oid].append(Mask(mask, optimize=True))
    _write_sequence_files(base, groundtruth, width, height, length)
    return dict(zip(ids, starts))


def generate_dataset(
    directory: Path,
    count: int,
    length: int = 16,
    size: Tuple[int, int] = (320, 240),
    objects: int = 3,
    seed: int = 0,
) -> List[str]:
    """Write ``count`` synthetic sequences and ``list.txt`` into ``directory``; return their names."""
    check_synthetic_args(count, length, size, objects)
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"synthetic-{k + 1:02d}" for k in range(count)]
    # The manifest first: sequences left by a run stopped half-way are still known as ours.
    manifest = {"sequences": names, "frames": length, "size": list(size), "objects": objects, "seed": seed}
    write_text_atomic(directory / SYNTHETIC_MANIFEST, json.dumps(manifest, indent=2) + "\n")
    for k, name in enumerate(names):
        # Every sequence has one late object when it has more than one object.
        generate_sequence(directory / name, length, size, objects, late_objects=1, seed=seed + k)
    write_text_atomic(directory / "list.txt", "".join(f"{n}\n" for n in names))
    return names


def generated_sequences(directory: Path) -> List[str]:
    """The sequence names :func:`generate_dataset` recorded in ``directory`` (none if it holds no manifest)."""
    try:
        names = json.loads((directory / SYNTHETIC_MANIFEST).read_text(encoding="utf-8")).get("sequences", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [n for n in names if isinstance(n, str) and n and "/" not in n and not n.startswith(".")]

