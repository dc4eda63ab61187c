"""``serve``: the web server around one model, one module per part of it.

``server`` puts the server together (``create_app``, the app; ``serve``, uvicorn run until
stopped), from ``predict`` (``POST /predict``), ``pages`` (the page, ``/health``, ``/info``,
``/docs``, the last written out by ``api_docs``), ``uploads`` (an upload's limits, decoding and log
line), ``turns`` (whose upload is answered when), ``model`` (the model loaded, and what runs it),
``served`` (that model loaded again when its checkpoint file is replaced), ``errors`` (every error
as JSON), ``guards`` (what wraps every request), ``address`` (the socket and the addresses to
open), ``workers`` (what several processes need) and ``settings`` (checked without FastAPI).

Nothing is imported here: ``from objrec.serve import create_app, serve`` imports
``serve.server`` (FastAPI, uvicorn) when the name is first asked for, so that
``objrec.serve.settings`` is read without them and the CLI says a bad setting at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from objrec.lazy import lazy_names

if TYPE_CHECKING:
    from objrec.serve.server import create_app, serve

ENTRY_POINTS = {"create_app": "objrec.serve.server", "serve": "objrec.serve.server"}
"""Each name the package gives and the module that defines it."""

__all__ = ["create_app", "serve"]

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_names(__name__, ENTRY_POINTS)
