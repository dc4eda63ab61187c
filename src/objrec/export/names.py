"""The names an export writes (the model, its JSON sidecar, its script) and the refusals they
are checked by, without PyTorch: ``objrec export`` checks them before the libraries load, so
that an export already there is refused at once (it came after seconds of loading), and
:func:`objrec.export.exporter.export_loaded` checks them again, with the run's split folder, as it
writes."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from objrec.data import SPLITS
from objrec.errors import ObjrecError, UsageRefused
from objrec.outputs import (
    default_export_path,
    is_export_script,
    is_export_sidecar,
    output_path,
    refuse_overwrite,
    script_path,
)
from objrec.run_place import refuse_run_file

log = logging.getLogger(__name__)


def export_path(run: Path, out: Path | None, say: bool = True) -> Path:
    """The model file an export of ``run`` to ``out`` writes (:func:`default_export_path` when
    None); ``say``: log the ``.onnx`` added to a name without an extension (once an export, not
    by the refusal checked before it)."""
    return onnx_named(output_path(out), say) if out else default_export_path(Path(run))


def refuse_early(run: Path, out: Path | None, force: bool) -> None:
    """Refuse, from the file system alone, an export of ``run`` to ``out`` that
    :func:`export_names` would refuse once the model is read (an earlier export without
    ``force``, a file of the user's or the run's at one of its names); the split folder the run
    was trained on, which only the model's metadata names, is checked then."""
    export_names(export_path(run, out, say=False), Path(run), None, force)


def onnx_named(path: Path, say: bool = True) -> Path:
    """``path`` with ``.onnx`` added when its name has no extension: ``export --out exp2`` writes
    ``exp2.onnx`` beside ``exp2.json`` and ``exp2_infer.py``, as tools that know a model by its
    extension do not open an ONNX file named ``exp2``. A folder is refused: the export wrote and
    checked the whole model before its last rename failed on it (review62a L3)."""
    if path.is_dir():
        raise UsageRefused(
            f"`out` {path} is a folder: give the model file's name, such as {path / 'model.onnx'}"
        )
    if path.suffix:
        return path
    named = path.with_name(f"{path.name}.onnx")
    if say:
        log.info("`out` %s has no extension: the model goes to %s", path, named)
    return named


def export_names(path: Path, run: Path, data_dir: str | None, force: bool) -> tuple[Path, Path]:
    """The sidecar and the script an export to ``path`` writes beside it, once the three names
    are checked: none may be a file of the user's, nor, without ``force``, an earlier export."""
    sidecar = path.with_suffix(".json")
    if path.suffix.lower() == ".json":  # the sidecar's own name (a case-blind disk's too)
        raise UsageRefused(
            f"`out` {path} ends in .json, the name of the JSON file the export writes beside the "
            f"model: name the model {path.with_suffix('.onnx').name} instead"
        )
    refuse_in_the_splits(path, data_dir, run)
    refuse_run_file(path, run, "out")
    script = script_path(path)
    refuse_users_sidecar(sidecar, path, run)  # first: `force` cannot lift these, so never advise it
    refuse_users_script(script, path)
    for target in (path, sidecar, script):
        refuse_overwrite(target, force)
    return sidecar, script


def refuse_in_the_splits(path: Path, data_dir: str | None, run: Path) -> None:
    """Refuse a model ``path`` inside a split (train, valid or test) of ``data_dir``, the split
    folder ``run`` was trained on: in a class folder there, the three files were warned of by
    every command as files that are not images, and the next ``split`` into that folder with
    ``force`` (the way to split it again) replaced the class folder whole, the export with it.
    The split folder itself is left allowed: ``split`` keeps what lies beside its splits, and
    no command reads it."""
    if data_dir is None:
        return
    for split in SPLITS:
        if path.parent.resolve().is_relative_to((Path(data_dir) / split).resolve()):
            raise UsageRefused(
                f"`out` {path} lies inside {Path(data_dir) / split}, a split of the folder {run} "
                "was trained on, where the next split into it with `force=True` would delete the "
                "export and every command warns of its files: choose a folder outside the splits"
            )


def refuse_users_sidecar(sidecar: Path, path: Path, run: Path) -> None:
    """Refuse, even with ``force``, a file at ``sidecar`` (the JSON name beside the model
    ``path``) that no export wrote: ``force`` replaces an earlier export, never a file of the
    user's that happens to share its name, nor one ``train`` wrote into the run ``run`` (its
    ``config.json``, ``summary.json``), which moved out would break the run."""
    if os.path.lexists(sidecar) and not is_export_sidecar(sidecar):
        try:
            refuse_run_file(sidecar, run, "out")
        except ObjrecError:
            raise ObjrecError(
                f"`out` {path} would write its JSON sidecar over {sidecar}, a file `train` wrote "
                "into the run: choose another `out`"
            ) from None
        raise ObjrecError(
            f"{sidecar} is not a sidecar `export_model` wrote, and the export of {path.name} "
            "writes its own there: `force=True` does not replace it; move it, or choose another "
            "`out`"
        )


def refuse_users_script(script: Path, path: Path) -> None:
    """Refuse, even with ``force``, a file at ``script`` that no export wrote
    (:func:`refuse_users_sidecar`'s rule, for the script), or the script of another model's
    export (``my-model.onnx`` and ``my_model.onnx`` share ``my_model_infer.py``)."""
    if not os.path.lexists(script):
        return
    if not is_export_script(script):
        raise ObjrecError(
            f"{script} is not a script `export_model` wrote, and the export of {path.name} "
            "writes its own there: `force=True` does not replace it; move it, or choose another "
            "`out`"
        )
    runs = script_model(script)
    if runs is not None and not same_name(runs, path.name, script):
        raise ObjrecError(
            f"{script} runs {runs}, not {path.name}, whose export would write its script there: "
            "`force=True` does not replace it; choose another `out`"
        )


def same_name(name: str, other: str, beside: Path) -> bool:
    """Whether ``name`` and ``other`` name one file in the folder of the file ``beside``, as its
    disk tells names apart: by case too, unless it is case-blind (macOS, Windows), which
    ``beside``'s name in the other case finding the same file shows."""
    if name == other:
        return True
    try:
        blind = os.path.samefile(beside, beside.with_name(beside.name.swapcase()))
    except OSError:  # not there: a case-sensitive disk
        blind = False
    return blind and name.casefold() == other.casefold()


def script_model(script: Path) -> str | None:
    """The model an export's ``script`` runs (its ``MODEL`` line), None where it names none."""
    try:
        text = script.read_text(encoding="utf-8")
        found = re.search(r'^MODEL = ("[^\n]*")$', text, re.MULTILINE)
        return str(json.loads(found[1])) if found else None
    except (OSError, ValueError):  # unreadable, not UTF-8, a MODEL line edited to no string
        return None
