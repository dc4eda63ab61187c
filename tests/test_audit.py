"""audit: a planted wrong label is ranked first, copies are found across splits, nothing changes;
its features, settings, outputs (CSVs, audit.json, audit.html) and what the terminal says. Its
jobs' own tests: ``test_audit_copies``, ``test_audit_labels``, ``test_audit_plan``;
apply-plan's: ``test_apply_plan``. The helpers here (``pattern``, ``make_split``,
``colour_folder``...) are theirs too."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import importlib
import json
import logging
import os
import re
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from objrec import dedup, facts_store, image_facts
from objrec.applying.recipe import apply_plan
from objrec.audit.findings import ClassRecall, DuplicateGroup, LabelIssue, Outlier, PhotosNeeded
from objrec.audit.plan import ACTIONS
from objrec.audit.recipe import AuditConfig, AuditResult, audit
from objrec.audit.report import NEEDS_COLUMNS
from objrec.cli import main
from objrec.errors import ObjrecError

from .conftest import fake_checkpoint, store_held, taken_before

COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}
HASH_ONLY = dedup.DuplicateRule(sim_strict=2.0, sim_loose=2.0)
"""tiny_test's 16 random features make every image of one colour alike: test the hash alone."""


def pattern(colour, seed: int, size=(64, 56)) -> Image.Image:
    """A smooth random pattern tinted with ``colour``: each seed a different picture."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 1, (16, 16, 1))
    base = Image.fromarray((coarse[..., 0] * 255).astype(np.uint8)).resize(size, Image.BICUBIC)
    grey = np.asarray(base, dtype=np.float32)[..., None] / 255
    pixels = np.clip(np.array(colour) * (0.5 + grey) + rng.normal(0, 1, grey.shape), 0, 255)
    return Image.fromarray(pixels.astype(np.uint8))


def make_split(root: Path, per_split=(8, 4, 4)) -> Path:
    seed = 0
    for split, n in zip(("train", "valid", "test"), per_split, strict=True):
        for name, colour in COLOURS.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pattern(colour, seed).save(folder / f"{name}_{i:02d}.png")
                seed += 1
    return taken_before(root)


def config(**kwargs) -> AuditConfig:
    return AuditConfig(
        backbone="tiny_test", folds=3, epochs=40, lr=1e-2, duplicates=HASH_ONLY, **kwargs
    )


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    return {
        p.relative_to(root).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def plant(data: Path) -> Path:
    """One red image moved into green; a mirrored copy of a train image in test and a resized one
    in valid; a blank, a tiny and a long thin image."""
    shutil.move(data / "train/red/red_03.png", data / "train/green/moved.png")
    original = Image.open(data / "train/blue/blue_01.png")
    ImageOps.mirror(original).save(data / "test/blue/mirrored.png")
    original.resize((40, 35)).save(data / "valid/blue/resized.jpg", quality=70)
    Image.new("RGB", (64, 64), (128, 128, 128)).save(data / "train/red/blank.png")
    pattern(COLOURS["red"], 999, size=(20, 18)).save(data / "train/red/tiny.png")
    pattern(COLOURS["red"], 998, size=(300, 40)).save(data / "train/red/strip.png")
    return data


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """One audit of a planted folder, shared by the tests that read its findings."""
    root = tmp_path_factory.mktemp("audited")
    data = plant(make_split(root / "data"))
    before = snapshot(data)
    result = audit(data, root / "audit", config(cache_dir=str(root / "cache")))
    return data, result, before, root


def test_the_audit_package_gives_its_entry_points_from_its_recipe_module():
    """audit.py became the package ``objrec.audit`` (session 58), its own code ``audit.recipe``:
    ``from objrec.audit import audit, AuditConfig, AuditResult`` gives the recipe's, as it gave
    audit.py's, and a name the package lacks is refused."""
    from objrec.audit import AuditConfig, AuditResult, recipe
    from objrec.audit import audit as from_package

    assert from_package is recipe.audit and AuditConfig is recipe.AuditConfig
    assert AuditResult is recipe.AuditResult
    with pytest.raises(ImportError):
        from objrec.audit import find_issues  # noqa: F401


@pytest.mark.slow
def test_an_audit_lets_go_of_the_feature_store_it_opened(tmp_path):
    """A script calling `objrec.audit_folder` kept the feature store it opened (its lock among
    it) until Python, or the thread, ended: a prune or clear elsewhere waited for an audit long
    done, and a thread ending left the store's files open. It lets go as it returns, as evaluate
    and predict do (``cache.stores_held``)."""
    cache = tmp_path / "cache"
    audit(
        make_split(tmp_path / "data", (4, 2, 2)),
        None,
        replace(config(), cache_dir=str(cache), epochs=2),
    )
    assert (cache / "store" / "lock").is_file() and not store_held(cache)


@pytest.mark.slow
def test_planted_wrong_label_is_ranked_first(audited):
    data, result, _, _ = audited
    top = result.label_issues[0]
    assert top.path == str(data / "train/green/moved.png")
    assert (top.given, top.suggested) == ("green", "red")


@pytest.mark.slow
def test_an_audit_names_no_class_recognised_whole_as_recognised_least(audited):
    """What an audit that lists no class in photos_needed.csv names (newcomer58, 2): the
    classes whose photos heads that never saw them recognised least, least first; none whose
    every photo was recognised, as each of this tiny folder's classes is (the order and the
    words: test_an_audit_that_lists_no_class_says_why_and_names_the_classes_recognised_least)."""
    _, result, _, _ = audited
    assert result.photos_needed == [] and result.least_recognised == []
    assert "none listed: every class" in result.none_needed()
    assert "Recognised least" not in result.none_needed()


@pytest.mark.slow
def test_mirrored_and_resized_copies_found_across_splits(audited):
    data, result, _, _ = audited
    groups = [set(g.paths) for g in result.near_duplicates]
    copies = {
        str(data / p)
        for p in ("train/blue/blue_01.png", "test/blue/mirrored.png", "valid/blue/resized.jpg")
    }
    assert copies in groups
    group = result.near_duplicates[groups.index(copies)]
    assert group.kind == "across splits"
    assert sorted(group.splits) == ["test", "train", "valid"]
    assert len(groups) == 1  # the other pictures are all different


@pytest.mark.slow
def test_the_audit_times_each_stage_under_its_own_name(audited):
    """The pairs and the distances were lapped as "duplicates" and "labels", which the label
    check and the grouping lapped again: ``seconds["labels"]`` was not the label check's."""
    _, result, _, _ = audited
    assert list(result.seconds) == [
        *("features", "hashing", "neighbours", "pairs", "distances", "labels"),
        *("duplicates", "outliers", "report", "total"),
    ]


@pytest.mark.slow
def test_degenerate_images_are_outliers(audited):
    _, result, _, _ = audited
    reasons = {Path(o.path).name: o.reason for o in result.outliers}
    assert reasons["blank.png"].startswith("nearly blank")
    assert reasons["tiny.png"].startswith("tiny")
    assert reasons["strip.png"].startswith("extreme aspect ratio")


@pytest.mark.slow
def test_audit_writes_its_findings_and_never_changes_a_file(audited):
    data, _, before, root = audited
    assert snapshot(data) == before
    for name in (
        "label_issues.csv",
        "near_duplicates.csv",
        "outliers.csv",
        "audit.json",
        "audit.html",
        "plan.csv",
    ):
        assert (root / "audit" / name).is_file()
    assert "data:image/jpeg;base64" in (root / "audit/audit.html").read_text()
    result = audited[1]
    for kind in ("label_issues", "near_duplicates", "outliers"):  # as DataFrames, for a notebook
        table, rows = result.table(kind), csv_rows(root / "audit" / f"{kind}.csv")
        assert list(table.columns) == list(rows[0]) and len(table) == len(rows) > 0, kind
        assert list(table.iloc[:, 0]) == [row[table.columns[0]] for row in rows], kind
    assert repr(result).startswith(f"AuditResult(n_images={result.n_images}, n_classes=3, likely_")
    with pytest.raises(ObjrecError, match="`kind` must be one of label_issues, near_dup"):
        result.table("label_issue")


@pytest.mark.slow
def test_audit_html_captions_the_look_alikes_of_a_wrong_label_by_their_label(audited):
    """Captioned "a airplanes train/airplanes/image_0036.jpg": "a" before a class name."""
    page = (audited[3] / "audit/audit.html").read_text()
    issue = page[page.index('id="labels"') : page.index('id="duplicates"')]
    assert "<figcaption>labelled green<br>" in issue  # the image itself
    assert "<figcaption>labelled red<br>" in issue  # the red images it looks like
    assert "<figcaption>a " not in page


@pytest.mark.slow
def test_audit_html_is_one_main_landmark_a_screen_reader_can_jump_to(audited):
    """The page's content stood in its body alone: a screen reader had no main landmark to jump
    to (a11y40 #12). It is all in one main; each thumbnail's caption says what it shows."""
    page = (audited[3] / "audit/audit.html").read_text()
    assert page.count("<main>") == 1 and "<body><main>\n<h1>" in page
    assert page.rstrip().endswith("</main></body></html>")
    assert page.count('alt=""') == page.count("<figcaption>")


@pytest.mark.slow
def test_cli_json_has_the_documented_shape(tmp_path, capsys):
    data = plant(make_split(tmp_path / "data"))
    before = snapshot(data)
    args = ["audit", str(data), "--backbone", "tiny_test", "--folds", "3", "--json"]
    assert main([*args, "--out", str(tmp_path / "audit")]) == 0
    assert snapshot(data) == before
    found = json.loads(capsys.readouterr().out)
    assert set(found) == {
        "out",  # where its files went, as split's and explore's: a script needs plan.csv
        "plan",
        "planned",  # how many rows plan.csv pre-fills of each action, how many less sure
        "label_issues",
        "settled_labels",  # label flags an earlier plan settled (reviewed.csv): none here
        "of_no_class",  # label flags of photos far from every class (7 December 2026)
        "merged_labels",  # label flags a likely merge explains (7 December 2026)
        "likely_merges",  # classes that look like one class in two folders (7 December 2026)
        "too_few_to_judge",  # label flags in classes of too few photos to judge: none here
        "near_duplicates",
        "look_alikes",
        "outliers",
        "unreadable_files",  # the files no command can read, not counted as images: none here
        "labels_judged",  # false when no label was judged (one class): a script can tell
        "labels_not_judged",  # why not, or null
        "classes_not_judged",
        "far_classes",
        "photos_needed",  # the classes to add or retake photos of (photos_needed.csv)
        "least_recognised",  # the classes recognised least, which the terminal names
        "warnings",  # a list, as every --json answer's (docs/json.md)
    }
    assert isinstance(found["warnings"], list)
    assert set(found["near_duplicates"][0]) == {"paths", "splits", "similarity"}
    assert all(set(g) == {"paths", "splits", "similarity"} for g in found["look_alikes"])
    flag = {"path", "given", "suggested", "score", "picture", "copies"}  # picture: 6 Dec 2026
    assert all(set(r) == flag for r in found["label_issues"])
    assert found["settled_labels"] == [] and found["unreadable_files"] == []
    assert found["labels_judged"] is True and found["labels_not_judged"] is None
    least = found["least_recognised"]
    assert least and all(set(r) == {"class", "recognised", "of"} for r in least)
    assert all(
        set(r) == {"path", "score", "reason", "picture", "copies"} for r in found["outliers"]
    )
    assert found["outliers"][0]["path"].startswith(str(data))
    assert found["out"] == str(tmp_path / "audit")
    assert found["plan"] == str(tmp_path / "audit" / "plan.csv")
    assert (tmp_path / "audit" / "plan.csv").is_file()
    text = Path(found["plan"]).read_text("utf-8-sig").splitlines()
    actions = [row["action"] for row in csv.DictReader(text)]
    assert {k: found["planned"][k] for k in ACTIONS} == {k: actions.count(k) for k in ACTIONS}
    assert 0 <= found["planned"]["less_sure"] <= found["planned"]["review"]


@pytest.mark.slow
def test_the_findings_csvs_name_each_file_relative_to_data_as_the_plan_does(audited):
    """label_issues.csv said data/train/green/moved.png where plan.csv says train/green/moved.png,
    so a path copied from one into the plan was refused as not in DATA; --json and
    the terminal name them in DATA, as before."""
    data, result, _, root = audited
    plan = {r["file"] for r in csv.DictReader((root / "audit/plan.csv").open(encoding="utf-8-sig"))}
    issues = csv_paths(root / "audit/label_issues.csv")
    outliers = csv_paths(root / "audit/outliers.csv")
    assert issues[0] == "train/green/moved.png"
    assert result.label_issues[0].path == str(data / "train/green/moved.png")
    assert outliers and set(issues + outliers) <= plan
    groups = csv.DictReader((root / "audit/near_duplicates.csv").open(encoding="utf-8-sig"))
    paths = [p for g in groups for p in g["files"].split(" | ")]
    assert "test/blue/mirrored.png" in paths and all((data / p).is_file() for p in paths)


@pytest.mark.slow
def test_apply_plan_copies_a_corrected_folder_and_leaves_data_alone(audited, tmp_path):
    data, _, before, root = audited
    rows = list(csv.DictReader((root / "audit/plan.csv").open(encoding="utf-8-sig")))
    actions = {r["file"]: (r["action"], r["new_class"]) for r in rows}
    assert actions["train/green/moved.png"] == ("relabel", "red")
    from objrec.file_index import hash_file

    assert all(r["digest"] == hash_file(data / r["file"]) for r in rows)  # the audit saw them
    counts = apply_plan(data, root / "audit/plan.csv", tmp_path / "fixed")
    assert counts.replaced == 0
    assert snapshot(data) == before
    assert (tmp_path / "fixed/train/red/moved.png").is_file()
    assert not (tmp_path / "fixed/train/green/moved.png").exists()
    removed = [f for f, (a, _) in actions.items() if a == "remove"]
    assert counts.removed == len(removed) >= 2
    assert not any((tmp_path / "fixed" / f).exists() for f in removed)
    assert counts.copied == len(before) - counts.removed


def evidence(p: float) -> str:
    """A relabel's reason as the audit writes it (``audit.labels.label_issue_rows``' evidence), quoted."""
    return f'"heads and neighbours give p(given)=0.20, p(suggested)={p:.2f}; 3 of its 10 nearest"'


@pytest.mark.slow
def test_audit_waits_for_an_add_writing_in_data_and_audits_what_it_wrote(tmp_path):
    """audit read DATA with no lock, where add and apply-plan take the folder's: beside an add
    it listed the files the add had written so far and read them while it wrote more (a file
    renamed away meanwhile was skipped as unreadable). It reads DATA under a shared lock, as
    apply-plan does: an add holding the folder is waited for (``on_wait`` first), and the audit
    holds what it wrote once it is done."""
    data = colour_folder(tmp_path / "data", {"red": 4, "green": 4})
    fd = os.open(data, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # an add writing in DATA
    said = []

    def wait():
        said.append("waiting")
        pattern(COLOURS["red"], 99).save(data / "red/new.png")  # ... which ends
        os.close(fd)

    result = audit(data, None, replace(config(), epochs=2), on_wait=wait)
    assert said == ["waiting"] and result.n_images == 9


def own_copy_of_the_runs_cache(trained_once: Path, tmp_path: Path) -> Path:
    """The session run's cache, copied: these tests store features in it (evaluate and the
    audit compute the test split's), and the session's copy is read by every xdist worker, which
    copy it whole (``shutil.copytree``) while another wrote into its index: their copies of
    index.sqlite came out "database disk image is malformed" (tests/test_cli.py's, 9 and 4 of
    them in two slow runs of session 55)."""
    return Path(shutil.copytree(trained_once.parent / "cache", tmp_path / "cache"))


def test_a_run_that_kept_a_fine_tuning_is_audited_with_its_pretrained_body(
    tmp_path, monkeypatch, caplog
):
    """audit --run read a tuned run's images with its tuned body, whose top blocks learnt the
    training labels, wrong ones included (review56b M5), though --run's help says "the
    pretrained network of this run": the pretrained body, unless no fine-tuning was kept (an
    int8 run's body is never the float one's, late57 M1), or the pretrained body cannot be had
    (its weights file gone: the run's own, said, where it refused, late57 M2)."""
    from types import SimpleNamespace

    import torch

    import objrec.checkpoint
    from objrec.audit.inventory import frozen_body
    from objrec.backbones import build_body, get_backbone
    from objrec.bodies import fingerprint_module

    pretrained = fingerprint_module(build_body(get_backbone("tiny_test"), pretrained=True))
    tuned = build_body(get_backbone("tiny_test"), pretrained=True)
    with torch.no_grad():
        next(tuned.parameters()).add_(0.5)
    settings = SimpleNamespace(finetune_blocks=1, weights=None, precision="fp32")
    meta = SimpleNamespace(
        backbone="tiny_test",
        train_config=settings,
        body_fingerprint=fingerprint_module(tuned),
        cache_dir=None,
        feature_dtype="float32",
        data=SimpleNamespace(input_size=32),
    )
    run = SimpleNamespace(body=tuned)
    monkeypatch.setattr(objrec.checkpoint, "load_model", lambda path: (run, meta))

    def read_with():
        return fingerprint_module(frozen_body(config(cache_dir=str(tmp_path)), tmp_path)[0].body)

    assert read_with() == pretrained
    meta.body_fingerprint = pretrained  # fine-tuning asked for, not kept: its own body
    run.body = build_body(get_backbone("tiny_test"), pretrained=True)
    assert frozen_body(config(cache_dir=str(tmp_path)), tmp_path)[0].body is run.body
    run.body, meta.body_fingerprint = tuned, "an int8 body's"
    for changed in ({"precision": "int8"}, {"finetune_blocks": 0}):
        meta.train_config = SimpleNamespace(**(vars(settings) | changed))
        assert read_with() == fingerprint_module(tuned)
    meta.train_config = SimpleNamespace(**(vars(settings) | {"weights": str(tmp_path / "gone")}))
    assert read_with() == fingerprint_module(tuned)
    assert "its pretrained body cannot be had (weights file" in caplog.text


@pytest.mark.slow
def test_with_a_run_the_audit_reuses_its_cached_features(trained_once, tmp_path, monkeypatch):
    import objrec.features
    from objrec.evaluate import evaluate

    data, cache = (
        trained_once.parent / "data",
        str(own_copy_of_the_runs_cache(trained_once, tmp_path)),
    )
    # train stored train and valid features, evaluate stores test's
    evaluate(trained_once, data, cache_dir=cache, out=tmp_path / "eval")

    def no_new_features(body, samples, *args, **kwargs):
        raise AssertionError(f"the audit recomputed {[str(s.path) for s in samples]}")

    monkeypatch.setattr(objrec.features, "views_pass", no_new_features)
    result = audit(data, None, config(cache_dir=cache), run=trained_once)
    assert result.n_images == 36 and result.classes == ["blue", "green", "red"]


@pytest.mark.slow
def test_without_a_run_the_audit_reads_the_features_train_stored(
    trained_once, tmp_path, monkeypatch
):
    """``train`` stores its default dtype; the audit of the same images without ``--run`` computes
    only the test split's (which train never read)."""
    import objrec.features
    from objrec.cache import open_cache

    data, cache = (
        trained_once.parent / "data",
        str(own_copy_of_the_runs_cache(trained_once, tmp_path)),
    )
    views_pass, computed = objrec.features.views_pass, []

    def counting(body, samples, *args, **kwargs):
        computed.extend(Path(s.path).parent.parent.name for s in samples)
        return views_pass(body, samples, *args, **kwargs)

    monkeypatch.setattr(objrec.features, "views_pass", counting)
    audit(data, None, config(cache_dir=cache))
    assert set(computed) <= {"test"}  # train stored train and valid; evaluate may store test
    dtypes = {space["dtype"] for space in open_cache(cache).summary().to_json()["spaces"]}
    assert dtypes == {"float16"}


@pytest.mark.slow
def test_with_a_float16_run_the_audit_reads_the_store_in_float16(split_dir, tmp_path):
    from objrec.cache import open_cache
    from objrec.train import train

    from .conftest import tiny_train_config

    cache = str(tmp_path / "cache")
    train(split_dir, tmp_path / "run", tiny_train_config(cache_dir=cache, feature_dtype="float16"))
    audit(split_dir, None, config(cache_dir=cache), run=tmp_path / "run")
    dtypes = {space["dtype"] for space in open_cache(cache).summary().to_json()["spaces"]}
    assert dtypes == {"float16"}


@pytest.mark.slow  # a split and an audit of 18 images: 2 s
def test_the_audit_says_a_photo_moved_by_hand_between_class_folders_of_a_split(tmp_path, caplog):
    """A newcomer planted a mistake by moving a photo from train/sunflower to train/pizza; only
    check said so (manifest_class_moved), and the audit, where one looks for label problems,
    said nothing of the move (newcomer62, 5). It warns once, naming the file and the class
    manifest.csv lists it under; not for a split left as it was."""
    from objrec.split.recipe import split_folder

    split_folder(colour_folder(tmp_path / "photos", dict.fromkeys(COLOURS, 6)), tmp_path / "data")
    data = tmp_path / "data"
    with caplog.at_level(logging.WARNING, logger="objrec"):
        audit(data, None, config())
    assert "moved by hand" not in caplog.text
    first = sorted((data / "train").rglob("*.png"))[0]
    other = next(c.name for c in (data / "train").iterdir() if c.name != first.parent.name)
    first.rename(data / "train" / other / "planted.png")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="objrec"):
        audit(data, None, config())
    said = [r.getMessage() for r in caplog.records if "moved by hand" in r.getMessage()]
    assert len(said) == 1
    assert said[0].startswith(
        f"1 image of {data} is in another class folder than its manifest.csv lists it under "
        f"(moved by hand?): train/{other}/planted.png ({first.parent.name} in manifest.csv); "
        "the audit judged it as its folder's class"
    )


def test_min_steps_below_zero_is_refused():
    with pytest.raises(ObjrecError, match=r"^`min_steps` must be 0 \(off\) or more$"):
        AuditConfig(min_steps=-1)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: AuditConfig(folds="5"), "`folds` must be a whole number, not '5'"),
        (lambda: AuditConfig(epochs=2.5), "`epochs` must be a whole number, not 2.5"),
        (lambda: AuditConfig(knn_weight="0.5"), "`knn_weight` must be a number, not '0.5'"),
        (lambda: AuditConfig(seed=None), "`seed` must be a whole number, not None"),
        (lambda: AuditConfig(duplicates=0.9), "`duplicates` must be a DuplicateRule, not 0.9"),
        (lambda: dedup.DuplicateRule(sim_strict="1"), "`sim_strict` must be a number, not '1'"),
    ],
)
def test_an_audit_setting_of_the_wrong_type_is_refused_in_one_sentence_naming_it(make, message):
    """AuditConfig was the one config left unchecked: `AuditConfig(folds="5")` raised
    "TypeError: '<' not supported between instances of 'str' and 'int'", and `epochs=2.5`,
    `seed=None` or `duplicates=0.9` were taken, to fail later, deep in the audit."""
    with pytest.raises(ObjrecError, match=f"^{re.escape(message)}$"):
        make()


def test_audit_settings_take_a_path_and_numpy_numbers_as_the_other_configs_do(tmp_path):
    setting = AuditConfig(cache_dir=tmp_path, folds=np.int64(3), lr=np.float32(0.5))
    assert (setting.cache_dir, setting.folds, setting.lr) == (tmp_path, 3, 0.5)
    assert (type(setting.folds), type(setting.lr)) == (int, float)


@pytest.mark.slow
def test_a_cold_audit_takes_the_image_facts_in_its_frozen_pass(tmp_path, monkeypatch):
    """From an empty cache each image is measured once, as the frozen pass decodes it, with no
    separate pass over the files; the facts are those ``image_facts.image_facts`` takes on its own."""
    data = plant(make_split(tmp_path / "data"))
    paths = sorted(p for p in data.rglob("*") if p.is_file())
    expected = {p: image_facts.image_facts(p) for p in paths}
    measured, separately = [], []
    measure, measure_all = image_facts.image_facts, image_facts.all_facts
    monkeypatch.setattr(
        image_facts, "image_facts", lambda p, *a: measured.append(p) or measure(p, *a)
    )
    monkeypatch.setattr(
        image_facts,
        "all_facts",
        lambda ps, *a, **k: separately.extend(ps) or measure_all(ps, *a, **k),
    )
    cache = str(tmp_path / "cache")
    audit(data, None, config(cache_dir=cache))
    assert separately == []
    assert sorted(measured) == paths
    from objrec.cache import open_cache

    store = open_cache(cache)
    kept = facts_store.cached_facts(paths, store.store.digests(paths)[0], store.facts_file)
    assert separately == [] and dict(zip(paths, kept, strict=True)) == expected


def test_near_duplicate_rows_of_an_unsplit_folder_leave_the_splits_empty():
    """The CSV said "None | None" for a photo folder that has no splits."""
    from objrec.audit.report import duplicate_rows

    group = {"files": ["a/1.jpg", "a/2.jpg"], "classes": ["a", "a"], "similarity": 0.99}
    unsplit, split = duplicate_rows(
        [{**group, "splits": [None, None]}, {**group, "splits": ["train", "test"]}]
    )
    assert unsplit["splits"] == "" and unsplit["files"] == "a/1.jpg | a/2.jpg"
    assert split["splits"] == "train | test"


@pytest.mark.slow
def test_where_auto_settles_on_int8_the_audit_reads_the_int8_features_train_stored(
    tmp_path, monkeypatch
):
    """``precision="auto"`` runs train's body in int8 on a VNNI CPU; the audit without a run took
    the fp32 body and computed every image again."""
    import objrec.audit.inventory
    import objrec.features
    import objrec.precision
    from objrec.split.recipe import split_folder
    from objrec.train import train

    from .conftest import make_class_folder, tiny_train_config

    int8 = lambda *a, **k: ("int8", "this test's CPU")  # noqa: E731 - tiny_test is fp32 elsewhere
    monkeypatch.setattr(objrec.precision, "auto_precision", int8)
    monkeypatch.setattr(objrec.audit.inventory, "auto_precision", int8)
    split_folder(make_class_folder(tmp_path / "photos", per_class=6), tmp_path / "data", seed=0)
    cache = str(tmp_path / "cache")
    train(tmp_path / "data", tmp_path / "run", tiny_train_config(epochs=2, cache_dir=cache))
    views_pass, computed = objrec.features.views_pass, []

    def counting(body, samples, *args, **kwargs):
        computed.extend(Path(s.path).parent.parent.name for s in samples)
        return views_pass(body, samples, *args, **kwargs)

    monkeypatch.setattr(objrec.features, "views_pass", counting)
    audit(tmp_path / "data", None, config(cache_dir=cache))
    assert computed and set(computed) == {"test"}  # train stored train and valid, in int8


def fake_audit(found: list[Path]):
    """``audit`` as the CLI calls it, finding one group across splits; ``found``: its ``out``."""
    from objrec.audit.recipe import AuditResult

    def run_audit(data, out, config, run, reporter, force, refresh=False, on_wait=None):
        found.append(Path(out))
        shown = {"paths": ["a", "b"], "splits": ["train", "test"], "similarity": 0.907}
        groups = [dup_group(kind="across splits", **shown)]
        return AuditResult([], groups, [], 120, ["a"], seconds={"total": 1.0})

    return run_audit


def test_audit_s_first_line_gives_its_seconds_in_all_not_each_stage(tmp_path, capsys):
    """It ended "in 15s (features 1.2s, hashing 0.1s, neighbours 4.3s, duplicates 0.2s, labels
    9.1s, outliers 0.0s, report 0.4s)" (msgs54's loop), nothing a user acts on: each stage's
    seconds are the Python API's (``AuditResult.seconds``)."""
    from objrec.audit.recipe import AuditResult
    from objrec.cli.auditing import print_audit

    seconds = {"total": 15.0, "features": 1.2, "neighbours": 4.3, "labels": 9.1}
    result = AuditResult([], [], [], 150, ["a", "b"], seconds=seconds)
    print_audit(result, tmp_path / "data", tmp_path / "data-audit")
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith("0 outliers in 15s") and "neighbours" not in first, first


@pytest.mark.slow
def test_the_sample_is_audited_into_the_current_folder_not_the_package(
    tmp_path, monkeypatch, capsys
):
    import objrec.audit.recipe
    from objrec.cli.output import SAMPLE

    found: list[Path] = []
    monkeypatch.setattr(objrec.audit.recipe, "audit", fake_audit(found))

    def fake_explore(data, out, *args, **kwargs):
        found.append(out)
        raise ObjrecError("explored")  # ends the command before it prints the result

    monkeypatch.setattr(importlib.import_module("objrec.explore"), "explore", fake_explore)
    monkeypatch.chdir(tmp_path)
    assert main(["audit", str(SAMPLE)]) == 0
    assert main(["explore", str(SAMPLE)]) == 1
    assert found == [tmp_path / "caltech101_mini-audit", tmp_path / "caltech101_mini-explore"]
    said = capsys.readouterr().err
    assert "inside objrec's package: writing to caltech101_mini-audit in the current" in said
    data = make_split(tmp_path / "data")
    assert main(["audit", str(data)]) == 0
    assert found[-1] == tmp_path / "data-audit"  # any other folder: beside it, as before


def test_a_linked_folder_is_audited_beside_the_link_not_its_target(tmp_path, monkeypatch):
    """`objrec audit PHOTOS`, where PHOTOS is a link to the photos elsewhere, writes PHOTOS-audit
    beside the link, where the README's next command (`apply-plan PHOTOS PHOTOS-audit/plan.csv`)
    looks for it, not beside the folder the link points to."""
    import objrec.audit.recipe

    found: list[Path] = []
    monkeypatch.setattr(objrec.audit.recipe, "audit", fake_audit(found))
    (tmp_path / "elsewhere").mkdir()
    make_split(tmp_path / "elsewhere" / "photos")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "PHOTOS").symlink_to(tmp_path / "elsewhere" / "photos")
    monkeypatch.chdir(tmp_path / "work")
    assert main(["audit", "PHOTOS"]) == 0
    assert main(["audit", "PHOTOS/"]) == 0
    assert found == [tmp_path / "work" / "PHOTOS-audit"] * 2


@pytest.mark.parametrize("given", [["--backbone", "tiny_test"], ["--precision", "fp32"], []])
def test_a_body_given_beside_run_is_named_as_ignored(tmp_path, caplog, capsys, given):
    """audit --run R --backbone X audited with R's body and said nothing of X."""
    data, run = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    run.mkdir()  # a model of no network: the audit stops there, after the options are read
    fake_checkpoint(run / "model.safetensors")  # (a run without one is refused before them)
    with caplog.at_level(logging.WARNING, logger="objrec"):
        assert main(["audit", str(data), "--run", str(run), *given]) == 1
    warned = [m for m in caplog.messages if "the audit uses the body of --run" in m]
    said = f"is ignored: the audit uses the body of --run {run}, in the precision it trained with"
    assert warned == [f"{flag} {said}" for flag in given[:1]]


@pytest.mark.slow
def test_a_bad_option_is_refused_before_saying_it_writes_again(tmp_path, capsys):
    """audit --folds 1 said 'writing again into data-audit (objrec's earlier outputs)', then
    refused the option: it wrote nothing."""
    data = make_split(tmp_path / "data", per_split=(4, 2, 2))
    args = ["audit", str(data), "--backbone", "tiny_test", "--folds"]
    assert main([*args, "3"]) == 0
    capsys.readouterr()
    assert main([*args, "1"]) == 2  # a usage error, as --epochs 0
    err = capsys.readouterr().err
    assert "'--folds': 1 is not in the range x>=2" in err and "writing again" not in err


@pytest.mark.slow
def test_a_group_across_splits_is_not_called_the_same_picture(tmp_path, monkeypatch, capsys):
    import objrec.audit.recipe

    monkeypatch.setattr(objrec.audit.recipe, "audit", fake_audit([]))
    assert main(["audit", str(make_split(tmp_path / "data"))]) == 0
    out = capsys.readouterr().out
    assert "1 near-duplicate group (copies of one picture: resized, re-encoded, cropped), " in out
    assert (
        "1 spanning two splits (possible leaks of one picture: 1 in train and test (trained on "
        in out
    )
    assert "same picture" not in out and "look at them in audit.html" in out


def test_a_near_duplicate_pair_in_valid_and_test_is_not_called_trained_on():
    """audit called a near-duplicate pair lying in valid and test 'trained on and tested on': each
    pair of splits is now said as what is true of it, a group in all three as train and test."""
    from objrec.audit.report import leak_words

    def group(*splits):
        return dup_group(splits=list(splits), kind="across splits")

    assert leak_words([group("valid", "test")]) == (
        "1 in valid and test (validated on and tested on, not trained on)"
    )
    groups = [
        group("test", "train"),
        group("valid", "train", "valid"),
        group("train", "valid", "test"),
    ]
    groups += [group("test", "valid"), group("test", "test")]
    assert leak_words(groups) == (
        "2 in train and test (trained on and tested on); 1 in train and valid (trained on and "
        "validated on); 1 in valid and test (validated on and tested on, not trained on)"
    )


@pytest.mark.slow
def test_a_file_removed_while_the_audit_runs_is_skipped_as_an_unreadable_one(
    tmp_path, monkeypatch, caplog
):
    """A user tidying the folder during an audit: a photo removed after the frozen pass read it
    stopped the audit at its second hashing (FileNotFoundError; the CLI's exit 1 'no such file or
    directory'), as train stopped before fcafb32. It is skipped as a file that fails to decode
    is: said once, a file that cannot be read, left out of the findings and of the plan (apply-plan
    refuses a row naming no file); as is one removed before the frozen pass (after the folder
    was listed), said once too."""
    import objrec.audit.recipe
    from objrec.listing import list_images

    data = plant(make_split(tmp_path / "data"))  # a wrong label, copies: findings to be in
    before, after = data / "train/red/red_01.png", data / "valid/blue/blue_02.png"
    features = objrec.audit.recipe.audit_features

    def tidied_meanwhile(*args, **kwargs):
        before.unlink()
        found = features(*args, **kwargs)
        after.unlink()
        return found

    monkeypatch.setattr(objrec.audit.recipe, "audit_features", tidied_meanwhile)
    with caplog.at_level(logging.WARNING, logger="objrec"):
        result = audit(data, tmp_path / "audit", config(cache_dir=tmp_path / "cache"))
    gone = "cannot read the file (No such file or directory)"
    for path in (before, after):
        assert caplog.text.count(f"skipped {path}: {gone}") == 1
    assert not any("unreadable" in o.reason for o in result.outliers)
    unreadable = {r.path: r.reason for r in result.unreadable}
    assert unreadable == {str(before): f"unreadable: {gone}", str(after): f"unreadable: {gone}"}
    fixed = apply_plan(data, tmp_path / "audit/plan.csv", tmp_path / "fixed")  # no row of theirs
    assert fixed.copied == len(list_images(data)) - fixed.removed
    flagged = [row.path for row in result.label_issues]
    flagged += [
        path for group in result.near_duplicates + result.look_alikes for path in group.paths
    ]
    assert len(result.label_issues) > 0 and str(before) not in flagged and str(after) not in flagged


def test_an_unreadable_file_s_reason_does_not_repeat_its_path(tmp_path):
    """An archivist's audit printed `Accordéons/IMG_trunc_5.jpg: unreadable:
    /tmp/photos/Accordéons/IMG_trunc_5.jpg: cannot read image (...)`, and outliers.csv's reason
    held the full path again beside its path column: the reason is now the reason alone."""
    from objrec.audit.outliers import unreadable_reason as degenerate_reason

    path = tmp_path / "Accordéons" / "IMG_trunc_5.jpg"
    path.parent.mkdir()
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    facts = image_facts.image_facts(path)
    assert facts.error.startswith(f"{path}: ")  # as the store keeps it
    assert degenerate_reason(facts, path) == f"unreadable: {facts.error[len(str(path)) + 2 :]}"
    assert str(path) not in degenerate_reason(facts, path)


@pytest.mark.slow  # an audit
def test_a_text_file_named_jpg_is_unreadable_not_an_outlier(tmp_path, capsys):
    """A text file named butterfly/notes.jpg: check calls it unusable and split and train leave
    it out, but the audit counted it among the images it audited and listed it as an outlier
    (an unusual image). It is now a file that cannot be read: not counted, not an outlier,
    listed apart (terminal, --json's unreadable_files, audit.html), and removed by the plan."""
    data = make_split(tmp_path / "data")
    (data / "train/red/notes.jpg").write_text("my notes about red things\n" * 20)
    args = ["audit", str(data), "--backbone", "tiny_test", "--folds", "3"]
    assert main([*args, "--out", str(tmp_path / "audit")]) == 0
    said = capsys.readouterr().out
    assert said.startswith("audited 48 images (1 file that cannot be read left out): ")
    assert (
        "1 file that cannot be read, left out as check, split and train leave it out (plan.csv "
        "removes it):\n  train/red/notes.jpg: cannot read image (not a recognised image format)\n"
    ) in said
    assert "notes.jpg" not in (tmp_path / "audit/outliers.csv").read_text(encoding="utf-8-sig")
    rows = csv_rows(tmp_path / "audit/plan.csv")
    assert [(r["file"], r["action"]) for r in rows if "notes" in r["file"]] == [
        ("train/red/notes.jpg", "remove")
    ]
    page = (tmp_path / "audit/audit.html").read_text()
    assert "1 file that cannot be read, left\nout" in page and 'id="unreadable"' in page
    assert main([*args, "--out", str(tmp_path / "again"), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["unreadable_files"] == [str(data / "train/red/notes.jpg")]
    assert not any("notes" in row["path"] for row in found["outliers"])


def dup_group(
    indices: list[int] | None = None,
    pairs: dict[tuple[int, int], float] | None = None,
    *,
    kind: str = "within class",
    split_keeps: bool = False,
    **shown: Any,
) -> DuplicateGroup:
    """A near-duplicate group of the inventory's ``indices`` (none: a group the CLI only shows),
    linked by ``pairs``; its paths, splits, classes and similarity as ``shown`` gives them, else
    empty (a byte copy's similarity)."""
    n = len(indices or shown.get("paths") or shown.get("splits") or ())
    empty = {"paths": [""] * n, "splits": [None] * n, "classes": [""] * n, "similarity": 1.0}
    return DuplicateGroup(
        **(empty | shown),
        hash_distance=0,
        crop_distance=0,
        kind=kind,
        indices=indices or [],
        pairs=pairs or {},
        split_keeps=split_keeps,
    )


def alike_signals(n: int, pairs: dict[tuple[int, int], tuple[float, int]], seed: int = 0):
    """Unit features and image facts of ``n`` unrelated images, but for ``pairs``: (i, j) ->
    (feature similarity, hash bits apart) of j to i."""
    rng = np.random.default_rng(seed)
    unit = dedup.normalise(rng.normal(size=(n, 64)).astype(np.float32))  # about 0 apart
    hashes = [int.from_bytes(rng.bytes(32), "big") for _ in range(n)]  # about 128 bits apart
    for (i, j), (similarity, bits) in pairs.items():
        other = unit[j] - (unit[j] @ unit[i]) * unit[i]
        unit[j] = similarity * unit[i] + np.sqrt(1 - similarity**2) * other / np.linalg.norm(other)
        hashes[j] = hashes[i] ^ ((1 << bits) - 1)
    crops = [tuple(int.from_bytes(rng.bytes(32), "big") for _ in range(4)) for _ in range(n)]
    facts = [
        image_facts.ImageFacts(64, 56, h, h, 30.0, crops=c)
        for h, c in zip(hashes, crops, strict=True)
    ]
    return unit, facts


@pytest.mark.slow
def test_the_terminal_shows_the_first_near_duplicate_groups_and_counts_the_rest(
    tmp_path, monkeypatch, capsys
):
    """It only said "look at them in audit.html". Each list is counted beyond its first few, the
    file with all of them named."""
    import objrec.audit.recipe
    from objrec.audit.recipe import AuditResult

    data = make_split(tmp_path / "data")
    groups = [
        dup_group(
            paths=[str(data / f"train/red/red_0{i}.png"), str(data / f"test/red/red_0{i}.png")],
            splits=["train", "test"],
            similarity=0.99 - i / 100,
            kind="across splits",
        )
        for i in range(3)
    ]
    six = [str(data / f"train/blue/blue_0{i}.png") for i in range(6)]
    groups.append(dup_group(paths=six, splits=[""] * 6, similarity=0.9))

    issues = [LabelIssue(str(data / f"train/red/red_0{i}.png"), "red", "blue") for i in range(7)]

    def run_audit(data, out, config, run, reporter, force, refresh=False, on_wait=None):
        return AuditResult(
            issues, groups, [], 120, ["a"], seconds={"total": 1.0}, look_alikes=groups[:3]
        )

    monkeypatch.setattr(objrec.audit.recipe, "audit", run_audit)
    assert main(["audit", str(data)]) == 0
    out = capsys.readouterr().out
    assert "4 near-duplicate groups (copies of one picture" in out
    assert "3 spanning two splits (possible leaks" in out
    assert "  train/red/red_00.png, test/red/red_00.png: across splits, similarity 0.990\n" in out
    assert "  train/red/red_01.png, test/red/red_01.png: across splits, similarity 0.980\n" in out
    assert "red_02.png, test" not in out and "  and 2 more in near_duplicates.csv\n" in out
    assert "3 groups of look-alikes span two splits" in out
    assert "  and 1 more in look_alikes.csv\n" in out
    assert "7 likely wrong labels (most likely first), all in label_issues.csv:\n" in out
    assert "  train/red/red_04.png: labelled red, looks like blue\n" in out
    assert "red_05.png: labelled" not in out and "  and 2 more in label_issues.csv\n" in out
    groups[:] = groups[3:]  # a group of six: four named, two counted
    assert main(["audit", str(data), "--force"]) == 0
    out = capsys.readouterr().out
    assert "blue_03.png and 2 more: within class, similarity 0.900" in out


@pytest.mark.slow
def test_look_alikes_across_splits_are_not_said_to_be_a_leak(tmp_path, monkeypatch, capsys):
    import objrec.audit.recipe
    from objrec.audit.recipe import AuditResult

    def run_audit(data, out, config, run, reporter, force, refresh=False, on_wait=None):
        shown = {"paths": ["a", "b"], "splits": ["train", "test"], "similarity": 0.902}
        alike = [dup_group(kind="across splits", **shown)]
        return AuditResult([], [], [], 120, ["a"], seconds={"total": 1.0}, look_alikes=alike)

    monkeypatch.setattr(objrec.audit.recipe, "audit", run_audit)
    assert main(["audit", str(make_split(tmp_path / "data"))]) == 0
    out = capsys.readouterr().out
    assert "0 near-duplicate groups, 1 group of look-alikes" in out
    assert "spans two splits" not in out.replace("look-alikes spans two splits", "")
    assert "1 group of look-alikes spans two splits" in out and "check them" in out
    assert "objrec apply-plan" in out.replace("\n", " ")  # how to apply the plan is said


@pytest.mark.slow
def test_look_alikes_within_a_class_are_listed_as_the_other_findings_are(
    tmp_path, monkeypatch, capsys
):
    """The summary counted "1 group of look-alikes" and listed it nowhere on screen: only the
    groups that span two splits were listed. Every group is, those first."""
    import objrec.audit.recipe
    from objrec.audit.recipe import AuditResult

    data = make_split(tmp_path / "data")
    pair = [str(data / "train/red/red_00.png"), str(data / "train/red/red_01.png")]
    within = dup_group(paths=pair, splits=["train"] * 2, similarity=0.91)
    across = dup_group(
        paths=[pair[0], str(data / "test/red/red_00.png")],
        splits=["train", "test"],
        similarity=0.9,
        kind="across splits",
    )
    found = [within]

    def run_audit(data, out, config, run, reporter, force, refresh=False, on_wait=None):
        return AuditResult([], [], [], 120, ["a"], seconds={"total": 1.0}, look_alikes=found)

    monkeypatch.setattr(objrec.audit.recipe, "audit", run_audit)
    assert main(["audit", str(data)]) == 0
    out = capsys.readouterr().out
    assert (
        "1 group of look-alikes (usually different photos of one kind: check them in audit.html), "
        "all in look_alikes.csv:\n"
        "  train/red/red_00.png, train/red/red_01.png: within class, similarity 0.910\n"
    ) in out
    found.append(across)
    assert main(["audit", str(data), "--force"]) == 0
    heading, lines = section(capsys.readouterr().out, "2 groups of look-alikes, 1 spans two")
    assert "a leak only if two are the same picture" in heading
    kinds = [line.split(": ")[1] for line in lines]
    assert kinds == ["across splits, similarity 0.900", "within class, similarity 0.910"]


def plant_copies(data: Path) -> Path:
    """A byte copy of a red photo in green/ (copies across classes), a resized copy of a test photo
    beside it (within a class) and, in valid, two photos a third repainted from training ones
    (look-alikes across splits)."""
    shutil.copyfile(data / "train/red/red_00.png", data / "train/green/zz_red_00.png")
    resized = Image.open(data / "test/blue/blue_00.png").resize((48, 42))
    resized.save(data / "test/blue/copy_of_blue_00.png")
    for name, seed in (("red", 501), ("blue", 502)):
        photo = Image.open(data / f"train/{name}/{name}_01.png").convert("RGB")
        repainted = Image.blend(photo, pattern(COLOURS[name], seed), 0.4)  # 46-48 bits apart
        repainted.save(data / f"valid/{name}/alike_{name}_01.png")
    return data


@pytest.fixture(scope="module")
def planted_copies(tmp_path_factory):
    """`objrec audit` of ``plant_copies``' folder: the folder, the audit's folder, what it printed.
    tiny_test's features make every image of one colour alike: copies go by the hash alone."""
    import contextlib
    import functools
    import io

    import objrec.cli.auditing

    from .conftest import own_cache

    root = tmp_path_factory.mktemp("copies")
    data = plant_copies(make_split(root / "data"))
    rule = dedup.DuplicateRule(sim_strict=2.0, sim_crop=2.0)
    with own_cache(root / "cache"), pytest.MonkeyPatch.context() as patch:
        patch.setattr(  # where the CLI makes it
            objrec.cli.auditing, "AuditConfig", functools.partial(AuditConfig, duplicates=rule)
        )
        with contextlib.redirect_stdout(io.StringIO()) as out:
            assert main(["audit", str(data), "--backbone", "tiny_test", "--folds", "3"]) == 0
    return data, root / "data-audit", out.getvalue()


def sections(out: str) -> dict[str, list[str]]:
    """Each line of the terminal's text that is not indented, and the indented lines under it."""
    found: dict[str, list[str]] = {}
    heading = ""
    for line in out.splitlines():
        if line.startswith("  "):
            found[heading].append(line.strip())
        else:
            heading = line
            found[heading] = []
    return found


def section(out: str, start: str) -> tuple[str, list[str]]:
    """The heading that begins with ``start`` and its lines."""
    (found,) = [(h, lines) for h, lines in sections(out).items() if h.startswith(start)]
    return found


@pytest.mark.slow
def test_the_terminal_lists_each_kind_of_finding_under_its_own_heading(planted_copies):
    """Over the near-duplicate groups (a lamp photo copied into chair/, a resized cup within cup/)
    it said "2 groups of look-alikes span two splits ... check them in audit.html", and listed
    none of the look-alikes; the likely wrong labels had no heading."""
    _, _, out = planted_copies
    heading, lines = section(out, "2 near-duplicate groups")
    assert "copies of one picture" in heading and "near_duplicates.csv" in heading
    assert lines == [
        "train/red/red_00.png, train/green/zz_red_00.png: across classes, similarity 1.000",
        "test/blue/blue_00.png, test/blue/copy_of_blue_00.png: within class, similarity 1.000",
    ]
    heading, lines = section(out, "2 groups of look-alikes span two splits")
    assert "different photos of one kind" in heading and "look_alikes.csv" in heading
    assert sorted(line.split(": ")[0] for line in lines) == [
        "train/blue/blue_01.png, valid/blue/alike_blue_01.png",
        "train/red/red_01.png, valid/red/alike_red_01.png",
    ]
    assert all(": across splits, similarity " in line for line in lines)
    heading, lines = section(out, "1 likely wrong label")
    assert "label_issues.csv" in heading
    assert lines == ["train/green/zz_red_00.png: labelled green, looks like red"]


@pytest.mark.slow
def test_the_plan_keeps_the_correctly_labelled_copy_of_a_picture_in_two_classes(
    planted_copies, tmp_path
):
    """For lamp/image_0045.jpg and its copy chair/zz_lamp_0045.jpg (flagged: looks like lamp) the
    plan removed the lamp photo and relabelled the copy to lamp: the user's good file dropped, the
    misnamed one kept."""
    data, audit_dir, _ = planted_copies
    with (audit_dir / "plan.csv").open(newline="", encoding="utf-8-sig") as f:
        plan = {row["file"]: row for row in csv.DictReader(f)}
    kept = plan["train/red/red_00.png"]
    assert kept["action"] == "keep" and "(train/green/zz_red_00.png) have rows" in kept["reason"]
    copy = plan["train/green/zz_red_00.png"]
    assert (copy["action"], copy["new_class"]) == ("remove", "")
    assert "near-duplicate of train/red/red_00.png" in copy["reason"]
    within = plan["test/blue/copy_of_blue_00.png"]  # within a class and split: no leak
    assert within["action"] == "keep" and "leaks nothing" in within["reason"]
    groups = csv_rows(audit_dir / "near_duplicates.csv")
    assert [g["files"].split(" | ")[0] for g in groups] == [
        "train/red/red_00.png",  # the copy to keep first; relative to DATA, as in plan.csv
        "test/blue/blue_00.png",
    ]
    counts = apply_plan(data, audit_dir / "plan.csv", tmp_path / "fixed")
    assert (counts.removed, counts.relabelled) == (1, 0)
    fixed = tmp_path / "fixed/train"
    assert (fixed / "red/red_00.png").read_bytes() == (data / "train/red/red_00.png").read_bytes()
    assert (
        not (fixed / "green/zz_red_00.png").exists() and not (fixed / "red/zz_red_00.png").exists()
    )


def test_the_audit_lists_its_outliers_and_names_every_file_it_wrote(capsys):
    """The audit counted "2 outliers" and said no more, while it listed the label issues and
    duplicates under a heading naming their file: the outliers are listed too, naming
    outliers.csv, and a line names every file written in the audit's folder."""
    from objrec.cli.auditing import print_audit

    data = Path("photos")
    outliers = [
        Outlier(f"photos/cat/{i}.jpg", 5.0 - i, f"far from its class {i}", "cat", None)
        for i in range(4)
    ]
    result = AuditResult([], [], outliers, 40, ["cat", "dog"], seconds={"total": 1.0})
    result.planned = {"keep": 4}
    print_audit(result, data, Path("photos-audit"))
    lines = capsys.readouterr().out.splitlines()
    at = lines.index(
        "4 outliers (unusual images: far from their class or from everything, tiny, blank or "
        "oddly shaped), all in outliers.csv:"
    )
    assert lines[at + 1 : at + 5] == [
        "  cat/0.jpg: far from its class 0",
        "  cat/1.jpg: far from its class 1",
        "  cat/2.jpg: far from its class 2",
        "  and 1 more in outliers.csv",
    ]
    assert lines[at + 5].startswith("Classes to add or retake photos of (photos_needed.csv): none")
    assert lines[at + 6] == (
        "written in photos-audit: audit.html, plan.csv, label_issues.csv, near_duplicates.csv, "
        "look_alikes.csv, outliers.csv, audit.json, photos_needed.csv"
    )
    assert lines[-1].startswith("photos-audit/plan.csv pre-fills 4 keeps")
    assert lines[-1].count("audit.html") == 1


def test_outliers_that_are_a_small_class_as_a_whole_are_said_to_be(capsys):
    """15 of the audit's 16 outliers were photos of the classes of 15-30 images
    (crab 7 of its 18), scored against every image's distances; nothing said that a class of few
    photos lies far as a whole. The classes under the median size with a tenth or more of their
    images far (2 at least) are named, in the terminal, under the outliers."""
    from objrec.audit.outliers import FarClass, far_classes
    from objrec.cli.auditing import print_audit

    labels = np.array([0] * 50 + [1] * 40 + [2] * 18 + [3] * 30 + [4] * 25)
    names = ["airplanes", "watch", "crab", "lotus", "dolphin"]

    def far(name: str, i: int, degenerate: bool = False) -> Outlier:
        return Outlier(f"{name}/{i}.jpg", 4.0, "far", name, None, degenerate=degenerate)

    rows = [far(c, i) for i, c in enumerate(["crab"] * 7 + ["airplanes"] * 5)]
    rows += [far("lotus", 0), far("dolphin", 0, degenerate=True)]
    rows += [far("dolphin", 1), far("dolphin", 2)]  # 2 of 25: under a tenth
    assert far_classes(rows, labels, names) == {"crab": (7, 18, 18)}  # airplanes: not small
    outliers = [Outlier(f"photos/crab/{i}.jpg", 1.0, "far", "crab", None) for i in range(16)]
    result = AuditResult([], [], outliers, 163, names, seconds={"total": 1.0})
    result.far_classes = {"crab": FarClass(7, 18, 18), "ant": FarClass(4, 15, 15)}
    assert result.to_json()["far_classes"] == [  # a script need not read the sentence
        {"class": "crab", "outliers": 7, "photos": 18, "images": 18},
        {"class": "ant", "outliers": 4, "photos": 15, "images": 15},
    ]
    print_audit(result, Path("photos"), Path("photos-audit"))
    assert (
        "  11 of the 16 outliers are photos of classes of few images (crab 7 of its 18, ant 4 of "
        "its 15): a class of few photos lies far from the rest as a whole (each photo has few of "
        "its own class near it), so these may be ordinary photos of their class; look at them "
        "before removing any"
    ) in capsys.readouterr().out.splitlines()


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def colour_folder(root: Path, per_class: dict[str, int]) -> Path:
    """A class folder of ``per_class`` images of each colour, every image a different picture."""
    seed = 0
    for name, n in per_class.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            pattern(COLOURS[name], seed).save(root / name / f"{name}_{i}.png")
            seed += 1
    return taken_before(root)


def test_audit_json_names_the_classes_whose_labels_were_not_judged():
    """The terminal said 'labels not judged in 1 class (blue)'; --json and audit.json did not."""
    result = AuditResult([], [], [], 9, ["blue", "green", "red"], unjudged=["blue"])
    assert result.to_json()["classes_not_judged"] == ["blue"]
    assert AuditResult([], [], [], 9, ["red"]).to_json()["classes_not_judged"] == []


def test_audit_json_says_where_it_wrote_its_files_and_plan(tmp_path, capsys, monkeypatch):
    """`audit --json` had no output path: a script had to know the DATA-audit naming rule to
    find plan.csv for apply-plan. It says `out` (as split's and explore's) and `plan`."""
    import objrec.audit.recipe

    data = make_split(tmp_path / "data")
    monkeypatch.setattr(
        objrec.audit.recipe,
        "audit",
        lambda *args, **kwargs: AuditResult([], [], [], 9, ["blue", "red"]),
    )
    assert main(["audit", str(data), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    out = tmp_path / "data-audit"
    assert (found["out"], found["plan"]) == (str(out), str(out / "plan.csv"))


def csv_paths(path: Path) -> list[str]:
    """The paths of a findings CSV (none when it has no rows)."""
    text = path.read_text(encoding="utf-8-sig").strip()
    return [row["file"] for row in csv.DictReader(text.splitlines())] if text else []


@pytest.mark.slow
def test_an_empty_class_folder_is_named_and_left_out_as_split_leaves_it(tmp_path, caplog):
    """`objrec audit photos` stopped at an empty class folder ("holds no images"), which split
    and evaluate leave out with a warning: auditing the raw photos before splitting failed."""
    from objrec.audit.inventory import inventory

    data = make_split(tmp_path / "data")
    (data / "valid" / "violet").mkdir()  # empty in one split only, and a class of no images at all
    (data / "test" / "blue").rename(tmp_path / "moved")
    (data / "test" / "blue").mkdir()
    photos = tmp_path / "photos"
    shutil.copytree(data / "train", photos)
    (photos / "empty_class").mkdir()
    with caplog.at_level("WARNING"):
        whole, raw = inventory(data), inventory(photos)
    assert whole.classes == raw.classes == tuple(sorted(COLOURS))
    assert len(whole.items) == len(COLOURS) * 16 - 4 and len(raw.items) == len(COLOURS) * 8
    for folder in (data / "valid" / "violet", data / "test" / "blue", photos / "empty_class"):
        assert f"class folder {folder} holds no images: left out" in caplog.text
    names = {i.path.parent.name for i in whole.items if i.split == "test"}
    assert names == set(COLOURS) - {"blue"}
    assert all(whole.classes[i.label] == i.path.parent.name for i in whole.items)


@pytest.mark.slow
def test_a_plan_saved_during_a_rerun_of_the_audit_is_kept(split_dir, capsys, monkeypatch):
    """`objrec audit DATA` run again checked DATA-audit before its slow work and wrote at the
    end: a plan.csv the user saved in between (audit asks them to review it) was written over,
    exit 0. Each output is checked again just before it takes its name: it is named, kept."""
    from objrec.audit import recipe as audit_module

    args = ["audit", str(split_dir), "--backbone", "tiny_test", "--folds", "3"]
    assert main(args) == 0
    plan = split_dir.with_name("data-audit") / "plan.csv"
    find_issues = audit_module.find_issues

    def reviewed_meanwhile(*args, **kwargs):
        plan.write_text("the user's review\n")
        return find_issues(*args, **kwargs)

    monkeypatch.setattr(audit_module, "find_issues", reviewed_meanwhile)
    capsys.readouterr()
    before = {p.name: p.stat().st_ino for p in plan.parent.iterdir() if p != plan}
    assert main(args) == 1
    assert f"{plan} changed after objrec wrote it" in " ".join(capsys.readouterr().err.split())
    assert plan.read_text() == "the user's review\n"
    after = {p.name: p.stat().st_ino for p in plan.parent.iterdir() if p != plan}
    assert after == before  # none of the other findings replaced, half the folder new


def earlier_audit(out: Path) -> Path:
    """A folder holding an earlier audit of objrec's, as its mark records it (no audit run)."""
    from objrec.outputs import AUDIT_FILES, output_file, prepare_output_dir

    prepare_output_dir(out, names=AUDIT_FILES)
    with output_file(out, "audit.json") as tmp:
        tmp.write_text(json.dumps({"label_issues": [], "outliers": []}))
    with output_file(out, "plan.csv") as tmp:
        tmp.write_text("file,class,split,action,new_class,reason\n")
    return out


def test_a_rerun_into_an_audit_folder_is_told_of_refresh_before_force(tmp_path, capsys):
    """Re-running `audit_folder(data, "data-audit")` said only "choose another `out` or pass
    `force=True`", and force wrote over a reviewed plan.csv: the safe `refresh=True` was in the
    docstring alone. The refusal names it first, and the CLI's its --refresh."""
    data = make_split(tmp_path / "data", per_split=(2, 1, 1))
    out = earlier_audit(tmp_path / "data-audit")
    with pytest.raises(ObjrecError) as refused:
        audit(data, out, config())
    said = str(refused.value)
    assert said.startswith(f"{out} is not empty: it holds an earlier audit: pass `refresh=True`")
    assert said.index("`refresh=True`") < said.index("`force=True`")
    assert main(["audit", str(data), "--out", str(out), "--backbone", "tiny_test"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "pass --refresh to write it again" in err and err.index("--refresh") < err.index(
        "--force"
    )
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(ObjrecError, match=r"is not empty: choose another `out` or pass `force"):
        audit(data, mine, config())  # a folder of the user's is no earlier audit


@pytest.mark.slow
def test_a_forced_audit_keeps_a_plan_the_user_edited_beside_the_new_one(tmp_path, caplog):
    """`force=True` over an audit folder wrote the new plan.csv over the one the user had
    reviewed, silently. Their plan is kept as plan.csv.bak (then plan.csv-1.bak), with a warning;
    a plan objrec wrote and nobody changed is replaced without one."""
    data = make_split(tmp_path / "data", per_split=(4, 2, 2))
    out = tmp_path / "data-audit"
    audit(data, out, config(cache_dir=str(tmp_path / "cache")))
    ours = (out / "plan.csv").read_text()
    with caplog.at_level(logging.WARNING, logger="objrec"):
        audit(data, out, config(cache_dir=str(tmp_path / "cache")), force=True)
    assert not (out / "plan.csv.bak").exists() and "kept as" not in caplog.text
    for backup in ("plan.csv.bak", "plan.csv-1.bak"):
        (out / "plan.csv").write_text("file,action,new_class\nmy review,keep,\n")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="objrec"):
            audit(data, out, config(cache_dir=str(tmp_path / "cache")), force=True)
        assert (out / backup).read_text() == "file,action,new_class\nmy review,keep,\n"
        assert (out / "plan.csv").read_text() == ours
        assert f"plan.csv changed after objrec wrote it: kept as {backup}" in caplog.text
    with pytest.raises(ObjrecError, match="changed after objrec wrote it"):
        (out / "plan.csv").write_text("edited again\n")
        audit(data, out, config(cache_dir=str(tmp_path / "cache")), refresh=True)


@pytest.mark.slow
def test_the_readmes_loop_from_python_audits_again_each_round(tmp_path, monkeypatch):
    """The loop from Python (docs/python-api.md) began `objrec.audit_folder("data", "data-audit")`,
    refused on its second round ("data-audit is not empty"). Its line, run as written, audits each
    round."""
    from types import SimpleNamespace

    page = (Path(__file__).parents[1] / "docs" / "python-api.md").read_text()
    line = page.split("from Python:\n\n```python\n")[1].splitlines()[0]
    assert line.startswith("objrec.audit_folder(")
    monkeypatch.chdir(tmp_path)
    make_split(tmp_path / "data", per_split=(2, 1, 1))
    settings = config(cache_dir=str(tmp_path / "cache"))
    objrec = SimpleNamespace(audit_folder=lambda *a, **k: audit(*a, config=settings, **k))
    for _ in range(2):
        exec(line, {"objrec": objrec})
    assert (tmp_path / "data-audit" / "plan.csv").is_file()


def test_every_csv_of_findings_has_its_header_when_nothing_was_found(tmp_path):
    """With nothing found, look_alikes.csv and outliers.csv held one newline and no header, so
    `pd.read_csv` raised EmptyDataError. Each CSV has its columns' header whatever it holds."""
    import pandas as pd

    from objrec.audit.inventory import inventory
    from objrec.audit.report import TABLE_COLUMNS, write_audit

    inv = inventory(make_split(tmp_path / "data", per_split=(1, 1, 1)))
    empty = AuditResult([], [], [], len(inv.items), list(inv.classes))
    write_audit(empty, inv, tmp_path / "out")
    assert repr(empty) == (
        f"AuditResult(n_images={len(inv.items)}, n_classes={len(inv.classes)}, "
        "likely_wrong_labels=0, n_near_duplicates=0, n_look_alikes=0, outlier_pictures=0)"
    )
    assert list(empty.table("look_alikes").columns) == list(TABLE_COLUMNS["look_alikes.csv"])
    for name, columns in TABLE_COLUMNS.items():
        table = pd.read_csv(tmp_path / "out" / name)
        assert list(table.columns) == list(columns) and table.empty, name
    assert list(pd.read_csv(tmp_path / "out" / "plan.csv").columns)[:2] == ["file", "class"]


@pytest.mark.slow  # writes an audit twice: 0.4 s
def test_the_photos_that_look_like_the_class_a_class_is_confused_with_are_named(tmp_path, capsys):
    """The audit said "crab: ...; confused with scorpion (2 of its images look like it ...)"
    and no CSV, no page and no line named those 2 photos; audit.html had no section for the
    classes that need photos, and its empty sections were bare headings. They are
    named in photos_needed.csv (relative to DATA, joined by " | "), under the class's line and
    on the page, which has the terminal's every section, an empty one saying so."""
    import pandas as pd

    from objrec.audit.inventory import inventory
    from objrec.audit.report import write_audit
    from objrec.cli.auditing import print_photos_needed

    data = make_split(tmp_path / "data", per_split=(2, 1, 1))
    inv = inventory(data)
    like = [i for i, item in enumerate(inv.items) if inv.classes[item.label] == "red"][:2]
    row = PhotosNeeded(
        class_name="red",
        **{"photos": 4, "images": 4, "recognised": 2, "judged": 4, "flagged": 0},
        confused_with="green",
        confused_photos=[inv.items[i].shown for i in like],
        reason="2 of its 4 images recognised ...; confused with green (2 of its images ...)",
        confused=like,
    )
    result = AuditResult([], [], [], len(inv.items), list(inv.classes), photos_needed=[row])
    result.data = data
    write_audit(result, inv, tmp_path / "out")
    relative = [inv.rel(inv.items[i]) for i in like]
    needs = pd.read_csv(tmp_path / "out" / "photos_needed.csv")
    assert needs["confused_photos"].tolist() == [" | ".join(relative)]
    assert list(needs.columns) == list(NEEDS_COLUMNS) == list(row.row())
    assert list(result.to_json()["photos_needed"][0]) == list(NEEDS_COLUMNS)
    page = " ".join((tmp_path / "out" / "audit.html").read_text().split())
    section = page.split('<h2 id="photos-needed">Classes to add or retake photos of</h2>')[1]
    assert "<b>red</b>: 2 of its 4 images recognised" in section
    assert all(f'<span class="muted">{path}</span>' in section for path in relative)
    assert section.count("looks like green") == 2
    for heading in ("labels", "duplicates", "look-alikes", "outliers"):
        assert page.split(f'<h2 id="{heading}">')[1].split("<h2")[0].count("None found.") == 1
    print_photos_needed([row], data)  # relative to DATA, as every other line: they were absolute
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"    those like green: {', '.join(relative)}"


@pytest.mark.slow  # writes an audit: 0.2 s
def test_the_page_and_the_terminal_say_why_no_class_is_listed_and_which_was_recognised_least(
    tmp_path, capsys
):
    """audit.html said "None: no class lacks photos, is poorly recognised or has label flags"
    of an audit that flagged 10 labels (label flags list no class since), and the terminal said
    nothing of an empty photos_needed.csv (newcomer58, 2): both say why, and name the classes
    recognised least."""
    from objrec.audit.inventory import inventory
    from objrec.audit.report import write_audit
    from objrec.cli.auditing import print_photos_needed

    data = make_split(tmp_path / "data", per_split=(2, 1, 1))
    inv = inventory(data)
    result = AuditResult([], [], [], len(inv.items), list(inv.classes), photos_needed=[])
    result.least_recognised, result.data = [ClassRecall("red", 3, 4)], data
    write_audit(result, inv, tmp_path / "out")
    page = " ".join((tmp_path / "out" / "audit.html").read_text().split())
    section = page.split('<h2 id="photos-needed">')[1]
    assert section.count("<p>None listed: every class has 11 or more distinct photos") == 1
    assert "Recognised least: red, 3 of 4 photos (75%)" in section
    assert "has label flags" not in section  # they list no class
    print_photos_needed(result.photos_needed, data, result.none_needed())
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("Classes to add or retake photos of (photos_needed.csv): none listed: ")
    assert "Recognised least: red, 3 of 4 photos (75%)" in out


@pytest.mark.slow  # writes an audit twice: 0.2 s
def test_an_audit_stopped_while_writing_its_page_leaves_the_earlier_audit_whole(
    tmp_path, monkeypatch
):
    """audit replaced its files one at a time: Ctrl-C while it wrote audit.html, after the CSVs,
    audit.json and plan.csv, left the new plan beside the earlier page, which read as one audit.
    Nothing is replaced until every file is written."""
    from objrec.audit import report as audit_report
    from objrec.audit.inventory import inventory
    from objrec.outputs import AUDIT_FILES, prepare_output_dir

    inv = inventory(make_split(tmp_path / "data", per_split=(1, 1, 1)))
    out = prepare_output_dir(tmp_path / "out", names=AUDIT_FILES)
    audit_report.write_audit(AuditResult([], [], [], len(inv.items), list(inv.classes)), inv, out)
    earlier = {p.name: p.stat().st_ino for p in out.iterdir()}

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(audit_report, "write_page", ctrl_c)
    again = AuditResult([], [], [], len(inv.items), list(inv.classes))
    with pytest.raises(KeyboardInterrupt):
        audit_report.write_audit(again, inv, out, force=True)
    assert {p.name: p.stat().st_ino for p in out.iterdir()} == earlier


@pytest.mark.slow
def test_found_rows_have_the_documented_columns_and_no_private_keys(audited):
    """The CSVs' headers are TABLE_COLUMNS's (also written when empty), and the findings `audit`
    returns to Python are typed records (a label flag's dict held `_index`, `_like`, read by key
    across modules), each one's row() its CSV's columns (its path as given, the CSV's file)."""
    import pandas as pd

    from objrec.audit.report import GROUP_COLUMNS, TABLE_COLUMNS

    _, result, _, root = audited
    for name, columns in TABLE_COLUMNS.items():
        assert list(pd.read_csv(root / "audit" / name).columns) == list(columns), name
    as_file = {"path": "file", "paths": "files"}  # made relative to the folder, as plan.csv's

    def columns(finding) -> tuple[str, ...]:
        return tuple(as_file.get(key, key) for key in finding.row())

    rows = result.label_issues
    assert rows and all(columns(r) == TABLE_COLUMNS["label_issues.csv"] for r in rows)
    shown = TABLE_COLUMNS["outliers.csv"]
    assert result.outliers and all(columns(o) == shown for o in result.outliers)
    groups = [*result.near_duplicates, *result.look_alikes]
    assert groups and all(columns(g) == GROUP_COLUMNS for g in groups)


def test_counts_in_the_audits_messages_agree_with_their_nouns(caplog):
    """ "1 duplicate groups", "1 label issues"; and "4 wrong labels far from their class added
    to cleanlab's", which said little: each count is said in the right number, in a sentence."""
    from objrec.audit.labels import add_far_issues

    with caplog.at_level(logging.INFO, logger="objrec.audit.labels"):
        add_far_issues(np.array([0]), np.array([0, 2]), np.array([0.9, 0.1, 0.5]))
        add_far_issues(np.array([0]), np.array([1, 2]), np.array([0.9, 0.1, 0.5]))
    assert caplog.messages == [
        "1 image far from its labelled class also flagged as likely wrong, besides those "
        "cleanlab ranked",
        "2 images far from their labelled class also flagged as likely wrong, besides those "
        "cleanlab ranked",
    ]
    for module in ("objrec.audit.recipe", "objrec.audit.labels"):
        text = Path(str(importlib.import_module(module).__file__)).read_text()
        assert "%d label issues" not in text and "%d duplicate groups" not in text


def test_audit_html_counts_one_of_a_kind_in_the_singular(tmp_path, monkeypatch):
    """audit.html said "1 likely wrong labels" (and "1 outliers", "1 images", "1 bits"): each
    count is worded in its number."""
    from types import SimpleNamespace

    from objrec.audit.report import write_page

    monkeypatch.setattr("objrec.audit.report.PAGE_LIMIT", 0)  # the counts alone, no thumbnails
    one = [dup_group(splits=["valid", "test"], kind="across splits")]
    result = AuditResult(
        label_issues=[LabelIssue("red/a.jpg", "red", "blue")],
        near_duplicates=one,
        look_alikes=one,
        outliers=[Outlier("red/b.jpg", 4.0, "far from its class", "red", None)],
        n_images=1,
        classes=["red"],
        unjudged=[],
        labels_not_judged="",
        far_classes={},
        settled=[],
        too_few=[],
        photos_needed=[],
        unreadable=[],
    )
    write_page(result, SimpleNamespace(root=tmp_path), tmp_path / "audit.html")
    text = " ".join((tmp_path / "audit.html").read_text().split())
    summary = text.split("<p>", 1)[1].split("Nothing was changed")[0]
    for said in ("1 image,", "1 class.", "1 likely wrong label,", "1 near-duplicate group,"):
        assert said in summary
    assert "1 group of look-alikes" in summary and "1 outlier." in summary
    # a pair in valid and test was said to be "trained on and tested on"
    assert "1 in valid and test (validated on and tested on, not trained on)" in summary
    assert "trained on and tested on" not in summary


def test_audit_html_counts_the_flags_too_few_to_judge_apart(tmp_path, monkeypatch):
    """The page's summary counted every label flag as a likely wrong label: those in classes of
    too few photos to judge are counted apart, as the terminal does."""
    from types import SimpleNamespace

    from objrec.audit.report import write_page

    monkeypatch.setattr("objrec.audit.report.PAGE_LIMIT", 0)  # the counts alone, no thumbnails
    result = AuditResult(
        label_issues=[LabelIssue(f"red/{n}.jpg", "red", "blue") for n in "ab"],
        near_duplicates=[],
        look_alikes=[],
        outliers=[],
        n_images=9,
        classes=["red", "blue"],
        unjudged=[],
        labels_not_judged="",
        far_classes={},
        settled=[],
        too_few=["red/b.jpg"],
        photos_needed=[],
        unreadable=[],
    )
    write_page(result, SimpleNamespace(root=tmp_path), tmp_path / "audit.html")
    text = " ".join((tmp_path / "audit.html").read_text().split())
    summary = text.split("<p>", 1)[1].split("Nothing was changed")[0]
    assert "1 likely wrong label, 1 label flag in classes of too few photos to judge (kept)," in (
        summary
    )


def test_audit_html_marks_a_flag_in_a_class_of_too_few_photos_as_the_terminal_lists_it(tmp_path):
    """The terminal lists the flags in classes of too few photos to judge apart, kept by the
    plan; the page showed them as likely wrong labels, unmarked (every section the
    terminal shows is on the page)."""

    from objrec.audit.inventory import Inventory, Item
    from objrec.audit.report import write_page

    items = [Item(tmp_path / f"ant/{k}.jpg", f"ant/{k}.jpg", 0, None) for k in range(2)]
    inv = Inventory(tmp_path, ("ant", "bee"), items, False, ["d0", "d1"])
    issues = [
        LabelIssue(f"ant/{k}.jpg", "ant", "bee", 0.1, index=k, evidence=f"evidence {k}")
        for k in range(2)
    ]
    found = {"label_issues": issues, "near_duplicates": [], "look_alikes": [], "outliers": []}
    said = {"n_images": 2, "classes": ["ant", "bee"], "unjudged": [], "far_classes": {}}
    result = AuditResult(
        **found, **said, settled=[], too_few=["ant/1.jpg"], photos_needed=[], unreadable=[]
    )
    result.labels_not_judged = ""
    write_page(result, inv, tmp_path / "audit.html")
    html = " ".join((tmp_path / "audit.html").read_text().split())
    mark = "in a class of too few photos to judge: plan.csv keeps it"
    assert html.count(mark) == 1 and html.index("evidence 0") < html.index(mark)


def facts_and_items(classes, labels: list[int], hashes: list[int]):
    """An image's facts (its hash ``hashes[i]``, contrast enough) and inventory item (in class
    ``classes[labels[i]]``) for each of ``labels``."""
    from objrec.audit.inventory import Item

    facts = [
        image_facts.ImageFacts(width=64, height=56, phash=h, phash_mirror=h, contrast=50.0)
        for h in hashes
    ]
    items = [
        Item(Path(f"/data/{classes[c]}/{i}.png"), f"{classes[c]}/{i}.png", c, None)
        for i, c in enumerate(labels)
    ]
    return facts, items


def bursts_in_the_wrong_class(n: int = 24, seed: int = 0):
    """Three classes of ``n`` images (features about a centre each, unrelated hashes), and two
    bursts of three near-identical flamingo frames (one hash, features 0.02 apart) in ibis/: the
    inventory, features and facts ``find_issues`` takes, and the planted frames' paths."""
    from objrec.audit.inventory import Inventory

    rng = np.random.default_rng(seed)
    classes = ("flamingo", "heron", "ibis")
    centres = rng.normal(size=(3, 64))
    rows = [centres[c] + 0.6 * rng.normal(size=(n, 64)) for c in range(3)]
    rows += [np.repeat(centres[:1] + 0.6 * rng.normal(size=(1, 64)), 3, 0) for _ in range(2)]
    features = np.concatenate(rows) + 0.02 * rng.normal(size=(3 * n + 6, 64))
    labels = [c for c in range(3) for _ in range(n)] + [2] * 6
    hashes = [int.from_bytes(rng.bytes(32), "big") for _ in labels]
    hashes[3 * n : 3 * n + 6] = [hashes[3 * n]] * 3 + [hashes[3 * n + 3]] * 3
    facts, items = facts_and_items(classes, labels, hashes)
    planted = {item.shown for item in items[3 * n :]}
    return (
        Inventory(Path("/data"), classes, items, False),
        features.astype(np.float32),
        facts,
        planted,
    )


@pytest.mark.slow
def test_the_audit_shows_each_step_of_seconds_after_hashing():
    """The audit of 6,179 images sat 29 s at "hashing images 6179/6179" while it found each
    image's nearest images and copies (and the features' PCA), and 11 s after the out-of-fold
    heads while it grouped copies and found outliers, with nothing else on screen."""
    from objrec.audit.recipe import find_issues

    from .conftest import TaskRecorder

    inv, features, facts, _ = bursts_in_the_wrong_class()
    shown = TaskRecorder()
    find_issues(inv, features, np.ones(len(inv.items), dtype=bool), facts, AuditConfig(), shown)
    nearest, grouping = "finding each image's nearest images and copies", "grouping the copies"
    assert shown.tasks == [nearest, "out-of-fold heads", f"{grouping} and finding outliers"]
    # the features' PCA before the first head: "out-of-fold heads: 0/5 (0%)" for 10 s
    # where it is one (64 dimensions here, more than 16)
    shown = TaskRecorder()
    find_issues(
        inv, features, np.ones(len(inv.items), dtype=bool), facts, AuditConfig(pca=16), shown
    )
    pca = "reducing the features to 16 dimensions"  # no "(PCA)": jargon (newcomer63b)
    assert shown.tasks == [nearest, pca, "out-of-fold heads", f"{grouping} and finding outliers"]


LONG_NAME = "a_very_long_file_name_without_any_space_from_a_camera_export_IMG_20240101_1234_final"


def page_with_a_long_name_and_a_copy(tmp_path: Path) -> tuple[Path, Any]:
    """audit.html of a near-duplicate group (an image, its byte-identical copy under a long name
    without a space, and a resized copy) and of that long name as an outlier; the plan removes
    the identical copy."""

    from objrec.audit.inventory import Inventory, Item
    from objrec.audit.report import write_page

    root = tmp_path / "photos"
    (root / "red").mkdir(parents=True)
    pattern(COLOURS["red"], 1).save(root / "red/a.png")
    shutil.copy(root / "red/a.png", root / f"red/{LONG_NAME}.png")
    pattern(COLOURS["red"], 1, size=(40, 35)).save(root / "red/small.png")
    names = ["a.png", f"{LONG_NAME}.png", "small.png"]
    items = [Item(root / "red" / name, f"red/{name}", 0, None) for name in names]
    digests = [hashlib.sha256(item.path.read_bytes()).hexdigest() for item in items]
    inv = Inventory(root, ("red",), items, False, digests)
    group = dup_group([0, 1, 2], {}, splits=[""] * 3, classes=["red"] * 3)
    outlier = Outlier(str(items[1].path), 0.0, "tiny", "red", None, index=1, degenerate=True)
    result = AuditResult(
        label_issues=[],
        near_duplicates=[group],
        look_alikes=[],
        outliers=[outlier],
        n_images=3,
        classes=["red"],
        unjudged=[],
        labels_not_judged="",
        far_classes={},
        settled=[],
        too_few=[],
        photos_needed=[],
        unreadable=[],
    )
    plan = [{"file": f"red/{LONG_NAME}.png", "action": "remove"}]
    write_page(result, inv, tmp_path / "audit.html", plan=plan)
    return tmp_path / "audit.html", inv


def test_audit_html_marks_a_byte_identical_copy_and_what_the_plan_does_with_it(tmp_path):
    """The page showed a byte-identical copy as any near-duplicate, while plan.csv removed it
    ("the same bytes as ..."): its tile says so, and the plan's action; a resized copy is not
    marked."""
    page, _ = page_with_a_long_name_and_a_copy(tmp_path)
    html = " ".join(page.read_text().split())
    marks = re.findall(r'<span class="identical">([^<]*)</span>', html)
    assert marks == ["same bytes as red/a.png, one file twice; plan.csv: remove"]


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("chromium") or shutil.which("chromium-browser")),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)
def test_audit_html_keeps_a_long_path_inside_its_column(tmp_path):
    """A file name of 89 characters without a space ran out of the finding's text column over
    its thumbnail (outliers, label issues). Every column keeps its text inside its box."""
    playwright = pytest.importorskip("playwright.sync_api")
    page_file, _ = page_with_a_long_name_and_a_copy(tmp_path)
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(page_file.as_uri())
        spilled = page.evaluate(
            """() => Array.from(document.querySelectorAll('.finding')).flatMap(f => {
              const info = f.querySelector('.info'), tiles = f.querySelector('.tiles');
              const out = [];
              if (info.getBoundingClientRect().right > tiles.getBoundingClientRect().left + 0.5
                  || info.scrollWidth > info.clientWidth) out.push(info.textContent.slice(0, 40));
              for (const fig of f.querySelectorAll('figure'))
                if (fig.scrollWidth > fig.clientWidth) out.push(fig.textContent.slice(0, 40));
              return out;
            })"""
        )
        browser.close()
    assert spilled == []


@pytest.mark.slow
def test_a_split_folder_and_the_class_folder_it_came_from_find_the_same_wrong_labels(tmp_path):
    """A newcomer's `audit data` flagged a felt butterfly (p 0.48) that `audit PHOTOS`, the same
    photos before `split`, did not: the out-of-fold heads' folds followed the rows' order (train,
    valid, test by class against class by class), so each photo was scored by other heads. The
    folds now follow the photos' contents, and both audits score every photo alike."""
    data = plant(make_split(tmp_path / "data"))
    photos = tmp_path / "photos"
    for image in data.glob("*/*/*"):
        (photos / image.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(image, photos / image.parent.name / f"{image.parts[-3]}-{image.name}")
    found = []
    for folder in (data, photos):
        result = audit(folder, None, config(cache_dir=str(tmp_path / "cache")))
        found.append(
            {
                Path(row.path).parent.name + "/" + Path(row.path).name.split("-")[-1]: (
                    row.suggested,
                    round(row.score, 6),
                )
                for row in result.label_issues
            }
        )
    assert found[0] and found[0] == found[1]


def test_the_audit_prints_the_classes_that_need_photos(capsys):
    """The terminal names the first classes of photos_needed.csv with their reasons."""
    from objrec.cli.auditing import print_audit

    needs = [PhotosNeeded(class_name=f"c{i}", reason=f"only {i} photos") for i in range(7)]
    result = AuditResult([], [], [], 40, ["cat"], seconds={"total": 1.0}, photos_needed=needs)
    print_audit(result, Path("photos"), Path("photos-audit"))
    lines = capsys.readouterr().out.splitlines()
    at = lines.index(
        "7 classes to add or retake photos of, most in need first (judged by heads that never "
        "saw each photo), all in photos_needed.csv:"
    )
    assert lines[at + 1 : at + 7] == [
        *(f"  c{i}: only {i} photos" for i in range(5)),
        "  and 2 more in photos_needed.csv",
    ]


def test_flags_too_few_to_judge_are_said_apart_from_the_likely_wrong_labels(capsys):
    """The summary, --json and the terminal count them apart, as the settled ones."""
    from objrec.cli.auditing import print_audit

    flags = [LabelIssue(f"photos/cat/{i}.jpg", "cat", "dog", 0.9) for i in range(3)]
    result = AuditResult(flags, [], [], 40, ["cat", "dog"], seconds={"total": 1.0})
    result.too_few = ["photos/cat/1.jpg", "photos/cat/2.jpg"]
    assert [row.path for row in result.likely_wrong()] == ["photos/cat/0.jpg"]
    shown = result.to_json()
    assert [row["path"] for row in shown["label_issues"]] == ["photos/cat/0.jpg"]
    assert len(shown["too_few_to_judge"]) == 2
    print_audit(result, Path("photos"), Path("photos-audit"))
    out = capsys.readouterr().out
    assert "1 likely wrong label, 2 flags in classes of too few photos to judge, " in out
    assert (
        "2 label flags in classes of too few photos to judge (fewer than 11 photos, and no other "
        "class claims them: a glance, not a relabel; add photos of these classes; also in "
        "label_issues.csv):\n  cat/1.jpg: labelled cat, looks like dog\n"
    ) in out


def test_a_likely_merge_is_said_apart_from_the_likely_wrong_labels(capsys):
    """The summary said "46 likely wrong labels" where 18 were the split class's photos: the
    flags a likely merge explains are counted with it, and the terminal names the merge and the
    command that carries it out; photos_needed.csv no longer advises photos that tell the two
    apart."""
    from objrec.audit.findings import LikelyMerge
    from objrec.cli.auditing import print_audit

    cars = [LabelIssue(f"photos/cars/{k}.jpg", "cars", "car_side", 0.8) for k in range(3)]
    wrong = LabelIssue("photos/ketch/1.jpg", "ketch", "laptop", 0.9)
    merge = LikelyMerge("cars", "car_side", 27, 30, 10, 50)
    result = AuditResult([*cars, wrong], [], [], 80, ["car_side", "cars", "ketch", "laptop"])
    result.merges, result.seconds = [merge], {"total": 1.0}
    assert result.likely_wrong() == [wrong]
    assert [r["path"] for r in result.to_json()["merged_labels"]] == [c.path for c in cars]
    assert result.to_json()["likely_merges"] == [
        {
            "class": "cars",
            "into": "car_side",
            "taken": 27,
            "photos": 30,
            "taken_back": 10,
            "into_photos": 50,
        }
    ]
    print_audit(result, Path("photos"), Path("photos-audit"))
    out = capsys.readouterr().out
    assert "1 likely wrong label, 1 likely merge (cars into car_side), " in out
    assert (
        "1 likely merge, classes that look like one class in two folders (3 label flags of theirs "
        "counted here, not as likely wrong labels; also in label_issues.csv):\n"
        "  cars and car_side look like one class in two folders: 27 of cars's 30 photos are "
        "taken for car_side and lie among its photos as its own do (10 of car_side's 50 taken "
        "for cars)\n    plan.csv leaves cars's images to review; to merge them, `objrec "
        "apply-plan photos photos-audit/plan.csv NEW_FOLDER --merge cars` relabels them all into "
        "car_side\n"
    ) in out


def warm_facts_heads(tmp_path, monkeypatch, forget_kinds: bool) -> list[tuple[bool, int]]:
    """A folder of 4 PNGs and a HEIC photo whose facts were kept with pillow-heif, then taken
    twice by the audit where it cannot be used (``forget_kinds``: the store's kinds removed first,
    as a store written before they were kept): whether the HEIC photo is unreadable each time,
    and how many of the other files' first bytes were read (the HEIC photo, never kept, is measured
    again each time)."""
    from objrec import images
    from objrec.audit.inventory import Inventory, Item, inventory_facts

    from .conftest import make_class_folder, make_image, save_heic, unregister_heif

    folder = make_class_folder(tmp_path / "data", per_class=2, classes=("red", "green"))
    save_heic(make_image((200, 30, 30)), folder / "red" / "IMG_0001.HEIC")
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    items = [Item(p, p.name, 0, None) for p in paths]
    inv, setting = (
        Inventory(folder, ("red",), items, False),
        config(cache_dir=str(tmp_path / "cache")),
    )
    assert not any(f.error for f in inventory_facts(inv, setting, None))
    if forget_kinds:
        from objrec.cache import open_cache

        open_cache(setting.cache_dir).store.db.execute("DELETE FROM kinds")
    heads = []
    monkeypatch.setattr(images, "_head", lambda p, head=images._head: heads.append(p) or head(p))
    pngs = [p for p in paths if p.suffix != ".HEIC"]
    unregister_heif(monkeypatch, installed=False)
    reads = []
    for _ in range(2):
        facts = dict(zip(paths, inventory_facts(inv, setting, None), strict=True))
        reads.append(
            (
                "pillow-heif" in facts[folder / "red" / "IMG_0001.HEIC"].error,
                len({*heads} & {*pngs}),
            )
        )
        heads.clear()
    return reads


@pytest.mark.slow  # pillow-heif
def test_a_warm_audit_opens_no_file_to_tell_the_heic_photos_it_cannot_decode_apart(
    tmp_path, monkeypatch
):
    """The audit's image facts read each stored file's first 12 bytes for it where pillow-heif
    could not be used: the feature store keeps each image's kind as it hashes the file."""
    assert warm_facts_heads(tmp_path, monkeypatch, forget_kinds=False) == [(True, 0), (True, 0)]


@pytest.mark.slow  # pillow-heif
def test_an_audit_of_a_store_without_kinds_reads_first_bytes_once_and_keeps_them(
    tmp_path, monkeypatch
):
    """A store written before it kept kinds: the files' first bytes are read, once."""
    assert warm_facts_heads(tmp_path, monkeypatch, forget_kinds=True) == [(True, 4), (True, 0)]


def test_a_flag_both_settled_and_too_few_to_judge_is_counted_once(capsys):
    """A flag a person settled is said as settled only, in the terminal's summary as in
    audit.html's counts and --json: the summary had counted it among the too-few flags too."""
    from objrec.cli.auditing import print_audit

    flags = [LabelIssue(f"photos/cat/{i}.jpg", "cat", "dog", 0.9) for i in range(3)]
    result = AuditResult(flags, [], [], 40, ["cat", "dog"], seconds={"total": 1.0})
    result.too_few = ["photos/cat/1.jpg", "photos/cat/2.jpg"]
    result.settled = ["photos/cat/2.jpg"]
    assert [row.path for row in result.too_few_apart()] == ["photos/cat/1.jpg"]
    assert len(result.to_json()["too_few_to_judge"]) == 1
    print_audit(result, Path("photos"), Path("photos-audit"))
    out = capsys.readouterr().out
    assert "1 likely wrong label, 1 label settled" in out
    assert ", 1 flag in classes of too few photos to judge, " in out


def test_audit_md_gives_every_key_of_audit_json():
    """docs/audit.md spelt audit.json as six keys after `settled_labels`, `too_few_to_judge` and
    `photos_needed` had joined it (docs41, running the page's audit): its sentence names each key
    audit.json holds."""
    page = (Path(__file__).parents[1] / "docs" / "audit.md").read_text()
    sentence = page.split("`audit.json` is `")[1].split("`;")[0]
    keys = AuditResult([], [], [], 0, []).to_json()
    assert sorted(k for k in keys if f'"{k}"' not in sentence) == [] and len(keys) >= 9


def copies_in_the_wrong_class(root: Path, copies: int) -> tuple[Path, set[str]]:
    """red/ and green/ (16 photos each), and ``copies`` byte-identical copies of one red photo
    in green/ as ``placeholder_N.png`` (review54a H1: a scraped folder's placeholder copies)."""
    data = root / "data"
    for c, name in enumerate(("red", "green")):
        (data / name).mkdir(parents=True)
        for i in range(16):
            pattern(COLOURS[name], 100 * c + i).save(data / name / f"{name}_{i:02d}.png")
    odd = pattern(COLOURS["red"], 777)
    for k in range(copies):
        odd.save(data / "green" / f"placeholder_{k}.png")
    return data, {f"green/placeholder_{k}.png" for k in range(copies)}


def test_the_terminal_says_a_flagged_photos_copies_once_with_their_count(capsys):
    """60 copies of one mislabelled photo are 60 rows of label_issues.csv (the plan acts on each
    file), but one flag: the summary and its list say it once, with its copies counted, not
    "60 likely wrong labels" and five lines of the same picture."""
    from objrec.cli.auditing import print_audit

    copies = [
        LabelIssue(f"photos/green/placeholder_{k}.png", "green", "red", picture=40, copies=60)
        for k in range(60)
    ]
    other = LabelIssue("photos/red/red_03.png", "red", "green", picture=3)
    result = AuditResult([*copies, other], [], [], 92, ["green", "red"], seconds={"total": 1.0})
    print_audit(result, Path("photos"), Path("photos-audit"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("audited 92 images: 2 likely wrong labels, ")
    at = lines.index(
        "2 likely wrong labels (61 files with their copies; most likely first), all in "
        "label_issues.csv:"
    )
    assert lines[at + 1 : at + 3] == [
        "  green/placeholder_0.png (and 59 copies of it, flagged with it): labelled green, looks "
        "like red",
        "  red/red_03.png: labelled red, looks like green",
    ]


def test_an_audits_repr_counts_a_pictures_copies_once_as_its_summary_does():
    """`AuditResult`'s repr said `n_label_issues=61, ..., n_outliers=8` of 60 copies of one
    flagged photo and 8 copies of one far photo, where the terminal's summary says "2 likely
    wrong labels" and "1 outlier": its lists hold a row a file, the findings are pictures. It
    counts pictures now, as the summary does, the labels a person settled apart."""
    copies = [
        LabelIssue(f"photos/green/placeholder_{k}.png", "green", "red", picture=40, copies=60)
        for k in range(60)
    ]
    other = LabelIssue("photos/red/red_03.png", "red", "green", picture=3)
    kept = LabelIssue("photos/red/red_04.png", "red", "green", picture=4)
    far = [Outlier(f"photos/red/dup_{k}.png", 4.0, "far", "red", None, picture=9) for k in range(8)]
    result = AuditResult([*copies, other, kept], [], far, 92, ["green", "red"])
    result.settled = [kept.path]
    assert repr(result) == (
        "AuditResult(n_images=92, n_classes=2, likely_wrong_labels=2, settled_labels=1, "
        "n_near_duplicates=0, n_look_alikes=0, outlier_pictures=1)"
    )


def test_the_findings_tables_name_each_image_a_file_as_the_plan_and_the_manifest_do():
    """`audit.table("label_issues")` (label_issues.csv's rows) said `path` for what plan.csv calls
    `file`, a path relative to the audited folder, while the finding's own `path` (and
    audit.json's) is the path as given: one name for two things, two names for one. Each CSV of
    findings names an image `file` (a group's images `files`), relative to the folder, as
    plan.csv and manifest.csv do; `path` stays the path as given."""
    from objrec.audit.findings import DuplicateGroup, LabelIssue, Outlier
    from objrec.audit.plan import PLAN_COLUMNS
    from objrec.audit.recipe import AuditResult
    from objrec.audit.report import TABLE_COLUMNS

    data = Path("data")
    flag = LabelIssue(str(data / "train/cat/1.jpg"), "cat", "dog", 0.9, "train")
    far = Outlier(str(data / "test/dog/2.jpg"), 4.5, "far from its class", "dog", "test")
    pair = [str(data / "train/cat/3.jpg"), str(data / "test/cat/4.jpg")]
    group = DuplicateGroup(pair, ["train", "test"], ["cat", "cat"], 0.99, 2, 3, "across splits")
    result = AuditResult([flag], [group], [far], 4, ["cat", "dog"], data=data)
    assert PLAN_COLUMNS[0] == "file" and not {"path", "paths"} & {*sum(TABLE_COLUMNS.values(), ())}
    assert list(result.table("label_issues")["file"]) == ["train/cat/1.jpg"]
    assert list(result.table("outliers")["file"]) == ["test/dog/2.jpg"]
    assert list(result.table("near_duplicates")["files"]) == ["train/cat/3.jpg | test/cat/4.jpg"]
    assert result.label_issues[0].path == "data/train/cat/1.jpg"  # as given, as audit.json says
    assert result.to_json()["label_issues"][0]["path"] == "data/train/cat/1.jpg"


def test_audit_html_shows_a_flagged_photos_copies_as_one_finding(tmp_path):
    """The page showed each of a picture's flagged copies as a finding of its own, thumbnails
    and all, and counted them as so many likely wrong labels: one finding now, its evidence
    naming the copies."""

    from objrec.audit.inventory import Inventory, Item
    from objrec.audit.report import write_page

    items = [Item(tmp_path / f"ant/{k}.jpg", f"ant/{k}.jpg", 0, None) for k in range(4)]
    inv = Inventory(tmp_path, ("ant", "bee"), items, False, ["d0", "d0", "d0", "d3"])
    copies = [
        LabelIssue(f"ant/{k}.jpg", "ant", "bee", 0.9, index=k, picture=0, copies=3)
        for k in range(3)
    ]
    other = LabelIssue("ant/3.jpg", "ant", "bee", 0.5, index=3, picture=3)
    found = {"label_issues": [*copies, other], "near_duplicates": [], "look_alikes": []}
    said = {"n_images": 4, "classes": ["ant", "bee"], "unjudged": [], "far_classes": {}}
    result = AuditResult(
        **found, **said, outliers=[], settled=[], too_few=[], photos_needed=[], unreadable=[]
    )
    result.labels_not_judged = ""
    write_page(result, inv, tmp_path / "audit.html")
    html = " ".join((tmp_path / "audit.html").read_text().split())
    shown = [f"<b>ant/{k}.jpg</b>" in html for k in range(4)]
    assert shown == [True, False, False, True]
    assert "2 likely wrong labels" in html and "4 likely wrong labels" not in html


def test_the_settled_and_too_few_lists_count_a_pictures_copies_once(capsys, tmp_path):
    """The likely wrong labels counted pictures, but the headings of the settled and too-few
    lists, the summary line and audit.html counted files: one photo in 6 copies read "6 labels
    settled" over one line. Each counts pictures, as the list shows them."""

    from objrec.audit.inventory import Inventory, Item
    from objrec.audit.report import write_page
    from objrec.cli.auditing import print_audit

    def copies(name: str, label: str, picture: int) -> list[LabelIssue]:
        return [
            LabelIssue(f"{label}/{name}_{k}.png", label, "red", 0.9, picture=picture, copies=6)
            for k in range(6)
        ]

    settled, few = copies("s", "green", 0), copies("f", "blue", 1)
    rows = [*settled, *few]
    result = AuditResult(rows, [], [], 40, ["blue", "green", "red"], seconds={"total": 1.0})
    result.settled, result.too_few = [f.path for f in settled], [f.path for f in few]
    print_audit(result, Path("."), tmp_path / "audit")
    lines = capsys.readouterr().out.splitlines()
    assert "1 label settled by your earlier plans (kept), 1 flag in classes of" in lines[0]
    assert any(line.startswith("1 label settled by your earlier plans") for line in lines)
    assert any(line.startswith("1 label flag in classes of too few") for line in lines)

    items = [Item(tmp_path / f.path, f.path, 0, None) for f in rows]
    inv = Inventory(tmp_path, ("blue", "green", "red"), items, False, [])
    said = {"n_images": 40, "classes": result.classes, "unjudged": [], "far_classes": {}}
    page = AuditResult(
        label_issues=rows, near_duplicates=[], look_alikes=[], outliers=[], photos_needed=[],
        unreadable=[], settled=result.settled, too_few=result.too_few, **said,
    )  # fmt: skip
    page.labels_not_judged = ""
    write_page(page, inv, tmp_path / "audit.html")
    html = " ".join((tmp_path / "audit.html").read_text().split())
    assert "6 labels" not in html and "6 label flags" not in html


def test_a_pictures_copies_far_together_are_one_outlier(capsys, tmp_path):
    """8 copies of a red photo in green/ were 8 outliers: 3 lines of one picture and "and 5
    more" in the terminal, 8 tiles on audit.html. Each copy keeps its row (outliers.csv, the
    plan), sharing its picture and count; the terminal and the page say the picture once."""

    from objrec.audit.copies import copy_groups
    from objrec.audit.inventory import Inventory
    from objrec.audit.outliers import outlier_rows
    from objrec.audit.report import write_page
    from objrec.cli.auditing import print_outliers

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 64)) * 4
    labels = [0] * 16 + [1] * 16 + [1] * 8
    spread = rng.normal(size=(32, 64))
    features = np.concatenate([centres[labels[:32]] + spread, np.repeat(centres[:1], 8, 0)])
    hashes = [int.from_bytes(rng.bytes(32), "big") for _ in range(32)] + [7] * 8
    facts, items = facts_and_items("rg", labels, hashes)
    inv = Inventory(Path("/data"), ("r", "g"), items, False)
    idx = np.arange(len(items))
    unit = dedup.normalise(features.astype(np.float32))
    near = dedup.feature_neighbours(unit, dedup.NEIGHBOURS)
    group = copy_groups(len(idx), dedup.duplicate_pairs(unit, facts, dedup.DuplicateRule(), near))
    found = outlier_rows(inv, idx, np.array(labels), unit, facts, 5, near, group)
    copies = [o for o in found if o.index >= 32]
    assert len(copies) == 8 and {(o.picture, o.copies) for o in copies} == {(32, 8)}

    print_outliers(copies, Path("/data"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1 outlier (unusual images")
    assert (
        len(lines) == 2 and lines[1].startswith("  g/") and "(and 7 copies of it): far" in lines[1]
    )
    page = AuditResult(
        label_issues=[], near_duplicates=[], look_alikes=[], outliers=copies, photos_needed=[],
        unreadable=[], settled=[], too_few=[], n_images=40, classes=["r", "g"], unjudged=[],
        far_classes={}, labels_not_judged="",
    )  # fmt: skip
    write_page(page, inv, tmp_path / "audit.html")
    html = " ".join((tmp_path / "audit.html").read_text().split())
    assert "1 outlier" in html and "(and 7 copies of it)" in html
    assert sum(f"<b>{o.path}</b>" in html for o in copies) == 1


@pytest.mark.slow
def test_every_output_names_a_pictures_copies_and_the_one_decision_for_them(tmp_path):
    """The summary counted one picture in 8 copies once, but outliers.csv, label_issues.csv,
    `--json` and plan.csv were one row a file with nothing tying the 8 together, and the plan
    relabelled one copy ("the same picture as 7 other files here, flagged with them") while
    removing the 7 others as near-duplicates, "also flagged as a wrong label". Each row of a
    picture's copies names the picture (the file the plan keeps of it) and their count; the plan
    says that one row decides for them."""
    data, planted = copies_in_the_wrong_class(tmp_path, 8)
    result = audit(data, out := tmp_path / "audit", config(cache_dir=str(tmp_path / "cache")))
    kept = "green/placeholder_0.png"
    for name in ("label_issues.csv", "outliers.csv"):
        rows = csv_rows(out / name)
        copies = [(row["picture"], row["copies"]) for row in rows if row["file"] in planted]
        assert copies == [(kept, "8")] * 8, name
        assert all(
            (r["picture"], r["copies"]) == (r["file"], "1")
            for r in rows
            if r["file"] not in planted
        )
    found = result.to_json()
    for kind in ("label_issues", "outliers"):
        shown = {row["picture"] for row in found[kind] if row["copies"] == 8}
        assert shown == {str(data / kept)}, kind
    plan = {row["file"]: row for row in csv_rows(out / "plan.csv")}
    assert {f: plan[f]["picture"] for f in planted} == dict.fromkeys(planted, kept)
    assert all(row["picture"] == f for f, row in plan.items() if f not in planted)
    assert (plan[kept]["action"], plan[kept]["new_class"]) == ("relabel", "red")
    assert plan[kept]["reason"].endswith(
        f"; one picture in 8 files (plan.csv's picture: {kept}): the plan keeps one file of it "
        "and removes the other 7 as copies"
    )
    for copy in planted - {kept}:
        assert plan[copy]["action"] == "remove"
        assert plan[copy]["reason"].endswith(
            f"; flagged with {kept} as one picture (looks like red): {kept}'s row decides the "
            "picture's label"
        )


def test_far_classes_count_a_pictures_copies_once():
    """The outliers' heading counted a picture's copies once, but the note under it counted
    files: a crab photo in 6 copies and one other crab photo far from the rest read "7 of the 8
    outliers are photos of classes of few images (crab 7 of its 21)" under "3 outliers". The far
    classes count pictures, and their classes' distinct photos."""
    from objrec.audit.outliers import far_classes
    from objrec.audit.report import far_classes_note

    names = ["airplanes", "watch", "crab", "lotus", "dolphin"]
    labels = np.array([0] * 50 + [1] * 40 + [2] * 21 + [3] * 30 + [4] * 25)
    photos = np.array([50, 40, 16, 30, 25])  # crab: one photo in 6 copies
    copies = [
        Outlier(f"crab/dup_{k}.jpg", 9.0, "far", "crab", None, index=90 + k, picture=90, copies=6)
        for k in range(6)
    ]
    outliers = [*copies, Outlier("crab/7.jpg", 5.0, "far", "crab", None, index=97)]
    outliers.append(Outlier("airplanes/3.jpg", 4.0, "far", "airplanes", None, index=3))
    found = far_classes(outliers, labels, names, photos)
    assert found == {"crab": (2, 16, 21)}
    assert far_classes_note(found, outliers).startswith(
        "2 of the 3 outliers are photos of classes of few images (crab 2 of its 16): "
    )


def test_a_picture_shown_in_two_sections_of_the_page_is_decoded_once(tmp_path, monkeypatch):
    """The page made each tile's thumbnail from its file: a photo in two sections (a
    near-duplicate that is an outlier too, a suggested class's image shown beside several
    flags) was decoded once per tile. The page's tiles share their thumbnails, by image."""
    from objrec.audit import report as audit_report

    made, thumbnail = Counter(), audit_report.thumbnail

    def counted(path, size):
        made[Path(path).name] += 1
        return thumbnail(path, size)

    monkeypatch.setattr(audit_report, "thumbnail", counted)
    page, _ = page_with_a_long_name_and_a_copy(tmp_path)
    assert made == Counter({"a.png": 1, f"{LONG_NAME}.png": 1, "small.png": 1})  # 4 tiles
    assert page.read_text().count('src="data:image/jpeg') == 4  # the group's 3, the outlier's


@pytest.mark.slow
def test_audit_keeps_its_features_in_the_cache_dir_it_is_given(tmp_path, monkeypatch, capsys):
    """review60b F8: audit had no --cache-dir, so `objrec audit DATA` after `split --cache-dir X`
    and `train --cache-dir X` computed every feature again in $OBJREC_CACHE, the environment the
    only way to point it at X. Given one, it reads and keeps its features and image facts there
    alone; one inside DATA is refused as split's is (a usage error)."""
    monkeypatch.setenv("OBJREC_CACHE", str(tmp_path / "env-cache"))
    data = make_split(tmp_path / "data", per_split=(4, 2, 2))
    args = ["audit", str(data), "--backbone", "tiny_test", "--folds", "3"]
    assert main([*args, "--cache-dir", str(tmp_path / "mine")]) == 0
    assert (tmp_path / "mine" / "store").is_dir() and (tmp_path / "mine" / "facts.sqlite").exists()
    assert not (tmp_path / "env-cache").exists()
    capsys.readouterr()
    assert main([*args, "--cache-dir", str(data / "cache"), "--refresh"]) == 2
    assert "--cache-dir" in capsys.readouterr().err and not (data / "cache").exists()
