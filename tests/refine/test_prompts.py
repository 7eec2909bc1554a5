"""Box prompts follow SAM's own mask-to-box convention (segment_anything_hq's batched_mask_to_box)."""

import numpy as np
import pytest
import torch
from segment_anything_hq.utils.amg import batched_mask_to_box

from vots_tracker.config import make_config
from vots_tracker.refine.prompts import prompt_boxes
from vots_tracker.refine.sam_specs import PROMPTS


def random_masks(count=12, height=37, width=53, seed=0):
    rng = np.random.default_rng(seed)
    masks = np.zeros((count, height, width), dtype=bool)
    for n in range(count):
        y0, x0 = rng.integers(0, height), rng.integers(0, width)
        y1, x1 = rng.integers(y0, height) + 1, rng.integers(x0, width) + 1
        masks[n, y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) < 0.7
        masks[n, y0, x0] = masks[n, y1 - 1, x1 - 1] = True  # the box corners are mask pixels
    masks[0, :, :] = False
    masks[0, 5, 7] = True  # a one-pixel mask
    masks[1, :, :] = True  # a mask filling the frame
    return masks


@pytest.mark.parametrize("prompt", ["box", "box-inclusive", "box+mask", "box+points"])
def test_box_prompts_are_sams_mask_box(prompt):
    masks = random_masks()
    expected = batched_mask_to_box(torch.as_tensor(masks)).numpy()
    assert np.array_equal(prompt_boxes(masks, prompt), expected)


def test_box_edges_ends_one_pixel_past_the_mask_inside_the_frame():
    masks = random_masks()
    height, width = masks.shape[1:]
    sam = batched_mask_to_box(torch.as_tensor(masks)).numpy()
    edges = prompt_boxes(masks, "box-edges")
    assert np.array_equal(edges[:, :2], sam[:, :2])
    assert np.array_equal(edges[:, 2:], sam[:, 2:] + 1)
    assert edges[1].tolist() == [0, 0, width, height]  # at most the frame's size


def test_the_default_prompt_is_sams_box():
    assert make_config().prompt == "box"
    assert make_config("hqsam_gate_original").prompt == "box"  # the original runners' box
    assert {"box", "box-edges", "box-inclusive"} <= set(PROMPTS)
    assert prompt_boxes(np.zeros((0, 4, 4), bool), "box").shape == (0, 4)
