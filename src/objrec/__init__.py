"""objrec: transfer learning for image classification, from a folder of labelled photos.

The public API mirrors the CLI: each function does one stage and returns data. Imports are lazy so
that ``import objrec`` (and ``objrec --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "split_folder": "objrec.split",
    "add_images": "objrec.add",
    "explore": "objrec.explore",
    "train": "objrec.train",
    "evaluate": "objrec.evaluate",
    "predict": "objrec.predict",
    "load_model": "objrec.checkpoint",
    "TrainConfig": "objrec.config",
    "DataConfig": "objrec.config",
    "ObjrecError": "objrec.errors",
    "get_backbone": "objrec.backbones",
    "list_backbones": "objrec.backbones",
    "run_demo": "objrec.demo",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'objrec' has no attribute {name!r}")
