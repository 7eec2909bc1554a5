"""The IoU gate's selection rule on hand-made masks."""

import numpy as np
import pytest

from vots_tracker.refine.gate import gate, mask_iou


def square(y0, x0, y1, x1, shape=(20, 20)):
    mask = np.zeros(shape, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


COARSE = square(5, 5, 15, 15)  # 100 px


def test_accepts_best_proposal_above_tau():
    good = square(5, 5, 15, 14)  # 90 px inside: IoU 0.9
    far = square(0, 0, 3, 3)
    decision = gate(np.stack([far, good])[None], COARSE[None], tau=0.59)
    assert decision.accepted[0] and decision.index[0] == 1
    assert decision.iou[0] == pytest.approx(0.9)
    np.testing.assert_array_equal(decision.masks[0], good)


def test_rejects_below_tau_and_keeps_dmaot_mask():
    half = square(5, 5, 15, 10)  # IoU 0.5
    decision = gate(half[None, None], COARSE[None], tau=0.59)
    assert not decision.accepted[0] and decision.iou[0] == pytest.approx(0.5)
    np.testing.assert_array_equal(decision.masks[0], COARSE)


def test_tau_exactly_at_iou_rejects():
    eighty = square(5, 5, 15, 13)  # 80 px: IoU exactly 0.8
    assert mask_iou(eighty[None, None], COARSE[None])[0, 0] == 0.8
    assert not gate(eighty[None, None], COARSE[None], tau=0.8).accepted[0]
    assert gate(eighty[None, None], COARSE[None], tau=0.79).accepted[0]


def test_ties_go_to_the_first_proposal():
    left = square(5, 5, 15, 14)  # IoU 0.9
    right = square(5, 6, 15, 15)  # IoU 0.9, other pixels
    decision = gate(np.stack([left, right])[None], COARSE[None], tau=0.5)
    assert decision.index[0] == 0
    np.testing.assert_array_equal(decision.masks[0], left)


def test_empty_masks_are_never_refined():
    empty = np.zeros((20, 20), dtype=bool)
    decision = gate(np.stack([COARSE, empty])[None], empty[None], tau=0.0)
    assert not decision.accepted[0] and decision.iou[0] == 0.0
    assert not decision.masks[0].any()
    # an empty proposal against a non-empty DMAOT mask: IoU 0, rejected even at tau 0
    decision = gate(empty[None, None], COARSE[None], tau=0.0)
    assert not decision.accepted[0]
    np.testing.assert_array_equal(decision.masks[0], COARSE)


def test_one_candidate_versus_four():
    candidates = np.stack([square(5, 5, 15, 10), square(0, 0, 4, 4), square(5, 5, 15, 15) & ~square(5, 5, 6, 6), square(10, 10, 20, 20)])
    single = gate(candidates[:1][None], COARSE[None], tau=0.59)
    four = gate(candidates[None], COARSE[None], tau=0.59)
    assert not single.accepted[0]
    assert four.accepted[0] and four.index[0] == 2 and four.iou[0] == pytest.approx(0.99)


def test_vectorised_over_objects_and_shape_checks():
    coarse = np.stack([COARSE, square(0, 0, 5, 5)])
    proposals = np.stack([np.stack([COARSE]), np.stack([square(10, 10, 12, 12)])])
    decision = gate(proposals, coarse, tau=0.5)
    assert decision.accepted.tolist() == [True, False]
    with pytest.raises(ValueError, match="gate expects"):
        gate(proposals[:, 0], coarse, tau=0.5)


def test_smoothed_rule_is_the_runners_formula():
    """sum(m*p + 1e-6) / (sum(max(m, p)) + 1e-6): the smoothing counts once per frame pixel."""
    shape = (480, 854)  # 0.41 of smoothing in the numerator
    coarse = square(10, 10, 11, 12, shape)  # 2 px
    half = square(10, 10, 11, 11, shape)  # 1 px: exact IoU 0.5
    runner = (coarse.astype(np.uint8) * half + 1e-6).sum() / (np.maximum(coarse.astype(np.uint8), half).sum() + 1e-6)
    assert runner > 0.59
    decision = gate(half[None, None], coarse[None], tau=0.59, rule="smoothed")
    assert decision.iou[0] == runner and decision.accepted[0]  # bitwise the same value
    assert not gate(half[None, None], coarse[None], tau=0.59).accepted[0]  # exact: 0.5
    same = gate(coarse[None, None], coarse[None], tau=1.0, rule="smoothed")
    assert same.iou[0] > 1.0 and same.accepted[0]  # above 1: tau 1.0 does not switch it off


def test_gate_off_takes_the_first_proposal_of_present_objects():
    empty = np.zeros((20, 20), dtype=bool)
    far = square(0, 0, 3, 3)
    proposals = np.stack([np.stack([far, COARSE]), np.stack([COARSE, far])])
    decision = gate(proposals, np.stack([COARSE, empty]), tau=0.99, rule="off")
    assert decision.accepted.tolist() == [True, False] and decision.index.tolist() == [0, 0]
    np.testing.assert_array_equal(decision.masks[0], far)
    assert not decision.masks[1].any()
    with pytest.raises(ValueError, match="gate rule must be one of exact, smoothed, off"):
        gate(proposals, np.stack([COARSE, empty]), tau=0.5, rule="strict")
