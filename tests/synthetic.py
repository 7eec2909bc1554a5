"""Small synthetic clips for tests that need real frames (no files involved)."""

import numpy as np


def moving_blobs(frames: int = 8, height: int = 120, width: int = 160, objects: int = 3, seed: int = 0):
    """Textured background with coloured blocks moving right; returns [(frame, {id: mask})]."""
    import cv2

    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (9, 9), 3)
    clip = []
    for t in range(frames):
        frame = background.copy()
        masks = {}
        for k in range(objects):
            mask = np.zeros((height, width), dtype=bool)
            y = int((k + 0.2) * height / objects)
            x = 8 + 5 * t + 25 * k
            mask[y : y + height // (objects + 2), x : x + width // 7] = True
            frame[mask] = ((97 * (k + 1)) % 255, (53 * (k + 2)) % 255, (151 * (k + 3)) % 255)
            masks[k + 1] = mask
        clip.append((frame, masks))
    return clip
