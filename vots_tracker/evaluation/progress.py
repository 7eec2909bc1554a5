"""The distributed runner's progress: one tqdm bar on stderr over tasks, frames per second, an ETA by frames."""

from __future__ import annotations

import logging
import sys
import time
from typing import Sequence

logger = logging.getLogger("vots_tracker.evaluation.distributed")  # the runner's log lines, one logger


class Progress:
    """One tqdm bar on stderr over tasks, with aggregate frames per second and an ETA by frames."""

    def __init__(self, tasks: Sequence, description: str):
        from tqdm import tqdm

        self.total_frames = sum(t.frames for t in tasks)
        self.done_frames = 0
        self.start = time.monotonic()
        self.bar = tqdm(total=len(tasks), desc=description, unit="task", file=sys.stderr, dynamic_ncols=True,
                        bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| [{elapsed}{postfix}]")
        self.tick()

    def tick(self) -> None:
        elapsed = max(time.monotonic() - self.start, 1e-6)
        fps = self.done_frames / elapsed
        if fps > 0:
            remaining = (self.total_frames - self.done_frames) / fps
            eta = time.strftime("%H:%M:%S", time.gmtime(remaining))
        else:
            eta = "?"
        self.bar.set_postfix_str(f"{fps:.2f} fps, ETA {eta}", refresh=True)

    def finished(self, outcome) -> None:  # a distributed.Outcome
        with self.bar.external_write_mode():  # the log line goes above the bar
            if outcome.ok:
                self.done_frames += outcome.frames
                logger.info("finished %s: %d frames in %.1f s on %s", outcome.key, outcome.frames, outcome.seconds,
                            outcome.worker)
            else:
                self.total_frames -= outcome.frames
                logger.error("FAILED %s after %d attempt(s): %s%s", outcome.key, outcome.attempts, outcome.error,
                             f"; log: {outcome.log}" if outcome.log else "")
        self.bar.update(1)
        self.tick()

    def close(self) -> None:
        self.bar.close()
