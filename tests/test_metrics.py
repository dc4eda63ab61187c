from pathlib import Path

import numpy as np
import pytest
import torch

from objrec.evaluate import prediction_table, summarize_logits
from objrec.metrics import (
    answered,
    confusion_matrix,
    mixed_pairs,
    most_confused,
    per_class_table,
    precision_recall_f1,
    ranked,
    summarize,
    topk_correct,
)


def test_topk_and_summary_by_hand():
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [3.0, 1.0, 2.0], [1.0, 2.0, 3.0]])
    targets = torch.tensor([0, 2, 1, 0])
    assert topk_correct(logits, targets, 1).tolist() == [True, False, False, False]
    assert topk_correct(logits, targets, 2).tolist() == [True, True, False, False]
    m = summarize(logits, targets)
    assert m["top1"] == 0.25 and m["top5"] == 1.0 and m["n"] == 4  # k is capped at the class count
    assert abs(m["mean_class_top1"] - (0.5 + 0 + 0) / 3) < 1e-6


@pytest.mark.parametrize("n_classes", [6, 8, 12, 101])
def test_an_exact_tie_is_ranked_in_class_order_whatever_k(n_classes):
    """loose60: ``ranked`` asked ``topk`` for at least 5 classes, so on an exact tie of more
    than 5 the first class depended on ``k`` (12 equal probabilities: class 9 first for ``k`` up
    to 6, class 6 for 7 or more), and ``predict`` asked for 8 classes named another answer than
    ``evaluate``. A tie goes in the classes' order now, the order of every ``k`` the start of
    the whole row's, its first ``answered`` and ``argmax``'s."""
    equal = torch.full((n_classes,), 1 / n_classes)
    partly = torch.arange(n_classes).remainder(3).float()  # ties for the top, and below it
    scores = torch.stack([equal, partly, -partly])
    whole = ranked(scores, n_classes)
    assert whole[0].tolist() == list(range(n_classes))
    assert whole[1, 0] == 2 and whole[2, 0] == 0
    for k in range(1, n_classes + 3):
        assert torch.equal(ranked(scores, k), whole[:, :k])
    assert torch.equal(answered(scores), whole[:, 0])
    assert torch.equal(answered(scores), scores.argmax(1))


def test_ranked_is_the_stable_sort_of_rows_tied_or_not():
    """late60 M3: ranked sorts only the rows with a tie among their k + 1 highest; every row, a
    tie at the top, at the cut, below it or none, still reads as the stable sort of the whole
    row, for every k."""
    generator = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 6, (200, 9), generator=generator).float()  # many ties
    scores[::3] = torch.rand(67, 9, generator=generator)  # a third of the rows have none
    whole = scores.sort(dim=1, descending=True, stable=True).indices
    for k in range(1, 12):
        assert torch.equal(ranked(scores, k), whole[:, : min(k, 9)])


def test_top5_per_class_by_hand_with_more_than_five_classes():
    """With six classes top-5 can miss, so top5 and its per-class mean differ from top1's (with
    five classes or fewer every top-5 figure is 1 and a mix-up of the two went unseen)."""
    first, last = torch.arange(6.0, 0, -1), torch.arange(1.0, 7)  # class 0 ranked 1st, 6th
    third = torch.tensor([6.0, 4, 5, 3, 2, 1])  # class 1 ranked 3rd
    logits, targets = torch.stack([first, last, last, third]), torch.tensor([0, 0, 0, 1])
    m = summarize(logits, targets)
    assert (m["top1"], m["top5"]) == (1 / 4, 2 / 4)
    assert m["mean_class_top1"] == pytest.approx((1 / 3 + 0) / 2)
    assert m["mean_class_top5"] == pytest.approx((1 / 3 + 1) / 2)
    table = per_class_table(logits, targets, list("abcdef")).set_index("class")
    assert table["top1"].to_dict() == {"a": 1 / 3, "b": 0.0}
    assert table["top5"].to_dict() == {"a": 1 / 3, "b": 1.0}


def test_a_tie_for_the_commonest_confusion_names_every_tied_class():
    """crocodile confused once with crayfish and once with crocodile_head named only crayfish."""
    classes = ["crayfish", "crocodile", "crocodile_head"]
    logits = torch.eye(3)[[1, 2, 0, 0, 0, 2]] * 5  # crocodile: right, head, crayfish, crayfish
    targets = torch.tensor([1, 1, 1, 1, 0, 2])
    table = per_class_table(logits, targets, classes).set_index("class")
    assert table.loc["crocodile", "most_confused_with"] == "crayfish"  # 2 against 1
    logits[3] = torch.eye(3)[1] * 5  # now one each
    table = per_class_table(logits, targets, classes).set_index("class")
    assert table.loc["crocodile", "most_confused_with"] == "crayfish, crocodile_head"
    assert table.loc["crayfish", "most_confused_with"] == ""


def test_per_class_table_and_confusions():
    logits = torch.eye(3)[[0, 0, 1, 1, 1, 2]] * 5
    targets = torch.tensor([0, 1, 1, 1, 2, 2])
    table = per_class_table(logits, targets, ["a", "b", "c"], {"a": 10, "b": 20, "c": 5})
    assert table.set_index("class")["top1"].round(3).to_dict() == {"a": 1.0, "b": 0.667, "c": 0.5}
    assert table.set_index("class").loc["c", "most_confused_with"] == "b"
    assert table.set_index("class").loc["b", "n_train"] == 20
    matrix = confusion_matrix(logits.argmax(1), targets, 3)
    assert matrix.tolist() == [[1, 0, 0], [1, 2, 0], [0, 1, 1]]
    pairs = most_confused(matrix, ["a", "b", "c"])
    assert set(map(tuple, pairs[["true", "predicted", "count"]].values.tolist())) == {
        ("b", "a", 1),
        ("c", "b", 1),
    }


def test_precision_recall_f1_match_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    targets = torch.from_numpy(rng.integers(0, 5, 60))
    targets[targets == 4] = 3  # class 4 has no images but is sometimes predicted
    logits = torch.from_numpy(rng.normal(size=(60, 5)))
    logits[torch.arange(60), targets] += 1.0  # better than chance, not perfect
    preds = logits.argmax(1)
    present = np.unique(targets.numpy())
    p, r, f, s = metrics.precision_recall_fscore_support(
        targets.numpy(), preds.numpy(), labels=present, zero_division=0
    )
    table = per_class_table(logits, targets, list("abcde")).set_index("class")
    np.testing.assert_allclose(table["precision"], p)
    np.testing.assert_allclose(table["recall"], r)
    np.testing.assert_allclose(table["f1"], f)
    np.testing.assert_array_equal(table["n_test"], s)
    summary = summarize(logits, targets)
    for average in ("macro", "weighted"):
        expected = metrics.precision_recall_fscore_support(
            targets.numpy(), preds.numpy(), labels=present, average=average, zero_division=0
        )
        got = [summary[f"{average}_{n}"] for n in ("precision", "recall", "f1")]
        np.testing.assert_allclose(got, expected[:3])
    assert precision_recall_f1(preds, targets, 5)["precision"][4] == 0  # predicted, never right


def test_a_class_never_answered_has_no_precision_and_no_part_in_the_averages_of_it():
    """A class never answered showed precision 0.000, read as "every answer of it was wrong"
    where there was none, and pulled the macro precision down (a tiny run's first evaluation:
    green never answered, macro precision 0.500). Its precision is undefined (NaN:
    null in JSON, "-" in the tables), out of the macro and weighted precision, as scikit-learn's
    ``zero_division=np.nan``; its F1 is 0, as its recall is."""
    metrics = pytest.importorskip("sklearn.metrics")
    targets = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    preds = torch.tensor([0, 0, 2, 0, 2, 2, 2, 2])  # green (1) never answered
    logits = torch.nn.functional.one_hot(preds, 3).double()
    table = per_class_table(logits, targets, ["red", "green", "blue"]).set_index("class")
    assert np.isnan(table.loc["green", "precision"]) and table.loc["green", "f1"] == 0
    assert table.loc["red", "precision"] == 2 / 3 and table.loc["blue", "precision"] == 3 / 5
    summary = summarize(logits, targets)
    assert summary["macro_precision"] == pytest.approx((2 / 3 + 3 / 5) / 2)
    assert summary["weighted_precision"] == pytest.approx((3 * 2 / 3 + 3 * 3 / 5) / 6)
    for average in ("macro", "weighted"):
        expected = metrics.precision_recall_fscore_support(
            targets.numpy(), preds.numpy(), average=average, zero_division=np.nan
        )
        got = [summary[f"{average}_{n}"] for n in ("precision", "recall", "f1")]
        np.testing.assert_allclose(got, expected[:3])
    precision, _, f1, _ = metrics.precision_recall_fscore_support(
        targets.numpy(), preds.numpy(), zero_division=np.nan
    )
    np.testing.assert_allclose(table.loc[["red", "green", "blue"], "precision"], precision)
    np.testing.assert_allclose(table.loc[["red", "green", "blue"], "f1"], f1)
    elsewhere = torch.nn.functional.one_hot(torch.full((4,), 2), 3).double()  # 2: no images
    none_answered = summarize(elsewhere, torch.tensor([0, 0, 1, 1]), 3)
    assert np.isnan(none_answered["macro_precision"]) and none_answered["macro_recall"] == 0


def test_one_quantity_under_two_names_has_one_value():
    """evaluate --json gave "top1": 0.991150438785553 (float32) beside "weighted_recall":
    0.9911504424778761, and per class "top1": 0.8999999761581421 beside "recall": 0.9."""
    targets = torch.arange(113) % 12  # 12 classes of 9 or 10 images
    logits = torch.nn.functional.one_hot(targets, 12).double() * 5
    logits[0] = torch.eye(12)[1] * 5  # one image of class 0 (10 images) wrong
    m = summarize(logits, targets)
    assert m["top1"] == m["weighted_recall"] == 112 / 113
    assert m["mean_class_top1"] == m["macro_recall"]
    table = per_class_table(logits, targets, [str(i) for i in range(12)]).set_index("class")
    assert table.loc["0", "top1"] == table.loc["0", "recall"] == 0.9
    assert (table["top1"] == table["recall"]).all()


def test_mixed_pairs_are_the_classes_confused_both_ways_most_mixed_first():
    """Valid of 14 look-alike classes: 4 of 10 crocodile_head taken for crocodile and 2 of 10 the
    other way read, class by class, as two unrelated errors; a one-way error is no pair."""
    classes = ["croc", "croc_head", "flamingo", "flamingo_head"]
    matrix = torch.tensor([[8, 2, 0, 0], [4, 6, 0, 0], [0, 0, 9, 1], [0, 0, 1, 7]])
    pairs = mixed_pairs(matrix, classes)
    assert [(p["a"], p["b"], p["a_as_b"], p["b_as_a"]) for p in pairs] == [
        ("croc", "croc_head", 2, 4),
        ("flamingo", "flamingo_head", 1, 1),
    ]
    assert (pairs[0]["n_a"], pairs[0]["n_b"]) == (10, 10)
    matrix[2, 3] = 0  # flamingo never taken for its head: one way only
    assert [p["a"] for p in mixed_pairs(matrix, classes)] == ["croc"]


def test_photo_confusion_counts_a_photo_once_in_each_class_it_was_taken_for():
    """Copies of one photo (one near-duplicate group of a class) count once per answer given:
    the counts evaluate's pairs of look-alikes rest on."""
    from objrec.metrics import photo_confusion

    targets = torch.tensor([0, 0, 0, 0, 1, 1])
    preds = torch.tensor([1, 1, 0, 1, 1, 0])
    groups = [7, 7, 7, 8, 7, 9]  # three copies of photo 7 of class 0; class 1's 7 is its own
    matrix, photos = photo_confusion(preds, targets, groups, 3)
    assert matrix.tolist() == [[1, 2, 0], [1, 1, 0], [0, 0, 0]]
    assert photos == [2, 2, 0]
    empty = torch.zeros(0, dtype=torch.long)
    matrix, photos = photo_confusion(empty, empty, [], 2)
    assert matrix.tolist() == [[0, 0], [0, 0]] and photos == [0, 0]


def test_the_mean_class_top1_averages_the_classes_present_not_every_class_taught():
    """A folder evaluated without one of the run's classes (its test split lacks it) has a
    mean-class top-1 over the classes it holds, as the macro recall: 1.0 when every image is
    right, not 2/3 for a class with no image to be right on."""
    targets = torch.tensor([0, 0, 1, 1])
    result = summarize(torch.nn.functional.one_hot(targets, 3).float(), targets, 3)
    assert result["mean_class_top1"] == result["macro_recall"] == 1.0
    assert result["mean_class_top5"] == 1.0


def test_the_per_class_columns_counted_at_once_equal_the_loop_over_classes():
    """per_class_table, mixed_pairs and plots.confused_order without a loop over the classes or
    their pairs (29.5 s at 1,000 classes) give what the loops gave, on a random
    case with tied logits (a tie for the top, and ties for the commonest confusion), a class
    without images and 32 classes (more than confused_order's 30); the loss to float32's
    rounding (the loop averaged in float32, now each class sums in float64)."""
    import importlib.util
    from pathlib import Path

    from objrec.plots import confused_order

    script = Path(__file__).parents[1] / "benchmarks" / "per_class_speed.py"
    spec = importlib.util.spec_from_file_location("per_class_speed", script)
    assert spec is not None and spec.loader is not None
    loops = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loops)  # the loops as they were: the benchmark's "before"
    generator = torch.Generator().manual_seed(0)
    n, classes = 300, [f"c{i:02d}" for i in range(32)]
    targets = torch.randint(0, 31, (n,), generator=generator)  # c31 has no image
    logits = torch.randint(0, 4, (n, 32), generator=generator).float()  # many ties
    logits[torch.arange(n), targets] += torch.randint(0, 3, (n,), generator=generator)
    logits = logits.log_softmax(1)
    n_train = {name: i for i, name in enumerate(classes)}
    ours = per_class_table(logits, targets, classes, n_train)
    looped = loops.looped_per_class_table(logits, targets, classes, n_train)
    same = [table.drop(columns="loss").fillna(-1.0).to_dict("list") for table in (ours, looped)]
    assert same[0] == same[1]  # a class never answered: its precision NaN in both, as -1 here
    assert np.allclose(ours["loss"], looped["loss"], rtol=1e-6, atol=0)
    assert (ours["most_confused_with"].str.contains(", ")).any()  # ties joined
    matrix = confusion_matrix(logits.argmax(1), targets, len(classes))
    assert mixed_pairs(matrix, classes) == loops.looped_mixed_pairs(matrix, classes)
    assert confused_order(matrix, classes) == loops.looped_confused_order(matrix, classes)
    assert len(mixed_pairs(matrix, classes)) > 10


def test_an_exact_tie_is_one_answer_in_every_figure_and_table():
    """top-1 took topk's answer (the last tied class on a CPU), recall, the confusion matrix and
    most_confused_with argmax's (the first), so 4 images of b tied between a and b were 100%
    right in top-1 and 0% in recall; predictions.csv said b. One rule now."""
    logits = torch.tensor([[0.0, 0.0, -5.0, -5.0, -5.0, -5.0, -5.0]] * 4).log_softmax(1)
    labels, classes = torch.tensor([1, 1, 1, 1]), list("abcdefg")
    result = summarize_logits(logits, labels, classes)
    m, row = result.metrics.overall, result.per_class.set_index("class").loc["b"]
    assert m.top1 == m.weighted_recall and m.mean_class_top1 == m.macro_recall
    assert row["top1"] == row["recall"]
    predicted = prediction_table([Path("x")] * 4, logits, labels, classes)["predicted"]
    answer = classes.index(predicted[0])
    assert set(predicted) == {predicted[0]} and result.confusion[1, answer] == 4
    assert row["most_confused_with"] == ("" if predicted[0] == "b" else predicted[0])
