"""What wraps every request ``serve`` answers (:func:`add_middlewares`, innermost first): its own
failures answered as 500s, the 413 from a Content-Length over the upload limit, the 503 of a
request the server's stop cut off, each upload
counted by its answer, the Host check against DNS rebinding (400), ``nosniff``, and CORS for the
origins allowed."""

from __future__ import annotations

import asyncio
import logging
import logging.config
import socket
import time
from collections.abc import Sequence

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from objrec.serve.address import WILDCARD_HOSTS
from objrec.serve.errors import AnswerFailuresInside, StartSeen, error_response, routed_path
from objrec.serve.served import MODEL_HEADER
from objrec.serve.settings import (
    ANY_HOST,
    ANY_ORIGIN,
    allowed_host,
    host_of,
    is_address,
)
from objrec.serve.uploads import (
    BODY_END,
    BODY_END_BYTES,
    CLIENT_LEFT,
    CUT_BY_STOP,
    RECEIVED,
    STOPPED_TEXT,
    UploadCounts,
    body_limit,
    declared_length,
    log_cut_by_stop,
    log_declared_too_large,
    log_too_large,
    too_large_text,
)

log = logging.getLogger(__name__)


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


class MarkBodyReceived:
    """Marks in the request's scope (:data:`RECEIVED`) when its body has been received whole: a
    refusal of FastAPI's checks (``topk`` out of range, no image) was logged without the time an
    answer's line ends with ("in 3 ms"); and keeps the body's end (``serve.uploads.BODY_END``),
    where a form that was cut short lacks its closing boundary."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                end = scope.get(BODY_END, b"") + message.get("body", b"")
                scope[BODY_END] = end[-BODY_END_BYTES:]
                if not message.get("more_body", False):
                    scope[RECEIVED] = time.perf_counter()
            return message

        await self.app(scope, receiving if scope["type"] == "http" else receive, send)


class CountUploads:
    """Counts each upload to ``/predict`` by its answer's status, in ``counts``
    (``serve.uploads.UploadCounts``, the app's ``state.uploads``): outside the 413 from a
    Content-Length and inside the Host check, so that every upload the log has a line for is
    counted once, as it was answered or refused."""

    def __init__(self, app: ASGIApp, counts: UploadCounts) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_upload(scope):
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.counts.count(status[0] if status else CLIENT_LEFT, scope.get(CUT_BY_STOP, False))


class AnswerCutByStop:
    """A request that the server's stop cut off answered 503 in JSON, and marked
    (``serve.uploads.CUT_BY_STOP``) so that it is counted as cut off. uvicorn ends the requests
    still under way (an upload half sent by a client that waits, one waiting for its turn) by
    cancelling them: ``serve.stopping.STOP_DEADLINE`` seconds after SIGTERM or Ctrl-C, or at once
    on a second Ctrl-C. It logged each one's ``CancelledError`` with its traceback (60 lines) and
    sent the client a plain-text 500. Inside the count and ``nosniff``, which see the 503."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sending = StartSeen(send)
        try:
            await self.app(scope, receive, sending)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # ended here: the answer below is sent, the task then ends
            scope[CUT_BY_STOP] = True
            if is_upload(scope):
                log_cut_by_stop(scope)
            if not sending.started:  # else the answer is under way, and the stop ends it
                await error_response(503, STOPPED_TEXT)(scope, receive, send)


def is_upload(scope: Scope) -> bool:
    """Whether a request is an upload to ``/predict`` (behind a proxy's prefix too)."""
    routed = routed_path(scope)
    return scope["type"] == "http" and scope.get("method") == "POST" and routed == "/predict"


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
            log_declared_too_large(scope, self.max_upload_bytes)
            await error_response(413, too_large_text(self.max_upload_bytes))(scope, receive, send)
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
                await error_response(400, wrong_host_text(host))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def add_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Starlette's CORS middleware around ``app``, outermost, for the (checked) ``origins``: a
    web page of one of them may call the API from its JavaScript and read the answers (a GET or
    a POST, with the headers a form sends; no cookies nor credentials; the header that names
    the model that answered, ``serve.served.MODEL_HEADER``, readable), errors included (a 413
    from :class:`RefuseDeclaredOverLimit`, a 500 from ``serve.errors.AnswerFailuresInside``).
    Without ``origins``, no CORS headers at all: a browser keeps every answer from a page of another
    address."""
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_credentials=False,
            expose_headers=[MODEL_HEADER],  # a browser hides any other from the page's script
        )


def add_middlewares(
    app: FastAPI, max_upload_bytes: int, names: Sequence[str], origins: Sequence[str]
) -> None:
    """What ``app`` does around every request, innermost first: when its body was received
    marked, its own failures answered as 500s, the 413 from a Content-Length, a request the
    server's stop cut off answered 503, each upload
    counted (in ``app.state.uploads``), the Host check's 400, ``nosniff``, then CORS."""
    app.add_middleware(MarkBodyReceived)  # innermost: where the app reads the body
    app.add_middleware(AnswerFailuresInside)  # added first: innermost, inside CORS
    app.add_middleware(RefuseDeclaredOverLimit, max_upload_bytes=max_upload_bytes)
    app.add_middleware(AnswerCutByStop)  # inside the count, which sees its 503
    app.state.uploads = UploadCounts()
    app.add_middleware(CountUploads, counts=app.state.uploads)  # the 413 above counted too
    app.add_middleware(RefuseOtherHosts, names=names)  # before the 413: a stranger's, at once
    app.add_middleware(NoSniff)  # outside the 400 and 413 above, inside CORS
    add_cors(app, origins)  # added last: outermost, so that the 413 above carries its headers
