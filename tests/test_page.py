"""The page and the API of a real ``objrec serve`` process, the page in a real headless Chromium.

Two server processes (one with a lower pixel limit), one browser and one with a fake camera
serve the whole module (each takes seconds to start), which xdist runs on one worker
(``xdist_groups``); each test opens its own page, in a browser context of its own (no cookie,
cache or route shared).
"""

import io
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from .test_serve import BOUNDARY, barely_familiar_answer, first_line_with, png_bytes


@pytest.fixture(scope="module")
def server(client):
    """``objrec serve --port 0``: the address is read from what it prints, then used at once."""
    yield from serving(client.run)


@pytest.fixture(scope="module")
def few_pixels_server(client):
    """``objrec serve --max-pixels 1000000``: a server that takes images of a megapixel at most."""
    yield from serving(client.run, "--max-pixels", "1000000")


def serving(run, *options: str):
    """The address of ``objrec serve RUN --port 0 OPTIONS`` once it answers, until closed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "objrec", "serve", str(run), "--port", "0", *options],
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
def test_a_real_server_process_answers_over_http(server):
    info = json.load(urllib.request.urlopen(server + "/info", timeout=60))
    assert (
        info["runtime"] == "onnx" and info["runs"] == "the whole model in ONNX Runtime, on the CPU"
    )
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
    assert "up to 10 MiB (10,485,760 bytes)" in answer and "--max-upload-mib" not in answer


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
def test_the_page_in_headless_chromium(browser, server, tmp_path):
    """The page lists the classes; after a bad upload, the error is shown in its own box, outside
    the drop zone's border (found on a screenshot), and no broken image stays; then a good one."""
    image, bad = tmp_path / "blue.png", tmp_path / "notes.png"
    image.write_bytes(png_bytes(colour=(40, 60, 200)))
    bad.write_bytes(b"not an image at all")
    errors = []
    page = browser.new_page(viewport={"width": 900, "height": 700})
    try:
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
        page.wait_for_selector(".bar", timeout=WAIT_MS)
        wait_until(page, "document.getElementById('preview').naturalWidth > 0")
        names = page.locator(".bar .name").all_text_contents()
        after_good = boxes(page, "#meta", "#classes", "#drop", "#error", "#preview", "#bars")
        error_text = page.locator("#error").text_content()
        broken_after_good = broken_images(page)
        page.screenshot(path=str(tmp_path / "page.png"))
    finally:
        page.close()
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


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, launched once for the module. While Playwright's synchronous API runs,
    this thread's asyncio loop counts as running (no ``asyncio.run`` in this module's tests)."""
    if not chromium_path():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@pytest.fixture
def browser_page(browser, server):
    """A fresh page in a context of its own, not yet at the server (a test may route requests
    first); closed with its context after the test."""
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    page.close()


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


WAIT_MS = 120_000
"""How long a wait for the page may take before the test fails: long, as a wait ends when its
event comes (a loaded machine, 15 processes on 2 cores, took over 5 s to open a file chooser);
only something really wrong reaches it."""

COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}


def dropped(page, paths: list) -> None:
    """Drops ``paths`` on the drop zone together, as from a file manager."""
    files = [{"name": p.name, "bytes": list(p.read_bytes())} for p in paths]
    transfer = page.evaluate_handle(
        """files => { const t = new DataTransfer(); for (const f of files) t.items.add(
        new File([new Uint8Array(f.bytes)], f.name, { type: "image/png" })); return t; }""",
        files,
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def tried_rows(page, count: int) -> list:
    """The (file, answer) of each row of the list of photos answered, once it has ``count``."""
    page.wait_for_selector(f"#tried li:nth-child({count})", timeout=WAIT_MS)
    files = page.locator("#tried .file").all_text_contents()
    return list(zip(files, page.locator("#tried .answer").all_text_contents(), strict=True))


@pytest.mark.slow
def test_several_photos_at_once_are_each_answered_and_listed(
    browser_page, server, tmp_path, trained_once
):
    """A Create ML user drops a handful of a class's photos to see which it gets wrong: the page
    answered the first alone and said nothing of the others, and its file chooser took one photo
    (teachable42). Each is answered, a row each with its file name and top class under a count
    of each answer; a row shows its photo's answer above again; one photo alone gets no list.
    The photos are the run's own (a new noisy blue one was "unknown" to the run trained on
    another split of the same images: 6 photos a class)."""
    paths = []
    for name in COLOURS:
        photo = sorted((trained_once.parent / "data" / "train" / name).iterdir())[0]
        paths.append(tmp_path / f"{name}.png")
        Image.open(photo).convert("RGB").save(paths[-1])
    browser_page.goto(server + "/")
    browser_page.wait_for_selector("#meta:has-text('3 classes')")
    browser_page.set_input_files("#file", [str(p) for p in paths])
    chosen = tried_rows(browser_page, 3)
    heading = browser_page.locator("#tried h2").text_content()
    dropped(browser_page, paths[1:])
    wait_until(browser_page, "document.querySelectorAll('#tried li').length === 2")
    dropped_rows = tried_rows(browser_page, 2)
    browser_page.locator("#tried button").first.click()  # green's row: its answer above again
    browser_page.wait_for_selector("#preview[alt$='green.png']")
    top_after_click = browser_page.locator(".bar .name").first.text_content()
    browser_page.set_input_files("#file", str(paths[0]))
    wait_until(browser_page, "document.getElementById('tried').hidden")
    assert [file for file, _ in chosen] == ["red.png", "green.png", "blue.png"]
    assert all(file.split(".")[0] in answer for file, answer in chosen), chosen
    assert heading == "3 of 3 photos answered: red 1, green 1, blue 1"
    assert [file for file, _ in dropped_rows] == ["green.png", "blue.png"]
    assert top_after_click == "green"


@pytest.mark.slow
def test_photos_refused_among_several_are_counted_apart_from_those_answered(
    browser_page, server, tmp_path, trained_once
):
    """Five files chosen at once, three of them no image, read "5 of 5 photos answered: refused
    3, ant 1, anchor 1" (review53b L4): a refused file was counted among those answered. The
    heading counts those answered, then those refused, then each answer."""
    paths = []
    for name in ("red", "green"):
        photo = sorted((trained_once.parent / "data" / "train" / name).iterdir())[0]
        paths.append(tmp_path / f"{name}.png")
        Image.open(photo).convert("RGB").save(paths[-1])
    paths.insert(1, tmp_path / "notes.png")
    paths[1].write_bytes(b"not an image at all")
    browser_page.goto(server + "/")
    browser_page.wait_for_selector("#meta:has-text('3 classes')")
    browser_page.set_input_files("#file", [str(p) for p in paths])
    rows = tried_rows(browser_page, 3)
    heading = browser_page.locator("#tried h2").text_content()
    assert "cannot read image" in rows[1][1], rows
    assert heading == "2 of 3 photos answered, 1 refused: red 1, green 1"


@pytest.mark.slow
def test_a_file_refused_among_several_is_said_once_in_its_row_without_its_name(
    browser_page, server, tmp_path, trained_once
):
    """review55b L7: a refused file's sentence was both the red box under the drop zone and its
    row (big.bin's 40 words in both places), and the row's began with the file name the row
    shows ("notes.png: cannot read image ..."). It is said once, in its row, without the name."""
    photo = sorted((trained_once.parent / "data" / "train" / "red").iterdir())[0]
    paths = [tmp_path / "red.png", tmp_path / "big.bin", tmp_path / "notes.png"]
    Image.open(photo).convert("RGB").save(paths[0])
    with paths[1].open("wb") as f:
        f.truncate(11_000_000)  # over serve's 10 MiB: refused by the page, never sent
    paths[2].write_bytes(b"not an image at all")
    browser_page.goto(server + "/")
    browser_page.wait_for_selector("#meta:has-text('3 classes')")
    browser_page.set_input_files("#file", [str(p) for p in paths])
    rows = tried_rows(browser_page, 3)
    assert rows[1][1].startswith("is too large (10.5 MiB): this server takes uploads"), rows
    assert rows[2][1] == "cannot read image (not a recognised image format)", rows
    assert browser_page.locator("#error").text_content() == ""


FAKE_CAMERA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
"""Chromium's fake camera (a moving test pattern), lent without asking."""


@pytest.fixture(scope="module")
def camera_browser(browser):
    """A Chromium of its own with the fake camera (:data:`FAKE_CAMERA`), launched once for the
    module's camera tests (the module's Playwright: one per thread)."""
    with_camera = browser.browser_type.launch(
        executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu", *FAKE_CAMERA]
    )
    yield with_camera
    with_camera.close()


@contextmanager
def camera_page(camera_browser, server: str, script: str = "") -> Iterator:
    """The served page in the camera's Chromium, in a context of its own, ``script`` run before
    the page's own."""
    page = camera_browser.new_page()
    try:
        if script:
            page.add_init_script(script)
        page.goto(server + "/")
        yield page
    finally:
        page.close()


@pytest.mark.slow
def test_a_photo_taken_with_the_computer_s_camera_is_answered(camera_browser, server):
    """Teachable Machine's preview answers the webcam; the page took files alone (teachable42).
    "Use the camera" shows it (Chromium's fake camera here), "Take a photo" sends a frame, which is
    answered as a photo chosen alone; "Stop the camera" stops it."""
    with camera_page(camera_browser, server) as page:
        page.click("#camera-start")
        wait_until(page, "document.getElementById('camera-view').videoWidth > 0", 15)
        page.click("#camera-shoot")
        page.wait_for_selector(".bar", timeout=WAIT_MS)
        sent = page.locator("#preview").get_attribute("alt")
        page.click("#camera-start")
        stopped = page.evaluate("document.getElementById('camera-view').srcObject === null")
        hidden = page.locator("#camera-shoot").is_hidden()
    assert sent == "the image sent: camera.jpg"
    assert stopped and hidden


@pytest.mark.slow
def test_a_camera_whose_video_will_not_play_is_turned_off_again(camera_browser, server):
    """The camera granted but its video refusing to play (a browser's autoplay policy, a device
    taken away meanwhile): the page said so and dropped the stream without stopping it, the
    camera left on (its light too) until the tab closed."""
    script = (
        "HTMLMediaElement.prototype.play = () => Promise.reject(new Error('no autoplay'));"
        "const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);"
        "navigator.mediaDevices.getUserMedia = async c => (window.opened = await open(c));"
    )
    with camera_page(camera_browser, server, script) as page:
        page.click("#camera-start")
        wait_until(page, "document.getElementById('error').textContent.includes('camera')", 15)
        live = page.evaluate("window.opened.getTracks().map(t => t.readyState)")
    assert live == ["ended"]


@pytest.mark.slow
def test_a_double_click_on_the_camera_button_opens_one_camera(camera_browser, server):
    """A double click on "Use the camera" asked for the camera twice while the first request was
    pending: two streams, the first shown for a moment and never stopped, so "Stop the camera"
    left the camera on (its light too) until the tab closed. One stream, stopped by one click."""
    script = (
        "window.opened = []; window.asked = 0;"
        "const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);"
        "navigator.mediaDevices.getUserMedia = c => {"
        "  window.asked += 1; const asked = open(c);"
        "  asked.then(s => window.opened.push(s)); return asked; };"
    )
    with camera_page(camera_browser, server, script) as page:
        page.dblclick("#camera-start")
        wait_until(page, "document.getElementById('camera-view').videoWidth > 0", 15)
        wait_until(page, "!document.getElementById('camera-start').disabled", 15)
        asked = page.evaluate("window.asked")
        page.click("#camera-start")
        wait_until(page, f"window.opened.length === {asked}", 15)
        live = page.evaluate("window.opened.flatMap(s => s.getTracks()).map(t => t.readyState)")
    assert asked == 1 and live == ["ended"]


def retrained(route) -> None:
    """/info as after a retrain that added a class: another model, four classes."""
    response = route.fetch()
    info = response.json()
    info["classes"] = [*info["classes"], "yellow"]
    route.fulfill(response=response, json=info, headers={"X-Objrec-Model": "retrained"})


@pytest.mark.slow
def test_back_on_the_page_after_a_retrain_it_shows_the_new_model_s_classes(browser_page, server):
    """A Teachable Machine user adds a class, retrains into the served run, and goes back to the
    open page: it still said "Knows 3 classes" until a photo was answered by the new model
    (teachable42). Shown again on the page, it reads the model's details again once they are
    another model's."""
    browser_page.goto(server + "/")
    browser_page.wait_for_selector("#meta:has-text('Knows 3 classes')")
    browser_page.evaluate("dispatchEvent(new Event('focus'))")  # the same model: as it was
    browser_page.wait_for_timeout(300)
    same = browser_page.locator("#meta").text_content()
    browser_page.route("**/info", retrained)
    browser_page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    wait_until(browser_page, "document.getElementById('meta').textContent.includes('4 classes')", 5)
    assert same.startswith("Knows 3 classes")
    assert browser_page.locator("#classes li").all_text_contents()[-1] == "yellow"


@pytest.mark.slow
def test_a_handler_put_into_the_page_as_html_does_not_run(browser_page, server):
    """The page puts every name in as text; should one ever go in as HTML (a class named
    ``<img src=x onerror=...>``), its handler ran: the page's policy lets its own script alone
    run (security40 #2)."""
    browser_page.goto(server + "/")
    browser_page.wait_for_selector("#meta:has-text('3 classes')")
    browser_page.evaluate(
        """document.getElementById("bars").innerHTML = '<img src="x" onerror="window.ran = 1">'"""
    )
    browser_page.wait_for_timeout(300)  # the image's error event, and its handler's turn
    assert browser_page.evaluate("window.ran") is None


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
    browser_page.wait_for_selector(".bar .name >> text=blue", timeout=WAIT_MS)
    predict = lambda request: request.url.endswith("/predict")  # noqa: E731
    with browser_page.expect_event("requestfinished", predicate=predict, timeout=WAIT_MS):
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
    error = browser_page.wait_for_selector("#error:not(:empty)", timeout=WAIT_MS)
    assert "cannot load the model's details" in error.text_content()
    assert words in error.text_content()
    assert "loading" not in browser_page.locator("#meta").text_content()


def behind_a_prefix(page, server: str, prefix: str) -> list[str]:
    """The browser ``page`` offline, reaching the server alone, at ``server + prefix`` (a reverse
    proxy's path prefix, stripped as nginx's ``location /objrec/ { proxy_pass ...:8000/; }``
    strips it); every other request is refused and returned in the list."""
    elsewhere = []

    def route(route):
        url = route.request.url
        if not url.startswith(server + prefix + "/"):
            elsewhere.append(url)
            return route.abort("internetdisconnected")
        return route.continue_(url=server + url[len(server + prefix) :])  # keeps the upload

    page.route(lambda url: not url.startswith("data:"), route)
    return elsewhere


@pytest.mark.slow
@pytest.mark.parametrize("prefix", ["", "/objrec"], ids=["direct", "behind-a-prefix"])
def test_docs_and_the_page_work_offline_and_behind_a_proxy_s_prefix(
    browser_page, server, prefix, tmp_path
):
    """/docs was Swagger UI from a CDN: offline, a note and no API; behind a proxy's prefix its
    schema was asked at the server's root. It is the API written out, with nothing loaded from
    elsewhere and every link relative, as the page's requests are: both work offline and under
    /objrec/, with no error in the console (a CSP violation is one)."""
    errors = []
    browser_page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    elsewhere = behind_a_prefix(browser_page, server, prefix)
    base = server + prefix + "/"
    browser_page.goto(base + "docs")
    headings = browser_page.locator("h2").all_text_contents()
    assert headings == ["GET /", "GET /health", "GET /info", "POST /predict"]
    browser_page.click("text=openapi.json")
    assert browser_page.url == base + "openapi.json"
    assert "/predict" in json.loads(browser_page.locator("body").text_content())["paths"]
    image = tmp_path / "red.png"
    image.write_bytes(png_bytes())
    browser_page.goto(base)
    browser_page.set_input_files("#file", str(image))
    browser_page.wait_for_selector(".bar", timeout=WAIT_MS)
    assert browser_page.locator(".bar .name").first.text_content() == "red"
    assert elsewhere == [] and errors == [], (elsewhere, errors)


@pytest.mark.slow
def test_the_page_s_header_says_what_the_model_knows_in_plain_words(browser_page, server):
    """The header read "3 classes · backbone efficientnet_lite0 · objrec 0.1.0": jargon to the
    students a teacher shows the page to. It says what the model knows and how often it is
    right; the network's name stays, in a small line at the page's foot (and in /info)."""
    info = json.load(urllib.request.urlopen(server + "/info", timeout=60))
    browser_page.goto(server + "/")
    browser_page.wait_for_selector("#technical:has-text('tiny_test')")
    right = f"{100 * info['valid_accuracy']:.1f}%"
    assert browser_page.locator("#meta").text_content() == (
        f"Knows 3 classes · right on {right} of the photos it was checked on as it learned "
        "(its validation accuracy)"
    )  # the validation photos, which chose its epoch: not "set aside", which the README says of
    # the test photos that score a model on photos it never saw; named,
    # as a bare figure was taken for evaluate's test score
    technical = browser_page.locator("#technical").text_content()
    assert technical == f"technical details: network tiny_test · objrec {info['version']}"
    browser_page.route(  # newcomer60: the test top-1 where evaluate measured it
        "**/info", lambda route: route.fulfill(json={**info, "test_top1": 0.9139})
    )
    browser_page.goto(server + "/")
    browser_page.wait_for_selector("#technical:has-text('tiny_test')")
    assert browser_page.locator("#meta").text_content() == (
        "Knows 3 classes · right on 91.4% of the test photos it never learned from (evaluate's "
        "test top-1)"
    )
    browser_page.unroute("**/info")
    browser_page.route(
        "**/info", lambda route: route.fulfill(json={**info, "valid_accuracy": None})
    )
    browser_page.goto(server + "/")
    browser_page.wait_for_selector("#technical:has-text('tiny_test')")
    assert browser_page.locator("#meta").text_content() == "Knows 3 classes"


def answer_with_page(page, server: str, answer: dict, image) -> None:
    """Open the page at ``server``, send ``image``, and let ``/predict`` answer ``answer``."""
    page.route("**/predict", lambda route: route.fulfill(json=answer))
    page.goto(server + "/")
    page.wait_for_selector("#meta:has-text('3 classes')")
    page.set_input_files("#file", str(image))
    page.wait_for_selector(".bar", timeout=WAIT_MS)


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
    assert (
        browser_page.locator("#score")
        .text_content()
        .startswith(f"familiarity {near['score']:.2f} (")
    )
    browser_page.unroute("**/predict")  # 0.0004 read "familiarity 0.00 (...; below 0: ...)"
    # the line the answer was judged by is the answer's own (77144f7), here the page's server's 0
    answer_with_page(
        browser_page, server, {**near, "score": 0.0004, "unknown_threshold": 0.0}, image
    )
    words = browser_page.locator("#score").text_content()
    assert words.startswith("familiarity 0.0004 (1: like") and "below 0.0000: like none" in words
    for sure in ({**near, "barely_familiar": False}, {**near, "barely_familiar": None}):
        browser_page.unroute("**/predict")
        answer_with_page(browser_page, server, sure, image)
        assert browser_page.locator("#barely").count() == 0, sure


@pytest.mark.slow
def test_the_page_says_why_an_unknown_answer_has_high_percentages(
    browser_page, server, client, tmp_path
):
    """An unknown answer's note read "This image looks like none of the classes the model knows.
    Its closest classes, for what they are worth:" above crab 98.96%, a contradiction with
    nothing saying why (newcomer55's 8, as predict's line). It says the image is unlike the
    photos the model learned from, and that the percentages are the classes' were it one."""
    image = tmp_path / "blue.png"
    image.write_bytes(png_bytes(colour=(40, 60, 200)))
    near = barely_familiar_answer(client)
    unknown = {**near, "answer": "unknown", "unknown": True, "barely_familiar": False}
    answer_with_page(browser_page, server, {**unknown, "score": -0.2}, image)
    note = browser_page.locator("#unknown")
    assert note.is_visible() and browser_page.locator("#barely").count() == 0
    words = note.text_content()
    assert words.startswith("Unknown: this image is unlike the photos the model learned from.")
    assert "If it is one of its classes" in words and "share 100% among the classes" in words


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
    assert limit.is_visible() and limit.text_content() == (
        "up to 10 MiB per image; a larger photo is sent as a smaller copy"
    )
    browser_page.set_input_files("#file", str(big))
    error = browser_page.wait_for_selector("#error:not(:empty)", timeout=WAIT_MS).text_content()
    assert error.startswith("slide.tif is too large (10.5 MiB): this server takes uploads of up")
    assert "up to 10 MiB (10,485,760 bytes); send a smaller image, or ask whoever" in error
    assert error.endswith("(objrec serve --max-upload-mib 11 takes this one)"), error
    browser_page.set_input_files("#file", str(small))
    browser_page.wait_for_selector(".bar .name >> text=blue", timeout=WAIT_MS)
    assert len(sent) == 1, sent  # the small one's: the big one was never sent
    assert browser_page.locator("#error").text_content() == ""


@pytest.mark.slow
def test_the_page_suggests_no_higher_limit_for_a_large_file_that_is_no_image(
    browser_page, server, tmp_path
):
    """review53b L4: 11.4 MiB of random bytes was refused by the page as too large, suggesting
    `objrec serve --max-upload-mib 12 takes this one`; a higher limit would only have met "not a
    recognised image format". A file named as no image objrec reads, which the browser cannot
    draw either, is refused without that suggestion."""
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(range(256)) * 45_000)
    browser_page.goto(server + "/")
    browser_page.set_input_files("#file", str(noise))
    error = browser_page.wait_for_selector("#error:not(:empty)", timeout=WAIT_MS).text_content()
    assert error.startswith("noise.bin is too large (11 MiB): this server takes uploads of up")
    assert error.endswith(
        "; it is not named as an image objrec reads, nor one this browser can show: send an image"
    ), error  # not "; and it is not named": the size and the name are two reasons
    assert "--max-upload-mib" not in error


def sideways_phone_photo(path) -> None:
    """A JPEG over serve's default 10 MiB (12.6 MiB: blue, noisy, at quality 100), stored 2400x2000
    and tagged to be turned a quarter clockwise (EXIF orientation 6), as a phone stores a photo
    taken upright; its stored left edge, white, is the top of the photo as it is seen."""
    import numpy as np
    from PIL import Image

    noise = np.random.default_rng(0).integers(-40, 41, (2000, 2400, 3), dtype=np.int16)
    pixels = (np.array((40, 60, 200), np.int16) + noise).clip(0, 255).astype(np.uint8)
    pixels[:, :200] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(path, "JPEG", quality=100, subsampling=0, exif=exif)


def sent_file(body: bytes) -> tuple[bytes, bytes]:
    """The headers and bytes of the file in the body of a /predict request the page made (its
    form: the file first). Playwright gives the body to a route, not to a request event, and
    without the bytes of a file read from disk (only those of one made in the page)."""
    boundary = body.split(b"\r\n", 1)[0]
    headers, data = body.split(boundary)[1].split(b"\r\n\r\n", 1)
    return headers, data.removesuffix(b"\r\n")


def sending(route, sent: list) -> None:
    sent.append(route.request.post_data_buffer)
    route.continue_()


@pytest.mark.slow
def test_a_photo_over_the_limit_is_sent_as_a_smaller_upright_copy(browser_page, server, tmp_path):
    """A 50-megapixel phone's photo (18 MiB) was refused by the page, and the person holding the
    phone cannot raise the server's limit. A photo over the limit is now sent as a
    copy of 2048 pixels on its long side, upright, within the limit, and the page says so in one
    line; a file within the limit is still sent as it is, byte for byte."""
    from PIL import Image

    big, small = tmp_path / "phone.jpg", tmp_path / "blue.png"
    sideways_phone_photo(big)
    small.write_bytes(png_bytes(colour=(40, 60, 200)))
    sent = []
    browser_page.route("**/predict", lambda route: sending(route, sent))
    browser_page.goto(server + "/")
    browser_page.set_input_files("#file", str(big))
    browser_page.wait_for_selector(".bar .name >> text=blue", timeout=WAIT_MS)
    said = browser_page.locator("#copied").text_content()
    headers, copy_bytes = sent_file(sent[0])
    copy = Image.open(io.BytesIO(copy_bytes))
    assert big.stat().st_size > 10 * 1024**2 >= len(copy_bytes)
    assert copy.format == "JPEG" and copy.size == (1707, 2048)  # turned upright, then shrunk
    assert (
        copy.getexif().get(0x0112, 1) == 1
        and min(copy.crop((0, 0, 1707, 150)).getextrema())[0] > 200
    )
    assert b'filename="phone.jpg"' in headers and b"Content-Type: image/jpeg" in headers
    assert said.startswith("A smaller copy was sent (1707x2048 pixels, ")
    assert said.endswith("): phone.jpg is 12.6 MiB, over this server's limit of 10 MiB."), said
    assert browser_page.locator("#error").text_content() == ""
    browser_page.set_input_files("#file", str(small))
    wait_until(browser_page, "document.getElementById('copied').hidden")
    browser_page.wait_for_selector(".bar", timeout=WAIT_MS)
    assert len(sent) == 2 and b"Content-Type: image/png" in sent_file(sent[1])[0]  # itself


RECORD_BITMAPS = """
const decode = window.createImageBitmap;
window.decoded = [];
window.createImageBitmap = (source, options) => {
  window.decoded.push(options || {});
  if (REFUSE && options && "resizeWidth" in options) return Promise.reject(new Error("no resize"));
  return decode(source, options);
};
"""


@pytest.mark.slow
@pytest.mark.parametrize("resizes", [True, False])
def test_a_photo_over_the_limit_is_decoded_at_its_copy_s_size_where_the_browser_can(
    browser, server, tmp_path, resizes
):
    """The page decoded a 50-megapixel photo whole before shrinking it. Now createImageBitmap is
    asked for the copy's size, upright; a browser that refuses it decodes the photo whole."""
    from PIL import Image

    big = tmp_path / "phone.jpg"
    sideways_phone_photo(big)
    page = browser.new_page()
    page.add_init_script(RECORD_BITMAPS.replace("REFUSE", "false" if resizes else "true"))
    sent = []
    page.route("**/predict", lambda route: sending(route, sent))
    page.goto(server + "/")
    page.set_input_files("#file", str(big))
    page.wait_for_selector(".bar .name >> text=blue", timeout=WAIT_MS)
    decoded = page.evaluate("window.decoded")
    page.close()
    first = {"imageOrientation": "from-image", "resizeWidth": 1707, "resizeHeight": 2048}
    assert decoded[0] == first | {"resizeQuality": "high"}, decoded
    assert len(decoded) == (1 if resizes else 2)  # the fallback: decoded whole
    assert Image.open(io.BytesIO(sent_file(sent[0])[1])).size == (1707, 2048)


@pytest.mark.slow
def test_the_page_s_copy_is_within_the_server_s_pixels_too(
    browser_page, few_pixels_server, tmp_path
):
    """serve --max-pixels 1000000 refused the page's 2048-pixel copy of a photo over the bytes,
    and a small PNG of 2000x1500 (over the pixels, within the bytes) met the 413. Now either is
    sent as a copy within the megapixel, and the page says why in one line."""
    from PIL import Image

    big, flat = tmp_path / "phone.jpg", tmp_path / "flat.png"
    sideways_phone_photo(big)
    Image.new("RGB", (2000, 1500), (40, 60, 200)).save(flat)
    sent = []
    browser_page.route("**/predict", lambda route: sending(route, sent))
    browser_page.goto(few_pixels_server + "/")
    for path, said in (
        (big, "phone.jpg is 12.6 MiB, over this server's limit of 10 MiB."),
        (flat, "flat.png is 2000x1500 pixels, over this server's limit of 1,000,000 pixels."),
    ):
        sent.clear()
        browser_page.set_input_files("#file", str(path))
        browser_page.wait_for_selector(".bar .name >> text=blue", timeout=WAIT_MS)
        copy = Image.open(io.BytesIO(sent_file(sent[-1])[1]))
        assert copy.format == "JPEG" and copy.width * copy.height <= 1_000_000, copy.size
        assert browser_page.locator("#copied").text_content().endswith(said)
        assert browser_page.locator("#error").text_content() == ""
    assert copy.size == (1154, 866)  # by the root of the pixels' share, 1155 rounded: over


@pytest.mark.slow
def test_the_page_says_a_file_s_size_in_mib_as_the_server_says_its_limit(browser_page, server):
    """The page's sizes are serve.uploads.mebibytes's: 3 figures, whole MiB from 1,000 on (a 1,024
    MiB file read "1,020 MiB", as a limit of 1024 did on the server's side)."""
    browser_page.goto(server + "/")
    said = browser_page.evaluate(
        "[1024, 1536, 10.5, 200000 / 1048576].map(m => mebibytes(m * MIB))"
    )
    assert said == ["1,024 MiB", "1,536 MiB", "10.5 MiB", "0.191 MiB"]


LITES = "network efficientnet_lite0+efficientnet_lite1+efficientnet_lite2 · objrec 0.1.0"


@pytest.mark.slow
def test_the_answer_fits_a_phone_s_screen(browser, server, tmp_path):
    """serve --host 0.0.0.0 offers the page "from a phone": on a 390-pixel-wide screen the picture
    and the bars stood side by side, the bars squeezed into 150 pixels ("sunfl…", "butte…") and
    the page wider than the screen, as the default backbone's long name made it too. Under 600
    pixels the bars go below the picture, full width; the name breaks where it must."""
    image = tmp_path / "blue.png"
    image.write_bytes(png_bytes(size=(400, 300), colour=(40, 60, 200)))  # a photo's shape
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page.goto(server + "/")
        page.set_input_files("#file", str(image))
        page.wait_for_selector(".bar", timeout=WAIT_MS)
        wait_until(page, "document.getElementById('preview').naturalWidth > 0")
        found = boxes(page, "#preview", "#bars", "#drop")
        wide = page.evaluate("document.documentElement.scrollWidth")
        page.wait_for_selector("#technical:has-text('tiny_test')")  # train's default's name:
        page.evaluate(f"document.getElementById('technical').textContent = '{LITES}'")
        wide_meta = page.evaluate("document.documentElement.scrollWidth")  # one word, unbroken
    finally:
        page.close()
    assert wide <= 390, f"the page is {wide} pixels wide on a 390-pixel screen"
    assert wide_meta <= 390, f"the backbone's name makes the page {wide_meta} pixels wide"
    assert found["#bars"]["y"] >= found["#preview"]["y"] + found["#preview"]["height"]
    assert found["#bars"]["width"] >= found["#drop"]["width"] - 1


@pytest.mark.slow
def test_a_phone_is_told_to_tap_and_a_computer_to_drop_or_click(browser, server):
    """On a phone the page's one instruction was "Drop an image here, or click to choose one": a
    touch screen cannot drop a file, and taps. A touch screen is told to tap, to take
    a photo or choose one (the file input offers the camera there); a mouse's screen keeps its
    words."""
    said, several = {}, {}
    for touch in (True, False):
        page = browser.new_page(viewport={"width": 390, "height": 844}, has_touch=touch)
        try:
            page.goto(server + "/")
            said[touch] = page.locator("#drop").inner_text()
            several[touch] = page.evaluate("document.getElementById('file').multiple")
        finally:
            page.close()
    # a phone's chooser takes one photo, keeping its camera; a computer's takes several
    assert several == {True: False, False: True}
    assert said[True].startswith("Tap to take a photo or choose one") and "Drop" not in said[True]
    assert said[False].startswith("Drop an image here, or click to choose one")
    assert "Tap" not in said[False] and all("up to" in words for words in said.values())


def held_until_drawn_or_not(page, path, held: list) -> bool:
    """Sends ``path`` with its /predict request held (``held`` gets the route), waits for the
    browser to draw or fail to draw its preview, and says whether the "cannot show" note is
    visible meanwhile, under "predicting…"."""
    page.set_input_files("#file", str(path))
    for _ in range(200):  # the route handler runs while playwright waits
        if held:
            break
        page.wait_for_timeout(50)
    assert held, f"{path.name}'s request was never made"
    wait_until(page, "document.getElementById('preview').complete")
    page.wait_for_timeout(100)  # the preview's own error event
    assert page.locator("#bars").text_content() == "predicting…"
    return page.locator("#nopreview").is_visible()


@pytest.mark.slow
def test_the_cannot_show_note_waits_for_the_server_s_answer(browser_page, server, tmp_path):
    """A PDF's preview fails before the server answers, and the page said "This browser cannot
    show this picture ... the answer is the model's for it all the same" under "predicting…",
    until the refusal replaced it. The note now waits for an answer that is not a refusal."""
    from PIL import Image

    pdf, tiff = tmp_path / "notes.pdf", tmp_path / "blue.tiff"
    pdf.write_bytes(b"%PDF-1.4 not an image at all")
    Image.open(io.BytesIO(png_bytes(size=(80, 60), colour=(40, 60, 200)))).save(tiff)
    held: list = []
    browser_page.route("**/predict", lambda route: held.append(route))
    browser_page.goto(server + "/")
    pdf_while_predicting = held_until_drawn_or_not(browser_page, pdf, held)
    held.pop().continue_()
    browser_page.wait_for_selector("#error:has-text('notes.pdf')", timeout=WAIT_MS)
    pdf_refused = browser_page.locator("#nopreview").is_visible()
    tiff_while_predicting = held_until_drawn_or_not(browser_page, tiff, held)
    held.pop().continue_()
    browser_page.wait_for_selector(".bar", timeout=WAIT_MS)
    assert not pdf_while_predicting and not pdf_refused and not tiff_while_predicting
    assert browser_page.locator("#nopreview").is_visible()  # answered, and not drawn


@pytest.mark.slow
def test_a_picture_the_browser_cannot_draw_is_said_not_left_blank(browser, server, tmp_path):
    """An iPhone's HEIC photo, sent from Chrome: the model answered it, but the browser cannot
    draw HEIC, so the page showed the bars beside nothing. A note says why there is no picture
    (a TIFF here: Pillow reads it, Chromium does not draw it); a picture it draws, or a refused
    upload, shows no note."""
    from PIL import Image

    tiff, png, bad = tmp_path / "blue.tiff", tmp_path / "blue.png", tmp_path / "notes.png"
    Image.open(io.BytesIO(png_bytes(size=(80, 60), colour=(40, 60, 200)))).save(tiff)
    png.write_bytes(png_bytes(colour=(40, 60, 200)))
    bad.write_bytes(b"not an image at all")
    page = browser.new_page(viewport={"width": 900, "height": 700})
    try:
        page.goto(server + "/")
        page.set_input_files("#file", str(tiff))
        page.wait_for_selector(".bar", timeout=WAIT_MS)
        page.wait_for_selector("#nopreview", state="visible", timeout=WAIT_MS)
        said = page.locator("#nopreview").text_content()
        page.set_input_files("#file", str(png))
        wait_until(page, "document.getElementById('preview').naturalWidth > 0")
        after_png = page.locator("#nopreview").is_visible()
        page.set_input_files("#file", str(bad))
        page.wait_for_selector("#error:has-text('cannot read image')")
        page.wait_for_timeout(300)  # the preview's own error event
        after_bad = page.locator("#nopreview").is_visible()
    finally:
        page.close()
    assert said.startswith("This browser cannot show this picture")
    assert not after_png and not after_bad


def tab_to(page, selector: str, presses: int = 10) -> bool:
    """Presses Tab from the top of ``page`` until ``selector`` has the focus (at most
    ``presses`` times); whether it got it."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({json.dumps(selector)})"):
            return True
    return False


def press_for_file_chooser(page, key: str):
    """The file chooser ``key`` opens on the focused file input. Headless Chromium now and then
    opens none for a press (2 runs in 7 of this module on 2 xdist workers: the input focused,
    the document too, no chooser in 120 s; alone, never), so a press that opens none in 5 s is
    made once more; a page whose input does not open one fails both."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for wait in (5_000, WAIT_MS):
        try:
            with page.expect_file_chooser(timeout=wait) as chooser:
                page.keyboard.press(key)
            return chooser.value
        except PlaywrightTimeout:
            if wait == WAIT_MS:
                raise
    raise AssertionError("unreachable")


@pytest.mark.slow
def test_a_keyboard_alone_chooses_a_photo_with_its_focus_drawn(browser_page, server, tmp_path):
    """The file input was hidden (display: none), so Tab never reached it: a person on a keyboard
    or a screen reader could not send a photo at all (a11y40 #1). Tab reaches it, its focus drawn
    around the drop zone, and Space opens the file chooser; the answer comes as from a click."""
    image = tmp_path / "blue.png"
    image.write_bytes(png_bytes(colour=(40, 60, 200)))
    browser_page.goto(server + "/")
    browser_page.wait_for_selector("#meta:has-text('3 classes')")
    unfocused = browser_page.evaluate("getComputedStyle(drop).outlineStyle")
    assert tab_to(browser_page, "#file"), "Tab never reaches the file input"
    focused = browser_page.evaluate(
        "[getComputedStyle(drop).outlineStyle, getComputedStyle(drop).outlineWidth]"
    )
    chooser = press_for_file_chooser(browser_page, "Space")
    chooser.set_files(str(image))
    browser_page.wait_for_selector(".bar .name >> text=blue", timeout=WAIT_MS)
    assert unfocused == "none" and focused[0] == "solid", focused
    assert float(focused[1].removesuffix("px")) >= 2
    assert browser_page.locator("#preview").get_attribute("alt") == "the image sent: blue.png"


LOW_CONTRAST = """() => {
  const rgb = text => text.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => [r, g, b].map(v => v / 255)
    .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = element => {
    for (let e = element; e; e = e.parentElement) {
      const colour = rgb(getComputedStyle(e).backgroundColor);
      if (colour.length < 4 || colour[3] > 0) return colour;
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const element of document.body.querySelectorAll("*")) {
    const own = Array.from(element.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !element.checkVisibility()) continue;
    const [a, b] = [luminance(rgb(getComputedStyle(element).color)), luminance(behind(element))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(`${element.id || element.className}: ${ratio.toFixed(2)}`);
  }
  return low;
}"""
"""The visible elements whose own text stands out of its background by less than WCAG AA's 4.5
to 1 (the background: the nearest one drawn, behind the element or an ancestor)."""


@pytest.mark.slow
def test_every_text_of_the_page_and_its_answer_meets_wcag_aa_contrast(
    browser_page, server, client, tmp_path
):
    """The technical line at the page's foot was #888 on white, 3.5 to 1 (a11y40 #2): every text
    of the page, and of an answer with its note, stands out by 4.5 to 1 at least."""
    image = tmp_path / "blue.png"
    image.write_bytes(png_bytes(colour=(40, 60, 200)))
    answer_with_page(browser_page, server, barely_familiar_answer(client), image)
    browser_page.wait_for_selector("#technical:has-text('tiny_test')")
    assert browser_page.locator("#barely").is_visible()
    assert browser_page.evaluate(LOW_CONTRAST) == []


@pytest.mark.slow
def test_a_screen_reader_hears_the_answer_as_a_list_within_the_page_s_main(
    browser_page, server, tmp_path
):
    """The bars were read as one run of words ("blue 87.3% green 9.1% red 3.6%") and the page
    had no main landmark to jump to (a11y40 #11): the answer, announced where it is shown (a
    polite live region), is a list of the closest classes, each its name and percentage."""
    image = tmp_path / "blue.png"
    image.write_bytes(png_bytes(colour=(40, 60, 200)))
    browser_page.goto(server + "/")
    browser_page.set_input_files("#file", str(image))
    browser_page.wait_for_selector(".bar", timeout=WAIT_MS)
    heard = browser_page.locator("#bars").aria_snapshot()
    probs = browser_page.locator(".bar .prob").all_text_contents()
    assert browser_page.locator("main").count() == 1
    assert browser_page.locator("main #drop, main #bars").count() == 2
    assert browser_page.locator("#bars").get_attribute("aria-live") == "polite"
    assert '- list "the closest classes":' in heard, heard
    assert f"- listitem: blue {probs[0]}" in heard and heard.count("- listitem:") == 3, heard


def announced(page) -> list[str]:
    """What Chrome's own accessibility tree (what a screen reader reads) holds in the page's
    polite status regions, the words each holds: a message shown within one is announced."""
    cdp = page.context.new_cdp_session(page)
    nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    by_id = {node["nodeId"]: node for node in nodes}

    def words(node) -> str:
        if node.get("role", {}).get("value") == "StaticText":
            return node.get("name", {}).get("value", "")
        return " ".join(filter(None, (words(by_id[c]) for c in node.get("childIds", []))))

    regions = [n for n in nodes if not n.get("ignored") and n["role"].get("value") == "status"]
    return [words(node) for node in regions]


@pytest.mark.slow
def test_a_screen_reader_hears_that_a_copy_was_sent_and_that_a_picture_cannot_be_shown(
    browser_page, few_pixels_server, tmp_path
):
    """ "A smaller copy was sent" and "This browser cannot show this picture" were shown in no
    live region, so a screen reader never said them (a11y40 #13): each is now shown within a
    status region the page has from the start (a region made as its message appears is not
    announced)."""
    from PIL import Image

    flat, tiff = tmp_path / "flat.png", tmp_path / "blue.tiff"
    Image.new("RGB", (2000, 1500), (40, 60, 200)).save(flat)  # over the server's pixels
    Image.open(io.BytesIO(png_bytes(size=(80, 60), colour=(40, 60, 200)))).save(tiff)
    browser_page.goto(few_pixels_server + "/")
    at_first = announced(browser_page)
    browser_page.set_input_files("#file", str(flat))
    browser_page.wait_for_selector(".bar", timeout=WAIT_MS)
    copied = announced(browser_page)
    browser_page.set_input_files("#file", str(tiff))
    browser_page.wait_for_selector("#nopreview", state="visible", timeout=WAIT_MS)
    cannot_show = announced(browser_page)
    assert at_first == ["", ""], at_first
    assert any(said.startswith("A smaller copy was sent") for said in copied), copied
    assert any(said.startswith("This browser cannot show this picture") for said in cannot_show)


def width_on_a_phone(browser, page_file: Path) -> int:
    """The CSS pixels a phone 390 pixels wide lays ``page_file`` out in: 980 for a page without a
    viewport meta tag (drawn zoomed out, its text a third of its size), 390 with one."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=3
    )
    try:
        page = context.new_page()
        page.goto(page_file.as_uri())
        return page.evaluate("window.innerWidth")
    finally:
        context.close()


@pytest.mark.slow
def test_the_audit_and_suggest_pages_fit_a_phone_s_width(browser, tmp_path):
    """audit.html and suggestions.html had no viewport meta tag (a11y40 #16): a phone drew them
    980 pixels wide, zoomed out, as the serve page and the report are not."""
    from objrec import suggest
    from objrec.audit import report as audit_report

    for name, page in (("audit", audit_report.PAGE), ("suggest", suggest.PAGE)):
        head = page[: page.index("</head>")] + "</head><body><p>a page</p></body></html>"
        (tmp_path / f"{name}.html").write_text(head)
        assert width_on_a_phone(browser, tmp_path / f"{name}.html") == 390, name


def wait_until(page, expression: str, timeout: float = 30.0) -> None:
    """Wait until ``expression`` is true in ``page``, asking again every 50 ms. Playwright's
    ``wait_for_function`` evaluates its string again while it polls, which the page's
    Content-Security-Policy (no 'unsafe-eval') refuses once the first look was false: an
    EvalError in a full-suite run (microsoft/playwright#36986). ``evaluate`` asks once a call."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout:.0f} s: {expression}"
        page.wait_for_timeout(50)
