"""objrec: transfer learning for image classification, from a folder of labelled photos.

The public API mirrors the CLI: each function does one stage and returns data (``split_folder``,
``add_images``, ``explore``, ``check_folder``, ``train``, ``evaluate``, ``predict``,
``export_model``, ``build_report``, ``create_app`` for ``serve``, ``audit_folder``, ``apply_plan``,
``suggest_images`` for ``suggest``, ``run_demo``); ``TqdmReporter`` shows their progress
(``reporter=``). The records they return are here too (``TrainResult``, ``EvaluationResult``,
``SplitResult``...), and ``load_run`` reads a run folder back as the ``TrainResult`` ``train``
returned. ``Recognizer`` gives the model's answer (calibrated probabilities, the unknown
verdict) of image files, as ``predict`` gives it. Imports are lazy so that ``import objrec``
(and ``objrec --help``) stays fast; mypy reads the names' imports under ``TYPE_CHECKING``
instead, so it knows each name's type and refuses a name objrec lacks.

``objrec.train``, ``objrec.evaluate``, ``objrec.predict`` and ``objrec.explore`` are the functions,
whatever imported their modules first; the modules named like them are reached with
``from objrec.train import ...`` or ``importlib.import_module("objrec.train")`` (``import
objrec.train as m`` gives the function too).
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from objrec.lazy import lazy_names

if TYPE_CHECKING:
    from objrec.add.recipe import add_images
    from objrec.add.result import AddResult
    from objrec.applying.recipe import apply_plan
    from objrec.applying.result import AppliedPlan
    from objrec.audit.recipe import AuditConfig, AuditResult
    from objrec.audit.recipe import audit as audit_folder
    from objrec.backbone_facts import describe_backbones
    from objrec.backbones import get_backbone, list_backbones
    from objrec.check import CheckResult, check_folder
    from objrec.checkpoint import load_model
    from objrec.config import DataConfig, EvaluateConfig, SplitConfig, TrainConfig
    from objrec.demo import run_demo
    from objrec.errors import Interrupted, ObjrecError
    from objrec.evaluate import EvaluationResult, evaluate
    from objrec.explore import ExploreResult, explore
    from objrec.export.exporter import ExportResult, export_model
    from objrec.inference import Recognizer
    from objrec.keeping import KeepingThreshold, threshold_keeping
    from objrec.predict import predict
    from objrec.prediction import Prediction, Predictions
    from objrec.progress import TqdmReporter
    from objrec.report import build_report
    from objrec.run_record import TrainResult
    from objrec.runs import load_run
    from objrec.serve.server import create_app
    from objrec.split.recipe import split_folder
    from objrec.split.result import SplitResult
    from objrec.suggest import Suggestions
    from objrec.suggest import suggest as suggest_images
    from objrec.train import train

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
    "threshold_keeping": "objrec.keeping",
    "KeepingThreshold": "objrec.keeping",
    "SplitConfig": "objrec.config",
    "TrainConfig": "objrec.config",
    "DataConfig": "objrec.config",
    "EvaluateConfig": "objrec.config",
    "ObjrecError": "objrec.errors",
    "Interrupted": "objrec.errors",
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
    "apply_plan": "objrec.applying.recipe",
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
    "AppliedPlan": "objrec.applying.result",
    "Suggestions": "objrec.suggest",
}
"""Each public name and its module (``module:name`` where the module calls it otherwise: names
of modules are not reused, but for the functions ``_Package`` keeps)."""

__all__ = [
    "AddResult",
    "AppliedPlan",
    "AuditConfig",
    "AuditResult",
    "CheckResult",
    "DataConfig",
    "EvaluateConfig",
    "EvaluationResult",
    "ExploreResult",
    "ExportResult",
    "Interrupted",
    "KeepingThreshold",
    "ObjrecError",
    "Prediction",
    "Predictions",
    "Recognizer",
    "SplitConfig",
    "SplitResult",
    "Suggestions",
    "TqdmReporter",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "add_images",
    "apply_plan",
    "audit_folder",
    "build_report",
    "check_folder",
    "create_app",
    "describe_backbones",
    "evaluate",
    "explore",
    "export_model",
    "get_backbone",
    "list_backbones",
    "load_model",
    "load_run",
    "predict",
    "run_demo",
    "split_folder",
    "suggest_images",
    "threshold_keeping",
    "train",
]
"""The public names: those of ``_EXPORTS``, and ``__version__``; ``dir(objrec)`` lists them,
for completion (the lazy ones are not in the module until asked for)."""

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


if not TYPE_CHECKING:  # mypy reads the imports above instead
    __getattr__, __dir__ = lazy_names(__name__, _EXPORTS, listed=__all__)
