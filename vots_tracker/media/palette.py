"""The DAVIS / PASCAL VOC label palette and palette PNG output (pixel value = object id)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def davis_palette() -> np.ndarray:
    """The 256-colour palette of DAVIS / PASCAL VOC label PNGs (index 0 black)."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette[index] = (r, g, b)
    return palette


PALETTE = davis_palette()


def write_palette_png(path: Path, labels: np.ndarray) -> None:
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(labels.astype(np.uint8)), mode="P")
    image.putpalette(PALETTE.reshape(-1).tolist())
    image.save(str(path), format="PNG", optimize=False)
