"""Prompts for HQ-SAM built from an object's DMAOT mask (pure functions, frame coordinates)."""

from __future__ import annotations

from typing import Optional

import numpy as np

# Low-resolution mask prompts are logits; a binary mask is turned into +/- this value
# after area-averaging, so edges get intermediate values instead of a hard step
# (SAM was trained on its own soft logits, and hard binary prompts work poorly).
MASK_PROMPT_LOGIT = 8.0


def mask_box(mask: np.ndarray) -> Optional[np.ndarray]:
    """Bounding box (x0, y0, x1, y1) of a mask, pixel edges included; None when empty.

    x1, y1 are one past the last mask pixel: in SAM's coordinates (a coordinate is a pixel
    index, placed at the pixel's centre) this box ends one pixel past the mask. It is the
    ``box-edges`` prompt, and the box re-detection's Kalman filter tracks.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float32)


def mask_box_inclusive(mask: np.ndarray) -> Optional[np.ndarray]:
    """(x_min, y_min, x_max, y_max): the first and last mask pixels' indices; None when empty.

    SAM's own convention (``batched_mask_to_box``; its prompt encoder puts each coordinate at a
    pixel centre) and the original HQ-SAM-Gate runners' box: the ``box`` prompt. Inside the frame
    by construction. `mask_box` spans the pixels' outer edges instead.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], dtype=np.float32)


def prompt_boxes(masks: np.ndarray, prompt: str) -> np.ndarray:
    """The (N, 4) box prompts of N frame-size masks (none empty) for ``prompt`` (refine.sam_specs.PROMPTS).

    ``box-edges`` is the edge box clipped to the frame; every other prompt (``box``, its old name
    ``box-inclusive``, and the box of ``box+mask`` / ``box+points``) uses SAM's inclusive box.
    """
    if len(masks) == 0:
        return np.zeros((0, 4), np.float32)
    if prompt == "box-edges":
        height, width = masks.shape[1:3]
        return np.stack([clip_box(mask_box(mask), height, width) for mask in masks])
    return np.stack([mask_box_inclusive(mask) for mask in masks])


def clip_box(box: np.ndarray, height: int, width: int) -> np.ndarray:
    """Clip (x0, y0, x1, y1) to the frame, keeping at least one pixel of extent."""
    x0, y0, x1, y1 = (float(v) for v in box)
    x0 = min(max(x0, 0.0), width - 1.0)
    y0 = min(max(y0, 0.0), height - 1.0)
    x1 = min(max(x1, x0 + 1.0), float(width))
    y1 = min(max(y1, y0 + 1.0), float(height))
    return np.array([x0, y0, x1, y1], dtype=np.float32)


def interior_point(mask: np.ndarray) -> Optional[np.ndarray]:
    """The mask pixel farthest from the mask boundary (x, y); None when empty.

    Unlike the centroid it always lies inside the object, also for rings and C shapes.
    """
    import cv2

    if not mask.any():
        return None
    padded = np.pad(mask.astype(np.uint8), 1)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return np.array([x + 0.5, y + 0.5], dtype=np.float32)


def mask_logits(mask: np.ndarray, input_size, encoder_size: int = 1024, low_res: int = 256) -> np.ndarray:
    """A frame-size mask as SAM's 256x256 low-resolution prompt logits.

    SAM's low-res frame is the resized image (longest side ``encoder_size``) padded at
    the bottom/right to a square, downsampled by 4; the mask goes through the same
    geometry with area averaging.
    """
    import cv2

    h, w = int(input_size[0]), int(input_size[1])
    resized = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    square = np.zeros((encoder_size, encoder_size), dtype=np.float32)
    square[:h, :w] = resized
    small = cv2.resize(square, (low_res, low_res), interpolation=cv2.INTER_AREA)
    return (small * 2.0 - 1.0) * MASK_PROMPT_LOGIT
