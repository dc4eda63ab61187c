"""``serve``: a FastAPI app around one loaded model (:func:`create_app`), run under uvicorn until
stopped, in one process or several (:func:`serve`): a JSON API and a page to try it.

``POST /predict`` (multipart field ``file``, optional ``topk`` and ``tta``) returns the object
``predict --json`` gives for an image, ``filename`` in place of ``path`` (``Prediction.to_json``;
docs/json.md, "predict", lists the keys); ``GET /`` is a page where a person picks or drops an
image; ``GET /health``, ``/info``, ``/docs`` (the API written out from ``/openapi.json``, with
nothing loaded from elsewhere: ``serve.api_docs``). The model loads at start, and again when its
file is replaced (``serve.served``: a retrain); uploads are answered on a few threads of the app's
own (``serve.predict.ANSWERING_AT_ONCE``), which share it safely, while the others wait. Every bad
request gets a 4xx JSON ``{"error": ...}``: an empty or missing file, a non-image, an upload over
the size limit (10 MiB unless ``max_upload_bytes`` says otherwise; the error gives it in MiB and
bytes, the log names the option that raises it), an image over the pixel limit, a ``topk`` out of
range; a failure of the server's own gets a 500 JSON ``{"error": ...}``. An upload over the size
limit is refused before it is received: from its Content-Length header alone, or as soon as the
bytes read pass the limit (a chunked upload, or one whose Content-Length is wrong), never after
storing the whole of it. No CORS headers unless ``cors_origins`` names the web pages' origins that
may call the API from their JavaScript (``serve.guards.add_cors``). The page comes with a
Content-Security-Policy that lets its own script alone run (``serve.pages.page_policy``), every
answer with ``nosniff`` (``serve.guards.NoSniff``). No login: whoever reaches the port may use it
(``serve`` binds to loopback unless told otherwise); but a request sent to a name the server does
not answer to is refused, so that no website can point a name of its own at it (DNS rebinding:
``serve.guards.RefuseOtherHosts``).

This module puts the server together from the modules beside it, which each own one part of it:
``predict`` (``/predict``), ``pages`` (the page, ``/health``, ``/info``, ``/docs``), ``uploads``
(an upload's limits, decoding and log line), ``model`` (the model loaded, and what runs it),
``errors`` (every error as JSON), ``guards`` (what wraps every request), ``address`` (the socket
and the addresses to open), ``workers`` (what several processes need), ``settings``, ``turns``,
``served`` and ``api_docs``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from objrec import __version__
from objrec.errors import ObjrecError, ctrl_c_leaves
from objrec.paths import PathGiven
from objrec.progress import Reporter, or_silent
from objrec.serve.address import bind_socket, url_of, wait_until_up
from objrec.serve.errors import add_error_handlers
from objrec.serve.guards import add_middlewares, server_names, warn_of_any_origin
from objrec.serve.model import serve_model, start_words
from objrec.serve.pages import add_docs, add_reading_routes, page_html
from objrec.serve.predict import ANSWERING_AT_ONCE, add_predict_route
from objrec.serve.served import CHECK_EVERY, ServedModel, checking_lifespan
from objrec.serve.settings import (
    allowed_host,
    allowed_origins,
    check_upload_limit,
    check_workers,
    proxy_prefix,
    upload_pixel_limit,
)
from objrec.serve.turns import AnsweringThreads
from objrec.serve.uploads import MAX_UPLOAD_BYTES, UploadCounts
from objrec.serve.workers import (
    WORKER_LOGGING,
    check_settings,
    counted_across_workers,
    counting_until_stopped,
    set_up_worker_logging,
)

NOT_STARTED = "the server had not started (its model loads first): run it again"
"""What Ctrl-C before the server is up leaves (``errors.ctrl_c_leaves``)."""


def create_app(
    run: PathGiven,
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
    """The app for the model in ``run``, loaded now and run once (``serve.model.warm_up``), so that
    the first upload is answered as fast as the next; ``threshold``, ``unknown``: as predict's.
    ``cors_origins``: the web pages' origins (``https://shop.example``; ``*``, any, warned of unless
    not ``warn_any_origin``: :func:`serve` warns once for all its workers) whose JavaScript may call
    the API and read its answers (``serve.guards.add_cors``); none by default. ``app.state.served``:
    the model served (``serve.served.ServedModel``); ``app.state.uploads``, the uploads it answered
    and refused (``serve.uploads.UploadCounts``). Uploads over ``max_upload_bytes`` and images over
    ``max_pixels`` (default: objrec's own limit, ``images.pixel_limit``, as train reads images; a
    lower one bounds the server's memory: :func:`upload_pixel_limit`) are refused (413). While the
    app runs it looks at the model's checkpoint file every ``check_every`` seconds (None: never) and
    answers with the new model once that file is replaced (``serve.served.ServedModel``: a retrain
    into the run folder). A request to a name (its Host header) other than an IP address,
    ``localhost`` or one of ``allowed_hosts`` (``*.office.lan``; ``*``: any) is refused (400)."""
    check_upload_limit(max_upload_bytes)
    names = [allowed_host(n) for n in allowed_hosts]
    max_pixels = upload_pixel_limit(max_pixels)
    origins = allowed_origins(cors_origins)
    if warn_any_origin:
        warn_of_any_origin(origins)
    served, answering = started_model(Path(run), runtime, device, threshold, unknown)
    page = page_html(max_upload_bytes, max_pixels)
    app = FastAPI(
        title="objrec",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=checking_lifespan(served, check_every, answering),
    )
    add_docs(app)
    app.state.max_upload_bytes, app.state.served = max_upload_bytes, served
    add_middlewares(app, max_upload_bytes, names, origins)
    add_error_handlers(app)
    add_reading_routes(app, page, served, (max_upload_bytes, max_pixels, origins), runtime)
    add_predict_route(app, served, answering, max_upload_bytes, max_pixels)
    return app


def started_model(
    run: Path, runtime: str | None, device: str, threshold: float | None, unknown: bool
) -> tuple[ServedModel, AnsweringThreads]:
    """The model an app serves (``serve.model.serve_model``), loaded and warmed up on the app's
    answering threads, and those threads, which the app's lifespan ends: a failed start (a model
    that does not load or answer) ends them now, leaving no idle thread behind."""
    answering = AnsweringThreads(ANSWERING_AT_ONCE)
    with answering.shut_down_on_failure():
        return serve_model(run, runtime, device, threshold, unknown, answering), answering


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


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory`` with several workers: the run is read from the environment,
    and the logging set-up, when :func:`serve` was given one (``worker_logging``); the app
    writes its upload counts where :func:`serve` sums them (``serve.workers``)."""
    set_up_worker_logging()
    run = os.environ.get("OBJREC_SERVE_RUN")
    if not run:
        raise ObjrecError("OBJREC_SERVE_RUN is not set")
    threshold = os.environ.get("OBJREC_SERVE_THRESHOLD")
    max_pixels = os.environ.get("OBJREC_SERVE_MAX_PIXELS")
    app = create_app(
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
    return counting_until_stopped(app)


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
) -> UploadCounts:
    """Run the app under uvicorn until stopped (binds to loopback unless ``host`` says otherwise),
    then return the uploads it answered and refused (several ``workers``' summed).

    The port is bound first, so that a busy one raises ``ObjrecError`` at once, not once the model
    has loaded (up to 1 min 47 s, shown to ``reporter``); then the model is loaded (checked, with
    several ``workers``) before anything is served. ``on_loaded(runs, why)`` is called once it is
    loaded, with what runs it and why (``serve.model.runs_and_why``); ``on_ready(url)`` once the
    server answers at ``url`` (its real port, for ``port`` 0). The limits, ``cors_origins`` and
    ``allowed_hosts``: as :func:`create_app`'s, which answers ``host``'s name and this machine's
    too (``serve.guards.server_names``). ``worker_logging``: a ``logging.config.dictConfig`` each of
    several ``workers`` (new processes) applies as it starts. ``root_path``: the prefix a reverse
    proxy strips (:func:`proxy_prefix`), which ``/openapi.json`` gives as its server."""
    check_workers(workers)
    root_path = proxy_prefix(root_path)
    check_upload_limit(max_upload_bytes)
    max_pixels = upload_pixel_limit(max_pixels)  # refused here, not by each worker
    allowed = allowed_origins(cors_origins), server_names(host, allowed_hosts)
    settings = (runtime, device, threshold, unknown, max_upload_bytes, max_pixels, *allowed)
    with closing(bind_socket(host, port)) as sock, workers_environment(workers, worker_logging):
        with ctrl_c_leaves(lambda: NOT_STARTED):  # until uvicorn's own handlers take Ctrl-C
            with or_silent(reporter).task("loading the model", None):  # 10 s at a load of 9
                app, runs = app_to_serve(Path(run), workers, settings)
            if on_loaded is not None:
                on_loaded(*runs)
            url = url_of(host, sock.getsockname()[1])
            config = server_config(app, workers, root_path)
            if on_ready is not None:
                threading.Thread(target=wait_until_up, args=(url, on_ready), daemon=True).start()
        return run_until_stopped(config, sock)


def server_config(app: FastAPI | str, workers: int, root_path: str) -> Any:
    """uvicorn's settings for ``app`` (with several ``workers``, the name of its factory):
    ``root_path`` is the prefix ``/openapi.json`` names as its server (:func:`proxy_prefix`);
    connections beyond :func:`connection_limit` are answered 503 by uvicorn; stopped, it waits
    ``serve.stopping.STOP_DEADLINE`` seconds for the requests under way (one process:
    ``serve.stopping.StoppingServer``; several: uvicorn's own deadline, a second later)."""
    import uvicorn

    from objrec.serve.stopping import STOP_DEADLINE

    return uvicorn.Config(
        app,
        factory=workers > 1,
        workers=workers,
        log_level="warning",
        root_path=root_path,
        limit_concurrency=connection_limit(),
        timeout_graceful_shutdown=STOP_DEADLINE + 1,  # after StoppingServer's own
    )


def connection_limit() -> int | None:
    """The connections (and their requests) a server process keeps open: half the files it may
    open (``RLIMIT_NOFILE``'s soft limit; None where the system says none). Past it uvicorn
    answers 503 at once; without it, a flood of connections would take every file the process
    may open, and the server could no longer accept one, nor open an upload's spooled file or a
    new model. Slow clients are not timed out: uvicorn has no timeout for
    receiving a request (its keep-alive timeout restarts at each byte), a reverse proxy does
    (docs/commands.md)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to stay under
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else max(64, soft // 2)


@contextmanager
def workers_environment(
    workers: int = 1, worker_logging: Mapping[str, Any] | None = None, prefix: str = "OBJREC_SERVE_"
) -> Iterator[None]:
    """``os.environ``'s variables of ``prefix`` as they were, once the block ends: several workers
    get their settings through them (:func:`worker_environment`, ``serve.workers.WORKER_LOGGING``:
    ``worker_logging``, set for the block for several ``workers``), which a Python process that
    called :func:`serve` kept after it returned otherwise."""
    before = {name: value for name, value in os.environ.items() if name.startswith(prefix)}
    if workers > 1 and worker_logging is not None:
        os.environ[WORKER_LOGGING] = json.dumps(worker_logging)
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
        return "objrec.serve.server:app_from_env", runs
    app = create_app(
        *(run, runtime, max_upload_bytes, max_pixels),
        threshold=threshold,
        unknown=unknown,
        device=device,
        cors_origins=origins,
        allowed_hosts=names,
    )
    return app, start_words(app.state.served.recognizer, runtime)


def run_until_stopped(config: Any, sock: socket.socket) -> UploadCounts:
    """Serve on ``sock`` until SIGINT (Ctrl-C) or SIGTERM (systemd, ``docker stop``) stops it
    cleanly, which returns the uploads answered and refused: a stop asked for, not an
    interruption. uvicorn shuts down on either signal, then raises it again for its caller
    (uvicorn 0.29's cooperative signal handling), which the CLI took for an interruption
    ('aborted', exit 130 or 143); here it is only noted. Several workers run under uvicorn's
    supervisor, which keeps the signals for itself, each counting its own uploads, summed once
    all have stopped (``serve.workers.counted_across_workers``)."""
    from uvicorn.supervisors import Multiprocess

    from objrec.serve.stopping import StoppingServer

    if config.workers > 1:
        with counted_across_workers() as summed:
            Multiprocess(config, sockets=[sock]).run()
            return summed()
    server = StoppingServer(config)

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True  # one before uvicorn listens stops it as soon as it has started

    with signal_handlers(stop):
        server.run(sockets=[sock])
    return config.app.state.uploads


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
