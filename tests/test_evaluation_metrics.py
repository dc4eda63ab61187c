"""The evaluation's figures as typed data, written as metrics.json's keys and read back."""

import json

import pytest

from objrec.evaluation_metrics import (
    EvaluationMetrics,
    NoStricter,
    OpenSetFigures,
    Scores,
    StricterThreshold,
    went_of,
    went_parts,
)

STRICTER = {
    "threshold": 0.42,
    "keep_valid": 0.95,
    "valid_kept": 0.95,
    "valid_images": 100,
    "valid_rejected_now": 0,
    "valid_rejected": 5,
    "valid_unknown_by_class": [{"class": "ant", "images": 5, "photos": 5, "unknown": 5}],
    "known_kept": 0.75,
    "top1_at_threshold": 0.5,
    "unknown_accepted": 0.25,
    "unknown_by_class": [{"class": "ant", "images": 1, "photos": 1, "unknown": 1}],
    "known_rejected_now": 0,
    "known_rejected": 1,
    "unknown_caught_now": 1,
    "unknown_caught": 3,
    "silences": [],
    "recommended": True,
    "p_value": 0.04058020432433585,  # 2 more of 5 caught for 5 more of 100 lost
}

WRITTEN = {  # an evaluate --unknown's metrics.json, its keys before the per-class tables
    "n": 9,
    "loss": 0.003067248733714223,
    "top1": 1.0,
    "top5": None,
    "mean_class_top1": 1.0,
    "mean_class_top5": None,
    "macro_precision": 1.0,
    "weighted_precision": 1.0,
    "macro_recall": 1.0,
    "weighted_recall": 1.0,
    "macro_f1": 1.0,
    "weighted_f1": 1.0,
    "n_groups": 9,
    "top1_photos": 1.0,
    "top5_photos": None,
    "top1_low": 0.7008,
    "top1_high": 1.0,
    "top5_low": None,
    "top5_high": None,
    "tta": False,
    "temperature": 1.0,
    "ece_before_calibration": 0.0030585792329576034,
    "ece": 0.0030585792329576034,
    "ece_by_chance": 0.003058579232957628,
    "overconfidence": -0.0030585792329576034,
    "nll_before_calibration": 0.003067248628178214,
    "nll": 0.003067248628178214,
    "unknown_score": "mahalanobis+knn",
    "unknown_threshold": 0.0,
    "unknown_score_readable": True,
    "unknown_threshold_kept_on": None,
    "unknown_threshold_images": 9,
    "known_kept": 0.6666666666666666,
    "top1_at_threshold": 0.6666666666666666,
    "unknown_by_class": [{"class": "green", "images": 3, "photos": 3, "unknown": 2}],
    "open_set": {
        "auroc": 1.0,
        "fpr_at_95_tpr": 0.0,
        "n_known": 9,
        "n_unknown": 5,
        "unknown_accepted": 0.5,
        "unknown_answered_as": {},
        "stricter": STRICTER,
        "no_stricter": None,
        "folder": "/photos/unknown",
    },
}


def test_the_metrics_write_the_json_they_were_read_from_byte_for_byte():
    """metrics.json and --json are unchanged by the figures being typed: the same keys, in the
    same order, of the same values; the stricter threshold is read as its dataclass."""
    metrics = EvaluationMetrics.from_json(WRITTEN)
    assert json.dumps(metrics.to_json(), indent=2) == json.dumps(WRITTEN, indent=2)
    assert (metrics.n, metrics.n_groups, metrics.top1, metrics.tta) == (9, 9, 1.0, False)
    assert metrics.unknown is not None and metrics.unknown.score == "mahalanobis+knn"
    assert metrics.open_set is not None and metrics.open_set.unknown_accepted == 0.5
    assert isinstance(metrics.open_set.stricter, StricterThreshold)
    assert metrics.open_set.stricter.threshold == 0.42


def test_the_open_set_figures_are_read_by_attribute_and_written_as_before():
    """``open_set``'s figures (a dict read by key in the CLI, the card and the report's page)
    are :class:`OpenSetFigures`: written back byte for byte, with the threshold's two figures
    left out where the run has none, and read from a file of an earlier version without a
    KeyError."""
    metrics = EvaluationMetrics.from_json(WRITTEN)
    assert metrics.open_set is not None
    figures = metrics.open_set.figures
    assert isinstance(figures, OpenSetFigures)
    assert (figures.n_known, figures.n_unknown, figures.auroc) == (9, 5, 1.0)
    assert (figures.unknown_accepted, figures.unknown_answered_as) == (0.5, {})
    no_threshold = {k: v for k, v in WRITTEN["open_set"].items() if not k.startswith("unknown_")}
    read = EvaluationMetrics.from_json({**WRITTEN, "open_set": no_threshold}).open_set
    assert read is not None and read.unknown_accepted is None
    assert json.dumps(read.to_json()) == json.dumps(no_threshold)
    older = OpenSetFigures.from_json({"auroc": 0.9, "unknown_accepted": 0.4})
    assert (older.n_unknown, older.unknown_accepted, older.unknown_answered_as) == (0, 0.4, None)


def test_the_scores_of_one_view_without_tta_are_read_and_written_with_the_other_figures():
    """``evaluate --tta``'s scores of one view of each image alone (``without_tta``; a dict
    beside the metrics, ``EvaluationResult.metrics_plain``, before) are the metrics'
    :class:`Scores`: read back from metrics.json, and written where it has them, last."""
    plain = {key: WRITTEN[key] for key in list(WRITTEN)[:12]} | {"top1": 0.875}
    written = WRITTEN | {"tta": True, "without_tta": plain}
    metrics = EvaluationMetrics.from_json(written)
    assert isinstance(metrics.without_tta, Scores) and metrics.without_tta.top1 == 0.875
    assert json.dumps(metrics.to_json(), indent=2) == json.dumps(written, indent=2)
    with pytest.warns(DeprecationWarning, match=r"read metrics\.without_tta$"):
        assert metrics["without_tta"] == plain  # as a script reads the dict it replaced


def test_a_result_of_logits_alone_writes_no_calibration_or_unknown_answer():
    """Groups not measured are left out of the JSON, not written as nulls."""
    overall = {key: WRITTEN[key] for key in list(WRITTEN)[:19]}
    metrics = EvaluationMetrics.from_json(overall)
    assert (metrics.tta, metrics.calibration, metrics.unknown, metrics.open_set) == (None,) * 4
    assert list(metrics.to_json()) == list(overall)


def test_where_the_images_went_is_written_after_the_threshold_s_figures_and_read_back():
    """newcomer64 (2): right class, wrong class and unknown counted apart at the run's threshold
    (after ``unknown_by_class``) and at the stricter one (last in ``open_set.stricter``); a file
    written before them has none and is written back without them (above)."""
    went = {"right_at_threshold": 6, "wrong_at_threshold": 0, "unknown_at_threshold": 3}
    stricter = STRICTER | {"right_at_threshold": 2, "wrong_at_threshold": 1}
    stricter |= {"unknown_at_threshold": 1}
    open_set = WRITTEN["open_set"] | {"stricter": stricter}
    keys = list(WRITTEN)
    at = keys.index("unknown_by_class") + 1
    written = {k: WRITTEN[k] for k in keys[:at]} | went | {k: WRITTEN[k] for k in keys[at:]}
    written["open_set"] = open_set
    metrics = EvaluationMetrics.from_json(written)
    assert json.dumps(metrics.to_json(), indent=2) == json.dumps(written, indent=2)
    assert metrics.at_threshold is not None and went_of(metrics.at_threshold) == (6, 0, 3)
    assert metrics.open_set is not None and metrics.open_set.stricter is not None
    assert went_of(metrics.open_set.stricter) == (2, 1, 1)
    assert went_parts((6, 0, 3)) == [
        "right class 6 (66.67%)",
        "wrong class 0 (0.00%)",
        "unknown 3 (33.33%)",
    ]
    older = EvaluationMetrics.from_json(WRITTEN)
    assert older.at_threshold is not None and went_of(older.at_threshold) is None


def test_a_metrics_json_of_an_earlier_version_still_reads():
    """A file from before n_groups, the intervals, the readable score, the threshold's images
    and the stricter threshold's later fields: read with those missing, never a KeyError."""
    older = {key: WRITTEN[key] for key in ("n", "loss", "top1", "top5", "ece", "unknown_score")}
    older["unknown_threshold"] = 0.3
    older["open_set"] = {"auroc": 0.9, "unknown_accepted": 0.4, "stricter": {"threshold": 0.5}}
    metrics = EvaluationMetrics.from_json(older)
    assert (metrics.n_groups, metrics.overall.top1_low) == (9, None)
    assert metrics.calibration is not None and metrics.calibration.temperature == 1.0
    assert metrics.unknown is not None and not metrics.unknown.readable
    assert metrics.unknown.threshold == 0.3 and metrics.unknown.images is None
    assert metrics.open_set is not None and metrics.open_set.stricter is not None
    assert metrics.open_set.stricter.threshold == 0.5
    assert metrics.open_set.stricter.silences == []


def test_an_evaluation_s_metrics_are_read_by_attribute_and_written_first_in_its_json():
    """``EvaluationResult.metrics`` is the dataclass (review51a M2: a 47-key dict read by string
    keys in 7 modules), and its JSON the first keys of the result's, as metrics.json has them."""
    import torch

    from objrec.evaluate import summarize_logits

    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    result = summarize_logits(torch.eye(3)[[0, 1, 1, 1, 2, 0]] * 3, labels, list("abc"))
    assert isinstance(result.metrics, EvaluationMetrics)
    assert (result.metrics.n, result.metrics.top1, result.metrics.overall.top5) == (6, 4 / 6, None)
    written = result.to_json()
    assert list(written)[: len(result.metrics.to_json())] == list(result.metrics.to_json())
    assert EvaluationMetrics.from_json(written) == result.metrics


def test_why_no_stricter_threshold_is_typed_and_written_as_before():
    """open_set.no_stricter is read by attribute (``NoStricter``) and written back with the keys
    of its reason, in their order; one of an evaluation from before ``why`` was written reads
    without it."""
    written = [
        {"reason": "no_threshold"},
        {"reason": "no_validation_images", "valid_folder": "/data/valid", "why": "gone"},
        {"reason": "no_validation_images", "valid_folder": None, "why": ""},
        {
            "reason": "few_validation_images",
            "valid_images": 9,
            "valid_kept": 1.0,
            "keep_valid": 0.95,
        },
        {"reason": "not_stricter", "valid_images": 25, "valid_kept": 0.68, "keep_valid": 0.95},
    ]
    for why in written:
        data = {
            **WRITTEN,
            "open_set": {**WRITTEN["open_set"], "stricter": None, "no_stricter": why},
        }
        metrics = EvaluationMetrics.from_json(data)
        assert metrics.open_set is not None and isinstance(metrics.open_set.no_stricter, NoStricter)
        assert metrics.open_set.no_stricter.reason == why["reason"]
        assert json.dumps(metrics.to_json()) == json.dumps(data)
    older = NoStricter.from_json({"reason": "no_validation_images", "valid_folder": "/data/valid"})
    assert (older.valid_folder, older.why) == ("/data/valid", None)
    assert NoStricter.from_json(written[4]).valid_images == 25


def test_an_evaluation_s_file_is_read_once_whole_as_its_record(tmp_path):
    """report, share's card, check, predict and evaluate read a metrics.json written to disk
    through one reader, by attribute, where each parsed the JSON and reached into it by string
    keys: the figures as :class:`EvaluationMetrics`, then what was evaluated."""
    from objrec.evaluation_metrics import EvaluationRecord, read_record

    written = WRITTEN | {
        "per_class": [{"class": "green", "top1": 1.0}],
        "classes_without_images": ["blue"],
        "mixed_pairs": [],
        "folder": "/photos/test",
        "image_set": "61d05a3b",
        "seen_in_training": {"train": 1, "valid": 0},
        "unreadable": ["/photos/test/red/x.jpg: cut short"],
        "model": "ab12",
        "untaught_classes": {"purple": 3},
        "untaught_unknown": 2,
        "against": {"run": "/runs/old"},
    }
    (tmp_path / "metrics.json").write_text(json.dumps(written))
    record = EvaluationRecord.read(tmp_path)
    assert record == read_record(tmp_path)
    assert record.metrics == EvaluationMetrics.from_json(WRITTEN)
    assert (record.folder, record.model_digest) == ("/photos/test", "ab12")  # `model` till 7 Dec
    assert record.image_set == "61d05a3b"
    assert record.per_class == [{"class": "green", "top1": 1.0}]
    assert (record.classes_without_images, record.mixed_pairs) == (["blue"], [])
    assert record.seen_in_training == {"train": 1, "valid": 0}
    assert record.near_seen_in_training == {}  # an earlier version's file: none recorded
    assert (record.untaught_classes, record.untaught_unknown) == ({"purple": 3}, 2)
    assert record.unreadable_files == ["/photos/test/red/x.jpg: cut short"]  # `unreadable` then
    assert record.against is not None and record.against.run == "/runs/old"
    assert record.against.own_evaluation is None and record.against.within_chance is None


AGAINST = {  # an evaluate --against's metrics.json's "against", as compare_runs wrote it
    "run": "/runs/old",
    "out": "/runs/new/eval-test/against-old",
    "classes": ["a", "b"],
    "only_here": ["d"],
    "only_against": [],
    "renamed": {"dolphin": "dolphins"},
    "merged": {},
    "split": {"seat": {"chair": 2, "stool": 1}},
    "untold": [],
    "n": 6,
    "top1": 0.8333333333333334,
    "top1_against": 0.6666666666666666,
    "mean_class_top1": 0.8333333333333334,
    "mean_class_top1_against": 0.6666666666666666,
    "fixed": 2,
    "broken": 1,
    "fixed_photos": 2,
    "broken_photos": 1,
    "p_value": 1.0,
    "within_chance": True,
    "answered_only_here": 1,
    "seen_here": 0,
    "seen_against": 2,
    "per_class": [
        {"class": "b", "n": 2, "top1": 0.5, "top1_against": 1.0, "change": -0.5, "fixed": 0},
    ],
    "image_set": "3f9a1c2b",
    "own_evaluation": {
        "out": "/runs/old/eval-test",
        "top1": 0.9,
        "folder": "/data/test",
        "image_set": "0badc0de",
    },
}


def test_the_comparison_with_an_earlier_run_is_read_by_attribute_and_written_as_before():
    """``evaluate --against``'s comparison (a dict read by string keys in cli/evaluation.py,
    evaluate and compare) is :class:`Comparison`, its earlier run's own evaluation an
    :class:`OwnEvaluation`: written back byte for byte, read from a file of an earlier version
    with what it lacks left empty."""
    from objrec.evaluation_metrics import Comparison, EvaluationRecord, OwnEvaluation

    record = EvaluationRecord.from_json(WRITTEN | {"against": AGAINST})
    c = record.against
    assert isinstance(c, Comparison) and isinstance(c.own_evaluation, OwnEvaluation)
    assert (c.n, c.fixed, c.within_chance, c.own_evaluation.image_set) == (6, 2, True, "0badc0de")
    assert json.dumps(c.to_json(), indent=2) == json.dumps(AGAINST, indent=2)
    older = Comparison.from_json({k: v for k, v in AGAINST.items() if k in list(AGAINST)[:5]})
    assert (older.renamed, older.untold, older.own_evaluation) == ({}, [], None)
    assert (older.p_value, older.within_chance) == (None, None)
    deprecated = r"against\['top1'\] is deprecated: read against\.top1$"
    with pytest.warns(DeprecationWarning, match=deprecated):
        assert c["top1"] == c.top1  # as a script reads the dict it replaced (python-api.md)


def test_a_metrics_json_that_holds_no_evaluation_is_read_as_none(tmp_path):
    """Absent, damaged, not an object, an empty one, or a value of another type than evaluate
    writes: no record (``read_record``), or an OSError or ValueError naming the file; a file of
    an earlier version, or one of a few keys, is read with the rest empty."""
    from objrec.evaluation_metrics import EvaluationRecord, read_record

    assert read_record(tmp_path) is None
    with pytest.raises(OSError):
        EvaluationRecord.read(tmp_path)
    for text in ("{", "[1]", '{"open_set": "all"}', '{"seen_in_training": 3}'):
        (tmp_path / "metrics.json").write_text(text)
        assert read_record(tmp_path) is None, text
        with pytest.raises(ValueError, match=r"metrics\.json"):
            EvaluationRecord.read(tmp_path)
    (tmp_path / "metrics.json").write_text("{}")
    assert read_record(tmp_path) is None and EvaluationRecord.read(tmp_path).model_digest == ""
    (tmp_path / "metrics.json").write_text('{"model_digest": "ab12"}')
    record = read_record(tmp_path)
    assert record is not None and (record.model_digest, record.folder, record.mixed_pairs) == (
        "ab12",
        "",
        None,
    )


def test_the_stricter_threshold_s_p_value_is_written_and_an_older_file_judged_by_it():
    """metrics.json carried the stricter threshold's verdict, not the p-value it rests on; and
    one written before the chance rule (7 December 2026) kept a ``recommended`` of the shares
    alone, which report's page and evaluate's lines took as today's advice: 1 more of 20
    strangers caught for 4 more of 81 validation images lost read "recommends". The p-value is
    written beside the verdict; an older file's is worked out from its counts as it is read,
    and it is recommended only under 0.05 (a clear trade still is)."""
    from dataclasses import replace

    import torch

    from objrec.evaluation_metrics import EvaluationRecord
    from objrec.kept import recommended_threshold
    from objrec.thresholds import threshold_trade

    known, unknown = torch.tensor([0.5] * 77 + [0.05] * 4), torch.tensor([0.5] * 19 + [0.05])
    trade = threshold_trade(known, unknown, 0.0, 0.1)  # 1 more of 20 for 4 more of 81
    assert trade["p_value"] == 1.0 and not trade["recommended"]
    written = EvaluationMetrics.from_json(WRITTEN)
    assert written.open_set is not None and written.open_set.stricter is not None
    assert list(written.open_set.stricter.to_json())[-2:] == ["recommended", "p_value"]
    counts = {"valid_images": 81, "valid_rejected_now": 0, "valid_rejected": 4}
    counts |= {"unknown_caught_now": 0, "unknown_caught": 1}
    older = {k: v for k, v in STRICTER.items() if k != "p_value"} | counts
    for caught, recommended in ((1, False), (10, True)):
        stricter = older | {"unknown_caught": caught}
        data = {**WRITTEN, "open_set": {**WRITTEN["open_set"], "n_unknown": 20}}
        data["open_set"]["stricter"] = stricter
        metrics = EvaluationRecord.from_json(data).metrics  # as report, check and share read it
        assert metrics.open_set is not None and metrics.open_set.stricter is not None
        judged = metrics.open_set.stricter
        assert judged.recommended is recommended
        assert judged.p_value == (1.0 if caught == 1 else pytest.approx(4.2e-5, rel=0.01))
        assert (recommended_threshold(metrics) is not None) is recommended
    before_valid = {k: v for k, v in older.items() if not k.startswith("valid_")}  # 5 December
    data = {**WRITTEN, "open_set": {**WRITTEN["open_set"], "stricter": before_valid}}
    judged = EvaluationMetrics.from_json(data).open_set.stricter  # type: ignore[union-attr]
    assert judged is not None and not judged.recommended  # 1 more of 5 for 1 more of 9
    assert judged.p_value == pytest.approx(0.5, abs=0.5)
    made = replace(StricterThreshold(**STRICTER), p_value=None)  # made by hand: taken as it is
    assert made.recommended
