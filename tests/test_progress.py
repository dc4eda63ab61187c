"""The words messages are built of: counts, lists of names."""

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
