"""``POST /predict``: an upload's form checked, its turn (``serve.turns``), its image decoded and
answered on one of the app's answering threads by the model served when its turn came, and one
line in the server's log for each upload."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Mapping
from concurrent.futures import Executor
from functools import partial
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from objrec.inference import Recognizer
from objrec.prediction import Prediction, fill_prediction
from objrec.serve.errors import ErrorAnswer
from objrec.serve.served import MODEL_HEADER, ServedModel
from objrec.serve.turns import (
    MOST_WAITING,
    RETRY_AFTER,
    ClientLeft,
    Turns,
    stop_if_left,
    while_connected,
)
from objrec.serve.uploads import (
    body_limit,
    decode_upload,
    log_request,
    note_first_page,
    read_upload,
    return_freed_memory,
    upload_name,
)

ANSWERING_AT_ONCE = 4
"""Uploads ``/predict`` decodes and answers at once, each on one of the app's own threads; the
others wait their turn, holding no thread. FastAPI ran up to 40 at once, one per thread of its
pool, and each thread kept what its own images had taken (the allocator keeps an arena per
thread), so 40 small PNGs of 6,000 x 6,000 pixels took a server to 10.9 GB and left it at 9.3 GB.
One answer already keeps every core busy. An image within objrec's pixel limit
(``images.pixel_limit``, 89 million pixels) decodes in up to 0.36 GB (Pillow holds an RGB pixel
in 4 bytes): one of a kind that takes more a pixel to decode (32-bit grey, RGBA: 9 bytes) is
allowed fewer pixels (``images.bytes_to_decode``), where a 0.6 MB 32-bit TIFF took 1.4 GB."""


PREDICT_TEXT = (
    "Answer one image: the keys that predict --json gives each image, without path: filename, "
    "answer (the closest class, or unknown), unknown, score (its familiarity), barely_familiar, "
    "unknown_threshold, unknown_threshold_kept_on, topk, the closest classes with their "
    "probabilities, and confused_with (the classes the run's evaluation mistook the answer's "
    "for both ways, as predict --json gives them; null when no evaluation of the model records "
    "them)."
)


class TopClass(BaseModel):
    """One of the closest classes of an answer, most probable first."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    class_: str = Field(alias="class", description="the class's name")
    prob: float = Field(description="its calibrated probability, among the classes only")


class PredictAnswer(BaseModel):
    """``/predict``'s answer to an image, as /openapi.json says it: ``predict --json``'s keys for
    an image, in its order, without ``path`` (docs/json.md's predict)."""

    model_config = ConfigDict(extra="forbid")
    filename: str = Field(description="the upload's base name")
    answer: str = Field(description="what to act on: the top class, or unknown")
    unknown: bool = Field(description="like none of the classes: score under the threshold")
    score: float = Field(description="the unknown score: the familiarity for most runs")
    barely_familiar: bool | None = Field(
        description="answered though within 0.25 of the unknown line; null: no familiarity"
    )
    unknown_threshold: float | None = Field(
        description="the threshold unknown was judged by, on score's scale; null: none"
    )
    unknown_threshold_kept_on: str | None = Field(
        description="when the threshold is the one evaluate --keep-threshold kept: when (UTC)"
    )
    topk: list[TopClass] = Field(description="the closest classes, most probable first")
    confused_with: list[str] | None = Field(
        description="the classes the run's evaluation mistook the answer's for both ways; null: "
        "no evaluation of the model records them"
    )


TOPK_TEXT = "how many classes to give (all of a model's fewer, as predict --topk gives them)"
"""``topk``'s line in /openapi.json and /docs: no bound of its own, as ``predict --topk`` has
none (a bound of 20 refused ``topk=99`` for a 5-class model that ``predict`` answered)."""


PREDICT_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorAnswer, "description": text}
    for code, text in (
        (
            400,
            "the file is empty, the form cannot be read (or was cut short), or the request was "
            "sent to a name this server does not answer to (its Host header)",
        ),
        (
            413,
            "the file is over the server's upload limit (max_upload_bytes in /info), or the "
            "image over its pixel limit (max_pixels)",
        ),
        (415, "the file is not an image objrec reads, or is damaged (cut short)"),
        (
            422,
            "a form field missing or wrong: no file, topk not a whole number of 1 or more, "
            "tta not true or false, a field given in the URL, more than one image",
        ),
        (500, "the server failed on this request (its log says why)"),
        (
            503,
            f"the server is busy: {MOST_WAITING} uploads wait for their turn already; send it "
            "again after the seconds its Retry-After header gives; or the server stopped before "
            "it answered the upload",
        ),
    )
}
"""``/predict``'s refusals, for ``/openapi.json`` and ``/docs``."""


PREDICT_SCHEMA: dict[str, Any] = {
    "description": PREDICT_TEXT,
    "response_model": PredictAnswer,
    "responses": PREDICT_ERRORS,
}
"""What ``/openapi.json`` says of ``/predict``: what it does, its answer and its refusals."""


def add_predict_route(
    app: FastAPI,
    served: ServedModel,
    answering: Executor,
    max_upload_bytes: int,
    max_pixels: int,
) -> None:
    """``POST /predict``: each upload answered on an ``answering`` thread by the model served
    when its turn came (:func:`answer_upload`, ``serve.turns.Turns``: not when its client has
    gone, 503 when too many wait; stopped where it can be when its client leaves during its
    turn, ``serve.turns.while_connected``), and told in the log (:func:`logged`)."""
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

    @app.post("/predict", max_body_size=body_limit(max_upload_bytes), **PREDICT_SCHEMA)
    async def predict(
        request: Request,
        response: Response,
        file: Annotated[UploadFile, File(description="an image file")],
        topk: Annotated[int, Form(ge=1, description=TOPK_TEXT)] = 5,
        tta: Annotated[bool, Form(description="average over the test-time views")] = False,
    ) -> dict:
        return await logged(request, file, answer(request, response, file, topk, tta))


async def logged(request: Request, file: UploadFile, answering: Awaitable[dict]) -> dict:
    """The answer ``answering`` gives the upload ``file``, told in the server's log in one line
    (``serve.uploads.log_request``) with the seconds it took: the answer, why it was refused or
    failed, or that its client left (then a 499, nginx's "client closed request")."""
    started = time.perf_counter()
    try:
        answered = await answering
    except ClientLeft as left:
        log_request(request, file, str(left), time.perf_counter() - started)
        raise HTTPException(499, str(left)) from None
    except Exception as exc:
        log_request(request, file, failure_words(exc), time.perf_counter() - started)
        raise
    log_request(request, file, answer_words(answered), time.perf_counter() - started)
    return answered


def answer_words(answer: Mapping[str, Any]) -> str:
    """``/predict``'s answer in the log: the top class and its probability, or unknown and the
    closest class; one answered though barely familiar says so as ``predict`` does, with its
    familiarity and the line (a newcomer's emu was logged ``ibis 93.82%`` where the JSON said
    ``barely_familiar: true``)."""
    from objrec.prediction import score_and_line

    top = answer["topk"][0]
    said = f"{top['class']} {top['prob']:.2%}"
    if answer["unknown"]:
        return f"unknown (closest: {said})"
    if not answer.get("barely_familiar") or answer.get("unknown_threshold") is None:
        return said
    score, line = score_and_line(answer["score"], answer["unknown_threshold"])
    return f"{said} (barely familiar: {score}, unknown below {line})"


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
    connection (``serve.turns.stop_if_left``). After an image of :data:`TRIM_ABOVE_PIXELS` or
    more, the memory its decoding freed is given back to the system."""
    name = upload_name(file.filename)
    data = read_upload(file, name, max_upload_bytes)
    stop_if_left(left, "read")
    image = decode_upload(data, name, max_pixels, recognizer.draft)
    note_first_page(data, name)
    stop_if_left(left, "decoded")
    pixels = image.width * image.height
    answered = {"filename": name, **answer_json(recognizer, image, topk, tta)}
    del image  # its pixels freed before the allocator is asked to give them back
    if pixels >= TRIM_ABOVE_PIXELS:
        return_freed_memory()
    return answered


TRIM_ABOVE_PIXELS = 16_000_000
"""The pixels decoded from an upload (a 4,000 x 4,000 PNG; a JPEG counts as decoded, reduced)
from which its answering thread gives the memory freed back to the system
(``serve.uploads.return_freed_memory``): 4 PNGs of 9,400 x 9,400 at once, twice, left the server
0.9 to 1.2 GB above its rest, 0.01 to 0.05 GB with it. Smaller uploads skip it, and its cost."""


def answer_json(recognizer: Recognizer, image, topk: int, tta: bool) -> dict:
    """``predict --json``'s answer for the image (:func:`~objrec.prediction.fill_prediction`),
    without ``filename`` and ``path``: its ``answer`` (the class, or "unknown"), ``unknown``
    (like no class), its ``score``, whether it is ``barely_familiar``, the threshold it was
    judged by and whether it is a kept one, the ``topk`` (given either way) and
    ``confused_with`` (as predict --json: [] or the classes; null: none recorded)."""
    answer = fill_prediction(Prediction(""), recognizer, recognizer.answer([image], tta), 0, topk)
    return {k: v for k, v in answer.to_json().items() if k not in ("filename", "path")}
