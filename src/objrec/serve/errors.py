"""Every error ``serve`` answers, as JSON ``{"error": ...}`` in one sentence: HTTP errors, requests
FastAPI could not validate (naming the field, and what the request sent instead), failures of
the server's own (a 500, answered inside CORS)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from objrec.serve.turns import (
    LEFT,
)
from objrec.serve.uploads import BODY_END, log_request, log_too_large, too_large_text

PATHS = "/ (the page), /predict (POST an image), /health, /info and /docs"
"""What this server answers, as its 404 says."""


def route_path(request: Request) -> str:
    """The path ``request`` was routed by (:func:`routed_path`)."""
    return routed_path(request.scope)


def routed_path(scope: Scope) -> str:
    """The path a request was routed by: its URL's path without the ``root_path`` that
    ``serve``'s own (``root_path``) puts before it (``/objrec/predict`` is ``/predict``)."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(f"{root}/") else path


class StartSeen:
    """A middleware's ``send`` that remembers whether the answer has started (its
    ``http.response.start`` went out): after that, a middleware that meets a failure can no
    longer answer in its stead."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self.send(message)


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message}, headers=headers)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Every HTTP error as ``{"error": ...}``. A 413 that is not FastAPI's ``HTTPException`` (those
    raised here) is the body limit's, Starlette's "Content Too Large": it is said as the upload
    limit; a 400 of the form's parser, for a client that left while sending it, as that; the
    router's 404 names the paths it answers ("Not Found" named none). The exception's headers
    are kept (a 405's ``Allow``)."""
    if exc.status_code == 413 and not isinstance(exc, HTTPException):
        log_too_large(request.app.state.max_upload_bytes)
        return error_response(413, too_large_text(request.app.state.max_upload_bytes))
    if exc.status_code == 400 and not isinstance(exc, HTTPException):  # the form's parser
        if route_path(request) == "/predict" and await request.is_disconnected():
            log_request(request, None, LEFT["sending"])  # it read as a form refused
            return error_response(499, LEFT["sending"])
        return form_refused(request, unreadable_form_text(str(exc.detail)))
    if exc.status_code == 405:
        return error_response(405, wrong_method_text(request, exc), exc.headers)
    if exc.status_code == 404 and not isinstance(exc, HTTPException):  # the router's
        return error_response(404, f"no page {route_path(request)}: this server answers {PATHS}")
    return error_response(exc.status_code, str(exc.detail), exc.headers)


def form_refused(request: Request, sentence: str) -> JSONResponse:
    """The 400 of a form that could not be read, and its line in the log for an upload."""
    if route_path(request) == "/predict":
        log_request(request, None, f"refused, 400: {sentence}")
    return error_response(400, sentence)


def form_cut_short(request: Request) -> bool:
    """Whether a multipart request's body ended before its form's closing boundary (an upload cut
    off): its parser then finds no part, or none after the last whole one, and the form read as
    empty, or without its ``file``. An empty body is an empty form."""
    kind, _, params = (request.headers.get("content-type") or "").partition(";")
    boundary = params.partition("boundary=")[2].split(";")[0].strip().strip('"')
    end = request.scope.get(BODY_END, b"")
    multipart = kind.strip().lower() == "multipart/form-data"
    return multipart and bool(boundary) and bool(end) and f"--{boundary}--".encode() not in end


CUT_SHORT = "it ends before its closing boundary: cut short, as an upload cut off leaves it"
"""Why a form cut short could not be read (:func:`form_cut_short`)."""


def wrong_method_text(request: Request, exc: StarletteHTTPException) -> str:
    """The 405's words: the methods the path takes (its ``Allow`` header), and for ``/predict``
    how to send an image; Starlette's "Method Not Allowed" says neither."""
    allowed = (exc.headers or {}).get("Allow", "")
    path = route_path(request)
    said = f"{path} takes {allowed or 'other'} requests, not {request.method}"
    if path == "/predict":
        said += ": send the image in a POST, as curl -F file=@photo.jpg sends it"
    return said


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
    Server Error", which the page cannot read (it would say "error (no answer)"). The sentence names
    no detail of the server; uvicorn logs the traceback. :class:`AnswerFailuresInside` answers
    the app's own failures so, with CORS headers; this handler, those of the middleware."""
    return error_response(500, SERVER_ERROR)


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
        sending = StartSeen(send)
        try:
            await self.app(scope, receive, sending)
        except Exception:
            if not sending.started:  # else the answer is under way, and only the server can end it
                await error_response(500, SERVER_ERROR)(scope, receive, send)
            raise


FIELD_TEXT = {
    "topk": "topk must be a whole number, 1 or more (how many of the closest classes to answer "
    "with: a model of fewer classes answers with all of them, as predict does)",
    "tta": "tta must be true or false (whether to average over the test-time views)",
}
"""What ``/predict``'s fields other than ``file`` must be, said with what was sent instead."""


NOT_A_FILE = (
    "file: the image must be sent as a file (a form part with a file name, as curl -F "
    "file=@photo.jpg sends it), not as text"
)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A request FastAPI could not validate: one sentence naming the field. A ``file`` sent as
    text (``curl -F file=photo.jpg``, without the ``@``) was pydantic's "Value error, Expected
    UploadFile, received: <class 'str'>"; a ``topk`` of 0 "Input should be greater than or equal
    to 1"; a ``tta`` of ``maybe`` "Input should be a valid boolean, unable to interpret
    input". A form cut short, which read as one without its ``file``, is a 400 of a form that
    could not be read (:func:`form_cut_short`)."""
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
    if where == "file" and first.get("type") == "missing" and form_cut_short(request):
        return form_refused(request, unreadable_form_text(CUT_SHORT))
    if where == "file" and first.get("type") != "missing":
        sentence = NOT_A_FILE
    elif where == "file":
        sentence = no_file_text(request.headers.get("content-type"), exc.body)
    elif where in FIELD_TEXT:
        sentence = f"{FIELD_TEXT[where]}, not {first.get('input')!r}"
    else:
        sentence = f"{where}: {first.get('msg', 'invalid request')}"
    if route_path(request) == "/predict":  # an upload refused: one line, as every other upload
        sent = exc.body.get("file") if hasattr(exc.body, "get") else None
        image = sent if isinstance(sent, StarletteUploadFile) else None
        log_request(request, image, f"refused, 422: {sentence}")
    return error_response(422, sentence)


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


def add_error_handlers(app: FastAPI) -> None:
    """Every error ``app`` answers as ``{"error": ...}``: HTTP, invalid requests, failures."""
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, server_error)


class ErrorAnswer(BaseModel):
    """Every refusal's body, as /openapi.json says it (not FastAPI's ``{"detail": [...]}``
    for a 422, which objrec never sends)."""

    error: str = Field(description="one sentence: what was wrong, naming the file or the field")
