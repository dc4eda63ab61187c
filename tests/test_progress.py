"""The words messages are built of: counts, lists of names."""

import os

import pytest

from objrec.cli.prediction import topk_line
from objrec.open_set import mostly_unknown_words
from objrec.train import classes_note
from objrec.words import grouped, quoted, some_of


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("crème brûlée", "crème brûlée"),
        ('chien "dalmatien"', 'chien "dalmatien"'),  # a quote inside splits nothing
        ("ant (red)", "ant (red)"),
        ("crème, brûlée", '"crème, brûlée"'),
        ("a;b", '"a;b"'),
        (" ant", '" ant"'),
        ("ant ", '"ant "'),
        ('"ant"', '"\\"ant\\""'),
        ('a\\", b', '"a\\\\\\", b"'),
        ("evil\x1b[31mred", "evil\x1b[31mred"),  # the CLI shows it as \x1b, as every name's
        ("", '""'),
    ],
)
def test_a_name_is_quoted_only_where_a_list_would_split_or_hide_it(name, said):
    assert quoted(name) == said


def test_lists_of_names_say_a_name_with_a_comma_as_one():
    """`classes: 7 (Cat, café, chien "dalmatien", tacheté, crème brûlée, ...)` read
    as 8 classes; "crème, brûlée 1 of 8" as two. Every list of names quotes such a name."""
    names = ["Cat", "chien, tacheté", "crème brûlée"]
    assert some_of(names) == 'Cat, "chien, tacheté", crème brûlée'
    assert some_of(names, 1) == "Cat and 2 more"
    assert grouped({"a, b": "2 in train", "c": "2 in train"}) == '"a, b", c (2 in train each)'
    worded = [f"{quoted(n)} (4)" for n in names[:2]]
    assert some_of(worded, quote=False) == 'Cat (4), "chien, tacheté" (4)'


def test_train_names_an_11th_class_and_counts_what_does_not_fit_a_line():
    """After `add` of an 11th class train said only "classes: 11": names are shown
    as far as two lines of them go, the rest counted."""
    caltech = "buddha crab electric_guitar ibis kangaroo laptop llama minaret revolver scorpion"
    eleven = [*caltech.split(), "umbrella"]
    assert classes_note(eleven) == f"classes: 11 ({', '.join(eleven)})"
    many = [f"class_{i:03d}" for i in range(101)]
    said = classes_note(many)
    assert said.startswith("classes: 101 (class_000, class_001, ") and said.endswith(" more)")
    assert len(said) < 200 and "class_100" not in said


def test_trains_evaluates_and_predicts_lists_of_classes_quote_a_name_with_a_comma():
    classes = ["Cat", "chien, tacheté", "crème brûlée"]
    assert classes_note(classes) == 'classes: 3 (Cat, "chien, tacheté", crème brûlée)'
    rows = [{"class": "chien, tacheté", "images": 8, "unknown": 5}]
    assert mostly_unknown_words(rows).startswith(
        'half or more of the images of "chien, tacheté" (5'
    )
    top = [{"class": "chien, tacheté", "prob": 0.9}, {"class": "Cat", "prob": 0.1}]
    assert topk_line(top) == '"chien, tacheté" 90.00%, Cat 10.00%'


def test_the_tqdm_reporter_shows_a_step_without_a_count_as_a_plain_line():
    """In a plain terminal `TqdmReporter` drew "loading the model: 0it [00:03, ?it/s]" for a step
    with no count: it shows as its description and the time it took, and the count of a step
    without a total only once it counts something."""
    import io

    from objrec import TqdmReporter

    shown = io.StringIO()
    reporter = TqdmReporter(file=shown)
    with reporter.task("loading the model", None):
        reporter.doing("reading its weights")
    with reporter.task("listing images", None) as advance:
        advance(7)
    lines = [line.strip() for line in shown.getvalue().replace("\r", "\n").splitlines() if line]
    assert lines[-1].startswith("listing images: 7 [00:00, ") and "it/s" in lines[-1]
    said = "\n".join(lines)
    assert "loading the model: reading its weights [00:00]" in said
    assert ": 0it" not in said and "?it/s" not in said


def as_a_notebook_without_widgets(monkeypatch) -> None:
    """This Python made to look like a Jupyter kernel without ipywidgets, as ``tqdm.auto`` tells
    one (its kernel's module loaded, IPython's ``get_ipython()`` a shell): ``tqdm.auto``, forgotten,
    is imported again as a notebook would import it first."""
    import sys
    import types

    shell = types.ModuleType("IPython")
    shell.get_ipython = lambda: type("ZMQInteractiveShell", (), {})()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", shell)
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", types.ModuleType("ipykernel.zmqshell"))
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # None: refused by import, not found
    for name in ("tqdm.auto", "tqdm.autonotebook"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    for name in [name for name in os.environ if name == "QT_API" or name.startswith("SPYDER")]:
        monkeypatch.delenv(name)


def test_the_tqdm_reporter_in_a_notebook_without_ipywidgets_draws_one_line_in_place(monkeypatch):
    """notebook63: in Jupyter without ipywidgets, `TqdmReporter` (tqdm.auto) warned "IProgress
    not found" into the cell and drew its nested text bars by moving the cursor up (ESC[A), which
    a notebook's output cannot do: one training left 190 outputs and 22 stray lines. There its
    bars are plain text on the one line the notebook redraws in place (carriage returns), at
    most once a second, without the warning; the notes and each finished bar stay a line each."""
    import io
    import warnings

    from objrec.progress import NOTEBOOK_INTERVAL, TqdmReporter, bar_maker

    as_a_notebook_without_widgets(monkeypatch)
    shown = io.StringIO()
    reporter = TqdmReporter(file=shown)
    with warnings.catch_warnings(record=True) as warned:  # tqdm's "IProgress not found"
        warnings.simplefilter("always")
        with reporter.task("train features", 4) as advance:
            with reporter.task("hashing files", None) as counted:
                counted(3)
            advance(4)
        for epoch in (1, 2):
            with reporter.task(f"epoch {epoch}", 2) as advance:
                advance(2)
            losses = {"train_loss": 0.5, "valid_loss": 0.4, "train_acc": 0.8, "valid_acc": 0.7}
            reporter.epoch({"epoch": epoch, **losses})
        reporter.note("training stopped")
    assert [str(warning.message) for warning in warned] == []
    text = shown.getvalue()
    assert "\x1b[" not in text  # no cursor moved: nothing but carriage returns and new lines
    finished = [line.split("\r")[-1].rstrip() for line in text.split("\n")]
    assert finished[0].startswith("hashing files: 3 [") and finished[1].startswith("train features")
    assert finished[2].startswith("epochs: 2 [") and finished[3] == "training stopped"
    plain, options = bar_maker()
    assert plain.__module__ == "tqdm.std" and options["mininterval"] == NOTEBOOK_INTERVAL >= 1


def test_the_epochs_bar_never_shows_an_epochs_count_beside_the_epoch_befores_losses(monkeypatch):
    """notebook63: the epochs bar was drawn with the new count and the previous epoch's losses
    ("epochs: 2 [..., train loss 1.5404 ...]", then "epochs: 2 [..., train loss 0.4566 ...]"):
    it counted the epoch, which drew it, before it took the epoch's losses. Drawn at every
    change here (no minimum interval), each drawing of a count shows that epoch's losses."""
    import io
    import re

    from tqdm.std import tqdm

    from objrec import progress

    monkeypatch.setattr(progress, "bar_maker", lambda: (tqdm, {"mininterval": 0}))
    shown = io.StringIO()
    reporter = progress.TqdmReporter(file=shown)
    for epoch, loss in ((1, 1.5404), (2, 0.4566), (3, 0.3012)):
        losses = {"train_loss": loss, "valid_loss": 0.4, "train_acc": 0.8, "valid_acc": 0.7}
        reporter.epoch({"epoch": epoch, **losses})
    reporter.end_fit()
    drawn = re.findall(r"epochs: (\d) \[[^,\]]*, train loss ([\d.]+)", shown.getvalue())
    losses_of = {"1": "1.5404", "2": "0.4566", "3": "0.3012"}
    assert {count for count, _ in drawn} == {"1", "2", "3"}
    assert [(count, losses_of[count]) for count, _ in drawn] == drawn


@pytest.mark.parametrize("drawn", ["task", "epochs"])
@pytest.mark.parametrize("set_up", [True, False])
def test_a_warning_logged_while_a_bar_is_drawn_is_a_line_of_its_own(
    drawn, set_up, monkeypatch, capsys
):
    """notebook63: in a terminal, a warning logged while a `TqdmReporter` bar was drawn ran on
    into the bar's line (``... best 0.0350]training stopped at the `epochs` limit ...``): the
    handler wrote to stderr past the bar. It is written above the bars, a line of its own, by a
    handler of the caller's (``logging.basicConfig``'s) or by Python's when none is set up; both
    are as they were once no bar is drawn."""
    import logging
    import sys

    from tqdm.std import tqdm

    from objrec import progress

    monkeypatch.setattr(progress, "bar_maker", lambda: (tqdm, {"mininterval": 0}))
    monkeypatch.setattr(logging, "lastResort", logging.lastResort)  # as it was, whatever happens
    logger = logging.getLogger("objrec.bars_test")
    monkeypatch.setattr(logger, "propagate", set_up)  # False: no handler, Python's last resort
    mine = logging.StreamHandler(sys.stderr)  # capsys's stderr, as the bars'
    mine.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    filters = list(logging.lastResort.filters)  # a dropped reporter's (its bars left) may go
    logging.root.addHandler(mine)
    try:
        reporter = progress.TqdmReporter()
        losses = {"train_loss": 0.5, "valid_loss": 0.4, "train_acc": 0.8, "valid_acc": 0.7}
        with reporter.task("epoch 1" if drawn == "epochs" else "reading images", 3) as advance:
            advance(1)
            if drawn == "task":
                logger.warning("careful")
        if drawn == "epochs":
            reporter.epoch({"epoch": 1, **losses})
            logger.warning("careful")
            reporter.end_fit()
        assert mine.filters == [] and set(logging.lastResort.filters) <= set(filters)
    finally:
        logging.root.removeHandler(mine)
    said = capsys.readouterr().err
    assert said.count("careful") == 1, said
    before = said[: said.index("careful")].split("\n")[-1].split("\r")[-1].replace("\x1b[A", "")
    assert before.strip() == ("WARNING" if set_up else ""), said
