"""The audit's label check (``audit.heads``, ``audit.distances``, ``audit.labels``): out-of-fold
heads, distances, the flags and what makes them doubtful, and ``photos_needed.csv``."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from objrec import dedup
from objrec.audit.findings import LabelIssue
from objrec.audit.recipe import AuditConfig, AuditResult, audit
from objrec.audit.report import none_judged_note
from objrec.cli import main
from objrec.errors import ObjrecError
from objrec.progress import SILENT

from .test_audit import (
    bursts_in_the_wrong_class,
    colour_folder,
    config,
    copies_in_the_wrong_class,
    csv_paths,
    facts_and_items,
    make_split,
    pattern,
)


@pytest.mark.slow
def test_out_of_fold_heads_train_with_the_engines_epoch_loop(monkeypatch):
    import objrec.audit.heads
    from objrec.audit.heads import out_of_fold_probs

    epochs = []
    real = objrec.audit.heads.train_one_epoch
    monkeypatch.setattr(
        objrec.audit.heads, "train_one_epoch", lambda *a, **k: epochs.append(1) or real(*a, **k)
    )
    rng = np.random.default_rng(0)
    features = rng.normal(size=(30, 8)).astype(np.float32)
    out_of_fold_probs(features, np.repeat(np.arange(3), 10), 3, AuditConfig(folds=3, epochs=2))
    assert len(epochs) == 3 * 2


@pytest.mark.slow
def test_min_steps_gives_a_small_folders_heads_more_epochs(monkeypatch):
    """A head on 20 images at batch 8 takes 3 steps an epoch: 12 steps need 4 epochs, not 2."""
    import objrec.audit.heads
    from objrec.audit.heads import head_epochs, out_of_fold_probs

    epochs = []
    real = objrec.audit.heads.train_one_epoch
    monkeypatch.setattr(
        objrec.audit.heads, "train_one_epoch", lambda *a, **k: epochs.append(1) or real(*a, **k)
    )
    features = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    setting = AuditConfig(folds=3, epochs=2, batch_size=8, min_steps=12)
    out_of_fold_probs(features, np.repeat(np.arange(3), 10), 3, setting)
    assert len(epochs) == 3 * 4
    assert head_epochs(20, replace(setting, min_steps=0)) == 2
    assert head_epochs(5000, replace(setting, min_steps=12)) == 2  # already more steps


@pytest.mark.slow
def test_out_of_fold_heads_need_a_class_of_two_images():
    """Called with one image of each class, ``StratifiedKFold`` raised its own ValueError."""
    from objrec.audit.heads import out_of_fold_probs

    features = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    with pytest.raises(ObjrecError, match=r"^`folds` cannot be met: .* every class has fewer$"):
        out_of_fold_probs(features, np.arange(3), 3, AuditConfig(folds=3, epochs=1))


@pytest.mark.slow
def test_out_of_fold_probabilities_are_reproducible():
    from objrec.audit.heads import out_of_fold_probs

    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 8)).astype(np.float32)
    labels = np.repeat(np.arange(3), 20)
    setting = AuditConfig(folds=3, epochs=3, dropout=0.5)
    first = out_of_fold_probs(features, labels, 3, setting)
    assert np.array_equal(first, out_of_fold_probs(features, labels, 3, setting))


def test_robust_z_of_no_values_is_empty_without_a_warning():
    """An audit of only unreadable images printed numpy's "invalid value encountered in scalar
    divide" after listing them."""
    import warnings

    from objrec.audit.distances import robust_z

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert robust_z(np.array([])).shape == (0,)


def test_robust_z_stands_out_only_over_twice_the_median():
    """Distances nearly equal (MAD 0.001) put 1.5 at z 337: an ordinary image far out by a tiny
    spread. Under twice the median a value is not out (z at most 0); below it z keeps its sign."""
    from objrec.audit.distances import robust_z

    mad = 0.001 * 1.4826
    z = robust_z(np.array([1.0, 1.0, 1.0, 1.001, 1.5, 3.0, 0.5]))
    assert z.tolist() == pytest.approx([0, 0, 0, 0, 0, 2 / mad, -0.5 / mad])


def test_the_suggested_label_is_the_most_probable_class_other_than_the_given_one():
    from objrec.audit.labels import suggested_label

    probs = np.array([0.6, 0.3, 0.1])
    assert suggested_label(probs, 0) == 1  # the given class is the most probable: the next one
    assert suggested_label(probs, 2) == 0


def test_the_suggested_label_of_tied_classes_is_the_first_in_the_classes_order():
    """late60 L2: suggested_label sorted with NumPy's default sort, which gives tied values in no
    promised order (here, class 3 before class 2 of four tied at the top). Of tied classes it
    suggests the first in the classes' order, as ``metrics.answered`` answers."""
    from objrec.audit.labels import suggested_label

    probs = np.array([2, 2, 3, 3, 1, 1, 3, 3]) / 18
    assert suggested_label(probs, 0) == 2
    assert suggested_label(probs, 2) == 3


def test_classes_are_mixed_both_ways_only_by_photos_not_flagged():
    """A pair counts as mistaken both ways only where an unflagged photo of each is taken for the
    other: the flagged photos are the suggestions themselves, and would make any pair with a
    planted label look mixed."""
    from objrec.audit.labels import mixed_both_ways

    labels = np.array([0, 0, 1, 1, 2, 2])
    answers = np.array([1, 0, 0, 2, 1, 2])
    flagged = np.zeros(6, dtype=bool)
    assert mixed_both_ways(labels, answers, flagged) == {(0, 1), (1, 0), (1, 2), (2, 1)}
    flagged[3] = True
    assert mixed_both_ways(labels, answers, flagged) == {(0, 1), (1, 0)}


def copies_by_hash(monkeypatch) -> None:
    """tiny_test's features make each class of ``colour_folder`` one near-duplicate group, which
    leaves it unjudged (``MIN_JUDGED`` counts a group once): the audit's copies go by hash alone."""
    import functools

    import objrec.cli.auditing

    rule = dedup.DuplicateRule(sim_strict=2.0, sim_crop=2.0)
    partial = functools.partial(AuditConfig, duplicates=rule)
    monkeypatch.setattr(objrec.cli.auditing, "AuditConfig", partial)  # where the CLI makes it


@pytest.mark.slow
def test_fewer_images_per_class_than_folds_train_fewer_heads(tmp_path, capsys, caplog, monkeypatch):
    """4 images of each class and the default 5 folds ended in scikit-learn's traceback."""
    copies_by_hash(monkeypatch)
    data = colour_folder(tmp_path / "data", {"red": 4, "green": 4, "blue": 4})
    args = ["audit", str(data), "--backbone", "tiny_test", "--out", str(tmp_path / "audit")]
    with caplog.at_level(logging.WARNING, logger="objrec"):
        assert main(args) == 0
    assert "trains 4 out-of-fold heads, not 5: no class has more than 4 readable" in caplog.text
    assert "audited 12 images" in capsys.readouterr().out


@pytest.mark.slow
def test_an_audit_of_one_image_per_class_judges_no_label(tmp_path, capsys):
    """(1, 1, 1) images and 3 folds ended in scikit-learn's traceback: no fold count exists,
    and no label can be judged, so the audit says so and finds what else it can."""
    data = colour_folder(tmp_path / "data", {"red": 1, "green": 1, "blue": 1})
    args = ["audit", str(data), "--backbone", "tiny_test", "--folds", "3"]
    assert main([*args, "--out", str(tmp_path / "audit")]) == 0
    out = capsys.readouterr().out
    assert "audited 3 images: labels not judged, 0 near-duplicate groups" in out
    assert "and no class has 2 readable images or more (near-duplicates counted once)" in out


@pytest.mark.slow
def test_the_only_image_of_a_class_is_not_called_a_wrong_label(tmp_path, capsys, monkeypatch):
    """With (8, 8, 1) images the blue one was flagged blue -> green, p(given)=0.00: it is never
    in a head's training folds and has no neighbour of its class."""
    copies_by_hash(monkeypatch)
    data = colour_folder(tmp_path / "data", {"red": 8, "green": 8, "blue": 1})
    args = ["audit", str(data), "--backbone", "tiny_test", "--folds", "3"]
    assert main([*args, "--out", str(tmp_path / "audit")]) == 0
    out = capsys.readouterr().out
    assert "blue_0.png: labelled" not in out  # listed as an outlier only
    assert "labels not judged in 1 class (blue): fewer than 2 readable images" in out
    flagged = csv_paths(tmp_path / "audit/label_issues.csv")
    assert not any("blue_0.png" in p for p in flagged)
    page = (tmp_path / "audit/audit.html").read_text()
    assert "labels not judged in 1 class (blue)" in page
    assert json.loads((tmp_path / "audit/audit.json").read_text())["classes_not_judged"] == ["blue"]


@pytest.mark.slow
def test_an_audit_of_one_class_says_its_labels_were_not_judged(tmp_path, capsys, monkeypatch):
    """An audit of a one-class folder said "0 likely wrong labels" as if it had looked at them:
    a label is judged against other classes, so it says that none was judged and why, in the
    terminal, --json (a key a script reads) and audit.html."""
    copies_by_hash(monkeypatch)
    data = colour_folder(tmp_path / "data", {"red": 6})
    args = ["audit", str(data), "--backbone", "tiny_test", "--folds", "3"]
    assert main([*args, "--out", str(tmp_path / "audit")]) == 0
    out = capsys.readouterr().out
    assert "audited 6 images: labels not judged, 0 near-duplicate groups" in out
    assert "likely wrong label" not in out
    why = "labels not judged: the folder holds one class (red), and a label is judged against"
    assert why in out
    page = " ".join((tmp_path / "audit/audit.html").read_text().split())
    assert "6 images, 1 class. labels not judged," in page and why in page
    assert page.split('<h2 id="labels">')[1].split("<h2")[0].count("None found.") == 0
    assert main([*args, "--out", str(tmp_path / "again"), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["labels_judged"] is False and said["labels_not_judged"].startswith(why)
    assert said["warnings"] == [said["labels_not_judged"]]


def test_an_audit_says_why_it_judged_no_label_of_classes_too_small():
    """With one class of 2 distinct photos or more beside smaller ones, or none, no label was
    judged, and the summary said "0 likely wrong labels" all the same."""
    from objrec.cli.auditing import not_judged_words, wrong_labels_words

    note = none_judged_note(["blue", "red"], ["red"])
    assert note == (
        "labels not judged: a label is judged against the photos of another class, and only red "
        "has 2 readable images or more (near-duplicates counted once)"
    )
    assert "and no class has 2 readable" in none_judged_note(["blue", "red"], [])
    result = AuditResult([], [], [], 9, ["blue", "red"], unjudged=["blue"])
    assert result.to_json()["labels_judged"] is True
    assert result.to_json()["labels_not_judged"] is None
    assert wrong_labels_words(result) == "0 likely wrong labels"
    assert not_judged_words(result).startswith("labels not judged in 1 class (blue)")
    result.labels_not_judged = note
    assert result.to_json()["labels_judged"] is False
    assert result.to_json()["labels_not_judged"] == note
    assert wrong_labels_words(result) == "labels not judged"
    assert not_judged_words(result) == note


@pytest.mark.slow
def test_a_wrong_label_cleanlab_does_not_count_on_a_small_folder_is_flagged(tmp_path, monkeypatch):
    """8 Caltech classes of about 40 images and 3 planted wrong labels: cleanlab's estimate
    (``num_label_issues``) was 0, as no other class reached its confident threshold, so the
    audit flagged nothing although it ranked the planted images first. Here a magenta image in
    green: far from every green image and given green at under twice chance, it is flagged."""
    from objrec.audit import labels as audit_module

    counted = []
    rank = audit_module.rank_label_issues

    def spy(labels, probs, config):
        ranked, scores = rank(labels, probs, config)
        counted.append(len(ranked))
        return ranked, scores

    monkeypatch.setattr(audit_module, "rank_label_issues", spy)
    data = make_split(tmp_path / "data", per_split=(6, 3, 3))
    pattern((220, 40, 200), 500).save(data / "train/green/magenta.png")
    result = audit(data, None, config(cache_dir=str(tmp_path / "cache")))
    assert counted == [0]
    assert [Path(r.path).name for r in result.label_issues] == ["magenta.png"]
    assert result.label_issues[0].given == "green"


@pytest.mark.slow  # about 1 s: the first nearest-neighbour search
def test_a_class_broad_by_nature_is_not_far_from_itself():
    """8 Caltech classes with BACKGROUND_Google: the z of the distance to the nearest images of
    its class was taken over every image, so the background, broad by nature, stood out as a
    whole and 4 of its correct images were flagged. Here 3 tight classes and one whose images are
    all far apart, each given its label at under twice chance: only a stranger planted in a tight
    class is far from its class."""
    from objrec.audit.labels import far_from_label

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 64))
    tight = [c + 0.15 * rng.normal(size=(20, 64)) for c in centres]
    features = np.concatenate([*tight, rng.normal(size=(20, 64)), rng.normal(size=(1, 64))])
    labels = np.repeat([0, 1, 2, 3, 0], [20, 20, 20, 20, 1])
    probs = np.full((len(labels), 4), 0.1)
    probs[np.arange(len(labels)), labels] = 0.7
    probs[60:, :] = 0.25  # the broad class and the stranger: their label at chance
    found = far_from_label(labels, probs, features.astype(np.float32), AuditConfig())
    assert found.tolist() == [80]


@pytest.mark.slow  # about 1 s: the first nearest-neighbour search
def test_a_far_image_its_label_gets_at_over_half_is_not_flagged_with_two_or_three_classes():
    """With two classes twice chance is 1.0: every image far from its class was flagged as a
    wrong label, one its label got at 0.99 too (7 correct photos of 60 Leopards and 60 laptops,
    session 61's review). The limit is at most 0.5, so only the far image its label gets under
    half is flagged, with two classes as with three; with four it stays twice chance."""
    from objrec.audit.labels import far_from_label, far_limit

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 64))
    for n in (2, 3, 4):
        tight = [c + 0.15 * rng.normal(size=(20, 64)) for c in centres[:n]]
        strangers = rng.normal(size=(2, 64))
        features = np.concatenate([*tight, strangers]).astype(np.float32)
        labels = np.append(np.repeat(np.arange(n), 20), [0, 0])
        probs = np.full((len(labels), n), 0.01 / (n - 1))
        probs[np.arange(len(labels)), labels] = 0.99
        confident, unsure = 20 * n, 20 * n + 1
        given = min(0.4, 1.5 / n)
        probs[unsure] = (1 - given) / (n - 1)
        probs[unsure, 0] = given
        found = far_from_label(labels, probs, features, AuditConfig())
        assert found.tolist() == [unsure], n  # the confident stranger is not flagged
        assert confident not in found
    assert far_limit(2) == far_limit(3) == 0.5 and far_limit(4) == 0.5 and far_limit(8) == 0.25


@pytest.mark.slow
def test_a_wrong_label_another_class_claims_is_flagged_nearer_its_class():
    """10 Caltech classes with an elephant photo planted in dolphin/: cleanlab counted none (the
    neighbours give typical images their class at nearly 1, so elephant's confident threshold
    was 0.86 and the elephant got 0.75), and its distance to the dolphins was only z=1.9 within
    the class, under ``FAR_Z``: nothing flagged it. An image given its label under twice chance
    that another class claims (``CLAIM_SHARE`` of that class's threshold) now needs only
    ``CLAIM_Z``; a claimed image among its own class's images, or an unclaimed one as far as the
    plant, is still not flagged."""
    from objrec.audit.distances import class_spread_z, knn_distance
    from objrec.audit.labels import FAR_Z, far_from_label

    claim_z = 1.0  # ``CLAIM_Z``

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 64))
    classes = [c + rng.normal(size=(20, 64)) for c in centres]
    planted = 0.9 * centres[0] + 0.1 * centres[1] + 0.9 * rng.normal(size=(1, 64))  # z 1.84
    features = np.concatenate([*classes, planted]).astype(np.float32)
    labels = np.append(np.repeat(np.arange(4), 20), 0)
    z = class_spread_z(knn_distance(dedup.normalise(features), labels, 5), labels)
    assert claim_z < z[80] < FAR_Z  # the plant: somewhat out of its class, not far
    inside = int(np.flatnonzero((labels == 2) & (z < claim_z))[0])
    middling = int(np.flatnonzero((z[:80] > claim_z) & (z[:80] < FAR_Z))[0])
    probs = np.full((len(labels), 4), 0.05)
    probs[np.arange(len(labels)), labels] = 0.85
    probs[80] = [0.1, 0.8, 0.05, 0.05]  # given dolphin, claimed by elephant
    probs[inside] = [0.05, 0.05, 0.1, 0.8]  # a confusable image among its own class
    probs[middling] = 0.7 / 3
    probs[middling, labels[middling]] = 0.3  # unsure, claimed by none
    assert far_from_label(labels, probs, features, AuditConfig()).tolist() == [80]


@pytest.mark.slow
def test_a_burst_of_frames_in_the_wrong_class_does_not_vouch_for_its_label():
    """A user's two 3-frame bursts of flamingos in ibis/ were not flagged: each frame's
    burst-mates sat in its head's training folds and were its nearest neighbours, vouching for
    ibis. Near-duplicates now share a fold and leave each other out of the neighbour vote."""
    from objrec.audit.recipe import find_issues

    inv, features, facts, planted = bursts_in_the_wrong_class()
    ok = np.ones(len(inv.items), dtype=bool)
    result = find_issues(inv, features, ok, facts, AuditConfig(pca=0), SILENT)
    assert len(result.near_duplicates) == 2  # the bursts, as the audit groups them
    assert {row.path for row in result.label_issues} == planted
    assert {row.suggested for row in result.label_issues} == {"flamingo"}


@pytest.mark.slow
def test_the_audit_finds_each_images_nearest_outside_its_group_once(monkeypatch):
    """The label check and the outliers each worked out every image's nearest images outside its
    group (twice) and its distance to its class (three times: the far-from-label check, the
    suggested class's spread, the outliers), each a nearest-neighbour search of every class:
    once each now, with the same findings."""
    import objrec.audit.distances as distances  # where the label check and outliers call them
    import objrec.audit.recipe as audit_module

    calls = Counter()
    for name in ("knn_distance", "outside_groups"):
        original = getattr(distances, name)

        def counted(unit, *args, _name=name, _original=original, **kwargs):
            calls[_name, len(unit)] += 1
            return _original(unit, *args, **kwargs)

        monkeypatch.setattr(distances, name, counted)
    inv, features, facts, planted = bursts_in_the_wrong_class()
    ok = np.ones(len(inv.items), dtype=bool)
    result = audit_module.find_issues(inv, features, ok, facts, AuditConfig(pca=0), SILENT)
    assert calls["knn_distance", len(inv.items)] == 1
    assert calls["outside_groups", len(inv.items)] == 1
    assert {row.path for row in result.label_issues} == planted


def test_near_duplicates_share_a_fold_and_only_they_move():
    """Each group is held out whole, in its first image's ``StratifiedKFold`` fold; every other
    image keeps its fold, so a folder without near-duplicates keeps its findings
    (``StratifiedGroupKFold`` draws other folds for all, from a group per image too)."""
    from objrec.audit.heads import fold_splits, out_of_fold_probs

    labels = np.repeat(np.arange(3), 15)
    setting = AuditConfig(folds=3, epochs=2)

    def fold_of(groups):
        return {
            int(i): k
            for k, (_, held) in enumerate(fold_splits(labels, groups, setting))
            for i in held
        }

    plain = fold_of(None)
    assert fold_of(np.arange(45)) == plain
    groups = np.arange(45)
    groups[[7, 20, 33]] = 7  # one picture in three classes
    groups[[40, 41, 42, 43]] = 40  # a burst
    grouped = fold_of(groups)
    assert {grouped[i] for i in (7, 20, 33)} == {plain[7]}
    assert {grouped[i] for i in (40, 41, 42, 43)} == {plain[40]}
    assert all(grouped[i] == plain[i] for i in set(range(45)) - {20, 33, 41, 42, 43})
    features = np.random.default_rng(0).normal(size=(45, 8)).astype(np.float32)
    probs = out_of_fold_probs(features, labels, 3, setting)
    assert np.array_equal(
        probs, out_of_fold_probs(features, labels, 3, setting, SILENT, np.arange(45))
    )


def test_every_head_trains_on_each_class_of_two_bursts_or_more():
    """A class of two 4-frame bursts had both held out in one fold whenever the bursts' first
    frames shared their ``StratifiedKFold`` fold: that fold's head never saw the class, and its
    correct frames were flagged as wrong labels (16 such classes of 120 drew 20 of the 32 false
    flags of six seeds, all labels right). A group now leaves such a fold for another one of its
    frames had; a class of one burst is never in a head's training, as before."""
    from objrec.audit.heads import fold_splits

    labels = np.repeat(np.arange(20), 8)
    groups = np.repeat(np.arange(40) * 4, 4)  # each class: two bursts of four frames
    for seed in range(6):
        splits = fold_splits(labels, groups, AuditConfig(seed=seed))
        for fit, held in splits:
            assert set(labels[held]) <= set(labels[fit]), seed
            assert not set(groups[fit]) & set(groups[held])  # bursts still held out whole
        assert sorted(np.concatenate([held for _, held in splits]).tolist()) == list(range(160))


@pytest.mark.slow
def test_a_class_of_one_burst_is_not_judged():
    """A class whose images are all copies of one picture has nothing of its own to be judged by
    once a group shares a fold: it is named as not judged, its frames not flagged."""
    from objrec.audit.recipe import find_issues

    inv, features, facts, _ = bursts_in_the_wrong_class()
    keep = list(range(48)) + list(range(72, 75))  # flamingo, heron, and ibis/ one burst
    inv.items = [inv.items[i] for i in keep]
    ok = np.ones(len(keep), dtype=bool)
    facts = [facts[i] for i in keep]
    result = find_issues(inv, features[keep], ok, facts, AuditConfig(pca=0), SILENT)
    assert result.unjudged == ["ibis"]
    assert not {row.given for row in result.label_issues} & {"ibis"}


def bursts_and_single_photos(bursts: int = 10, frames: int = 4, singles: int = 8, seed: int = 0):
    """Two classes of ``bursts`` bursts of ``frames`` near-identical frames (one hash each,
    features 0.02 apart) and ``singles`` photos of their own, all drawn about the class centre
    alike: the inventory, features and facts ``find_issues`` takes, and the single photos."""
    from objrec.audit.inventory import Inventory

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2, 64))
    rows, labels, hashes = [], [], []
    for c in range(2):
        for _ in range(bursts):
            rows.append(np.repeat(centres[c] + 0.6 * rng.normal(size=(1, 64)), frames, 0))
            hashes += [int.from_bytes(rng.bytes(32), "big")] * frames
        rows.append(centres[c] + 0.6 * rng.normal(size=(singles, 64)))
        hashes += [int.from_bytes(rng.bytes(32), "big") for _ in range(singles)]
        labels += [c] * (bursts * frames + singles)
    features = np.concatenate(rows) + 0.02 * rng.normal(size=(len(labels), 64))
    facts, items = facts_and_items("ab", labels, hashes)
    single = {
        it.shown for k, it in enumerate(items) if k % (bursts * frames + singles) >= bursts * frames
    }
    return (
        Inventory(Path("/data"), ("a", "b"), items, False),
        features.astype(np.float32),
        facts,
        single,
    )


@pytest.mark.slow
def test_a_bursts_frames_are_not_each_others_neighbours_for_the_outliers():
    """A user's audit called 58 of 351 images outliers, mostly bursts: each frame's nearest images
    were its burst-mates, so a photo of its own, as near its class as any, looked far. The
    outliers' distances now leave an image's own group out, as the neighbour vote does."""
    from objrec.audit.copies import copy_groups
    from objrec.audit.outliers import outlier_rows
    from objrec.audit.recipe import find_issues

    inv, features, facts, single = bursts_and_single_photos()
    ok = np.ones(len(inv.items), dtype=bool)
    result = find_issues(inv, features, ok, facts, AuditConfig(pca=0, epochs=2), SILENT)
    assert len(result.near_duplicates) == 20 and result.outliers == []
    idx = np.arange(len(inv.items))
    labels = np.array([it.label for it in inv.items])
    unit = dedup.normalise(features)
    near = dedup.feature_neighbours(unit, dedup.NEIGHBOURS)
    before = outlier_rows(inv, idx, labels, unit, facts, 5, near)  # as it was: groups ignored
    assert {o.path for o in before} == single
    pairs = dedup.duplicate_pairs(unit, facts, dedup.DuplicateRule(), near)
    group = copy_groups(len(idx), pairs)
    assert outlier_rows(inv, idx, labels, unit, facts, 5, near, group) == []


def test_photos_needed_lists_no_class_for_its_label_flags_alone():
    """photos_needed.csv listed anchor, elephant and cup "to add or retake photos of" for the
    sole reason "N labels flagged as likely wrong": a wrong label is fixed by relabelling, not
    by more photos. A class is listed only for what more photos fix (few photos, images not
    recognised); where it is, its flags are said as what to do first."""
    from objrec.photos_needed import class_evidence, in_need

    labels = np.array([0] * 42 + [1] * 42 + [2] * 6)
    answers = labels.copy()
    answers[0] = 1  # one chandelier looks like a ketch
    flagged = np.zeros(len(labels), dtype=bool)
    flagged[[41, 82, 83, 89]] = True  # 1 chandelier label flagged, 2 ketch labels, 1 ant
    photos = np.array([42, 42, 6])
    needs = in_need(
        class_evidence(labels, answers, photos, flagged, ["chandelier", "ketch", "ant"])
    )
    assert [(n.name, n.flagged) for n in needs] == [("ant", 1)]
    assert needs[0].reasons == [
        "only 6 photos (add photos: 11 or more)",
        "1 label flagged as likely wrong: fix it in plan.csv first (label_issues.csv; more "
        "photos do not fix a label)",
    ]


def test_an_audit_that_lists_no_class_says_why_and_names_the_classes_recognised_least():
    """audit.html said "None: no class lacks photos, is poorly recognised or has label flags"
    of an audit that flagged 10 labels (label flags list no class since), photos_needed.csv was
    its header alone and the terminal said nothing, while evaluate scored umbrella 71-77%
    (newcomer58, 2). With none listed, the sentence says what is true of every class and names
    the classes heads that never saw them recognised least: the first to look at."""
    from objrec.audit.findings import ClassRecall
    from objrec.photos_needed import (
        class_evidence,
        in_need,
        least_recognised,
        none_listed_words,
    )

    classes = ["crab", "lamp", "umbrella", "pizza"]
    labels = np.repeat(np.arange(4), 42)
    answers = labels.copy()
    answers[[84, 85, 86, 87, 88, 89]] = 1  # 6 umbrellas taken for lamps: 36 of 42, 86%
    answers[[42, 43]] = 2  # 2 lamps for umbrellas: 40 of 42
    answers[0] = 3  # a crab for a pizza: 41 of 42
    flagged = np.zeros(len(labels), dtype=bool)
    flagged[[126, 127]] = True  # 2 pizza labels flagged: pizza is judged on its other 40
    photos = np.full(4, 42)
    assert in_need(class_evidence(labels, answers, photos, flagged, classes)) == []
    evidence = class_evidence(labels, answers, photos, flagged, classes)
    least = least_recognised(evidence)
    assert least == [
        ClassRecall("umbrella", 36, 42),
        ClassRecall("lamp", 40, 42),
        ClassRecall("crab", 41, 42),
    ]
    said = none_listed_words(least)
    assert said == (
        "none listed: every class has 11 or more distinct photos, and heads that never saw them "
        "recognised 80% or more of each class's photos (label flags list no class: a wrong "
        "label is fixed in plan.csv, not by more photos). Recognised least: umbrella, 36 of 42 "
        "photos (86%); lamp, 40 of 42 photos (95%); crab, 41 of 42 photos (98%); a class that "
        "scores lower on its test photos is worth more photos even so"
    )
    assert "has label flags" not in said
    assert least_recognised(evidence, count=4) == least  # pizza, 40 of 40: nothing to say
    merged = none_listed_words(least, merged=["lamp"])  # said apart, as likely merged
    assert merged.startswith("none listed: every class but lamp") and "lamp, 40" not in merged
    assert none_listed_words([], "labels not judged: ...") == (
        "none listed, as nothing was measured (labels not judged: ...)"
    )


def test_photos_needed_names_the_classes_with_few_or_unrecognised_photos_and_why():
    """A shop owner's real question after a run was "which products do I photograph again?",
    which neither the audit nor evaluate answered per class. The audit lists the classes with
    few photos or photos its heads did not recognise, least recognised first, the reasons in
    words (a confusion named)."""
    from objrec.photos_needed import class_evidence, in_need

    classes = ["lotus", "water_lilly", "car", "bike", "bus"]
    labels = np.array([0] * 12 + [1] * 12 + [2] * 20 + [3] * 6 + [4] * 20)
    answers = labels.copy()
    answers[12:18] = 0  # 6 water lilies look like lotus
    answers[44] = 2  # one bike looks like a car: a bike of 6 photos, 5 recognised
    answers[[50, 51]] = 2  # two of 20 buses look like cars: a confusion alone, not listed
    flagged = np.zeros(len(labels), dtype=bool)
    flagged[[30, 31]] = True  # two car labels flagged: fixed in the plan, not by photos
    photos = np.array([12, 12, 20, 6, 20])
    needs = in_need(class_evidence(labels, answers, photos, flagged, classes))
    assert [n.name for n in needs] == ["water_lilly", "bike"]  # lotus, bus, car: no photos lack
    assert needs[0].reasons == [
        "6 of its 12 photos not recognised by heads that never saw them (add varied photos)",
        "confused with lotus (6 of its photos look like it: add photos that tell them apart)",
    ]
    assert needs[1].reasons == ["only 6 photos (add photos: 11 or more)"]
    assert needs[1].listed().row() == {
        "class": "bike",
        "photos": 6,
        "images": 6,
        "recognised": 5,
        "of": 6,
        "flagged": 0,
        "confused_with": "",
        "confused_photos": [],
        "reason": "only 6 photos (add photos: 11 or more)",
    }
    paths, places = [f"p{i}.jpg" for i in range(len(labels))], range(100, 100 + len(labels))
    named = needs[0].listed(paths, places)  # the 6 water lilies
    assert named.confused_photos == [f"p{i}.jpg" for i in range(12, 18)]
    assert named.confused == list(range(112, 118))  # their places in the inventory


def test_photos_needed_counts_the_images_it_did_not_recognise():
    """A newcomer read `water_lilly: 21 of its 27 images recognised by heads that never saw them`
    as good news, where the class is listed for the 6 they missed: the reason counts those now;
    the CSV's and --json's recognised and of keep their numbers."""
    from objrec.photos_needed import class_evidence, in_need

    labels = np.array([0] * 27 + [1] * 27)
    answers = labels.copy()
    answers[:6] = 1  # 6 water lilies taken for lotus
    flagged = np.zeros(len(labels), dtype=bool)
    (lilies,) = in_need(
        class_evidence(labels, answers, np.array([27, 27]), flagged, ["water_lilly", "lotus"])
    )
    assert lilies.reasons[0] == (
        "6 of its 27 photos not recognised by heads that never saw them (add varied photos)"
    )
    assert (lilies.listed().recognised, lilies.listed().row()["of"]) == (21, 27)


def test_photos_needed_says_distinct_photos_as_photos_and_images_as_images():
    """12 images of ant in 3 distinct photos, 3 recognised, read "only 3 photos (add photos: 11
    or more); 3 of its 12 photos recognised ...; confused with bee (9 of its photos look like
    it ...)": one class counted two ways under one word. The audit now counts photos, one row a
    picture (``sizes``: each one's files), and says the files of those missed where copies make
    them more."""
    from objrec.photos_needed import class_evidence, in_need

    labels = np.array([0] * 3 + [1] * 12)  # ant: 3 photos of 4 files each; bee: 12 photos
    answers = np.array([0, 1, 1] + [1] * 12)
    flagged = np.zeros(len(labels), dtype=bool)
    sizes = np.array([4] * 3 + [1] * 12)
    (ant, *_) = in_need(
        class_evidence(labels, answers, np.array([3, 12]), flagged, ["ant", "bee"], sizes)
    )
    assert ant.reasons == [
        "only 3 distinct photos in 12 images (add photos: 11 or more)",
        "2 of its 3 photos (8 images with their copies) not recognised by heads that never saw "
        "them (add varied photos)",
        "confused with bee (2 of its photos look like it: add photos that tell them apart)",
    ]
    assert (ant.listed().photos, ant.listed().images) == (3, 12)


def test_a_flag_in_a_class_of_too_few_photos_that_no_class_claims_is_set_apart():
    """with 6-10 photos a product, the audit listed 18 right photos as likely wrong
    labels (p(given) near 0: the class cannot fill the neighbour vote), though no other class
    claimed them (p(suggested) 0.1-0.25). Such a flag is now too few photos to judge; a flag
    another class claims, or one in a class of 11 photos or more, is still a likely wrong label."""
    from objrec.audit.labels import too_few_to_judge

    def row(images: int, p: float) -> LabelIssue:
        return LabelIssue("cat/0.jpg", "cat", "dog", prob_suggested=p, class_images=images)

    assert too_few_to_judge(row(6, 0.15), AuditConfig())
    assert not too_few_to_judge(row(6, 0.6), AuditConfig())
    assert not too_few_to_judge(row(11, 0.1), AuditConfig())
    assert not too_few_to_judge(row(6, 0.15), AuditConfig(few_photos_p=0.0))  # off
    with pytest.raises(ObjrecError, match="few_photos_p"):
        AuditConfig(few_photos_p=1.5)


def test_a_flag_far_from_every_class_is_of_none_of_them_a_moved_photo_is_not():
    """Photos of nothing planted in a folder (an astronaut in laptop/) came out as relabels into
    whichever class their scattered votes favoured. A flagged photo far from every class's
    photos is of none of them (``no_class``); a photo of another class moved in lies among that
    class's photos, and is not."""
    from objrec.audit.distances import Around
    from objrec.audit.labels import NO_CLASS_Z, nearest_class_z, of_no_class

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 32)) * 4
    features = np.concatenate([c + rng.normal(size=(20, 32)) for c in centres])
    labels = np.repeat([0, 1, 2], 20)
    features = np.concatenate([features, rng.normal(size=(1, 32)) * 4])  # of none of them
    labels = np.append(labels, 0)
    labels[25] = 0  # a photo of class 1, labelled 0
    unit = dedup.normalise(features)
    around = Around(unit, dedup.feature_neighbours(unit, 10), labels, None, 5)
    moved, nothing = nearest_class_z(around, np.array([25, 60]), 5, None)
    assert moved < NO_CLASS_Z < 2 < nothing
    assert of_no_class(nothing, 0.2, 0.3) and not of_no_class(moved, 0.2, 0.3)
    assert not of_no_class(nothing, 0.2, 0.6)  # a class claims it: a wrong label, however far


def test_a_far_photo_its_own_label_claims_is_not_of_none_of_the_classes():
    """Two classes (Leopards, laptop): 7 correct photos given their label at 1.00 were said to be
    "like none of the classes, the likeliest, Leopards, gets 0.00" (session 61's review). A photo
    its own label claims is an unusual photo of its class, not a photo of none of them."""
    from objrec.audit.labels import NO_CLASS_Z, of_no_class

    far = NO_CLASS_Z + 3
    assert not of_no_class(far, 1.0, 0.0)
    assert not of_no_class(far, 0.6, 0.3)
    assert of_no_class(far, 0.3, 0.3)  # scattered: no class claims it


def test_a_class_split_in_two_folders_is_named_as_a_likely_merge_a_far_one_is_not():
    """car_side split into `car_side` and `cars` was never named: the audit flagged 18 of cars's
    30 photos as "may be car_side, votes split" and advised photos that tell them apart. A class
    most of whose photos the out-of-fold answers take for another, mistaken for each other both
    ways as evaluate names look-alikes, and lying among the other's photos as its own do, is a
    likely merge; a small class of other things taken for a big one (lying far from it) is not."""
    from objrec.audit.copies import Pictures
    from objrec.audit.distances import Around
    from objrec.audit.findings import LikelyMerge
    from objrec.audit.labels import likely_merges

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 32)) * 4
    one = centres[0] + rng.normal(size=(80, 32))  # car_side's 50 and cars's 30 photos
    features = np.concatenate([one, centres[1] + rng.normal(size=(40, 32))])
    features = np.concatenate([features, centres[2] + rng.normal(size=(12, 32))])
    labels = np.repeat([0, 1, 2, 3], [50, 30, 40, 12])
    answers = np.repeat([0, 0, 2, 2], [50, 30, 40, 12])  # cars and the 12 others taken
    answers[[0, 1, 2, 3, 50, 51, 52, 60]] = [1, 1, 1, 3, 1, 1, 1, 3]  # some each way
    answers[[80, 81]] = 3  # 2 of the 40 taken for the 12 others, both ways too
    unit = dedup.normalise(features)
    around = Around(unit, dedup.feature_neighbours(unit, 10), labels, None, 5)
    pictures = Pictures.of_groups(np.arange(len(labels)), labels)
    classes = ["car_side", "cars", "ketch", "llama"]
    assert likely_merges(answers, pictures, around, classes, 5) == [
        LikelyMerge("cars", "car_side", 26, 30, 3, 50)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("copies", [1, 5, 60])
def test_many_copies_of_one_photo_do_not_outvote_the_label_check(tmp_path, copies):
    """60 copies of an ant photo in accordion/ went unflagged while two right anchor photos were
    flagged as accordion ("6 of its 10 nearest images are labelled accordion": copies of one
    picture), a plan reason said "distance z=49026492.0" and photos_needed.csv counted the copies
    as images (review54a H1). The audit judges one row a picture: the copies are flagged, each
    of them, whatever their number; no right photo is; every z is a sane number; the classes'
    counts are photos."""
    data, planted = copies_in_the_wrong_class(tmp_path, copies)
    result = audit(data, tmp_path / "audit", config(cache_dir=str(tmp_path / "cache")))
    flagged = {Path(issue.path).relative_to(data).as_posix() for issue in result.label_issues}
    assert flagged == planted
    assert {issue.suggested for issue in result.label_issues} == {"red"}
    assert {(issue.copies, issue.picture) for issue in result.label_issues} == {
        (copies, result.label_issues[0].picture)
    }
    zs = [issue.suggested_z for issue in result.label_issues]
    assert all(z is not None and abs(z) < 1e3 for z in zs), zs
    assert all(outlier.score < 1e3 for outlier in result.outliers)
    for need in result.photos_needed:
        assert need.judged <= need.photos <= 17, need


def test_photos_needed_counts_a_photos_copies_once():
    """photos_needed.csv said "accordion: 600 of its 616 images not recognised" of one picture
    in 600 copies (review54a H1): the classes are judged one row a picture, and the files of
    the photos missed are said beside them."""
    from objrec.audit.copies import Pictures
    from objrec.audit.inventory import Inventory, Item
    from objrec.audit.labels import needs_rows

    labels = np.array([0] * 16 + [1] * 16 + [1] * 600)
    probs = np.zeros((len(labels), 2))
    probs[np.arange(len(labels)), labels] = 1.0
    probs[32:, :] = [1.0, 0.0]  # the copies look like class 0
    probs[[16, 17, 18, 19], :] = [1.0, 0.0]  # so do 4 photos of class 1 of their own
    group = np.arange(len(labels))
    group[32:] = 32
    items = [Item(Path(f"/d/{k}.png"), f"{k}.png", int(c), None) for k, c in enumerate(labels)]
    inv = Inventory(Path("/d"), ("ant", "accordion"), items, False)
    pictures = Pictures.of_groups(group, labels)
    counts = np.bincount(labels[pictures.first])
    (need,), _ = needs_rows(
        labels, probs, counts, np.array([], dtype=int), (inv, np.arange(632)), pictures
    )
    assert (need.class_name, need.photos, need.images, need.judged, need.recognised) == (
        "accordion",
        17,
        616,
        17,
        12,
    )
    assert need.reason.startswith(
        "5 of its 17 photos (604 images with their copies) not recognised by heads"
    )
    assert need.confused_photos == ["16.png", "17.png", "18.png", "19.png", "32.png"]
