"""A model-free multi-object TraX tracker for toolkit plumbing tests.

Every object keeps the mask it was initialised with (objects may arrive in later
frames). Run as ``python -m vots_static_tracker``; it exercises the toolkit side
(evaluate, results layout, analysis, pack) in seconds.
"""

import numpy as np
import trax


def _main() -> None:
    regions = []
    with trax.Server([trax.Region.MASK], [trax.Image.PATH], multiobject=True) as server:
        while True:
            request = server.wait()
            if request.type in (trax.TraxStatus.QUIT, trax.TraxStatus.ERROR):
                break
            if request.type == trax.TraxStatus.INITIALIZE:
                regions = []
            for region, _properties in request.objects or []:
                data = np.ascontiguousarray(np.asarray(region.array(False), dtype=np.uint8))
                if data.size == 0:
                    data = np.zeros((1, 1), dtype=np.uint8)
                x, y = region.offset()
                regions.append((data, int(x), int(y)))
            server.status([(trax.Mask.create(d, x, y), {}) for d, x, y in regions])


if __name__ == "__main__":
    _main()
