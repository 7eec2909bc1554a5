"""Frames reach the tracker exactly as the original VOTS runner reads them (tests/dmaot/reference.py)."""

import cv2
import numpy as np
import pytest
from PIL import Image

from vots_tracker.errors import UserError
from vots_tracker.media.frame_source import decode_image, read_rgb

from .reference import runner_read

EXIF_ORIENTATION = 0x0112


def decode_rgb(path):
    """What the TraX server does with a frame file (protocol.read_frame)."""
    image = decode_image(path.read_bytes(), path) if path.is_file() else None
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture
def picture():
    rng = np.random.default_rng(3)
    return cv2.GaussianBlur(rng.integers(0, 255, (40, 64, 3), dtype=np.uint8), (0, 0), 2)


def test_rotated_jpeg_is_not_turned(picture, tmp_path):
    """IMREAD_COLOR would apply the EXIF rotation; the runner (IMREAD_UNCHANGED) does not."""
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(picture).save(path, exif=exif, quality=95)
    assert cv2.imread(str(path), cv2.IMREAD_COLOR).shape[:2] == (64, 40)  # the trap this avoids
    expected = runner_read(path)
    assert expected.shape == (40, 64, 3)
    np.testing.assert_array_equal(decode_rgb(path), expected)
    np.testing.assert_array_equal(read_rgb(path), expected)


def test_png_and_jpeg_match_the_runner(picture, tmp_path):
    for name in ("frame.png", "frame.jpg"):
        cv2.imwrite(str(tmp_path / name), picture[:, :, ::-1])
        actual = decode_rgb(tmp_path / name)
        np.testing.assert_array_equal(actual, runner_read(tmp_path / name))
        assert actual.dtype == np.uint8 and actual.flags.c_contiguous
    np.testing.assert_array_equal(decode_rgb(tmp_path / "frame.png"), picture)


def test_what_the_runner_cannot_read_is_converted(picture, tmp_path):
    grey = picture[:, :, 0]
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    np.testing.assert_array_equal(decode_rgb(tmp_path / "grey.png"), np.repeat(grey[:, :, None], 3, axis=2))
    cv2.imwrite(str(tmp_path / "alpha.png"), np.dstack([picture[:, :, ::-1], np.full(grey.shape, 7, np.uint8)]))
    np.testing.assert_array_equal(decode_rgb(tmp_path / "alpha.png"), picture)
    cv2.imwrite(str(tmp_path / "deep.png"), picture[:, :, ::-1].astype(np.uint16) * 257)
    np.testing.assert_array_equal(decode_rgb(tmp_path / "deep.png"), picture)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    assert decode_rgb(tmp_path / "broken.jpg") is None and decode_rgb(tmp_path / "absent.jpg") is None
    with pytest.raises(UserError, match="cannot read image .*broken.jpg"):
        read_rgb(tmp_path / "broken.jpg")
