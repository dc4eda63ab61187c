"""Commands that take a model out of objrec: ``export`` (ONNX with a JSON sidecar), ``share``
(a clean copy of a run to send, with its model card) and ``serve`` (a web page and a JSON API).
"""

from __future__ import annotations

import shlex
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urlsplit

import click

from objrec.cli.options import (
    EXISTING,
    FINITE,
    OUT_FILE,
    RUNS_OWN,
    RUNTIMES,
    Choice,
    PathParam,
    device_option,
    from_options,
    json_option,
    refuse_unknown_conflict,
    unknown_options,
)
from objrec.cli.output import (
    CTRL_C,
    RichReporter,
    console,
    err,
    in_cli_terms,
    logged_warnings,
    print_json,
    show_server_events,
    shown,
    with_warnings,
)
from objrec.cli.sections import Sectioned
from objrec.config import CHECK_PHOTOS, require_device
from objrec.errors import ObjrecError
from objrec.images import MAX_PIXELS, MAX_PIXELS_VARIABLE
from objrec.model_file import read_meta, refuse_cut_short
from objrec.serve.address import bind_socket
from objrec.words import on_lines, plural

if TYPE_CHECKING:
    from objrec.export.exporter import ExportResult
    from objrec.share import ShareResult

SERVE_MAX_UPLOAD_MIB = 10.0
"""``serve``'s upload limit in MiB: ``serve.uploads.MAX_UPLOAD_BYTES``, here since the CLI does not
import FastAPI for ``--help`` (a test checks that the two agree)."""

RUNS_NOTE = (
    "A model whose pretrained network is in 8-bit integers run in OpenVINO (int8: train's "
    "default on a CPU with 8-bit dot products) runs that network in OpenVINO, as it did in "
    'training, and the head in PyTorch, whichever you pick: serve says at start "running the '
    'int8 body in OpenVINO, the head in PyTorch", and why, and /info says "runtime": '
    '"openvino", "int8_engine": "openvino", and the same in words (runs, runs_why).'
)
"""What ``serve --help`` says first of an int8 body's engine, as ``/info`` and the line at start
say it (``serve.model.runs_words``; a test checks that they agree). It came after "Left out, serve
picks: on the CPU onnx", which a newcomer with a default run read against /info's "runtime":
"torch"."""


@click.command(cls=Sectioned, short_help="Save a trained model as ONNX, for other programs.")
@click.argument("run", type=EXISTING)
@click.option(
    "--format",
    "fmt",
    type=Choice(["onnx"]),
    default="onnx",
    show_default=True,
    help="The file format: ONNX, the only one objrec writes. ONNX Runtime and many other "
    "programs run it (opset 17).",
)
@click.option(
    "--out",
    type=OUT_FILE,
    show_default="RUN/model.onnx",
    help="The model file. Without it, RUN/model.onnx, or beside a checkpoint file RUN given, its "
    "name with .onnx. Not a .json name; a name without an extension gets .onnx (--out exp2: "
    "exp2.onnx). The JSON sidecar goes "
    "beside it under its name with .json, the script under its name with _infer.py, in a "
    "form Python can import (--out my-model.v2.onnx: my_model_v2_infer.py).",
)
@click.option(
    "--softmax/--logits",
    default=True,
    show_default=True,
    help="Output calibrated probabilities, or their scores. Or the scores they come from (output "
    "`logits`: the log of the heads' averaged probabilities, not raw logits; see the "
    "sidecar's calibration).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite an earlier export. RUN/model.onnx too (an export is never refreshed "
    "without it); a JSON file or script beside it that no export wrote is never replaced.",
)
@click.option(
    "--threshold",
    type=FINITE,
    show_default=RUNS_OWN,
    help="The unknown threshold the sidecar gives. It replaces the run's own (chosen on the valid "
    "split; the sidecar keeps it as run_threshold), on the run's score: the familiarity, as "
    "predict's and serve's --threshold (evaluate --unknown offers a stricter one).",
)
@click.option(
    "--check-photos",
    "photos",
    type=click.IntRange(min=1),
    default=CHECK_PHOTOS,
    show_default=True,
    metavar="N",
    help="Check the exported file's answers on N real photos. Against objrec's, on photos from the "
    "run's test split (else its valid split) and the built-in sample. More photos measure an "
    "int8 model's gap more closely; each adds about 0.3 s on 2 cores for an fp32 run, 0.1 s "
    "for an int8 one.",
)
@json_option("the paths and the check")
def export(
    run: Path,
    fmt: str,
    out: Path | None,
    softmax: bool,
    force: bool,
    threshold: float | None,
    photos: int,
    as_json: bool,
) -> None:
    """Export the model in RUN (the pretrained network and the head, as one) for other programs,
    taking any number of images at once.
    \f
    Beside the model go a JSON file of the class names and the preprocessing (resize, crop,
    mean, std), and a script that runs the model without objrec, with onnxruntime, numpy and
    Pillow only, and prints the top classes of the photos it is given: python
    RUN/model_infer.py PHOTO... (the model's name with _infer.py; files or folders; --csv FILE
    writes a table; --help says more).

    train's default on a CPU with 8-bit dot products is an int8 body run in OpenVINO: the
    script runs such a model in OpenVINO where openvino is installed (as it is with objrec), as
    objrec runs it, for objrec's answers. For objrec's answers in ONNX Runtime, export a run
    trained with --precision fp32: ONNX Runtime's 8-bit arithmetic rounds otherwise (up to
    0.062 apart in a probability, 3 top classes of 150 photos changed, on a 10-class
    Caltech-101 run; 1.2e-5 and none trained in fp32).

    The export checks itself: ONNX Runtime must reproduce the graph's probabilities in PyTorch
    within 1e-4 on sample inputs, or the file is removed and the command fails. It then answers
    32 real photos (--check-photos), spread over the classes of the run's data and of the
    built-in sample, in ONNX Runtime and, for an int8 body OpenVINO ran, in OpenVINO as the
    script runs it, and says how far its probabilities are from objrec's own, with a warning
    above 1e-3 for the runtime the script runs it in.
    """
    from objrec.export.names import refuse_early
    from objrec.run_files import require_checkpoint_file

    refuse_early(run, out, force)  # an earlier export said at once, not after the libraries load
    require_checkpoint_file(run)  # and a folder that is no run
    reporter = RichReporter()
    with reporter.loading():  # seconds (torch): not in silence
        from objrec.export.exporter import export_model
    with logged_warnings() as logged:
        result = export_model(run, out, fmt, softmax, force, threshold, reporter, photos)
    print_export(result, logged, as_json)


def print_export(result: ExportResult, logged: list[str], as_json: bool) -> None:
    """What ``export`` wrote and how far its answers are from objrec's: a line each (the file,
    the check in each runtime, the script), or with ``as_json`` one JSON object, with the
    warnings ``logged`` while exporting."""
    if as_json:
        print_json(with_warnings(export_record(result), logged))
        return
    openvino = "openvino" in result.answers_checked
    lines = [exported_line(result), *agreement_lines(list(result.answers_checked.values()))]
    lines.append(script_line(result.script, openvino))
    files = [shown(f) for f in (result.model, result.sidecar, result.script) if f is not None]
    whole = [*files, *(shlex.quote(f) for f in files), RETRAIN_FP32]
    for line in lines:
        console.print(on_lines(line, whole), markup=False, highlight=False)


@click.command(
    cls=Sectioned, short_help="Write a clean copy of a run to send, with its model card."
)
@click.argument("run", type=EXISTING)
@click.argument("out", metavar="DEST", type=PathParam(path_type=Path, writes=True))
@click.option(
    "--onnx",
    is_flag=True,
    help="Export the model into DEST as well. As model.onnx, model.json, model_infer.py: as "
    "objrec export writes and checks them, for a recipient without objrec (RUN's own export "
    "of the same model is copied when its files are as it wrote them: an edited "
    "model_infer.py stays yours, and the share exports afresh).",
)
@click.option(
    "--zip",
    "zipped",
    is_flag=True,
    help="Write DEST as one zip file. .zip is added when its name lacks it; it unzips into the "
    "folder.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an earlier share at DEST. Anything else there is never written over.",
)
@json_option("what was written and left out")
def share(run: Path, out: Path, onnx: bool, zipped: bool, force: bool, as_json: bool) -> None:
    """Write what someone needs to use the model in RUN into the new folder DEST: to predict,
    evaluate and serve with objrec (installed from a clone or its wheel; objrec predict DEST
    photo.jpg), on any machine, without the photos or the feature store.
    \f
    DEST holds the model (its calibration and kept threshold travel with it), config.json,
    summary.json, seen_digests.csv (the training photos' digests, no names: evaluate warns of a
    recipient's photos the run trained on), a model card (README.md: the classes and their
    training photos, the recipe and the weights' licences, the validation and test results,
    the "unknown" threshold, the limits, how to use it) and SHA256SUMS (sha256sum -c SHA256SUMS
    checks a copy). The card quotes the run's evaluations of its model as it is now: evaluate
    RUN DATA first for its test results.

    No photo goes, nor any path of this machine: the data folder, the cache folder, the command
    lines and their folders are left out of the model file's header, config.json and
    summary.json (the card and --json list them). The run itself is not changed.
    """
    from objrec.share import share_run

    with logged_warnings() as logged:
        result = share_run(run, out, force, onnx, zipped, RichReporter())
    if as_json:
        print_json(with_warnings(share_record(result), logged))
        return
    for line in shared_lines(result, run):
        console.print(line, markup=False, highlight=False)


def share_record(result: ShareResult) -> dict[str, Any]:
    """share --json's record (keys: docs/json.md)."""
    return {
        "out": str(result.out),
        "zip": result.zipped,
        "files": result.files,
        "redacted": result.redacted,
        "evaluations": result.evaluations,
        "stale_evaluations": result.stale,
        "left_out": result.left_out,
    }


def unquoted_words(stale: list[str], run: Path | None = None) -> str:
    """Why the card quotes no evaluation: none made, or those made are of images changed since
    (``stale``: "evaluate first" would deny the evaluation there); and the command that makes
    one (:func:`evaluate_words`)."""
    command = evaluate_words(run)
    if not stale:
        return f"no evaluation ({command} first to add one)"
    verb = "is" if len(stale) == 1 else "are"
    return (
        f"no evaluation: {' and '.join(stale)} {verb} of images changed since they were evaluated "
        f"({command} again)"
    )


def evaluate_words(run: Path | None) -> str:
    """``objrec evaluate run data``: the run shared and the data folder its model records, where
    that is still there; "evaluate RUN DATA" named neither, which share knows."""
    if run is None:
        return "objrec evaluate RUN DATA"
    data = "DATA"
    with suppress(ObjrecError, OSError, ValueError):
        recorded = read_meta(run).data_dir
        if recorded and Path(recorded).is_dir():
            data = shlex.quote(shown(Path(recorded)))
    return f"objrec evaluate {shlex.quote(shown(run))} {data}"


def shared_lines(result: ShareResult, run: Path | None = None) -> list[str]:
    """What share says of ``run``: what it wrote, what it left out, how the recipient uses it."""
    from objrec.card import redacted_words

    name = result.out.stem if result.zipped else result.out.name
    what = "zipped" if result.zipped else "wrote"
    card = f"{name}/README.md" if result.zipped else shown(result.out / "README.md")
    quoted = " and ".join(result.evaluations) or unquoted_words(result.stale, run)
    lines = [
        f"{what} {shown(result.out)}: {plural(len(result.files) + 1, 'file')}, with SHA256SUMS; "
        f"the model card {card} quotes {quoted}",
        f"left out, as naming this machine: {redacted_words(result.redacted)}",
        *(f"not shared: {sentence}" for sentence in result.left_out),
        *onnxruntime_lines(result),
    ]
    unzip = f"unzip {shlex.quote(result.out.name)} && " if result.zipped else ""
    lines.append(
        f"the recipient: objrec installed from a clone or its wheel (it is not on PyPI); {unzip}"
        f"objrec predict {shlex.quote(name)} photo.jpg"
    )
    return lines


def onnxruntime_lines(result: ShareResult) -> list[str]:
    """export's line of ONNX Runtime's gap (``export.check.onnxruntime_words``) for a share's
    export of an int8 body OpenVINO ran, apart from objrec's answers in ONNX Runtime alone:
    ``share --onnx`` said nothing of it, the card only "onnxruntime, numpy and Pillow"."""
    from objrec.export.check import onnxruntime_gap, onnxruntime_words

    gap = onnxruntime_gap(result.answers_checked)
    return [in_cli_terms(onnxruntime_words(gap))] if gap is not None else []


RETRAIN_FP32 = "`objrec train DATA --out RUN --precision fp32`"
"""The command export's line of ONNX Runtime gives (``export.check.onnxruntime_words``, in the
CLI's terms), kept on one line."""


def exported_line(result: ExportResult) -> str:
    """export's summary: every file it wrote (the model, its sidecar and the script, the ones to
    copy together) and how closely the graph matches PyTorch."""
    files = [shown(f) for f in (result.model, result.sidecar, result.script) if f is not None]
    named = f"{', '.join(files[:-1])} and {files[-1]}"
    together = " (copy them together)" if len(files) > 2 else ""
    return (
        f"exported {named}{together}; the graph matches PyTorch within "
        f"{result.max_abs_diff:.1e} on sample inputs" + kept_words(result.kept)
    )


def export_record(result: ExportResult) -> dict[str, Any]:
    """export --json's record (keys: docs/json.md)."""
    record: dict[str, Any] = {"model": str(result.model), "sidecar": str(result.sidecar)}
    record |= {"script": str(result.script)}
    record |= {"unknown_threshold_kept_on": result.unknown_threshold_kept_on}
    checked = {runtime: a.as_dict() for runtime, a in result.answers_checked.items()}
    return record | {"max_abs_diff": result.max_abs_diff, "answers_checked": checked}


def script_line(script: Path | None, openvino: bool = False) -> str:
    """How to run the export without objrec: the script written beside it, and with what (for
    an int8 body OpenVINO ran, ``openvino``, OpenVINO where it is installed)."""
    needs = "onnxruntime, numpy and Pillow only"
    if openvino:
        needs = "numpy, Pillow and OpenVINO where installed, as with objrec; else onnxruntime"
    return (
        f"to run it without objrec ({needs}): python "
        f"{shlex.quote(shown(script))} PHOTO... (files or folders; --csv FILE for a table; "
        "--help says more)"
    )


def agreement_lines(answers: list) -> list[str]:
    """One line per runtime the file was checked in against objrec's own answers, but the
    script's default one (the last) when it is apart from them: export's warning said how far
    (``export.check.warn_if_apart``). ONNX Runtime, apart from an int8 body OpenVINO ran, says why
    and what gives objrec's answers in any runtime (``export.check.onnxruntime_words``). Each
    line words its figures alike (``export.check.apart_words``): one said "(0 top classes
    differ, 0 unknown answers differ)", the next "top class changed: 0, unknown answer changed:
    0"."""
    from objrec.export.check import SCRIPT_NAME, apart_words, onnxruntime_words

    default = answers[-1].runtime if answers else None
    as_run = {
        "onnxruntime": f"ONNX Runtime (as {SCRIPT_NAME} runs it)",
        "openvino": f"OpenVINO (as {SCRIPT_NAME} runs it, where openvino is installed, and as "
        "objrec runs the body)",
    }
    lines = []
    for a in answers:
        if a.runtime == default and a.apart:
            continue
        if a.runtime != default and a.apart:
            lines.append(in_cli_terms(onnxruntime_words(a)))
            continue
        where = as_run[a.runtime] if a.runtime == default else "ONNX Runtime alone (an app's)"
        lines.append(f"in {where}, the file {apart_words(a, score=True)}")
    return lines


def kept_words(kept) -> str:
    """What export says of the run's kept threshold (``kept.KeptThreshold``), when it uses it
    (one kept for another model, not used, ``kept.read_kept`` warns of)."""
    return (
        f"; the sidecar says {in_cli_terms(kept.words())}"
        if kept is not None and kept.current
        else ""
    )


SERVE_SECTIONS = {
    "Options": ("host", "port"),
    "Unknown answer": ("threshold", "no_unknown"),
    "Speed": ("runtime", "device", "workers"),
    "Limits": ("max_upload_mib", "max_pixels"),
    "Behind a proxy, or called from other websites": (
        *("allowed_hosts", "root_path", "cors_origins"),
    ),
}
"""``serve --help``'s headings: where it listens, then what its answers and its callers need."""


@click.command(
    cls=Sectioned,
    sections=SERVE_SECTIONS,
    short_help="Serve a trained model: a web page and a JSON API.",
)
@click.argument("run", type=EXISTING)
@click.option(
    "--host",
    metavar="ADDRESS",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on. The default serves this machine only, 0.0.0.0 other "
    "devices too (serve then prints this machine's network addresses to open).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    default=8000,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--workers",
    type=int,
    metavar="N",
    default=1,
    show_default=True,
    help="Server processes, each with its own copy of the model. Not train's --num-workers, "
    "processes that decode images. About 1 GB a copy for a default run: one already answers 4 "
    "uploads at once, each on every core (docs/commands.md, serve).",
)
@click.option(
    "--runtime",
    type=Choice(RUNTIMES),
    show_default="onnx on the CPU, torch on a GPU",
    help="Which engine computes the answers. It changes how fast they come, not what they say "
    "(the two agree within 1e-4). "
    + RUNS_NOTE
    + " Any other model, left out, serve picks: on the CPU onnx, ONNX Runtime, which runs a copy "
    "of the model made at the first start (and kept in the cache folder) and then answers faster "
    "than PyTorch; on a GPU torch, PyTorch, as onnx runs on the CPU only. Pick torch when that "
    "copy cannot be made, or to start without making it.",
)
@click.option(
    "--max-upload-mib",
    type=float,
    metavar="MIB",
    default=SERVE_MAX_UPLOAD_MIB,
    show_default=True,
    help="The largest upload /predict takes, in MiB. 0.5 is 512 KiB; 10 MiB is 10,485,760 "
    "bytes; the page says it, a larger one is answered 413 with an error that gives it in MiB "
    "and bytes, and noted in the server's log. The page sends a larger photo as a smaller copy "
    "(2048 pixels on its long side), and says so.",
)
@click.option(
    "--max-pixels",
    type=int,
    metavar="N",
    show_default=f"{MAX_PIXELS:,}, or ${MAX_PIXELS_VARIABLE}",
    help="The most pixels /predict decodes from one image. Up to objrec's own limit (the "
    "default); a larger image is answered 413 with an error that gives the limit, and noted in "
    "the server's log. serve answers 4 uploads at once: a lower limit bounds its memory (4 PNGs of "
    "89 million pixels took 2.8 GiB above the server at rest, of 40 million 1.3 GiB; "
    "docs/commands.md). It counts RGB "
    "pixels' worth of memory: an image that takes more a pixel to decode (32-bit grey, "
    "transparency) is allowed fewer pixels.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Let web pages of ORIGIN call this server. Those of ORIGIN (scheme://host[:port], no "
    "path: https://shop.example) may call /predict and /info from their JavaScript and read the "
    "answers, as a browser allows only "
    "when the server says so (CORS); repeat it for each website. Needed only when a page served "
    "from another address calls this server; not for curl, a website's server, or the page at "
    "/. * lets any website's pages use this server, and is warned of. serve says them as it "
    "starts, /info in cors_origins. Left out, no CORS headers.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer requests sent to NAME. NAME as typed in the browser's address bar, "
    "without port (objrec.office.lan; *.office.lan for every name under it; * for any); repeat it "
    "for each. serve answers its IP addresses, localhost, this machine's own name and --host's; "
    "a request sent to any other name is refused (400), so that no "
    "website can point a name of its own at this server (DNS rebinding). Needed for a DNS name "
    "of the server, or a reverse proxy that passes on its own public name.",
)
@click.option(
    "--root-path",
    default="",
    metavar="PREFIX",
    help="The path a reverse proxy serves this server under. The proxy strips it before passing "
    "a request on (/objrec for https://example.org/objrec/): /openapi.json then gives PREFIX as "
    "its server, so that tools that read it call /objrec/predict. The page and /docs work under "
    "such a proxy without it.",
)
@unknown_options
@device_option
def serve(
    run: Path,
    host: str,
    port: int,
    workers: int,
    runtime: str | None,
    max_upload_mib: float,
    max_pixels: int | None,
    threshold: float | None,
    no_unknown: bool,
    device: str,
    cors_origins: tuple[str, ...],
    allowed_hosts: tuple[str, ...],
    root_path: str,
) -> None:
    """Serve the model in RUN: a page to try it at / and a JSON API at /predict.

    \b
      POST /predict   multipart field "file" (an image), optional "topk", "tta" ->
                      {"filename", "answer", "unknown", "score", "barely_familiar",
                       "unknown_threshold", "unknown_threshold_kept_on",
                       "topk": [{"class", "prob"}], "confused_with"} (docs/json.md)
      GET  /          a page: pick, drop or take (camera) photos, a row each
      GET  /health, GET /info (classes, backbone, version, and runtime,
                      int8_engine, runs and runs_why: what runs the model, why)
      GET  /docs      the API described for scripts (offline too); /openapi.json

    For example: curl -F file=@photo.jpg http://127.0.0.1:8000/predict
    \f
    An image of more pixels than objrec reads (89,478,485, or the environment's OBJREC_MAX_PIXELS)
    or than --max-pixels gets a 413. The model answers a sample photo before the server is up (the
    first upload is as fast as the next); one trained again into RUN is served seconds later."""
    refuse_unknown_conflict(threshold, no_unknown)
    max_upload_bytes, origins = checked_settings(workers, max_upload_mib, max_pixels, cors_origins)
    settings, device = server_settings(allowed_hosts, root_path), served_on(run, device, host, port)
    serve_until_stopped(
        *(run, host, port, workers, runtime),
        **StartLines(run, host, cors_words(origins)).callbacks(),
        threshold=threshold,
        unknown=not no_unknown,
        device=device,
        max_upload_bytes=max_upload_bytes,
        max_pixels=max_pixels,
        cors_origins=origins,
        **settings,
    )


def serve_until_stopped(run: Path, *args: Any, **kwargs: Any) -> None:
    """``objrec.serve.server.serve`` of RUN with ``args`` and ``kwargs``, its libraries (FastAPI,
    PyTorch) loaded first, shown; then, stopped by Ctrl-C or SIGTERM, a last line that says so
    (it printed none, its log the last thing on the terminal), and what the server did with the
    uploads it was sent, those refused apart from those answered (all its processes')."""
    with (reporter := RichReporter()).loading():
        from objrec.serve.server import serve as run_serve
    counts = run_serve(run, *args, **{**kwargs, "reporter": reporter})
    CTRL_C.catch_up()  # the Ctrl-C uvicorn raised again is replied to before the last line
    done = f": {counts.words()}" if counts is not None else ""
    err.print(f"stopped serving {shown(run)}{done}", markup=False, highlight=False)


def served_on(run: Path, device: str, host: str, port: int) -> str:
    """The device ``serve`` runs the model on: its --device as spelt, then RUN as a run holding a
    model (not one cut short), then --host and --port as an address it can listen on (not busy,
    of this machine): each refused in one sentence (exit 1) at once, not after the seconds of
    FastAPI's and PyTorch's imports. The usage errors (exit 2) come before, as predict's come
    before its own."""
    device = require_device(device)
    refuse_cut_short(run)  # a copy that stopped part way: the damage said at once
    bind_socket(host, port).close()  # the library binds it again, before the model loads
    return device


def cors_words(origins: list[str]) -> str | None:
    """What ``serve`` says at start of the web pages whose JavaScript may call it (None: no
    --cors-origin, and nothing said)."""
    if not origins:
        return None
    if origins == ["*"]:
        return "web pages of any website may call this server and read its answers (CORS: *)"
    return f"web pages of {', '.join(origins)} may call this server and read its answers (CORS)"


def checked_settings(
    workers: int, max_upload_mib: float, max_pixels: int | None, cors_origins: tuple[str, ...]
) -> tuple[int, list[str]]:
    """``serve``'s --workers, --max-upload-mib, --max-pixels and --cors-origin, as the library
    checks them, refused as usage errors naming the option (exit 2, as click's own) before the
    model loads; the upload limit in bytes and the origins as the browser sends them. A bad
    ``OBJREC_MAX_PIXELS`` is the environment's error (exit 1)."""
    from objrec.images import pixel_limit
    from objrec.serve.settings import (
        allowed_origins,
        check_workers,
        upload_limit_bytes,
        upload_pixel_limit,
    )

    from_options(check_workers, workers)
    max_upload_bytes = from_options(upload_limit_bytes, max_upload_mib)
    pixel_limit()  # the environment's limit, before the option is checked against it
    from_options(upload_pixel_limit, max_pixels)
    return max_upload_bytes, from_options(allowed_origins, cors_origins)


class ServerSettings(TypedDict):
    """:func:`server_settings`, by ``serve``'s keyword."""

    allowed_hosts: list[str]
    root_path: str
    worker_logging: dict[str, Any]


def server_settings(allowed_hosts: tuple[str, ...], root_path: str) -> ServerSettings:
    """``serve``'s settings of the server around the model: its --allowed-host names and
    --root-path as the library checks them, a bad one refused as a usage error naming the option
    (exit 2) before the model loads, and how the workers log (``worker_logging``)."""
    from objrec.serve.settings import allowed_host, proxy_prefix

    return ServerSettings(
        allowed_hosts=[from_options(allowed_host, name) for name in allowed_hosts],
        root_path=from_options(proxy_prefix, root_path),
        worker_logging=show_server_events(),
    )


class StartLines:
    """What ``serve`` prints once it answers: where to open it (:func:`serving_text`), then what
    runs the model and why, told when the model has loaded, and the CORS origins
    (:func:`cors_words`)."""

    def __init__(self, run: Path, host: str, cors: str | None = None) -> None:
        self.run, self.host, self.cors = run, host, [cors] if cors else []
        self.runs: list[str] = []

    def callbacks(self) -> dict[str, Any]:
        """``serve``'s ``on_ready`` and ``on_loaded``: these lines."""
        return {"on_ready": self.ready, "on_loaded": self.loaded}

    def loaded(self, runs: str, why: str) -> None:
        """What runs the model and why, the kept threshold's line in serve's terms (--threshold).
        Where ``runs`` names OpenVINO, the why says so once: "running the int8 body in OpenVINO,
        the head in PyTorch: this run's int8 network runs in OpenVINO whichever runtime ..."."""
        from objrec.serve.model import IN_OPENVINO_WHY

        said = f"this run's int8 network runs in OpenVINO {IN_OPENVINO_WHY}"
        if "in OpenVINO" in runs and why.startswith(said):
            why = IN_OPENVINO_WHY + why.removeprefix(said)
        self.runs.append(in_cli_terms(f"running {runs}: {why}"))

    def ready(self, url: str) -> None:
        text = "\n".join([serving_text(self.run, self.host, url), *self.runs, *self.cors])
        err.print(text, markup=False, highlight=False)


def serving_text(run: Path, host: str, url: str) -> str:
    """What ``serve`` says once it answers at ``url``: the address to open, or, bound to every
    address (``--host 0.0.0.0``), the one for this machine and those for other devices, since
    no browser opens http://0.0.0.0:8000/."""
    from objrec.serve.address import urls_to_open

    here, others = urls_to_open(host, urlsplit(url).port or 0)
    if not others and here == url:
        return f"serving {shown(run)} on {url} (Ctrl-C stops)"
    lines = [f"serving {shown(run)} on every address of this machine (Ctrl-C stops):"]
    lines.append(f"  {here} on this machine")
    lines += [f"  {u} from a phone or another computer on the same network" for u in others]
    if not others:
        lines.append("  (no network address found: other devices need this machine's address)")
    return "\n".join(lines)
