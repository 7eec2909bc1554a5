"""Input frames: a folder of images (natural sort) or a video file, one RGB array and stem per frame."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UserError

logger = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.stem)] + [path.suffix]


def list_images(folder: Path, exts: Sequence[str] = IMAGE_EXTS, what: str = "frames") -> List[Path]:
    folder = Path(folder)
    if not folder.exists():
        raise UserError(f"{what} folder {folder} does not exist")
    if not folder.is_dir():
        raise UserError(f"{what} path {folder} is not a folder")
    named = [p for p in folder.iterdir() if p.suffix.lower() in exts and not p.name.startswith(".")]
    folders = sorted(p.name for p in named if p.is_dir())
    if folders:  # skipping it would silently drop a frame and shift every later one
        raise UserError(f"{what} folder {folder}: {folders[0]} is a folder, not a file")
    files = [p for p in named if p.is_file()]
    if not files:
        raise UserError(f"no images ({', '.join(exts)}) in {what} folder {folder}")
    files.sort(key=_natural_key)
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})[:3]
        raise UserError(f"{what} folder {folder} has several images with the same name: {', '.join(dup)}")
    return files


def check_file(path: Path, what: str) -> None:
    """A one-line UserError when ``path`` is missing or is not a regular file."""
    if Path(path).is_dir():
        raise UserError(f"{what} {path} is a folder, not a file")
    if not Path(path).is_file():
        raise UserError(f"{what} {path} does not exist")


def jpeg_is_truncated(data: bytes) -> bool:
    """True for JPEG data without its end-of-image marker (a copy or download cut short).

    The marker is looked for in the last KiB: some cameras append a trailer after it.
    """
    return data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-1024:]


def decode_image(data: bytes, path) -> Optional[np.ndarray]:
    """Decode image bytes to HxWx3 uint8 BGR (None if undecodable), as the original VOTS runners read frames.

    The runners use cv2.imread(IMREAD_UNCHANGED): unlike IMREAD_COLOR it ignores the EXIF
    orientation tag, so frames are never turned. What the runners could not take is converted:
    grey images to three channels, an alpha channel dropped, 16-bit images scaled to 8 bits.
    A truncated JPEG is decoded as far as it goes (OpenCV refuses it whole; with its end marker
    restored libjpeg fills the missing part with grey), with a warning naming the file.
    """
    import cv2

    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if jpeg_is_truncated(data):
        if image is None:
            image = cv2.imdecode(np.frombuffer(data + b"\xff\xd9", dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if image is not None:
            logger.warning("%s is a truncated JPEG (no end-of-image marker): its missing part decodes as grey", path)
    if image is None:
        return None
    if image.dtype == np.uint16:
        image = np.round(image / 257.0).astype(np.uint8)
    elif image.dtype != np.uint8:
        return None
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image if image.shape[2] == 3 else None


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    check_file(path, "image")
    image = decode_image(Path(path).read_bytes(), path)
    if image is None:
        raise UserError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class FrameSource:
    """Frames of a folder of images or of a video file, with a stem per frame."""

    def __init__(self, frames: Optional[Path] = None, video: Optional[Path] = None):
        self.frames_dir = Path(frames) if frames else None
        self.video = Path(video) if video else None
        self.fps: Optional[float] = None
        if self.frames_dir is not None:
            self.files = list_images(self.frames_dir)
            self.stems = [p.stem for p in self.files]
            self.count: Optional[int] = len(self.files)
        else:
            import cv2

            check_file(self.video, "video file")
            cap = cv2.VideoCapture(str(self.video))
            try:
                ok, first = cap.read() if cap.isOpened() else (False, None)
                if not ok or first is None:
                    raise UserError(f"cannot read video {self.video} (not a video, or a codec OpenCV lacks)")
                count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
                fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            finally:
                cap.release()
            self.files = []
            self.count = count if count > 0 else None
            self.fps = fps if 0 < fps < 1000 else None
            # stems of video frames: 00000, 00001, ... (masks for a video are named like that)
            self.stems = [f"{i:05d}" for i in range(self.count or 0)]

    def stem(self, index: int) -> str:
        return self.stems[index] if index < len(self.stems) else f"{index:05d}"

    def __iter__(self) -> Iterator[Tuple[int, str, np.ndarray]]:
        if self.frames_dir is not None:
            for i, path in enumerate(self.files):
                yield i, path.stem, read_rgb(path)
            return
        import cv2

        cap = cv2.VideoCapture(str(self.video))
        try:
            i = 0
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                yield i, self.stem(i), cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                i += 1
            if i == 0:
                raise UserError(f"cannot read video {self.video}")
        finally:
            cap.release()
