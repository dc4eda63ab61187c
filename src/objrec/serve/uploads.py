"""An upload to ``serve``: its limits (bytes, pixels) and their refusals in words, for whoever sent
it (413) and for the operator (the log names the option that raises each); its bytes read and
decoded; its line in the server's log."""

from __future__ import annotations

import ctypes
import functools
import logging
import logging.config
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import HTTPException, Request, UploadFile
from starlette.datastructures import Headers
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.types import Scope

from objrec.images import MAX_PIXELS_VARIABLE, UnreadableImageError, frames_in, open_image
from objrec.prediction import base_name
from objrec.serve.served import events
from objrec.words import plural

log = logging.getLogger(__name__)


MIB = 1024 * 1024


MAX_UPLOAD_BYTES = 10 * MIB
"""The largest upload ``/predict`` takes unless told otherwise (``objrec serve --max-upload-mib``):
a phone's photo is a few MiB; larger uploads are answered 413, naming the limit."""


MULTIPART_ALLOWANCE = 64 * 1024
"""Room in a request's body for what multipart wraps around the file (boundaries, part headers, the
``topk`` and ``tta`` fields): ``/predict`` reads at most the upload limit plus this."""


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


def log_declared_too_large(scope: Scope, max_upload_bytes: int) -> None:
    """The log's line for an upload refused by its Content-Length alone, as :func:`log_request`
    writes one for an upload refused once read (its body unread: no file name to give), beside
    the operator's warning."""
    client = scope.get("client")
    sender = client[0] if client else "an unknown client"
    size = upload_size(declared_length(scope))
    said = too_large_text(max_upload_bytes)
    events.info("%s (%s declared) from %s: refused, 413: %s", scope["path"], size, sender, said)


def body_limit(max_upload_bytes: int) -> int:
    """The most bytes of a request's body ``/predict`` reads (FastAPI's ``max_body_size``)."""
    return max_upload_bytes + MULTIPART_ALLOWANCE


def declared_length(scope: Scope) -> int:
    """The body's length as the Content-Length header gives it; 0 without one (chunked)."""
    try:
        return int(Headers(scope=scope).get("content-length", 0))
    except ValueError:  # the server refuses such a request before the app sees it
        return 0


@dataclass
class UploadCounts:
    """What a server did with the uploads sent to ``/predict``, by its answer's status
    (``serve.guards.CountUploads``): answered, refused (no image, too large, the server busy:
    never counted among those answered), left by their client before the answer, failed (the
    server's own error), cut off by the server's stop (``cut``: still being sent or waiting
    when it ended them, ``serve.guards.AnswerCutByStop``); with several server processes, their
    sum, and how many of them ended
    without saying theirs (``uncounted``: killed, or stopped twice, which skips its shutdown;
    ``serve.workers.counted_across_workers``). ``objrec serve``'s last line says them."""

    answered: int = 0
    refused: int = 0
    left: int = 0
    failed: int = 0
    uncounted: int = 0
    cut: int = 0

    def count(self, status: int, cut: bool = False) -> None:
        """One upload more, answered with ``status``, or ``cut`` off by the server's stop."""
        if cut:
            self.cut += 1
        elif status < 400:
            self.answered += 1
        elif status == CLIENT_LEFT:
            self.left += 1
        elif status >= 500 and status != 503:  # 503: too many waiting, a refusal
            self.failed += 1
        else:
            self.refused += 1

    def __add__(self, other: UploadCounts) -> UploadCounts:
        """Two server processes' counts together."""
        mine, theirs = asdict(self), asdict(other)
        return UploadCounts(**{name: mine[name] + theirs[name] for name in mine})

    def words(self) -> str:
        """``5 uploads answered, 3 refused``: each count above 0 (the answered always, the one
        a person looks for); ``1 upload answered``; ``no upload came``; then any server process
        left out: ``(not counting 1 server process that ended abruptly)``."""
        if not any(asdict(self).values()):
            return "no upload came"
        answered = f"{plural(self.answered, 'upload')} answered"
        others = [
            (self.refused, "refused"),
            (self.left, "left by their client"),
            (self.failed, "failed"),
            (self.cut, "cut off by the stop"),
        ]
        said = ", ".join([answered, *(f"{n:,} {what}" for n, what in others if n)])
        if self.uncounted:
            ended = plural(self.uncounted, "server process", "server processes")
            said += f" (not counting {ended} that ended abruptly)"
        return said


CLIENT_LEFT = 499
"""The status of an upload whose client closed the connection before its answer (nginx's
"client closed request")."""


CUT_BY_STOP = "objrec.cut_by_stop"
"""The request scope's key set when the server's stop cut the request off
(``serve.guards.AnswerCutByStop``): its upload is counted as cut off, whatever it was answered."""


STOPPED_TEXT = (
    "the server stopped before it answered this upload: send it again once the server is back"
)
"""The 503's words for an upload the server's stop cut off."""


def log_cut_by_stop(scope: Scope) -> None:
    """The log's line for an upload the server's stop cut off, as :func:`log_request` writes one
    for every other upload: while its body was still coming, or waiting for its answer."""
    client = scope.get("client")
    sender = client[0] if client else "an unknown client"
    when = "waiting for its answer" if scope.get(RECEIVED) is not None else "while it was sent"
    events.info("/predict from %s: not answered: the server stopped %s", sender, when)


BODY_END = "objrec.body_end"
"""The request scope's key for the last :data:`BODY_END_BYTES` of its body, as received, kept by
``serve.guards.MarkBodyReceived``: a form without its closing boundary was cut short
(``serve.errors.form_cut_short``)."""
BODY_END_BYTES = 128
"""Enough of a body's end to hold a form's closing boundary (a boundary is at most 70
characters, RFC 2046) and the line ends around it."""


RECEIVED = "objrec.received"
"""The request scope's key for when its body was received whole (``time.perf_counter()``), set
by ``serve.guards.MarkBodyReceived``: an upload's log line times a refusal made before the
endpoint ran (:func:`log_request`) from it, as the endpoint times the others."""


def log_request(
    request: Request, file: StarletteUploadFile | None, outcome: str, seconds: float | None = None
) -> None:
    """One line in the server's log (``serve.served.events``, which ``objrec serve`` shows) for an
    upload: its name, size, who sent it, the answer or why none, and the time it took from its
    arrival (its body received) to the answer (``seconds``; None for a request refused before the
    endpoint ran: timed from when ``serve.guards.MarkBodyReceived`` saw its body whole, none
    for one whose body never came whole), said before the answer, which may end in advice that
    a time after it would read as part of. ``file`` None: the request held no image. uvicorn's
    access log, off under ``serve``, would say only the client, path and status."""
    client = request.client.host if request.client is not None else "an unknown client"
    if seconds is None and (received := request.scope.get(RECEIVED)) is not None:
        seconds = time.perf_counter() - received  # a refusal before the endpoint ran
    took = "" if seconds is None else f", {seconds * 1000:.0f} ms"  # said before the outcome
    if file is None:
        events.info("/predict without an image from %s%s: %s", client, took, outcome)
        return
    size = upload_size(file.size) if file.size is not None else "size unknown"
    name = upload_name(file.filename)
    events.info("/predict %s (%s) from %s%s: %s", name, size, client, took, outcome)


def upload_size(n_bytes: int) -> str:
    """An upload's size for the log: bytes under a KiB, whole KiB under a MiB, else in MiB as
    the upload limit is said (:func:`mebibytes`): ``812 bytes``, ``245 KiB``, ``2.31 MiB``; a
    size that rounds to 1,024 KiB is ``1 MiB``."""
    if n_bytes < 1024:
        return f"{n_bytes} bytes"
    return f"{n_bytes / 1024:,.0f} KiB" if n_bytes < MIB - 512 else mebibytes(n_bytes)


def read_upload(file: UploadFile, name: str, max_upload_bytes: int) -> bytes:
    """The upload's bytes; refused when empty (the error names the file, ``name``, as the
    others do: an archivist's 0-byte scan was the one refusal that did not), or over
    ``max_upload_bytes`` (the error names the limit)."""
    data = file.file.read(max_upload_bytes + 1)
    if not data:
        raise HTTPException(400, f"the uploaded file, named {name}, is empty (0 bytes)")
    if len(data) > max_upload_bytes:  # a body within body_limit() may still hold too large a file
        log_too_large(max_upload_bytes)
        raise HTTPException(413, too_large_text(max_upload_bytes))
    return data


def upload_name(filename: str | None) -> str:
    """The upload's base name (a client may send a whole path, either slash), as ``predict --json``
    names a file in ``filename``; ``upload`` when the client sent none."""
    return base_name(filename) or "upload"


FIRST_PAGE_SAID = threading.Event()
"""Set once this server process has said that an upload of several pages or frames has its
first alone answered (:func:`note_first_page`): said once a server, not once an upload."""


def note_first_page(data: bytes, name: str) -> None:
    """One warning, the first time an upload holds several pages or frames (a TIFF's pages, an
    animated GIF, WebP or PNG's frames; ``images.frames_in``), naming it: the first alone is
    answered, as ``predict`` and ``split`` say of such files (words64). Uploads are not counted
    once it is said."""
    if FIRST_PAGE_SAID.is_set() or (n := frames_in(data)) <= 1:
        return
    FIRST_PAGE_SAID.set()
    log.warning(
        "the upload %s holds %d pages or frames: only the first page or frame of it, and of any "
        "such upload after it, is answered",
        name,
        n,
    )


def decode_upload(data: bytes, name: str, max_pixels: int, draft: int):
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


def return_freed_memory() -> None:
    """Give the memory freed in every thread's arena back to the system (glibc's
    ``malloc_trim``; elsewhere nothing): glibc keeps what a large decode freed for the thread's
    next allocations, so that a server's resident memory stayed up to 1.2 GB above its rest after
    a few large images at once, though nothing held it."""
    libc = glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def glibc() -> Any:
    """The C library when it is glibc, which has ``malloc_trim`` (musl has not); else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None
