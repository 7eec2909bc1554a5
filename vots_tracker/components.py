"""From a TrackerConfig to the components it builds: checkpoint files and each component's options.

``serve`` and ``track`` (through ``Tracker.from_config``), ``weights download --preset``,
``evaluate`` and the tests all ask :func:`required_checkpoints`; the tracking session asks
:func:`component_options`. Nothing else translates TrackerConfig fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from .config import TrackerConfig


def dmaot_checkpoint(config: TrackerConfig) -> str:
    """The DMAOT checkpoint: the configured path or file name, else the model's official file."""
    from .weights.registry import default_dmaot_checkpoint

    return config.dmaot_checkpoint or default_dmaot_checkpoint(config.model)


def sam_checkpoint(config: TrackerConfig) -> Optional[str]:
    """The HQ-SAM checkpoint, or None when refinement is off (``TrackerConfig.refine``)."""
    from .weights.registry import default_sam_checkpoint

    if not config.refine:
        return None
    return config.sam_checkpoint or default_sam_checkpoint(config.sam)


def required_checkpoints(config: TrackerConfig) -> List[str]:
    """Checkpoint names (or paths) the configuration loads: DMAOT's, then HQ-SAM's if it refines."""
    return [name for name in (dmaot_checkpoint(config), sam_checkpoint(config)) if name]


@dataclass(frozen=True)
class ComponentOptions:
    engine: Any  # dmaot.EngineConfig
    refiner: Optional[Dict[str, Any]]  # keyword arguments of HQSamRefiner besides checkpoint and device
    refine: Optional[Any]  # refine.stage.RefineOptions


def component_options(config: TrackerConfig) -> ComponentOptions:
    """Each component's options from a validated configuration (refiner and refine None when off)."""
    from .dmaot import EngineConfig
    from .refine.stage import RefineOptions

    amp = None if config.amp == "none" else config.amp
    engine = EngineConfig(long_max=config.long_max, long_gap=config.long_gap, short_gap=config.short_gap,
                          max_edge=config.max_edge or None, amp=amp)
    if not config.refine:
        return ComponentOptions(engine, None, None)
    refiner = dict(size=config.sam, prompt=config.prompt, proposals=config.proposals, amp=amp,
                   decode_batch=int(config.decode_batch))
    refine = RefineOptions(tau=float(config.tau), gate=config.gate, resolve_overlaps=config.resolve_overlaps,
                           redetect=config.redetect)
    return ComponentOptions(engine, refiner, refine)
