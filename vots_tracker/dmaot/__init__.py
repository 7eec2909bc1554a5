"""DMAOT mask propagation: AOT / DeAOT with DMAOT's decoupled long-term memory (VOTS 2023 winner).

Our own inference implementation; it loads the official aot-benchmark checkpoints strictly and
reproduces the reference numbers (tests/dmaot compare against the `deaotpy` package).

Model names (`MODEL_NAMES`): ``<backbone>_[dm_]<arch>`` with backbone ``r50`` or ``swinb``
(``r50_deaotl``, ``swinb_dm_deaotl``), or ``[dm_]<arch>`` for the MobileNetV2 models
(``deaott``, ``dm_deaott``); ``<arch>`` is ``aot`` or ``deaot`` plus a size t/s/b/l
(ResNet-50 and Swin-B: l only). ``dm_`` selects the decoupled per-object long-term memory;
it changes the engine, not the weights, so DM and plain models share checkpoint files.

    model = build_model("swinb_dm_deaotl")
    load_checkpoint(model, "SwinB_DeAOTL_PRE_YTB_DAV_VIP_MOSE_OVIS_LASOT_GOT.pth", device)
    prop = Propagator(model, EngineConfig(), device)
"""

from importlib import import_module

from .specs import MODEL_NAMES, ModelSpec, get_spec

# The torch-heavy parts load on first use, so the model table (names, official files) is
# importable without torch: the weights registry and the config validation read it.
_LAZY = {
    "CheckpointError": "checkpoint", "load_checkpoint": "checkpoint", "write_random_checkpoint": "checkpoint",
    "DMAOTModel": "models", "build_model": "models", "EngineConfig": "propagator", "Propagator": "propagator",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CheckpointError", "DMAOTModel", "EngineConfig", "MODEL_NAMES", "ModelSpec", "Propagator",
    "build_model", "get_spec", "load_checkpoint", "write_random_checkpoint",
]
