"""Long-term memory of one identity group.

The transformer reads the long-term memory as one (K, V) token tensor per layer. Both stores
below keep exactly that, plus a table of the segments it is made of, so an eviction re-slices
the existing tensors instead of keeping a second copy of every stored frame.

* `FrameMemory` (AOT/DeAOT): whole frames, newest first. Over the cap, the oldest frame that
  is not a reference frame goes.
* `ObjectMemory` (DMAOT): every stored frame is split by the frame's label map into one
  segment per identity (background included), so each identity keeps its own list of up to
  `long_max` frames. Over the cap, the identity's stored frame least similar to the current
  one (cosine similarity of token means of K and V, averaged over layers) goes. Layout per
  identity follows DMAOT: newest non-reference frames first, reference frames last in the
  order they were added. As in DMAOT, the candidates are all but the last N entries, N being
  the group's number of reference frames: that spares every reference frame (they sit at the
  end), and for an identity missing from some reference frame also its oldest stored frames.
  Where DMAOT finds no candidate it duplicates the list; here nothing is evicted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

LayerMemory = Tuple[torch.Tensor, torch.Tensor]  # (K, V), each (1, tokens, C)


@dataclass(eq=False)
class Segment:
    frame: int
    is_ref: bool
    length: int  # tokens
    identity: int = -1  # group-local identity for per-object segments, -1 for a whole frame
    signature: List[torch.Tensor] = field(default_factory=list)  # per layer: mean K, mean visual V


class _SegmentStore:
    """Per-layer concatenated tensors plus the ordered segments they consist of."""

    def __init__(self) -> None:
        self.layers: List[LayerMemory] = []
        self.segments: List[Segment] = []
        self.evictions = 0

    def _rebuild(self, order: Sequence[Segment], new: Dict[Segment, List[LayerMemory]]) -> None:
        starts, position = {}, 0
        for seg in self.segments:
            starts[seg] = position
            position += seg.length
        rebuilt = []
        layer_count = len(next(iter(new.values()))) if new else len(self.layers)
        for index in range(layer_count):
            parts_k, parts_v = [], []
            for seg in order:
                if seg in new:
                    k, v = new[seg][index]
                else:
                    k_all, v_all = self.layers[index]
                    k = k_all[:, starts[seg]:starts[seg] + seg.length]
                    v = v_all[:, starts[seg]:starts[seg] + seg.length]
                parts_k.append(k)
                parts_v.append(v)
            rebuilt.append((torch.cat(parts_k, dim=1), torch.cat(parts_v, dim=1)))
        self.layers, self.segments = rebuilt, list(order)

    def tokens(self) -> int:
        return sum(seg.length for seg in self.segments)


class FrameMemory(_SegmentStore):
    def __init__(self, long_max: int) -> None:
        super().__init__()
        self.long_max = long_max

    def add(self, entries: List[LayerMemory], labels: torch.Tensor, frame: int, is_ref: bool) -> None:
        del labels  # whole frames: the label map only matters to the per-object store
        segment = Segment(frame, is_ref, entries[0][0].shape[1])
        order = list(self.segments)
        if len(order) >= self.long_max:
            old = [seg for seg in order if not seg.is_ref]
            if old:
                order.remove(old[-1])
                self.evictions += 1
        self._rebuild([segment] + order, {segment: entries})


def _signature(pieces: List[LayerMemory], visual_dim: int) -> List[torch.Tensor]:
    out = []
    for k, v in pieces:
        out.append(k[0].mean(dim=0, keepdim=True))
        out.append(v[0, :, :visual_dim].mean(dim=0, keepdim=True))
    return out


def _similarity(a: List[torch.Tensor], b: List[torch.Tensor]) -> float:
    total = 0.0
    for x, y in zip(a, b):
        total = total + F.cosine_similarity(x, y, dim=1)
    return float(total / len(a))


class ObjectMemory(_SegmentStore):
    def __init__(self, long_max: int, visual_dim: int) -> None:
        super().__init__()
        self.long_max = long_max
        self.visual_dim = visual_dim  # V's leading channels that are visual (DeAOT stores V|ID_V)
        self.by_identity: Dict[int, List[Segment]] = {}
        self.reference_frames = 0

    def add(self, entries: List[LayerMemory], labels: torch.Tensor, frame: int, is_ref: bool) -> None:
        """entries: the frame's per-layer (K, V); labels: (tokens,) group-local identity of each token."""
        new: Dict[Segment, List[LayerMemory]] = {}
        for identity in torch.unique(labels).tolist():
            selected = labels == identity
            pieces = [(k[:, selected], v[:, selected]) for k, v in entries]
            segment = Segment(frame, is_ref, pieces[0][0].shape[1], identity,
                              _signature(pieces, self.visual_dim))
            stored = self.by_identity.setdefault(identity, [])
            if len(stored) >= self.long_max:
                self._evict(stored, segment)
            if is_ref:
                stored.append(segment)
            else:
                stored.insert(0, segment)
            new[segment] = pieces
        order = [seg for identity in sorted(self.by_identity) for seg in self.by_identity[identity]]
        self._rebuild(order, new)
        self.reference_frames += is_ref

    def _evict(self, stored: List[Segment], current: Segment) -> None:
        victim, lowest = None, float("inf")
        for seg in stored[:max(0, len(stored) - self.reference_frames)]:
            if seg.is_ref:  # cannot happen (references sit at the end); kept as the invariant
                continue
            similarity = _similarity(seg.signature, current.signature)
            if similarity < lowest:
                victim, lowest = seg, similarity
        if victim is not None:
            stored.remove(victim)
            self.evictions += 1


def new_long_term_memory(dm: bool, long_max: int, visual_dim: int) -> Optional[_SegmentStore]:
    return ObjectMemory(long_max, visual_dim) if dm else FrameMemory(long_max)
