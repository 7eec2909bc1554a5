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
