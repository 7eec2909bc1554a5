"""Per-sequence mask propagation with an AOT-family model: the public tracking API.

Protocol per sequence::

    prop.add_objects({id: mask}, first_frame)        # reference frame
    for frame in later_frames:
        masks = prop.propagate(frame)                 # predict; memory untouched
        prop.add_objects({new_id: mask})              # optional: objects appearing on this frame
        prop.update_memory(refined_masks_or_None)     # write this frame to memory

Objects added on a later frame follow aot-benchmark's evaluator: the new masks are pasted over
the prediction, and each identity group that gains objects takes the current frame as an extra
reference frame (kept for good, short-term memory restarted). Groups that gain nothing are only
updated by `update_memory`, once (the reference DeAOT engine also updates them a second time).

Frames are processed at the longest-edge cap `max_edge`, snapped to the model's stride; masks
come back at the size of the frame given. Preprocessing follows the original DMAOT VOTS runner
step by step: the uint8 frame is resized (bicubic, so values are rounded and clipped to 0..255),
then scaled to [0, 1] and normalised in float64 and handed to the model as float32; the label map
is argmax(softmax(logits)) at frame size, resized (nearest) to the processing size for memory. A frame whose size differs from the first frame's is
resized to the same processing size (a warning is logged once) and answered at its own size.
More than 10 objects use extra identity groups that share each frame's encoder features.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Set, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..runtime.accel import upload
from .engine import IdentityGroup
from .models import DMAOTModel
from .specs import MAX_OBJECTS_PER_GROUP

logger = logging.getLogger(__name__)

STRIDE = 16
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class EngineConfig:
    long_max: int = 10  # long-term frames kept per object (DM) or per group (AOT/DeAOT)
    long_gap: int = 30  # frames between long-term memory writes
    short_gap: int = 2  # the short-term memory is the frame this many writes back
    max_edge: Optional[int] = 1040  # cap on the longest processed edge; 0/None: no cap
    amp: Optional[str] = None  # None, 'bf16' or 'fp16' (CUDA only)

    def __post_init__(self) -> None:
        if self.long_max < 1 or self.long_gap < 1 or self.short_gap < 1:
            raise ValueError(f"long_max, long_gap and short_gap must be >= 1: {self}")
        if self.amp not in (None, *_AMP_DTYPES):
            raise ValueError(f"amp must be None, 'bf16' or 'fp16', not {self.amp!r}")


def processing_size(height: int, width: int, max_edge: Optional[int], align_corners: bool) -> Tuple[int, int]:
    """aot-benchmark's test-time size: longest edge capped, then snapped to 16k (+1 if corner-aligned)."""
    scale = 1.0
    if max_edge and max(height, width) > max_edge:
        scale = float(max_edge) / max(height, width)
    size = []
    for edge in (int(height * scale), int(width * scale)):
        if align_corners:
            if (edge - 1) % STRIDE:
                edge = int(np.around((edge - 1) / STRIDE) * STRIDE + 1)
            edge = max(edge, STRIDE + 1)
        else:
            if edge % STRIDE:
                edge = int(np.around(edge / STRIDE) * STRIDE)
            edge = max(edge, STRIDE)
        size.append(edge)
    return size[0], size[1]


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB (or grayscale) arrays, got dtype {frame.dtype}")
    if frame.ndim == 2:
        frame = frame[:, :, None]
    if frame.ndim != 3 or frame.shape[2] not in (1, 3) or frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"frames must be HxWx3 RGB or HxW grayscale, got shape {frame.shape}")
    return np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame


class Propagator:
    """Tracks the objects of one sequence; the model itself stays stateless and shareable."""

    pinned_uploads = False  # frames to CUDA from page-locked memory (vots_tracker.runtime.accel; measured by gpu_check)

    def __init__(self, model: DMAOTModel, config: Optional[EngineConfig] = None, device=None) -> None:
        self.model = model
        self.config = config or EngineConfig()
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self._amp = _AMP_DTYPES.get(self.config.amp) if self.device.type == "cuda" else None
        if self.config.amp and self._amp is None:
            logger.warning("amp=%s ignored on %s: autocast is used on CUDA only", self.config.amp, self.device)
        # float64, as the runner normalises (numpy on uint8 / 255.); the model gets float32
        self._mean = torch.tensor(_MEAN, dtype=torch.float64, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(_STD, dtype=torch.float64, device=self.device).view(1, 3, 1, 1)
        self._ids: List[int] = []  # external ids; internal identity k+1 is self._ids[k]
        self._groups: List[IdentityGroup] = []
        self._frame = -1
        self._first_size: Optional[Tuple[int, int]] = None
        self._size: Optional[Tuple[int, int]] = None  # processing size
        self._feats: Optional[List[torch.Tensor]] = None  # current frame's encoder features
        self._labels: Optional[torch.Tensor] = None  # current frame's label map at its own size
        self._awaiting_update = False
        self._warned_size = False
        # internal identities never yet written to memory with a pixel (an empty first mask):
        # DMAOT has no appearance for them, so they are kept out of the argmax (reported absent)
        self._unseen: Set[int] = set()

    # ------------------------------------------------------------------ public API

    @property
    def object_ids(self) -> List[int]:
        return list(self._ids)

    @property
    def frame_index(self) -> int:
        return self._frame

    @property
    def processing_size(self) -> Optional[Tuple[int, int]]:
        return self._size

    @property
    def label_map(self) -> Optional[np.ndarray]:
        """The current frame's labels at its own size: 0 background, k the k-th object in arrival order."""
        return None if self._labels is None else self._labels.cpu().numpy()

    @property
    def groups(self) -> List[IdentityGroup]:
        return list(self._groups)

    def add_objects(self, masks: Mapping[int, np.ndarray], frame: Optional[np.ndarray] = None) -> None:
        """Register objects. First call: `frame` is required and becomes the reference frame.

        Later calls add objects that appear on the frame given to the last `propagate()`;
        `frame` may be omitted: the features computed by `propagate()` are used either way (a
        frame given here is only checked against the masks' size). Masks are HxW at that frame's size.
        An empty mask registers the object as absent (a warning is logged).
        """
        if not masks:
            raise ValueError("add_objects() needs at least one object mask")
        with torch.inference_mode(), self._autocast():
            if self._frame < 0:
                self._start(masks, frame)
            else:
                self._add_later(masks, frame)

    def propagate(self, frame: np.ndarray) -> Dict[int, np.ndarray]:
        """Predict every object's mask on `frame` (full-size bool arrays; empty = absent)."""
        self.propagate_logits(frame)
        return self._masks_from_labels(self._labels)

    def propagate_logits(self, frame: np.ndarray) -> torch.Tensor:
        """Like `propagate`, returning the logits (1, objects+1, H, W): background, then objects in order."""
        if self._frame < 0:
            raise RuntimeError("add_objects(masks, first_frame) must come before propagate()")
        if self._awaiting_update:
            logger.warning("update_memory() was not called for frame %d; storing the prediction", self._frame)
            self.update_memory()
        rgb = _as_rgb(frame)
        with torch.inference_mode(), self._autocast():
            feats = self.model.encode(self._prepare(rgb))
            out_size = rgb.shape[:2]
            logits = [self._upsample(group.propagate(feats), out_size) for group in self._groups]
            logits = logits[0] if len(logits) == 1 else self._merge_groups(logits)
            if self._unseen:
                logits[:, sorted(self._unseen)] = torch.finfo(logits.dtype).min
            # softmax first, as the runner: where two close logits round to the same
            # probability, argmax takes the first of them
            self._labels = torch.argmax(torch.softmax(logits, dim=1), dim=1)[0]
        self._frame += 1
        self._feats = feats
        self._awaiting_update = True
        return logits

    def update_memory(self, masks: Optional[Mapping[int, np.ndarray]] = None) -> None:
        """Write the current frame into memory, labelled by `masks` (refined) or by the prediction."""
        if not self._awaiting_update:
            if self._frame == 0:  # the reference frame is already in memory
                logger.debug("update_memory() after the reference frame: nothing to do")
                return
            raise RuntimeError("update_memory() must follow propagate(), once per frame")
        labels = self._labels if masks is None else self._labels_from_masks(masks, tuple(self._labels.shape))
        self._mark_seen(labels)
        with torch.inference_mode(), self._autocast():
            processed = self._to_processing_size(labels)
            for index, group in enumerate(self._groups):
                group.commit(self._group_labels(processed, index), self._frame, self._feats[-1].shape[-2:])
        self._awaiting_update = False
        self._feats = None

    # ------------------------------------------------------------------ steps

    def _start(self, masks: Mapping[int, np.ndarray], frame: Optional[np.ndarray]) -> None:
        if frame is None:
            raise ValueError("the first add_objects() call needs the frame the masks belong to")
        rgb = _as_rgb(frame)
        self._check_new_masks(masks, rgb.shape[:2])
        self._first_size = rgb.shape[:2]
        self._size = processing_size(*self._first_size, self.config.max_edge, self.model.spec.align_corners)
        feats = self.model.encode(self._prepare(rgb))  # before registering: a failure leaves no trace
        new_ids = self._register(masks)
        labels = self._labels_from_masks(masks, self._first_size)
        self._frame = 0
        self._reference(feats, labels, range(len(self._groups)))
        for group in self._groups:  # frame 0 needs no update_memory(): free its material now
            group.discard_pending()
        self._labels = labels
        logger.debug("reference frame %s processed at %s with objects %s", self._first_size, self._size, new_ids)

    def _add_later(self, masks: Mapping[int, np.ndarray], frame: Optional[np.ndarray]) -> None:
        if not self._awaiting_update:
            raise RuntimeError("objects for a later frame are added after propagate() and before update_memory()")
        size = tuple(self._labels.shape)
        if frame is not None and _as_rgb(frame).shape[:2] != size:
            raise ValueError(f"frame size {np.asarray(frame).shape[:2]} is not the current frame's {size}")
        self._check_new_masks(masks, size)
        first_new = len(self._ids)
        self._register(masks)
        labels = self._labels.clone()
        pasted = self._labels_from_masks(masks, size)
        labels[pasted > 0] = pasted[pasted > 0]
        self._labels = labels
        touched = range(first_new // MAX_OBJECTS_PER_GROUP, len(self._groups))
        self._reference(self._feats, labels, touched)

    def _reference(self, feats: List[torch.Tensor], labels: torch.Tensor, group_indices) -> None:
        self._mark_seen(labels)
        processed = self._to_processing_size(labels)
        for index in group_indices:
            count = min(MAX_OBJECTS_PER_GROUP, len(self._ids) - index * MAX_OBJECTS_PER_GROUP)
            self._groups[index].reference_frame(feats, self._group_labels(processed, index), count, self._frame)

    def _check_new_masks(self, masks: Mapping[int, np.ndarray], size) -> None:
        """Validate before any state changes, so a bad call leaves the sequence as it was."""
        for key, mask in masks.items():
            if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key <= 0:
                raise ValueError(f"object ids must be positive integers, got {key!r}")
            if int(key) in self._ids:
                raise ValueError(f"object id {key} is already tracked")
            shape = np.shape(mask)
            if shape != tuple(size):
                raise ValueError(f"mask of object {key} has shape {shape}, the frame is {tuple(size)}")
            if not np.any(mask):
                logger.warning("object %s starts with an empty mask: tracked as absent until it shows up", key)

    def _mark_seen(self, labels: torch.Tensor) -> None:
        if self._unseen:
            self._unseen -= set(torch.unique(labels).tolist())

    def _register(self, masks: Mapping[int, np.ndarray]) -> List[int]:
        ids = [int(key) for key in masks]
        for key in ids:
            self._ids.append(key)
            self._unseen.add(len(self._ids))
            if len(self._ids) > len(self._groups) * MAX_OBJECTS_PER_GROUP:
                cfg = self.config
                self._groups.append(IdentityGroup(self.model, cfg.long_max, cfg.long_gap, cfg.short_gap))
        return ids

    # ------------------------------------------------------------------ tensors

    def _autocast(self):
        return torch.autocast("cuda", dtype=self._amp) if self._amp is not None else nullcontext()

    def _prepare(self, rgb: np.ndarray) -> torch.Tensor:
        """uint8 RGB -> normalised float32 (1, 3, h, w) at processing size, in the runner's order.

        The uint8 frame is resized first (cv2 bicubic rounds and clips to 0..255), as the
        original VOTS runner's MultiRestrictSize does; aot-benchmark's evaluator resized the
        float image instead, which differs by up to ~25 grey levels at sharp edges.
        """
        if rgb.shape[:2] != self._first_size and not self._warned_size:
            logger.warning("frame size %s differs from the first frame's %s; resizing to the processing size %s",
                        rgb.shape[:2], self._first_size, self._size)
            self._warned_size = True
        if rgb.shape[:2] != self._size:
            rgb = cv2.resize(rgb, (self._size[1], self._size[0]), interpolation=cv2.INTER_CUBIC)
        x = upload(rgb, self.device, self.pinned_uploads).permute(2, 0, 1)[None]  # uint8: a quarter of float32
        return ((x.double() / 255.0 - self._mean) / self._std).float()

    def _upsample(self, logits: torch.Tensor, size) -> torch.Tensor:
        return F.interpolate(logits.float(), size=tuple(size), mode="bilinear",
                             align_corners=self.model.spec.align_corners)

    @staticmethod
    def _merge_groups(logits: List[torch.Tensor]) -> torch.Tensor:
        """Combine groups as probabilities: background = product of the groups' backgrounds."""
        probs = [torch.softmax(x, dim=1) for x in logits]
        background = torch.prod(torch.cat([p[:, :1] for p in probs], dim=1), dim=1, keepdim=True)
        merged = torch.cat([background] + [p[:, 1:] for p in probs], dim=1)
        return torch.logit(merged.clamp(1e-5, 1 - 1e-5))

    def _to_processing_size(self, labels: torch.Tensor) -> torch.Tensor:
        """(H, W) integer labels -> (1, 1, h, w) float labels at processing size (nearest)."""
        return F.interpolate(labels[None, None].float(), size=self._size, mode="nearest")

    @staticmethod
    def _group_labels(labels: torch.Tensor, index: int) -> torch.Tensor:
        start = index * MAX_OBJECTS_PER_GROUP
        inside = (labels > start) & (labels <= start + MAX_OBJECTS_PER_GROUP)
        return torch.where(inside, labels - start, torch.zeros_like(labels))

    def _labels_from_masks(self, masks: Mapping[int, np.ndarray], size) -> torch.Tensor:
        """Internal label map (H, W) long; later objects win where masks overlap."""
        labels = np.zeros(tuple(size), dtype=np.int64)
        for key, mask in masks.items():
            if int(key) not in self._ids:
                raise ValueError(f"unknown object id {key}")
            mask = np.asarray(mask)
            if mask.shape != tuple(size):
                raise ValueError(f"mask of object {key} has shape {mask.shape}, the frame is {tuple(size)}")
            inside = mask > 0
            labels[inside] = self._ids.index(int(key)) + 1
        return torch.from_numpy(labels).to(self.device)

    def _masks_from_labels(self, labels: torch.Tensor) -> Dict[int, np.ndarray]:
        labels = labels.cpu().numpy()
        return {key: labels == index + 1 for index, key in enumerate(self._ids)}
