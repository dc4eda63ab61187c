"""The routes that read: the page at ``/`` (this server's limits set in, its
Content-Security-Policy), ``/health``, ``/info`` and ``/docs``, each answering HEAD as well."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from objrec.images import IMAGE_EXTENSIONS
from objrec.serve.api_docs import docs_html, docs_policy
from objrec.serve.model import model_info
from objrec.serve.served import MODEL_HEADER, ServedModel
from objrec.serve.uploads import mebibytes, size_text


def page_html(max_upload_bytes: int, max_pixels: int) -> str:
    """The page at ``/`` with this server's upload limit set in: said under the upload control
    ("up to 10 MiB per image") before anything is sent, and checked by the page on a file
    picked. A larger photo the browser can draw is sent as a smaller copy, made in the browser
    (a phone's 18 MiB photo was refused, and its holder cannot raise the limit); any other larger
    file is refused there, before it is uploaded, in the 413's words and naming the option that
    raises the limit (a 30 MB microscope TIFF met only the 413, after its upload, and nothing on
    the page said the limit), where it is named as an image objrec reads (``IMAGE_EXTENSIONS``,
    set in too: a larger limit would only see other files refused as no image). The copy is
    within ``max_pixels`` too, which is set in beside the bytes: a 2048-pixel copy was refused by
    a server given a lower ``--max-pixels``."""
    page = (resources.files("objrec") / "static" / "index.html").read_text()
    settings = {
        "{{max_upload_bytes}}": str(max_upload_bytes),
        "{{max_upload_size}}": mebibytes(max_upload_bytes),
        "{{max_upload_text}}": size_text(max_upload_bytes),
        "{{max_pixels}}": str(max_pixels),
        "{{image_extensions}}": " ".join(sorted(IMAGE_EXTENSIONS)),
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


class Health(BaseModel):
    """``/health``'s answer, as /openapi.json says it."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["ok"] = Field(description="ok: the server is up")


class ServerInfo(BaseModel):
    """``/info``'s answer, as /openapi.json says it (docs/json.md's serve)."""

    model_config = ConfigDict(extra="forbid")
    classes: list[str] = Field(description="the model's classes")
    valid_accuracy: float | None = Field(
        description="the run's top-1 on its validation split; null for a run that does not say"
    )
    test_top1: float | None = Field(
        description="the top-1 of evaluate's evaluation of the run's test split of this model; "
        "null: none"
    )
    backbone: str = Field(description="the pretrained network the model is built on")
    runtime: str = Field(description="what runs the network: onnx, torch or openvino")
    int8_engine: str | None = Field(description="what runs an int8 body; null: a float one")
    runs: str = Field(description="what runs the model, in words")
    runs_why: str = Field(description="why it runs so, in words")
    version: str = Field(description="objrec's version")
    max_upload_bytes: int = Field(description="the largest upload the server reads")
    max_pixels: int = Field(description="the most pixels an uploaded image may decode to")
    unknown_score: str = Field(description="the score unknown is judged by (msp: top probability)")
    unknown_threshold: float | None = Field(description="its threshold; null: none")
    unknown_score_readable: bool = Field(description="whether the score is the familiarity")
    unknown_threshold_kept_on: str | None = Field(
        description="when the threshold is one that evaluate kept with the run: when (UTC)"
    )
    loaded_at: str = Field(description="when this server process loaded the model (UTC)")
    checkpoint_modified: str | None = Field(description="when the model's file was written (UTC)")
    cors_origins: list[str] = Field(description="the origins allowed to call it from a page")


def health() -> dict:
    """``GET /health``: the server is up."""
    return {"status": "ok"}


def add_docs(app: FastAPI) -> None:
    """``GET /docs``: the API written out from the app's own schema (``serve.api_docs``), with
    nothing loaded from elsewhere: FastAPI's Swagger UI loads its script from a CDN, and was blank
    on an offline LAN. ``/openapi.json`` stays, for tools that read it."""

    async def docs(request: Request) -> HTMLResponse:
        page = docs_html(app.openapi())
        return HTMLResponse(page, headers={"Content-Security-Policy": docs_policy()})

    app.add_route("/docs", docs, include_in_schema=False)


PAGE_TEXT = "The page to try the model: pick or drop an image, and see its closest classes."


HEALTH_TEXT = 'The server is up: {"status": "ok"}.'


INFO_TEXT = (
    "The model served: its classes, validation accuracy, test top-1, backbone, what runs it and "
    "why, the server's limits (max_upload_bytes, max_pixels), the unknown answer's score and "
    "threshold, "
    "when the model was loaded, and the CORS origins allowed."
)


def add_reading_routes(
    app: FastAPI,
    page: str,
    served: ServedModel,
    limits: tuple[int, int, list[str]],
    runtime: str | None,
) -> None:
    """GET (and HEAD) / (the page), /health and /info (``serve.model.model_info`` of the model
    served now and when it was loaded, with the upload ``limits``: bytes, pixels; and the CORS
    origins). /info and /predict say which model answered in a header
    (``serve.served.MODEL_HEADER``), so that the page does not show the classes and the unknown line
    of the model served when it was opened, however often it is replaced since: it reads /info again
    when an answer's model is not the one it shows. HEAD answers each with GET's headers and no
    body, so that one checking the page's Content-Security-Policy with ``curl -I`` sees it (not a
    405)."""

    policy = {"Content-Security-Policy": page_policy(page)}

    @app.get("/", response_class=HTMLResponse, description=PAGE_TEXT)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers=policy)

    app.add_api_route(
        "/health", health, methods=["GET"], description=HEALTH_TEXT, response_model=Health
    )

    max_upload_bytes, max_pixels, origins = limits

    @app.get("/info", description=INFO_TEXT, response_model=ServerInfo)
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
