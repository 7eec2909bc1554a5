"""Test-only fault injection for refinement: HQ-SAM's embedding raises on chosen frames.

``install("2,3")`` makes ``HQSamRefiner.embed`` raise a RuntimeError on frames 2 and 3
(1-based frame numbers after the first, as ``TrackingSession.frame_index`` counts them);
``install("oom:2")`` raises a CUDA out-of-memory error on the first attempt of frame 2 only,
so the retry succeeds; ``install("dmaot:2")`` makes DMAOT's propagation raise on frame 2. ``CALLS`` records (frame, decode_batch) for every embed call. The
hook raises before computing, so failing frames cost no HQ-SAM time.
"""

from __future__ import annotations

from typing import List, Set, Tuple

CALLS: List[Tuple[int, int]] = []
_state = {"frame": -1}


def parse(spec: str) -> Tuple[str, Set[int]]:
    kind, _, frames = spec.rpartition(":")
    return (kind or "error"), {int(f) for f in frames.split(",") if f.strip()}


def install(spec: str, monkeypatch=None) -> None:
    """Patch TrackingSession.step (to know the frame) and HQSamRefiner.embed (to fail)."""
    import torch

    from vots_tracker.dmaot import Propagator
    from vots_tracker.refine.hqsam import HQSamRefiner
    from vots_tracker.server.session import TrackingSession

    kind, frames = parse(spec)
    real_step, real_embed, real_propagate = TrackingSession.step, HQSamRefiner.embed, Propagator.propagate
    failed_once: Set[int] = set()

    def step(self, frame, new_objects=None):
        _state["frame"] = self.frame_index + 1
        return real_step(self, frame, new_objects)

    def embed(self, frame):
        number = _state["frame"]
        CALLS.append((number, self.decode_batch))
        if number in frames:
            if kind == "oom" and number not in failed_once:
                failed_once.add(number)
                raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (injected on frame {number})")
            if kind == "error":
                raise RuntimeError(f"injected HQ-SAM fault on frame {number}")
        return real_embed(self, frame)

    def propagate(self, frame):
        if kind == "dmaot" and _state["frame"] in frames:
            raise RuntimeError(f"injected DMAOT fault on frame {_state['frame']}")
        return real_propagate(self, frame)

    set_attr = monkeypatch.setattr if monkeypatch is not None else setattr
    set_attr(TrackingSession, "step", step)
    set_attr(HQSamRefiner, "embed", embed)
    set_attr(Propagator, "propagate", propagate)
