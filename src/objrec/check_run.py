"""``check`` of a run folder: is each file ``train`` and ``evaluate`` wrote there still what they
wrote, and do the run's records describe its model?

Each file is read as the commands that use it read it: the model (its SHA-256, its weights fitting
its backbone, loaded in PyTorch only where its seal cannot vouch for them: ``_fits_its_backbone``),
the training state a resume continues from (its SHA-256), the kept threshold (its own digest, the
model it was kept for), the records beside them (``config.json``, ``summary.json``,
``seen_digests.csv``) against the model, and the run's export (``objrec export RUN``: the model
it was made from, its files' SHA-256 as its sidecar records them). Nothing is written. A problem
is *unusable* (a command refuses the file, a file is not whole, or the record describes another
model) or a note. A run of objrec's own bodies, its files sealed, is checked without PyTorch.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from objrec import __version__
from objrec.backbones import builds_on_meta
from objrec.check import Problem
from objrec.class_record import classes_record
from objrec.errors import ObjrecError
from objrec.evaluation_metrics import read_record
from objrec.kept import EDITED, KeptThreshold, export_answers_other, kept_path, read_kept
from objrec.leakage import seen_record
from objrec.manifest import sha256_file
from objrec.meta import RunMeta
from objrec.model_file import (
    STATE_DAMAGED,
    Damaged,
    checkpoint_bytes,
    checkpoint_meta,
    content_digest,
    has_objrec_header,
    header_of,
    is_sealed,
    model_digest,
    seal_at,
    training_progress,
)
from objrec.outputs import (
    FILES_SHA256,
    default_export_path,
    holds_evaluation,
    is_plain_file,
    script_path,
)
from objrec.progress import Reporter, or_silent
from objrec.run_files import (
    BEST,
    CLASSES_RECORD,
    KEPT_NAME,
    LAST,
    RUN_RECORDS,
    SEEN_RECORD,
    SUMMARY,
)
from objrec.run_place import (
    RUN_AGAIN,
    damaged_record,
    finished_in,
    holds_run,
    json_record,
    status_of,
)
from objrec.words import plural, some_of

log = logging.getLogger(__name__)

RECORDS = RUN_RECORDS
"""The records every run writes beside its model."""
CONFIG = RECORDS[0]


@dataclass
class RunCheck:
    """What ``check`` found in a run folder."""

    run: Path
    status: str
    """``finished``, ``interrupted`` (it can be resumed), ``unfinished`` (it cannot: a model
    without a summary of it) or ``none`` (no model or training state objrec can read):
    ``run_place.run_status``."""
    classes: list[str] = field(default_factory=list)
    """The model's classes in label order; empty when it cannot be read."""
    backbone: str | None = None
    trained_on: str | None = None
    """The split folder the run's training state says it trains on (``run_files.trained_on``), for
    the resume command said; None where there is none or it does not say."""
    intact: list[str] = field(default_factory=list)
    """The files whose SHA-256 was checked and matched."""
    problems: list[Problem] = field(default_factory=list)

    def note(self, path: Path, kind: str, message: str) -> None:
        """Record a problem that leaves the run usable."""
        self.problems.append(Problem(str(path), kind, message, False))

    @property
    def unusable(self) -> list[Problem]:
        return [p for p in self.problems if p.unusable]

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` answer (docs/json.md): each path relative to ``run``, as the text
        names them."""
        problems = [
            {**p.__dict__, "path": Path(p.path).relative_to(self.run).as_posix()}
            for p in self.problems
        ]
        for problem in problems:
            del problem["files"], problem["without_image"]
        return {
            "run": str(self.run),
            "status": self.status,
            "n_classes": len(self.classes) if self.classes else None,
            "backbone": self.backbone,
            "intact": self.intact,
            "unusable": len(self.unusable),
            "problems": problems,
        }


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a run: a model or training state with objrec's header
    (``run_place.holds_run``), or a file of those names beside a run's records or alone, with no
    sub-folder (one whose header is damaged is a run's still, for ``check`` to say so: a damaged
    model left alone was checked as photos, "no class sub-folders"). A folder of class folders
    beside a model file of those names (a downloaded one) is checked as the photos it holds."""
    folder = Path(folder)  # by names first: a run's files, read by its check, are not opened
    if not any((folder / name).is_file() for name in (BEST, LAST)):
        return False
    records = any((folder / name).is_file() for name in RECORDS)
    return records or holds_run(folder) or not any(p.is_dir() for p in folder.iterdir())


def check_run(run: Path, reporter: Reporter | None = None) -> RunCheck:
    """Read every file of the run folder ``run`` as the commands that use it do, and list what
    is damaged, unreadable or disagrees with the model, and what is only worth a note;
    ``reporter`` shows the model and the training state read (None: nothing is shown)."""
    run = Path(run)
    result = RunCheck(run, "none")
    summary = json_record(run / SUMMARY)  # read once: the run's status, its state's, its own
    state = (run / LAST).is_file()
    what = "reading the model and training state" if state else "reading the model"
    with or_silent(reporter).task(what, 1 + state) as advance:
        meta, model = _check_model(run, result)
        advance(1)
        training = _check_state(run, meta, result, summary)
        advance(int(state))
    held = has_objrec_header(training) or has_objrec_header(model)  # run_place.run_status's
    digest = meta.digest if meta is not None else None
    result.status = status_of(held, has_objrec_header(training), summary, digest)
    if meta is not None:  # each record compared with the model checked (its digest, once read)
        kept = _check_kept(run, result, meta.digest)
        _check_config(run, meta, result)
        _check_summary(run, meta, result, summary)
        _check_records(run, result)
        _check_evaluations(run, result, meta.digest)
        _check_export(run, result, kept, meta.digest)
    log.info("checked %s: %s", run, plural(len(result.unusable), "unusable file"))
    return result


def _check_model(run: Path, result: RunCheck) -> tuple[RunMeta | None, bytes]:
    """The model, loaded as ``predict`` loads it (its SHA-256 checked): its metadata, or None
    when there is none or it is refused, and the bytes read (b"": none)."""
    path, data = run / BEST, b""
    if not path.is_file():
        if (run / LAST).is_file():
            message = "no model yet: the run stopped before its model was written"
            result.note(path, "no_model", f"{message}; continue it with `resume=True`")
        else:
            result.problems.append(Problem(str(path), "no_model", "no model file", True))
        return None, data
    try:  # read once: its seal, its metadata and (where built) its tensors are of those bytes
        data = checkpoint_bytes(path)
        meta = checkpoint_meta(path, header_of(path, data), content_digest(data))
        sealed = seal_at(data) is not None
        if not vouched_for(sealed, meta):
            _fits_its_backbone(path, data, meta)
    except Damaged as exc:
        result.problems.append(Problem(str(path), "damaged", str(exc), True))
        return None, data
    except ObjrecError as exc:
        result.problems.append(Problem(str(path), "unreadable", str(exc), True))
        return None, data
    _note_sealed(path, "model", result, sealed)
    result.classes, result.backbone = list(meta.classes), meta.backbone
    return meta, data


def vouched_for(sealed: bool, meta: RunMeta) -> bool:
    """Whether the model file of ``meta`` holds tensors saved from the architecture this objrec
    builds for its backbone, without building it: ``sealed`` (its bytes as written), of
    one of objrec's own bodies (:func:`backbones.builds_on_meta`) and written by this version of
    objrec, whose pinned body code is that of the architecture. A model another objrec wrote
    (``meta.objrec_version``; none before session 47) is loaded, as another version's body may
    differ."""
    return sealed and builds_on_meta(meta.backbone) and meta.objrec_version == __version__


def _fits_its_backbone(path: Path, data: bytes, meta: RunMeta) -> None:
    """Load the model ``path`` (its bytes ``data``, read already, and ``meta``) as ``predict``
    does (PyTorch), so that weights that do not fit the
    architecture this objrec builds for its backbone are refused as they would be. Only for a
    model whose seal cannot vouch for that, or a torchvision or timm body: a sealed file of one
    of objrec's own bodies (:func:`backbones.builds_on_meta`, the default among them) holds the
    tensors ``train`` saved from the architecture it builds, byte for byte, which ``check RUN``
    reads without PyTorch (seconds); torchvision's or timm's architecture may differ in another
    version of theirs."""
    from objrec.checkpoint import load_model, tensors_of

    load_model(path, (tensors_of(path, data), meta))


def _note_sealed(path: Path, what: str, result: RunCheck, sealed: bool | None = None) -> None:
    """``path``, read whole already, as intact, or noted as one holding no digest to check
    (``sealed``: whether it holds one, as read; None: its header is read for it)."""
    if is_sealed(path) if sealed is None else sealed:
        result.intact.append(path.name)
        return
    message = (
        f"a {what} written before objrec recorded a file's SHA-256 in it (5 December 2026): a "
        "changed byte of it cannot be found"
    )
    result.note(path, "no_digest", message)


def _check_state(
    run: Path, meta: RunMeta | None, result: RunCheck, summary: dict[str, Any] | str | None
) -> bytes:
    """The training state a resume continues from, read as a resume reads it (its SHA-256
    checked), and whether it is the run's; a run whose ``summary`` (:func:`json_record`) says
    it is unfinished without one cannot be resumed. Returns the bytes read (b"": none)."""
    path, data = run / LAST, b""
    if not path.is_file():
        if meta is not None and finished_in(summary) is False:  # damaged: noted as such
            message = "the run is unfinished and its training state is gone: it cannot be resumed"
            result.note(path, "unfinished", f"{message}; {RUN_AGAIN}")
        return data
    try:
        data = checkpoint_bytes(path, STATE_DAMAGED)
        state_meta, progress = training_progress(path, header_of(path, data, STATE_DAMAGED))
    except ObjrecError as exc:
        kind = "damaged" if isinstance(exc, Damaged) else "unreadable"
        result.problems.append(Problem(str(path), kind, str(exc), True))
        return data
    _note_sealed(path, "training state", result, seal_at(data) is not None)
    result.trained_on = state_meta.data_dir
    if not (run / BEST).is_file():
        return data  # the no_model note says how to continue the run; this one would name it
    forced = finished_in(summary) is True  # run_place.replaces_a_finished_run, of what was read
    if meta is not None and not forced and list(state_meta.classes) != list(meta.classes):
        message = "its classes are not the model's: it is another run's training state"
        result.problems.append(Problem(str(path), "disagrees", message, True))
    else:
        result.note(path, "unfinished", unfinished_words(progress.last_epoch, forced))
    return data


def unfinished_words(epoch: int, forced: bool) -> str:
    """What a run's training state says of it: stopped after ``epoch``, a forced retrain over a
    finished run (``forced``: its model is still that run's) or the run itself (its model the
    best so far, not calibrated)."""
    if forced:
        return (
            f"a forced retrain stopped after epoch {epoch}, before its model was written (the "
            "model is still the finished run's): continue it with `resume=True`"
        )
    return (
        f"the run stopped after epoch {epoch}: its model is the best so far, not calibrated, "
        "with no unknown threshold of its own; continue it with `resume=True`"
    )


def _check_kept(run: Path, result: RunCheck, model: str | None) -> KeptThreshold | None:
    """The kept threshold, read as ``predict`` reads it: refused, kept for another model than
    the one checked (digest ``model``), changed since it was kept, or holding no digest. Returns
    it (None: none, or refused), for the export's check, which reads it no second time."""
    try:
        kept = read_kept(run, warn=False, model=model)
    except ObjrecError as exc:
        result.problems.append(Problem(str(run / KEPT_NAME), "unreadable", str(exc), True))
        return None
    if kept is None:
        return None
    if not kept.current:
        result.note(kept.path, "other_model", kept.words())
    elif kept.edited and not kept.sealed:
        message = (
            f"edited by hand (its sha256 line removed): unknown below {kept.threshold!r} is used, "
            "as it reads"
        )
        result.note(kept.path, "edited", message)
    elif kept.edited:
        result.note(kept.path, "edited", EDITED.format(path=kept.path, threshold=kept.threshold))
    elif not kept.sealed:
        message = "kept before objrec recorded its SHA-256 (5 December 2026): a change is unseen"
        result.note(kept.path, "no_digest", message)
    else:
        result.intact.append(kept.path.name)
    return kept


MISSING_RECORDS = {
    CONFIG: "predict, evaluate, report and export read the settings the model file carries); "
    "lost are the settings a share of the run carries, and the cache folder train was given, so "
    "evaluate looks for the run's images in the default one: restore it from a copy of the run "
    "if you have one",
    SUMMARY: "predict, evaluate and export read the model file alone); the run is unfinished (a "
    "train stopped as it put the run in place, which writes the summary last): lost is how "
    "training went (its times in report, its scores in a share's model card), and Python's "
    f"load_run refuses the run: restore it from a copy of the run if you have one, or {RUN_AGAIN}",
}
"""What a run without each of its JSON records loses, and what to do: "every run writes it
beside its model" said neither, nor whether the run could still be used."""


def _read_json_record(
    path: Path, result: RunCheck, record: dict[str, Any] | str | None = None
) -> dict[str, Any] | None:
    """The JSON object in the run's record ``path`` (``record``: :func:`json_record`'s of it,
    where read already); None, noted, when it is missing or is none."""
    record = json_record(path) if record is None else record
    if isinstance(record, dict):
        return record
    if record is None:
        result.note(path, "missing", f"not there (a note: {MISSING_RECORDS[path.name]}")
    else:
        result.problems.append(Problem(str(path), "unreadable", damaged_record(path, record), True))
    return None


def _check_config(run: Path, meta: RunMeta, result: RunCheck) -> None:
    """``config.json`` against the settings the model file carries (each setting the file
    names: one written before a setting existed lacks it)."""
    config = _read_json_record(run / CONFIG, result)
    if config is None or meta.train_config is None:
        return
    model = json.loads(json.dumps(meta.train_config.to_dict()))
    keys = [key for key in config if key in model and config[key] != model[key]]
    if keys:
        other = [f"{key} {config[key]!r} (the model's {model[key]!r})" for key in keys]
        message = f"says other settings than the model file carries: {some_of(other, quote=False)}"
        result.problems.append(Problem(str(run / CONFIG), "disagrees", message, True))


def _check_summary(
    run: Path, meta: RunMeta, result: RunCheck, record: dict[str, Any] | str | None
) -> None:
    """``summary.json``'s classes, best epoch and model file's digest (``record``, read already:
    :func:`json_record`; a summary written before it named the digest has none) against the
    model's."""
    summary = _read_json_record(run / SUMMARY, result, record)
    if summary is None:
        return
    if "n_classes" not in summary and "classes" in summary:  # written before 7 December 2026
        summary = {**summary, "n_classes": summary["classes"]}
    model: dict[str, Any] = {"n_classes": len(meta.classes), "best_epoch": meta.best_epoch}
    if "model_digest" in summary:
        model["model_digest"] = meta.digest
    other = [
        f"{key} {summary.get(key)!r}, the model's {value!r}"
        for key, value in model.items()
        if value is not None and summary.get(key) != value
    ]
    if other:
        message = f"describes another model: {', '.join(other)}"
        result.problems.append(Problem(str(run / SUMMARY), "disagrees", message, True))


IMAGE_RECORDS: tuple[tuple[str, str], ...] = (
    (
        SEEN_RECORD,
        "evaluate cannot tell which of the images it scores the run trained or validated on",
    ),
    (
        CLASSES_RECORD,
        "an `evaluate` of a later run against this one cannot follow its classes renamed, "
        "merged or split since",
    ),
)
"""The run's records of its images, and what is lost without them."""


def _check_records(run: Path, result: RunCheck) -> None:
    """``seen_digests.csv``, which ``evaluate``'s leak check reads, and ``image_classes.csv``,
    which ``evaluate --against`` reads (a run of an older objrec has none: not noted)."""
    for (name, why), read in zip(IMAGE_RECORDS, (seen_record, classes_record), strict=True):
        try:
            read(run / name)
        except FileNotFoundError:
            if name == SEEN_RECORD:
                result.note(run / name, "missing", f"not there: {why}")
        except (OSError, ValueError, csv.Error) as exc:
            result.problems.append(Problem(str(run / name), "unreadable", f"{exc}: {why}", True))


def _check_evaluations(run: Path, result: RunCheck, model: str | None) -> None:
    """Each evaluation in the run (an ``eval-*`` folder of ``evaluate``'s) made with another model
    than the one checked (digest ``model``: a model copied in since), by the model digest it
    records."""
    folders = [f for f in sorted(run.glob("eval-*")) if f.is_dir() and holds_evaluation(f)]
    digest = (model or model_digest(run / BEST)) if folders else ""
    for folder in folders:
        record = read_record(folder)
        if record is not None and record.model_digest and record.model_digest != digest:
            message = (
                "an evaluation of another model than the run's now (its metrics.json names another "
                "model file's content digest): report evaluates again rather than use it, and "
                "share's card leaves it out"
            )
            result.note(folder, "other_model", message)


AGAIN = "export it again with `export_model(run, force=True)`"
"""What ``check`` says to do of an export not of the run's model now, or not whole."""
NOT_TOLD = {
    "model_digest": ("the model file's content digest", "whether it is of this model"),
    FILES_SHA256: ("its files' SHA-256", "whether its files are whole"),
}
"""What an export's sidecar records for ``check``, and what a sidecar without it leaves untold."""


def _check_export(
    run: Path, result: RunCheck, kept: KeptThreshold | None, model: str | None
) -> None:
    """The run's export (``outputs.default_export_path``: ``model.onnx``, its sidecar
    ``model.json`` and its script), read as ``share --onnx`` reads it: whether its sidecar names
    the model checked (digest ``model``), and whether each of its files is there with the SHA-256
    the sidecar records of it. An export made before those were recorded is noted, not refused."""
    graph = default_export_path(run)
    sidecar, script = graph.with_suffix(".json"), script_path(graph)
    if not any(is_plain_file(p) for p in (graph, sidecar, script)):
        return
    record = _export_record(sidecar, result)
    if record is None:
        return
    made = record.get("model_digest")
    if made and made != (model or model_digest(run / BEST)):
        message = (
            "an export of another model than the run's now (its model_digest names another model "
            "file's SHA-256: a retrain since): its files answer as that model did, and a share "
            f"with the export makes it again rather than copy it; {AGAIN}"
        )
        result.note(sidecar, "other_model", message)
    else:
        _check_export_threshold(run, sidecar, record, result, kept)
    recorded = record.get(FILES_SHA256)
    recorded = recorded if isinstance(recorded, dict) else {}
    digests = {k: v for k, v in recorded.items() if is_file_name(k)}
    for name in dict.fromkeys([graph.name, script.name, *digests]):
        _check_export_file(run / name, sidecar, digests.get(name), result)
    untold = [what for key, what in NOT_TOLD.items() if not record.get(key)]
    if untold:
        message = (
            f"an export made before objrec recorded {' and '.join(w[0] for w in untold)} in its "
            f"sidecar (5 December 2026): check cannot tell {' or '.join(w[1] for w in untold)}; "
            f"{AGAIN}"
        )
        result.note(sidecar, "no_digest", message)


SCRIPT_AGAIN = "`export_model(run, force=True)` would write objrec's again"


def _note_script(script: Path, changed: bool, result: RunCheck) -> None:
    """The export's script ``changed`` since it was written (edited: it is the user's to adapt),
    or gone (the graph is used from the user's own code): noted, with what ``force`` would do."""
    if changed:
        message = (
            f"changed since it was exported (its bytes no longer match the SHA-256 its sidecar "
            f"recorded): edited, or a bad copy; {SCRIPT_AGAIN}, your changes lost"
        )
        result.note(script, "edited", message)
    else:
        message = (
            "not there: the export's script, which its graph and sidecar do not need (used from "
            f"code of your own); {SCRIPT_AGAIN}"
        )
        result.note(script, "missing", message)


def is_file_name(name: str) -> bool:
    """Whether ``name``, recorded in a run's file, names a file of the run folder itself: never
    one elsewhere (``../x``, ``/etc/x``) for ``check`` to read, of a run from elsewhere."""
    return name not in ("", ".", "..") and name == Path(name).name


def _check_export_threshold(
    run: Path, sidecar: Path, record: dict[str, Any], result: RunCheck, kept: KeptThreshold | None
) -> None:
    """Whether the export answers "unknown" by the threshold the run uses now: a threshold kept
    since (``evaluate --keep-threshold``), or removed since, leaves the export on the one before
    until exported again (``kept.export_answers_other``, by value, as evaluate's note says it).
    One given to ``export`` by hand is the user's. ``kept``: as :func:`_check_kept` read it."""
    if kept is None and kept_path(run).is_file():  # refused: said of threshold.json already
        return
    written = export_answers_other(run, record, kept=kept)
    if written is None:
        return
    if kept is not None and kept.current:
        why = f"not below {kept.threshold!r}, the threshold kept with the run since"
    else:
        why = "the threshold the run kept then, which it no longer keeps (it uses its own now)"
    message = f"the export answers unknown below {written!r}, {why}; {AGAIN}"
    result.note(sidecar, "other_threshold", message)


def _export_record(sidecar: Path, result: RunCheck) -> dict[str, Any] | None:
    """The export's sidecar as JSON; None, with the problem, where it is gone or damaged, and
    where it is no sidecar of objrec's (no ``objrec_version``: a file of the user's)."""
    if not is_plain_file(sidecar):
        message = (
            "not there, though the export's graph or script is: its sidecar, which its script "
            f"reads (the classes, how to prepare a photo, the threshold), is gone; {AGAIN}"
        )
        result.problems.append(Problem(str(sidecar), "missing", message, True))
        return None
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        message = f"the export's sidecar is damaged ({exc}): remove it, then {AGAIN}"
        result.problems.append(Problem(str(sidecar), "unreadable", message, True))
        return None
    return record if isinstance(record, dict) and record.get("objrec_version") else None


def _check_export_file(path: Path, sidecar: Path, recorded: str | None, result: RunCheck) -> None:
    """One file of the export: there, and with the SHA-256 its ``sidecar`` ``recorded`` (None:
    none recorded, as before 5 December 2026). The script is the user's to adapt, and
    ``model.onnx`` runs without it: a script changed or gone is a note (:func:`_note_script`)."""
    if path.name in (BEST, LAST, sidecar.name):  # a run's own file, not the export's
        return
    changed = recorded is not None and is_plain_file(path) and sha256_file(path) != recorded
    if path == script_path(sidecar.with_suffix(".onnx")) and (changed or not is_plain_file(path)):
        _note_script(path, changed, result)
    elif not is_plain_file(path):
        message = f"not there, though {sidecar.name} of the export is: the export is not whole"
        result.problems.append(Problem(str(path), "missing", f"{message}; {AGAIN}", True))
    elif changed:
        message = (
            f"{path} is damaged: its bytes no longer match the SHA-256 that {sidecar.name} "
            f"recorded when it was exported (a changed byte, a bad copy or disk); {AGAIN}"
        )
        result.problems.append(Problem(str(path), "damaged", message, True))
    elif recorded is not None:
        result.intact.append(path.name)
