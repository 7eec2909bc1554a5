"""Refinement faults cost a frame, not a sequence.

HQ-SAM can fail on one frame (a CUDA out-of-memory on a crowded frame, a bad
box) while DMAOT's masks for that frame are fine. :class:`RefinementFaults` runs
a frame's refinement and, on any exception, returns nothing so that the caller
keeps DMAOT's masks; the cause is logged as a WARNING and the frame is counted.
A CUDA out-of-memory first frees the allocator's cache and retries once with
half the mask-decoder batch. After ``max_consecutive`` failed frames in a row
refinement is turned off for the rest of the sequence (one ERROR line).
"""

from __future__ import annotations

import gc
import logging
from typing import Callable, List, Optional, TypeVar

from ..errors import first_line

logger = logging.getLogger(__name__)

T = TypeVar("T")


def is_out_of_memory(error: BaseException) -> bool:
    import torch

    return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error).lower()


def free_accelerator_cache() -> None:
    import torch

    gc.collect()  # drop tensors held only by the failed attempt's frames
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class RefinementFaults:
    """Per-sequence record of refinement failures, and the policy applied to them."""

    def __init__(self, refiner, max_consecutive: int):
        self.refiner = refiner  # its decode_batch is lowered for an out-of-memory retry
        self.max_consecutive = max(1, int(max_consecutive))
        self.failed_frames: List[int] = []
        self.consecutive = 0
        self.disabled_at: Optional[int] = None  # frame index on which refinement was turned off

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    def attempt(self, frame_index: int, object_count: int, refine: Callable[[], T]) -> Optional[T]:
        """``refine()``'s result, or None when it failed (the caller keeps DMAOT's masks)."""
        try:
            result = self._with_memory_retry(frame_index, object_count, refine)
        except Exception as error:  # any HQ-SAM fault: degrade to DMAOT for this frame
            self.failed_frames.append(frame_index)
            self.consecutive += 1
            logger.warning("frame %d: refinement failed, keeping DMAOT's masks: %s: %s",
                        frame_index, type(error).__name__, first_line(error))
            if self.consecutive >= self.max_consecutive:
                self.disabled_at = frame_index
                logger.error("refinement failed on %d consecutive frames; turned off for the rest of this sequence "
                          "(DMAOT only from frame %d)", self.consecutive, frame_index + 1)
            return None
        self.consecutive = 0
        return result

    def _with_memory_retry(self, frame_index: int, object_count: int, refine: Callable[[], T]) -> T:
        try:
            return refine()
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            saved = self.refiner.decode_batch
            smaller = max(1, (saved or object_count) // 2)
            logger.warning("frame %d: out of memory in refinement; freed the cache, retrying with decode batch %d",
                        frame_index, smaller)
        free_accelerator_cache()  # outside the except block: the traceback no longer pins the tensors
        self.refiner.decode_batch = smaller
        try:
            return refine()
        finally:
            self.refiner.decode_batch = saved

    def summary(self, frames: int) -> str:
        """One line for the session report."""
        if not self.failed_frames:
            return f"refinement ran on all {frames} frame(s)"
        shown = ", ".join(str(i) for i in self.failed_frames[:10])
        more = ", ..." if len(self.failed_frames) > 10 else ""
        off = f"; turned off from frame {self.disabled_at + 1}" if self.disabled_at is not None else ""
        return f"refinement failed on {len(self.failed_frames)} of {frames} frame(s) ({shown}{more}){off}"
