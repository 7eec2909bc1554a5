"""Timing part of benchmarks/gpu_check.py: per-stage frame times of the real session, the reference anchor.

Stages are timed by wrapping the session's own calls: ``propagate`` = DMAOT propagation plus
its memory write, ``embed`` = the HQ-SAM image embedding (on its side stream / worker thread
when overlapped, so stages can sum to more than the frame), ``decode`` = the HQ-SAM mask
decoder for all objects, ``gate`` = the IoU gate plus overlap resolution (CPU work). On CUDA
every interval is a pair of CUDA events recorded on the stream that ran it, read after the
frame; on a CPU, perf_counter. Frames before ``warmup`` are excluded; figures are medians.
"""

from __future__ import annotations

import resource
import statistics
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from synthetic import moving_blobs
from vots_tracker.refine import stage as refine_stage

STAGES = ("propagate", "embed", "decode", "gate")


class StageClock:
    """Records (stage, start, end) marks around wrapped calls; `collect` turns them into ms per stage."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.marks: List = []
        self._restore: List[Callable[[], None]] = []

    def mark(self):
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()  # on the calling thread's current stream (the side stream for the embedding)
        return event

    def elapsed_ms(self, start, end) -> float:
        return start.elapsed_time(end) if self.cuda else (end - start) * 1000.0

    def wrap(self, owner, name: str, stage: str) -> None:
        original = getattr(owner, name)
        own = name in vars(owner)

        def timed(*args, **kwargs):
            start = self.mark()
            try:
                return original(*args, **kwargs)
            finally:
                self.marks.append((stage, start, self.mark()))

        setattr(owner, name, timed)
        self._restore.append((lambda: setattr(owner, name, original)) if own else (lambda: delattr(owner, name)))

    def collect(self) -> Dict[str, float]:
        if self.cuda:
            torch.cuda.synchronize()
        totals = {name: 0.0 for name in STAGES}
        for stage_name, start, end in self.marks:
            totals[stage_name] += self.elapsed_ms(start, end)
        self.marks = []
        return totals

    def restore(self) -> None:
        while self._restore:
            self._restore.pop()()


def measure(tracker, clip, warmup: int, setting: Optional[Callable] = None, keep_masks: bool = False) -> Dict:
    """Track the clip with a fresh session; per-stage medians over frames after `warmup` (frame 0 excluded)."""
    session = tracker.new_session()
    clock = StageClock(tracker.device)
    if setting is not None:
        setting(session)
    clock.wrap(session.propagator, "propagate", "propagate")
    clock.wrap(session.propagator, "update_memory", "propagate")
    if tracker.refiner is not None:
        clock.wrap(tracker.refiner, "embed", "embed")
        clock.wrap(tracker.refiner, "propose_sets", "decode")  # every decoder pass goes through it
        clock.wrap(refine_stage, "apply_gate", "gate")  # the IoUs and the gate
        clock.wrap(refine_stage, "settle_overlaps", "gate")
    if tracker.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(tracker.device)
    rows, masks, first_frames_ms = [], [], 0.0
    try:
        for t, (frame, new) in enumerate(clip):
            start = clock.mark()
            out = session.step(frame, new if t == 0 else None)
            end = clock.mark()
            stages = clock.collect()
            total = clock.elapsed_ms(start, end)
            if t <= 1:  # the reference frame and the first tracked frame (compilation, lazy init)
                first_frames_ms += total
            if t > warmup:
                rows.append({"total": total, **stages})
                if keep_masks:
                    masks.append(np.stack(list(out.values())))
    finally:
        clock.restore()
        session.close()
    result = {key: statistics.median(r[key] for r in rows) for key in ("total", *STAGES)}
    result = {f"{key}_ms": round(value, 3) for key, value in result.items()}
    result["fps"] = round(1000.0 / result["total_ms"], 2)
    result["frames_measured"] = len(rows)
    result["first_two_frames_ms"] = round(first_frames_ms, 1)
    result["peak_memory_mib"] = round(_peak_mib(tracker.device), 1)
    if keep_masks:
        result["_masks"] = masks
    return result


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # process peak RSS


def grid_clip(frames: int, height: int, width: int, objects: int, seed: int = 0):
    """Textured background, one coloured block per grid cell moving right: [(frame, {id: mask})].

    Unlike tests/synthetic.moving_blobs (blocks side by side), any object count fits any frame.
    """
    base = moving_blobs(1, height, width, objects=0, seed=seed)[0][0]
    columns = int(np.ceil(np.sqrt(objects)))
    rows = int(np.ceil(objects / columns))
    cell_h, cell_w = height // rows, width // columns
    clip = []
    for t in range(frames):
        frame, masks = base.copy(), {}
        for k in range(objects):
            r, c = divmod(k, columns)
            mask = np.zeros((height, width), bool)
            y0 = r * cell_h + cell_h // 4
            x0 = c * cell_w + (cell_w // 8) + (t * max(1, cell_w // 32)) % max(1, cell_w // 4)
            mask[y0:y0 + max(2, cell_h // 2), x0:x0 + max(2, cell_w // 2)] = True
            frame[mask] = ((97 * (k + 1)) % 255, (53 * (k + 2)) % 255, (151 * (k + 3)) % 255)
            masks[k + 1] = mask
        clip.append((frame, masks))
    return clip


def timing_clip(size, objects: int, frames: int):
    return grid_clip(frames, *size, objects=objects)


# ----------------------------------------------------------------------------- reference anchor

def _inputs_to(engine, device: torch.device) -> None:
    """The reference engine is device-agnostic except that its driver makes CPU tensors: move them."""

    def moved(method):
        def call(*args, **kwargs):
            args = [a.to(device) if isinstance(a, torch.Tensor) else a for a in args]
            kwargs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
            return method(*args, **kwargs)
        return call

    for name in ("add_reference_frame", "match_propogate_one_frame", "update_memory"):
        setattr(engine, name, moved(getattr(engine, name)))


def reference_anchor(model_name: str, device: torch.device, clip, warmup: int) -> Dict:
    """The reference DMAOT engine (deaotpy) on the same device and frames: ms per propagated frame."""
    from tests.dmaot.reference import ReferenceRunner, build_reference_model

    cfg, model = build_reference_model(model_name, seed=0, long_max=10)
    runner = ReferenceRunner(cfg, model.to(device), long_gap=30, short_gap=2, max_edge=1040)
    _inputs_to(runner.engine, device)
    clock = StageClock(device)
    first, masks = clip[0]
    labels = np.zeros(first.shape[:2], np.int64)
    for k, mask in enumerate(masks.values()):
        labels[mask] = k + 1
    times = []
    with torch.no_grad():
        runner.start(first, labels)
        for t, (frame, _) in enumerate(clip[1:], start=1):
            start = clock.mark()
            logits = runner.propagate(frame)
            runner.update_memory(logits.argmax(1)[0].cpu().numpy())
            end = clock.mark()
            clock.collect()
            if t > warmup:
                times.append(clock.elapsed_ms(start, end))
    del runner, model
    return {"total_ms": round(statistics.median(times), 3), "frames_measured": len(times)}
