"""Optional speed settings for a loaded tracker, each measured by benchmarks/gpu_check.py.

None of them is on by default: they only pay (if at all) on a GPU, and no GPU has measured
them yet. gpu_check.py applies each to a fresh tracker, checks that the masks stay those of the
default path, and reports the speed-up; a setting that reaches 1.2x there earns a config option.

* ``sam_channels_last``: HQ-SAM's convolutions (neck, HQ feature fusion, mask upscaling) in NHWC.
  (The DMAOT model is NHWC already; ``dmaot_nchw`` undoes that, to measure what it buys on CUDA.)
* ``pinned_uploads``: frames go to the GPU from page-locked host memory, asynchronously.
* ``compiled_encoders``: ``torch.compile`` on the DMAOT image encoder and the HQ-SAM image
  encoder, the two fixed-shape stages (the transformer's memory length changes every frame).
* ``math_attention``: a context that forces PyTorch's reference (math) attention instead of the
  fused scaled-dot-product kernels, to measure what the fused kernels buy.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch


def upload(array: np.ndarray, device: torch.device, pinned: bool = False) -> torch.Tensor:
    """A host array as a tensor on `device`; from pinned memory, asynchronously, when asked (CUDA)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if pinned and device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


# Each setting takes a TrackingSession; model-level ones change the session's (shared) tracker.

def sam_channels_last(session) -> None:
    if session.tracker.refiner is not None:
        session.tracker.refiner.model.to(memory_format=torch.channels_last)


def dmaot_nchw(session) -> None:
    session.tracker.dmaot_model.to(memory_format=torch.contiguous_format)


def pinned_uploads(session) -> None:
    session.propagator.pinned_uploads = True
    if session.tracker.refiner is not None:
        session.tracker.refiner.pinned_uploads = True


def compiled_encoders(session, mode: str = "default") -> None:
    """Compile lazily: the first frame after this call pays the compilation time."""
    tracker = session.tracker
    model = tracker.dmaot_model
    model.encoder = torch.compile(model.encoder, mode=mode, dynamic=False)
    if tracker.refiner is not None:
        sam = tracker.refiner.model
        sam.image_encoder = torch.compile(sam.image_encoder, mode=mode, dynamic=False)


@contextlib.contextmanager
def math_attention():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([SDPBackend.MATH]):
        yield


SETTINGS = {
    "sam_channels_last": sam_channels_last,
    "dmaot_nchw": dmaot_nchw,
    "pinned_uploads": pinned_uploads,
    "compiled_encoders": compiled_encoders,
}
