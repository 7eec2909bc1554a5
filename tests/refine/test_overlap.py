"""Overlap resolution: every pixel to at most one object, by the documented rule."""

import numpy as np

from vots_tracker.refine.overlap import resolve_overlaps


def box(y0, x0, y1, x1):
    mask = np.zeros((10, 10), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_pixel_goes_to_the_object_whose_dmaot_mask_holds_it():
    coarse = np.stack([box(0, 0, 5, 5), box(5, 5, 10, 10)])
    refined = np.stack([box(0, 0, 7, 7), box(4, 4, 10, 10)])  # overlap in 4..7
    out = resolve_overlaps(refined, coarse)
    assert not (out[0] & out[1]).any()
    assert out[0][4, 4] and not out[1][4, 4]  # inside object 0's DMAOT mask
    assert out[1][6, 6] and not out[0][6, 6]  # inside object 1's DMAOT mask
    assert out[0].sum() + out[1].sum() == (refined[0] | refined[1]).sum()


def test_otherwise_the_smaller_object_wins_then_arrival_order():
    coarse = np.zeros((2, 10, 10), dtype=bool)
    big, small = box(0, 0, 10, 10), box(2, 2, 4, 4)
    out = resolve_overlaps(np.stack([big, small]), coarse)
    assert out[1].sum() == 4 and out[0].sum() == 96
    same_a, same_b = box(0, 0, 2, 4), box(0, 2, 2, 6)  # equal areas, overlap at columns 2-3
    out = resolve_overlaps(np.stack([same_a, same_b]), coarse)
    assert out[0][0, 2] and not out[1][0, 2]


def test_disjoint_masks_are_unchanged():
    masks = np.stack([box(0, 0, 3, 3), box(5, 5, 8, 8)])
    np.testing.assert_array_equal(resolve_overlaps(masks, masks), masks)
