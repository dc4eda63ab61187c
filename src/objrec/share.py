"""A run made ready to send: ``share_run`` writes a folder (or a zip of it) holding what a
recipient needs to predict, evaluate and serve, a model card, and the SHA-256 of each file.

The run folder itself names the machine that made it (the data folder's absolute path in the
model file's header, ``summary.json``'s command line and folders, the evaluations' photos), so
the shared copy is written anew rather than copied: the model file with the same tensors and a
header without those paths, ``config.json`` and ``summary.json`` with every absolute path and
command line left out (``redacted`` says which), the kept threshold for the model file as
shared. No photo travels, and no file of the run is changed.

The run's model file is read once (:class:`ReadModel`): the kept threshold, the export and the
evaluations the card quotes are each of that model, by its digest, and a share whose other files
a retrain may have replaced meanwhile is refused (:func:`require_same_model`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import reprlib
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from objrec.card import CARD, CARD_MARK, SharedExport, write_card
from objrec.checkpoint import (
    load_model,
    read_model_state,
    save_model_sealed,
    warn_if_unfinished,
)
from objrec.errors import ObjrecError, ctrl_c_leaves, on_ctrl_c, stops_held
from objrec.file_index import DIGEST_CHARS, Looked, file_stamp, reads_as
from objrec.kept import read_kept, sealed
from objrec.meta import RunMeta
from objrec.model_file import (
    checkpoint_meta,
)
from objrec.outputs import new_folders, output_path, refuse_inside, temporary_folder
from objrec.progress import SILENT, Reporter
from objrec.run_files import BEST, KEPT_NAME, require_checkpoint_file
from objrec.run_place import (
    damaged_record,
    describes_another_model,
    mismatched_summary,
)
from objrec.words import plural

if TYPE_CHECKING:
    from objrec.export.check import Agreement

log = logging.getLogger(__name__)

MANIFEST = "SHA256SUMS"
ZIP_COMMENT = b"objrec share"
MISSING = {
    "config.json": "the run has none, so its training settings go without it",
    "seen_digests.csv": "the run has none, so the recipient's evaluate cannot tell the photos "
    "it trained on",
}
"""What a share without each of these files of the run loses, as it says in ``left_out`` (and
the card then names no ``config.json``)."""

COPIED = ("seen_digests.csv",)
"""Files of the run copied as they are: ``seen_digests.csv`` holds the training and validation
images' content digests, no names, so that ``evaluate`` warns a recipient of their photos the
run trained on."""
ABSOLUTE = re.compile(r"^(/|~/|[A-Za-z]:[\\/]|\\\\)")
"""A string that is a path of the machine: POSIX or home-relative, a Windows drive or share."""
PRIVATE_KEYS = frozenset({"command", "cwd", "left_out"})
"""Keys whose values are left out wherever they are: a command line names the user's folders
and files even when its paths are relative, and so does what a split left out (a split
record's ``left_out``: its unreadable files and pictures in two classes, by name)."""


Written = tuple[dict[str, str], list[str], list[str], list[str], list[str]]
"""What a share wrote, in :class:`ShareResult`'s order: files, redacted, evaluations, left_out,
stale."""
Checked = dict[str, "Agreement"]
"""The share's export's check as its sidecar records it, by runtime (none without ``onnx``)."""


@dataclass(frozen=True)
class ShareResult:
    """What ``share_run`` wrote."""

    out: Path
    """The folder, or the zip file."""
    files: dict[str, str]
    """Each file shared (its name in the folder) and its SHA-256."""
    redacted: list[str]
    """Each entry left out, as ``file: key.path`` (``summary.json: provenance.cwd``)."""
    evaluations: list[str] = field(default_factory=list)
    """The evaluations the card quotes (their folders' names in the run)."""
    left_out: list[str] = field(default_factory=list)
    """What the run holds that was not shared and why, one sentence each."""
    stale: list[str] = field(default_factory=list)
    """The evaluations of the model the card does not quote, their images changed since they
    were evaluated (their folders' names in the run)."""
    onnx: bool = False
    zipped: bool = False
    answers_checked: dict[str, Agreement] = field(default_factory=dict)
    """With ``onnx``, the export's check as its sidecar records it, by runtime
    (``ExportResult.answers_checked``): ``share`` says ONNX Runtime's gap as ``export`` does."""


@on_ctrl_c("nothing was written to {out}: run it again")
def share_run(
    run: Path,
    out: Path,
    force: bool = False,
    onnx: bool = False,
    zipped: bool = False,
    reporter: Reporter | None = None,
) -> ShareResult:
    """Write a copy of ``run`` to send into the new folder ``out`` (``zipped``: the zip file
    ``out``, ``.zip`` added when its name lacks it, holding that folder): the model with its
    calibration and kept threshold, ``config.json``, ``summary.json`` and ``seen_digests.csv``
    without the machine's paths, the model card ``README.md``, with ``onnx`` the exported model
    (``export``'s three files), and ``SHA256SUMS``. ``out`` must not exist, or be empty; with
    ``force`` an earlier share there is replaced (never a folder or file of anything else)."""
    reporter = reporter or SILENT
    run = Path(run)
    model_file = shared_run(run)
    warn_if_unfinished(run)
    out = share_path(out, zipped)
    refuse_out_inside(run, out)
    refuse_taken(out, force, zipped)
    earlier = inode(out)
    with ctrl_c_leaves(lambda: ctrl_c_words(out, earlier)), new_folders(out.parent):
        out.parent.mkdir(parents=True, exist_ok=True)
        result = write_in_place(run, model_file, out, onnx, zipped, reporter)
    files, checked = result
    return ShareResult(out, *files, onnx=onnx, zipped=zipped, answers_checked=checked)


def inode(path: Path) -> int | None:
    """The inode of ``path`` (not followed if a link), None when there is nothing there: a share
    moved in has a new one."""
    try:
        return path.lstat().st_ino
    except FileNotFoundError:
        return None


def ctrl_c_words(out: Path, earlier: int | None) -> str:
    """What a Ctrl-C left: the share in ``out`` whole, when it came as the share was moved in
    (held back until it was: :func:`put_in_place`), else nothing written and ``out`` as it was
    (``earlier``: its inode before)."""
    if inode(out) not in (None, earlier):
        return f"the share was written to {out}, whole, before the stop: nothing is left to do"
    kept = " (the earlier share there is as it was)" if earlier is not None else ""
    return f"nothing was written to {out}{kept}: run it again"


def write_in_place(
    run: Path, model_file: Path, out: Path, onnx: bool, zipped: bool, reporter: Reporter
) -> tuple[Written, Checked]:
    """Write the share in a temporary folder beside ``out``, then put it (or its zip) there."""
    with temporary_folder(out) as staging:
        folder = staging / (out.stem if zipped else out.name)
        folder.mkdir()
        result = write_share(run, model_file, folder, onnx, reporter)
        if zipped:
            zip_folder(folder, staging / "share.zip", reporter)
            os.replace(staging / "share.zip", out)
        else:
            put_in_place(folder, out, staging)
    return result


def shared_run(run: Path) -> Path:
    """The model file of the run folder ``run``; a checkpoint file or anything else is refused
    in a sentence: a run's kept threshold, summary and evaluations lie beside its model in its
    folder."""
    if run.is_file():
        raise ObjrecError(
            f"{run} is a file: give the run folder that holds it (share copies what lies beside "
            "the model too)"
        )
    return require_checkpoint_file(run)


def refuse_out_inside(run: Path, out: Path) -> None:
    """Refuse a share written inside the run it copies (``share RUN RUN/sub``), as ``split``
    refuses an output inside its source: the run would hold a copy of itself."""
    refuse_inside(out, run, what="run folder")


def share_path(out: Path, zipped: bool) -> Path:
    """``out`` checked (``outputs.output_path``), with ``.zip`` added for a zip lacking it."""
    out = output_path(Path(out))
    if zipped and out.suffix.lower() != ".zip":
        out = out.with_name(out.name + ".zip")
    return out


def refuse_taken(out: Path, force: bool, zipped: bool) -> None:
    """Refuse an ``out`` that exists (an empty folder aside), unless ``force`` and it is an
    earlier share of the same kind: ``share`` never writes over anything else."""
    if not os.path.lexists(out) or (
        out.is_dir() and not out.is_symlink() and not any(out.iterdir())
    ):
        return
    earlier = is_share_zip(out) if zipped else is_share_folder(out)
    if force and earlier:
        if not zipped:
            refuse_unlisted(out)
        return
    if earlier:
        raise ObjrecError(f"{out} holds an earlier share: pass `force=True` to replace it")
    kind = "file" if out.is_file() or out.is_symlink() else "folder"
    raise ObjrecError(
        f"{out} already exists and is no share of objrec's (a {kind} of yours?): choose another "
        "`out`; it is never written over, with `force=True` either"
    )


def refuse_unlisted(folder: Path) -> None:
    """Refuse to replace the earlier share in ``folder`` when it holds files its ``SHA256SUMS``
    does not list: put there since (notes, photos, an evaluation of the recipient's photos),
    they would go with it. ``force`` is about the earlier share, never about them."""
    listed = {MANIFEST} | {
        line.split("  ", 1)[1]
        for line in (folder / MANIFEST).read_text(encoding="utf-8").splitlines()
        if "  " in line
    }
    unlisted = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if (p.is_file() or p.is_symlink()) and p.relative_to(folder).as_posix() not in listed
    )
    if unlisted:
        them = "it" if len(unlisted) == 1 else "them"
        raise ObjrecError(
            f"{folder} holds {plural(len(unlisted), 'file')} the earlier share did not write, such "
            f"as {unlisted[0]} (its {MANIFEST} does not list {them}): `force=True` would delete "
            f"{them} with it: move {them} out first, or choose another `out`"
        )


def is_share_folder(folder: Path) -> bool:
    """Whether ``folder`` (not a link) holds a share written by ``share_run``: its manifest and
    a model card beginning with :data:`CARD_MARK`."""
    if folder.is_symlink() or not folder.is_dir() or not (folder / MANIFEST).is_file():
        return False
    try:
        with open(folder / CARD, encoding="utf-8") as f:
            return f.read(len(CARD_MARK)) == CARD_MARK
    except (OSError, UnicodeDecodeError):
        return False


def is_share_zip(path: Path) -> bool:
    """Whether ``path`` (not a link) is a zip file ``share_run`` wrote (its comment says so)."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.comment == ZIP_COMMENT
    except (OSError, zipfile.BadZipFile):
        return False


def put_in_place(folder: Path, out: Path, staging: Path) -> None:
    """Move the share written in ``folder`` to ``out``: an empty folder or an earlier share there
    is moved into ``staging`` first (removed with it when the share is in place), and back when
    the new one cannot be moved in: ``staging`` is removed whatever happens. Ctrl-C is held back
    meanwhile (:func:`objrec.errors.stops_held`): one between the two renames left the earlier
    share in ``staging``, removed with it, and no share at ``out``."""
    with stops_held():
        if not os.path.lexists(out):
            os.replace(folder, out)
            return
        earlier = staging / "earlier"
        os.replace(out, earlier)
        try:
            os.replace(folder, out)
        except BaseException:
            os.replace(earlier, out)
            raise


@dataclass(frozen=True)
class ReadModel:
    """The run's model as ``share`` read it, once (``checkpoint.read_model_state``): every part of
    the share is of this model, named by ``digest``, never of the file read again, which a
    ``train --force`` landing meanwhile replaces."""

    state: dict[str, Any]
    """Its tensors."""
    header: dict[str, Any]
    """Its metadata as written (the machine's paths and all)."""
    digest: str
    """The content digest of the bytes read (``checkpoint.model_digest``'s value)."""


def write_share(
    run: Path, model_file: Path, folder: Path, onnx: bool, reporter: Reporter
) -> tuple[Written, Checked]:
    """Write the share's files into ``folder``: the files, what was redacted, the evaluations
    quoted, what was left out and the evaluations not quoted as their images changed; and with
    ``onnx`` the export's check, as its sidecar records it (copied or made again)."""
    with reporter.task("writing the model without the machine's paths", None):
        # before the read: a file replaced after it differs
        stamp = Looked.now(model_file)
        model = ReadModel(*read_model_state(model_file))
        written = write_model(model, folder / BEST)
    shared, redacted = written.digest, [*written.redacted]
    redacted += write_json_redacted(run / "config.json", folder / "config.json")
    summary = write_json_redacted(
        run / "summary.json", folder / "summary.json", folder.name, (model.digest, shared)
    )
    redacted += summary
    left_out = write_kept(run, folder, model.digest, shared)
    for name in COPIED:
        if (run / name).is_file():
            shutil.copyfile(run / name, folder / name)
    left_out += [f"{name}: {why}" for name, why in MISSING.items() if not (run / name).is_file()]
    require_same_model(run, model_file, stamp, model.digest)
    refuse_another_models_summary(run, folder / "summary.json", shared)
    export = export_into(run, folder, model, written, reporter) if onnx else None
    evaluations, stale = write_card(
        run, folder, redacted, left_out, model.digest, written.meta, export
    )
    files = write_manifest(folder, {BEST: written.sha256})
    checked = dict(export.checked) if export is not None else {}
    return (files, redacted, evaluations, left_out, stale), checked


def require_same_model(run: Path, model_file: Path, stamp: Looked, digest: str) -> None:
    """Refuse a share once the run's files it copies are read, when ``model_file`` is no longer
    the file of content digest ``digest`` it was (``stamp``: taken before the model was read):
    a ``train --force`` landed meanwhile, which puts its ``config.json``, ``summary.json`` and
    ``seen_digests.csv`` in place with its model, so that those read may be its, beside the model
    read. The file's inode, size and modification time tell, without reading its megabytes again:
    train renames its model over the file, a new inode; a copy written into it changes its size
    or its time, but for one of the same size within the tick of the file clock it was changed
    in (a few milliseconds; 2 s on FAT), which the stamp of a file changed within a tick of
    the look cannot tell (``file_index.Looked.vouches``): such a file is hashed again. What
    follows (the export, the card) is of the model read, whatever lands."""
    if file_stamp(model_file) != stamp.stamp or not (
        stamp.vouches() or reads_as(model_file, digest)
    ):
        raise ObjrecError(
            f"{model_file} was replaced while share read {run} (a train landed in it): the share "
            "would hold one model beside another's settings and summary, so none was written: "
            "share the run again"
        )


def refuse_another_models_summary(run: Path, summary: Path, shared: str) -> None:
    """Refuse a run whose ``summary.json`` describes another model than the one shared (the
    share's ``summary``, which names the shared model file, digest ``shared``, where the run's
    named the model read): the card would quote that model's figures, and ``load_run`` refuses
    it too. Checked once the model is known to be the one read throughout
    (:func:`require_same_model`), so that a train landing meanwhile is said as such."""
    if summary.is_file() and describes_another_model(
        json.loads(summary.read_text(encoding="utf-8")), shared
    ):
        raise ObjrecError(mismatched_summary(run))


@dataclass(frozen=True)
class SharedModel:
    """The model file ``share`` wrote (:func:`write_model`), as written: named, exported and
    listed in ``SHA256SUMS`` from this, never read back."""

    meta: RunMeta
    """Its metadata, without the machine's paths (its ``digest`` of the bytes written)."""
    redacted: list[str]
    """The entries left out, as ``model.safetensors: key``."""
    sha256: str
    """The SHA-256 of its bytes (hex, whole)."""

    @property
    def digest(self) -> str:
        """Its content digest (``checkpoint.model_digest``'s value)."""
        return self.sha256[:DIGEST_CHARS]


def write_model(model: ReadModel, path: Path) -> SharedModel:
    """Write the ``model`` read to ``path``: the same tensors, its header without the data
    folder's path and the settings that name files of the machine (``--cache-dir``; ``--weights``
    keeps its file's name only)."""
    meta = copy.deepcopy(model.header)
    redacted = ["data_dir"] if meta.pop("data_dir", None) is not None else []
    config = meta.get("train_config")
    if isinstance(config, dict):
        redacted += [f"train_config.{key}" for key in redact_settings(config)]
    redacted += redact_paths(meta)
    whole = save_model_sealed(path, model.state, meta)
    written = checkpoint_meta(path, meta, whole[:DIGEST_CHARS])
    return SharedModel(written, [f"{BEST}: {key}" for key in redacted], whole)


def redact_settings(config: dict[str, Any]) -> list[str]:
    """Leave out, in place, the settings of ``config`` (a run's ``train_config``) that name files
    of the machine: ``cache_dir``, and ``weights`` but its file's name. Their keys."""
    redacted = []
    if config.get("cache_dir") is not None:
        config["cache_dir"] = None
        redacted.append("cache_dir")
    weights = config.get("weights")
    if isinstance(weights, str) and Path(weights).name != weights:
        config["weights"] = Path(weights).name
        redacted.append("weights")
    return redacted


def write_json_redacted(
    source: Path, path: Path, run_name: str | None = None, model: tuple[str, str] | None = None
) -> list[str]:
    """Write the JSON file ``source`` to ``path`` with every path of the machine and command
    line left out (null): a run's settings (``config.json``), or with ``run_name`` its summary,
    whose ``run`` then names the shared folder, and whose ``model_digest``, where it names the
    model read (``model``: its digest, then the digest of the model file written), names the
    one written (a summary of another model keeps its own, which write_share then refuses). The
    entries left out, as ``config.json: key``; nothing when ``source`` is not there."""
    if not source.is_file():
        return []
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except ValueError as exc:  # a user or a crash broke it: the run's record, not a bug
        raise ObjrecError(damaged_record(source, f"not JSON ({exc})")) from exc
    if not isinstance(data, dict):
        raise ObjrecError(damaged_record(source, f"not a JSON object ({reprlib.repr(data)})"))
    redacted = redact_settings(data) if run_name is None else []
    if run_name is not None and "run" in data:
        data["run"] = run_name
        redacted.append("run")
    if model is not None and data.get("model_digest") == model[0]:
        data["model_digest"] = model[1]
    redacted += redact_paths(data)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return [f"{source.name}: {key}" for key in redacted]


def redact_paths(data: Any) -> list[str]:
    """Set to null, in place, every string of ``data`` that is an absolute path, and every entry
    of :data:`PRIVATE_KEYS`: where each was (``provenance.split_record.source``)."""
    return list(_redacted(data, ""))


def _redacted(data: Any, where: str) -> Iterator[str]:
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in list(items):
        at = f"{where}.{key}" if where else str(key)
        if value is not None and (key in PRIVATE_KEYS or is_absolute(value)):
            data[key] = None
            yield at
        elif isinstance(value, dict | list):
            yield from _redacted(value, at)


def is_absolute(value: Any) -> bool:
    """Whether ``value`` is a string naming a path of the machine (:data:`ABSOLUTE`)."""
    return isinstance(value, str) and ABSOLUTE.match(value) is not None


def write_kept(run: Path, folder: Path, model: str, shared: str) -> list[str]:
    """The run's kept threshold when kept for the model read (digest ``model``), for the shared
    model file (digest ``shared``), without the folders it was judged on or the thresholds kept
    before; one kept for another model is left out. What was left out, in sentences."""
    kept = read_kept(run, warn=False, model=model)
    if kept is None:
        return []
    if not kept.current:
        return [f"{KEPT_NAME}: kept for an earlier model of the run, so not used by it"]
    record = kept.fields()
    redact_paths(record)
    record["model"] = shared
    text = json.dumps(sealed(record), indent=2) + "\n"
    (folder / KEPT_NAME).write_text(text, encoding="utf-8")
    return []


def export_into(
    run: Path, folder: Path, model: ReadModel, shared: SharedModel, reporter: Reporter
) -> SharedExport:
    """``export``'s three files for the ``model`` read, into ``folder`` (checked on the run's own
    photos): copies of the run's own export when it is of that model
    (``export.exporter.reusable_export``), else exported from it as ``shared``, the shared model
    file, holds it (:func:`export_read`). What its sidecar records, read once: the card and
    share's lines say it, and a check this objrec cannot read is warned of once."""
    from objrec.export.check import checked_in
    from objrec.export.exporter import reusable_export

    earlier = reusable_export(run, model.digest)
    if earlier is not None and copy_all_or_none(earlier, folder):
        log.info("the export in %s is of this model: copied, not made again", run)
    else:
        export_read(run, folder, model, shared, reporter)
    sidecar = folder / "model.json"
    record = name_shared_model(sidecar, shared.digest)
    return SharedExport(bool(record.get("openvino")), checked_in(record, sidecar))


def copy_all_or_none(files: list[Path], folder: Path) -> bool:
    """Whether ``files`` were copied into ``folder``; none is left there when one had gone: a
    retrain landing takes the run's export with it."""
    try:
        for path in files:
            shutil.copyfile(path, folder / path.name)
    except FileNotFoundError:
        for path in files:
            (folder / path.name).unlink(missing_ok=True)
        return False
    return True


def export_read(
    run: Path, folder: Path, model: ReadModel, shared: SharedModel, reporter: Reporter
) -> None:
    """Export the ``model`` read into ``folder``, as the shared model file holds it (its tensors,
    ``shared``'s metadata, without the machine's paths), checked on the run's photos (its data
    folder, as the model read names it) with the run's threshold kept for it: the run's model
    file, read again, may hold a retrain's model by now. Neither file is read again."""
    from objrec.export.exporter import export_loaded

    path = folder / BEST
    loaded, meta = load_model(path, (model.state, shared.meta))
    meta = replace(meta, data_dir=model.header.get("data_dir"), digest=model.digest)
    export_loaded(run, loaded, meta, folder / "model.onnx", reporter)


def name_shared_model(sidecar: Path, shared: str) -> dict[str, Any]:
    """The share's export names the shared model file by its digest (``shared``), as the share's
    kept threshold does (:func:`write_kept`): it is an export of the run's model, whose tensors
    the shared file holds without the machine's paths. Naming the run's file, ``check`` of every
    ``share --onnx`` called it "an export of another model (a retrain since)", and a share of the
    share exported it again. The sidecar as written (its record)."""
    record = json.loads(sidecar.read_text(encoding="utf-8"))
    record["model_digest"] = shared
    sidecar.write_text(json.dumps(record, indent=2), encoding="utf-8")  # as export writes it
    return record


def write_manifest(folder: Path, known: dict[str, str] | None = None) -> dict[str, str]:
    """Write ``SHA256SUMS`` (``sha256sum -c SHA256SUMS`` checks it) for every file in ``folder``;
    the files and their digests. ``known``: the digests of files written from memory, by name,
    taken as they are rather than read again (the model file's, :func:`write_model`)."""
    known, files = known or {}, {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            name = path.relative_to(folder).as_posix()
            files[name] = known.get(name) or sha256(path)
    lines = "".join(f"{digest}  {name}\n" for name, digest in files.items())
    (folder / MANIFEST).write_text(lines, encoding="utf-8")
    return files


def sha256(path: Path) -> str:
    """The SHA-256 of a file (hex, whole)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


STORED = (".safetensors", ".onnx")
"""Files zipped as they are: weights hardly deflate (7% for seconds of work)."""


def zip_folder(folder: Path, path: Path, reporter: Reporter) -> None:
    """Zip ``folder`` into ``path``, its files under the folder's name (unzipped, they make that
    folder), the comment :data:`ZIP_COMMENT`."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with (
        reporter.task("zipping", len(files)) as advance,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        archive.comment = ZIP_COMMENT
        for file in files:
            kind = zipfile.ZIP_STORED if file.suffix in STORED else zipfile.ZIP_DEFLATED
            archive.write(file, file.relative_to(folder.parent).as_posix(), compress_type=kind)
            advance()
