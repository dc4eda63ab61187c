"""objrec: transfer learning for image classification, from a folder of labelled photos.

The public API mirrors the CLI: each function does one stage and returns data (``split_folder``,
``add_images``, ``explore``, ``check_folder``, ``train``, ``evaluate``, ``predict``,
``export_model``, ``build_report``, ``create_app`` for ``serve``, ``audit_folder``, ``apply_plan``,
``suggest_images`` for ``suggest``, ``run_demo``); ``TqdmReporter`` shows their progress
(``reporter=``). The records they return are here too (``TrainResult``, ``EvaluationResult``,
``SplitResult``...), and ``load_run`` reads a run folder back as the ``TrainResult`` ``train``
returned. ``Recognizer`` gives the model's answer (calibrated probabilities, the unknown
verdict) of image files, as ``predict`` gives it. Imports are lazy so that ``import objrec``
(and ``objrec --help``) stays fast.

``objrec.train``, ``objrec.evaluate``, ``objrec.predict`` and ``objrec.explore`` are the functions,
whatever imported their modules first; the modules named like them are reached with
``from objrec.train import ...`` or ``importlib.import_module("objrec.train")`` (``import
objrec.train as m`` gives the function too).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"
"""objrec's version, written here only: pyproject.toml reads it for the package's metadata, and
``objrec --version``, serve's ``/info``, a run's summary and the export's sidecar say it."""

_EXPORTS = {
    "split_folder": "objrec.split.recipe",
    "add_images": "objrec.add.recipe",
    "explore": "objrec.explore",
    "train": "objrec.train",
    "evaluate": "objrec.evaluate",
    "predict": "objrec.predict",
    "load_model": "objrec.checkpoint",
    "Recognizer": "objrec.inference",
    "SplitConfig": "objrec.config",
    "TrainConfig": "objrec.config",
    "DataConfig": "objrec.config",
    "EvaluateConfig": "objrec.config",
    "ObjrecError": "objrec.errors",
    "get_backbone": "objrec.backbones",
    "list_backbones": "objrec.backbones",
    "describe_backbones": "objrec.backbone_facts",
    "run_demo": "objrec.demo",
    "check_folder": "objrec.check",
    "export_model": "objrec.export.exporter",
    "build_report": "objrec.report",
    "create_app": "objrec.serve.server",
    "audit_folder": "objrec.audit.recipe:audit",
    "AuditConfig": "objrec.audit.recipe",
    "apply_plan": "objrec.applying",
    "suggest_images": "objrec.suggest:suggest",
    "TqdmReporter": "objrec.progress",
    "load_run": "objrec.runs",
    "SplitResult": "objrec.split.result",
    "AddResult": "objrec.add.result",
    "ExploreResult": "objrec.explore",
    "CheckResult": "objrec.check",
    "TrainResult": "objrec.run_record",
    "EvaluationResult": "objrec.evaluate",
    "Prediction": "objrec.prediction",
    "Predictions": "objrec.prediction",
    "ExportResult": "objrec.export.exporter",
    "AuditResult": "objrec.audit.recipe",
    "AppliedPlan": "objrec.applying",
    "Suggestions": "objrec.suggest",
}
"""Each public name and its module (``module:name`` where the module calls it otherwise: names
of modules are not reused, but for the functions ``_Package`` keeps)."""

__all__ = [*_EXPORTS, "__version__"]

_NAMED_LIKE_MODULES = frozenset(
    name for name, where in _EXPORTS.items() if where.endswith(f".{name}")
)
"""The exported functions whose names are their modules' (``objrec.train.train``, ...)."""


class _Package(types.ModuleType):
    """The package module, keeping a function named like its module: importing ``objrec.train``
    sets the package's attribute ``train`` to that module, which would hide the function (``from
    objrec import train`` would give the module, and ``objrec.train(...)`` would work only until
    the module was imported)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _NAMED_LIKE_MODULES and isinstance(value, types.ModuleType):
            return  # the module stays in sys.modules; the function keeps the name
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, _, own_name = _EXPORTS[name].partition(":")
        value = getattr(importlib.import_module(module), own_name or name)
        globals()[name] = value  # imported once: the next lookup finds it
        return value
    raise AttributeError(f"module 'objrec' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names (``__all__``), for completion: the lazy ones are not in the module yet."""
    return sorted(__all__)
