"""A deliberately slow, model-free multi-object TraX tracker for realtime-experiment tests.

Every request sleeps ``$VOTS_TEST_SLEEP`` seconds (trackers.ini ``env_VOTS_TEST_SLEEP``) before
answering, so that a realtime experiment skips frames. Its answers tell the requests apart:
on the K-th request after the initialisation (K = 1, 2, ...) object number J (0-based, arrival
order) is the 2x2 square with its top-left pixel at (x=2K, y=2J) (the toolkit reads a 1x1 mask
as empty); the initialisation answers with the given masks. A
frame whose stored region repeats the previous one was therefore never sent to the tracker.
Run as ``python -m vots_slow_tracker``.
"""

import os
import time

import numpy as np
import trax


def _main() -> None:
    pause = float(os.environ.get("VOTS_TEST_SLEEP", "0.1"))
    objects, requests = [], 0
    with trax.Server([trax.Region.MASK], [trax.Image.PATH], multiobject=True) as server:
        while True:
            request = server.wait()
            if request.type in (trax.TraxStatus.QUIT, trax.TraxStatus.ERROR):
                break
            time.sleep(pause)
            if request.type == trax.TraxStatus.INITIALIZE:
                objects, requests = [], 0
                for region, _properties in request.objects or []:
                    data = np.ascontiguousarray(np.asarray(region.array(False), dtype=np.uint8))
                    objects.append((data, *(int(v) for v in region.offset())))
                server.status([(trax.Mask.create(data, x, y), {}) for data, x, y in objects])
                continue
            requests += 1
            square = np.ones((2, 2), dtype=np.uint8)
            server.status([(trax.Mask.create(square, 2 * requests, 2 * j), {}) for j in range(len(objects))])


if __name__ == "__main__":
    _main()
