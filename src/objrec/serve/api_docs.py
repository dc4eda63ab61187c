"""The page ``serve`` shows at ``/docs``: its API, written out from the app's own OpenAPI schema
(what ``/openapi.json`` serves), as plain HTML with no script and nothing loaded from elsewhere.

FastAPI's Swagger UI loads its script and style from a CDN (cdn.jsdelivr.net): on an offline LAN
the page was blank but for a note, and whoever controlled that CDN ran script on the server's
origin. This page works offline, under a Content-Security-Policy that lets nothing run, and
behind a reverse proxy's path prefix (every link is relative). Trying the API is the page at
``/``'s job, or curl's.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from html import escape
from typing import Any

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 1.5rem auto;
  padding: 0 1rem; line-height: 1.45; color: #1b1b1b }
code, pre { font-family: ui-monospace, monospace; font-size: 0.92em }
pre { background: #f3f3f3; padding: 0.6rem 0.8rem; overflow-x: auto }
table { border-collapse: collapse; margin: 0.4rem 0 }
th, td { text-align: left; vertical-align: top; padding: 0.25rem 0.6rem;
  border-bottom: 1px solid #ddd }
h2 { margin-top: 2rem; font-size: 1.15rem }
"""


def intro_html(title: str, version: str) -> str:
    """What the page says before the endpoints: how a script calls ``/predict``, in curl and in
    Python, and where the answers' keys are described."""
    return f"""<h1>{escape(title)} {escape(version)}: the API</h1>
<p>A script sends one image per request to <code>POST /predict</code>, in the form field
<code>file</code>, and gets one JSON object back (the keys of <code>objrec predict --json</code>,
without <code>path</code>); every refusal is an HTTP error status with <code>{{"error": "one
sentence"}}</code>; a request sent to a name this server does not answer to (its Host
header) is refused with 400: open it by its address, or ask whoever runs it to allow the name.
URL below is this page's address without <code>/docs</code>.</p>
<pre>curl -F file=@photo.jpg -F topk=3 URL/predict</pre>
<p>In Python, with the requests package (<code>pip install requests</code>: objrec does not
install it, and Python's own urllib needs the form written by hand):</p>
<pre>import requests

with open("photo.jpg", "rb") as photo:
    answered = requests.post(URL + "/predict", files={{"file": photo}}, data={{"topk": 3}})
answer = answered.json()
if answered.ok:
    print(answer["answer"], answer["topk"][0]["prob"])  # a class, or "unknown"
else:
    print(answered.status_code, answer["error"])</pre>
<p>The same description, for tools that read OpenAPI: <a href="openapi.json">openapi.json</a>.
Every key of the answers: objrec's docs/json.md, "serve".</p>"""


def resolved(schema: Mapping[str, Any], part: Mapping[str, Any]) -> Mapping[str, Any]:
    """``part`` itself, or the component its ``$ref`` names."""
    ref = part.get("$ref")
    if not ref:
        return part
    found: Any = schema
    for key in ref.removeprefix("#/").split("/"):
        found = found[key]
    return found


def field_rows(schema: Mapping[str, Any], operation: Mapping[str, Any]) -> list[str]:
    """One table row per form field of ``operation``: its name, type, whether it must be given
    (else its default and range) and what it is."""
    content = operation.get("requestBody", {}).get("content", {})
    form = content.get("multipart/form-data", {}).get("schema")
    if form is None:
        return []
    body = resolved(schema, form)
    rows = []
    for name, field in body.get("properties", {}).items():
        kind = "a file" if "contentMediaType" in field or field.get("format") == "binary" else ""
        given = (
            "required"
            if name in body.get("required", [])
            else f"default {json.dumps(field.get('default'))}"
        )
        bounds = [
            f"{w} {field[k]:g}" for k, w in (("minimum", "from"), ("maximum", "to")) if k in field
        ]
        cells = (
            name,
            kind or field.get("type", ""),
            ", ".join([given, *bounds]),
            field.get("description", ""),
        )
        rows.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    return rows


def operation_html(
    schema: Mapping[str, Any], method: str, path: str, operation: Mapping[str, Any]
) -> str:
    """One endpoint: its method and path (a link, for a GET), what it does, its form fields and
    its answers by status."""
    shown = escape(path)
    if method == "get":
        shown = f'<a href="{escape(path.lstrip("/") or "./")}">{shown}</a>'
    parts = [f"<h2>{method.upper()} {shown}</h2>"]
    parts.append(f"<p>{escape(operation.get('description') or operation.get('summary', ''))}</p>")
    rows = field_rows(schema, operation)
    if rows:
        head = "<tr><th>form field</th><th>type</th><th>given</th><th>what</th></tr>"
        parts.append(f"<table>{head}{''.join(rows)}</table>")
    answers = operation.get("responses", {})
    items = [
        f"<li><b>{escape(code)}</b> {escape(a.get('description', ''))}</li>"
        for code, a in answers.items()
    ]
    parts.append(f"<ul>{''.join(items)}</ul>")
    return "\n".join(parts)


def docs_html(schema: Mapping[str, Any]) -> str:
    """The whole page for ``schema`` (FastAPI's ``app.openapi()``)."""
    info = schema.get("info", {})
    operations = [
        operation_html(schema, method, path, operation)
        for path, methods in schema.get("paths", {}).items()
        for method, operation in methods.items()
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(info.get('title', 'objrec'))}: the API</title>\n"
        f'<link rel="icon" href="data:,">\n<style>{STYLE}</style></head><body>\n'
        f"{intro_html(info.get('title', 'objrec'), info.get('version', ''))}\n"
        + "\n".join(operations)
        + "\n</body></html>\n"
    )


def docs_policy() -> str:
    """The page's Content-Security-Policy: its own style (by its SHA-256), its blank icon, and
    nothing else: no script at all."""
    digest = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; base-uri 'none'; "
        "form-action 'none'"
    )
