"""``export``: the whole model (body + head, softmax optional) as ONNX, checked against PyTorch.

Beside ``model.onnx`` goes ``model.json``: the class names in output order and the preprocessing a
caller must apply (resize the short side, centre crop, RGB scaled to [0, 1], normalise, NCHW).
An export whose ONNX Runtime output differs from PyTorch's by more than ``TOLERANCE`` (max absolute
difference of probabilities) is deleted and reported as an error. The graph and that check are
``export.graph``'s, the check on real photos ``export.check``'s, the sidecar's content
``export.sidecar``'s; this module exports, writes and reuses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from objrec import __version__, listing
from objrec.checkpoint import load_model, model_digest, warn_if_unfinished
from objrec.config import CHECK_PHOTOS, require_number
from objrec.errors import ObjrecError
from objrec.export.check import Agreement, check_photos, photo_agreement, warn_if_apart
from objrec.export.graph import ExportSettings, write_checked, write_staged
from objrec.export.names import export_names, export_path, refuse_early
from objrec.images import IMAGE_ERRORS, MAX_PIXELS
from objrec.kept import KeptThreshold, threshold_source, usable_kept
from objrec.manifest import sha256_file
from objrec.meta import Calibration, RunMeta
from objrec.model import Classifier
from objrec.outputs import (
    FILES_SHA256,
    default_export_path,
    is_export_script,
    is_export_sidecar,
    is_plain_file,
    json_dict,
    new_folders,
    script_path,
    staged_files,
    writing_outputs,
)
from objrec.paths import PathGiven, as_path
from objrec.progress import Reporter, or_silent
from objrec.renames import renamed_arguments, renamed_attribute, warn_renamed
from objrec.runtime import onnxruntime_available
from objrec.thresholds import applied_score, require_threshold_for

FORMATS = ("onnx",)


@dataclass
class ExportResult:
    """What ``export_model`` wrote and how the file checked, each named as ``export --json``'s
    key (before 7 December 2026: ``path``, ``max_diff`` and ``answers``, a list, still read with
    a DeprecationWarning)."""

    model: Path
    """The ONNX file written."""
    sidecar: Path
    max_abs_diff: float
    """The file against the same graph in PyTorch (ONNX Runtime for an int8 body), on noise."""
    answers_checked: dict[str, Agreement] = field(default_factory=dict)
    """The file against objrec's answers on real photos, by runtime: ``onnxruntime``, then
    ``openvino`` for a body OpenVINO ran."""
    kept: KeptThreshold | None = None
    """The run's kept threshold, when there is one (the sidecar's unless ``current`` is False)."""
    script: Path | None = None
    """The script beside the model that runs it without objrec (:func:`script_path`)."""

    path = renamed_attribute("ExportResult", "path", "model")
    max_diff = renamed_attribute("ExportResult", "max_diff", "max_abs_diff")

    @property
    def answers(self) -> list[Agreement]:
        """:attr:`answers_checked`'s agreements as a list, by the earlier name, warning."""
        warn_renamed("ExportResult.answers", "ExportResult.answers_checked (a dict by runtime)")
        return list(self.answers_checked.values())

    @property
    def unknown_threshold_kept_on(self) -> str | None:
        """When the sidecar's threshold was kept with the run (``evaluate --keep-threshold``),
        as ``export --json`` and ``predict`` say; None: the run's own, or one given."""
        kept = self.kept
        return kept.kept_on if kept is not None and kept.current else None

    @property
    def max_prob_diff(self) -> float | None:
        """The largest difference of a probability from objrec's answers on the real photos
        checked, in any runtime (``answers_checked`` has each's): what an app running the file
        sees, where ``max_abs_diff``, on noise, is the graph's alone (8.9e-08 beside 0.015 in
        ONNX Runtime on a newcomer's int8 run). None when no photo was checked."""
        diffs = [a.max_prob_diff for a in self.answers_checked.values() if a.photos]
        return max(diffs) if diffs else None

    @property
    def top_class_changed(self) -> int:
        """The real photos whose top class the file changed in any runtime, each once (one
        changed in ONNX Runtime and in OpenVINO is one photo)."""
        checked = self.answers_checked.values()
        named = {photo for agreement in checked for photo in agreement.changed_photos}
        return max([len(named), *(a.top_class_changed for a in checked)])

    def __repr__(self) -> str:
        """One line, as the other results': the files written, then on the real photos how far
        the file's answers are from objrec's (:attr:`max_prob_diff`) and on how many its top
        class was not objrec's, in any runtime, then how far the graph is from PyTorch on noise
        (``answers_checked`` holds each runtime's :class:`Agreement`; the kept threshold's
        record made it several lines). The noise figure led, and read as "matches to 1e-7"
        where an app saw 0.015."""
        named = {"model": self.model, "sidecar": self.sidecar, "script": self.script}
        files = ", ".join(f"{k}={str(v)!r}" for k, v in named.items() if v is not None)
        photos = max((a.photos for a in self.answers_checked.values()), default=0)
        real = f", max_prob_diff={self.max_prob_diff:.2g}" if self.max_prob_diff is not None else ""
        return (
            f"ExportResult({files}, photos_checked={photos}{real}, "
            f"top_class_changed={self.top_class_changed}, max_abs_diff={self.max_abs_diff:.1e})"
        )


@renamed_arguments(fmt="format", photos="check_photos")
def export_model(
    run: PathGiven,
    out: PathGiven | None = None,
    format: str = "onnx",
    softmax: bool = True,
    force: bool = False,
    threshold: float | None = None,
    reporter: Reporter | None = None,
    check_photos: int = CHECK_PHOTOS,
) -> ExportResult:
    """Export the model of ``run`` to ``out`` (default :func:`default_export_path`) in ``format``
    and check it, on ``check_photos`` real photos (:func:`check_photos`), as ``export --format`` and
    ``--check-photos`` (``fmt`` and ``photos`` before 7 December 2026, still taken, warning);
    the sidecar's unknown threshold is ``threshold`` when given (on the run's score), else the
    one ``evaluate --keep-threshold`` kept for the run (``kept``), else the run's. ``reporter``
    shows the writing and the check on real photos (None: silent)."""
    photos = check_photos
    require_number(threshold, finite=True)
    if isinstance(photos, bool) or not isinstance(photos, int) or photos < 1:
        raise ObjrecError(f"`check_photos` must be a whole number of at least 1, not {photos!r}")
    if format not in FORMATS:
        raise ObjrecError(f"`format` must be one of {', '.join(FORMATS)}")
    require_onnxruntime()
    refuse_early(Path(run), as_path(out), force)  # a name refused at once, not after the loading
    reporter = or_silent(reporter)
    with reporter.task("loading the model", None):  # seconds: the checkpoint, torchvision
        model, meta = load_model(run)
    return export_loaded(
        Path(run),
        model,
        meta,
        as_path(out),
        reporter,
        softmax=softmax,
        threshold=threshold,
        force=force,
        photos=photos,
    )


def require_onnxruntime() -> None:
    """Refuse to export without ONNX Runtime, which checks the file written."""
    if not onnxruntime_available():
        raise ObjrecError("exporting needs onnxruntime: pip install onnxruntime")


def export_loaded(
    run: Path,
    model: Classifier,
    meta: RunMeta,
    out: Path | None = None,
    reporter: Reporter | None = None,
    *,
    softmax: bool = True,
    threshold: float | None = None,
    force: bool = False,
    photos: int = CHECK_PHOTOS,
) -> ExportResult:
    """:func:`export_model` of ``model`` and ``meta``, the model of ``run`` already read, whose
    digest ``meta.digest`` is: the threshold kept for it, and the sidecar names it. ``share``
    exports the model it read so, never the run's file read again, which a retrain may have
    replaced meanwhile."""
    require_onnxruntime()
    warn_if_unfinished(Path(run))
    path = export_path(run, out)
    sidecar, script = export_names(path, Path(run), meta.data_dir, force)
    score = (meta.calibration or Calibration()).unknown_score
    require_threshold_for(threshold, applied_score(score, model.familiarity))
    kept = usable_kept(run, threshold, model=meta.digest)
    kept_on = None
    if kept is not None and threshold_source(threshold, kept) == "kept":
        threshold, kept_on = kept.threshold, kept.kept_on  # else given, or the run's own (None)
    with (
        writing_outputs(path.parent),
        new_folders(path.parent),
        staged_files([path, sidecar, script]) as (*parts, script_part),
    ):
        script_part.write_text(script_text(path.name))
        checked = check_photos(meta, photos)
        settings = ExportSettings(
            softmax=softmax,
            threshold=threshold,
            kept_on=kept_on,
            digest=meta.digest,  # of the bytes loaded: the file may hold a retrain's model by now
        )
        result = export_checked(
            model, meta, path, settings, checked, reporter, parts, beside={script: script_part}
        )
    return replace(result, kept=kept, script=script)


def reusable_export(run: Path, model: str | None = None) -> list[Path] | None:
    """The three files of the export in ``run`` (``objrec export RUN``), where its sidecar says
    this objrec made it from the run's model of digest ``model`` (the one ``share`` read; None:
    the model file as it is now), as
    ``share --onnx`` exports it: probabilities, the run's threshold or the one kept now, and the
    graph and the script as written (their ``files_sha256``: a script the user edited, with a path
    of their machine perhaps, or a damaged graph is never shipped), the script the one this
    objrec writes (:func:`script_text`: an older objrec's may run the graph otherwise, its
    version number the same). Share copies them rather than export and check again (a minute on
    a CPU); None otherwise, and share exports afresh into its own folder, the run's files left as
    they are."""
    path = default_export_path(Path(run))
    sidecar, script = path.with_suffix(".json"), script_path(path)
    if not (is_plain_file(path) and is_export_sidecar(sidecar) and is_export_script(script)):
        return None
    written = json_dict(sidecar)
    unknown = written.get("unknown") or {}
    model = model or model_digest(Path(run))
    kept = usable_kept(run, None, model=model)
    same = (
        written.get("model_digest") == model
        and written.get("objrec_version") == __version__
        and written.get("temperature_applied") is True
        and not unknown.get("threshold_given")
        and unknown.get("threshold_kept_on") == (kept.kept_on if kept and kept.current else None)
    )
    if not (same and as_written(written, [path, script])):
        return None
    return [path, sidecar, script] if script.read_text("utf-8") == script_text(path.name) else None


def as_written(sidecar: Mapping[str, Any], paths: Sequence[Path]) -> bool:
    """Whether each of ``paths`` holds the bytes its export wrote, by the SHA-256 the ``sidecar``
    records (:data:`FILES_SHA256`; an export made before 5 December 2026 records none)."""
    recorded = sidecar.get(FILES_SHA256)
    if not isinstance(recorded, dict):
        return False
    return all(recorded.get(path.name) == sha256_file(path) for path in paths)


SCRIPT_MODEL = 'MODEL = "model.onnx"'
"""The line of ``export/script.py`` that names the model it runs, given the model's name."""
SCRIPT_MAX_PIXELS = re.compile(r"^MAX_PIXELS = [0-9_]+$", re.MULTILINE)
"""The line of ``export/script.py`` that holds its pixel limit, given objrec's own
(``images.MAX_PIXELS``): one limit, objrec's, wherever the script is copied."""
SCRIPT_ERRORS = re.compile(r"^ERRORS = \{\n(?:    .*\n)*\}$", re.MULTILINE)
"""The lines of ``export/script.py`` that hold its words for a photo it cannot read, given
objrec's own (``images.IMAGE_ERRORS``): the script says what ``predict`` says of a file."""
LEFT_OUT = ("SYSTEM_FOLDERS", "SYSTEM_FILES", "ZONE_MARK")
"""The names of ``listing``'s lists of what a folder's listing leaves out unsaid, which
``export/script.py`` holds lines of the same names for, given objrec's own: the script lists
a folder as ``predict`` does, warning of none of them (``Thumbs.db``)."""
SCRIPT_LEFT_OUT = re.compile(rf"^({'|'.join(LEFT_OUT)}) = .*$", re.MULTILINE)


def script_text(model_name: str) -> str:
    """``export/script.py``, the standalone script, naming ``model_name`` as the model beside it,
    its usage (``python model_infer.py``, ``import model_infer``) under the script's own name,
    objrec's pixel limit, its words for a photo it cannot read and its lists of the files a
    folder's listing leaves out (:data:`LEFT_OUT`) as its own."""
    template = (Path(__file__).parent / "script.py").read_text(encoding="utf-8")
    lines = (SCRIPT_MAX_PIXELS, SCRIPT_ERRORS)
    whole = SCRIPT_MODEL in template and all(line.search(template) for line in lines)
    if not whole or {found[1] for found in SCRIPT_LEFT_OUT.finditer(template)} != set(LEFT_OUT):
        raise ObjrecError(
            f"objrec's export/script.py lacks `{SCRIPT_MODEL}`, or its MAX_PIXELS, ERRORS, "
            f"{', '.join(LEFT_OUT)} lines: reinstall objrec"
        )
    template = SCRIPT_MAX_PIXELS.sub(f"MAX_PIXELS = {MAX_PIXELS:_}", template, count=1)
    template = SCRIPT_ERRORS.sub(lambda _: errors_lines(), template, count=1)
    template = SCRIPT_LEFT_OUT.sub(lambda found: left_out_line(found[1]), template)
    # the usage first: a model's own name may hold "model_infer" (model_inference.onnx)
    text = template.replace("model_infer", script_path(Path(model_name)).stem)
    return text.replace(SCRIPT_MODEL, f"MODEL = {json.dumps(model_name)}", 1)


def left_out_line(name: str) -> str:
    """``listing``'s list ``name`` (of :data:`LEFT_OUT`) as the script's line of that name."""
    value = getattr(listing, name)
    if isinstance(value, frozenset):
        return f"{name} = frozenset({{{', '.join(json.dumps(v) for v in sorted(value))}}})"
    return f"{name} = {json.dumps(value)}"


def errors_lines() -> str:
    """``images.IMAGE_ERRORS`` as the script's ``ERRORS`` (Python, one entry a line)."""
    entries = "".join(f"    {json.dumps(k)}: {json.dumps(v)},\n" for k, v in IMAGE_ERRORS.items())
    return f"ERRORS = {{\n{entries}}}"


def export_checked(
    model: Classifier,
    meta: RunMeta,
    path: Path,
    settings: ExportSettings = ExportSettings(),
    photos: Sequence[Path] = (),
    reporter: Reporter | None = None,
    parts: Sequence[Path] = (),
    beside: Mapping[Path, Path] | None = None,
) -> ExportResult:
    """The model written to ``path`` and checked, with its sidecar (``export.graph``'s
    ``write_checked``; with ``parts``, at those temporary names, for the caller to rename:
    ``write_staged``, which says what ``settings`` and ``beside`` are), its answers measured
    against objrec's own on ``photos`` (:func:`photo_agreement`; none: not measured), and a file
    whose answers are apart said so (:func:`warn_if_apart`); ``reporter`` shows each."""

    def on_photos(part: Path, confidence: dict[str, Any]) -> list[Agreement]:
        return photo_agreement(model, meta, part, settings.softmax, photos, reporter, confidence)

    check = on_photos if photos else None
    if parts:
        diff, answers = write_staged(model, meta, path, parts, settings, reporter, beside, check)
    else:
        diff, answers = write_checked(model, meta, path, settings, reporter, beside, check)
    if answers:
        warn_if_apart(answers)
    by_runtime = {agreement.runtime: agreement for agreement in answers}
    return ExportResult(path, path.with_suffix(".json"), diff, by_runtime)
