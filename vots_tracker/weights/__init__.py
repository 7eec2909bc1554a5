"""Checkpoint registry, resolution, verification and downloads (see ``registry`` and ``download``)."""

from .registry import (
    ENTRIES,
    RANDOM_MANIFEST,
    REGISTRY,
    CheckpointEntry,
    CheckpointError,
    CheckpointVerificationError,
    MissingCheckpointError,
    UnknownCheckpointError,
    default_dmaot_checkpoint,
    default_sam_checkpoint,
    default_weights_dir,
    get_entry,
    is_random,
    resolve_checkpoint,
)

__all__ = [
    "ENTRIES",
    "RANDOM_MANIFEST",
    "REGISTRY",
    "CheckpointEntry",
    "CheckpointError",
    "CheckpointVerificationError",
    "MissingCheckpointError",
    "UnknownCheckpointError",
    "default_dmaot_checkpoint",
    "default_sam_checkpoint",
    "default_weights_dir",
    "get_entry",
    "is_random",
    "resolve_checkpoint",
]
