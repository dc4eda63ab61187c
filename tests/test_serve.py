"""The web API: every endpoint, every bad request, a real server stopped by a signal (test_page: a
real server's API and its page in a real browser)."""

import asyncio
import contextlib
import io
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from objrec.serve.server import NOT_STARTED, create_app

from .conftest import EPS, fake_checkpoint, fake_ghostscript, local_client, make_image


def png_bytes(size=(40, 32), colour=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    make_image(colour, size=size).save(buffer, "PNG")
    return buffer.getvalue()


def plain_png(width, height) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_serve_package_gives_its_entry_points_from_its_server_module():
    """``from objrec.serve import create_app, serve`` gives the server module's, which
    ``dir(objrec.serve)`` lists before they are imported (for completion), and a name the package
    lacks is refused as a missing module attribute."""
    import objrec.serve
    from objrec.serve import create_app as from_package
    from objrec.serve import serve, server

    assert {"create_app", "serve", "server"} <= set(dir(objrec.serve))
    assert from_package is create_app and serve is server.serve
    with pytest.raises(ImportError):
        from objrec.serve import app_to_serve  # noqa: F401


@pytest.mark.slow
def test_health_info_and_page(client):
    from objrec.checkpoint import read_checkpoint

    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert info["classes"] == ["blue", "green", "red"] and info["backbone"] == "tiny_test"
    valid_acc = read_checkpoint(client.run)[1].valid_acc  # the page's header says it
    assert valid_acc is not None and info["valid_accuracy"] == valid_acc
    assert info["int8_engine"] is None and info["runs"] == "the whole model in PyTorch, on the CPU"
    assert info["runs_why"] == "runtime torch was asked for"
    page = client.get("/")
    assert page.status_code == 200 and "Drop an image" in page.text


@pytest.mark.slow
def test_info_names_the_engine_that_runs_an_int8_body(client, tmp_path, monkeypatch):
    """A default run's OpenVINO int8 body runs in OpenVINO whatever the runtime, which then says
    torch: /info said only ``"runtime": "torch"``, as though eager PyTorch ran the model. Its
    graph is compiled (or loaded) as the app is made, not at the first upload (which took 2.3 s
    against 0.12 s for the next ones)."""
    from objrec.openvino_runtime import OpenVinoModel

    from .test_inference import int8_copy

    run = int8_copy(client.run, tmp_path / "run")
    compiled = []
    compile_model = OpenVinoModel._compile
    monkeypatch.setattr(
        OpenVinoModel, "_compile", lambda self, *a: compiled.append(a) or compile_model(self, *a)
    )
    app = create_app(run)
    assert len(compiled) == 1
    with local_client(app) as int8:
        info = int8.get("/info").json()
        assert int8.post("/predict", files={"file": ("x.png", png_bytes())}).status_code == 200
    assert len(compiled) == 1
    # what runs the network: "torch", the head's, read as though PyTorch ran it
    assert info["runtime"] == "openvino" and info["int8_engine"] == "openvino"
    assert info["runs"] == "the int8 body in OpenVINO, the head in PyTorch"
    assert "runs in OpenVINO whichever runtime is asked for, so that" in info["runs_why"]


@pytest.mark.slow
def test_info_says_why_an_onnxruntime_int8_body_runs_beside_a_pytorch_head_with_a_gpu(
    client, tmp_path, monkeypatch
):
    """With a GPU, serve picks PyTorch; an int8 body runs on the CPU only, an ONNX Runtime one in
    ONNX Runtime, so its head runs in PyTorch beside it, on the CPU. /info's runs said so, and
    its runs_why "serve's default on the CPU, as ONNX Runtime answers faster than PyTorch once
    the model is made into one ONNX graph". --runtime onnx was refused, though such a body runs
    on the CPU, in ONNX Runtime. The GPU is mocked: none here."""
    import torch

    from objrec.serve import model as serve_model

    from .test_inference import int8_copy

    run = int8_copy(client.run, tmp_path / "run", engine="onnxruntime")
    monkeypatch.setattr(serve_model, "resolve_device", lambda device: torch.device("cuda", 0))
    recognizer = serve_model.load_recognizer(run, None, "auto", None, True)
    assert recognizer.runtime == "torch" and recognizer.device == torch.device("cpu")
    runs, why = serve_model.runs_and_why(recognizer, None)
    assert runs == "the int8 body in ONNX Runtime, the head in PyTorch"
    assert why.startswith("this run's pretrained network is in 8-bit integers (int8), which ")
    assert "the head runs in PyTorch beside it, on the CPU too" in why
    assert "one ONNX graph" not in why and "serve's default on the CPU, as" not in why
    assert (
        serve_model.runs_why("torch", "onnxruntime", "cpu", "torch")
        == "runtime torch was asked for"
    )
    # --runtime onnx was refused with a GPU ("runs on the CPU only") before the body was read
    recognizer = serve_model.load_recognizer(run, "onnx", "auto", None, True)
    assert recognizer.runtime == "onnx" and recognizer.device == torch.device("cpu")
    assert serve_model.runs_and_why(recognizer, "onnx") == (
        "the whole model in ONNX Runtime, on the CPU",
        "runtime onnx was asked for",
    )


def test_the_model_answers_once_on_an_answering_thread_before_the_app_is_made(
    tmp_path, monkeypatch
):
    """The first /predict of a default run took 2.3 s against 0.12 s for the next ones (OpenVINO
    loaded its graph and made the thread's infer request then): the app answers a first image
    on a thread of those that answer uploads before it is made, and one that fails is refused.
    What it says it runs names the run's kept threshold, as with several workers: `serve RUN`
    (one worker) said nothing of the threshold.json it used."""
    from objrec.errors import ObjrecError
    from objrec.kept import KeptThreshold
    from objrec.serve import model as serve_model

    class Loaded:
        runtime, device, model, warmed = "torch", "cpu", SimpleNamespace(body=None), []
        kept = KeptThreshold(0.2, "2026-12-03T14:00:00Z", Path("run/threshold.json"), True, {})

        def warm_up(self):
            self.warmed.append(threading.current_thread().name)

    monkeypatch.setattr(serve_model, "load_recognizer", lambda *args: Loaded())
    app = create_app(tmp_path)
    assert len(Loaded.warmed) == 1 and Loaded.warmed[0].startswith("objrec-answer")
    runs = serve_model.start_words(app.state.served.recognizer, None)
    assert runs[0] == "the whole model in PyTorch, on the CPU"
    said = (
        "\nunknown below 0.2, kept by `evaluate` from photos of none of the classes on 2026-12-03"
    )
    assert said in runs[1] and runs[1].endswith(Loaded.kept.words())
    assert serve_model.loaded_words(tmp_path, None, "cpu", None, True) == runs
    monkeypatch.setattr(Loaded, "warm_up", lambda self: 1 / 0)
    with pytest.raises(ObjrecError, match="the model loaded but failed on a first test image"):
        create_app(tmp_path)


def test_serve_s_start_line_says_once_that_the_int8_body_runs_in_openvino():
    """A default run's serve said "running the int8 body in OpenVINO, the head in PyTorch: this
    run's int8 network runs in OpenVINO whichever runtime is asked for, ...": where it runs,
    twice. /info's runs_why, read apart from runs, keeps the whole sentence."""
    from objrec.cli.delivery import StartLines
    from objrec.serve.model import runs_why, runs_words

    lines = StartLines(Path("run"), "127.0.0.1")
    lines.loaded(runs_words("torch", "openvino"), runs_why("torch", "openvino") + "\nkept")
    lines.loaded(runs_words("onnx", None), runs_why("onnx", None))
    assert lines.runs[0] == (
        "running the int8 body in OpenVINO, the head in PyTorch: whichever runtime is asked for, "
        "so that it answers as it did when trained and evaluated\nkept"
    )
    assert lines.runs[1].startswith("running the whole model in ONNX Runtime, on the CPU: serve's")


def test_info_and_serve_help_say_the_same_of_what_runs_the_model():
    """`serve --help` said its default runtime is ONNX Runtime, while a default run's /info said
    `"runtime": "torch"`: its OpenVINO int8 body runs in OpenVINO whatever the runtime, the head
    in PyTorch. /info's `runs` says what runs the model in words, and --help says the same,
    first, with the keys /info gives such a run (its "Left out, serve picks: on the CPU onnx"
    came first, and a newcomer read it against /info's "runtime": "torch")."""
    import click

    from objrec.cli.delivery import RUNS_NOTE, serve
    from objrec.cli.prediction import predict
    from objrec.serve.model import runs_why, runs_words

    default_run = runs_words("torch", "openvino")  # a default run asked for onnx: torch
    assert default_run == "the int8 body in OpenVINO, the head in PyTorch"
    assert f'"running {default_run}", and why' in RUNS_NOTE and "(runs, runs_why)" in RUNS_NOTE
    option = next(p for p in serve.params if p.name == "runtime")
    assert isinstance(option, click.Option) and option.help and RUNS_NOTE in option.help
    assert option.help.index(RUNS_NOTE) < option.help.index("Any other model, left out, serve")
    assert '"runtime": "openvino", "int8_engine": "openvino"' in RUNS_NOTE
    # its default in --help too, as predict's: left out, it showed none
    assert option.show_default == "onnx on the CPU, torch on a GPU"
    assert "runtime, int8_engine, runs and runs_why" in " ".join((serve.help or "").split())
    for asked in (None, "onnx", "torch"):
        why = runs_why("torch", "openvino", "cpu", asked)
        assert why == (  # msgs55: "8-bit integers (int8)" after "the int8 body", and "as it did
            # in training, so that it answers as it did when trained"
            "this run's int8 network runs in OpenVINO whichever runtime is asked for, so that it "
            "answers as it did when trained and evaluated"
        )
        assert "either" not in why  # "in OpenVINO ... under either runtime" read as a contradiction
    predicts = next(p for p in predict.params if p.name == "runtime")
    assert isinstance(predicts, click.Option) and predicts.help
    assert "runs in OpenVINO whichever you pick" in " ".join(predicts.help.split())
    assert runs_why("onnx", None).startswith("serve's default on the CPU, as ONNX Runtime")
    assert runs_why("onnx", "onnxruntime").endswith(
        "int8 network ran in ONNX Runtime in training too"
    )
    assert runs_why("torch", None, "cuda:0") == (
        "on cuda:0 the model runs in PyTorch, as ONNX Runtime runs on the CPU only here"
    )
    assert runs_why("torch", None, "cpu", "torch") == "runtime torch was asked for"
    assert runs_words("onnx", None) == "the whole model in ONNX Runtime, on the CPU"
    assert runs_words("onnx", "onnxruntime") == "the whole model in ONNX Runtime, on the CPU"
    assert (
        runs_words("torch", "onnxruntime") == "the int8 body in ONNX Runtime, the head in PyTorch"
    )
    assert runs_words("torch", None, "cuda:0") == "the whole model in PyTorch, on cuda:0"


def schema_errors(schema: dict, part: dict, value, where: str = "") -> list[str]:
    """Where ``value`` breaks ``part`` of the OpenAPI ``schema`` (the JSON Schema pydantic
    writes: $ref, anyOf, type, properties, required, additionalProperties, items, const)."""
    if "$ref" in part:
        part = schema["components"]["schemas"][part["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in part:
        fits = [schema_errors(schema, one, value, where) for one in part["anyOf"]]
        return [] if [] in fits else [f"{where}: {value!r} fits none of {part['anyOf']}"]
    kinds = {"string": str, "number": (int, float), "integer": int, "boolean": bool}
    kinds |= {"array": list, "object": dict, "null": type(None)}
    kind = part.get("type")
    wrong = isinstance(value, bool) and kind in ("number", "integer")
    if kind and (wrong or not isinstance(value, kinds[kind])):
        return [f"{where}: {value!r} is no {kind}"]
    if "const" in part and value != part["const"]:
        return [f"{where}: {value!r} is not {part['const']!r}"]
    errors = [f"{where}.{key}: missing" for key in part.get("required", []) if key not in value]
    if kind == "object" and part.get("additionalProperties") is False:
        errors += [
            f"{where}.{key}: not in the schema" for key in value if key not in part["properties"]
        ]
    for key, inner in part.get("properties", {}).items():
        if key in value:
            errors += schema_errors(schema, inner, value[key], f"{where}.{key}")
    for i, item in enumerate(value if kind == "array" else []):
        errors += schema_errors(schema, part.get("items", {}), item, f"{where}[{i}]")
    return errors


def test_openapi_types_the_answers_of_predict_info_and_health_as_the_server_sends_them(client):
    """review55b M4: the 200 answers of /predict, /info and /health were untyped objects in
    /openapi.json (``additionalProperties: true``), where every error had ``ErrorAnswer``: a
    client generated from the schema got an untyped map for the one answer it exists for. Each
    is typed now, with every key it sends and no other, and real answers fit it."""
    schema = client.get("/openapi.json").json()
    sent = {
        ("/predict", "post"): client.post("/predict", files={"file": ("x.png", png_bytes())}),
        ("/info", "get"): client.get("/info"),
        ("/health", "get"): client.get("/health"),
    }
    for (path, method), response in sent.items():
        assert response.status_code == 200
        typed = schema["paths"][path][method]["responses"]["200"]["content"]["application/json"]
        part = schema["components"]["schemas"][typed["schema"]["$ref"].rsplit("/", 1)[1]]
        assert list(part["properties"]) == list(response.json()) == part["required"]
        assert schema_errors(schema, typed["schema"], response.json(), path) == []
    answer = schema["components"]["schemas"]["PredictAnswer"]["properties"]["topk"]["items"]
    top = schema["components"]["schemas"][answer["$ref"].rsplit("/", 1)[1]]
    assert top["required"] == ["class", "prob"] and top["additionalProperties"] is False
    broken = sent["/predict", "post"].json() | {"score": "high", "topk": [{"class": "x"}]}
    assert len(schema_errors(schema, {"$ref": "#/components/schemas/PredictAnswer"}, broken)) == 2


def test_docs_describes_the_api_offline_from_its_own_schema_with_nothing_loaded_elsewhere(client):
    """/docs was Swagger UI, whose script and style came from a CDN: blank on an offline LAN but
    for a note, and the CDN's script ran on the server's origin. It is now the API written out
    from /openapi.json: every endpoint, /predict's form fields and refusals, in plain HTML with
    no script, under a policy that loads nothing else, every link relative (a proxy's prefix)."""
    docs = client.get("/docs")
    schema = client.get("/openapi.json").json()
    assert docs.status_code == 200 and "<script" not in docs.text
    assert "http://" not in docs.text.replace("http://HOST", "") and "https://" not in docs.text
    policy = docs.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'; style-src 'sha256-") and "script" not in policy
    for path, methods in schema["paths"].items():
        for method in methods:
            assert f"<h2>{method.upper()} " in docs.text and f"{path}</" in docs.text
    assert '<a href="openapi.json">' in docs.text and '<a href="info">/info</a>' in docs.text
    for field in ("<td>file</td><td>a file</td><td>required</td>", "default 5, from 1</td>"):
        assert field in docs.text
    refused = schema["paths"]["/predict"]["post"]["responses"]
    assert set(refused) == {"200", "400", "413", "415", "422", "500", "503"}
    assert refused["422"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorAnswer")
    assert "<b>415</b> the file is not an image objrec reads" in docs.text
    assert client.get("/redoc").status_code == 404


def test_the_docs_page_s_python_example_says_to_install_requests():
    """newcomer57 (9): /docs's Python example imports requests, which objrec's venv lacks: run as
    written, ModuleNotFoundError. The page says to install it."""
    from objrec.serve.api_docs import intro_html

    page = intro_html("objrec", "1.0")
    assert "import requests" in page and "<code>pip install requests</code>" in page


def test_a_wrong_path_or_method_is_a_json_error_that_keeps_its_headers(client):
    """A 404 or 405 from the router is ``{"error": ...}`` too, and a 405 still says which methods
    the path takes (its ``Allow`` header, which HTTP requires)."""
    missing = client.get("/nothing")
    assert missing.status_code == 404 and missing.json() == {  # it was "Not Found" (review52b L3)
        "error": "no page /nothing: this server answers / (the page), /predict (POST an image), "
        "/health, /info and /docs"
    }
    wrong = client.get("/predict")  # it said only "Method Not Allowed"
    assert wrong.status_code == 405 and wrong.json() == {
        "error": "/predict takes POST requests, not GET: send the image in a POST, as curl -F "
        "file=@photo.jpg sends it"
    }
    assert wrong.headers.get("allow") == "POST"


def test_predict_returns_topk_json(client):
    response = client.post(
        "/predict", files={"file": ("red.png", png_bytes(), "image/png")}, data={"topk": "2"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["filename"] == "red.png" and len(body["topk"]) == 2
    assert body["topk"][0]["class"] == "red" and body["topk"][0]["prob"] >= body["topk"][1]["prob"]


def test_predict_answers_with_the_keys_of_predict_json_but_path(client, tmp_path):
    from objrec.predict import predict

    image = tmp_path / "red.png"
    image.write_bytes(png_bytes())
    (local,) = predict(client.run, [image], topk=2)
    served = client.post(
        "/predict", files={"file": ("photos/day one/red.png", png_bytes(), "image/png")}
    ).json()
    assert served["filename"] == local.to_json()["filename"] == "red.png"
    assert set(served) == set(local.to_json()) - {"path"}
    assert "barely_familiar" in served and served["barely_familiar"] == local.barely_familiar
    assert local.to_json()["path"] == str(image)


def test_predict_s_answer_is_the_class_or_unknown_as_predict_json_s(client):
    """``answer``, the one key a script acts on, as predict --json's: the top class, or
    "unknown" from an app whose threshold the image's score is under (the same rule: predict's)."""
    red = {"file": ("r.png", png_bytes(), "image/png")}
    answered = client.post("/predict", files=red).json()
    assert answered["answer"] == answered["topk"][0]["class"] == "red"
    app = create_app(client.run, runtime="torch", threshold=answered["score"] + 0.1)
    with local_client(app) as strict:
        rejected = strict.post("/predict", files=red).json()
    assert rejected["unknown"] is True and rejected["answer"] == "unknown"
    assert list(rejected)[:3] == ["filename", "answer", "unknown"]  # predict's order, less path


def barely_familiar_answer(client) -> dict:
    """``/predict``'s answer for the blue image from an app whose unknown line lies 0.1 under its
    familiarity: answered, though barely familiar (within ``prediction.NEAR_LINE`` of the line)."""
    from objrec.prediction import NEAR_LINE

    blue = {"file": ("blue.png", png_bytes(colour=(40, 60, 200)), "image/png")}
    score = client.post("/predict", files=blue).json()["score"]
    assert client.get("/info").json()["unknown_score_readable"] is True
    app = create_app(client.run, runtime="torch", threshold=score - NEAR_LINE / 2.5)
    with local_client(app) as near:
        return near.post("/predict", files=blue).json()


def test_predict_says_an_image_near_the_unknown_line_is_barely_familiar(client):
    """The page reads ``barely_familiar``: an image answered with a class, though its familiarity
    is within 0.25 of the unknown line, is true; one far above it false, as predict says."""
    far = client.post("/predict", files={"file": ("r.png", png_bytes(), "image/png")}).json()
    near = barely_familiar_answer(client)
    assert far["barely_familiar"] is False and far["unknown"] is False
    assert near["barely_familiar"] is True and near["unknown"] is False
    assert near["topk"][0]["class"] == "blue"


TOPK = "topk must be a whole number, 1 or more (how many of the closest classes to answer with"
"""serve's refusal of a bad topk: pydantic's "Input should be greater than or equal to 1" and
"unable to parse string as an integer" before (review52b L1)."""


def test_predict_s_topk_is_capped_at_the_model_s_classes_and_a_bad_tta_is_said_in_a_sentence(
    client,
):
    """review55b L3: serve refused ``topk=99`` on a 5-class model ("a whole number from 1 to
    20") where ``predict --topk 99`` answers every class: it now answers with all of them too.
    L2: ``tta=maybe`` got pydantic's words ("tta: Input should be a valid boolean, unable to
    interpret input"), where topk had a sentence of its own; now tta has one too."""
    image = {"file": ("x.png", png_bytes(), "image/png")}
    many = client.post("/predict", files=image, data={"topk": "99"})
    assert many.status_code == 200
    assert sorted(t["class"] for t in many.json()["topk"]) == ["blue", "green", "red"]
    maybe = client.post("/predict", files=image, data={"tta": "maybe"})
    assert (maybe.status_code, maybe.json()) == (
        422,
        {
            "error": "tta must be true or false (whether to average over the test-time views), "
            "not 'maybe'"
        },
    )
    zero = client.post("/predict", files=image, data={"topk": "0"}).json()["error"]
    assert zero.startswith(TOPK) and zero.endswith("as predict does), not '0'")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("files", "data", "status", "words"),
    [
        ({"file": ("null", b"", "image/png")}, {}, 400, "the uploaded file, named null, is empty"),
        ({"file": ("x.png", b"hello, not an image", "image/png")}, {}, 415, "cannot read image"),
        ({"file": ("x.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64, "image/jpeg")}, {}, 415, "x.jpg"),
        (
            {"file": ("big.bin", b"\x00" * 200_001, "image/png")},
            {},
            413,
            "up to 0.191 MiB (200,000 bytes)",
        ),
        ({"file": ("huge.png", None, "image/png")}, {}, 413, "pixels"),
        ({"image": ("x.png", None, "image/png")}, {}, 422, "no field file, only image"),
        ({}, {"file": "photo.jpg"}, 422, "file: the image must be sent as a file"),
        ({"x": ("x.png", None, "image/png")}, {"file": "a.jpg"}, 422, "must be sent as a file"),
        ({"file": ("x.png", None, "image/png")}, {"topk": "0"}, 422, "not '0'"),
        ({"file": ("x.png", None, "image/png")}, {"topk": "many"}, 422, f"{TOPK}"),
        ({}, {}, 422, "file: no image: /predict reads a form (multipart/form-data)"),
    ],
    ids=[
        "empty",
        "text",
        "truncated",
        "too-many-bytes",
        "too-many-pixels",
        "wrong-field",
        "file-as-text",
        "file-as-a-text-part",
        "topk-0",
        "topk-text",
        "no-body",
    ],
)
def test_bad_requests_get_a_clear_4xx_json_error(client, files, data, status, words):
    for field, (name, content, kind) in list(files.items()):
        if content is None:
            files[field] = (name, plain_png(600, 600) if name == "huge.png" else png_bytes(), kind)
    response = client.post("/predict", files=files or None, data=data)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"} and words in body["error"]
    assert "Traceback" not in response.text


def test_a_form_that_cannot_be_read_is_told_what_to_send_and_logged(client, caplog):
    """A file name of 5,000 characters puts a part's headers over python-multipart's 4 KiB: the
    answer was Starlette's "Invalid multipart data." alone, and the log said nothing. So is a
    multipart body without its boundary."""
    long_name = {"file": ("x" * 5000 + ".jpg", png_bytes(), "image/png")}
    with caplog.at_level("INFO", logger="objrec.serve.events"):
        refused = client.post("/predict", files=long_name)
    assert refused.status_code == 400
    assert refused.json()["error"] == (
        "the form (multipart/form-data) could not be read (Invalid multipart data): send the "
        "image as curl -F file=@photo.jpg sends it, under a file name of fewer than 4,000 "
        "characters"
    )
    assert re.search(
        r"/predict without an image from testclient, \d+ ms: refused, 400: the form", caplog.text
    )
    headers = {"content-type": "multipart/form-data"}
    bare = client.post("/predict", content=b"--x--", headers=headers)
    assert bare.status_code == 400 and "could not be read (Missing boundary" in bare.text
    assert client.post("/predict", files={"file": ("é" * 300 + ".png", png_bytes())}).is_success


def test_an_answering_thread_gives_back_the_memory_a_large_image_freed(client, monkeypatch):
    """review64b M1: after 4 PNGs of 9,400 x 9,400 at once, twice, the server stayed 0.9 to 1.2
    GB above its rest (glibc keeps a thread's freed memory for it): an image of
    TRIM_ABOVE_PIXELS or more is followed by malloc_trim, a smaller one is not (no cost)."""
    from objrec.serve import predict, uploads

    trims: list[str] = []
    monkeypatch.setattr(predict, "return_freed_memory", lambda: trims.append("trimmed"))
    image = {"file": ("x.png", png_bytes(size=(40, 32)), "image/png")}
    assert client.post("/predict", files=image).status_code == 200 and trims == []
    monkeypatch.setattr(predict, "TRIM_ABOVE_PIXELS", 40 * 32)
    assert client.post("/predict", files=image).status_code == 200 and trims == ["trimmed"]
    uploads.return_freed_memory()  # glibc's, or nothing elsewhere: never a failure


def test_a_form_cut_short_is_said_to_be_unreadable_not_empty(client, caplog):
    """review64b L1: a form whose body ends before its closing boundary (an upload cut off) was
    answered 422 "the form is empty", and one cut in its image after a topk field "the form has
    no field file, only topk": either was sent, and could not be read."""
    whole = multipart(png_bytes())
    cut = whole[: whole.rindex(b"--" + BOUNDARY.encode())]
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    said = "the form (multipart/form-data) could not be read (it ends before its closing boundary"
    with caplog.at_level("INFO", logger="objrec.serve.events"):
        answer = client.post("/predict", content=cut, headers=headers)
    assert answer.status_code == 400 and answer.json()["error"].startswith(said), answer.text
    assert f"refused, 400: {said}" in caplog.text
    topk = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="topk"\r\n\r\n3\r\n'.encode()
    answer = client.post("/predict", content=topk + whole[: len(whole) // 2], headers=headers)
    assert answer.status_code == 400 and answer.json()["error"].startswith(said), answer.text
    empty = client.post("/predict", content=f"--{BOUNDARY}--\r\n".encode(), headers=headers)
    assert empty.status_code == 422 and "the form is empty" in empty.json()["error"]
    assert client.post("/predict", content=whole, headers=headers).status_code == 200


def test_serve_s_log_leaves_the_form_parser_s_own_words_to_its_400(client, monkeypatch, caplog):
    """review52b L2: a form that is no form (``garbage`` under a boundary) put python-multipart's
    own warning into serve's log, ``warning: Expected boundary character 45, got 103 at index
    2``, with no time or client, before the 400's line that says it in words. objrec serve
    shows that library's warnings only with -v."""
    from objrec.cli import main
    from objrec.serve import server

    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: None)
    assert main(["serve", "--port", "0", str(client.run)]) == 0
    headers = {"content-type": "multipart/form-data; boundary=xyz"}
    with caplog.at_level("INFO", logger="objrec.serve.events"):
        answer = client.post("/predict", content=b"garbage", headers=headers)
    assert answer.status_code == 400
    assert [r.getMessage() for r in caplog.records if not r.name.startswith("objrec")] == []
    assert "refused, 400: the form (multipart/form-data) could not be read" in caplog.text


def test_an_image_sent_as_the_body_is_told_to_come_in_the_form_field_file(client):
    """A website's first try may post the image's bytes as the body, or JSON: it was answered
    pydantic's "file: Field required", which does not say the image goes in a form's field
    ``file``. The error says so, with the curl line, and what the request sent."""
    for body, kind in ((png_bytes(), "image/png"), (b'{"image": "x.png"}', "application/json")):
        response = client.post("/predict", content=body, headers={"content-type": kind})
        error = response.json()["error"]
        assert response.status_code == 422 and error.startswith("file: no image: ")
        assert "curl -F file=@photo.jpg" in error and error.endswith(f"body is {kind}")


def test_a_field_in_the_url_or_a_second_image_is_refused_not_ignored(client):
    """``/predict?topk=2`` answered 5 classes, the URL unread, and two images in ``file`` got
    the last one's answer alone: a website could not tell. Both are refused (422), saying why."""
    upload = {"file": ("r.png", png_bytes(), "image/png")}
    response = client.post("/predict?topk=2", files=upload)
    assert response.status_code == 422
    assert response.json()["error"].startswith("topk: /predict reads its fields from the form")
    two = [("file", ("a.png", png_bytes(), "image/png")), ("file", ("b.png", png_bytes(), "x"))]
    response = client.post("/predict", files=two)
    assert response.status_code == 422
    assert response.json()["error"] == (
        "file: one image per request, and this one sends 2: send each on its own"
    )
    assert client.post("/predict?v=2", files=upload).status_code == 200  # others: as before


def test_a_file_named_in_the_url_is_told_to_come_as_the_image_in_the_form():
    """``/predict?file=photo.jpg`` beside a form's image was told "send file as a form field
    beside file (curl -F file=... -F file=@photo.jpg)": the image, not a second field."""
    from objrec.serve.predict import misplaced_field_text

    assert misplaced_field_text({"file": "photo.jpg"}, None) == (
        "file: /predict reads its fields from the form, not from the URL: send the image itself "
        "in the form's field file (curl -F file=@photo.jpg)"
    )
    assert str(misplaced_field_text({"tta": "1"}, None)).endswith(
        "send tta as a form field beside file (curl -F tta=... -F file=@photo.jpg)"
    )


def test_an_eps_upload_is_refused_without_running_ghostscript(client, tmp_path, monkeypatch):
    """Pillow reads EPS by handing the bytes to Ghostscript, a PostScript interpreter: an upload
    of one ran it (here a stand-in ``gs`` that notes its arguments) on a stranger's program, then
    answered a plain-text 500. Uploads are now decoded only as the formats objrec reads."""
    ran = fake_ghostscript(tmp_path, monkeypatch)
    response = client.post("/predict", files={"file": ("x.eps", EPS, "application/postscript")})
    assert not ran.exists(), ran.read_text()
    assert response.status_code == 415
    assert response.json() == {"error": "x.eps: cannot read image (not a recognised image format)"}


def test_a_failure_of_the_server_s_own_is_a_json_error_the_page_can_show(
    client, monkeypatch, caplog
):
    """Anything that failed beyond a bad request (here the model's answer) was Starlette's
    plain-text "Internal Server Error", which the page read as no answer at all."""
    from objrec.serve import errors as serve_errors
    from objrec.serve import predict as serve_predict

    def fails(*args, **kwargs):
        raise RuntimeError("/home/someone/run: the model failed")

    monkeypatch.setattr(serve_predict, "answer_json", fails)
    quiet = local_client(client.app, raise_server_exceptions=False)
    with caplog.at_level("INFO", logger="objrec.serve.events"):
        response = quiet.post("/predict", files={"file": ("x.png", png_bytes(), "image/png")})
    assert response.status_code == 500
    assert response.json() == {"error": serve_errors.SERVER_ERROR}  # no detail of the server's
    assert re.search(r"/predict x\.png \(.*, \d+ ms: failed, 500$", caplog.text, re.MULTILINE)


BOUNDARY = "objrecboundary"


def multipart(data: bytes, name: str = "x.png") -> bytes:
    """A ``/predict`` body by hand: the field ``file`` holding ``data``."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: image/png\r\n\r\n"
    )
    return head.encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def too_large_said(error: str, logged: str, limit: str = "0.191 MiB (200,000 bytes)") -> None:
    """The 413 tells the person who sent the file the limit and whom to ask, not an option
    of a command they did not run; the server's log tells its operator which option raises it."""
    assert error.startswith(f"the file is too large: this server takes uploads of up to {limit}")
    assert "ask whoever runs the server to raise its limit" in error
    assert "--max-upload-mib" not in error and "objrec" not in error, error
    assert "objrec serve --max-upload-mib raises it" in logged, logged


def test_an_upload_over_the_limit_is_refused_with_or_without_its_length(client, caplog):
    """Over the limit (200,000 bytes here) by its Content-Length, or sent chunked without one: a 413
    naming the limit, the option in the server's log; an upload under it is still answered."""
    too_big = png_bytes() + b"\x00" * 300_000
    with_length = client.post("/predict", files={"file": ("big.png", too_big, "image/png")})
    chunked = client.post(
        "/predict",
        content=iter([multipart(too_big)]),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    just_over = client.post("/predict", files={"file": ("x.png", bytes(200_001), "image/png")})
    assert "content-length" not in chunked.request.headers
    for answer in (with_length, chunked, just_over):  # the app's three ways to find it out
        assert answer.status_code == 413, answer.text
        too_large_said(answer.json()["error"], caplog.text)
    assert caplog.text.count("refused an upload over this server's limit of 0.191 MiB") == 3
    small = client.post(
        "/predict",
        content=iter([multipart(png_bytes())]),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert small.status_code == 200 and small.json()["topk"][0]["class"] == "red"


def test_an_upload_refused_by_its_content_length_is_one_line_in_the_log_too(client, caplog):
    """An upload refused by its Content-Length alone had the operator's warning and no line of
    its own, where one refused once read has both."""
    too_big = png_bytes() + b"\x00" * 300_000
    with caplog.at_level("INFO", logger="objrec.serve.events"):
        answer = client.post("/predict", files={"file": ("big.png", too_big, "image/png")})
    lines = [r.getMessage() for r in caplog.records if r.name == "objrec.serve.events"]
    size = int(answer.request.headers["content-length"]) / 1024
    assert answer.status_code == 413 and lines == [
        f"/predict ({size:,.0f} KiB declared) from testclient: refused, 413: "
        + answer.json()["error"]
    ]


def test_the_page_reads_the_header_that_names_the_model_that_answered(client):
    """The page showed the classes of the model served when it was opened, after any number of
    reloads: it reads /info again when an answer's model (this header) is not the one it shows."""
    from objrec.serve.served import MODEL_HEADER

    assert client.get("/").text.count(f'headers.get("{MODEL_HEADER}")') == 2


def test_every_answer_says_nosniff_and_the_page_runs_only_its_own_script(client):
    """No answer said how to read it but its Content-Type (a JSON error quoting an uploaded
    file's name, ``<svg onload=...>.html``), and the page said nothing of what may run in it
    (security40 #2): its policy names its own inline script and style by their hashes."""
    import base64
    import hashlib
    import re

    page = client.get("/")
    policy = page.headers["content-security-policy"]
    for tag in ("script", "style"):
        text = re.search(rf"<{tag}>(.*?)</{tag}>", page.text, re.DOTALL).group(1)
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in policy
    assert "unsafe" not in policy and "connect-src 'self'" in policy
    refused = client.post("/predict", files={"file": ("<svg onload=alert(1)>.html", b"<html>")})
    for answer in (page, client.get("/info"), refused, client.get("/nowhere")):
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_head_request_gets_the_page_s_headers_without_its_body(client):
    """``curl -I`` on the page was answered 405, so one checking its Content-Security-Policy and
    nosniff that way saw neither: HEAD on /, /info and /health answers as GET does, bodiless."""
    import warnings

    from objrec.serve.served import MODEL_HEADER

    page = client.get("/")
    head = client.head("/")
    assert head.status_code == 200 and head.content == b""
    for name in ("content-security-policy", "x-content-type-options", "content-type"):
        assert head.headers[name] == page.headers[name]
    info = client.head("/info")
    assert info.status_code == 200 and info.content == b"" and MODEL_HEADER.lower() in info.headers
    assert client.head("/health").status_code == 200
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no duplicate operation ids for the added method
        client.app.openapi_schema = None
        assert list(client.app.openapi()["paths"]["/"]) == ["get"]


def test_the_page_says_the_server_s_upload_limit_up_front(client):
    """A 30 MB microscope TIFF met the 10 MiB limit only in the 413, after its upload: the page
    now says the limit under its upload control, set in by the server, as the 413 says it."""
    page = client.get("/").text
    assert (
        '<span id="limit">up to 0.191 MiB per image; a larger photo is sent as a smaller copy'
        "</span>" in page
    )
    assert 'data-max-upload-bytes="200000"' in page
    assert 'data-max-upload-text="0.191 MiB (200,000 bytes)"' in page and "{{" not in page


@pytest.mark.parametrize(
    ("n_bytes", "words"),
    [
        (10 * 1024**2, "10 MiB"),
        (200_000, "0.191 MiB"),
        (10**7, "9.54 MiB"),
        (1000 * 1024**2, "1,000 MiB"),
        (1024 * 1024**2, "1,024 MiB"),  # --max-upload-mib 1024 read "up to 1,020 MiB"
        (1536 * 1024**2, "1,536 MiB"),
    ],
)
def test_sizes_are_said_in_mib_to_three_figures_never_in_exponents(n_bytes, words):
    """In MiB, the unit --max-upload-mib takes: the page said "up to 10.5 MB" for the default 10,
    which a Windows user, whose file manager counts MB as MiB, read as taking a "10.3 MB" photo
    that it refused; "up to 10 MiB" refuses nothing shown as under 10 MB by any file manager, and
    the operator's 10 reads 10. A limit of 1000 said "1.05e+03 MB"."""
    from objrec.serve.uploads import size_text

    assert size_text(n_bytes) == f"{words} ({n_bytes:,} bytes)"


def post_in_chunks(app, chunks: list[bytes], content_length: int | None) -> tuple[int, str, int]:
    """POST ``chunks`` to ``/predict`` straight through ASGI, as a server hands a body over piece
    by piece: the status, the answer's text, and how many chunks the app asked for."""
    asked = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal asked
        if asked == len(chunks):
            return {"type": "http.disconnect"}
        asked += 1
        return {"type": "http.request", "body": chunks[asked - 1], "more_body": asked < len(chunks)}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/predict", "raw_path": b"/predict", "root_path": "",
        "query_string": b"", "headers": headers, "server": ("test", 80), "client": ("test", 1),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], text.decode(), asked


def test_an_upload_over_the_limit_is_not_read_past_it(client, caplog):
    """A huge body (6.4 MB against a 200,000-byte limit) is refused unread when its Content-Length
    says so, and after about the limit's worth when it is chunked or its Content-Length lies."""
    chunk = 64 * 1024
    body = multipart(bytes(chunk * 100))
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    total = len(body)
    for content_length, most_read in ((total, 0), (None, 5), (1000, 5)):
        caplog.clear()
        status, text, asked = post_in_chunks(client.app, chunks, content_length)
        assert status == 413, text
        too_large_said(json.loads(text)["error"], caplog.text)
        assert asked <= most_read, (content_length, asked)


@pytest.mark.slow
def test_concurrent_requests_share_the_model_safely(client):
    from concurrent.futures import ThreadPoolExecutor

    images = [png_bytes(colour=c) for c in ((200, 40, 40), (40, 180, 60), (40, 60, 200))] * 8

    def ask(data):
        return client.post("/predict", files={"file": ("x.png", data, "image/png")}).json()["topk"][
            0
        ]["class"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, images))
    assert answers == [ask(data) for data in images]


@pytest.mark.slow
def test_at_most_a_few_uploads_are_decoded_at_once_each_on_the_app_s_own_threads(
    client, monkeypatch
):
    """FastAPI ran every request at once, up to 40, each on a thread of its pool: 40 small PNGs
    of 6,000 x 6,000 pixels held 40 decoded images (10.9 GB), and each thread's allocator arena
    kept its share after (9.3 GB). Uploads are now decoded and answered on the app's own
    ``ANSWERING_AT_ONCE`` threads; the others wait their turn and are answered after."""
    from concurrent.futures import ThreadPoolExecutor

    from objrec.serve import predict as serve_predict
    from objrec.serve import uploads as serve_uploads

    limit = serve_predict.ANSWERING_AT_ONCE
    lock, release = threading.Lock(), threading.Event()
    inside, most, threads = [0], [0], set()
    real_open_image = serve_uploads.open_image

    def open_image(*args, **kwargs):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            threads.add(threading.get_ident())
        release.wait(60)
        with lock:
            inside[0] -= 1
        return real_open_image(*args, **kwargs)

    monkeypatch.setattr(serve_uploads, "open_image", open_image)

    def ask(_):
        return client.post("/predict", files={"file": ("x.png", png_bytes(), "image/png")})

    with ThreadPoolExecutor(limit + 3) as pool:
        try:
            answers = pool.map(ask, range(limit + 3))
            deadline = time.monotonic() + 60
            while inside[0] < limit and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.5)  # room for any request beyond the limit to start decoding too
            at_once = most[0]
        finally:
            release.set()
        codes = [answer.status_code for answer in answers]
    assert at_once == limit and codes == [200] * (limit + 3)
    assert len(threads) <= limit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_line_with(process, words: str, seconds: float = 120) -> str:
    """The first line of the process's output that contains ``words``; fails on exit or timeout."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line.decode()) for line in process.stdout], daemon=True
    ).start()
    seen = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if words in line:
            return line
    pytest.fail(f"no line with {words!r} in: {''.join(seen)!r}")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_server_stopped_by_sigterm_or_ctrl_c_shuts_down_cleanly_and_exits_0(client, signum):
    """SIGTERM (systemd, docker stop) printed 'aborted' and exited 143: uvicorn shuts down
    cleanly on it, as on Ctrl-C, then raises it again for its caller, which took it for one."""
    with serving(client.run, wait=120) as (process, lines, reader):
        process.send_signal(signum)
        assert process.wait(timeout=20) == 0, lines
        reader.join(timeout=10)
        out = "".join(lines)
        assert "aborted" not in out and "interrupted" not in out and "Traceback" not in out, out
        last = f"stopped serving {client.run}: no upload came"  # review53b nit 9 and L4
        assert lines[-1].strip() == last, out


def half_sent_upload(lines: list[str]) -> socket.socket:
    """A connection to the server whose output is ``lines`` that sent an upload's headers and
    half its body, then waits: a phone that lost its network mid-upload."""
    port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", "".join(lines)).group(1))
    body = multipart(png_bytes())
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head.encode() + body[: len(body) // 2])
    return sock


def answer_to(sock: socket.socket) -> tuple[int, dict]:
    """The status and JSON body the server sent on ``sock`` before it closed it."""
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.slow
def test_an_upload_half_sent_keeps_a_stopped_server_no_longer_than_its_deadline(client):
    """One client that sent half an upload and waited kept serve from stopping on SIGTERM
    (systemd, docker stop: then killed, no last line) until it left, however long: the server
    waits STOP_DEADLINE seconds, then answers it 503 in JSON and ends, counting it."""
    from objrec.serve.stopping import STOP_DEADLINE

    with serving(client.run, "--runtime", "torch", wait=120) as (process, lines, reader):
        with contextlib.closing(half_sent_upload(lines)) as sock:
            time.sleep(0.5)  # its request under way in the server
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=STOP_DEADLINE + 15) == 0, lines
            took = time.monotonic() - signalled
            status, answer = answer_to(sock)
        reader.join(timeout=10)
    out = "".join(lines)
    assert STOP_DEADLINE - 0.5 < took < STOP_DEADLINE + 10, out
    assert status == 503 and "stopped" in answer["error"], answer
    assert "Traceback" not in out and "ERROR" not in out, out
    assert lines[-1].strip() == f"stopped serving {client.run}: {STOPPED_WORDS}", out


STOPPED_WORDS = "0 uploads answered, 1 cut off by the stop"


@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once_answering_a_half_sent_upload_in_json_not_a_traceback(
    client,
):
    """A second Ctrl-C stopped the server, but printed a 60-line CancelledError traceback and
    sent the waiting client uvicorn's plain-text 500, not the JSON error every answer is."""
    with serving(client.run, "--runtime", "torch", wait=120) as (process, lines, reader):
        with contextlib.closing(half_sent_upload(lines)) as sock:
            time.sleep(0.5)
            process.send_signal(signal.SIGINT)
            time.sleep(0.5)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 0, lines
            status, answer = answer_to(sock)
        reader.join(timeout=10)
    out = "".join(lines)
    assert status == 503 and "stopped" in answer["error"], answer
    assert "Traceback" not in out and "ERROR" not in out, out
    assert lines[-1].strip() == f"stopped serving {client.run}: {STOPPED_WORDS}", out


@contextlib.contextmanager
def serving(run: Path, *options: str, wait: float, env: dict[str, str] | None = None):
    """``objrec serve run --port 0 *options`` in a process of its own, once it said it is
    serving (or ``wait`` seconds passed): the process, its output's lines as they come, and the
    thread reading them; killed when the block ends."""
    command = [sys.executable, "-m", "objrec", "serve", str(run), "--port", "0", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(line.decode() for line in process.stdout), daemon=True
    )
    reader.start()
    try:
        deadline = time.time() + wait
        while not any("serving" in line for line in lines) and time.time() < deadline:
            time.sleep(0.2)
        yield process, lines, reader
    finally:
        process.kill()
        process.wait()


def test_serve_on_a_busy_port_is_one_sentence_and_no_address(client, capsys, monkeypatch):
    """Said before the libraries and the model load: it was said after both, which took up to
    1 min 47 s."""
    from objrec.cli import main
    from objrec.serve import server

    loaded = []
    monkeypatch.setattr(server, "app_to_serve", lambda *a: loaded.append(a) or 1 / 0)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["serve", str(client.run), "--port", str(port), "--runtime", "torch"])
    err = capsys.readouterr().err
    assert code == 1 and "serving" not in err and "http://" not in err and loaded == []
    said = err.strip().splitlines()
    assert len(said) == 1 and f"port {port} on 127.0.0.1 is already in use" in said[0], said
    assert "choose another with --port" in err


def test_a_host_no_interface_has_is_said_in_our_words_not_the_os_s(client, capsys, monkeypatch):
    """review53b nit 8: ``serve --host 10.99.99.99`` said "cannot listen on 10.99.99.99 port
    8755: Cannot assign requested address", the OS's words (EADDRNOTAVAIL). An address the
    machine lacks is a usage error, as a host naming none is (review60b F3): exit 2."""
    from objrec.cli import main
    from objrec.serve import server

    monkeypatch.setattr(server, "app_to_serve", lambda *a: 1 / 0)
    host = "192.0.2.99"  # TEST-NET-1: documentation only, never a machine's
    code = main(["serve", str(client.run), "--host", host, "--port", "0", "--runtime", "torch"])
    err = capsys.readouterr().err
    assert code == 2 and "Cannot assign" not in err, err
    assert f"no network interface of this machine has the address {host}: give --host " in err


@pytest.mark.slow
def test_root_path_gives_openapi_the_proxys_prefix_and_the_page_and_docs_still_work(client):
    """Behind a reverse proxy that strips /objrec, /openapi.json named no server: a tool reading
    it called /predict at the proxy's root. --root-path names it there; the page, /docs and the
    API answer as before, and a refused upload is still logged, though its URL's path is now
    /objrec/predict."""
    command = [sys.executable, "-m", "objrec", "serve", str(client.run), "--port", "0"]
    process = subprocess.Popen(
        [*command, "--runtime", "torch", "--root-path", "/objrec/"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        said = [process.stdout.readline()]  # "loading the model ...", its progress, first
        while "http://" not in said[-1] and said[-1]:
            said.append(process.stdout.readline())
        url = re.search(r"http://\S+/", "".join(said)).group(0)
        schema = json.loads(urllib.request.urlopen(url + "openapi.json").read())
        page, docs = (urllib.request.urlopen(url + path) for path in ("", "docs"))
        form = urllib.request.Request(url + "predict", data=b"topk=3")
        with pytest.raises(urllib.error.HTTPError, match="422"):
            urllib.request.urlopen(form)
        process.send_signal(signal.SIGINT)
        said.append(process.stdout.read())
    finally:
        process.kill()
        process.wait()
    assert schema["servers"] == [{"url": "/objrec"}] and "/predict" in schema["paths"], said
    assert page.status == docs.status == 200 and "POST /predict" in docs.read().decode()
    refused = r"/predict without an image from 127\.0\.0\.1(, \d+ ms)?: refused, 422"
    assert re.search(refused, "".join(said)), said


def test_a_root_path_that_is_no_path_is_refused_naming_the_option(tmp_path, capsys):
    from objrec.cli import main

    code = main(["serve", str(tmp_path), "--root-path", "objrec", "--runtime", "torch"])
    err = capsys.readouterr().err
    assert code == 2 and "--root-path 'objrec' is not a path prefix" in err and "/objrec" in err


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_out_of_range_is_refused_naming_the_option(tmp_path, capsys, port):
    from objrec.cli import main

    code = main(["serve", str(tmp_path), "--port", port])
    err = capsys.readouterr().err
    assert code == 2 and "--port" in err and "0<=x<=65535" in err and "Traceback" not in err


def test_serve_of_a_folder_without_a_model_is_one_sentence_and_no_address(tmp_path, capsys):
    from objrec.cli import main

    code = main(["serve", str(tmp_path), "--port", "0", "--runtime", "torch"])
    err = capsys.readouterr().err
    assert code == 1 and "serving" not in err and "no checkpoint" in err


def test_serve_of_a_folder_that_is_no_run_says_so_before_loading_the_libraries(
    tmp_path, capsys, monkeypatch
):
    """`objrec serve photos` said "no checkpoint" only after its imports of FastAPI and PyTorch
    (seconds); the folder is looked at first (serve's module cannot even be imported here), after
    the usage errors (exit 2)."""
    from objrec.cli import main

    monkeypatch.setitem(sys.modules, "objrec.serve.server", None)  # importing it now fails
    code = main(["serve", str(tmp_path)])
    said = " ".join(capsys.readouterr().err.split())
    assert code == 1 and f"no checkpoint at {tmp_path / 'model.safetensors'}" in said, said
    assert "loading the libraries" not in said and "Traceback" not in said
    assert main(["serve", str(tmp_path), "--port", "-1"]) == 2  # the command line first


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("0", "must be a positive size in MiB, not 0"),  # said "0.0", as no one typed it
        ("-1", "must be a positive size in MiB, not -1"),
        ("nan", "must be a positive size in MiB, not nan"),
        ("1e-9", "1e-09 is less than one byte (0.001 bytes): the size is in MiB"),
    ],
)
def test_serve_refuses_an_upload_limit_under_one_byte_in_one_sentence(
    tmp_path, capsys, given, words
):
    from objrec.cli import main

    code = main(["serve", str(tmp_path), "--port", "0", "--max-upload-mib", given])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1  # a usage error, as click's own
    assert err.startswith(f"error: --max-upload-mib {words}"), err
    assert not err.removeprefix(f"error: --max-upload-mib {words}").startswith("."), err  # 0.0


def test_serve_passes_its_upload_limit_on_and_keeps_10_mib_by_default(tmp_path, monkeypatch):
    from objrec import cli
    from objrec.cli.delivery import SERVE_MAX_UPLOAD_MIB
    from objrec.serve import server
    from objrec.serve import uploads as serve_uploads

    asked = []
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: asked.append(kwargs))
    fake_checkpoint(tmp_path / "model.safetensors")  # a run: serve checks before its imports
    assert cli.main(["serve", "--port", "0", str(tmp_path), "--max-upload-mib", "0.5"]) == 0
    assert cli.main(["serve", "--port", "0", str(tmp_path)]) == 0
    assert [a["max_upload_bytes"] for a in asked] == [512 * 1024, serve_uploads.MAX_UPLOAD_BYTES]
    assert serve_uploads.MAX_UPLOAD_BYTES == SERVE_MAX_UPLOAD_MIB * 1024 * 1024 == 10 * 1024 * 1024


def test_each_worker_of_several_takes_the_upload_limit(client, monkeypatch):
    """With --workers 2 each worker builds its app from the environment (app_from_env)."""
    from objrec.serve.server import app_from_env, worker_environment

    for name, value in worker_environment(client.run, "torch", "cpu", None, True, 1000).items():
        monkeypatch.setenv(name, value)
    with local_client(app_from_env()) as worker:
        answer = worker.post("/predict", files={"file": ("x.png", png_bytes(), "image/png")})
    assert answer.status_code == 413 and "(1,000 bytes)" in answer.json()["error"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--device", "cuda:99"], "--device cuda:99"),
        (["--runtime", "onnx", "--device", "cuda:99"], "--device cuda:99"),
    ],
)
def test_serve_with_several_workers_refuses_a_bad_setting_before_starting_them(
    client, capsys, monkeypatch, flags, words
):
    """`serve --workers 2 --device cuda` on a machine without a GPU never exited: the parent
    checked only the checkpoint, and each worker died loading the model with a traceback, was
    restarted by uvicorn's supervisor, and died again, holding the port. The parent now loads
    the model as a worker would before starting any: one sentence, exit 1, no worker started."""
    from objrec.cli import main
    from objrec.serve import server

    started = []
    monkeypatch.setattr(server, "run_until_stopped", lambda *args: started.append(args))
    code = main(["serve", str(client.run), "--workers", "2", "--port", "0", *flags])
    said = capsys.readouterr().err.strip().splitlines()
    err = "\n".join(line for line in said if not line.startswith("loading the"))  # progress
    assert code == 1 and started == [] and len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and words in err, err


@pytest.fixture(scope="module")
def served_by_two_workers(client):
    """One ``serve(workers=2)`` of the module's run (its settings checked in a new process that
    imports PyTorch: about 3 s of CPU, made once for the tests below; xdist runs the module on
    one worker, ``xdist_groups``), the workers' start stubbed: what it said and showed, whether
    this process loaded the model, and at the workers' start the processes still running and the
    environment, with the caller's own ``OBJREC_SERVE_DEVICE`` set; then its variables after."""
    import multiprocessing

    from objrec.serve import model as serve_model
    from objrec.serve import server

    from .conftest import TaskRecorder

    done = SimpleNamespace(started=[], said=[], shown=TaskRecorder(), loaded=[], running=[])

    def start(config, sock):
        done.started.append(config)
        done.running.append(multiprocessing.active_children())
        done.environ = dict(os.environ)

    real = serve_model.load_recognizer
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OBJREC_SERVE_DEVICE", "mine")  # the caller's own, kept as it was
        patch.setattr(serve_model, "load_recognizer", lambda *a: done.loaded.append(1) or real(*a))
        patch.setattr(server, "run_until_stopped", start)
        server.serve(
            client.run,
            port=0,
            workers=2,
            runtime="torch",
            on_loaded=lambda *w: done.said.append(w),
            reporter=done.shown,
            worker_logging={"version": 1},
        )
        done.after = {k: v for k, v in os.environ.items() if k.startswith("OBJREC_SERVE_")}
    return done


@pytest.mark.slow
def test_serve_with_several_workers_starts_them_when_the_settings_are_good(
    client, monkeypatch, served_by_two_workers
):
    """It says what runs the model and why once loaded (the CLI prints it when it is up), and
    shows the loading as a step (10.6 s with nothing on screen at a load of 9); as one worker
    does. Each worker builds its app from the factory named by a string, which only uvicorn
    reads: it must name the factory."""
    from uvicorn.importer import import_from_string

    from objrec.serve import server

    from .conftest import TaskRecorder

    started, said, shown = [], [], TaskRecorder()
    monkeypatch.setattr(server, "run_until_stopped", lambda config, sock: started.append(config))
    server.serve(
        client.run,
        port=0,
        workers=1,
        runtime="torch",
        on_loaded=lambda *w: said.append(w),
        reporter=shown,
    )
    two = served_by_two_workers
    assert [(c.workers, c.factory) for c in two.started + started] == [(2, True), (1, False)]
    assert import_from_string(two.started[0].app) is server.app_from_env  # what each worker runs
    torch = [("the whole model in PyTorch, on the CPU", "runtime torch was asked for")]
    assert two.said == said == torch
    assert two.shown.tasks == shown.tasks == ["loading the model"]


@pytest.mark.slow
def test_serve_with_several_workers_checks_the_settings_in_a_process_that_has_ended(
    served_by_two_workers,
):
    """`serve --workers 2`'s starting process loaded the model to check the settings, and kept
    what that took while it watched the workers: 0.82 GiB against 0.54 GiB for its imports on a
    default run. A process of its own loads it now, and has ended before any worker starts."""
    assert served_by_two_workers.loaded == [] and served_by_two_workers.running == [[]]


def children_of(pid: int) -> list[int]:
    """The processes ``pid`` started that are still running (Linux's /proc)."""
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def spawned_by(pid: int) -> list[int]:
    """The processes ``pid`` spawned (multiprocessing's spawn) that are still running: not a
    fork of its own, as one made while the libraries load (a Ctrl-C then came before the work
    began, which this test's waiting took for the settings check)."""
    found = []
    for child in children_of(pid):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_ctrl_c_while_the_settings_are_checked_stops_serve_at_once_without_a_traceback(
    trained_once,
):
    """Ctrl-C while the process checking `serve --workers 2`'s settings was starting printed its
    KeyboardInterrupt traceback (30 lines of imports) above 'aborted': the terminal sends SIGINT
    to every process of the command. That process never sees it; serve stops it, and says that
    the server had not started."""
    command = [sys.executable, "-m", "objrec", "serve", str(trained_once), "--workers", "2"]
    server = subprocess.Popen(
        [*command, "--port", "0", "--runtime", "torch"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not spawned_by(server.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(server.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    said = server.communicate(timeout=60)[1]
    stopped = (
        "loading the model ...\nstopping (Ctrl-C): the step in hand is cut short, then what "
        f"the command kept is said\ninterrupted at loading the model: {NOT_STARTED}"
    )
    lines = said.strip().splitlines()
    assert lines[0] == "loading the libraries ...", said  # then, under load, its seconds
    model = "\n".join(line for line in lines if not line.startswith("loading the libraries"))
    assert server.returncode == 130 and model == stopped, said


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no signal masks (Windows)")
def test_a_ctrl_c_while_the_checker_starts_is_answered_once_it_has_started():
    """A Ctrl-C let through in the middle of the checker's start (multiprocessing's resource
    tracker unblocks SIGINT as it starts) raised KeyboardInterrupt between the process's spawn
    and the data it is sent: the process read a closed pipe and printed an EOFError traceback
    (CI, a quiet machine). It is answered when the start is done."""
    from objrec.serve import workers as serve_workers

    done = []
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # xdist's workers: ignored
    try:
        deferred = serve_workers.ctrl_c_deferred()
        with (
            pytest.raises(KeyboardInterrupt),
            deferred,
            serve_workers.signals_blocked([signal.SIGINT]),
        ):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])  # as the tracker does
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # Python answers a signal between its bytecodes
                done.append(1)
        assert len(done) == 1000
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


SPAWN_MASKS = """
import multiprocessing, multiprocessing.util as util, signal
from objrec.serve import workers as serve_workers

masks, spawn = [], util.spawnv_passfds
def spy(*args):
    masks.append(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))
    return spawn(*args)
util.spawnv_passfds = spy
process = multiprocessing.get_context("spawn").Process(target=print)
serve_workers.start_deaf_to_ctrl_c(process)
process.join()
print(masks)
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no signal masks (Windows)")
def test_the_settings_checker_starts_with_sigint_held_back_after_the_resource_tracker():
    """The settings checker once got a Ctrl-C while its interpreter started (a fatal error and
    a traceback under 'interrupted', seen in CI): multiprocessing started its resource tracker
    inside serve's block of SIGINT and unblocked SIGINT when done, before the checker started.
    In a new process, as serve is (no tracker yet), both start with SIGINT held back."""
    done = subprocess.run(
        [sys.executable, "-c", SPAWN_MASKS], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[True, True]"  # the tracker's, then the checker's


@pytest.mark.slow
def test_serve_leaves_no_worker_settings_in_its_callers_environment(client, served_by_two_workers):
    """serve() handed several workers their settings in os.environ and left them there: a Python
    process that served, then built a worker's app or served again, read the old run's."""
    from objrec.serve import workers as serve_workers

    seen = served_by_two_workers.environ
    assert seen["OBJREC_SERVE_RUN"] == str(client.run.resolve())  # the workers read them
    assert seen["OBJREC_SERVE_DEVICE"] == "auto" and serve_workers.WORKER_LOGGING in seen
    assert served_by_two_workers.after == {"OBJREC_SERVE_DEVICE": "mine"}


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [float("inf"), float("-inf")])
def test_an_infinite_threshold_is_refused_as_info_cannot_say_it(trained_once, threshold):
    """/info gives the threshold in JSON, which has no infinity: FastAPI wrote null, which says
    the app answers nothing unknown, while a threshold of inf answered every image unknown."""
    from objrec.errors import ObjrecError

    with pytest.raises(ObjrecError, match=r"`threshold` must be a finite number, not -?inf"):
        create_app(trained_once, runtime="torch", threshold=threshold)


def up_at(port: int):
    """A stand-in for ``serve.server.serve`` that only says it answers, on ``port``."""
    from objrec.serve.address import url_of

    def serve(run, host, port_asked, *args, on_ready, on_loaded=lambda *words: None, **kwargs):
        on_loaded("the whole model in PyTorch, on the CPU", "runtime torch was asked for")
        on_ready(url_of(host, port))

    return serve


@pytest.mark.parametrize(
    ("host", "others"),
    [
        ("0.0.0.0", ["http://192.168.1.23:8123/"]),
        ("::", ["http://192.168.1.23:8123/", "http://[fd12::5]:8123/"]),
    ],
)
def test_serve_on_every_address_prints_addresses_a_phone_can_open(
    tmp_path, capsys, monkeypatch, host, others
):
    """`serve --host 0.0.0.0` printed http://0.0.0.0:8000/, which no browser opens: it now gives
    localhost for this machine and the machine's network addresses for other devices."""
    from objrec import cli
    from objrec.serve import address as serve_address
    from objrec.serve import server

    found = {False: ["192.168.1.23"], True: ["192.168.1.23", "fd12::5"]}
    monkeypatch.setattr(serve_address, "network_addresses", lambda ipv6=False: found[ipv6])
    monkeypatch.setattr(server, "serve", up_at(8123))
    fake_checkpoint(tmp_path / "model.safetensors")  # a run: serve checks before its imports
    assert cli.main(["serve", "--port", "0", str(tmp_path), "--host", host]) == 0
    err = capsys.readouterr().err
    assert "0.0.0.0" not in err and "[::]" not in err, err
    assert "http://localhost:8123/ on this machine" in err
    for url in others:
        assert f"{url} from a phone or another computer on the same network" in err, err
    assert cli.main(["serve", "--port", "0", str(tmp_path)]) == 0  # one address: as before
    assert capsys.readouterr().err.strip().splitlines() == [
        "loading the libraries ...",
        f"serving {tmp_path} on http://127.0.0.1:8123/ (Ctrl-C stops)",
        "running the whole model in PyTorch, on the CPU: runtime torch was asked for",
        f"stopped serving {tmp_path}",  # review53b nit 9: no last line after Ctrl-C
    ]


def test_serve_on_every_address_says_when_it_finds_no_network_address(
    tmp_path, capsys, monkeypatch
):
    from objrec import cli
    from objrec.serve import address as serve_address
    from objrec.serve import server

    monkeypatch.setattr(serve_address, "network_addresses", lambda ipv6=False: [])
    monkeypatch.setattr(server, "serve", up_at(80))
    fake_checkpoint(tmp_path / "model.safetensors")  # a run: serve checks before its imports
    assert cli.main(["serve", "--port", "0", str(tmp_path), "--host", "0.0.0.0"]) == 0
    err = capsys.readouterr().err
    assert "http://localhost:80/ on this machine" in err and "no network address found" in err


def test_network_addresses_are_found_without_the_network_and_only_ones_others_can_open(
    monkeypatch,
):
    """The route's address first, then the host name's; no loopback (Debian's /etc/hosts gives
    the host name 127.0.1.1), link-local or repeated one."""
    from objrec.serve import address as serve_address

    monkeypatch.setattr(socket, "gethostname", lambda: "lab-pc")
    resolved = {
        socket.AF_INET: ["127.0.1.1", "10.0.0.7", "169.254.3.4", "192.168.1.23"],
        socket.AF_INET6: ["::1", "fe80::1%eth0", "fd12::5"],
    }

    def getaddrinfo(name, port, family, kind):
        assert name == "lab-pc"
        return [(family, kind, 6, "", (a, 0)) for a in resolved[family]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    routes = {socket.AF_INET: ["192.168.1.23"], socket.AF_INET6: []}
    monkeypatch.setattr(serve_address, "routed_address", lambda family: routes[family])
    assert serve_address.network_addresses() == ["192.168.1.23", "10.0.0.7"]
    assert serve_address.network_addresses(ipv6=True) == ["192.168.1.23", "10.0.0.7", "fd12::5"]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a: (_ for _ in ()).throw(socket.gaierror))
    assert serve_address.network_addresses() == ["192.168.1.23"]


def test_the_routed_address_is_asked_of_a_udp_socket_that_sends_nothing(monkeypatch):
    """A UDP socket's connect to a private address only picks the route: nothing is sent."""
    from objrec.serve import address as serve_address

    calls = []

    class Probe:
        def __init__(self, family, kind):
            calls.append(("socket", family, kind))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            calls.append(("close",))

        def connect(self, address):
            calls.append(("connect", address))

        def getsockname(self):
            return ("192.168.1.23", 40000)

        def __getattr__(self, name):  # send, sendto, ...: never
            raise AssertionError(f"the probe called {name}")

    monkeypatch.setattr(socket, "socket", Probe)
    assert serve_address.routed_address(socket.AF_INET) == ["192.168.1.23"]
    assert calls == [
        ("socket", socket.AF_INET, socket.SOCK_DGRAM),
        ("connect", ("10.254.254.254", 9)),
        ("close",),
    ]

    def unreachable(self, address):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(Probe, "connect", unreachable)
    assert serve_address.routed_address(socket.AF_INET6) == []


def test_a_server_bound_to_every_ipv6_address_takes_ipv4_too():
    """The IPv4 addresses printed for `--host ::` open it, whatever the system's default."""
    from objrec.errors import ObjrecError
    from objrec.serve.address import bind_socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        sock = bind_socket("::", 0)
    except ObjrecError as exc:  # an IPv6-less kernel
        pytest.skip(f"cannot bind :: here: {exc}")
    with sock:
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        with socket.create_connection(("127.0.0.1", sock.getsockname()[1]), timeout=5):
            pass


@pytest.mark.slow  # two models loaded, threads joined: 0.2 s
def test_an_apps_answering_threads_end_with_it_and_with_a_failed_start(trained_once, monkeypatch):
    """review59a L1: each create_app's answering threads outlived the app, idle with their
    runtime's state (3 apps started and stopped: 3 threads more), and so did those of an app
    whose model failed on its first image. They end with the app's lifespan, and with a failed
    start; an app started again (a second `with`) answers on threads made again."""
    from objrec.errors import ObjrecError
    from objrec.inference import Recognizer

    def new_threads() -> list[threading.Thread]:
        return [
            t
            for t in threading.enumerate()
            if t.name.startswith("objrec-answer") and t not in before
        ]

    def ended(threads: list[threading.Thread]) -> bool:
        for thread in threads:
            thread.join(5)
        return not any(thread.is_alive() for thread in threads)

    before = set(threading.enumerate())
    app = create_app(trained_once, runtime="torch")
    for _ in range(2):
        with local_client(app) as client:
            assert client.post("/predict", files={"file": ("r.png", png_bytes())}).is_success
            made = new_threads()
        assert made and ended(made)
    monkeypatch.setattr(Recognizer, "warm_up", lambda self: 1 / 0)
    with pytest.raises(ObjrecError, match="failed on a first test image"):
        create_app(trained_once, runtime="torch")
    assert ended(new_threads())


def test_serve_decodes_as_many_pixels_as_objrec_reads_and_says_its_limit(
    trained_once, monkeypatch, caplog
):
    """serve refused uploads over 40,000,000 pixels, a limit no doc or option gave, where train
    reads images up to objrec's own (89,478,485, or OBJREC_MAX_PIXELS): a 48-megapixel PNG was
    trained on and refused by serve. Its limit is now objrec's, the environment's when set, in
    /info, in the 413 with what the sender can do, and in the log with what raises it."""
    from objrec.cli import cli
    from objrec.errors import ObjrecError
    from objrec.images import MAX_PIXELS
    from objrec.serve.server import serve

    assert f"({MAX_PIXELS:,}, or the environment's OBJREC_MAX_PIXELS)" in cli.commands["serve"].help
    monkeypatch.delenv("OBJREC_MAX_PIXELS", raising=False)
    with local_client(create_app(trained_once, runtime="torch")) as client:
        assert client.get("/info").json()["max_pixels"] == MAX_PIXELS
    monkeypatch.setenv("OBJREC_MAX_PIXELS", "10000")
    with local_client(create_app(trained_once, runtime="torch")) as client:
        assert client.get("/info").json()["max_pixels"] == 10_000
        assert client.post("/predict", files={"file": ("ok.png", plain_png(100, 100))}).is_success
        with caplog.at_level("WARNING", logger="objrec.serve.server"):
            refused = client.post("/predict", files={"file": ("big.png", plain_png(101, 100))})
    assert refused.status_code == 413
    assert refused.json()["error"] == (
        "big.png: 101x100 pixels is over the limit of 10,000 pixels; send a smaller image, or ask "
        "whoever runs the server to raise its limit"
    )
    assert "OBJREC_MAX_PIXELS raises for serve" in caplog.text
    monkeypatch.setenv("OBJREC_MAX_PIXELS", "many")  # refused before any worker starts
    with pytest.raises(ObjrecError, match="OBJREC_MAX_PIXELS=many is not a number of pixels"):
        serve(trained_once, workers=2)


def test_serve_takes_a_lower_pixel_limit_for_its_uploads_and_says_it(
    trained_once, monkeypatch, caplog
):
    """serve decoded uploads up to objrec's own limit (89 million pixels), answering 4 at once:
    3.4 GB for 4 such PNGs, with nothing its operator could set to bound it but OBJREC_MAX_PIXELS,
    which changes what every command reads. `serve --max-pixels` sets the server's own, up to
    objrec's; the 413 states it, also when Pillow's guard refuses the file from its header."""
    from objrec.errors import ObjrecError
    from objrec.images import UnreadableImageError
    from objrec.serve import server
    from objrec.serve import uploads as serve_uploads

    monkeypatch.delenv("OBJREC_MAX_PIXELS", raising=False)
    app = create_app(trained_once, runtime="torch", max_pixels=10_000)
    with local_client(app) as client:
        assert client.get("/info").json()["max_pixels"] == 10_000
        assert client.post("/predict", files={"file": ("ok.png", plain_png(100, 100))}).is_success
        with caplog.at_level("WARNING", logger="objrec.serve.server"):
            refused = client.post("/predict", files={"file": ("big.png", plain_png(101, 100))})
    assert refused.status_code == 413
    assert "over the limit of 10,000 pixels" in refused.json()["error"]
    assert "objrec serve --max-pixels sets it" in caplog.text
    bomb = UnreadableImageError("x.png", "cannot read image (another limit's words)", True)
    assert "this server takes images of up to 10,000 pixels" in serve_uploads.too_many_pixels_text(
        bomb, 10_000
    )
    with pytest.raises(ObjrecError, match="is over objrec's own limit of 89,478,485"):
        server.serve(trained_once, max_pixels=90_000_000)


@pytest.mark.parametrize(
    ("given", "words"),
    [("0", "must be a positive number of pixels, not 0"), ("90000000", "90,000,000 is over")],
)
def test_serve_refuses_a_pixel_limit_over_objrec_s_in_one_sentence(
    tmp_path, capsys, monkeypatch, given, words
):
    from objrec.cli import main

    monkeypatch.delenv("OBJREC_MAX_PIXELS", raising=False)
    code = main(["serve", str(tmp_path), "--port", "0", "--max-pixels", given])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1  # a usage error, as click's own
    assert err.startswith(f"error: --max-pixels {words}"), err


@pytest.mark.parametrize(
    ("check", "name", "option"),
    [
        ("upload_pixel_limit", "max_pixels", "--max-pixels"),
        ("upload_limit_bytes", "max_upload_mib", "--max-upload-mib"),
        ("check_workers", "workers", "--workers"),
    ],
)
def test_serve_s_limits_are_checked_once_by_the_library_the_cli_naming_the_option(
    tmp_path, capsys, monkeypatch, check, name, option
):
    """--max-pixels, --max-upload-mib and --workers were checked twice, by the CLI and again by
    the library's serve() in other words: the CLI now asks the library's check and says its
    sentence as a usage error naming the option (exit 2)."""
    from objrec.cli import main
    from objrec.errors import ObjrecError
    from objrec.serve import server
    from objrec.serve import settings as serve_settings

    def refuse(value):
        raise ObjrecError(f"`{name}` {value:g} is refused by the library's check")

    monkeypatch.setattr(serve_settings, check, refuse)
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: None)
    code = main(["serve", str(tmp_path), "--port", "0", option, "7"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"error: {option} 7 is refused by the library's check")


def test_serve_passes_its_pixel_limit_on_to_each_worker(client, monkeypatch):
    from objrec import cli
    from objrec.serve import server
    from objrec.serve.server import app_from_env, worker_environment

    asked = []
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: asked.append(kwargs))
    assert cli.main(["serve", "--port", "0", str(client.run), "--max-pixels", "5000"]) == 0
    assert cli.main(["serve", "--port", "0", str(client.run)]) == 0
    assert [a["max_pixels"] for a in asked] == [5000, None]
    monkeypatch.undo()
    for name, value in worker_environment(
        client.run, "torch", "cpu", None, True, 10**6, 50
    ).items():
        monkeypatch.setenv(name, value)
    with local_client(app_from_env()) as worker:
        answer = worker.post("/predict", files={"file": ("x.png", png_bytes(), "image/png")})
    assert answer.status_code == 413 and "limit of 50 pixels" in answer.json()["error"]


SHOP = "https://shop.example"
PREFLIGHT = {"Access-Control-Request-Method": "POST"}


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-allow")}


def test_serve_sends_no_cors_headers_by_default(client):
    """A web page of another address gets nothing that lets its browser read the answer."""
    preflight = client.options("/predict", headers={"Origin": SHOP, **PREFLIGHT})
    answer = client.post(
        "/predict", headers={"Origin": SHOP}, files={"file": ("x.png", png_bytes())}
    )
    assert answer.is_success and cors_headers(preflight) == {} and cors_headers(answer) == {}
    assert client.get("/info").json()["cors_origins"] == []


def test_cors_origin_lets_that_website_s_pages_call_the_api_and_no_other(trained_once):
    """A shop's page at https://shop.example could not read /predict's answer (no
    Access-Control-Allow-Origin): `cors_origins` names the pages that may, and only those."""
    app = create_app(trained_once, runtime="torch", cors_origins=["HTTPS://Shop.example:443"])
    with local_client(app) as shop:
        allowed = shop.options("/predict", headers={"Origin": SHOP, **PREFLIGHT})
        other = shop.options("/predict", headers={"Origin": "https://other.example", **PREFLIGHT})
        png = {"file": ("x.png", png_bytes())}
        answer = shop.post("/predict", headers={"Origin": SHOP}, files=png)
        stranger = shop.post("/predict", headers={"Origin": "https://other.example"}, files=png)
        info = shop.get("/info").json()
    assert (
        allowed.status_code == 200 and cors_headers(allowed)["access-control-allow-origin"] == SHOP
    )
    assert cors_headers(allowed)["access-control-allow-methods"] == "GET, POST"
    assert "access-control-allow-credentials" not in cors_headers(allowed)
    assert "access-control-allow-origin" not in cors_headers(other)
    assert answer.is_success and answer.headers["access-control-allow-origin"] == SHOP
    assert answer.headers["access-control-expose-headers"] == "X-Objrec-Model"  # readable
    assert stranger.is_success and "access-control-allow-origin" not in stranger.headers
    assert info["cors_origins"] == [SHOP]


def test_a_failure_of_the_server_s_own_carries_the_cors_headers_too(trained_once, monkeypatch):
    """A 500 came without them (Starlette answers it outside every middleware of the app's): a
    page of an allowed origin saw a failed request, not the error. The traceback still reaches
    the server (here the test client, which raises it unless told not to)."""
    from objrec.serve import errors as serve_errors
    from objrec.serve import predict as serve_predict

    def fails(*args, **kwargs):
        raise RuntimeError("the model failed")

    monkeypatch.setattr(serve_predict, "answer_json", fails)
    app = create_app(trained_once, runtime="torch", cors_origins=[SHOP])
    png = {"file": ("x.png", png_bytes())}
    with local_client(app, raise_server_exceptions=False) as shop:
        failed = shop.post("/predict", headers={"Origin": SHOP}, files=png)
    assert failed.status_code == 500 and failed.json() == {"error": serve_errors.SERVER_ERROR}
    assert failed.headers["access-control-allow-origin"] == SHOP
    with (
        local_client(app) as strict,
        pytest.raises(RuntimeError, match="the model failed"),
    ):
        strict.post("/predict", headers={"Origin": SHOP}, files=png)


def test_cors_origin_star_lets_any_website_and_is_warned_of(trained_once, caplog):
    with caplog.at_level("WARNING", logger="objrec.serve.server"):
        app = create_app(trained_once, runtime="torch", cors_origins=[SHOP, "*"])
    with local_client(app) as anyone:
        preflight = anyone.options("/info", headers={"Origin": "https://x.example", **PREFLIGHT})
        assert anyone.get("/info").json()["cors_origins"] == ["*"]
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "a page of any website may send its visitors' images to this server" in caplog.text


def test_a_cors_origin_of_other_letters_than_ascii_s_matches_what_the_browser_sends():
    """A browser writes a host of other letters than ASCII's in its Origin header in IDNA form
    (``https://xn--caf-dma.example``), which CORS compares exactly: ``--cors-origin
    https://café.example``, as the shop's owner types it, was kept as typed and matched no
    request, with nothing said."""
    from objrec.errors import ObjrecError
    from objrec.serve.settings import allowed_origins, cors_origin

    assert cors_origin("https://Café.example") == "https://xn--caf-dma.example"
    assert cors_origin("http://münchen.de:8080") == "http://xn--mnchen-3ya.de:8080"
    assert allowed_origins(["https://café.example", "https://xn--caf-dma.example"]) == [
        "https://xn--caf-dma.example"
    ]
    with pytest.raises(ObjrecError, match="is not a web page's origin"):
        cors_origin("https://shop..example")  # an empty label: no host IDNA can write


@pytest.mark.slow
def test_cors_origin_star_is_warned_of_once_with_several_workers(client, monkeypatch, caplog):
    """``--workers 2 --cors-origin '*'`` printed the warning once per worker: each worker's app
    warned as it was made. serve warns once, before starting them; a worker's app, never."""
    from objrec.serve import server

    def two_workers(config, sock):  # each makes its app from the environment serve set
        for _worker in range(2):
            server.app_from_env()

    monkeypatch.setattr(server, "run_until_stopped", two_workers)
    with caplog.at_level("WARNING", logger="objrec.serve.server"):
        server.serve(client.run, port=0, workers=2, runtime="torch", cors_origins=["*"])
    assert caplog.text.count("CORS allows any origin (*)") == 1, caplog.text


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("https://shop.example/", "is more than an origin, which has no path: give " + SHOP),
        ("shop.example", "is not a web page's origin: give scheme://host[:port]"),
        ("ftp://shop.example", "is not a web page's origin"),
        ("https://shop.example:99999", "is not a web page's origin"),
    ],
)
def test_serve_refuses_a_cors_origin_that_is_no_origin_in_one_sentence(
    tmp_path, capsys, monkeypatch, given, words
):
    from objrec.cli import main
    from objrec.serve import server

    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: pytest.fail("served"))
    code = main(["serve", str(tmp_path), "--cors-origin", SHOP, "--cors-origin", given])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1  # a usage error, as click's own
    assert err.startswith(f"error: --cors-origin {given} {words}"), err


def test_serve_passes_its_cors_origins_on_says_them_and_gives_them_to_each_worker(
    client, monkeypatch
):
    from objrec import cli
    from objrec.cli.delivery import StartLines, cors_words
    from objrec.serve import server
    from objrec.serve.server import app_from_env, worker_environment

    asked = []
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: asked.append(kwargs))
    assert cli.main(["serve", "--port", "0", str(client.run), "--cors-origin", SHOP + ":443"]) == 0
    assert cli.main(["serve", "--port", "0", str(client.run)]) == 0
    assert [a["cors_origins"] for a in asked] == [[SHOP], []]
    assert StartLines(client.run, "127.0.0.1", cors_words([SHOP])).cors == [
        f"web pages of {SHOP} may call this server and read its answers (CORS)"
    ]
    assert cors_words([]) is None and "any website" in str(cors_words(["*"]))
    monkeypatch.undo()
    settings = (client.run, "torch", "cpu", None, True, 10**6, None, [SHOP, "http://a.b:8080"])
    for name, value in worker_environment(*settings).items():
        monkeypatch.setenv(name, value)
    with local_client(app_from_env()) as worker:
        assert worker.get("/info").json()["cors_origins"] == [SHOP, "http://a.b:8080"]


def retrained(run: Path, classes: list[str]) -> None:
    """The run's model written again over its file, as ``train --force`` writes it, with other
    class names (so that an answer says which model gave it)."""
    from dataclasses import replace

    from objrec.checkpoint import load_model, save_checkpoint
    from objrec.run_files import BEST

    model, meta = load_model(run)
    save_checkpoint(run / BEST, model, replace(meta, classes=classes))


@pytest.mark.slow
def test_a_running_server_answers_with_the_model_trained_again_into_its_run(
    trained_once, tmp_path, caplog
):
    """After a retrain into the run folder it served, serve answered with the old model until
    restarted. It now looks at the checkpoint every few seconds (here: at once, twice) and
    answers with the new model; /info says when it was loaded, and the log says so. The page
    showed the classes and unknown line of the model served when it was opened, however often
    it had been replaced: /predict and /info now name the model that answered in a header,
    the same in every worker, so that the page reads /info again when it changes."""
    import shutil

    run = Path(shutil.copytree(trained_once, tmp_path / "run"))
    an_hour_ago = time.time() - 3600
    os.utime(run / "model.safetensors", (an_hour_ago, an_hour_ago))
    app = create_app(run, runtime="torch", check_every=None)  # looks driven by the test
    image = {"file": ("x.png", png_bytes(), "image/png")}
    with local_client(app) as server:
        before = server.get("/info").json()
        marks = [server.get("/info").headers["x-objrec-model"]]
        marks.append(server.post("/predict", files=image).headers["x-objrec-model"])
        retrained(run, ["azure", "jade", "ruby"])
        with caplog.at_level("INFO", logger="objrec.serve.events"):
            assert [app.state.served.check() for _ in range(2)] == [False, True]
        info = server.get("/info").json()
        answer = server.post("/predict", files=image)
        marks += [answer.headers["x-objrec-model"], server.get("/info").headers["x-objrec-model"]]
    assert marks[0] == marks[1] != marks[2] == marks[3]  # the page reads /info again then
    assert before["classes"] == ["blue", "green", "red"]
    assert info["classes"] == ["azure", "jade", "ruby"]
    assert answer.json()["topk"][0]["class"] in info["classes"]
    assert info["loaded_at"] >= before["loaded_at"] and info["loaded_at"].endswith("Z")
    assert info["checkpoint_modified"] > before["checkpoint_modified"]
    assert f"reloaded {run / 'model.safetensors'} (written " in caplog.text


@pytest.mark.slow
def test_a_half_written_checkpoint_never_replaces_the_model_served(trained_once, tmp_path, caplog):
    """A checkpoint copied over the served one in place, caught half-written and left so: the
    server keeps answering with the model it has, and warns once. So too for one of its whole
    size whose last bytes are not written yet (a writer that sizes the file first), which
    safetensors reads as whole: the reload reads the SHA-256 the file holds of itself."""
    import shutil

    run = Path(shutil.copytree(trained_once, tmp_path / "run"))
    app = create_app(run, runtime="torch", check_every=None)
    whole = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(whole[: len(whole) // 2])
    with (
        local_client(app) as server,
        caplog.at_level("WARNING", logger="objrec.serve.served"),
    ):
        assert [app.state.served.check() for _ in range(3)] == [False] * 3
        (run / "model.safetensors").write_bytes(whole[:-4096] + bytes(4096))
        assert [app.state.served.check() for _ in range(3)] == [False] * 3
        info = server.get("/info").json()
        answer = server.post("/predict", files={"file": ("x.png", png_bytes(), "image/png")})
    assert info["classes"] == ["blue", "green", "red"] and answer.status_code == 200
    assert caplog.text.count("changed, but its model could not be used") == 2, caplog.text
    assert "its bytes no longer match the SHA-256" in caplog.text


@pytest.mark.slow
def test_serve_shows_a_server_s_events_with_their_time_in_each_worker_too(
    client, monkeypatch, capsys
):
    """What a running server did (a reload) is an INFO line the CLI shows at its normal
    verbosity, with its time and no ``warning:``. serve's workers are new processes, which had
    none of the CLI's logging: their warnings came bare, their INFO lines not at all. Each now
    sets it up from the environment as the CLI did."""
    import importlib
    import logging
    import logging.config

    from objrec.cli import main
    from objrec.serve import server
    from objrec.serve import workers as serve_workers

    asked, applied = [], []
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: asked.append(kwargs))
    assert main(["serve", "--port", "0", str(client.run), "--workers", "2"]) == 0
    for name in server.worker_environment(client.run, None, "cpu", None, True, 1):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OBJREC_SERVE_RUN", str(client.run))
    monkeypatch.setenv(serve_workers.WORKER_LOGGING, json.dumps(asked[0]["worker_logging"]))
    monkeypatch.setattr(server, "create_app", lambda *args, **kwargs: None)
    monkeypatch.setattr(logging.config, "dictConfig", applied.append)  # not this process's
    server.app_from_env()  # as a worker starts
    (setup,) = applied
    assert setup["root"] == {"level": "WARNING", "handlers": ["cli"]}
    assert setup["loggers"] == {
        "objrec.serve.events": {"level": "INFO"},
        "python_multipart": {"level": "ERROR"},
        "multipart": {"level": "ERROR"},
    }
    made = dict(setup["handlers"]["cli"])
    module, name = made.pop("()").rsplit(".", 1)
    handler = getattr(importlib.import_module(module), name)(**made)  # as dictConfig makes it
    for logger, level, text in [
        ("objrec.serve.events", logging.INFO, "reloaded run/model.safetensors" + " x" * 60),
        ("objrec.serve.server", logging.WARNING, "a warning"),
    ]:
        handler.handle(logging.LogRecord(logger, level, __file__, 1, text, None, None))
    err = capsys.readouterr().err.splitlines()
    assert err[-2].startswith("[") and "] reloaded run/model.safetensors x x" in err[-2], err
    assert err[-2].endswith(" x" * 60), err  # one line, however long
    assert err[-1] == "warning: a warning", err


def test_each_upload_is_one_line_in_the_server_s_log(client, caplog):
    """Its name, size, sender, the answer (or why none) and the time it took: the server's log
    said nothing of uploads answered (uvicorn's access log is off under serve)."""
    import re

    image = png_bytes()
    with caplog.at_level("INFO", logger="objrec.serve.events"):
        answer = client.post("/predict", files={"file": ("x.png", image, "image/png")}).json()
        client.post("/predict", files={"file": ("notes.png", b"not an image", "image/png")})
    top = answer["topk"][0]
    said = f"{top['class']} {top['prob']:.2%}"
    said = f"unknown (closest: {said})" if answer["unknown"] else said
    lines = [r.getMessage() for r in caplog.records if r.name == "objrec.serve.events"]
    assert len(lines) == 2, lines
    size = f"{len(image) / 1024:.0f} KiB"
    barely = r" \(barely familiar: .*\)" if answer["barely_familiar"] else ""
    assert re.fullmatch(
        rf"/predict x\.png \({size}\) from testclient, \d+ ms: {re.escape(said)}{barely}", lines[0]
    )
    # the time before the answer: after a refusal's advice it read "... raise its limit in 24 ms"
    assert re.match(
        r"/predict notes\.png \(12 bytes\) from testclient, \d+ ms: refused, 415: ", lines[1]
    )


def test_the_log_line_of_an_answer_barely_familiar_says_so():
    """A newcomer's emu was logged "ibis 93.82%" where /predict's JSON said barely_familiar: true:
    the log line now says it as predict does, with the familiarity and the line; an answer
    familiar enough, one without a familiarity and an unknown one read as before."""
    from objrec.serve.predict import answer_words

    emu = {"topk": [{"class": "ibis", "prob": 0.9382}], "unknown": False, "score": 0.41}
    emu |= {"barely_familiar": True, "unknown_threshold": 0.35}
    assert answer_words(emu) == "ibis 93.82% (barely familiar: 0.41, unknown below 0.35)"
    assert answer_words(emu | {"barely_familiar": False, "score": 0.9}) == "ibis 93.82%"
    no_line = {"barely_familiar": None, "unknown_threshold": None}
    assert answer_words(emu | no_line) == "ibis 93.82%"
    unknown = emu | {"unknown": True, "barely_familiar": False, "score": 0.1}
    assert answer_words(unknown) == "unknown (closest: ibis 93.82%)"


def test_each_upload_is_counted_once_the_refused_apart_from_the_answered(client):
    """What serve's last line says it did (review53b L4: the page counted refused photos among
    those answered): every upload to /predict counted once, by its answer, a refusal (no
    image, a topk out of range, a Content-Length over the limit) never as answered; a request
    that is no upload not at all."""
    from dataclasses import asdict

    before = asdict(client.app.state.uploads)
    image = ("x.png", png_bytes(), "image/png")
    assert client.post("/predict", files={"file": image}).status_code == 200
    assert (
        client.post("/predict", files={"file": ("n.png", b"no image", "image/png")}).status_code
        == 415
    )
    assert client.post("/predict", files={"file": image}, data={"topk": "0"}).status_code == 422
    huge = ("big.png", b"x" * 300_000, "image/png")  # the client's limit: 200,000 bytes
    assert client.post("/predict", files={"file": huge}).status_code == 413
    assert client.get("/predict").status_code == 405 and client.get("/health").status_code == 200
    after = asdict(client.app.state.uploads)
    assert {name: after[name] - before[name] for name in after} == {
        "answered": 1,
        "refused": 3,
        "left": 0,
        "failed": 0,
        "uncounted": 0,  # several processes' sum only
        "cut": 0,  # cut off by the server's stop
    }


def test_serve_s_last_line_says_how_many_uploads_it_answered_and_refused(
    tmp_path, capsys, monkeypatch
):
    """It said "stopped serving run" alone; one server process counts the uploads it answered,
    and those it refused apart (several count each their own: the line says none)."""
    from objrec import cli
    from objrec.serve import server
    from objrec.serve.uploads import UploadCounts

    done = {"counts": UploadCounts(answered=5, refused=3)}

    def serving(*args, **kwargs):
        up_at(8123)(*args, **kwargs)
        return done["counts"]

    monkeypatch.setattr(server, "serve", serving)
    fake_checkpoint(tmp_path / "model.safetensors")
    assert cli.main(["serve", "--port", "0", str(tmp_path)]) == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"stopped serving {tmp_path}: 5 uploads answered, 3 refused"
    done["counts"] = UploadCounts(answered=1, left=2, failed=1)
    assert cli.main(["serve", "--port", "0", str(tmp_path)]) == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.endswith(": 1 upload answered, 2 left by their client, 1 failed")


def test_several_workers_uploads_are_counted_together_and_their_folder_removed(client, monkeypatch):
    """`serve --workers 2` ended with "stopped serving run" alone: each process counted its own
    uploads, and none said them. Each worker now writes its counts as its app stops, into a
    temporary folder serve made, which sums them once all have stopped, then removes it."""
    import uvicorn.supervisors

    from objrec.serve import server
    from objrec.serve.uploads import UploadCounts
    from objrec.serve.workers import WORKER_COUNTS

    folders = []
    image, text = ("x.png", png_bytes(), "image/png"), ("x.txt", b"no image", "text/plain")

    class TwoWorkers:  # uvicorn's supervisor, its two processes' apps made as they make them
        def __init__(self, config, sockets):
            assert config.workers == 2 and config.factory

        def run(self):
            folders.append(Path(os.environ[WORKER_COUNTS]))
            for uploads in [[image, image, text], [image]]:
                with local_client(server.app_from_env()) as worker:
                    for upload in uploads:
                        worker.post("/predict", files={"file": upload})

    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", TwoWorkers)
    monkeypatch.setattr(server, "check_settings", lambda *args: ("PyTorch", "asked"))
    counts = server.serve(client.run, port=0, workers=2, runtime="torch")
    assert counts == UploadCounts(answered=3, refused=1)
    assert counts.words() == "3 uploads answered, 1 refused"
    assert not folders[0].exists() and WORKER_COUNTS not in os.environ


@pytest.mark.slow
def test_serve_with_two_workers_ends_with_the_same_last_line_as_one_and_leaves_no_file(
    client, tmp_path
):
    """`objrec serve --workers 2` itself, stopped by SIGTERM after uploads that either process
    may have answered: the last line counts them all, as one process's does, and the folder
    the workers wrote their counts to is gone."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    options = ("--workers", "2", "--runtime", "torch")
    environment = {**os.environ, "TMPDIR": str(scratch)}
    with serving(client.run, *options, wait=300, env=environment) as (process, lines, reader):
        url = re.search(r"http://\S+", "".join(lines)).group(0)
        for name, data in [("a.png", png_bytes()), ("b.png", png_bytes()), ("c.txt", b"no")]:
            post_upload(f"{url}predict", name, data)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, lines
        reader.join(timeout=10)
        last = f"stopped serving {client.run}: 2 uploads answered, 1 refused"
        assert lines[-1].strip() == last, "".join(lines)
        assert list(scratch.iterdir()) == []


def post_upload(url: str, name: str, data: bytes) -> int:
    """POST ``data`` to ``url`` as the multipart field ``file`` named ``name``: the status."""
    boundary = "objrecboundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"'
    body = f"{head}\r\n\r\n".encode() + data + f"\r\n--{boundary}--\r\n".encode()
    kind = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, kind), timeout=60) as got:
            return got.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_a_worker_that_never_said_its_counts_is_said_to_be_left_out(tmp_path):
    """A worker killed, or stopped twice (uvicorn's forced exit skips the app's shutdown), never
    writes its counts: the sum says it left that process out, not a smaller count as the whole."""
    from objrec.serve.workers import summed_counts

    (tmp_path / "a.json").write_text('{"answered": 2, "refused": 1, "left": 0, "failed": 0}')
    (tmp_path / "b.json").write_text("")  # started, never stopped cleanly
    words = summed_counts(tmp_path).words()
    assert (
        words == "2 uploads answered, 1 refused (not counting 1 server process that ended abruptly)"
    )
    (tmp_path / "a.json").unlink()
    assert summed_counts(tmp_path).words() == (
        "0 uploads answered (not counting 1 server process that ended abruptly)"
    )


def test_an_upload_refused_as_an_invalid_request_is_one_line_in_the_log_too(client, caplog):
    """A 422 from FastAPI's checks (``topk`` out of range, the image sent as text, no file) came
    without a line, where the docs say each upload is one, a refusal with its sentence."""
    image = {"file": ("x.png", png_bytes(), "image/png")}
    with caplog.at_level("INFO", logger="objrec.serve.events"):
        assert client.post("/predict", files=image, data={"topk": "0"}).status_code == 422
        assert client.post("/predict", data={"file": "photo.jpg"}).status_code == 422
        assert client.get("/predict").status_code == 405  # no upload: not logged
    lines = [r.getMessage() for r in caplog.records if r.name == "objrec.serve.events"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("/predict x.png (")
    assert re.search(
        r" from testclient, \d+ ms: refused, 422: topk must be a whole number", lines[0]
    )
    # review53b nit 9: timed as every other upload's line
    assert re.match(
        r"/predict without an image from testclient, \d+ ms: refused, 422: file: ", lines[1]
    )


@pytest.mark.parametrize(
    ("n_bytes", "words"),
    [
        (812, "812 bytes"),
        (1024, "1 KiB"),
        (250_000, "244 KiB"),
        (2_422_000, "2.31 MiB"),
        (1024 * 1024 - 1, "1 MiB"),  # not "1,024 KiB": rounds to a MiB, said as one
        (1024 * 1024 - 500, "1 MiB"),
        (1024 * 1024 - 600, "1,023 KiB"),
    ],
)
def test_an_upload_s_size_is_said_in_the_unit_that_reads_best(n_bytes, words):
    from objrec.serve.uploads import upload_size

    assert upload_size(n_bytes) == words


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "localhost.evil.example."])
def test_a_request_sent_to_a_name_of_another_website_is_refused_before_it_is_answered(
    client, caplog, host
):
    """DNS rebinding: a website points a name of its own at this machine, and its page, opened
    in a browser here, then drives a server bound to loopback and reads the answers. Such a
    request carries the website's name as its Host: it was answered; it is refused (400, in
    JSON, naming the name), and the server's log tells its operator how to allow a name."""
    with caplog.at_level("WARNING", logger="objrec.serve.server"):
        read = client.get("/info", headers={"host": host})
        sent = client.post(
            "/predict", files={"file": ("r.png", png_bytes())}, headers={"host": host}
        )
    name = host.split(":")[0].rstrip(".")
    for refused in (read, sent):
        assert refused.status_code == 400 and refused.headers["x-content-type-options"] == "nosniff"
        error = refused.json()["error"]
        assert error.startswith(f"this server does not answer requests sent to the name {name} ")
        assert "DNS rebinding" in error and "ask whoever runs it to allow this name" in error
    assert f"refused a request sent to the name {name} (its Host header)" in caplog.text
    assert "if it is a name of this server's (its DNS name, or a reverse proxy's" in caplog.text
    assert f"objrec serve --allowed-host {name} answers to it" in caplog.text


@pytest.mark.parametrize(
    "host",
    ["localhost", "LocalHost:8000", "app.localhost", "127.0.0.1:8000", "[::1]:8000", "192.0.2.7"],
)
def test_a_request_sent_to_an_address_or_localhost_is_answered(client, host):
    """A page cannot make a browser send an IP address or localhost as the Host of a request
    unless the browser opened that address itself: those are answered, as are requests without
    a Host header (HTTP/1.0)."""
    assert client.get("/health", headers={"host": host}).json() == {"status": "ok"}


def test_the_names_a_server_answers_to_are_its_host_this_machine_s_and_those_allowed(monkeypatch):
    """``serve --host photos.lan`` answers to photos.lan; any server to this machine's own name
    (as colleagues type it: gpu-box, gpu-box.local); ``allowed_hosts`` adds names,
    ``*.office.lan`` those under a domain, ``*`` any; a name that is no host name is refused."""
    from objrec.errors import ObjrecError
    from objrec.serve.guards import host_allowed, server_names

    monkeypatch.setattr(socket, "gethostname", lambda: "GPU-Box.office.lan")
    machine = ["gpu-box.office.lan", "gpu-box", "gpu-box.local"]
    assert server_names("127.0.0.1") == server_names("::1") == server_names("0.0.0.0") == machine
    assert server_names("Photos.LAN") == ["photos.lan", *machine]
    assert server_names("0.0.0.0", ["x.lan."]) == ["x.lan", *machine]
    names = server_names("127.0.0.1", ["objrec.office.lan", "*.lab.lan"])
    assert host_allowed("objrec.office.lan", names) and host_allowed("cam.lab.lan", names)
    assert not host_allowed("lab.lan", names) and not host_allowed("evil-lab.lan", names)
    assert not host_allowed("office.lan", names) and host_allowed("any.where", ["*"])
    for given in ("http://objrec.lan/", "objrec.lan:8000", "a.*.lan", "x/y"):
        with pytest.raises(ObjrecError, match=f"`allowed_host` {re.escape(given)} is not a host"):
            server_names("127.0.0.1", [given])


def test_allowed_host_lets_a_server_answer_to_a_name_and_every_worker_too(client, monkeypatch):
    """``--allowed-host objrec.office.lan`` (a DNS name of the server, or a reverse proxy that
    passes its own public name on): requests sent to it are answered, by each of several
    workers too; a usage error names the option."""
    from objrec import cli
    from objrec.serve import server
    from objrec.serve.server import app_from_env, worker_environment

    asked = []
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: asked.append(kwargs))
    assert (
        cli.main(["serve", "--port", "0", str(client.run), "--allowed-host", "Objrec.Office.LAN"])
        == 0
    )
    assert asked[0]["allowed_hosts"] == ["objrec.office.lan"]
    monkeypatch.undo()
    settings = (client.run, "torch", "cpu", None, True, 10**6, None, [], ["objrec.office.lan"])
    for name, value in worker_environment(*settings).items():
        monkeypatch.setenv(name, value)
    with TestClient(app_from_env(), base_url="http://objrec.office.lan:8000") as worker:
        assert worker.get("/health").status_code == 200
        assert worker.get("/health", headers={"host": "other.office.lan"}).status_code == 400


def test_allowed_host_that_is_no_host_name_is_a_usage_error(tmp_path, capsys, monkeypatch):
    from objrec.cli import main
    from objrec.serve import server

    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: pytest.fail("served"))
    code = main(["serve", str(tmp_path), "--allowed-host", "http://objrec.lan:8000/"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: --allowed-host http://objrec.lan:8000/ is not a host name"), err


def upload_scope() -> tuple[dict, bytes]:
    """The ASGI scope and body of a POST /predict of x.png, for an app called directly."""
    part = b'Content-Disposition: form-data; name="file"; filename="x.png"\r\n'
    body = b"--b\r\n" + part + b"Content-Type: image/png\r\n\r\n" + png_bytes() + b"\r\n--b--\r\n"
    headers = [(b"host", b"localhost"), (b"content-type", b"multipart/form-data; boundary=b")]
    scope = {
        "type": "http", "method": "POST", "path": "/predict", "raw_path": b"/predict",
        "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000), "server": ("localhost", 80),
    }  # fmt: skip
    return scope, body


def test_an_upload_whose_client_closed_the_connection_is_logged_not_answered(
    client, monkeypatch, caplog
):
    """serve decoded and answered uploads whose clients had given up (12 of 12 after curl's
    --max-time 2), and logged them as answered. At its turn, an upload whose
    client closed the connection (ASGI's http.disconnect) is not decoded, and the log says so."""
    from objrec.serve import predict as serve_predict

    answered = []
    monkeypatch.setattr(
        serve_predict, "answer_upload", lambda *args, **kwargs: answered.append(args)
    )
    scope, body = upload_scope()
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    with caplog.at_level("INFO", logger="objrec.serve.events"):
        asyncio.run(client.app(scope, receive, send))
    assert answered == [] and sent[0]["status"] == 499
    [line] = [r.getMessage() for r in caplog.records if r.name == "objrec.serve.events"]
    assert line.startswith("/predict x.png (") and line.split(": ", 1)[1] == (
        "not answered: its client had closed the connection before its turn"
    )


def test_an_upload_whose_client_leaves_while_sending_it_is_logged_so(client, caplog):
    """A client that closed the connection while its upload was being received (curl
    --max-time 0.3 on a 103 MiB PNG) was logged as a form refused: "refused, 400: the form
    (multipart/form-data) could not be read (There was an error parsing the body)"."""
    scope, body = upload_scope()
    messages = [{"type": "http.request", "body": body[:200], "more_body": True}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    with caplog.at_level("INFO", logger="objrec.serve.events"):
        asyncio.run(client.app(scope, receive, send))
    assert sent[0]["status"] == 499
    [line] = [r.getMessage() for r in caplog.records if r.name == "objrec.serve.events"]
    assert line == (
        "/predict without an image from 127.0.0.1: not answered: its client closed the "
        "connection while sending it"
    )


@pytest.mark.parametrize(
    ("leaves_in", "said"),
    [
        ("open_image", "not answered: its client closed the connection while its image was "
         "decoded, so the model did not run"),
        ("answer_json", "answered for nobody: its client closed the connection while the model "
         "ran"),
    ],
)  # fmt: skip
def test_an_upload_whose_client_leaves_during_its_turn_stops_and_is_logged_so(
    client, monkeypatch, caplog, leaves_in, said
):
    """A client that closed the connection during its upload's own turn, while its image was
    decoded or scored (curl --max-time 1.3 on a 103 MiB PNG that took 2.3 s), still had it
    scored, and the log said it answered (unknown, closest: pyramid 19.08%). The model no longer
    runs on an image whose client left while it was decoded, and the log says how far it came."""
    from objrec.serve import predict, uploads

    scored, started, left, loops = [], threading.Event(), threading.Event(), []
    real_json = predict.answer_json

    def until_the_client_left(real):
        def stalled(*args, **kwargs):
            started.set()
            left.wait(60)
            if loops:  # once the event loop has taken the disconnect in
                asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loops[0]).result(60)
            return real(*args, **kwargs)

        return stalled

    def answer_json(*args, **kwargs):
        scored.append(1)
        return real_json(*args, **kwargs)

    monkeypatch.setattr(predict, "answer_json", answer_json)
    where = uploads if leaves_in == "open_image" else predict
    monkeypatch.setattr(where, leaves_in, until_the_client_left(getattr(where, leaves_in)))
    scope, body = upload_scope()
    messages, sent = [{"type": "http.request", "body": body, "more_body": False}], []

    async def receive():
        if messages:
            return messages.pop(0)
        while not started.is_set():  # the client leaves once its image is being worked on
            await asyncio.sleep(0.001)
        loops.append(asyncio.get_running_loop())
        left.set()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    with caplog.at_level("INFO", logger="objrec.serve.events"):
        asyncio.run(client.app(scope, receive, send))
    assert sent[0]["status"] == 499 and len(scored) == (leaves_in == "answer_json")
    [line] = [r.getMessage() for r in caplog.records if r.name == "objrec.serve.events"]
    assert line.startswith("/predict x.png (") and line.split(": ", 1)[1] == said, line


@pytest.mark.slow  # a run loaded (1 s)
def test_serves_default_runtime_that_cannot_make_its_graph_says_pytorch_serves_without_it(
    trained_run, monkeypatch
):
    """serve runs ONNX Runtime unless told otherwise: a graph it could not make (a cache folder
    it cannot write) stopped it in a sentence that named no way on, though the user asked for
    no ONNX Runtime and --runtime torch serves. Asked for, onnx says only why."""
    from objrec import model_graph
    from objrec.errors import ObjrecError
    from objrec.serve.model import load_recognizer

    def fails(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted", "/cache/onnx/model.onnx")

    monkeypatch.setattr(model_graph, "write_checked", fails)
    with pytest.raises(ObjrecError) as refused:
        load_recognizer(trained_run, None, "cpu", None, True)
    assert str(refused.value).startswith("cannot make the ONNX model ")
    assert str(refused.value).endswith(
        "[Errno 1] Operation not permitted: '/cache/onnx/model.onnx'; `runtime='torch'` serves "
        "without it"
    )
    with pytest.raises(ObjrecError) as refused:
        load_recognizer(trained_run, "onnx", "cpu", None, True)
    assert "runtime" not in str(refused.value)


@pytest.mark.slow  # uvicorn imported (0.2 s)
def test_a_server_process_keeps_open_at_most_half_the_connections_it_may_open_files_for(
    monkeypatch,
):
    """uvicorn's default is no limit: a flood of connections (slow clients, which uvicorn never
    times out) took every file the process may open. Past half of them uvicorn
    answers 503 at once, and the server can still open its own files."""
    import resource

    from objrec.serve.server import server_config

    monkeypatch.setattr(resource, "getrlimit", lambda which: (1024, 4096))
    assert server_config("objrec.serve.server:app", 2, "").limit_concurrency == 512
    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY,) * 2)
    assert server_config("objrec.serve.server:app", 1, "").limit_concurrency is None


def test_serve_gives_confused_with_as_predict_gives_it(trained_run, split_dir, monkeypatch):
    """newcomer52 10: for the same photo `predict --json` gave `"confused_with": []` and serve's
    /predict `null`, so a script using both had to handle both. serve reads the pairs the run's
    evaluation of its model mistook both ways when it loads the model, as predict reads them:
    the same value for the same photo, null only where no evaluation records them."""
    from objrec.checkpoint import model_digest
    from objrec.predict import predict
    from objrec.serve.model import load_recognizer
    from objrec.serve.predict import answer_json

    monkeypatch.setattr(sys.modules["objrec.prediction"], "MIXED_PROB", 0)  # a tiny run is sure
    image = next((split_dir / "test" / "red").iterdir())

    def both() -> tuple[object, object]:
        recognizer = load_recognizer(trained_run, "torch", "cpu", None, True)
        with Image.open(image) as photo:
            served = answer_json(recognizer, photo.convert("RGB"), 5, False)["confused_with"]
        return predict(trained_run, [image])[0].confused_with, served

    assert both() == (None, None)  # no evaluation yet
    (first,) = predict(trained_run, [image])
    answer, other = (str(t["class"]) for t in first.topk[:2])
    pair = {"a": answer, "b": other, "a_as_b": 2, "b_as_a": 2, "n_a": 10, "n_b": 12}
    metrics = {"model": model_digest(trained_run), "folder": str(split_dir / "test")}
    (trained_run / "eval-test").mkdir()
    for pairs, expected in (([], []), ([pair], [other])):
        metrics["mixed_pairs"] = pairs
        (trained_run / "eval-test" / "metrics.json").write_text(json.dumps(metrics))
        assert both() == (expected, expected)


def test_serve_info_gives_the_test_top1_of_the_model_it_serves(trained_run, split_dir):
    """newcomer60: serve's page headline gave the validation accuracy (90.7%) where evaluate had
    measured the test top-1 (91.39%). /info now gives test_top1, the run's evaluation of its test
    split of the model served, which the page shows (labelled) before the valid accuracy; null
    with no such evaluation, one of another folder, or one of another model."""
    from objrec.checkpoint import model_digest
    from objrec.serve.model import load_recognizer, model_info

    def info() -> object:
        recognizer = load_recognizer(trained_run, "torch", "cpu", None, True)
        return model_info(recognizer, 1, 1)["test_top1"]

    assert info() is None  # no evaluation yet
    metrics = {"model": model_digest(trained_run), "top1": 0.9139, "n": 151}
    (trained_run / "eval-test").mkdir()
    written = trained_run / "eval-test" / "metrics.json"
    for folder, model, expected in (
        (split_dir / "test", metrics["model"], 0.9139),
        (split_dir / "valid", metrics["model"], None),  # not the test split
        (split_dir / "test", "another model", None),
    ):
        written.write_text(json.dumps(metrics | {"folder": str(folder), "model": model}))
        assert info() == expected


@pytest.mark.slow
def test_serve_reads_the_mixed_pairs_again_after_an_evaluation_of_the_run_it_serves(
    trained_run, split_dir
):
    """serve read the pairs an evaluation mixed up only when it loaded a model: after `evaluate`
    wrote one into the run it served, /predict went on saying `"confused_with": null` ("no
    evaluation records them") where predict said [] (review57a M2). Its look at the model's
    files reads them again when an evaluation changes, without loading the model again."""
    from objrec.evaluate import evaluate
    from objrec.predict import predict

    image = next((split_dir / "test" / "red").iterdir())
    app = create_app(trained_run, runtime="torch", check_every=None)  # looks driven by the test
    upload = {"file": (image.name, image.read_bytes(), "image/png")}
    with local_client(app) as server:
        before = server.post("/predict", files=upload)
        recognizer = app.state.served.recognizer
        evaluate(trained_run, split_dir)
        assert app.state.served.check() is False  # the model is not loaded again
        after = server.post("/predict", files=upload)
    assert app.state.served.recognizer is recognizer
    assert before.headers["x-objrec-model"] == after.headers["x-objrec-model"]
    assert before.json()["confused_with"] is None
    expected = predict(trained_run, [image])[0].confused_with
    assert expected is not None and after.json()["confused_with"] == expected


def test_serve_says_once_that_only_the_first_frame_of_an_upload_is_answered(
    client, caplog, monkeypatch
):
    """words64: check notes a multi-page TIFF or an animated image, whose first page or frame
    alone is read; serve answered such an upload silently. The server's log says so once, at the
    first such upload, naming it; a plain PNG says nothing, a second animation nothing more."""
    import threading

    from objrec.serve import uploads

    monkeypatch.setattr(uploads, "FIRST_PAGE_SAID", threading.Event())
    frames = [make_image((200, 40, 40), size=(40, 32)), make_image((40, 40, 200), size=(40, 32))]
    moving = io.BytesIO()
    frames[0].save(moving, "GIF", save_all=True, append_images=frames[1:])
    with caplog.at_level("WARNING", logger="objrec.serve"):
        assert client.post("/predict", files={"file": ("still.png", png_bytes())}).is_success
        for name in ("moving.gif", "again.gif"):
            answered = client.post("/predict", files={"file": (name, moving.getvalue())})
            assert answered.is_success
    said = [r.getMessage() for r in caplog.records if "pages or frames" in r.getMessage()]
    assert said == [
        "the upload moving.gif holds 2 pages or frames: only the first page or frame of it, and "
        "of any such upload after it, is answered"
    ]
