"""Re-detection of lost objects: a constant-velocity Kalman filter on each object's box.

When DMAOT returns an empty mask for an object that was present before, the
filter predicts where its box should be; HQ-SAM is prompted with that box and a
proposal is accepted only if ALL of these hold (the strict rule), otherwise the
object stays lost:

  - the object has been lost for at most ``max_lost`` frames (the prediction
    drifts; after that, waiting for DMAOT is safer than guessing);
  - HQ-SAM's predicted IoU for the proposal is at least ``min_score``;
  - the proposal's box overlaps the predicted box with IoU >= ``min_box_iou``
    (a distractor elsewhere in the box's neighbourhood does not qualify);
  - its area is within a factor ``max_area_change`` of the last known area;
  - at most ``max_overlap`` of its pixels belong to other objects.
Among qualifying proposals the one with the highest box IoU wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np

from .prompts import clip_box, mask_box


@dataclass
class RedetectOptions:
    max_lost: int = 30
    min_score: float = 0.8
    min_box_iou: float = 0.5
    max_area_change: float = 2.0
    max_overlap: float = 0.1


# Noise of the filter, as fractions of the box's size (its longer side, in pixels): boxes of
# any size then move and change alike, relative to their size.
INITIAL_POSITION_VARIANCE = 1.0  # the first box is exact, up to about a pixel per pixel of size
INITIAL_VELOCITY_VARIANCE = 10.0  # its position velocity is unknown
PROCESS_NOISE = 0.05  # per predict step, on the box; velocities get less (below)
MEASUREMENT_NOISE = 0.1  # a mask's box is accurate


class BoxKalman:
    """Constant-velocity Kalman filter on (cx, cy, w, h) with velocities."""

    def __init__(self, box: np.ndarray):
        cx, cy, w, h = _centre_size(box)
        self.x = np.array([cx, cy, w, h, 0, 0, 0, 0], dtype=np.float64)
        scale = max(w, h, 1.0)
        position, velocity = INITIAL_POSITION_VARIANCE * scale, INITIAL_VELOCITY_VARIANCE * scale
        self.P = np.diag([position] * 4 + [velocity, velocity, position, position])
        self.F = np.eye(8)
        self.F[:4, 4:] = np.eye(4)
        self.H = np.eye(4, 8)
        self._scale = scale

    def predict(self) -> np.ndarray:
        q = PROCESS_NOISE * self._scale
        self.x = self.F @ self.x
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)
        self.P = self.F @ self.P @ self.F.T + np.diag([q, q, q, q, q / 2, q / 2, q / 4, q / 4])
        return self.box()

    def update(self, box: np.ndarray) -> None:
        z = np.array(_centre_size(box), dtype=np.float64)
        r = MEASUREMENT_NOISE * self._scale
        S = self.H @ self.P @ self.H.T + np.eye(4) * r
        K = self.P @ self.H.T @ np.linalg.inv(S)
        self.x = self.x + K @ (z - self.H @ self.x)
        self.P = (np.eye(8) - K @ self.H) @ self.P
        self._scale = max(z[2], z[3], 1.0)

    def box(self) -> np.ndarray:
        cx, cy, w, h = self.x[:4]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=np.float32)


def _centre_size(box: np.ndarray):
    x0, y0, x1, y1 = (float(v) for v in box)
    return (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class _Track:
    kalman: BoxKalman
    area: int
    lost: int = 0
    predicted: Optional[np.ndarray] = field(default=None)
    predicted_this_frame: bool = False  # the filter steps exactly once per frame, lost or not


class Redetector:
    """Per-sequence box filters; decides which objects to re-detect and which proposals to accept."""

    def __init__(self, options: Optional[RedetectOptions] = None):
        self.options = options or RedetectOptions()
        self.tracks: Dict[int, _Track] = {}

    def lost_boxes(self, coarse: Dict[int, np.ndarray]) -> Dict[int, np.ndarray]:
        """Predicted boxes for objects that DMAOT lost this frame (seen before, lost not too long)."""
        boxes = {}
        for object_id, mask in coarse.items():
            track = self.tracks.get(object_id)
            if track is None or mask.any() or track.lost >= self.options.max_lost:
                continue
            height, width = mask.shape
            track.predicted = clip_box(self._predict(track), height, width)
            boxes[object_id] = track.predicted
        return boxes

    def accept(self, object_id: int, masks: np.ndarray, scores: np.ndarray, others: np.ndarray) -> Optional[int]:
        """Index of the proposal to accept for a lost object, or None (the strict rule above)."""
        track = self.tracks[object_id]
        best, best_iou = None, -1.0
        for k, (mask, score) in enumerate(zip(masks, scores)):
            box = mask_box(mask)
            if box is None or score < self.options.min_score:
                continue
            iou = box_iou(box, track.predicted)
            area = int(mask.sum())
            ratio = area / max(track.area, 1)
            overlap = np.count_nonzero(mask & others) / max(area, 1)
            if iou < self.options.min_box_iou or overlap > self.options.max_overlap:
                continue
            if not (1.0 / self.options.max_area_change <= ratio <= self.options.max_area_change):
                continue
            if iou > best_iou:
                best, best_iou = k, iou
        return best

    @staticmethod
    def _predict(track: _Track) -> np.ndarray:
        """The filter's box for this frame, stepping it forward only on the frame's first call."""
        if not track.predicted_this_frame:
            track.kalman.predict()
            track.predicted_this_frame = True
        return track.kalman.box()

    def observe(self, final: Dict[int, np.ndarray]) -> None:
        """Update the filters with the frame's final masks; ends the frame.

        Every known track steps once per frame: a lost object's filter keeps moving, so the
        box predicted on its k-th lost frame is k steps ahead of its last update.
        """
        for object_id, mask in final.items():
            box = mask_box(mask)
            track = self.tracks.get(object_id)
            if track is None:
                if box is not None:
                    self.tracks[object_id] = _Track(BoxKalman(box), int(mask.sum()))
                continue
            self._predict(track)
            track.predicted_this_frame = False
            if box is None:
                track.lost += 1
                continue
            track.kalman.update(box)
            track.area = int(mask.sum())
            track.lost = 0
