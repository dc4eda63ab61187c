"""The class folders of an evaluated folder that the model was not taught (a class ``add``
brought in after the run was trained): found (:func:`untaught_images`), left out of every score,
refused when they are all the folder holds, how many of their images the model answers
"unknown" counted, and said: ``evaluate``'s warning, the report's page and the model card
(:func:`untaught_words`)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from objrec.answering import answers_read_in_every_view, view_tables
from objrec.config import EvaluateConfig
from objrec.data import SPLITS, ClassFolder, Sample, class_folders, class_of_folder, close_match
from objrec.errors import ObjrecError
from objrec.inference import Recognizer
from objrec.listing import list_images
from objrec.progress import Reporter
from objrec.words import plural, quoted, some_of

if TYPE_CHECKING:
    from objrec.evaluate import EvaluationResult
    from objrec.evaluation_metrics import EvaluationRecord

log = logging.getLogger(__name__)


def untaught_images(
    target: Path, classes: Sequence[str], later_classes: Collection[str] = ()
) -> dict[str, list[Path]]:
    """The images of ``target``'s class folders that are not among the model's ``classes`` (a
    class ``add_images`` brought in after the run was trained), by class folder. A folder named
    like a taught class (``gren`` beside ``green``) is not one: a misspelling, which
    :func:`scan_class_folder` refuses, naming the class it is likely meant to be; unless it is
    one of the ``later_classes`` of the run compared with (``EarlierRun``: ``reds`` beside
    ``red``)."""
    taught = {class_of_folder(name) for name in classes}
    later = {class_of_folder(name) for name in later_classes}
    untaught: dict[str, list[Path]] = {}
    for name, folders in class_folders(target).items():
        if name in taught or (name not in later and close_match(name, classes)):
            continue
        if files := [f for folder in folders for f in list_images(folder)]:
            untaught[name] = files
    return untaught


def refuse_none_taught(
    target: Path, images: ClassFolder, untaught: dict[str, list[Path]], n_classes: int
) -> None:
    """Refused in one sentence: ``target`` holds no image of the model's classes, only of class
    folders it was not taught (``untaught``), so nothing to measure. A held-out ``test/`` kept
    alone is one: without ``train/`` and ``valid/`` beside it, it is no split folder, so ``test``
    was taken for a class (a KeyError from pandas, sorting an empty table, before); any other
    is pointed to ``unknown``, which measures such images. A folder of empty class folders
    only is said to be that."""
    if images.samples:
        return
    if not untaught:  # its class folders hold no image at all (each said in a warning)
        raise ObjrecError(f"{target} holds no images: its class folders are empty")
    named = some_of(
        [f"{quoted(name)} ({plural(len(files), 'image')})" for name, files in untaught.items()],
        quote=False,
    )
    message = (
        f"{target} holds no images of the model's {plural(n_classes, 'class', 'classes')}, only "
        f"of class folders it was not taught: {named}"
    )
    split = next((name for name in SPLITS if name in untaught), None)
    if split is not None:
        message += (
            f"; {target} is no split folder (it has no train/ and valid/), so {split} was taken "
            f"for a class: give the folder of the images itself, {target / split}"
        )
    else:  # what to do with them: the unknown measure is for untaught images
        message += (
            f": to measure how many of them the model answers unknown, give it as "
            f"`unknown={str(target)!r}`, with a folder of the model's classes as `data`"
        )
    raise ObjrecError(message)


def flag_untaught(
    result: EvaluationResult,
    model: tuple[Path, Recognizer],
    untaught: dict[str, list[Path]],
    config: EvaluateConfig,
    reporter: Reporter,
    compared: bool = False,
) -> None:
    """Into ``result``: the ``untaught`` class folders' image counts and how many of their images
    the ``model`` (its run, and the run loaded) answered "unknown" (as ``predict`` would: the
    run's unknown score and threshold); one warning naming them and the run, only information
    when the run is the one ``evaluate --against`` compares with (``compared``): the comparison
    names those classes itself."""
    run, recognizer = model
    result.untaught_classes = {name: len(files) for name, files in untaught.items()}
    if not untaught:
        return
    if recognizer.threshold is not None:
        samples = tuple(Sample(f, 0) for files in untaught.values() for f in files)
        images = ClassFolder(Path(result.folder or "."), ("untaught",), samples)
        tables = view_tables(recognizer, images, "untaught", replace(config, tta=False), reporter)
        if bool(tables[0].ok.any()):
            result.untaught_unknown = int(
                answers_read_in_every_view(recognizer, tables).unknown.sum()
            )
    level = logging.INFO if compared else logging.WARNING
    log.log(level, "%s", untaught_warning(result, recognizer.threshold is not None, run))


def untaught_warning(result: EvaluationResult, has_threshold: bool, run: Path) -> str:
    """The sentence naming the classes the model of ``run`` was not taught that the folder has,
    and the run: ``evaluate --against`` evaluates two runs, of which either may lack one."""
    untaught = result.untaught_classes
    return (
        f"{result.folder} has {plural(len(untaught), 'class folder')} that {run} was not "
        "taught, left out of every score: "
        f"{untaught_words(untaught, result.untaught_unknown, has_threshold)} (train again "
        "to teach them; `evaluate(new_run, data, against=old_run)` compares a run taught them "
        "with this one, on the classes both know)"
    )


def untaught_words(untaught: Mapping[str, int], unknown: int | None, has_threshold: bool) -> str:
    """The class folders a model was not taught (``untaught``: their images) and how many of
    their images it answered "unknown" (``unknown``), as evaluate's warning, the report's page
    and the model card say them."""
    named = ", ".join(f"{quoted(name)} ({plural(n, 'image')})" for name, n in untaught.items())
    total = plural(sum(untaught.values()), "image")
    if unknown is not None:
        flagged = f'the model answered {unknown} of these {total} "unknown"'
    elif has_threshold:
        flagged = "none of their images could be read"
    else:
        flagged = 'the run has no "unknown" answer to flag them with'
    return f"{named}; {flagged}"


def untaught_note(record: EvaluationRecord, what: str) -> str:
    """One sentence, from an evaluation's ``metrics.json`` (``record``), naming the class folders
    of ``what`` (``the test split``) the model was not taught, left out of every score, as
    evaluate warns of them; "" when none (the report's page and the model card were silent,
    beside a top-1 of the other classes' images only)."""
    untaught = record.untaught_classes
    if not untaught:
        return ""
    answer = record.metrics.unknown
    has_threshold = answer is not None and answer.threshold is not None
    words = untaught_words(untaught, record.untaught_unknown, has_threshold)
    folders = plural(len(untaught), "class folder")
    return f"{what} has {folders} the model was not taught, left out of every score: {words}."
