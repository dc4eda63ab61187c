"""The labels a person settled through an applied plan: apply-plan records them, the next audit
keeps them (a persona's second audit pre-filled relabels undoing 10 of her first review's keeps)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from objrec.applying.recipe import apply_plan
from objrec.audit.findings import LabelIssue, PhotosNeeded
from objrec.audit.inventory import Inventory, Item
from objrec.audit.plan import plan_rows
from objrec.audit.recipe import AuditResult
from objrec.file_index import hash_file
from objrec.reviewed import REVIEWED_FILE, read_reviewed, settled_paths


def split_folder(root: Path) -> Path:
    """train/ant/ant_0-2.png and train/dragonfly/dragonfly_0-2.png, each a different colour (its
    own bytes), and one image of each class in valid and test."""
    for c, name in enumerate(("ant", "dragonfly")):
        for split, k in (("train", 0), ("train", 1), ("train", 2), ("valid", 3), ("test", 4)):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            colour = (40 * c, 30 * k, 9)
            Image.new("RGB", (8, 8), colour).save(root / split / name / f"{name}_{k}.png")
    return root


def test_apply_plan_remembers_the_labels_its_rows_settled_and_the_earlier_ones(tmp_path):
    data, plan = split_folder(tmp_path / "data"), tmp_path / "plan.csv"
    ant, fly = data / "train/ant", data / "train/dragonfly"
    plan.write_text(
        "file,action,new_class\ntrain/ant/ant_0.png,keep,\ntrain/ant/ant_1.png,relabel,dragonfly\n"
    )
    assert apply_plan(data, plan, tmp_path / "fixed").reviewed == 2
    fixed = tmp_path / "fixed"
    assert read_reviewed(fixed) == {
        hash_file(ant / "ant_0.png"): ("ant", "train/ant/ant_0.png"),
        hash_file(ant / "ant_1.png"): ("dragonfly", "train/dragonfly/ant_1.png"),
    }
    plan.write_text(
        "file,action,new_class\ntrain/ant/ant_0.png,remove,\ntrain/dragonfly/dragonfly_2.png,keep,\n"
    )
    assert apply_plan(fixed, plan, tmp_path / "fixed2").reviewed == 2
    assert read_reviewed(tmp_path / "fixed2") == {  # ant_0 removed, ant_1 carried
        hash_file(ant / "ant_1.png"): ("dragonfly", "train/dragonfly/ant_1.png"),
        hash_file(fly / "dragonfly_2.png"): ("dragonfly", "train/dragonfly/dragonfly_2.png"),
    }
    plan.write_text("file,action,new_class\ntrain/ant/ant_2.png,remove,\n")
    assert apply_plan(data, plan, tmp_path / "none").reviewed == 0
    assert not (tmp_path / "none" / REVIEWED_FILE).exists()


def test_only_a_plan_s_rows_about_the_label_and_a_person_s_own_settle_a_label(tmp_path):
    """every keep of an applied plan went into reviewed.csv, the audit's keeps of
    outliers, look-alikes and a near-duplicate group's first too, which most apply untouched; the
    next audit then kept such an image's label as settled, and an outlier is often a wrong
    label. A relabel, a keep of a label flag (to review) and a person's own row settle it."""
    from objrec.audit.findings import Outlier
    from objrec.audit.plan import KEPT_REASON, LOOK_ALIKE_REASON, plan_row, write_plan

    data = split_folder(tmp_path / "data")
    files = [f"train/{name}/{name}_{k}.png" for name in ("ant", "dragonfly") for k in range(3)]
    items = [Item(data / f, f, int("dragonfly" in f), "train") for f in files]
    inv = Inventory(data, ("ant", "dragonfly"), items, True, [])
    evidence = "4 of its 10 nearest images are labelled dragonfly"
    review = LabelIssue(files[0], "ant", "dragonfly", index=0, prob_suggested=0.3)
    review = replace(review, prob_given=0.6, evidence=evidence)
    why = "far from its class (z=4.1)"
    outliers = [Outlier(files[i], 4.1, why, "ant", "train", index=i) for i in (1, 5)]
    rows = plan_rows(AuditResult([review], [], outliers, 6, ["ant", "dragonfly"]), inv)
    alike = LOOK_ALIKE_REASON.format(first=files[4], kind="within class", sim=0.9)
    rows.append(plan_row(inv, 2, "keep", "", alike))
    kept = dict(one="image", group="look-alike group", others="look-alikes", then="")
    first = KEPT_REASON.format(kind="within class", n=2, names=repr(files[2]), **kept)
    rows.append(plan_row(inv, 3, "keep", "", first))
    rows.append(plan_row(inv, 4, "keep", "", ""))  # a person's own row
    rows[[row["file"] for row in rows].index(files[5])] |= {"action": "relabel", "new_class": "ant"}
    assert rows[0]["action"] == "review"
    rows[0]["action"] = "keep"  # a person's decision on the flag
    write_plan(rows, plan := tmp_path / "plan.csv")
    assert apply_plan(data, plan, tmp_path / "fixed").reviewed == 3
    assert {row[1] for row in read_reviewed(tmp_path / "fixed").values()} == {
        "train/ant/ant_0.png",  # a flag to review, kept by a person
        "train/dragonfly/dragonfly_1.png",  # a person's own
        "train/ant/dragonfly_2.png",  # an outlier a person relabelled
    }


def test_a_flag_left_to_review_is_applied_as_a_keep_but_not_remembered_as_settled(tmp_path):
    """A plan applied as the audit wrote it remembered its weak flags ("review: may be ...",
    pre-filled keep) in reviewed.csv as labels a person settled, so later audits stopped
    flagging them though nobody had looked. Such a row is pre-filled ``review`` (its suggested
    class in new_class): applied, the image is copied as it is and nothing is remembered; a
    person's keep of it is remembered; a plan of an older objrec (the row a keep) still applies."""
    from objrec.audit.plan import write_plan
    from objrec.cli.applying import applied_line

    data = split_folder(tmp_path / "data")
    files = [f"train/ant/ant_{k}.png" for k in range(3)]
    items = [Item(data / f, f, 0, "train") for f in files]
    inv = Inventory(data, ("ant", "dragonfly"), items, True, [])
    evidence = "4 of its 10 nearest images are labelled dragonfly"
    weak = LabelIssue(files[0], "ant", "dragonfly", index=0, prob_suggested=0.3)
    weak = replace(weak, prob_given=0.01, evidence=evidence)
    (row,) = plan_rows(AuditResult([weak], [], [], 3, ["ant", "dragonfly"]), inv)
    assert (row["action"], row["new_class"]) == ("review", "dragonfly")
    write_plan([row], plan := tmp_path / "plan.csv")
    counts = apply_plan(data, plan, tmp_path / "fixed")
    assert (counts.relabelled, counts.reviewed, counts.left_to_review) == (0, 0, 1)
    folders = (data, plan, tmp_path / "fixed")
    assert applied_line(counts, folders, True).endswith(
        "says keep or review, so nothing was moved or left out: copied 10 images into "
        f"{tmp_path}/fixed as they are in {data}, which is unchanged; 1 row left to review, "
        "copied as it is and no label remembered (decide it in the plan: keep or relabel; or "
        "apply the plan again, into a new folder, with --accept to take the class the audit "
        "suggests for each label flag it would act on)"
    )
    assert (tmp_path / "fixed" / files[0]).is_file()
    assert not (tmp_path / "fixed" / REVIEWED_FILE).exists()
    for action, out in (("keep", "kept"), ("Review", "again")):  # a person's keep; any case
        write_plan([row | {"action": action}], plan)
        assert apply_plan(data, plan, tmp_path / out).reviewed == (action == "keep")
    older = row | {"action": "keep", "new_class": ""}  # as objrec wrote it before
    write_plan([older], plan)
    assert apply_plan(data, plan, tmp_path / "older").reviewed == 1


def test_a_relabel_applied_as_the_audit_proposed_it_is_not_remembered_as_settled(tmp_path):
    """apply-plan remembered every relabel row in reviewed.csv, the audit's own pre-filled
    ones applied unread too: a photo of nothing relabelled anchor at p(suggested)=0.76 was then
    kept by every later audit as "settled by your earlier plans". A relabel as the audit wrote
    it is applied, counted and said, but not remembered, and the next audit flags the photo
    again; a relabel a person made (a row to review set to relabel, a reason of their own) is
    remembered."""
    from objrec.audit.plan import write_plan
    from objrec.cli.applying import applied_line, as_proposed_words

    data, _, flags, rows = sure_and_weak_flags(tmp_path)
    assert [(row["action"], row["new_class"]) for row in rows] == [
        ("relabel", "dragonfly"),
        ("review", "dragonfly"),
    ]
    write_plan(rows, plan := tmp_path / "plan.csv")
    counts = apply_plan(data, plan, tmp_path / "fixed")
    assert (counts.relabelled, counts.relabels_as_proposed, counts.reviewed) == (1, 1, 0)
    assert not (tmp_path / "fixed" / REVIEWED_FILE).exists()
    assert (tmp_path / "fixed/train/dragonfly/ant_0.png").is_file()
    folders = (data, plan, tmp_path / "fixed")
    line = applied_line(counts, folders, True)
    assert "(1 relabelled)" in line and "pre-filled" not in line and "--remember" not in line
    # short sentences of their own, not one clause of four ideas (newcomer63b): what happened,
    # why it is not remembered, what --remember does, then the command alone on its line
    assert as_proposed_words(1, folders) == (
        "1 relabel was applied as the audit pre-filled it. Nothing says you read it, so it is not "
        "remembered as your decision: a later audit judges the photo again. If you read and agree "
        f"with it, --remember remembers it in {tmp_path}/fixed, copying nothing:\n"
        f"  objrec apply-plan {data} {plan} {tmp_path}/fixed --remember"
    )
    assert "a later audit judges those photos again." in as_proposed_words(2, folders)
    fixed, moved = tmp_path / "fixed", "train/dragonfly/ant_0.png"
    now = [Item(fixed / moved, moved, 1, "train")]
    again = Inventory(fixed, ("ant", "dragonfly"), now, True, [hash_file(fixed / moved)])
    back = replace(flags[0], path=moved, given="dragonfly", suggested="ant")
    (row,) = plan_rows(AuditResult([back], [], [], 1, ["ant", "dragonfly"]), again)
    assert not row["reason"].startswith("settled:")  # flagged again, not kept as settled
    mine = [rows[0] | {"reason": "checked: a dragonfly"}, rows[1] | {"action": "relabel"}]
    write_plan(mine, plan)
    counts = apply_plan(data, plan, tmp_path / "mine")
    assert (counts.relabelled, counts.relabels_as_proposed, counts.reviewed) == (2, 0, 2)


@pytest.mark.slow  # four apply-plans: 0.16 s
def test_apply_plan_remember_keeps_a_plan_s_relabels_as_decisions_in_the_copy_made(
    tmp_path, capsys
):
    """apply-plan said "2 relabels applied as the audit proposed, not remembered as settled
    (... apply it again, into a new folder, with --accept ...)" to a person who had read the
    plan and agreed by leaving those rows as written, and who had trained on the copy and added
    photos to it since (newcomer60, 1). `apply-plan DATA PLAN OUT --remember` remembers, in OUT
    as it is, the plan's relabels as the audit wrote them, copying nothing, and the line names
    that command; a row left to review stays undecided; OUT must be the copy this plan made."""
    from objrec.audit.plan import write_plan
    from objrec.cli import main

    data, files, flags, rows = sure_and_weak_flags(tmp_path)
    write_plan(rows, plan := tmp_path / "plan.csv")
    fixed, moved = tmp_path / "fixed", "train/dragonfly/ant_0.png"
    assert main(["apply-plan", str(data), str(plan), str(fixed)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert f"objrec apply-plan {data} {plan} {fixed} --remember" in said
    assert not (fixed / REVIEWED_FILE).exists()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(fixed / "train/ant/added.png")  # the loop goes on
    before = sorted(p.relative_to(fixed) for p in fixed.rglob("*.png"))
    stamp = (fixed / moved).stat().st_mtime_ns
    args = ["apply-plan", str(data), str(plan), str(fixed), "--remember"]
    assert main(args) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert said.startswith(
        f"1 relabel of {plan}, left as the audit wrote it, remembered as your decisions in "
        f"{fixed}; nothing was copied"
    )
    assert "remembers the 1 label your plans kept or changed" in said
    assert read_reviewed(fixed) == {hash_file(data / files[0]): ("dragonfly", moved)}
    assert sorted(p.relative_to(fixed) for p in fixed.rglob("*.png")) == before
    assert (fixed / moved).stat().st_mtime_ns == stamp
    now = [Item(fixed / moved, moved, 1, "train")]
    again = Inventory(fixed, ("ant", "dragonfly"), now, True, [hash_file(fixed / moved)])
    back = replace(flags[0], path=moved, given="dragonfly", suggested="ant")
    (row,) = plan_rows(AuditResult([back], [], [], 1, ["ant", "dragonfly"]), again)
    assert row["reason"].startswith("settled:")  # the next audit keeps it
    assert main([*args, "--json"]) == 0  # again: the same row, nothing more
    answer = json.loads(capsys.readouterr().out)
    assert answer == {"remembered": 1, "not_found": 0, "reviewed": 1, "warnings": []}
    assert main([*args, "--accept"]) == 2
    assert "--remember copies nothing" in capsys.readouterr().err
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "none"), "--remember"]) == 1
    assert "is not a folder: --remember records" in " ".join(capsys.readouterr().err.split())
    write_plan([rows[0] | {"new_class": "ant"}, rows[1]], plan)  # edited since it was applied
    assert main(args) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"{fixed}/split.json records no apply of {plan}, as it is now, to {data}" in err


@pytest.mark.slow  # an apply-plan and a remember
def test_remember_reads_a_digest_a_spreadsheet_capitalised_as_apply_plan_does(tmp_path):
    """review65a L3: remember_plan looked a row's digest up as it came, so a digest a
    spreadsheet had upper-cased (or padded) was warned of as "no longer in OUT" and its relabel
    not remembered, though apply-plan itself read the same row (``follow.row_digest``)."""
    from objrec.applying.remember import remember_plan
    from objrec.audit.plan import write_plan

    data, files, _, rows = sure_and_weak_flags(tmp_path)
    digest = hash_file(data / files[0])
    write_plan([rows[0] | {"digest": f" {digest.upper()} "}, rows[1]], plan := tmp_path / "p.csv")
    apply_plan(data, plan, fixed := tmp_path / "fixed")
    remembered = remember_plan(data, plan, fixed)
    assert remembered.remembered == 1
    assert read_reviewed(fixed) == {digest: ("dragonfly", "train/dragonfly/ant_0.png")}


def sure_and_weak_flags(tmp_path):
    """A split of three ants, two flagged as dragonflies: one sure (the plan relabels it), one
    weak (left to review); the data folder, its train files, the flags and the plan's rows."""
    data = split_folder(tmp_path / "data")
    files = [f"train/ant/ant_{k}.png" for k in range(3)]
    items = [Item(data / f, f, 0, "train") for f in files]
    inv = Inventory(data, ("ant", "dragonfly"), items, True, [])
    evidence = (
        "heads and neighbours give p(given)=0.01, p(suggested)=0.99; 9 of its 10 nearest images "
        "are labelled dragonfly"
    )
    sure = LabelIssue(files[0], "ant", "dragonfly", index=0, prob_suggested=0.99)
    weak = LabelIssue(files[1], "ant", "dragonfly", index=1, prob_suggested=0.3)
    flags = [replace(sure, prob_given=0.01, evidence=evidence), replace(weak, prob_given=0.01)]
    return data, files, flags, plan_rows(AuditResult(flags, [], [], 3, ["ant", "dragonfly"]), inv)


def test_apply_plan_accept_takes_the_audit_s_suggestions_as_decisions_remembered(tmp_path, capsys):
    """apply-plan said "3 relabels applied as the audit proposed, not remembered as yours (... to
    have a relabel remembered, write your own reason on its row)", and accepting the 7 rows left
    review meant editing the CSV by hand, keeping its BOM (newcomer58, 4). --accept relabels each
    label flag left to review to its suggested class and remembers every relabel, the audit's
    too, as the person's decision; a photo of no class stays to review. --json counts the rows
    it accepted (`accepted`: it gave no count of them). A flag the audit says not to act on
    (p(suggested) under 0.5, as the weak one's 0.30; a class of too few photos) was accepted too,
    and remembered as settled, so that no later audit flagged its wrong label again (session
    61's review): it stays to review, counted (`not_accepted`)."""
    from objrec.audit.plan import NO_CLASS_REASON, write_plan
    from objrec.cli import main

    data, files, _, rows = sure_and_weak_flags(tmp_path)
    nothing = NO_CLASS_REASON.format(z=4.0, suggested="dragonfly", p=0.4, evidence="...")
    rows.append(rows[1] | {"file": files[2], "new_class": "", "reason": nothing})
    rows[-1] |= {"proposal": "no_class"}
    reason = rows[1]["reason"].replace("p(suggested)=0.30", "p(suggested)=0.60")
    assert rows[1]["proposal"] == "weak" and reason != rows[1]["reason"]
    mid = {"file": "valid/ant/ant_3.png", "split": "valid", "reason": reason}
    rows.append(rows[1] | mid | {"proposal": "flag", "p_suggested": "0.6000"})
    assert [row["action"] for row in rows] == ["relabel", "review", "review", "review"]
    write_plan(rows, plan := tmp_path / "plan.csv")
    counts = apply_plan(data, plan, tmp_path / "fixed", accept=True)
    assert (counts.relabelled, counts.relabels_as_proposed, counts.reviewed) == (2, 0, 2)
    assert counts.left_to_review == 2  # the photo of no class (no class to accept), the weak flag
    assert counts.accepted == 2  # the audit's relabel and the flag left to review at 0.60
    assert counts.not_accepted == 1  # the flag at 0.30
    assert {name for name, _ in read_reviewed(tmp_path / "fixed").values()} == {"dragonfly"}
    assert (tmp_path / "fixed/valid/dragonfly/ant_3.png").is_file()
    assert (tmp_path / "fixed/train/ant/ant_1.png").is_file()
    assert (tmp_path / "fixed/train/ant/ant_2.png").is_file()
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "cli"), "--accept"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "(2 relabelled)" in said and "not remembered as your decision" not in said
    assert "2 rows left to review" in said and "--accept" not in said  # not offered again
    assert "; 1 of them is a label flag too weak to accept, the suggested class under p 0.5" in said
    assert "remembers the 2 labels your plans kept or changed" in said
    args = ["apply-plan", str(data), str(plan), str(tmp_path / "json"), "--accept", "--json"]
    assert main(args) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["accepted"], answer["relabelled"], answer["left_to_review"]) == (2, 2, 2)
    assert answer["not_accepted"] == 1
    assert main(["apply-plan", "--help"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "--accept Accept the audit's suggested classes as your decisions." in said


def test_accept_reads_an_older_plan_s_flags_by_the_probability_its_reasons_give(tmp_path):
    """A plan written before its proposal columns: --accept takes a flag left to review at
    p(suggested) 0.5 or more as its reason gives it, and leaves one under it to review."""
    from objrec.audit.plan import MARK_COLUMNS, write_plan

    data, _, _, rows = sure_and_weak_flags(tmp_path)
    reason = rows[1]["reason"].replace("p(suggested)=0.30", "p(suggested)=0.60")
    rows.append(rows[1] | {"file": "valid/ant/ant_3.png", "split": "valid", "reason": reason})
    rows = [{k: v for k, v in row.items() if k not in MARK_COLUMNS} for row in rows]
    write_plan(rows, plan := tmp_path / "plan.csv")
    counts = apply_plan(data, plan, tmp_path / "fixed", accept=True)
    assert (counts.accepted, counts.not_accepted, counts.left_to_review) == (2, 1, 1)
    assert (tmp_path / "fixed/valid/dragonfly/ant_3.png").is_file()
    assert (tmp_path / "fixed/train/ant/ant_1.png").is_file()


def test_the_plan_leaves_a_test_or_validation_image_s_sure_flag_to_review(tmp_path):
    """review56b M2: a split folder's plan pre-filled `test/crab/image_0901.jpg relabel
    sunflower` (p(suggested)=1.00), from the frozen features the model answers with: applied as
    it comes, each wrong one of such relabels (about 1 in 20) flatters every later score. In the
    test and validation splits the flag is left to review, its reason saying why; in train it
    is relabelled; the flag still decides which copy of a picture in two classes is wrong."""
    from objrec.audit.plan import acts_on

    data = split_folder(tmp_path / "data")
    files = [f"{split}/ant/ant_{k}.png" for split, k in (("train", 0), ("valid", 3), ("test", 4))]
    items = [Item(data / f, f, 0, f.split("/")[0]) for f in files]
    inv = Inventory(data, ("ant", "dragonfly"), items, True, [])
    evidence = (
        "heads and neighbours give p(given)=0.00, p(suggested)=1.00; 10 of its 10 nearest images "
        "are labelled dragonfly"
    )
    flags = [
        LabelIssue(f, "ant", "dragonfly", split=f.split("/")[0], index=i, prob_suggested=1.0)
        for i, f in enumerate(files)
    ]
    flags = [replace(flag, prob_given=0.0, evidence=evidence) for flag in flags]
    rows = plan_rows(AuditResult(flags, [], [], 3, ["ant", "dragonfly"]), inv)
    assert [(row["action"], row["new_class"]) for row in rows] == [
        ("relabel", "dragonfly"),
        ("review", "dragonfly"),
        ("review", "dragonfly"),
    ]
    assert rows[2]["reason"] == (
        "review: may be dragonfly, p(suggested)=1.00, but it is a test image: its label is what "
        "the model is scored against, so a person changes it, not the features the model "
        f"answers with (a wrong relabel would flatter every later score); relabel if so ({evidence})"
    )
    assert "but it is a validation image: its label chooses the run's epoch" in rows[1]["reason"]
    assert all(map(acts_on, flags))


def test_the_plan_keeps_a_label_a_person_settled_instead_of_relabelling_it(tmp_path):
    items = [Item(tmp_path / f"ant/{k}.jpg", f"ant/{k}.jpg", 0, None) for k in range(3)]
    inv = Inventory(tmp_path, ("ant", "dragonfly"), items, False, ["d0", "d1", "d2"])
    with (tmp_path / REVIEWED_FILE).open("w", newline="") as f:  # d1: settled as dragonfly
        csv.writer(f).writerows([["digest", "class", "file"], ["d0", "ant", "old/ant/0.jpg"]])
        csv.writer(f).writerow(["d1", "dragonfly", "dragonfly/1.jpg"])
    evidence = "10 of its 10 nearest images are labelled dragonfly"
    issues = [
        LabelIssue(f"ant/{k}.jpg", "ant", "dragonfly", index=k, prob_suggested=0.99)
        for k in range(3)
    ]
    issues = [replace(issue, prob_given=0.0, evidence=evidence) for issue in issues]
    plan = plan_rows(AuditResult(issues, [], [], 3, ["ant", "dragonfly"]), inv)
    settled, *others = plan
    assert (settled["action"], settled["new_class"]) == ("keep", "")
    assert settled["reason"] == (
        "settled: a person kept it as ant in an earlier plan (old/ant/0.jpg in reviewed.csv); "
        "may be dragonfly, p(suggested)=0.99; relabel if so (10 of its 10 nearest images are "
        "labelled dragonfly)"
    )
    assert [(row["action"], row["new_class"]) for row in others] == [("relabel", "dragonfly")] * 2


def test_the_audits_last_line_counts_the_keeps_an_earlier_review_settled():
    from objrec.cli.auditing import planned_rows

    rows = planned_rows({"relabel": 1, "keep": 12, "review": 2, "settled": 10})
    assert rows[2] == (
        "12 keeps (flagged images left as they are; 10 as a plan you applied before settled "
        "their labels (reviewed.csv))"
    )
    one = planned_rows({"keep": 7, "settled": 1})[0]
    assert one.endswith("; 1 as a plan you applied before settled its label (reviewed.csv))")


def test_the_flags_a_person_settled_are_found_by_the_audit_from_reviewed_csv(tmp_path):
    items = [Item(tmp_path / f"ant/{k}.jpg", f"ant/{k}.jpg", 0, None) for k in range(3)]
    inv = Inventory(tmp_path, ("ant", "dragonfly"), items, False, ["d0", "d1", "d2"])
    (tmp_path / REVIEWED_FILE).write_text("digest,class,file\nd0,ant,\nd1,dragonfly,\n")
    issues = [LabelIssue(f"ant/{k}.jpg", "ant", "dragonfly", index=k) for k in range(3)]
    assert settled_paths(inv, issues) == ["ant/0.jpg"]  # d1 was settled as another class


def settled_result(data: Path) -> AuditResult:
    """Two label flags in ``data``, the first one's label settled in an earlier plan."""
    issues = [LabelIssue(str(data / f"train/ant/ant_{k}.png"), "ant", "fly", 0.1) for k in range(2)]
    result = AuditResult(issues, [], [], 10, ["ant", "fly"], seconds={"total": 1.0})
    result.settled = [issues[0].path]
    return result


def test_the_audits_summary_says_the_settled_flags_apart_from_the_likely_wrong_labels(
    tmp_path, capsys, monkeypatch
):
    """after apply-plan the audit's summary listed '1 likely wrong label ...:
    test/butterfly/image_0012.jpg', a photo the plan kept as an earlier plan settled it: a
    newcomer read the review as ignored. The terminal and --json count and list it apart."""
    import json

    import objrec.audit.recipe
    from objrec.cli import main

    data = split_folder(tmp_path / "data")
    monkeypatch.setattr(objrec.audit.recipe, "audit", lambda *args, **kwargs: settled_result(data))
    assert main(["audit", str(data)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert ": 1 likely wrong label, 1 label settled by your earlier plans (kept), 0 near" in said
    wrong, settled = said.split("1 likely wrong label (most likely first)")[1].split("1 label s")
    assert "train/ant/ant_1.png: labelled ant" in wrong and "ant_0" not in wrong
    assert settled.startswith(
        "ettled by your earlier plans (kept), flagged again (plan.csv keeps it; also in "
        "label_issues.csv): train/ant/ant_0.png: labelled ant, looks like fly"
    )
    assert main(["audit", str(data), "--json", "--force"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [row["path"] for row in found["label_issues"]] == [str(data / "train/ant/ant_1.png")]
    assert [row["path"] for row in found["settled_labels"]] == [str(data / "train/ant/ant_0.png")]


def test_apply_plan_says_where_it_remembers_the_settled_labels(tmp_path, capsys):
    from objrec.cli import main

    data, plan = split_folder(tmp_path / "data"), tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ntrain/ant/ant_0.png,keep,\n")
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "fixed")]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert said.startswith(
        f"every row of {plan} says keep, so nothing was moved or left out: copied 10 images into "
        f"{tmp_path / 'fixed'} as they are in {data}, which is unchanged "
    )  # a plan left all keep was said to hold "the labels your plans settled"
    assert (  # which label: "the 1 label" left the user to guess
        f"{tmp_path / 'fixed' / 'reviewed.csv'} remembers the 1 label your plans kept or changed "
        "(train/ant/ant_0.png as ant): an audit of it keeps each instead of suggesting its "
        "relabel again"
    ) in said
    assert said.endswith(
        f"next: `objrec train {tmp_path / 'fixed'} --out NEW_RUN` (a relabelled or removed image "
        f"costs no frozen pass; `objrec add {tmp_path / 'fixed'} MORE_PHOTOS` first for more "
        "photos or a new class)"
    )


def test_apply_plan_says_it_changed_validation_images_as_it_says_test_ones(tmp_path, capsys):
    """Removing a test and a valid image said "1 test image changed (1 removed)" alone: the
    valid change, which moves the next train's early stopping and threshold, went unsaid."""
    from objrec.cli import main

    data, plan = split_folder(tmp_path / "data"), tmp_path / "plan.csv"
    plan.write_text(
        "file,action,new_class\ntest/ant/ant_4.png,remove,\nvalid/ant/ant_3.png,remove,\n"
        "valid/dragonfly/dragonfly_3.png,relabel,ant\n"
    )
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "fixed")]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "1 test image changed (1 removed)" in said
    assert (
        "2 validation images changed (1 relabelled, 1 removed): they decide the next train's "
        "early stopping and its unknown threshold, so its validation figures are not comparable "
        "with the old run's"
    ) in said


def test_apply_plan_logs_the_validation_note_its_repr_leaves_to_it(tmp_path, caplog):
    """loose60: ``apply_plan`` logged the test split's note, not the validation split's, which
    only the CLI said; its counts' repr leaves both splits' counts to those notes now."""
    import logging

    from objrec.applying.recipe import apply_plan

    data, plan = split_folder(tmp_path / "data"), tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\nvalid/ant/ant_3.png,remove,\n")
    with caplog.at_level(logging.INFO, logger="objrec.applying.recipe"):
        counts = apply_plan(data, plan, tmp_path / "fixed")
    assert counts.valid_removed == 1 and "valid_removed" not in repr(counts)
    assert "1 validation image changed (1 removed): they decide the next train's" in caplog.text


def test_audit_html_says_which_flags_a_person_settled_before(tmp_path):
    """The page showed a flag whose label an earlier review settled as a new one, to look at
    again: 18 of a third audit's 24 flags were such."""

    from objrec.audit.report import write_page

    items = [Item(tmp_path / f"ant/{k}.jpg", f"ant/{k}.jpg", 0, None) for k in range(2)]
    inv = Inventory(tmp_path, ("ant", "dragonfly"), items, False, ["d0", "d1"])
    issues = [
        LabelIssue(f"ant/{k}.jpg", "ant", "dragonfly", 0.1, index=k, evidence=f"evidence {k}")
        for k in range(2)
    ]
    found = {"label_issues": issues, "near_duplicates": [], "look_alikes": [], "outliers": []}
    said = {"n_images": 2, "classes": ["ant", "dragonfly"], "unjudged": [], "far_classes": {}}
    result = AuditResult(
        **found, **said, settled=["ant/0.jpg"], too_few=[], photos_needed=[], unreadable=[]
    )
    result.labels_not_judged = ""
    reason = "settled: a person kept it as ant in an earlier plan (ant/0.jpg in reviewed.csv)"
    plan = [{"file": "ant/0.jpg", "action": "keep", "reason": reason + "; may be dragonfly"}]
    plan += [{"file": "ant/1.jpg", "action": "relabel", "reason": "evidence 1"}]
    write_page(result, inv, tmp_path / "audit.html", plan=plan)
    html = " ".join((tmp_path / "audit.html").read_text().split())
    assert html.count('<span class="settled">') == 1
    assert f'<span class="settled">{reason}: plan.csv keeps it</span>' in html
    assert html.index("evidence 0") < html.index(reason) < html.index("evidence 1")
    assert "1 likely wrong label, 1 label settled by your earlier plans (kept)," in html


@pytest.mark.slow
def test_the_photo_folder_route_remembers_a_settled_label_through_split(tmp_path):
    """audit PHOTOS -> apply-plan -> split --like: apply-plan of a class folder wrote no
    reviewed.csv (check and split would call it a stray file), so the split's audit pre-filled
    the relabel a person had turned down."""
    from objrec.audit.recipe import audit
    from objrec.check import check_folder
    from objrec.split.recipe import split_folder as split

    from .test_audit import COLOURS, colour_folder, config, pattern

    photos = colour_folder(tmp_path / "photos", {"red": 8, "green": 8, "blue": 8})
    pattern(COLOURS["red"], 999).save(photos / "green/odd.png")  # a red picture she calls green
    split(photos, old := tmp_path / "old")
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ngreen/odd.png,keep,\nred/red_1.png,relabel,blue\n")
    fixed = tmp_path / "fixed"
    assert apply_plan(photos, plan, fixed).reviewed == 2
    odd = hash_file(photos / "green/odd.png")
    assert read_reviewed(fixed)[odd] == ("green", "green/odd.png")
    assert not [p for p in check_folder(fixed).problems if REVIEWED_FILE in p.path]
    data = tmp_path / "data"
    assert split(fixed, data, like=old).reviewed == 2
    moved = next(data.glob("*/green/odd.png")).relative_to(data).as_posix()
    assert read_reviewed(data)[odd] == ("green", moved)  # the path in the split
    assert read_reviewed(data)[hash_file(photos / "red/red_1.png")][0] == "blue"
    result = audit(data, tmp_path / "audit", config(cache_dir=str(tmp_path / "cache")))
    flagged = [issue.path for issue in result.label_issues]
    assert str(data / moved) in flagged  # a red picture labelled green
    assert str(data / moved) in result.settled  # said apart from the likely wrong labels
    with (tmp_path / "audit/plan.csv").open(newline="", encoding="utf-8-sig") as f:
        row = next(r for r in csv.DictReader(f) if r["file"] == moved)
    assert row["action"] == "keep" and row["reason"].startswith(
        f"settled: a person kept it as green in an earlier plan ({moved} in reviewed.csv)"
    )


@pytest.mark.slow
def test_split_says_it_carries_the_settled_labels(tmp_path, capsys):
    from objrec.cli import main

    from .test_audit import colour_folder

    photos = colour_folder(tmp_path / "photos", {"red": 4, "green": 4})
    digest = hash_file(photos / "red/red_0.png")
    (photos / REVIEWED_FILE).write_text(f"digest,class,file\n{digest},red,\n")
    assert main(["split", str(photos), str(tmp_path / "data")]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert (
        f"{tmp_path / 'data' / 'reviewed.csv'} carries the 1 label your plans settled: an audit "
        "of it keeps each"
    ) in said
    assert "outside any class folder" not in said


def test_a_row_naming_a_file_but_for_its_accent_encoding_is_remembered_as_settled(tmp_path):
    """A row typed for été.png (NFC) is applied to a Mac's NFD été.png on disk; its label was
    applied but not remembered, so the next audit pre-filled the relabel a person turned down."""
    data, plan = split_folder(tmp_path / "data"), tmp_path / "plan.csv"
    nfd, nfc = "e\u0301te\u0301.png", "\u00e9t\u00e9.png"
    (data / "train/ant/ant_0.png").rename(data / "train/ant" / nfd)
    plan.write_text(f"file,action,new_class\ntrain/ant/{nfc},keep,\n", encoding="utf-8")
    assert apply_plan(data, plan, tmp_path / "fixed").reviewed == 1
    digest = hash_file(data / "train/ant" / nfd)
    assert read_reviewed(tmp_path / "fixed") == {digest: ("ant", f"train/ant/{nfd}")}


@pytest.mark.slow
def test_photos_needed_counts_a_settled_label_as_its_classs_photo_not_a_flag(tmp_path):
    """after apply-plan kept an anchor the audit took for a pizza, the next audit said
    "0 likely wrong labels, 1 label settled by your earlier plans", then listed anchor among the
    classes to photograph for "1 label flagged as likely wrong". A settled label is its class's
    photo: counted with the class's photos, recognised or not, never as a flag (dragonfly is
    listed for its few photos, its flag said as one to fix first)."""
    from objrec.audit.labels import judge_labels
    from objrec.audit.recipe import AuditConfig
    from objrec.dedup import feature_neighbours, normalise
    from objrec.progress import SILENT

    rng = np.random.default_rng(0)
    centres = 3 * rng.normal(size=(2, 16))
    x = np.concatenate(
        [c + 0.3 * rng.normal(size=(n, 16)) for c, n in zip(centres, (30, 9), strict=True)]
    )
    x = np.concatenate([x, [centres[0] + 0.3 * rng.normal(size=16)]]).astype(np.float32)
    labels = np.array([0] * 30 + [1] * 10)  # the last: a "dragonfly" among the ants
    items = [Item(tmp_path / f"{k}.jpg", f"{k}.jpg", int(c), None) for k, c in enumerate(labels)]
    digests = [f"d{k}" for k in range(len(items))]
    inv = Inventory(tmp_path, ("ant", "dragonfly"), items, False, digests)
    near = feature_neighbours(normalise(x), 10)

    def needs() -> list[PhotosNeeded]:
        found = judge_labels(
            inv, np.arange(len(items)), labels, x, near, AuditConfig(pca=0), SILENT
        )
        assert [row.path for row in found.issues] == ["39.jpg"]
        return found.needs

    (flagged,) = needs()
    assert (flagged.class_name, flagged.flagged, flagged.judged) == ("dragonfly", 1, 9)
    assert flagged.reason.endswith(
        "1 label flagged as likely wrong: fix it in plan.csv first "
        "(label_issues.csv; more photos do not fix a label)"
    )
    (tmp_path / REVIEWED_FILE).write_text("digest,class,file\nd39,dragonfly,39.jpg\n")
    (settled,) = needs()  # its 10 photos judged, none flagged
    assert (settled.flagged, settled.judged) == (0, 10)
    assert settled.reason == "only 10 photos (add photos: 11 or more)"


def test_the_reviewed_line_names_no_staging_folder_and_is_not_said_of_none(tmp_path, caplog):
    """newcomer57 (9): INFO said "data/.objrec-split-e1575ca8/reviewed.csv: 0 labels a person
    settled" of a new split: a temporary folder, renamed when the split was done, and a count
    of nothing. A split that carries labels says how many, naming the file alone; none, nothing."""
    import logging

    from objrec.reviewed import carry_reviewed

    staging = tmp_path / ".objrec-split-e1575ca8"
    staging.mkdir()
    with caplog.at_level(logging.INFO, logger="objrec.reviewed"):
        assert carry_reviewed(staging, {}, {}) == 0
        assert not caplog.records
        kept = carry_reviewed(staging, {"ab12": ("cup", "cup/1.jpg")}, {"ab12": "train/cup/1.jpg"})
    assert kept == 1 and (staging / "reviewed.csv").is_file()
    assert [r.getMessage() for r in caplog.records] == [
        "reviewed.csv: 1 label a person settled, kept for the next audit"
    ]
