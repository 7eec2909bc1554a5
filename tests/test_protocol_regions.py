"""Mask <-> TraX region conversion with the real libtrax objects."""

import numpy as np
import pytest
import trax

from vots_tracker.server.protocol import ProtocolError, mask_to_region, region_to_mask


def roundtrip(mask):
    region = mask_to_region(mask)
    return region_to_mask(region, mask.shape, 0)


def test_roundtrip_keeps_pixels_and_uses_bounding_box():
    mask = np.zeros((40, 60), dtype=bool)
    mask[5:9, 10:30] = True
    mask[20, 50] = True
    region = mask_to_region(mask)
    assert region.offset() == (10, 5)
    assert region.size() == (41, 16)
    np.testing.assert_array_equal(roundtrip(mask), mask)


def test_empty_mask_roundtrips_to_empty():
    mask = np.zeros((10, 12), dtype=bool)
    assert not roundtrip(mask).any()


def test_region_past_frame_with_foreground_is_an_error():
    data = np.zeros((10, 10), dtype=np.uint8)
    data[8, 8] = 1
    region = trax.Mask.create(data, 15, 15)
    with pytest.raises(ProtocolError, match="foreground outside the 20x20 frame"):
        region_to_mask(region, (20, 20), 2)


def test_region_past_frame_with_only_background_is_cropped():
    data = np.zeros((10, 10), dtype=np.uint8)
    data[1, 2] = 1
    mask = region_to_mask(trax.Mask.create(data, 15, 15), (20, 20), 0)
    assert mask.shape == (20, 20) and mask[16, 17] and mask.sum() == 1


def test_non_contiguous_input_is_copied_not_corrupted():
    mask = np.zeros((30, 30), dtype=bool)
    mask[::2, 3:20] = True
    view = mask[:, ::-1]  # a non-contiguous view
    np.testing.assert_array_equal(roundtrip(view), view)


def test_one_column_masks_survive_the_toolkits_conversion():
    """The toolkit stores a reply crop whose foreground sits only in its first column as empty
    (vot-toolkit 0.9.0 Mask(optimize=True)); the server's crop keeps a column before it."""
    from vot.tracker.trax import convert_traxregion

    for column, rows in ((7, slice(3, 9)), (7, slice(4, 5)), (59, slice(0, 40))):
        mask = np.zeros((40, 60), dtype=bool)
        mask[rows, column] = True
        stored = convert_traxregion(mask_to_region(mask)).rasterize((0, 0, 59, 39)).astype(bool)
        np.testing.assert_array_equal(stored, mask)
        np.testing.assert_array_equal(roundtrip(mask), mask)
    wide = np.zeros((40, 60), dtype=bool)
    wide[5:9, 10:12] = True
    assert mask_to_region(wide).offset() == (10, 5)  # two columns and more: the tight box, as before
