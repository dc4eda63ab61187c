"""``export``: the whole model as one ONNX file that runs without objrec, one module per part.

``exporter`` exports (``export_model``: the model read, exported, checked, written with its
sidecar and script, or an earlier export of the same model reused), from ``graph`` (the ONNX
graph, checked against PyTorch on noise), ``check`` (its answers against objrec's own on real
photos), ``sidecar`` (``model.json``: what a caller applies and reads), ``names`` (the files an
export writes and their refusals, checked without PyTorch) and ``script`` (``model_infer.py``,
the script written beside the model, never imported by objrec).

Nothing is imported here: ``from objrec.export import export_model, ExportResult`` imports
``export.exporter`` (PyTorch, ONNX) when the name is first asked for, so that
``objrec.export.names`` refuses an export already there before the libraries load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from objrec.lazy import lazy_names

if TYPE_CHECKING:
    from objrec.export.exporter import ExportResult, export_model

ENTRY_POINTS = {"ExportResult": "objrec.export.exporter", "export_model": "objrec.export.exporter"}
"""Each name the package gives and the module that defines it."""

__all__ = ["ExportResult", "export_model"]

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_names(__name__, ENTRY_POINTS)
