"""Overlay drawing (object colours, contours, ids) and a verified MP4 writer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from ..errors import UserError
from .palette import PALETTE

logger = logging.getLogger(__name__)


def draw_overlay(frame_rgb: np.ndarray, masks: Dict[int, np.ndarray], alpha: float = 0.5) -> np.ndarray:
    """Return a BGR image: the frame with each object's mask tinted in its palette colour, outlined, labelled."""
    import cv2

    canvas = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)
    tint = canvas.copy()
    for oid, mask in masks.items():
        if mask.any():
            r, g, b = (int(v) for v in PALETTE[oid % 256])
            tint[mask] = (b, g, r)
    blended = cv2.addWeighted(canvas, 1.0 - alpha, tint, alpha, 0.0)
    any_mask = np.zeros(canvas.shape[:2], dtype=bool)
    for mask in masks.values():
        any_mask |= mask
    canvas[any_mask] = blended[any_mask]
    scale = max(0.4, min(canvas.shape[:2]) / 600.0)
    thickness = max(1, int(round(scale * 2)))
    for oid, mask in masks.items():
        if not mask.any():
            continue
        r, g, b = (int(v) for v in PALETTE[oid % 256])
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(canvas, contours, -1, (b, g, r), thickness)
        ys, xs = np.nonzero(mask)
        x, y = int(xs.mean()), int(ys.mean())
        if not mask[y, x]:  # non-convex mask: label the mask pixel nearest to its centroid
            k = int(np.argmin((xs - x) ** 2 + (ys - y) ** 2))
            x, y = int(xs[k]), int(ys[k])
        text = str(oid)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        x = min(max(0, x - tw // 2), max(0, canvas.shape[1] - tw))
        y = min(max(th, y + th // 2), canvas.shape[0] - base)
        cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
        cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return canvas


DEFAULT_FPS = 25.0  # an overlay video's frame rate when its source gives none


class VideoWriter:
    """cv2.VideoWriter for MP4 with an open check and a read-back check on close."""

    def __init__(self, path: Path, fps: float, size: Tuple[int, int]):
        import cv2

        self.path = Path(path)
        self.size = size  # (width, height)
        self.frames = 0
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
        if not self._writer.isOpened():
            raise UserError(f"cannot open an MP4 writer for {self.path} (OpenCV lacks an mp4v encoder?)")

    def write(self, bgr: np.ndarray) -> None:
        if (bgr.shape[1], bgr.shape[0]) != self.size:
            raise UserError(f"overlay frame size {bgr.shape[1]}x{bgr.shape[0]} differs from the video's {self.size}")
        self._writer.write(np.ascontiguousarray(bgr))
        self.frames += 1

    def close(self, verify: bool = True) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if verify:
            check_video(self.path, self.frames, self.size)


def check_video(path: Path, frames: int, size: Tuple[int, int]) -> None:
    """Open a written video with OpenCV and check its frame count and size."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise UserError(f"the overlay video {path} cannot be read back with OpenCV")
        count = 0
        shape: Optional[Tuple[int, int]] = None
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            shape = (frame.shape[1], frame.shape[0])
            count += 1
    finally:
        cap.release()
    if count != frames or (count and shape != tuple(size)):
        raise UserError(
            f"the overlay video {path} reads back as {count} frames of {shape}, expected {frames} of {tuple(size)}"
        )
