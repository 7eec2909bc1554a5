"""The tracker's per-sequence pipeline: DMAOT propagation, HQ-SAM refinement behind the IoU gate.

:class:`Tracker` owns the loaded models and nothing per-sequence, so one process
could serve many sequences. :class:`TrackingSession` owns one sequence: the
DMAOT memory, the refinement state (re-detection filters) and the objects in
arrival order. The protocol layer and ``vots-tracker track`` both drive it
through :meth:`TrackingSession.step`.

Per frame (after the first):
  1. the HQ-SAM image embedding starts in a worker thread (it depends only on
     the frame; on CUDA it runs on its own stream), while DMAOT propagates
     every object's mask;
  2. HQ-SAM decodes proposals for all objects in one batch and the gate keeps
     a proposal only where it agrees with DMAOT (IoU > tau);
  3. objects that arrive on this frame are added with their given masks;
  4. DMAOT's memory is written with its own prediction, or with the final
     masks when the cycle prior is on.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional

import numpy as np

from ..config import TrackerConfig
from ..errors import UserError

logger = logging.getLogger(__name__)


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available on this machine")
    return device


def check_frame(frame: np.ndarray) -> np.ndarray:
    """Return the frame as HxWx3 uint8, or raise ValueError naming what is wrong."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be HxW or HxWx3, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {frame.dtype}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise ValueError(f"frame is too small: {frame.shape[1]}x{frame.shape[0]}")
    return np.ascontiguousarray(frame)


def check_mask(mask: np.ndarray, frame_shape, what: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != tuple(frame_shape[:2]):
        raise ValueError(
            f"{what}: mask is {mask.shape[1]}x{mask.shape[0]} but the frame is {frame_shape[1]}x{frame_shape[0]}"
        )
    return mask.astype(bool, copy=False)


def claim_new_objects(final: Dict[int, np.ndarray], new_objects: Mapping[int, np.ndarray]) -> Dict[int, np.ndarray]:
    """Add the objects that arrive on this frame: a new object's given mask is authoritative,
    so older objects lose those pixels (pure; the tracker and the sweep both use it)."""
    if not new_objects:
        return final
    claimed = np.logical_or.reduce([np.asarray(mask, dtype=bool) for mask in new_objects.values()])
    final = {object_id: mask & ~claimed for object_id, mask in final.items()}
    final.update(new_objects)
    return final


@dataclass
class FrameTiming:
    """Seconds spent in each stage of the last frame (for benchmarks and debug logs)."""

    propagate: float = 0.0
    embed_wait: float = 0.0
    refine: float = 0.0
    memory: float = 0.0
    total: float = 0.0


class Tracker:
    """Loaded models for one configuration; stateless between sequences."""

    def __init__(self, config: TrackerConfig, dmaot_model, refiner=None, device=None, options=None):
        from ..components import component_options

        self.config = config
        self.dmaot_model = dmaot_model
        self.refiner = refiner
        self.device = device
        self.options = options or component_options(config)

    @classmethod
    def from_config(cls, config: TrackerConfig) -> "Tracker":
        """Build and load every model the configuration names. Raises UserError for missing checkpoints."""
        import torch

        from .. import dmaot
        from ..components import component_options, dmaot_checkpoint, sam_checkpoint
        from ..weights import registry

        config.validate()
        if config.threads:
            torch.set_num_threads(int(config.threads))
        device = resolve_device(config.device)
        options = component_options(config)
        dmaot_path = registry.resolve_checkpoint(dmaot_checkpoint(config), config.weights_dir)
        started = time.perf_counter()
        model = dmaot.build_model(config.model)
        dmaot.load_checkpoint(model, dmaot_path, device)
        logger.info("DMAOT %s loaded from %s in %.1f s on %s", config.model, dmaot_path, time.perf_counter() - started, device)

        refiner = None
        if options.refiner is not None:
            from ..refine.refiners import make_refiner

            sam_path = registry.resolve_checkpoint(sam_checkpoint(config), config.weights_dir)
            started = time.perf_counter()
            refiner = make_refiner(checkpoint=sam_path, device=device, **options.refiner)
            logger.info("refiner %s loaded from %s in %.1f s", config.sam, sam_path, time.perf_counter() - started)
        elif config.sam != "none":
            logger.info("refinement off: --tau %s >= 1 accepts no HQ-SAM mask and --redetect is off, "
                     "so HQ-SAM %s is not loaded", config.tau, config.sam)
        return cls(config, model, refiner, device, options)

    def new_session(self) -> "TrackingSession":
        return TrackingSession(self)


def _overlap_pays(device) -> bool:
    """On a CPU held to one thread the overlap only adds a second busy thread: about 20% more
    CPU time and no reliable gain in wall time (BENCHMARKS.md), so it runs sequentially there."""
    import torch

    return device.type == "cuda" or torch.get_num_threads() > 1


class TrackingSession:
    """One sequence: objects in arrival order, DMAOT memory, refinement state."""

    def __init__(self, tracker: Tracker):
        from ..dmaot import Propagator

        self.tracker = tracker
        self.config = tracker.config
        self.propagator = Propagator(tracker.dmaot_model, tracker.options.engine, tracker.device)
        self.refinement = None
        if tracker.refiner is not None and tracker.options.refine is not None:
            from ..refine.faults import RefinementFaults
            from ..refine.stage import RefinementSession

            self.refinement = RefinementSession(tracker.refiner, tracker.options.refine)
            self.faults = RefinementFaults(tracker.refiner, self.config.max_refine_failures)
        self._executor: Optional[ThreadPoolExecutor] = None
        self._stream = None  # CUDA: the embedding's own stream, so it overlaps DMAOT's kernels
        if self.refinement is not None and self.config.parallel_embedding and _overlap_pays(tracker.refiner.device):
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hqsam-embed")
            device = tracker.refiner.device
            if device.type == "cuda":
                import torch

                self._stream = torch.cuda.Stream(device=device)
        self.object_ids: List[int] = []
        self.frame_index = -1
        self.frame_shape = None  # the first frame's; every later frame must match it
        self.reports: Dict[int, object] = {}
        self.timing = FrameTiming()
        self.decision_log = None  # a decision_log.DecisionLog once keep_decisions() is called

    def keep_decisions(self, path, tracker: Optional[str], sequence: str) -> None:
        """Write this sequence's gate decisions to ``path``, one flushed line per frame (only
        configurations that refine make decisions; otherwise nothing is written)."""
        if self.refinement is None:
            return
        from .decision_log import DecisionLog, header

        options = self.refinement.options
        self.decision_log = DecisionLog(path, header(tracker, sequence, options.tau, options.gate,
                                                     self.config.proposals))

    def _write_decisions(self, final: Dict[int, np.ndarray], present, given, fault: Optional[str] = None) -> None:
        if self.decision_log is not None:
            from .decision_log import frame_record

            self.decision_log.write(frame_record(self.frame_index, self.object_ids, final, self.reports,
                                                 present, given, fault))

    def step(self, frame: np.ndarray, new_objects: Optional[Mapping[int, np.ndarray]] = None) -> Dict[int, np.ndarray]:
        """Track one frame; ``new_objects`` are objects that appear on it (id -> mask at frame size).

        Returns a mask for every object seen so far, in arrival order (an empty mask: absent).
        """
        import torch

        started = time.perf_counter()
        frame = check_frame(frame)
        new_objects = dict(new_objects or {})
        for object_id, mask in list(new_objects.items()):
            if object_id in self.object_ids:
                raise ValueError(f"object id {object_id} was already added on an earlier frame")
            new_objects[object_id] = check_mask(mask, frame.shape, f"object {object_id}")
        if self.frame_shape is not None and frame.shape != self.frame_shape:
            raise ValueError(f"frame {self.frame_index + 2} is {frame.shape[1]}x{frame.shape[0]}, but the sequence "
                             f"started with {self.frame_shape[1]}x{self.frame_shape[0]} frames")
        self.frame_index += 1
        timing = FrameTiming()

        with torch.inference_mode():
            if self.frame_index == 0:
                if not new_objects:
                    raise ValueError("the first frame must bring at least one object")
                self.frame_shape = frame.shape
                self.propagator.add_objects(new_objects, frame=frame)
                self.object_ids.extend(new_objects)
                result = {object_id: new_objects[object_id] for object_id in self.object_ids}
                self.reports = {}
                self._write_decisions(result, (), new_objects)
            else:
                result = self._track(frame, new_objects, timing)

        timing.total = time.perf_counter() - started
        self.timing = timing
        logger.debug(
            "frame %d: %d objects, %.3f s (propagate %.3f, embed wait %.3f, refine %.3f, memory %.3f)",
            self.frame_index, len(self.object_ids), timing.total, timing.propagate,
            timing.embed_wait, timing.refine, timing.memory,
        )
        return result

    def _track(self, frame: np.ndarray, new_objects: Dict[int, np.ndarray], timing: FrameTiming) -> Dict[int, np.ndarray]:
        coarse, pending = self._propagate(frame, timing)
        final, self.reports = coarse, {}
        fault = "off" if self.refinement is not None and pending is None else None
        if pending is not None:
            refined = self.faults.attempt(self.frame_index, len(coarse),
                                          lambda: self._refine(frame, coarse, pending, timing))
            if refined is not None:
                final, self.reports = refined
            else:
                fault = "failed"
                if self.refinement.redetector is not None:
                    self.refinement.redetector.observe(final)  # the filters still step once per frame
        final = claim_new_objects(final, new_objects)
        self._add_objects(new_objects)
        self._update_memory(final if self.config.cycle and self.refinement is not None else None, timing)
        if self.decision_log is not None:
            self._write_decisions(final, [i for i in coarse if np.asarray(coarse[i]).any()], new_objects, fault)
        return {object_id: final[object_id] for object_id in self.object_ids}

    def _propagate(self, frame: np.ndarray, timing: FrameTiming):
        """DMAOT's masks for the frame and, when refining, the embedding's future (computed meanwhile).

        The second item is None when not refining; else a list holding the worker's future, or
        empty when the embedding is computed in this thread (see :meth:`_refine`).
        """
        refining = self.refinement is not None and self.faults.enabled
        embedding_future: Optional[Future] = None
        if refining and self._executor is not None:
            embedding_future = self._executor.submit(self._embed, frame)

        t0 = time.perf_counter()
        coarse = self.propagator.propagate(frame)
        timing.propagate = time.perf_counter() - t0
        if not refining:
            return coarse, None
        return coarse, [embedding_future] if embedding_future is not None else []

    def _add_objects(self, new_objects: Dict[int, np.ndarray]) -> None:
        if new_objects:
            self.propagator.add_objects(new_objects)
            self.object_ids.extend(new_objects)

    def _update_memory(self, final: Optional[Dict[int, np.ndarray]], timing: FrameTiming) -> None:
        """Write DMAOT's memory: with its own prediction (None), or with the final masks (cycle prior)."""
        t0 = time.perf_counter()
        self.propagator.update_memory(final)
        timing.memory = time.perf_counter() - t0

    def _refine(self, frame: np.ndarray, coarse: Dict[int, np.ndarray], pending: List[Future], timing: FrameTiming):
        """HQ-SAM and the gate for one frame: (final masks, per-object reports). May raise: see RefinementFaults.

        ``pending`` holds the embedding started in the worker, taken by the first attempt; a retry
        computes the embedding again, in this thread.
        """
        embedding = self._take_embedding(frame, pending, timing)
        t0 = time.perf_counter()
        refined = self.refinement.refine(embedding, coarse)
        timing.refine = time.perf_counter() - t0
        return refined

    def _take_embedding(self, frame: np.ndarray, pending: List[Future], timing: FrameTiming):
        """The frame's HQ-SAM embedding: the worker's (from ``pending``, once), else computed here."""
        t0 = time.perf_counter()
        if pending:
            embedding = self._receive(pending.pop().result())
        else:
            embedding = self._embed(frame)[0]
        timing.embed_wait = time.perf_counter() - t0
        return embedding

    def _embed(self, frame: np.ndarray):
        """(embedding, CUDA event marking its completion or None)."""
        import torch

        # inference_mode is thread-local: the worker needs its own.
        with torch.inference_mode():
            if self._stream is None:
                return self.tracker.refiner.embed(frame), None
            with torch.cuda.stream(self._stream):
                embedding = self.tracker.refiner.embed(frame)
                done = torch.cuda.Event()
                done.record(self._stream)
            return embedding, done

    def _receive(self, produced):
        """Make an embedding computed on the side stream safe to use on the current stream."""
        embedding, done = produced
        if done is not None:
            import torch

            current = torch.cuda.current_stream(self._stream.device)
            current.wait_event(done)
            # The tensors were allocated on the side stream: keep the caching allocator from
            # reusing their memory before the current stream has finished reading them.
            embedding.features.record_stream(current)
            if embedding.hq_features is not None:  # vanilla SAM has none
                embedding.hq_features.record_stream(current)
        return embedding

    def close(self) -> None:
        if self.decision_log is not None:
            self.decision_log.close()
        if self.refinement is not None and self.frame_index > 0:
            logger.info("sequence report: %d frame(s), %d object(s); %s", self.frame_index + 1, len(self.object_ids),
                     self.faults.summary(self.frame_index))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __enter__(self) -> "TrackingSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
