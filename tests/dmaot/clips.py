"""Smooth synthetic clips: a blurred textured background with coloured discs moving across it."""

from __future__ import annotations

from typing import List, Tuple

import cv2
import numpy as np


def moving_discs(frames: int, height: int = 160, width: int = 240, objects: int = 2,
                 seed: int = 0) -> List[Tuple[np.ndarray, np.ndarray]]:
    """[(uint8 RGB frame, int label map with discs 1..objects)], later discs drawn on top.

    The background pans and its brightness varies, so no two frames look alike: DMAOT's
    eviction compares frames by similarity, and a static scene would make that a coin toss
    decided by float rounding.
    """
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (0, 0), 4)
    colours = rng.integers(0, 255, (objects, 3))
    columns = max(1, (objects + 3) // 4)
    yy, xx = np.ogrid[:height, :width]
    clip = []
    for t in range(frames):
        frame = np.roll(background, (t, 2 * t), axis=(0, 1))
        frame = np.clip(frame.astype(np.int16) + int(12 * np.sin(t)), 0, 255).astype(np.uint8)
        labels = np.zeros((height, width), np.int64)
        for k in range(objects):
            cy = int((k % 4 + 0.5) * height / 4 + 5 * np.sin(t / 3 + k))
            cx = int(((k // 4) + 0.5) * width / columns + 3 * t) % width
            radius = 10 + (k % 3) * 4
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 < radius * radius
            frame[disc] = colours[k]
            labels[disc] = k + 1
        clip.append((cv2.GaussianBlur(frame, (0, 0), 1.0), labels))
    return clip
