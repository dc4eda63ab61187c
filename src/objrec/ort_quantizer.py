"""ONNX Runtime's quantizer as objrec calls it: its API imported so that a script's own modules do
not shadow its helpers (``quantization_api``), and its printing and logging silenced for the int8
copy without silencing anyone else's (``quiet``)."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path


def quantization_api():
    """ONNX Runtime's quantization API (the ``onnxruntime.quantization`` module). Its helpers
    import sibling modules by bare name (``float16``, ``onnx_model``) from a folder it appends to
    ``sys.path``; a module of the same name earlier on the path (a script's own folder:
    ``benchmarks/float16.py``) would shadow them, so that folder goes first while they load."""
    import onnxruntime

    helpers = str(Path(onnxruntime.__file__).parent / "transformers")
    sys.path.insert(0, helpers)
    try:
        import onnxruntime.quantization as api
    finally:
        sys.path.remove(helpers)
    return api


class ErrorsOnly(logging.Filter):
    """Lets through the records of ERROR and above only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


class LastResort(logging.Handler):
    """The root logger's handler for :func:`quiet`'s block where it has none: a record says
    itself through ``logging.lastResort`` (a warning on stderr, as when logging is not set up)
    only where no handler on its way to the root would say it, so that a caller's handler on a
    library's logger is not doubled by the root's (late61 A1)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        if not said_below_root(record.name) and logging.lastResort is not None:
            logging.lastResort.handle(record)


def said_below_root(name: str) -> bool:
    """Whether a record of logger ``name`` meets a handler before the root logger's (or stops
    propagating on its way there)."""
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None and logger is not logging.getLogger():
        if logger.handlers or not logger.propagate:
            return True
        logger = logger.parent
    return False


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence ONNX Runtime's quantizer for the block, and only it: it prints progress and logs
    advice through the logging module's own functions (records of the root logger itself) and
    its loggers under ``onnxruntime``. A filter on the root logger drops only what is logged on
    it, where raising its level dropped every logger's records of the block (the int8 copy's
    parts, :func:`doing_logged`, and any other module's warning). Where the root logger has no
    handler, :class:`LastResort` stands in for the block: the logging module's functions would
    add one (``basicConfig``) for good."""
    root, ort, errors_only = logging.getLogger(), logging.getLogger("onnxruntime"), ErrorsOnly()
    level, spare = ort.level, None if root.handlers else LastResort()
    root.addFilter(errors_only)
    ort.setLevel(logging.ERROR)
    if spare is not None:
        root.addHandler(spare)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        if spare is not None:
            root.removeHandler(spare)
        ort.setLevel(level)
        root.removeFilter(errors_only)
