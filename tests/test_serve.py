"""The web API and page: every endpoint, every bad request, a real server, and a real browser."""

import asyncio
import io
import json
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from objrec.serve import create_app

from .conftest import EPS, fake_ghostscript, make_image


def png_bytes(size=(40, 32), colour=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    make_image(colour, size=size).save(buffer, "PNG")
    return buffer.getvalue()


def plain_png(width, height) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client(tmp_path_factory, trained_once):
    """The session's tiny run, copied for this module (``objrec serve`` may write beside it)."""
    root = tmp_path_factory.mktemp("serve")
    shutil.copytree(trained_once, root / "run")
    app = create_app(root / "run", runtime="torch", max_upload_bytes=200_000, max_pixels=500 * 500)
    with TestClient(app) as c:
        c.run = root / "run"
        yield c


@pytest.mark.slow
def test_health_info_and_page(client):
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert info["classes"] == ["blue", "green", "red"] and info["backbone"] == "tiny_test"
    assert info["int8_engine"] is None
    page = client.get("/")
    assert page.status_code == 200 and "Drop an image" in page.text


@pytest.mark.slow
def test_info_names_the_engine_that_runs_an_int8_body(client, tmp_path):
    """A default run's OpenVINO int8 body runs in OpenVINO whatever the runtime, which then says
    torch: /info said only ``"runtime": "torch"``, as though eager PyTorch ran the model."""
    from .test_inference import int8_copy

    run = int8_copy(client.run, tmp_path / "run")
    with TestClient(create_app(run)) as int8:
        info = int8.get("/info").json()
    assert info["runtime"] == "torch" and info["int8_engine"] == "openvino"


def test_docs_is_swagger_ui_with_a_note_for_when_it_cannot_load_offline(client):
    """/docs loads Swagger UI from a CDN (blank offline); it carries a note, shown when the script
    did not load, that points to /openapi.json, which the app serves itself. No /redoc."""
    docs = client.get("/docs")
    assert docs.status_code == 200 and "SwaggerUIBundle" in docs.text
    assert "url: '/openapi.json'" in docs.text and 'id="offline" hidden' in docs.text
    assert '<a href="openapi.json">' in docs.text
    assert "/predict" in client.get("/openapi.json").json()["paths"]
    assert client.get("/redoc").status_code == 404


def test_a_wrong_path_or_method_is_a_json_error_that_keeps_its_headers(client):
    """A 404 or 405 from the router is ``{"error": ...}`` too, and a 405 still says which methods
    the path takes (its ``Allow`` header, which HTTP requires)."""
    missing = client.get("/nothing")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
    wrong = client.get("/predict")
    assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed"}
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


def barely_familiar_answer(client) -> dict:
    """``/predict``'s answer for the blue image from an app whose unknown line lies 0.1 under its
    familiarity: answered, though barely familiar (within ``predict.NEAR_LINE`` of the line)."""
    from objrec.predict import NEAR_LINE

    blue = {"file": ("blue.png", png_bytes(colour=(40, 60, 200)), "image/png")}
    score = client.post("/predict", files=blue).json()["score"]
    assert client.get("/info").json()["unknown_score_readable"] is True
    app = create_app(client.run, runtime="torch", threshold=score - NEAR_LINE / 2.5)
    with TestClient(app) as near:
        return near.post("/predict", files=blue).json()


def test_predict_says_an_image_near_the_unknown_line_is_barely_familiar(client):
    """The page reads ``barely_familiar``: an image answered with a class, though its familiarity
    is within 0.25 of the unknown line, is true; one far above it false, as predict says."""
    far = client.post("/predict", files={"file": ("r.png", png_bytes(), "image/png")}).json()
    near = barely_familiar_answer(client)
    assert far["barely_familiar"] is False and far["unknown"] is False
    assert near["barely_familiar"] is True and near["unknown"] is False
    assert near["topk"][0]["class"] == "blue"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("files", "data", "status", "words"),
    [
        ({"file": ("x.png", b"", "image/png")}, {}, 400, "empty"),
        ({"file": ("x.png", b"hello, not an image", "image/png")}, {}, 415, "cannot read image"),
        ({"file": ("x.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64, "image/jpeg")}, {}, 415, "x.jpg"),
        (
            {"file": ("big.bin", b"\x00" * 200_001, "image/png")},
            {},
            413,
            "up to 0.2 MB (200,000 bytes)",
        ),
        ({"file": ("huge.png", None, "image/png")}, {}, 413, "pixels"),
        ({"image": ("x.png", None, "image/png")}, {}, 422, "file: Field required"),
        ({}, {"file": "photo.jpg"}, 422, "file: the image must be sent as a file"),
        ({"x": ("x.png", None, "image/png")}, {"file": "a.jpg"}, 422, "must be sent as a file"),
        ({"file": ("x.png", None, "image/png")}, {"topk": "0"}, 422, "topk"),
        ({"file": ("x.png", None, "image/png")}, {"topk": "many"}, 422, "topk"),
        ({}, {}, 422, "file"),
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


def test_an_eps_upload_is_refused_without_running_ghostscript(client, tmp_path, monkeypatch):
    """Pillow reads EPS by handing the bytes to Ghostscript, a PostScript interpreter: an upload
    of one ran it (here a stand-in ``gs`` that notes its arguments) on a stranger's program, then
    answered a plain-text 500. Uploads are now decoded only as the formats objrec reads."""
    ran = fake_ghostscript(tmp_path, monkeypatch)
    response = client.post("/predict", files={"file": ("x.eps", EPS, "application/postscript")})
    assert not ran.exists(), ran.read_text()
    assert response.status_code == 415
    assert response.json() == {"error": "x.eps: cannot read image (not a recognised image format)"}


def test_a_failure_of_the_server_s_own_is_a_json_error_the_page_can_show(client, monkeypatch):
    """Anything that failed beyond a bad request (here the model's answer) was Starlette's
    plain-text "Internal Server Error", which the page read as no answer at all."""
    from objrec import serve

    def fails(*args, **kwargs):
        raise RuntimeError("/home/someone/run: the model failed")

    monkeypatch.setattr(serve, "answer_json", fails)
    quiet = TestClient(client.app, raise_server_exceptions=False)
    response = quiet.post("/predict", files={"file": ("x.png", png_bytes(), "image/png")})
    assert response.status_code == 500
    assert response.json() == {"error": serve.SERVER_ERROR}  # no detail of the server's


BOUNDARY = "objrecboundary"


def multipart(data: bytes, name: str = "x.png") -> bytes:
    """A ``/predict`` body by hand: the field ``file`` holding ``data``."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: image/png\r\n\r\n"
    )
    return head.encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def too_large_said(error: str, logged: str, limit: str = "0.2 MB (200,000 bytes)") -> None:
    """The 413 tells the person who sent the file the limit in MB and whom to ask, not an option
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


def test_the_page_says_the_server_s_upload_limit_up_front(client):
    """A 30 MB microscope TIFF met the 10 MiB limit only in the 413, after its upload: the page
    now says the limit under its upload control, set in by the server, as the 413 says it."""
    page = client.get("/").text
    assert '<span id="limit">up to 0.2 MB per image</span>' in page
    assert 'data-max-upload-bytes="200000"' in page
    assert 'data-max-upload-text="0.2 MB (200,000 bytes)"' in page and "{{" not in page


@pytest.mark.parametrize(
    ("n_bytes", "words"),
    [
        (10 * 1024**2, "10.5 MB"),
        (200_000, "0.2 MB"),
        (10**7, "10 MB"),
        (1000 * 1024**2, "1,050 MB"),
    ],
)
def test_sizes_are_said_in_megabytes_to_three_figures_never_in_exponents(n_bytes, words):
    from objrec.serve import megabytes_text

    said = megabytes_text(n_bytes)  # --max-upload-mib 1000 said "1.05e+03 MB"
    assert said == f"{words} ({n_bytes:,} bytes)"


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

    from objrec import serve

    limit = serve.ANSWERING_AT_ONCE
    lock, release = threading.Lock(), threading.Event()
    inside, most, threads = [0], [0], set()
    real_open_image = serve.open_image

    def open_image(*args, **kwargs):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            threads.add(threading.get_ident())
        release.wait(60)
        with lock:
            inside[0] -= 1
        return real_open_image(*args, **kwargs)

    monkeypatch.setattr(serve, "open_image", open_image)

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


@pytest.fixture(scope="module")
def server(client):
    """``objrec serve --port 0``: the address is read from what it prints, then used at once."""
    process = subprocess.Popen(
        [sys.executable, "-m", "objrec", "serve", str(client.run), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        line = first_line_with(process, "serving")
        url = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert url and url.group(1) != "0", line  # the real port, not the one asked for
        # printed only once it really listens: the first request, made right away, is answered
        health = json.load(urllib.request.urlopen(url.group(0) + "health", timeout=60))
        assert health["status"] == "ok"
        yield url.group(0).rstrip("/")
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_server_stopped_by_sigterm_or_ctrl_c_shuts_down_cleanly_and_exits_0(client, signum):
    """SIGTERM (systemd, docker stop) printed 'aborted' and exited 143: uvicorn shuts down
    cleanly on it, as on Ctrl-C, then raises it again for its caller, which took it for one."""
    process = subprocess.Popen(
        [sys.executable, "-m", "objrec", "serve", str(client.run), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        first_line_with(process, "serving")
        process.send_signal(signum)
        out = process.stdout.read().decode()
        assert process.wait(timeout=20) == 0, out
        assert "aborted" not in out and "interrupted" not in out and "Traceback" not in out, out
    finally:
        process.kill()
        process.wait()


def test_serve_on_a_busy_port_is_one_sentence_and_no_address(client, capsys):
    from objrec.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["serve", str(client.run), "--port", str(port), "--runtime", "torch"])
    err = capsys.readouterr().err
    assert code == 1 and "serving" not in err and "http://" not in err
    assert (
        f"port {port} on 127.0.0.1 is already in use" in err and len(err.strip().splitlines()) == 1
    )
    assert "choose another with --port" in err


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


@pytest.mark.slow
def test_a_real_server_process_answers_over_http(server):
    info = json.load(urllib.request.urlopen(server + "/info", timeout=60))
    assert info["runtime"] == "onnx"
    boundary = "objrecboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="g.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + png_bytes(colour=(40, 180, 60))
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        server + "/predict",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    answer = json.load(urllib.request.urlopen(request, timeout=60))
    assert answer["topk"][0]["class"] == "green"


@pytest.mark.slow
def test_a_real_server_refuses_a_huge_upload_from_its_headers_alone(server):
    """A request that declares 1 GiB is answered 413 while not one byte of its body is sent."""
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as conn:
        conn.sendall(
            (
                f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Length: {1024**3}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
            ).encode()
        )
        answer = b""
        while not answer.endswith(b"}"):  # the JSON error is the last thing sent
            part = conn.recv(65536)
            if not part:
                break
            answer += part
    answer = answer.decode()
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "up to 10.5 MB (10,485,760 bytes)" in answer and "--max-upload-mib" not in answer


def chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def overlap(a: dict, b: dict) -> bool:
    """Whether two element boxes ({x, y, width, height}, CSS pixels) share any area."""
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def boxes(page, *selectors: str) -> dict:
    return {s: page.locator(s).bounding_box() for s in selectors}


def check_no_overlap(found: dict) -> None:
    shown = {s: b for s, b in found.items() if b and b["height"] > 0}
    names = sorted(shown)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not overlap(shown[a], shown[b]), (a, shown[a], b, shown[b])


def border_pixels(page) -> tuple:
    """Where the drop zone's dashed border is drawn in a screenshot: the bounding box of the
    pixels that change when it is made transparent."""
    from PIL import Image, ImageChops

    with_border = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    page.evaluate("document.getElementById('drop').style.borderColor = 'transparent'")
    without = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    page.evaluate("document.getElementById('drop').style.borderColor = ''")
    return ImageChops.difference(with_border, without).getbbox()


def broken_images(page) -> int:
    return page.evaluate(
        "Array.from(document.images)"
        ".filter(i => i.checkVisibility() && (!i.complete || i.naturalWidth === 0)).length"
    )


@pytest.mark.slow
@pytest.mark.skipif(
    not chromium_path(), reason="Debian's chromium is not installed (.ci/run installs it)"
)
def test_the_page_in_headless_chromium(server, tmp_path):
    """The page lists the classes; after a bad upload, the error is shown in its own box, outside
    the drop zone's border (found on a screenshot), and no broken image stays; then a good one."""
    playwright = pytest.importorskip("playwright.sync_api")
    image, bad = tmp_path / "blue.png", tmp_path / "notes.png"
    image.write_bytes(png_bytes(colour=(40, 60, 200)))
    bad.write_bytes(b"not an image at all")
    errors = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server + "/")
        page.wait_for_selector("#meta:has-text('3 classes')")
        listed = page.locator("#classes li").all_text_contents()
        page.set_input_files("#file", str(bad))
        page.wait_for_selector("#error:has-text('cannot read image')")
        page.wait_for_timeout(300)  # let the preview's own load or error event arrive
        after_bad = boxes(page, "#meta", "#classes", "#drop", "#error")
        drawn = border_pixels(page)
        broken = broken_images(page)
        page.screenshot(path=str(tmp_path / "page-error.png"))
        page.set_input_files("#file", str(image))
        page.wait_for_selector(".bar", timeout=15_000)
        page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
        names = page.locator(".bar .name").all_text_contents()
        after_good = boxes(page, "#meta", "#classes", "#drop", "#error", "#preview", "#bars")
        error_text = page.locator("#error").text_content()
        broken_after_good = broken_images(page)
        page.screenshot(path=str(tmp_path / "page.png"))
        browser.close()
    assert listed == ["blue", "green", "red"]
    check_no_overlap(after_bad)
    drop = after_bad["#drop"]
    assert drawn is not None, "the drop zone's border is not drawn"
    left, top, right, bottom = drawn  # the border lies within the drop zone's own box
    assert drop["x"] - 1 <= left and right <= drop["x"] + drop["width"] + 1
    assert drop["y"] - 1 <= top and bottom <= drop["y"] + drop["height"] + 1
    assert broken == 0 and broken_after_good == 0
    assert names[0] == "blue" and len(names) == 3 and error_text == ""
    check_no_overlap(after_good)
    assert after_good["#preview"]["y"] > drop["y"] + drop["height"]
    assert errors == [] or all("415" in e for e in errors), errors  # the refused upload's status
    assert (tmp_path / "page.png").stat().st_size > 5_000


@pytest.fixture
def browser_page(server):
    """A fresh headless Chromium page, not yet at the server (a test may route requests first)."""
    if not chromium_path():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser.new_page()
        browser.close()


@pytest.mark.slow
def test_the_page_sends_the_same_file_chosen_twice(browser_page, server, tmp_path):
    """Choosing the file just sent again fired no change event, so nothing was sent."""
    image = tmp_path / "blue.png"
    image.write_bytes(png_bytes(colour=(40, 60, 200)))
    sent = []
    browser_page.on("requestfinished", lambda r: r.url.endswith("/predict") and sent.append(r))
    browser_page.goto(server + "/")
    for times in (1, 2):
        browser_page.set_input_files("#file", str(image))
        for _ in range(200):  # 10 s at most
            if len(sent) == times:
                break
            browser_page.wait_for_timeout(50)
        assert len(sent) == times, f"the same file chosen {times} times was sent {len(sent)}"
    browser_page.wait_for_selector(".bar")
    assert browser_page.locator(".bar .name").first.text_content() == "blue"


@pytest.mark.slow
def test_a_slow_earlier_answer_does_not_replace_a_later_one(browser_page, server, tmp_path):
    """The answer for the red image is held back until the blue one's is shown: arriving last,
    it is the stale one, and the bars keep showing the blue image's classes."""
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    red.write_bytes(png_bytes(colour=(200, 40, 40)))
    blue.write_bytes(png_bytes(colour=(40, 60, 200)))
    held = []
    browser_page.route(
        "**/predict", lambda route: route.continue_() if held else held.append(route)
    )
    browser_page.goto(server + "/")
    browser_page.set_input_files("#file", str(red))
    for _ in range(200):  # the route handler runs while playwright waits
        if held:
            break
        browser_page.wait_for_timeout(50)
    assert held, "the red image's request was never made"
    browser_page.set_input_files("#file", str(blue))
    browser_page.wait_for_selector(".bar .name >> text=blue", timeout=10_000)
    predict = lambda request: request.url.endswith("/predict")  # noqa: E731
    with browser_page.expect_event("requestfinished", predicate=predict, timeout=10_000):
        held[0].continue_()
    browser_page.wait_for_timeout(300)  # time for the page to read and (not) show it
    assert browser_page.locator(".bar .name").first.text_content() == "blue"
    assert browser_page.locator("#error").text_content() == ""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ({"status": 500, "json": {"error": "the model is broken"}}, "the model is broken"),
        ({"status": 502, "body": "<html>Bad Gateway</html>"}, "error 502"),
        (None, "error (no answer)"),
    ],
    ids=["json-error", "html-error", "no-answer"],
)
def test_the_page_says_when_it_cannot_load_the_model_details(browser_page, server, answer, words):
    """A failed ``info`` request left the page saying 'loading…' for ever, with no error."""
    browser_page.route(
        "**/info", lambda route: route.fulfill(**answer) if answer else route.abort()
    )
    browser_page.goto(server + "/")
    error = browser_page.wait_for_selector("#error:not(:empty)", timeout=10_000)
    assert "cannot load the model's details" in error.text_content()
    assert words in error.text_content()
    assert "loading" not in browser_page.locator("#meta").text_content()


SWAGGER_STUB = (
    "window.SwaggerUIBundle = () => ({});"
    "SwaggerUIBundle.presets = { apis: {} }; SwaggerUIBundle.SwaggerUIStandalonePreset = {};"
)
"""Stands in for Swagger UI's script from its CDN, as a browser online would load it."""


@pytest.mark.slow
@pytest.mark.parametrize("online", [False, True], ids=["offline", "online"])
def test_docs_says_why_it_is_blank_offline_and_where_the_api_is(browser_page, server, online):
    """Offline, /docs was a blank page: Swagger UI's script and style come from a CDN. Its note,
    then shown, links /openapi.json; online, Swagger UI has the page to itself."""

    def cdn(route):
        if not online or not route.request.url.endswith(".js"):
            return route.abort("internetdisconnected")
        return route.fulfill(body=SWAGGER_STUB, content_type="text/javascript")

    browser_page.route(lambda url: not url.startswith(server), cdn)
    browser_page.goto(server + "/docs")
    browser_page.wait_for_load_state("load")
    note = browser_page.locator("#offline")
    if online:
        assert not note.is_visible()
        return
    assert note.is_visible() and "could not reach it" in note.text_content()
    link = browser_page.locator("#offline a").evaluate("a => a.href")
    assert link == server + "/openapi.json"
    assert "/predict" in json.load(urllib.request.urlopen(link, timeout=60))["paths"]


def answer_with_page(page, server: str, answer: dict, image) -> None:
    """Open the page at ``server``, send ``image``, and let ``/predict`` answer ``answer``."""
    page.route("**/predict", lambda route: route.fulfill(json=answer))
    page.goto(server + "/")
    page.wait_for_selector("#meta:has-text('3 classes')")
    page.set_input_files("#file", str(image))
    page.wait_for_selector(".bar", timeout=10_000)


@pytest.mark.slow
def test_the_page_says_plainly_when_an_answer_is_barely_familiar(
    browser_page, server, client, tmp_path
):
    """``predict`` marks an answer near the unknown line "barely familiar"; the page showed such
    an answer as though it were sure. It now says so in words, above the bars, and only then."""
    image = tmp_path / "blue.png"
    image.write_bytes(png_bytes(colour=(40, 60, 200)))
    near = barely_familiar_answer(client)
    answer_with_page(browser_page, server, near, image)
    note = browser_page.locator("#barely")
    assert note.is_visible() and browser_page.locator("#unknown").count() == 0
    words = note.text_content()
    assert words.startswith("Not sure: this image looks only a little like the photos the model")
    assert "barely familiar" in words and "percentage" in words
    assert browser_page.locator(".bar .name").first.text_content() == "blue"
    for sure in ({**near, "barely_familiar": False}, {**near, "barely_familiar": None}):
        browser_page.unroute("**/predict")
        answer_with_page(browser_page, server, sure, image)
        assert browser_page.locator("#barely").count() == 0, sure


@pytest.mark.slow
def test_the_page_refuses_a_file_over_the_limit_before_sending_it(browser_page, server, tmp_path):
    """A file over the limit (11 MB against serve's default 10 MiB) is refused by the page,
    which sent it and then showed the 413: now it is never sent, and the page says the limit
    in the 413's words, and the option that takes this file; a file within it is still sent."""
    big, small = tmp_path / "slide.tif", tmp_path / "blue.png"
    with big.open("wb") as f:
        f.truncate(11_000_000)
    small.write_bytes(png_bytes(colour=(40, 60, 200)))
    sent = []
    browser_page.on("request", lambda r: r.url.endswith("/predict") and sent.append(r))
    browser_page.goto(server + "/")
    limit = browser_page.locator("#limit")
    assert limit.is_visible() and limit.text_content() == "up to 10.5 MB per image"
    browser_page.set_input_files("#file", str(big))
    error = browser_page.wait_for_selector("#error:not(:empty)", timeout=10_000).text_content()
    assert error.startswith("slide.tif is too large (11 MB): this server takes uploads of up to ")
    assert "up to 10.5 MB (10,485,760 bytes); send a smaller image, or ask whoever" in error
    assert error.endswith("(objrec serve --max-upload-mib 11 takes this one)"), error
    browser_page.set_input_files("#file", str(small))
    browser_page.wait_for_selector(".bar .name >> text=blue", timeout=10_000)
    assert len(sent) == 1, sent  # the small one's: the big one was never sent
    assert browser_page.locator("#error").text_content() == ""


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("0", "must be a positive size in MiB, not 0.0"),
        ("-1", "must be a positive size in MiB, not -1.0"),
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


def test_serve_passes_its_upload_limit_on_and_keeps_10_mib_by_default(tmp_path, monkeypatch):
    from objrec import cli, serve
    from objrec.cli.delivery import SERVE_MAX_UPLOAD_MIB

    asked = []
    monkeypatch.setattr(serve, "serve", lambda *args, **kwargs: asked.append(kwargs))
    assert cli.main(["serve", str(tmp_path), "--max-upload-mib", "0.5"]) == 0
    assert cli.main(["serve", str(tmp_path)]) == 0
    assert [a["max_upload_bytes"] for a in asked] == [512 * 1024, serve.MAX_UPLOAD_BYTES]
    assert serve.MAX_UPLOAD_BYTES == SERVE_MAX_UPLOAD_MIB * 1024 * 1024 == 10 * 1024 * 1024


def test_each_worker_of_several_takes_the_upload_limit(client, monkeypatch):
    """With --workers 2 each worker builds its app from the environment (app_from_env)."""
    from objrec.serve import app_from_env, worker_environment

    for name, value in worker_environment(client.run, "torch", "cpu", None, True, 1000).items():
        monkeypatch.setenv(name, value)
    with TestClient(app_from_env()) as worker:
        answer = worker.post("/predict", files={"file": ("x.png", png_bytes(), "image/png")})
    assert answer.status_code == 413 and "(1,000 bytes)" in answer.json()["error"]


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
    from objrec import serve
    from objrec.cli import main

    started = []
    monkeypatch.setattr(serve, "run_until_stopped", lambda *args: started.append(args))
    code = main(["serve", str(client.run), "--workers", "2", "--port", "0", *flags])
    err = capsys.readouterr().err.strip()
    assert code == 1 and started == [] and len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and words in err, err


def test_serve_with_several_workers_starts_them_when_the_settings_are_good(client, monkeypatch):
    from objrec import serve

    started = []
    monkeypatch.setattr(serve, "run_until_stopped", lambda config, sock: started.append(config))
    serve.serve(client.run, port=0, workers=2, runtime="torch", device="cpu")
    assert [(c.workers, c.factory) for c in started] == [(2, True)]


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [float("inf"), float("-inf")])
def test_an_infinite_threshold_is_refused_as_info_cannot_say_it(trained_once, threshold):
    """/info gives the threshold in JSON, which has no infinity: FastAPI wrote null, which says
    the app answers nothing unknown, while a threshold of inf answered every image unknown."""
    from objrec.errors import ObjrecError

    with pytest.raises(ObjrecError, match=r"`threshold` must be a finite number, not -?inf"):
        create_app(trained_once, runtime="torch", threshold=threshold)


def up_at(port: int):
    """A stand-in for ``serve.serve`` that only says it answers, on ``port``."""
    from objrec.serve import url_of

    def serve(run, host, port_asked, *args, on_ready, **kwargs):
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
    from objrec import cli, serve

    found = {False: ["192.168.1.23"], True: ["192.168.1.23", "fd12::5"]}
    monkeypatch.setattr(serve, "network_addresses", lambda ipv6=False: found[ipv6])
    monkeypatch.setattr(serve, "serve", up_at(8123))
    assert cli.main(["serve", str(tmp_path), "--host", host]) == 0
    err = capsys.readouterr().err
    assert "0.0.0.0" not in err and "[::]" not in err, err
    assert "http://localhost:8123/ on this machine" in err
    for url in others:
        assert f"{url} from a phone or another computer on the same network" in err, err
    assert cli.main(["serve", str(tmp_path)]) == 0  # one address: as before
    assert "on http://127.0.0.1:8123/ (Ctrl-C stops)" in capsys.readouterr().err


def test_serve_on_every_address_says_when_it_finds_no_network_address(
    tmp_path, capsys, monkeypatch
):
    from objrec import cli, serve

    monkeypatch.setattr(serve, "network_addresses", lambda ipv6=False: [])
    monkeypatch.setattr(serve, "serve", up_at(80))
    assert cli.main(["serve", str(tmp_path), "--host", "0.0.0.0"]) == 0
    err = capsys.readouterr().err
    assert "http://localhost:80/ on this machine" in err and "no network address found" in err


def test_network_addresses_are_found_without_the_network_and_only_ones_others_can_open(
    monkeypatch,
):
    """The route's address first, then the host name's; no loopback (Debian's /etc/hosts gives
    the host name 127.0.1.1), link-local or repeated one."""
    from objrec import serve

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
    monkeypatch.setattr(serve, "routed_address", lambda family: routes[family])
    assert serve.network_addresses() == ["192.168.1.23", "10.0.0.7"]
    assert serve.network_addresses(ipv6=True) == ["192.168.1.23", "10.0.0.7", "fd12::5"]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a: (_ for _ in ()).throw(socket.gaierror))
    assert serve.network_addresses() == ["192.168.1.23"]


def test_the_routed_address_is_asked_of_a_udp_socket_that_sends_nothing(monkeypatch):
    """A UDP socket's connect to a private address only picks the route: nothing is sent."""
    from objrec import serve

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
    assert serve.routed_address(socket.AF_INET) == ["192.168.1.23"]
    assert calls == [
        ("socket", socket.AF_INET, socket.SOCK_DGRAM),
        ("connect", ("10.254.254.254", 9)),
        ("close",),
    ]

    def unreachable(self, address):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(Probe, "connect", unreachable)
    assert serve.routed_address(socket.AF_INET6) == []


def test_a_server_bound_to_every_ipv6_address_takes_ipv4_too():
    """The IPv4 addresses printed for `--host ::` open it, whatever the system's default."""
    from objrec.errors import ObjrecError
    from objrec.serve import bind_socket

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
