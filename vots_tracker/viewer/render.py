"""Pictures of masks: one tracker's overlay, two side by side with their disagreement marked, contact sheets.

Panels are BGR uint8 images (OpenCV's order, what the MP4 writer takes). Objects are drawn
with the project's overlay (palette colour, outline, id; :func:`~vots_tracker.media.overlay.draw_overlay`).
Side by side, every pixel that the two trackers give to different objects (or one gives to an
object and the other to none) is painted :data:`DISAGREE_RGB` in both panels: a colour outside
the palette of the first 64 object ids (their channels are multiples of 32).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..media.overlay import draw_overlay

DISAGREE_RGB = (255, 0, 255)
GAP = 4  # pixels between panels and between contact-sheet tiles
GAP_BGR = (40, 40, 40)
TITLE_BGR = (255, 255, 255)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A toolkit frame (RGB, or grey) as HxWx3 uint8 RGB."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3].astype(np.uint8, copy=False))


def label_map(masks: Dict[int, np.ndarray], shape: Tuple[int, int]) -> np.ndarray:
    """Object id per pixel (0: none); where masks overlap the later object wins, as in ``track``'s PNGs."""
    labels = np.zeros(shape, dtype=np.int32)
    for object_id, mask in masks.items():
        labels[np.asarray(mask, dtype=bool)] = object_id
    return labels


def disagreement(a: Dict[int, np.ndarray], b: Dict[int, np.ndarray], shape: Tuple[int, int]) -> np.ndarray:
    """Pixels the two trackers assign differently (to another object, or to none)."""
    return label_map(a, shape) != label_map(b, shape)


def _label(canvas: np.ndarray, text: str, bottom: bool) -> None:
    """White text on a black box in the top-left (titles) or bottom-left (frame labels) corner."""
    import cv2

    scale = max(0.4, min(canvas.shape[:2]) / 600.0)
    thickness = max(1, int(round(scale * 1.5)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    box_h = th + base + 6
    y0 = canvas.shape[0] - box_h if bottom else 0
    cv2.rectangle(canvas, (0, y0), (min(canvas.shape[1], tw + 8) - 1, y0 + box_h - 1), (0, 0, 0), -1)
    cv2.putText(canvas, text, (4, y0 + 3 + th), cv2.FONT_HERSHEY_SIMPLEX, scale, TITLE_BGR, thickness, cv2.LINE_AA)


def _title(canvas: np.ndarray, text: str) -> None:
    _label(canvas, text, bottom=False)


def panel(frame_rgb: np.ndarray, masks: Dict[int, np.ndarray], title: str = "",
          marked: Optional[np.ndarray] = None) -> np.ndarray:
    """One tracker's masks drawn on the frame (BGR); ``marked`` pixels painted the disagreement colour."""
    canvas = draw_overlay(frame_rgb, masks)
    if marked is not None and marked.any():
        r, g, b = DISAGREE_RGB
        canvas[marked] = (b, g, r)
    if title:
        _title(canvas, title)
    return canvas


def even(canvas: np.ndarray) -> np.ndarray:
    """Pad to even width and height (video encoders need it); black on the right/bottom."""
    height, width = canvas.shape[:2]
    pad_h, pad_w = height % 2, width % 2
    if not pad_h and not pad_w:
        return canvas
    return np.pad(canvas, ((0, pad_h), (0, pad_w), (0, 0)))


def video_size(width: int, height: int, versus: bool) -> Tuple[int, int]:
    """(width, height) of a ``show`` video frame for sequence frames of ``width`` x ``height``."""
    full = 2 * width + GAP if versus else width
    return full + full % 2, height + height % 2


def compose(frame_rgb: np.ndarray, masks: Sequence[Dict[int, np.ndarray]], titles: Sequence[str]) -> np.ndarray:
    """The video frame: one panel, or two side by side (a :data:`GAP`-pixel bar between them)
    with the pixels where they disagree marked in both."""
    if len(masks) == 1:
        return even(panel(frame_rgb, masks[0], titles[0]))
    marked = disagreement(masks[0], masks[1], frame_rgb.shape[:2])
    left = panel(frame_rgb, masks[0], titles[0], marked)
    right = panel(frame_rgb, masks[1], titles[1], marked)
    bar = np.empty((left.shape[0], GAP, 3), np.uint8)
    bar[:] = GAP_BGR
    return even(np.concatenate([left, bar, right], axis=1))


def sheet_frames(length: int, count: int) -> List[int]:
    """``count`` evenly spaced frame indices from first to last (every frame when there are fewer)."""
    if count >= length:
        return list(range(length))
    return sorted({int(round(i * (length - 1) / (count - 1))) for i in range(count)}) if count > 1 else [0]


def sheet_grid(count: int, columns: Optional[int]) -> Tuple[int, int]:
    """(rows, columns) for ``count`` tiles; default columns: the smallest square that holds them."""
    columns = max(1, min(columns or math.ceil(math.sqrt(count)), count))
    return math.ceil(count / columns), columns


def tile_scale(width: int, max_tile_width: int) -> float:
    return min(1.0, max_tile_width / float(width))


def contact_sheet(tiles: Sequence[np.ndarray], columns: Optional[int], scale: float = 1.0) -> np.ndarray:
    """A grid of tiles (BGR, all one size, row by row), each scaled by ``scale``, :data:`GAP` pixels apart."""
    import cv2

    rows, columns = sheet_grid(len(tiles), columns)
    height, width = tiles[0].shape[:2]
    th, tw = max(1, int(round(height * scale))), max(1, int(round(width * scale)))
    sheet = np.empty((rows * th + (rows + 1) * GAP, columns * tw + (columns + 1) * GAP, 3), np.uint8)
    sheet[:] = GAP_BGR
    for n, tile in enumerate(tiles):
        if (th, tw) != (height, width):
            tile = cv2.resize(tile, (tw, th), interpolation=cv2.INTER_AREA)
        row, column = divmod(n, columns)
        y, x = GAP + row * (th + GAP), GAP + column * (tw + GAP)
        sheet[y:y + th, x:x + tw] = tile
    return sheet


def corner_label(tile: np.ndarray, text: str) -> None:
    """Text in the bottom-left corner (the frame number; titles sit top-left)."""
    _label(tile, text, bottom=True)
