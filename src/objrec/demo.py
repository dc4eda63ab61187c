"""``demo``: the whole pipeline on the built-in sample (five Caltech-101 classes), offline."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from objrec.config import TrainConfig
from objrec.errors import Interrupted, ObjrecError
from objrec.evaluate import evaluate
from objrec.explore import explore
from objrec.outputs import (
    MARKER,
    fingerprint,
    own_contents,
    record_output,
    recorded_outputs,
    refuse_overwrite,
    takes_back_folders,
    users_file,
    write_record,
)
from objrec.paths import PathGiven
from objrec.predict import predict
from objrec.predict_outputs import PLOT_MAX
from objrec.progress import Reporter, or_silent
from objrec.split.recipe import split_folder
from objrec.train import train_as_asked
from objrec.train_open import RunRequest
from objrec.words import plural

log = logging.getLogger(__name__)

DEMO_CONFIG = TrainConfig(precision="fp32")
"""The defaults (``min_delta`` 0.001 among them, which the demo set itself before it was train's
default: on the easy sample a loss creeping towards zero by a hair each epoch would never let
early stopping fire), except that the body runs in fp32: on the sample's 180 image views an int8
body would save a few seconds and cost about 20 s to quantize (once per network and cache folder)
first."""


def sample_dir() -> Path:
    """The folder of the built-in sample: 24 downscaled images of each of five classes."""
    return Path(str(resources.files("objrec") / "sample" / "caltech101_mini"))


TOPK = 3
"""Classes per image in the demo's predictions figure."""

FIGURE = "predictions.png"
"""The demo's predictions figure, in its folder: recorded in the folder's mark
(``outputs.MARKER``) once written, the only file the demo writes over with ``force``."""
PARTS = ("data", "explore", "run", FIGURE)
"""What the demo writes in its folder."""


@takes_back_folders("out")
def run_demo(
    out: PathGiven,
    reporter: Reporter | None = None,
    force: bool = False,
    command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Split, explore, train, evaluate and predict on the sample; everything is written to ``out``.

    Returns the test metrics, the seconds taken, the paths of what was written and one test
    image (``image``) to try ``predict`` on. A demo that
    fails (or is stopped with Ctrl-C) removes those of its parts (:data:`PARTS`) that were not in
    ``out`` when it began, so the next demo starts as this one did. ``reporter`` says each step
    (None: nothing is shown); ``command``, the CLI's (``objrec demo ...``), is what the split's
    and the run's records name as the command that made them (None from a script).
    """
    out, reporter = Path(out), or_silent(reporter)
    refuse_overwrite(out, force)
    refuse_not_the_demos(out)
    empty = [out / name for name in PARTS if is_empty_folder(out / name)]
    made = [out / name for name in (*PARTS, MARKER) if not os.path.lexists(out / name)] + empty
    try:
        mark_demo_folder(out)
        return _run_demo(out, reporter, force, command)
    except BaseException as exc:
        for part in made:
            log.info("removing %s, made by the failed demo", part)
            if part.is_dir() and not part.is_symlink():
                shutil.rmtree(part, ignore_errors=True)
            else:
                part.unlink(missing_ok=True)
        for part in empty:  # as it was
            part.mkdir(exist_ok=True)
        if isinstance(exc, (KeyboardInterrupt, Interrupted)):  # train's resume hint is gone too
            raise Interrupted("demo interrupted; what it made was removed: run it again") from None
        raise


def refuse_not_the_demos(out: Path) -> None:
    """Refuse an ``out`` whose ``data``, ``run`` or ``explore`` holds what an earlier demo did
    not make: a forced demo would write its split beside a user's files there, then say "what it
    made was removed" of it, and split's refusal of a user's split would advise copying into
    objrec's own sample. The demo's own are told by content: a split or a run of the sample
    (``split.json``'s source, and the run's record of it), an ``explore`` folder of objrec's
    holding only explore's files; an empty folder is none of the user's."""
    for name, is_demos in (
        ("data", _split_of_sample),
        ("run", _run_of_sample),
        ("explore", _explore_of_objrec),
    ):
        part = out / name
        if os.path.lexists(part) and not is_empty_folder(part) and not is_demos(part):
            raise ObjrecError(f"{part} exists and is not the demo's: choose another `out`")
    refuse_users_figure(out)


def refuse_users_figure(out: Path) -> None:
    """Refuse an ``out`` whose predictions figure the demo did not write, or that was changed
    since: the demo tells its own by the record of ``out``'s mark (``outputs.users_file``), so a
    user's file of that name is never written over, even with ``force``: the record is the one
    thing that tells a demo's figure from a user's."""
    why = users_file(out, FIGURE) if os.path.lexists(out / FIGURE) else None
    if why is not None and recorded_outputs(out) is None:
        why = "is not a figure the demo recorded writing"
    if why is not None:
        raise ObjrecError(
            f"{out / FIGURE} {why}: the demo would write its figure over it; move it or choose "
            "another `out`"
        )


def mark_demo_folder(out: Path) -> None:
    """Make ``out`` and mark it objrec's (``outputs.MARKER``) where it holds nothing but the
    demo's parts, so that the demo records its figure there and a later one tells it from a
    user's file; a folder of the user's that ``force`` writes into stays unmarked, and a figure
    there is never taken for the demo's."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / MARKER).is_file() and set(own_contents(out)) <= set(PARTS):
        write_record(out, {})


def is_empty_folder(path: Path) -> bool:
    """Whether ``path`` is a folder (not a link) with nothing in it."""
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _of_sample(record: Any) -> bool:
    """Whether a split's record (``split.json``) says it split the demo's sample."""
    source = record.get("source") if isinstance(record, dict) else None
    return Path(str(source or "")).parts[-2:] == sample_dir().parts[-2:]


def _split_of_sample(data: Path) -> bool:
    """Whether ``data`` is a split an earlier demo made of its sample."""
    from objrec.manifest import read_split_record

    return data.is_dir() and not data.is_symlink() and _of_sample(read_split_record(data))


def _run_of_sample(run: Path) -> bool:
    """Whether ``run`` is a run an earlier demo trained on the sample's split (its
    ``summary.json``'s record of the split it trained on)."""
    from objrec.outputs import json_dict
    from objrec.run_place import holds_run

    if run.is_symlink() or not run.is_dir() or not holds_run(run):
        return False
    if not (run / "summary.json").exists():  # stopped before its end, beside the demo's split
        return _split_of_sample(run.parent / "data")
    provenance = json_dict(run / "summary.json").get("provenance")
    return isinstance(provenance, dict) and _of_sample(provenance.get("split_record"))


def _explore_of_objrec(folder: Path) -> bool:
    """Whether ``folder`` is an ``explore`` output of objrec's holding only its files."""
    from objrec.outputs import EXPLORE_FILES, holds_objrecs_outputs, own_contents

    if folder.is_symlink() or not holds_objrecs_outputs(folder):
        return False
    return set(own_contents(folder)) <= set(EXPLORE_FILES)


def _run_demo(
    out: Path, reporter: Reporter, force: bool, command: Sequence[str] | None
) -> dict[str, Any]:
    started = time.perf_counter()
    data, run = out / "data", out / "run"
    split = split_folder(sample_dir(), data, seed=0, force=force, command=command)
    totals = ", ".join(f"{n} {name}" for name, n in split.totals().items())
    reporter.note(f"1/5 split the sample into {data}: {totals} images")
    explore(data, out / "explore", reporter, force=force)
    reporter.note(f"2/5 explored the data: plots in {out / 'explore'}")
    why = "the demo's setting"
    request = RunRequest(force=force, precision_why=why)
    result = train_as_asked(data, run, DEMO_CONFIG, reporter, request, command=command)
    reporter.note(
        f"3/5 trained {run}: stopped after {plural(len(result.history), 'epoch')} "
        f"(best {result.best_epoch}),"
        f" valid loss {result.best_valid_loss:.4f}, valid accuracy {result.best_valid_acc:.1%}"
    )
    evaluation = evaluate(run, data, reporter=reporter)
    m = evaluation.metrics.overall
    reporter.note(
        f"4/5 evaluated on the test split: top-1 {m.top1:.1%} "
        f"({plural(m.n, 'image')} of {plural(len(evaluation.classes), 'class')})"
    )
    plot = out / FIGURE
    predictions = predict(
        run, [data / "test"], topk=TOPK, plot=plot, reporter=reporter, force=force
    )
    record_output(out, {FIGURE: fingerprint(out / FIGURE)})
    drawn = min(len(predictions), PLOT_MAX)  # not the first: some of each kind (plot_choice)
    which = "all of them" if drawn == len(predictions) else f"{drawn} of them, some of each kind"
    reporter.note(
        f"5/5 predicted {plural(len(predictions), 'test image')}; {which}, with their top {TOPK} "
        f"classes, are drawn in {out / 'predictions.png'}"
    )
    return {
        "top1": m.top1,
        "top5": m.top5,
        "n_classes": len(evaluation.classes),
        "seconds": time.perf_counter() - started,
        "run": str(run),
        "evaluation": str(evaluation.out),
        "predictions": str(out / "predictions.png"),
        "data": str(data),
        "image": next((p.path for p in predictions if p.error is None), None),
    }
