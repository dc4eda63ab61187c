"""``serve``: a FastAPI app around one loaded model: a JSON API and a page to try it.

``POST /predict`` (multipart field ``file``, optional ``topk`` and ``tta``) returns the object
``predict --json`` gives for an image, ``filename`` in place of ``path`` (``Prediction.to_json``;
docs/json.md, "predict", lists the keys); ``GET /`` is a page where a person picks or drops an
image; ``GET /health``, ``/info``, ``/docs`` (the API written out from ``/openapi.json``, with
nothing loaded from elsewhere: ``api_docs``). The model loads at start, and again when its
file is replaced (``served``: a retrain); uploads are answered on a few threads of the app's own
(:data:`ANSWERING_AT_ONCE`), which share it safely, while the others wait. Every bad request gets a
4xx JSON ``{"error": ...}``: an empty or missing file, a non-image, an upload over the size limit
(10 MiB unless ``max_upload_bytes`` says otherwise; the error gives it in MiB and bytes, the log
names the option that raises it), an image over the pixel limit, a ``topk`` out of range; a failure
of the server's own gets a 500 JSON ``{"error": ...}``. An upload over the size limit is refused
before it is received: from its Content-Length header alone, or as soon as the bytes read pass the
limit (a chunked upload, or one whose Content-Length is wrong), never after storing the whole of it.
No CORS headers unless ``cors_origins`` names the web pages' origins that may call the API from
their JavaScript (:func:`add_cors`). The page comes with a Content-Security-Policy that lets its
own script alone run (:func:`page_policy`), every answer with ``nosniff`` (:class:`NoSniff`). No
login: whoever reaches the port may use it (``serve`` binds to loopback unless told otherwise);
but a request sent to a name the server does not answer to is refused, so that no website can
point a name of its own at it (DNS rebinding: :class:`RefuseOtherHosts`).
"""

from __future__ import annotations

import base64
import errno
import hashlib
import ipaddress
import json
import logging
import logging.config
import math
import multiprocessing
import os
import re
import signal
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, suppress
from functools import partial
from importlib import resources
from pathlib import Path
from traceback import format_exception
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from objrec import __version__
from objrec.api_docs import docs_html, docs_policy
from objrec.devices import resolve_device
from objrec.errors import ObjrecError, ctrl_c_leaves
from objrec.images import MAX_PIXELS_VARIABLE, UnreadableImageError, open_image
from objrec.inference import GraphUnmade, Recognizer, resolve_runtime
from objrec.kept import kept_path
from objrec.meta import checkpoint_file
from objrec.predict import Prediction, answered, base_name
from objrec.progress import Reporter, or_silent
from objrec.quantize import QuantizedBody, graph_engine
from objrec.runtime import ENGINE_NAMES
from objrec.serve_settings import (
    ANY_HOST,
    ANY_ORIGIN,
    allowed_host,
    allowed_origins,
    check_upload_limit,
    check_workers,
    host_of,
    is_address,
    proxy_prefix,
    upload_pixel_limit,
)
from objrec.serve_turns import (
    LEFT,
    MOST_WAITING,
    RETRY_AFTER,
    ClientLeft,
    Turns,
    stop_if_left,
    while_connected,
)
from objrec.served import CHECK_EVERY, MODEL_HEADER, ServedModel, checking_lifespan, events

log = logging.getLogger(__name__)

MIB = 1024 * 1024
MAX_UPLOAD_BYTES = 10 * MIB
"""The largest upload ``/predict`` takes unless told otherwise (``objrec serve --max-upload-mib``):
a phone's photo is a few MiB; larger uploads are answered 413, naming the limit."""
MULTIPART_ALLOWANCE = 64 * 1024
"""Room in a request's body for what multipart wraps around the file (boundaries, part headers, the
``topk`` and ``tta`` fields): ``/predict`` reads at most the upload limit plus this."""
MAX_TOPK = 20
ANSWERING_AT_ONCE = 4
"""Uploads ``/predict`` decodes and answers at once, each on one of the app's own threads; the
others wait their turn, holding no thread. FastAPI ran up to 40 at once, one per thread of its
pool, and each thread kept what its own images had taken (the allocator keeps an arena per
thread), so 40 small PNGs of 6,000 x 6,000 pixels took a server to 10.9 GB and left it at 9.3 GB.
One answer already keeps every core busy. An image within objrec's pixel limit
(``images.pixel_limit``, 89 million pixels) decodes in up to 0.36 GB (Pillow holds an RGB pixel
in 4 bytes): one of a kind that takes more a pixel to decode (32-bit grey, RGBA: 9 bytes) is
allowed fewer pixels (``images.bytes_to_decode``), where a 0.6 MB 32-bit TIFF took 1.4 GB."""


NOT_STARTED = "the server had not started (its model loads first): run it again"
"""What Ctrl-C before the server is up leaves (``errors.ctrl_c_leaves``)."""


def route_path(request: Request) -> str:
    """The path ``request`` was routed by: its URL's path without the ``root_path`` that
    ``serve``'s own (``root_path``) puts before it (``/objrec/predict`` is ``/predict``)."""
    path, root = request.scope["path"], request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(f"{root}/") else path


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message}, headers=headers)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Every HTTP error as ``{"error": ...}``. A 413 that is not FastAPI's ``HTTPException`` (those
    raised here) is the body limit's, Starlette's "Content Too Large": it is said as the upload
    limit; a 400 of the form's parser, for a client that left while sending it, as that. The
    exception's headers are kept (a 405's ``Allow``)."""
    if exc.status_code == 413 and not isinstance(exc, HTTPException):
        log_too_large(request.app.state.max_upload_bytes)
        return _error(413, too_large_text(request.app.state.max_upload_bytes))
    if exc.status_code == 400 and not isinstance(exc, HTTPException):  # the form's parser
        if route_path(request) == "/predict" and await request.is_disconnected():
            log_request(request, None, LEFT["sending"])  # it read as a form refused
            return _error(499, LEFT["sending"])
        sentence = unreadable_form_text(str(exc.detail))
        if route_path(request) == "/predict":
            log_request(request, None, f"refused, 400: {sentence}")
        return _error(400, sentence)
    return _error(exc.status_code, str(exc.detail), exc.headers)


def unreadable_form_text(detail: str) -> str:
    """The 400's words for a form Starlette's parser could not read: its own words alone
    ("Invalid multipart data.") said neither what nor what to do. A part's headers over 4 KiB
    (python-multipart's limit) are such a form: a file name of 5,000 characters was one."""
    return (
        f"the form (multipart/form-data) could not be read ({detail.rstrip('.')}): send the "
        "image as curl -F file=@photo.jpg sends it, under a file name of fewer than 4,000 "
        "characters"
    )


SERVER_ERROR = "the server failed on this request (its log says why); try again, or another image"


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    """Any other failure as a 500 ``{"error": ...}`` too, not Starlette's plain-text "Internal
    Server Error", which the page cannot read (it said "error (no answer)"). The sentence names
    no detail of the server; uvicorn logs the traceback. :class:`AnswerFailuresInside` answers
    the app's own failures so, with CORS headers; this handler, those of the middleware."""
    return _error(500, SERVER_ERROR)


class AnswerFailuresInside:
    """A failure of the server's own answered as its 500 ``{"error": ...}`` (:func:`server_error`)
    from inside the CORS middleware, so that it carries the CORS headers every other answer
    carries, then raised on, so that uvicorn still logs its traceback. Starlette answers such a
    failure in its ``ServerErrorMiddleware``, which it puts outside every middleware of the
    app's: a page of an allowed origin saw a failed request, not the 500. Raised on, the failure
    reaches that middleware with the answer already sent, and it sends none of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            if not started:  # else the answer is under way, and only the server can end it
                await _error(500, SERVER_ERROR)(scope, receive, send)
            raise


NOT_A_FILE = (
    "file: the image must be sent as a file (a form part with a file name, as curl -F "
    "file=@photo.jpg sends it), not as text"
)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A request FastAPI could not validate: one sentence naming the field. A ``file`` sent as
    text (``curl -F file=photo.jpg``, without the ``@``) was pydantic's "Value error, Expected
    UploadFile, received: <class 'str'>"."""
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
    if where == "file" and first.get("type") != "missing":
        sentence = NOT_A_FILE
    elif where == "file":
        sentence = no_file_text(request.headers.get("content-type"), exc.body)
    else:
        sentence = f"{where}: {first.get('msg', 'invalid request')}"
    if route_path(request) == "/predict":  # an upload refused: one line, as every other upload
        sent = exc.body.get("file") if hasattr(exc.body, "get") else None
        image = sent if isinstance(sent, StarletteUploadFile) else None
        log_request(request, image, f"refused, 422: {sentence}")
    return _error(422, sentence)


def no_file_text(content_type: str | None, form: Any) -> str:
    """Why a request without a ``file`` field got no answer, naming what it sent instead: a form
    whose image is in another field (``-F image=@photo.jpg``), or a body that is no form (the
    image's bytes as the body, JSON). It was pydantic's "file: Field required", which does not
    say that the image goes in a form's ``file`` field."""
    how = "as curl -F file=@photo.jpg sends it"
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        sent = f"this request's body is {kind}" if kind else "this request has no form"
        return (
            f"file: no image: /predict reads a form (multipart/form-data) with the image in its "
            f"field file, {how}; {sent}"
        )
    fields = sorted(set(form.keys())) if hasattr(form, "keys") else []
    if not fields:
        return f"file: the form is empty: send the image in its field file, {how}"
    return (
        f"file: the form has no field file, only {', '.join(fields)}: send the image in the "
        f"field file, {how}"
    )


def load_recognizer(
    run: Path, runtime: str | None, device: str, threshold: float | None, unknown: bool
) -> Recognizer:
    """The served model: ``runtime`` defaults to ONNX Runtime on the CPU, PyTorch on a GPU, but an
    int8 body that OpenVINO ran in training runs in OpenVINO whatever the runtime
    (:func:`runs_why`). An infinite ``threshold`` is refused: ``/info`` gives it in JSON, which
    holds no infinity (it said null, which reads as no unknown answer, while inf answered every
    image unknown). ``runtime``
    onnx on a GPU is refused for a float body only: an int8 body runs on the CPU, where ONNX
    Runtime runs (``inference.int8_placement``), and was refused before it was read. The default
    runtime's graph that cannot be made says that PyTorch serves without it: the user asked for
    no ONNX Runtime."""
    if threshold is not None and math.isinf(threshold):
        raise ObjrecError(
            f"`threshold` must be a finite number, not {threshold}: the app's /info gives it in "
            "JSON, which holds no infinity (`unknown=False` answers no image unknown)"
        )
    where = resolve_device(device)
    asked = runtime
    if runtime != "onnx":  # onnx asked for on a GPU: refused by the recognizer unless int8
        runtime = resolve_runtime(runtime, where, default="onnx")
    try:
        return Recognizer.load(run, runtime, threshold, unknown, where)
    except GraphUnmade as exc:
        if asked is not None:
            raise
        raise ObjrecError(f"{exc}; `runtime='torch'` serves without it", exc.values) from exc


def mebibytes(n_bytes: int) -> str:
    """A byte count in MiB, the unit ``--max-upload-mib`` sets it in, to 3 figures, whole MiB
    from 1,000 on: ``10 MiB``; ``0.191 MiB``; ``1,024 MiB``, not ``1e+03 MiB`` nor ``1,020 MiB``.
    One unit for the page, the 413 and the log: the operator's 10 (or 1024) reads 10 to
    everyone, and no file that a phone or a file manager shows as under 10 MB is refused,
    whichever MB it counts (10^6 bytes on a Mac or a phone, 2^20 on Windows), where "up to 10.5
    MB" let a Windows user's "10.3 MB" photo be refused."""
    mib = n_bytes / MIB
    return f"{mib:,.0f} MiB" if mib >= 999.5 else f"{float(f'{mib:.3g}'):,g} MiB"


def size_text(n_bytes: int) -> str:
    """:func:`mebibytes` and the exact count: ``10 MiB (10,485,760 bytes)``."""
    return f"{mebibytes(n_bytes)} ({n_bytes:,} bytes)"


def too_large_text(max_upload_bytes: int) -> str:
    """The 413 error's words, for the person who sent the file (at the page, or with curl): the
    limit, and what they can do. Not the option that sets it: they did not start the server, and
    the server's log tells its operator (:func:`log_too_large`)."""
    return (
        f"the file is too large: this server takes uploads of up to "
        f"{size_text(max_upload_bytes)}; send a smaller image, or ask whoever runs the "
        "server to raise its limit"
    )


def log_too_large(max_upload_bytes: int) -> None:
    """Tell the server's operator, in its log, that an upload was refused as too large, and how
    to raise the limit. Named in full: the log of a worker process or of the app's own threads is
    not translated into the CLI's terms."""
    log.warning(
        "refused an upload over this server's limit of %s: objrec serve --max-upload-mib "
        "raises it (create_app's max_upload_bytes in Python)",
        size_text(max_upload_bytes),
    )


def page_html(max_upload_bytes: int, max_pixels: int) -> str:
    """The page at ``/`` with this server's upload limit set in: said under the upload control
    ("up to 10 MiB per image") before anything is sent, and checked by the page on a file
    picked. A larger photo the browser can draw is sent as a smaller copy, made in the browser
    (a phone's 18 MiB photo was refused, and its holder cannot raise the limit); any other larger
    file is refused there, before it is uploaded, in the 413's words and naming the option that
    raises the limit (a 30 MB microscope TIFF met only the 413, after its upload, and nothing on
    the page said the limit). The copy is within ``max_pixels`` too, which is set in beside the
    bytes: a 2048-pixel copy was refused by a server given a lower ``--max-pixels``."""
    page = (resources.files("objrec") / "static" / "index.html").read_text()
    settings = {
        "{{max_upload_bytes}}": str(max_upload_bytes),
        "{{max_upload_size}}": mebibytes(max_upload_bytes),
        "{{max_upload_text}}": size_text(max_upload_bytes),
        "{{max_pixels}}": str(max_pixels),
    }
    for mark, value in settings.items():
        page = page.replace(mark, value)
    return page


def inline_hashes(page: str, tag: str) -> str:
    """The CSP sources of the page's inline ``<tag>`` elements: each by its SHA-256."""
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL)
    digests = (base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() for text in found)
    return " ".join(f"'sha256-{digest}'" for digest in digests)


def page_policy(page: str) -> str:
    """The page's Content-Security-Policy: its own inline script and style (by their SHA-256),
    the preview's ``blob:`` image, requests to this server only; nothing else runs or loads. The
    page puts every name it shows (a class, a file, an error) in as text, never as HTML; should
    one ever be put in as HTML, a script in it would not run, nor send anything elsewhere."""
    return (
        f"default-src 'none'; script-src {inline_hashes(page, 'script')}; "
        f"style-src {inline_hashes(page, 'style')}; img-src 'self' blob: data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'"
    )


class NoSniff:
    """``X-Content-Type-Options: nosniff`` on every answer: a browser reads a JSON error that
    quotes an uploaded file's name (``<html>...``) as JSON, never as a page of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                nosniff = (b"x-content-type-options", b"nosniff")
                message["headers"] = [*message.get("headers", []), nosniff]
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)


def body_limit(max_upload_bytes: int) -> int:
    """The most bytes of a request's body ``/predict`` reads (FastAPI's ``max_body_size``)."""
    return max_upload_bytes + MULTIPART_ALLOWANCE


def declared_length(scope: Scope) -> int:
    """The body's length as the Content-Length header gives it; 0 without one (chunked)."""
    try:
        return int(Headers(scope=scope).get("content-length", 0))
    except ValueError:  # the server refuses such a request before the app sees it
        return 0


class RefuseDeclaredOverLimit:
    """Answers 413 from a request's Content-Length alone, before a byte of its body is read.

    FastAPI's ``max_body_size`` (Starlette's body limit), set on ``/predict``, stops reading a body
    as soon as the bytes read pass it; but it answers a Content-Length over it with a fixed
    plain-text "Content Too Large" that replaces any handler's answer, so this middleware answers
    that case first, as JSON naming the upload limit.
    """

    def __init__(self, app: ASGIApp, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and declared_length(scope) > body_limit(self.max_upload_bytes):
            log_too_large(self.max_upload_bytes)
            await _error(413, too_large_text(self.max_upload_bytes))(scope, receive, send)
            return
        await self.app(scope, receive, send)


def warn_of_any_origin(origins: Sequence[str]) -> None:
    """Warn, in the log, when ``origins`` hold ``*``: any website may then use the server."""
    if ANY_ORIGIN in origins:
        log.warning(
            "CORS allows any origin (*): a page of any website may send its visitors' images to "
            "this server from its JavaScript and read the answers; give your website's own "
            "origin instead (as https://shop.example) unless that is meant"
        )


LOCAL_NAMES = ("localhost",)
"""Names every browser takes to be this machine, never looking them up (``*.localhost`` too,
RFC 6761): a website cannot make them point elsewhere, so the Host check allows them."""


def host_allowed(host: str, names: Sequence[str]) -> bool:
    """Whether a request sent to ``host`` (:func:`host_of`) is answered: an IP address, a name
    of :data:`LOCAL_NAMES` (or under one), or one of ``names`` (``*.office.lan``: any name under
    office.lan; ``*``: any). A page cannot send an IP address or ``localhost`` as the Host of a
    request to this server unless the browser opened that address: DNS rebinding needs a name
    of the attacker's (``evil.example``, made to point at this server)."""
    if is_address(host) or any(host == n or host.endswith(f".{n}") for n in LOCAL_NAMES):
        return True
    return any(
        n == ANY_HOST or host == n or (n.startswith("*.") and host.endswith(n[1:])) for n in names
    )


def server_names(host: str, names: Sequence[str] = ()) -> list[str]:
    """The names a server bound to ``host`` answers to beside addresses and ``localhost``
    (:func:`host_allowed`): ``names`` (:func:`allowed_host`), ``host`` when it is a name, and
    this machine's own (``socket.gethostname()``, its first label, and that label under
    ``.local``, the name mDNS gives it on a LAN), as colleagues type it: no website chooses
    them. A name is never looked up (an offline network may have no DNS to answer)."""
    found = [allowed_host(n) for n in names]
    if host not in WILDCARD_HOSTS and not is_address(host.strip("[]")):
        found.append(host.lower().rstrip("."))
    machine = socket.gethostname().lower().rstrip(".")
    label = machine.split(".")[0]
    found += [machine, label, f"{label}.local"] if label else []
    return list(dict.fromkeys(n for n in found if n))


def wrong_host_text(host: str | None) -> str:
    """The 400's words for a request sent to a name this server does not answer to."""
    sent = f"the name {host}" if host else "no host name it can read"
    return (
        f"this server does not answer requests sent to {sent} (its Host header), so that no "
        "website can point a name of its own at it (DNS rebinding): open it by its address or "
        "as localhost, or ask whoever runs it to allow this name"
    )


def log_wrong_host(host: str | None) -> None:
    """Tell the operator, in the log, of a request refused for its Host, and how to allow it."""
    log.warning(
        "refused a request sent to the name %s (its Host header), as a website's page would "
        "send one through DNS rebinding; if it is a name of this server's (its DNS name, or a "
        "reverse proxy's public name), objrec serve --allowed-host %s answers to it "
        "(create_app's allowed_hosts in Python)",
        host or "(none readable)",
        host or "NAME",
    )


class RefuseOtherHosts:
    """Answers 400 to a request whose Host header names a host this server does not answer to
    (:func:`host_allowed`), before anything else reads it: a page of another website that has
    made its own name point at this machine (DNS rebinding) would otherwise drive a server
    bound to loopback from its visitor's browser, and read the answers. A request without a
    Host header (HTTP/1.0) names no host a page could choose, and is answered."""

    def __init__(self, app: ASGIApp, names: Sequence[str]) -> None:
        self.app, self.names = app, list(names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = Headers(scope=scope).get("host") if scope["type"] == "http" else None
        if header is not None:
            host = host_of(header)
            if host is None or not host_allowed(host, self.names):
                log_wrong_host(host)
                await _error(400, wrong_host_text(host))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def add_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Starlette's CORS middleware around ``app``, outermost, for the (checked) ``origins``: a
    web page of one of them may call the API from its JavaScript and read the answers (a GET or
    a POST, with the headers a form sends; no cookies nor credentials; the header that names
    the model that answered, ``served.MODEL_HEADER``, readable), errors included (a 413
    from :class:`RefuseDeclaredOverLimit`, a 500 from :class:`AnswerFailuresInside`). Without
    ``origins``, no CORS headers at all: a browser keeps every answer from a page of another
    address."""
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_credentials=False,
            expose_headers=[MODEL_HEADER],  # a browser hides any other from the page's script
        )


def health() -> dict:
    """``GET /health``: the server is up."""
    return {"status": "ok"}


def unknown_info(recognizer: Recognizer) -> dict[str, Any]:
    """What ``/info`` says of the unknown answer: the score, its threshold, and whether the score
    is the readable familiarity (False for ``msp`` and for runs trained before it); when the
    threshold is one ``evaluate --keep-threshold`` kept, when it was kept."""
    return {
        "unknown_score": recognizer.unknown_score,
        "unknown_threshold": recognizer.threshold,
        "unknown_score_readable": recognizer.readable_score,
        "unknown_threshold_kept_on": recognizer.threshold_kept_on,
    }


def model_info(
    recognizer: Recognizer, max_upload_bytes: int, max_pixels: int, asked: str | None = None
) -> dict[str, Any]:
    """``GET /info``: the model (its validation accuracy: None for a run that does not say),
    what runs it and why (``asked``: the runtime the server was given, None for its default), the
    server's limits and the unknown answer."""
    runs, why = runs_and_why(recognizer, asked)
    return {
        "classes": recognizer.classes,
        "valid_accuracy": recognizer.meta.valid_acc,
        "backbone": recognizer.meta.backbone,
        "runtime": recognizer.runtime,
        "int8_engine": int8_engine(recognizer),
        "runs": runs,
        "runs_why": why,
        "version": __version__,
        "max_upload_bytes": max_upload_bytes,
        "max_pixels": max_pixels,
    } | unknown_info(recognizer)


def int8_engine(recognizer: Recognizer) -> str | None:
    """What runs the model's int8 body (``openvino`` or ``onnxruntime``; None for a float body),
    for ``/info``: an OpenVINO body runs in OpenVINO whatever the runtime, which then says
    ``torch``, the head's, and alone read as though eager PyTorch ran the whole model."""
    body = recognizer.model.body
    return graph_engine(body) if isinstance(body, QuantizedBody) else None


def runs_words(runtime: str, engine: str | None, device: str = "cpu") -> str:
    """What runs the served model, in words, for ``/info``'s ``runs``: ``runtime`` (the one the
    recognizer runs, not the one asked for: an OpenVINO int8 body makes onnx torch) and the int8
    body's ``engine`` (:func:`int8_engine`). ``/info`` said only ``"runtime": "torch"`` where
    ``serve --help`` promised ONNX Runtime by default."""
    if runtime == "onnx":
        return "the whole model in ONNX Runtime, on the CPU"
    if engine is not None:
        return f"the int8 body in {ENGINE_NAMES.get(engine, engine)}, the head in PyTorch"
    where = "the CPU" if device == "cpu" else device
    return f"the whole model in PyTorch, on {where}"


def runs_why(
    runtime: str, engine: str | None, device: str = "cpu", asked: str | None = None
) -> str:
    """Why the served model runs as :func:`runs_words` says, for ``/info``'s ``runs_why`` and the
    line ``serve`` prints at start: ``asked`` is the runtime the server was given (None: its
    default). A default run's /info said ``"runtime": "torch"`` where README and ``--help`` said
    serve defaults to ONNX Runtime, and nothing said why. An ONNX Runtime int8 body on a machine
    with a GPU runs on the CPU under PyTorch, the GPU's runtime (``inference.int8_placement``):
    the why said "serve's default on the CPU ... one ONNX graph", where ``runs`` said the head
    runs in PyTorch."""
    if engine == "openvino":
        return (
            "this run's pretrained network is in 8-bit integers (int8) and runs in OpenVINO "
            "whatever --runtime says, as it did in training, so that it answers as it did when "
            "trained and evaluated"
        )
    if device != "cpu":
        return f"on {device} the model runs in PyTorch, as ONNX Runtime runs on the CPU only here"
    if engine is not None and runtime == "torch" and asked is None:  # a GPU chose torch
        return (
            "this run's pretrained network is in 8-bit integers (int8), which run on the CPU "
            "only, in ONNX Runtime as in training; serve runs PyTorch where it finds a GPU, so "
            "the head runs in PyTorch beside it, on the CPU too (--device cpu runs the whole "
            "model in ONNX Runtime, serve's default on the CPU)"
        )
    if asked is not None:
        return f"runtime {asked} was asked for"
    why = (
        "serve's default on the CPU, as ONNX Runtime answers faster than PyTorch once the model "
        "is made into one ONNX graph (once, kept in the cache folder)"
    )
    return why + ("; this run's int8 network ran in ONNX Runtime in training too" if engine else "")


def runs_and_why(recognizer: Recognizer, asked: str | None) -> tuple[str, str]:
    """:func:`runs_words` and :func:`runs_why` of ``recognizer``."""
    facts = (recognizer.runtime, int8_engine(recognizer), str(recognizer.device))
    return runs_words(*facts), runs_why(*facts, asked=asked)


def warm_up(recognizer: Recognizer, answering: ThreadPoolExecutor) -> None:
    """The model's first answer (:meth:`Recognizer.warm_up`), given before the server answers
    anyone, on a thread that answers uploads: a default run's first ``/predict`` took 2.3 s
    against 0.12 s for the next ones (OpenVINO loading its compiled graph, and making the
    thread's infer request, at the first call). A model that loads but cannot answer is refused
    here, in one sentence, rather than at each request. One thread only: the pool makes another
    only for an upload that comes while every thread it has is answering (uploads one after
    another all go to this one), and that thread's first answer then makes its own infer
    request, once: 0.043 s against 0.023 s (a default run, benchmarks/serve_threads.py), at most
    3 times in a server's life. Warming all 4 would make them, and their 29 MiB, at every start."""
    started = time.perf_counter()
    try:
        answering.submit(recognizer.warm_up).result()
    except Exception as exc:  # any runtime's failure: the server would answer nothing but 500s
        raise ObjrecError(f"the model loaded but failed on a first test image: {exc}") from exc
    log.info("the model answered a first image in %.2f s", time.perf_counter() - started)


def served_files(run: Path) -> list[Path]:
    """The files whose change brings a new model to a running server: the checkpoint, then the
    threshold ``evaluate --keep-threshold`` keeps beside it (read as the model loads)."""
    return [checkpoint_file(Path(run)), kept_path(Path(run))]


def add_docs(app: FastAPI) -> None:
    """``GET /docs``: the API written out from the app's own schema (``api_docs``), with nothing
    loaded from elsewhere: FastAPI's Swagger UI loads its script from a CDN, and was blank on an
    offline LAN. ``/openapi.json`` stays, for tools that read it."""

    async def docs(request: Request) -> HTMLResponse:
        page = docs_html(app.openapi())
        return HTMLResponse(page, headers={"Content-Security-Policy": docs_policy()})

    app.add_route("/docs", docs, include_in_schema=False)


def add_error_handlers(app: FastAPI) -> None:
    """Every error ``app`` answers as ``{"error": ...}``: HTTP, invalid requests, failures."""
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, server_error)


def create_app(
    run: Path,
    runtime: str | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int | None = None,
    threshold: float | None = None,
    unknown: bool = True,
    device: str = "auto",
    cors_origins: Sequence[str] = (),
    warn_any_origin: bool = True,
    check_every: float | None = CHECK_EVERY,
    allowed_hosts: Sequence[str] = (),
) -> FastAPI:
    """The app for the model in ``run``, loaded now and run once (:func:`warm_up`), so that the
    first upload is answered as fast as the next; ``threshold``, ``unknown``: as predict's.
    ``cors_origins``: the web pages' origins (``https://shop.example``; ``*``, any, warned of
    unless not ``warn_any_origin``: :func:`serve` warns once for all its workers)
    whose JavaScript may call the API and read its answers (:func:`add_cors`); none by default.
    ``app.state.served``: the model served (``served.ServedModel``). Uploads over
    ``max_upload_bytes`` and images over ``max_pixels`` (default: objrec's own limit,
    ``images.pixel_limit``, as train reads images; a lower one bounds the server's memory:
    :func:`upload_pixel_limit`) are refused (413). While the app runs it looks at the model's
    checkpoint file every ``check_every`` seconds (None: never) and answers with the new model
    once that file is replaced (``served.ServedModel``: a retrain into the run folder). A request
    sent to a name (its Host header) other than an IP address, ``localhost`` or one of
    ``allowed_hosts`` (``*.office.lan``; ``*``: any) is refused (400): :class:`RefuseOtherHosts`."""
    check_upload_limit(max_upload_bytes)
    names = [allowed_host(n) for n in allowed_hosts]
    max_pixels = upload_pixel_limit(max_pixels)
    origins = allowed_origins(cors_origins)
    if warn_any_origin:
        warn_of_any_origin(origins)
    answering = ThreadPoolExecutor(ANSWERING_AT_ONCE, thread_name_prefix="objrec-answer")
    served = serve_model(run, runtime, device, threshold, unknown, answering)
    page = page_html(max_upload_bytes, max_pixels)
    app = FastAPI(
        title="objrec",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=checking_lifespan(served, check_every),
    )
    add_docs(app)
    app.state.max_upload_bytes, app.state.served = max_upload_bytes, served
    add_middlewares(app, max_upload_bytes, names, origins)
    add_error_handlers(app)
    add_reading_routes(app, page, served, (max_upload_bytes, max_pixels, origins), runtime)
    add_predict_route(app, served, answering, max_upload_bytes, max_pixels)
    return app


def add_middlewares(
    app: FastAPI, max_upload_bytes: int, names: Sequence[str], origins: Sequence[str]
) -> None:
    """What ``app`` does around every request, innermost first: its own failures answered as
    500s, the 413 from a Content-Length, the Host check's 400, ``nosniff``, then CORS."""
    app.add_middleware(AnswerFailuresInside)  # added first: innermost, inside CORS
    app.add_middleware(RefuseDeclaredOverLimit, max_upload_bytes=max_upload_bytes)
    app.add_middleware(RefuseOtherHosts, names=names)  # before the 413: a stranger's, at once
    app.add_middleware(NoSniff)  # outside the 400 and 413 above, inside CORS
    add_cors(app, origins)  # added last: outermost, so that the 413 above carries its headers


def serve_model(
    run: Path,
    runtime: str | None,
    device: str,
    threshold: float | None,
    unknown: bool,
    answering: ThreadPoolExecutor,
) -> ServedModel:
    """The model of ``run``, loaded and run once on an ``answering`` thread (:func:`warm_up`),
    now and whenever its files are replaced (:func:`served_files`)."""

    def load() -> Recognizer:
        recognizer = load_recognizer(run, runtime, device, threshold, unknown)
        warm_up(recognizer, answering)
        return recognizer

    return ServedModel(load, served_files(run))


class ErrorAnswer(BaseModel):
    """Every refusal's body, as /openapi.json says it (it said FastAPI's ``{"detail": [...]}``
    for a 422, which objrec never sends)."""

    error: str = Field(description="one sentence: what was wrong, naming the file or the field")


PREDICT_TEXT = (
    "Answer one image: the keys that predict --json gives each image, without path: filename, "
    "answer (the closest class, or unknown), unknown, score (its familiarity), barely_familiar, "
    "unknown_threshold, unknown_threshold_kept_on, topk, the closest classes with their "
    "probabilities, and confused_with (null from serve)."
)
PREDICT_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorAnswer, "description": text}
    for code, text in (
        (
            400,
            "the file is empty, the form cannot be read, or the request was sent to a name "
            "this server does not answer to (its Host header)",
        ),
        (
            413,
            "the file is over the server's upload limit (max_upload_bytes in /info), or the "
            "image over its pixel limit (max_pixels)",
        ),
        (415, "the file is not an image objrec reads, or is damaged (cut short)"),
        (
            422,
            "a form field missing or wrong: no file, topk not a whole number from 1 to 20, "
            "tta not true or false, a field given in the URL, more than one image",
        ),
        (500, "the server failed on this request (its log says why)"),
        (
            503,
            f"the server is busy: {MOST_WAITING} uploads wait for their turn already; send it "
            "again after the seconds its Retry-After header gives",
        ),
    )
}
"""``/predict``'s refusals, for ``/openapi.json`` and ``/docs``."""
PAGE_TEXT = "The page to try the model: pick or drop an image, and see its closest classes."
HEALTH_TEXT = 'The server is up: {"status": "ok"}.'
INFO_TEXT = (
    "The model served: its classes, validation accuracy, backbone, what runs it and why, the "
    "server's limits (max_upload_bytes, max_pixels), the unknown answer's score and threshold, "
    "when the model was loaded, and the CORS origins allowed."
)


def add_predict_route(
    app: FastAPI,
    served: ServedModel,
    answering: ThreadPoolExecutor,
    max_upload_bytes: int,
    max_pixels: int,
) -> None:
    """``POST /predict``: each upload answered on an ``answering`` thread by the model served
    when its turn came (:func:`answer_upload`, ``serve_turns.Turns``: not when its client has
    gone, 503 when too many wait; stopped where it can be when its client leaves during its
    turn, ``serve_turns.while_connected``), and told in the log (:func:`log_request`)."""
    turns, limits = Turns(ANSWERING_AT_ONCE), (max_upload_bytes, max_pixels)
    busy = {"Retry-After": str(RETRY_AFTER)}

    async def answer(
        request: Request, response: Response, file: UploadFile, topk: int, tta: bool
    ) -> dict:
        misplaced = misplaced_field_text(request.query_params, await request.form())
        if misplaced:
            raise HTTPException(422, misplaced)
        async with turns.turn(request.is_disconnected, busy):
            recognizer, response.headers[MODEL_HEADER], _ = served.now()
            job = partial(answer_upload, recognizer, file, topk, tta, *limits)
            return await while_connected(request.receive, answering, job)

    @app.post(
        "/predict",
        max_body_size=body_limit(max_upload_bytes),
        description=PREDICT_TEXT,
        responses=PREDICT_ERRORS,
    )
    async def predict(
        request: Request,
        response: Response,
        file: Annotated[UploadFile, File(description="an image file")],
        topk: Annotated[int, Form(ge=1, le=MAX_TOPK, description="how many classes to give")] = 5,
        tta: Annotated[bool, Form(description="average over the test-time views")] = False,
    ) -> dict:
        started = time.perf_counter()
        try:
            answered = await answer(request, response, file, topk, tta)
        except ClientLeft as left:
            log_request(request, file, str(left), time.perf_counter() - started)
            raise HTTPException(499, str(left)) from None  # nginx's "client closed request"
        except Exception as exc:
            log_request(request, file, failure_words(exc), time.perf_counter() - started)
            raise
        log_request(request, file, answer_words(answered), time.perf_counter() - started)
        return answered


def log_request(
    request: Request, file: StarletteUploadFile | None, outcome: str, seconds: float | None = None
) -> None:
    """One line in the server's log (``served.events``, which ``objrec serve`` shows) for an
    upload: its name, size, who sent it, the answer or why none, and the time it took from its
    arrival (its body received) to the answer (``seconds``; None for a request refused before it
    reached the model). ``file`` None: the request held no image. uvicorn's access log, off
    under ``serve``, would say only the client, path and status."""
    client = request.client.host if request.client is not None else "an unknown client"
    took = "" if seconds is None else f" in {seconds * 1000:.0f} ms"
    if file is None:
        events.info("/predict without an image from %s: %s%s", client, outcome, took)
        return
    size = upload_size(file.size) if file.size is not None else "size unknown"
    name = upload_name(file.filename)
    events.info("/predict %s (%s) from %s: %s%s", name, size, client, outcome, took)


def upload_size(n_bytes: int) -> str:
    """An upload's size for the log: bytes under a KiB, whole KiB under a MiB, else in MiB as
    the upload limit is said (:func:`mebibytes`): ``812 bytes``, ``245 KiB``, ``2.31 MiB``; a
    size that rounds to 1,024 KiB is ``1 MiB``."""
    if n_bytes < 1024:
        return f"{n_bytes} bytes"
    return f"{n_bytes / 1024:,.0f} KiB" if n_bytes < MIB - 512 else mebibytes(n_bytes)


def answer_words(answer: Mapping[str, Any]) -> str:
    """``/predict``'s answer in the log: the top class and its probability, or unknown and the
    closest class."""
    top = answer["topk"][0]
    said = f"{top['class']} {top['prob']:.2%}"
    return f"unknown (closest: {said})" if answer["unknown"] else said


def failure_words(exc: Exception) -> str:
    """Why ``/predict`` gave no answer, in the log: a refusal's status and sentence, or a failure
    of the server's own (its traceback is logged too)."""
    if isinstance(exc, StarletteHTTPException):
        return f"refused, {exc.status_code}: {exc.detail}"
    return "failed, 500"


FORM_FIELDS = ("file", "topk", "tta")
"""The fields ``/predict`` reads, all from the form."""


def misplaced_field_text(query: Mapping[str, str], form: Any) -> str | None:
    """Why ``/predict`` refuses a request that its form alone would answer otherwise than meant:
    a field given in the URL (``/predict?topk=3``: ignored, it answered 5 classes), or several
    images in ``file`` (it answered the last one alone); None for a request as it should be."""
    in_url = [name for name in FORM_FIELDS if name in query]
    if in_url:
        send = (
            "the image itself in the form's field file (curl -F file=@photo.jpg)"
            if in_url[0] == "file"
            else f"{in_url[0]} as a form field beside file (curl -F {in_url[0]}=... -F "
            "file=@photo.jpg)"
        )
        return (
            f"{in_url[0]}: /predict reads its fields from the form, not from the URL: send {send}"
        )
    images = len(form.getlist("file"))
    if images > 1:
        return f"file: one image per request, and this one sends {images}: send each on its own"
    return None


def add_reading_routes(
    app: FastAPI,
    page: str,
    served: ServedModel,
    limits: tuple[int, int, list[str]],
    runtime: str | None,
) -> None:
    """GET (and HEAD) / (the page), /health and /info (:func:`model_info` of the model served
    now and when it was loaded, with the upload ``limits``: bytes, pixels; and the CORS origins).
    /info and /predict say which model answered in a header (``served.MODEL_HEADER``): the page
    showed the classes and the unknown line of the model served when it was opened, however often
    it had been replaced since; it reads /info again when an answer's model is not the one it shows.
    HEAD answers each with GET's headers and no body: ``curl -I`` was refused with a 405, so one
    checking the page's Content-Security-Policy that way saw none."""

    policy = {"Content-Security-Policy": page_policy(page)}

    @app.get("/", response_class=HTMLResponse, description=PAGE_TEXT)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers=policy)

    app.add_api_route("/health", health, methods=["GET"], description=HEALTH_TEXT)

    max_upload_bytes, max_pixels, origins = limits

    @app.get("/info", description=INFO_TEXT)
    def info(response: Response) -> dict:
        recognizer, response.headers[MODEL_HEADER], about = served.now()
        return (
            model_info(recognizer, max_upload_bytes, max_pixels, runtime)
            | about
            | {"cors_origins": origins}
        )

    for path, endpoint in (("/", index), ("/health", health), ("/info", info)):
        # out of the schema: the same operation under a second method is a duplicate id there
        app.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)


def answer_upload(
    recognizer: Recognizer,
    file: UploadFile,
    topk: int,
    tta: bool,
    max_upload_bytes: int,
    max_pixels: int,
    left: threading.Event | None = None,
) -> dict:
    """``/predict``'s answer to one upload: its bytes read, decoded and answered; stopped before
    the decoding and before the model once ``left`` says that its client has closed the
    connection (``serve_turns.stop_if_left``)."""
    name = upload_name(file.filename)
    data = read_upload(file, name, max_upload_bytes)
    stop_if_left(left, "read")
    image = _decode(data, name, max_pixels, recognizer.draft)
    stop_if_left(left, "decoded")
    return {"filename": name, **answer_json(recognizer, image, topk, tta)}


def read_upload(file: UploadFile, name: str, max_upload_bytes: int) -> bytes:
    """The upload's bytes; refused when empty (the error names the file, ``name``, as the
    others do: an archivist's 0-byte scan was the one refusal that did not), or over
    ``max_upload_bytes`` (the error names the limit)."""
    data = file.file.read(max_upload_bytes + 1)
    if not data:
        raise HTTPException(400, f"{name}: the uploaded file is empty (0 bytes)")
    if len(data) > max_upload_bytes:  # a body within body_limit() may still hold too large a file
        log_too_large(max_upload_bytes)
        raise HTTPException(413, too_large_text(max_upload_bytes))
    return data


def upload_name(filename: str | None) -> str:
    """The upload's base name (a client may send a whole path, either slash), as ``predict --json``
    names a file in ``filename``; ``upload`` when the client sent none."""
    return base_name(filename) or "upload"


def answer_json(recognizer: Recognizer, image, topk: int, tta: bool) -> dict:
    """``predict --json``'s answer for the image (:func:`~objrec.predict.answered`), without
    ``filename`` and ``path``: its ``answer`` (the class, or "unknown"), ``unknown`` (like no
    class), its ``score``, whether it is ``barely_familiar``, the threshold it was judged by and
    whether it is a kept one, and the ``topk`` (given either way)."""
    answer = answered(Prediction(""), recognizer, recognizer.answer([image], tta), 0, topk)
    return {k: v for k, v in answer.to_json().items() if k not in ("filename", "path")}


def _decode(data: bytes, name: str, max_pixels: int, draft: int):
    try:
        return open_image(data, draft_size=draft, name=name, max_pixels=max_pixels)
    except UnreadableImageError as exc:
        if not exc.too_large:
            raise HTTPException(415, str(exc)) from exc
        log_too_many_pixels(max_pixels)
        raise HTTPException(413, too_many_pixels_text(exc, max_pixels)) from exc


def too_many_pixels_text(exc: UnreadableImageError, max_pixels: int) -> str:
    """The 413's words for an image of too many pixels: why, this server's limit (which the
    reason says, ``images.bomb_reason`` too, unless it came from elsewhere), and what the
    sender can do."""
    limit = f"{max_pixels:,} pixels"
    said = "" if limit in exc.reason else f"; this server takes images of up to {limit}"
    return f"{exc}{said}; {TOO_MANY_PIXELS}"


TOO_MANY_PIXELS = "send a smaller image, or ask whoever runs the server to raise its limit"
"""What the person who sent an image of too many pixels can do (the error before it says the
limit): not the setting that raises it, which is the operator's (:func:`log_too_many_pixels`)."""


def log_too_many_pixels(max_pixels: int) -> None:
    """Tell the server's operator, in its log, that an upload was refused for its pixels, and
    how to change the limit: ``objrec serve --max-pixels`` up to objrec's own, the one train and
    predict read images under, which the environment raises."""
    log.warning(
        "refused an upload of more pixels than this server's limit of %s: objrec serve "
        "--max-pixels sets it, up to objrec's own limit, which the environment variable %s "
        "raises for serve as for every command (docs/folders.md)",
        f"{max_pixels:,}",
        MAX_PIXELS_VARIABLE,
    )


def worker_environment(
    run: Path,
    runtime: str | None,
    device: str,
    threshold,
    unknown: bool,
    max_upload_bytes: int,
    max_pixels: int | None = None,
    cors_origins: Sequence[str] = (),
    allowed_hosts: Sequence[str] = (),
) -> dict[str, str]:
    """What :func:`app_from_env` reads in each of several worker processes (the CORS origins
    and the allowed hosts space-separated: neither holds a space)."""
    return {
        "OBJREC_SERVE_RUN": str(run.resolve()),
        "OBJREC_SERVE_RUNTIME": runtime or "",
        "OBJREC_SERVE_DEVICE": device,
        "OBJREC_SERVE_THRESHOLD": "" if threshold is None else repr(threshold),
        "OBJREC_SERVE_UNKNOWN": "1" if unknown else "0",
        "OBJREC_SERVE_MAX_UPLOAD_BYTES": str(max_upload_bytes),
        "OBJREC_SERVE_MAX_PIXELS": "" if max_pixels is None else str(max_pixels),
        "OBJREC_SERVE_CORS_ORIGINS": " ".join(cors_origins),
        "OBJREC_SERVE_ALLOWED_HOSTS": " ".join(allowed_hosts),
    }


WORKER_LOGGING = "OBJREC_SERVE_LOGGING"
"""The environment variable that holds the logging set-up of :func:`serve`'s workers (JSON)."""


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory`` with several workers: the run is read from the environment,
    and the logging set-up, when :func:`serve` was given one (``worker_logging``)."""
    set_up_worker_logging()
    run = os.environ.get("OBJREC_SERVE_RUN")
    if not run:
        raise ObjrecError("OBJREC_SERVE_RUN is not set")
    threshold = os.environ.get("OBJREC_SERVE_THRESHOLD")
    max_pixels = os.environ.get("OBJREC_SERVE_MAX_PIXELS")
    return create_app(
        Path(run),
        os.environ.get("OBJREC_SERVE_RUNTIME") or None,
        max_upload_bytes=int(os.environ.get("OBJREC_SERVE_MAX_UPLOAD_BYTES", MAX_UPLOAD_BYTES)),
        max_pixels=int(max_pixels) if max_pixels else None,
        threshold=float(threshold) if threshold else None,
        unknown=os.environ.get("OBJREC_SERVE_UNKNOWN", "1") == "1",
        device=os.environ.get("OBJREC_SERVE_DEVICE", "auto"),
        cors_origins=os.environ.get("OBJREC_SERVE_CORS_ORIGINS", "").split(),
        warn_any_origin=False,  # serve warned once, not once per worker
        allowed_hosts=os.environ.get("OBJREC_SERVE_ALLOWED_HOSTS", "").split(),
    )


def set_up_worker_logging() -> None:
    """The logging set-up :func:`serve` hands its new processes in the environment
    (:data:`WORKER_LOGGING`), when it was given one."""
    if os.environ.get(WORKER_LOGGING):
        logging.config.dictConfig(json.loads(os.environ[WORKER_LOGGING]))


def check_settings(
    run: Path, runtime: str | None, device: str, threshold: float | None, unknown: bool
) -> tuple[str, str]:
    """Load the model once as each worker will (device, runtime, threshold, the checkpoint),
    so that a setting a worker would fail on is refused here, in one sentence: uvicorn's
    supervisor restarts a worker that dies while starting, forever, each with a traceback. The
    ONNX model a worker runs is exported here too, once, rather than by each worker at once.
    Returns what runs the model and why (:func:`start_words`); the workers load their own.

    It loads in a process of its own, started as uvicorn starts the workers (spawned: a fork of
    a process that has run PyTorch may hang), which ends once it has: the process that goes on
    to watch the workers kept what loading took otherwise (a default 10-class run: 0.82 GiB
    against 0.54 GiB for its imports; freeing the model gave back 0.11 GiB of it). Ctrl-C is
    this process's to answer: it stops that one at once, which never sees it (no traceback)."""
    spawned = multiprocessing.get_context("spawn")
    answer, sending = spawned.Pipe(duplex=False)
    checker = spawned.Process(
        target=send_loaded_words,
        args=(sending, Path(run), runtime, device, threshold, unknown),
        name="objrec-serve-check",
        daemon=True,
    )
    try:
        start_deaf_to_ctrl_c(checker)
        sending.close()
        words = answer.recv()
    except EOFError:
        words = RuntimeError(f"the process loading the model ended ({checker.exitcode})")
    finally:
        if checker.pid is not None:  # at once on Ctrl-C; else it has sent all it had to
            checker.terminate()
            checker.join()
    if isinstance(words, Exception):
        raise words
    return words


def start_deaf_to_ctrl_c(process: Any) -> None:
    """Start a spawned ``process`` with SIGINT held back (it inherits the mask: Ctrl-C never
    comes, not even while its interpreter starts, which printed a fatal error and a traceback).
    multiprocessing's resource tracker is started first: its own start unblocks SIGINT in this
    thread when done (CPython's fix of bpo-33613), which let the signal through to a process
    started in the same block."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    with ctrl_c_deferred(), signals_blocked(STOP_SIGNALS[:1]):
        process.start()


@contextmanager
def ctrl_c_deferred() -> Iterator[None]:
    """A Ctrl-C while the block runs is answered when it ends, by the handler before it (Python's
    KeyboardInterrupt, or the CLI's, which notes it first), not in its middle: one raised between
    a spawned process's start and the data it is sent (its target, its arguments) left that
    process reading a closed pipe, which printed its EOFError traceback under 'interrupted'
    (seen in CI on a quiet machine). Only in the main thread, where Python answers signals, and
    where a handler answers Ctrl-C (not ignored, as in a job started in the background)."""
    before = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(before):
        yield
        return
    came: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: came.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
    if came:
        before(signal.SIGINT, None)


@contextmanager
def signals_blocked(signals: Sequence[int]) -> Iterator[None]:
    """``signals`` held back while the block runs (in this thread, and in a process it starts),
    then delivered if they came meanwhile. Where signals cannot be held back (Windows), as
    they come."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def send_loaded_words(
    sending: Any,
    run: Path,
    runtime: str | None,
    device: str,
    threshold: float | None,
    unknown: bool,
) -> None:
    """:func:`check_settings`'s work, in the process it starts: the model of ``run`` loaded as a
    worker loads it, and what runs it and why sent back (:func:`loaded_words`), or why it could
    not be (an unexpected failure with its traceback, for the log)."""
    set_up_worker_logging()
    try:
        words: Any = loaded_words(run, runtime, device, threshold, unknown)
    except ObjrecError as exc:
        words = exc
    except Exception as exc:
        words = RuntimeError(f"loading the model failed: {''.join(format_exception(exc))}")
    sending.send(words)


def loaded_words(
    run: Path, runtime: str | None, device: str, threshold: float | None, unknown: bool
) -> tuple[str, str]:
    """The model of ``run`` loaded as a worker loads it, and what runs it and why
    (:func:`start_words`)."""
    return start_words(load_recognizer(run, runtime, device, threshold, unknown), runtime)


def start_words(recognizer: Recognizer, runtime: str | None) -> tuple[str, str]:
    """What ``serve`` says once the model has loaded, with one worker or several: what runs it
    and why (:func:`runs_and_why`), and on a line of its own the threshold ``evaluate
    --keep-threshold`` kept for the run, when it uses one (one kept for another model, not used,
    ``kept.read_kept`` warns of)."""
    runs, why = runs_and_why(recognizer, runtime)
    kept = recognizer.kept
    return runs, why + (f"\n{kept.words()}" if kept is not None and kept.current else "")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: any free port), or one clear sentence why not.
    ``::`` takes IPv4 connections too, as on Linux by default, wherever the system lets it: the
    addresses printed for it (:func:`urls_to_open`) include IPv4 ones."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if host == "::" and hasattr(socket, "IPV6_V6ONLY"):
        with suppress(OSError):  # a system without IPv4 on IPv6 sockets keeps IPv6 only
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ObjrecError(
                f"port {port} on {host} is already in use: choose another with `port` "
                "(0 picks a free one)"
            ) from exc
        raise ObjrecError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


WILDCARD_HOSTS = ("0.0.0.0", "::", "")
"""Hosts that bind every address of the machine: no browser opens a URL with one of them."""


def urls_to_open(host: str, port: int) -> tuple[str, list[str]]:
    """Where people open a server bound to ``host``:``port``: its URL, and the URLs for other
    devices on this machine's network. For a wildcard host (:data:`WILDCARD_HOSTS`), whose own URL
    a phone cannot open, the first is ``localhost`` (this machine) and the others its network
    addresses (:func:`network_addresses`); for any other host, its own URL and none."""
    if host not in WILDCARD_HOSTS:
        return url_of(host, port), []
    addresses = network_addresses(ipv6=host == "::")
    return url_of("localhost", port), [url_of(a, port) for a in addresses]


def network_addresses(ipv6: bool = False) -> list[str]:
    """This machine's addresses that other devices on its network may open (IPv4, and IPv6 with
    ``ipv6``), found without the network: the one its route to a private address leaves from
    (:func:`routed_address`), then those its host name resolves to; never a loopback,
    link-local or unspecified one. Empty when the machine has none."""
    families = (socket.AF_INET, socket.AF_INET6) if ipv6 else (socket.AF_INET,)
    found = [a for f in families for a in (*routed_address(f), *host_addresses(f))]
    return [a for a in dict.fromkeys(found) if reachable_from_elsewhere(a)]


PRIVATE_TARGETS = {socket.AF_INET: ("10.254.254.254", 9), socket.AF_INET6: ("fd00::1", 9)}
"""Addresses in private ranges (RFC 1918, RFC 4193) whose route shows the machine's network one."""


def routed_address(family: socket.AddressFamily) -> list[str]:
    """The address this machine would send from to a private address: a UDP socket's connect
    only chooses the route, and sends nothing. Empty without a route (no network)."""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(PRIVATE_TARGETS[family])
            return [str(probe.getsockname()[0])]
    except OSError:
        return []


def host_addresses(family: socket.AddressFamily) -> list[str]:
    """The addresses this machine's host name resolves to (from /etc/hosts or the local resolver;
    empty when it resolves to none)."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, family, socket.SOCK_STREAM)
    except OSError:  # socket.gaierror: the name resolves to nothing
        return []
    return [str(info[4][0]) for info in infos]


def reachable_from_elsewhere(address: str) -> bool:
    """Whether another device could open ``address``: not loopback, link-local (it would need
    the interface's name), unspecified or multicast."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def wait_until_up(url: str, on_ready: Callable[[str], None], timeout: float = 300.0) -> None:
    """Call ``on_ready(url)`` once ``url``/health answers (a wildcard host is asked on loopback)."""
    probe = url + "health"
    for wildcard, loopback in (("0.0.0.0", "127.0.0.1"), ("[::]", "[::1]"), ("", "127.0.0.1")):
        probe = probe.replace(f"//{wildcard}:", f"//{loopback}:")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(probe, timeout=2):
                on_ready(url)
                return
        except OSError:
            time.sleep(0.1)
    log.warning("the server did not answer at %s within %.0f s", probe, timeout)


def serve(
    run: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    runtime: str | None = None,
    on_ready: Callable[[str], None] | None = None,
    threshold: float | None = None,
    unknown: bool = True,
    device: str = "auto",
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    on_loaded: Callable[[str, str], None] | None = None,
    max_pixels: int | None = None,
    cors_origins: Sequence[str] = (),
    worker_logging: Mapping[str, Any] | None = None,
    allowed_hosts: Sequence[str] = (),
    root_path: str = "",
    reporter: Reporter | None = None,
) -> None:
    """Run the app under uvicorn until stopped; binds to loopback unless ``host`` says otherwise.

    The port is bound first, so that a busy one raises ``ObjrecError`` at once, not once the model
    has loaded (up to 1 min 47 s, shown to ``reporter``); then the model is loaded (checked, with
    several ``workers``) before anything is served. ``on_loaded(runs, why)`` is called once it is
    loaded, with what runs it and why (:func:`runs_and_why`); ``on_ready(url)`` once the server
    answers at ``url`` (its real port, for ``port`` 0). The limits, ``cors_origins`` and
    ``allowed_hosts``: as :func:`create_app`'s, which answers ``host``'s name and this machine's
    too (:func:`server_names`). ``worker_logging``: a ``logging.config.dictConfig`` each of
    several ``workers`` (new processes) applies as it starts. ``root_path``: the prefix a reverse
    proxy strips (:func:`proxy_prefix`), which ``/openapi.json`` gives as its server."""
    check_workers(workers)
    root_path = proxy_prefix(root_path)
    check_upload_limit(max_upload_bytes)
    max_pixels = upload_pixel_limit(max_pixels)  # refused here, not by each worker
    allowed = allowed_origins(cors_origins), server_names(host, allowed_hosts)
    settings = (runtime, device, threshold, unknown, max_upload_bytes, max_pixels, *allowed)
    with closing(bind_socket(host, port)) as sock, workers_environment():
        if workers > 1 and worker_logging is not None:
            os.environ[WORKER_LOGGING] = json.dumps(worker_logging)
        with ctrl_c_leaves(lambda: NOT_STARTED):  # until uvicorn's own handlers take Ctrl-C
            with or_silent(reporter).task("loading the model", None):  # 10 s at a load of 9
                app, runs = app_to_serve(Path(run), workers, settings)
            if on_loaded is not None:
                on_loaded(*runs)
            url = url_of(host, sock.getsockname()[1])
            config = server_config(app, workers, root_path)
            if on_ready is not None:
                threading.Thread(target=wait_until_up, args=(url, on_ready), daemon=True).start()
        run_until_stopped(config, sock)


def server_config(app: FastAPI | str, workers: int, root_path: str) -> Any:
    """uvicorn's settings for ``app`` (with several ``workers``, the name of its factory):
    ``root_path`` is the prefix ``/openapi.json`` names as its server (:func:`proxy_prefix`);
    connections beyond :func:`connection_limit` are answered 503 by uvicorn."""
    import uvicorn

    return uvicorn.Config(
        app,
        factory=workers > 1,
        workers=workers,
        log_level="warning",
        root_path=root_path,
        limit_concurrency=connection_limit(),
    )


def connection_limit() -> int | None:
    """The connections (and their requests) a server process keeps open: half the files it may
    open (``RLIMIT_NOFILE``'s soft limit; None where the system says none). Past it uvicorn
    answers 503 at once; without it, a flood of connections took every file the process may
    open, and the server could no longer accept one, nor open an upload's spooled file or a
    new model (review48b LOW 7). Slow clients are not timed out: uvicorn has no timeout for
    receiving a request (its keep-alive timeout restarts at each byte), a reverse proxy does
    (docs/commands.md)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to stay under
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else max(64, soft // 2)


@contextmanager
def workers_environment(prefix: str = "OBJREC_SERVE_") -> Iterator[None]:
    """``os.environ``'s variables of ``prefix`` as they were, once the block ends: several workers
    get their settings through them (:func:`worker_environment`, :data:`WORKER_LOGGING`), which
    a Python process that called :func:`serve` kept after it returned otherwise."""
    before = {name: value for name, value in os.environ.items() if name.startswith(prefix)}
    try:
        yield
    finally:
        for name in [name for name in os.environ if name.startswith(prefix)]:
            del os.environ[name]
        os.environ.update(before)


def app_to_serve(
    run: Path, workers: int, settings: tuple[Any, ...]
) -> tuple[FastAPI | str, tuple[str, str]]:
    """What uvicorn serves, and what runs the model and why: with several ``workers``, the name
    of the factory each worker process builds its app with from the environment (the settings
    checked here first); else the app itself. ``settings``: ``serve``'s runtime, device,
    threshold, unknown, max_upload_bytes, max_pixels, cors_origins and allowed_hosts."""
    runtime, device, threshold, unknown, max_upload_bytes, max_pixels, origins, names = settings
    if workers > 1:
        runs = check_settings(run, runtime, device, threshold, unknown)
        warn_of_any_origin(origins)  # once here: each worker's app warns of nothing
        os.environ.update(worker_environment(run, *settings))
        return "objrec.serve:app_from_env", runs
    app = create_app(
        *(run, runtime, max_upload_bytes, max_pixels),
        threshold=threshold,
        unknown=unknown,
        device=device,
        cors_origins=origins,
        allowed_hosts=names,
    )
    return app, start_words(app.state.served.recognizer, runtime)


def run_until_stopped(config: Any, sock: socket.socket) -> None:
    """Serve on ``sock`` until SIGINT (Ctrl-C) or SIGTERM (systemd, ``docker stop``) stops it
    cleanly, which returns: a stop asked for, not an interruption. uvicorn shuts down on either
    signal, then raises it again for its caller (uvicorn 0.29's cooperative signal handling), which
    the CLI took for an interruption ('aborted', exit 130 or 143); here it is only noted. Several
    workers run under uvicorn's supervisor, which keeps the signals for itself."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if config.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
        return
    server = uvicorn.Server(config)

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True  # one before uvicorn listens stops it as soon as it has started

    with signal_handlers(stop):
        server.run(sockets=[sock])


@contextmanager
def signal_handlers(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """``handler`` for SIGINT and SIGTERM while the block runs (from the main thread only, where
    signals are received), then the handlers before it again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that stop a server cleanly (uvicorn's own, on POSIX)."""
