"""The refiner a SAM size names: HQ-SAM or vanilla SAM (``hqsam``), or SAM 2.1 (``sam21``)."""

from __future__ import annotations

from .sam_specs import is_sam2


def make_refiner(size: str, checkpoint, device, **options):
    """Load the refiner of `size` (options: those of HQSamRefiner); errors are one-line UserErrors."""
    if is_sam2(size):
        from .sam21 import Sam21Refiner

        return Sam21Refiner(size, checkpoint, device, **options)
    from .hqsam import HQSamRefiner

    return HQSamRefiner(size, checkpoint, device, **options)
