"""One identity group: up to 10 objects sharing an ID bank, with their short- and long-term memory.

Per frame: `propagate` reads the memories, `commit` writes the frame once its label map is
decided. `reference_frame` labels a frame directly (first frame, or objects added later):
it stays in long-term memory for good and restarts the short-term memory.
"""

from __future__ import annotations

from collections import deque
from typing import Deque, List

import torch
import torch.nn.functional as F

from .memory import LayerMemory, new_long_term_memory
from .models import DMAOTModel
from .specs import EMBED_DIM


def one_hot(labels: torch.Tensor, count: int) -> torch.Tensor:
    """(1, 1, H, W) float labels -> (1, count+1, H, W) float one-hot of identities 0..count."""
    identities = torch.arange(count + 1, device=labels.device, dtype=labels.dtype).view(1, -1, 1, 1)
    return (labels == identities).float()


class IdentityGroup:
    def __init__(self, model: DMAOTModel, long_max: int, long_gap: int, short_gap: int) -> None:
        self.model = model
        self.long_gap = long_gap
        self.count = 0  # objects in this group
        # DeAOT stores V as visual|identity channels; similarity looks at the visual part only.
        visual_dim = model.LSTT.layers[0].expand if model.spec.arch == "deaot" else EMBED_DIM
        self.long_term = new_long_term_memory(model.spec.dm, long_max, visual_dim)
        self.short_terms: Deque[List[LayerMemory]] = deque(maxlen=max(1, short_gap))
        self.last_long_frame = 0
        self._currents = None  # the last forward's per-layer material, until committed

    def _identity(self, labels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return self.model.identity_embedding(one_hot(labels, self.count).to(dtype))

    def _token_labels(self, labels: torch.Tensor, size_2d) -> torch.Tensor:
        return F.interpolate(labels, size=size_2d, mode="nearest").view(-1).long()

    def reference_frame(self, feats: List[torch.Tensor], labels: torch.Tensor, count: int, frame: int) -> None:
        """Label `frame` with `labels` (group-local, (1, 1, H, W) at processing size) for good."""
        self.count = count
        _, currents, entries = self.model.propagate(feats, None, self._identity(labels, feats[-1].dtype))
        self.long_term.add(entries, self._token_labels(labels, feats[-1].shape[-2:]), frame, is_ref=True)
        self.short_terms.clear()
        self.short_terms.append(entries)
        self.last_long_frame = frame
        self._currents = currents

    def propagate(self, feats: List[torch.Tensor]) -> torch.Tensor:
        """Logits (1, count+1, H/4, W/4) for the current frame."""
        short_term = self.short_terms[0]
        memories = list(zip(self.long_term.layers, short_term))
        decoder_inputs, self._currents, _ = self.model.propagate(feats, memories, None)
        return self.model.decode(decoder_inputs, feats, self.count + 1)

    def commit(self, labels: torch.Tensor, frame: int, size_2d) -> None:
        """Write the current frame, labelled with `labels` (group-local, processing size), to memory."""
        if self._currents is None:
            raise RuntimeError("nothing to commit: propagate() or reference_frame() first")
        dtype = self._currents[0][0].dtype
        entries = self.model.memory_entries(self._currents, self._identity(labels, dtype))
        self._currents = None
        self.short_terms.append(entries)
        if frame - self.last_long_frame >= self.long_gap:
            self.long_term.add(entries, self._token_labels(labels, size_2d), frame, is_ref=False)
            self.last_long_frame = frame

    def discard_pending(self) -> None:
        self._currents = None
