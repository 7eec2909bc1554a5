"""Kalman re-detection: triggers only for lost objects, and its strict acceptance rule."""

import numpy as np

from vots_tracker.refine.redetect import BoxKalman, Redetector


def box_mask(x, y, w=10, h=10, shape=(60, 100)):
    mask = np.zeros(shape, dtype=bool)
    mask[y : y + h, x : x + w] = True
    return mask


def test_kalman_follows_constant_velocity():
    kalman = BoxKalman(np.array([0, 0, 10, 10]))
    for t in range(1, 8):
        kalman.predict()
        kalman.update(np.array([3 * t, 0, 3 * t + 10, 10]))
    predicted = kalman.predict()
    assert abs((predicted[0] + predicted[2]) / 2 - (3 * 8 + 5)) < 2.0


def track_moving(redetector, frames=6):
    for t in range(frames):
        redetector.observe({1: box_mask(10 + 4 * t, 20), 2: box_mask(70, 40)})


def test_only_lost_objects_are_redetected():
    redetector = Redetector()
    track_moving(redetector)
    boxes = redetector.lost_boxes({1: np.zeros((60, 100), bool), 2: box_mask(70, 40), 3: np.zeros((60, 100), bool)})
    assert list(boxes) == [1]  # 2 is present, 3 was never seen
    centre = (boxes[1][0] + boxes[1][2]) / 2
    assert abs(centre - (10 + 4 * 6 + 5)) < 3.0


def test_acceptance_rejects_distractors_and_accepts_the_object():
    redetector = Redetector()
    track_moving(redetector)
    redetector.lost_boxes({1: np.zeros((60, 100), bool), 2: box_mask(70, 40)})
    others = box_mask(70, 40)
    right_place = box_mask(34, 20)
    far_away = box_mask(0, 45)
    too_big = box_mask(30, 15, 30, 30)
    on_other_object = box_mask(70, 40)
    scores = np.array([0.95, 0.95, 0.95, 0.95])
    candidates = np.stack([far_away, too_big, on_other_object, right_place])
    assert redetector.accept(1, candidates, scores, others) == 3
    assert redetector.accept(1, candidates[:3], scores[:3], others) is None
    assert redetector.accept(1, right_place[None], np.array([0.5]), others) is None  # low predicted IoU


def test_gives_up_after_max_lost_frames():
    redetector = Redetector()
    redetector.options.max_lost = 2
    track_moving(redetector)
    empty = {1: np.zeros((60, 100), bool), 2: box_mask(70, 40)}
    for _ in range(2):
        assert list(redetector.lost_boxes(empty)) == [1]
        redetector.observe(empty)
    assert redetector.lost_boxes(empty) == {}


class CountingKalman(BoxKalman):
    """Counts predict steps; the redetector must step each filter exactly once per frame."""

    def __init__(self, box):
        super().__init__(box)
        self.steps = 0

    def predict(self):
        self.steps += 1
        return super().predict()


def counting_redetector(frames=4):
    redetector = Redetector()
    redetector.observe({1: box_mask(10, 20)})
    redetector.tracks[1].kalman = CountingKalman(np.array([10, 20, 20, 30]))
    for t in range(1, frames):
        redetector.observe({1: box_mask(10 + 4 * t, 20)})
    assert redetector.tracks[1].kalman.steps == frames - 1
    return redetector


def test_an_object_redetected_on_its_first_lost_frame_is_predicted_once():
    redetector = counting_redetector()
    kalman = redetector.tracks[1].kalman
    before = kalman.steps
    boxes = redetector.lost_boxes({1: np.zeros((60, 100), bool)})
    assert list(boxes) == [1] and kalman.steps == before + 1
    redetector.observe({1: box_mask(26, 20)})  # re-detected on this frame
    assert kalman.steps == before + 1
    assert redetector.tracks[1].lost == 0


def test_an_object_found_again_by_dmaot_after_lost_frames_is_predicted_on_that_frame():
    redetector = counting_redetector()
    kalman = redetector.tracks[1].kalman
    before = kalman.steps
    lost_frames = 3
    for _ in range(lost_frames):
        redetector.lost_boxes({1: np.zeros((60, 100), bool)})
        redetector.observe({1: np.zeros((60, 100), bool)})
    assert kalman.steps == before + lost_frames and redetector.tracks[1].lost == lost_frames
    assert redetector.lost_boxes({1: box_mask(40, 20)}) == {}  # DMAOT sees it again: nothing to re-detect
    redetector.observe({1: box_mask(40, 20)})
    assert kalman.steps == before + lost_frames + 1
    assert redetector.tracks[1].lost == 0


def test_lost_frames_without_a_redetection_query_still_step_the_filter():
    redetector = counting_redetector()
    kalman = redetector.tracks[1].kalman
    before = kalman.steps
    redetector.observe({1: np.zeros((60, 100), bool)})  # e.g. refinement failed on this frame
    assert kalman.steps == before + 1
