"""HQ-SAM refinement behind an IoU gate.

- ``hqsam``: the official HQ-SAM models (one image embedding per frame, all objects decoded in one batch).
- ``sam21``: SAM 2.1 (the official ``sam2`` package) behind the same interface; ``refiners`` picks one by size.
- ``held``: what a checkpoint file holds, in words (for one-line errors about the wrong file).
- ``prompts``: prompts built from DMAOT masks (box, box+mask, box+points).
- ``gate``: the IoU gate, a pure function.
- ``overlap``: overlap resolution (every pixel to at most one object).
- ``redetect``: Kalman box prediction and the strict acceptance rule for lost objects.
- ``stage``: per-sequence refinement state, what the tracking session calls.
"""
