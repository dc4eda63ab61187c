"""cache, backbones, demo and suggest through the CLI (``cli/tools.py``)."""

import importlib
import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from objrec.config import DEFAULT_BACKBONE

from .conftest import make_class_folder
from .test_cli import run


def test_backbones_lists_the_offline_default(capsys):
    code, out, _ = run(capsys, "backbones", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["efficientnet_lite0"]["offline"] is True
    assert "tiny_test" not in rows
    assert [name for name, r in rows.items() if r["default"]] == [DEFAULT_BACKBONE]
    assert rows[DEFAULT_BACKBONE]["offline"] is True
    code, out, _ = run(capsys, "backbones")
    folded = "".join(line.split("│")[1].strip() for line in out.splitlines() if "│" in line)
    assert code == 0 and DEFAULT_BACKBONE in folded  # the name is folded, never cut
    assert "`objrec backbones --torchvision` lists them" in " ".join(out.split())


def test_backbones_says_what_each_network_weighs(capsys):
    """A newcomer compared Lite0 against the default by training both, paying the frozen pass
    twice: the list says what each weighs (features, parameters, weights on disk) and the test
    top-1 the repo measured, cited."""
    code, out, _ = run(capsys, "backbones", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    lite0, default = rows["efficientnet_lite0"], rows[DEFAULT_BACKBONE]
    assert code == 0 and lite0["features"] == 1280 and default["features"] == 3840
    assert 0 < lite0["parameters"] < default["parameters"]
    assert 0 < lite0["weights_bytes"] < default["weights_bytes"]
    assert lite0["reference"]["top1"] == 0.9572 and default["reference"]["top1"] == 0.9663
    assert "speeds" not in lite0  # measured only when asked
    code, out, _ = run(capsys, "backbones")
    said = " ".join(out.split())
    assert code == 0 and "features" in said and "3840" in said and "12.3 M" in said
    assert "95.72%" in said and "test top-1: Caltech-101's 100-class protocol" in said


@pytest.mark.slow  # exports the tiny body to ONNX and times it
def test_backbones_measure_times_a_named_network_s_frozen_pass(capsys, tmp_path):
    args = ["backbones", "tiny_test", "--measure", "--images", "16", "--cache-dir", tmp_path]
    code, out, _ = run(capsys, *args, "--json")
    (row,) = json.loads(out)
    assert code == 0 and row["name"] == "tiny_test" and row["features"] == 16
    (speed,) = row["speeds"]
    assert speed["precision"] == "fp32" and speed["ms_per_image"] > 0 and speed["auto"]
    assert speed["batch_size"] == 16 and speed["threads"] >= 1
    code, out, _ = run(capsys, *args)
    said = " ".join(out.split())
    assert code == 0 and "fp32 ms/image" in said and "(auto)" in said
    assert "batch 16" in said and "thread" in said and "int8 was not validated on tiny_test" in said
    assert "--torchvision` lists them" not in said  # a name given: the list is the user's


def test_backbones_measure_says_how_closely_each_int8_copy_follows_fp32():
    """late62 L5a: the int8 copy's fidelity was said once, at INFO, as it was made: `objrec
    backbones --measure` gives it under its table and in --json (``fidelity``), per engine."""
    from objrec.backbone_facts import BackboneFacts, PassSpeed
    from objrec.cli.tools import backbones_notes
    from objrec.quantize import Fidelity

    fidelity = Fidelity(120, 0.990634, 0.96521, "openvino")
    int8 = PassSpeed("int8", "openvino", 4.4, 16, 2, True, fidelity)
    fp32 = PassSpeed("fp32", "onnxruntime", 3.9, 16, 2, False)
    facts = BackboneFacts("efficientnet_lite0", 224, True, True, "Lite0", 1280, 1, 1, None)
    measured = replace(facts, speeds=(fp32, int8), no_int8="")
    assert (
        "int8 features against fp32's, cosine similarity on objrec's calibration images as the "
        "int8 engine runs them: efficientnet_lite0 0.9906 on average, 0.9652 at the lowest "
        "(openvino)"
    ) in backbones_notes([measured], True)
    speeds = measured.to_json()["speeds"]
    assert speeds[0]["fidelity"] is None
    assert speeds[1]["fidelity"] == {
        "images": 120,
        "mean": 0.9906,
        "lowest": 0.9652,
        "engine": "openvino",
    }
    unknown = replace(measured, speeds=(fp32, replace(int8, fidelity=None)))
    assert not any("cosine" in line for line in backbones_notes([unknown], True))


@pytest.mark.slow  # an unknown name is looked up in torchvision's models
def test_backbones_refuses_a_bad_name_or_image_count_in_one_sentence(capsys):
    code, _, err = run(capsys, "backbones", "efficientnet_lite9")
    assert code == 2 and err.startswith("error: invalid value for 'NAME': unknown backbone ")
    assert "(is it efficientnet_lite2?)" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "backbones", "--measure", "--images", "0")
    assert code == 2 and "invalid value for '--images': 0 is not in the range" in err
    code, _, err = run(capsys, "backbones", "--measure", "--torchvision")
    assert code == 2 and err.startswith("error: --measure with --torchvision would time every")
    code, _, err = run(capsys, "backbones", "--images", "16")
    assert code == 2 and err.startswith("error: --images needs --measure: it alone uses it")


def test_backbones_lists_torchvision_s_models_when_asked(capsys):
    """`objrec backbones --json` listed the four EfficientNet-Lite entries alone, though any
    torchvision classification model name works with --backbone (a persona used mobilenet_v2 from
    docs/backbones.md). --torchvision lists them, with the same keys; unasked, a line says so
    (listing them imports torchvision's models: 3.7 s against 2.0, medians of 5)."""
    code, out, _ = run(capsys, "backbones", "--torchvision", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["efficientnet_lite0"]["offline"] is True
    assert rows["mobilenet_v2"]["input_size"] == 224 and rows["inception_v3"]["input_size"] == 299
    assert rows["resnet50"]["description"].startswith("torchvision resnet50 (ResNet50_Weights.")
    assert not rows["resnet50"]["default"] and len(rows) > 60
    assert {len(r) for r in rows.values()} == {9}
    assert rows["resnet50"]["features"] is None  # unknown unbuilt: building each takes seconds


@pytest.mark.slow
def test_cache_shows_its_size_and_clears(capsys, tmp_path, split_dir, monkeypatch):
    cache = tmp_path / "cache"
    code, _, _ = run(
        capsys,
        "train",
        split_dir,
        "--out",
        tmp_path / "run",
        "--backbone",
        "tiny_test",
        "--epochs",
        "2",
        "--cache-dir",
        cache,
        "--feature-dtype",
        "float16",
    )
    assert code == 0
    monkeypatch.setenv("OBJREC_CACHE", str(cache))
    code, out, _ = run(capsys, "evaluate", tmp_path / "run", split_dir)
    assert code == 0
    code, out, _ = run(capsys, "cache", "--cache-dir", cache, "--json")
    before = out
    (space,) = json.loads(out)["spaces"]  # one body, one data config, float16 (evaluate too)
    assert space["dtype"] == "float16"
    n = sum(1 for p in split_dir.glob("*/*/*") if p.is_file())
    assert code == 0 and space["label"].startswith("tiny_test")
    assert space["images"] == n  # train (2 views), valid and test (centre) images
    assert space["entries"] == n + len(list(split_dir.glob("train/*/*")))
    code, out, _ = run(capsys, "cache", "--cache-dir", cache)
    assert code == 0 and "tiny_test" in out and f" {n} " in out
    code, out, _ = run(
        capsys, "cache", "--cache-dir", cache, "--prune", "--keep", split_dir / "test"
    )
    assert (
        code == 0
        and f"removed {json.loads(before)['spaces'][0]['entries'] - 9} feature rows" in out
    )
    assert f"MB of features of the images in {split_dir / 'test'}, and " in " ".join(out.split())
    code, out, _ = run(capsys, "cache", "--cache-dir", cache, "--clear")
    left = sorted(p.name for p in cache.iterdir())  # the store's locks stay in store/
    assert code == 0 and left == ["store"]  # evaluate read the groups from the split's manifest
    code, out, _ = run(capsys, "cache", "--cache-dir", cache, "--json")
    assert json.loads(out)["spaces"] == []


def test_cache_prune_says_what_it_kept_and_how_to_drop_it():
    """`cache --prune --keep data` freed 6.4 MB of 221 MB and said nothing of the rest: 163 MB of
    graphs, which --keep never prunes, and 55 MB of fine-tuning's float32 rows below its tuned
    blocks, kept as rows of the folder's images. Its last line says what it kept, and how to
    drop it."""
    from types import SimpleNamespace

    from objrec.cli.tools import kept_line

    spaces = [
        SimpleNamespace(label="efficientnet_lite0 @ 224px, int8", bytes=4_400_000),
        SimpleNamespace(label="efficientnet_lite0 cut 1 @ 224px", bytes=55_000_000),
    ]
    summary = SimpleNamespace(spaces=spaces, onnx_bytes=100_000_000, compiled_bytes=63_000_000)
    assert kept_line(summary, Path("data"), None) == (
        "kept 222.4 MB: 59.4 MB of features of the images in data, 55.0 MB of them fine-tuning's "
        "rows below its tuned blocks, and 163.0 MB of graphs (the networks exported, their int8 "
        "copies, OpenVINO's compiled ones); --days N also removes the graphs no process used for "
        "N days, --clear everything"
    )
    assert kept_line(SimpleNamespace(**vars(summary) | {"spaces": spaces[:1]}), None, 30) == (
        "kept 167.4 MB: 4.4 MB of features of images used within 30 days, and 163.0 MB of graphs "
        "(the networks exported, their int8 copies, OpenVINO's compiled ones); --clear removes "
        "everything"
    )


def test_cache_s_graphs_line_leaves_out_the_kinds_it_holds_none_of():
    """`objrec cache` said "graphs: 1 body graph (49.3 MB), 1 int8 body (13.9 MB), 0 whole
    models (0.0 MB), 2 OpenVINO compiled graphs (62.9 MB)" (msgs54's loop): a kind held none
    of is left out, and a folder of no graph says none."""
    from types import SimpleNamespace

    from objrec.cache import GraphCount
    from objrec.cli.tools import graph_line

    kinds = {"body": GraphCount(1, 49_300_000), "int8_body": GraphCount(), "model": GraphCount()}
    summary = SimpleNamespace(graphs=kinds, compiled_graphs=2, compiled_bytes=62_900_000)
    assert graph_line(summary) == "1 body graph (49.3 MB), 2 OpenVINO compiled graphs (62.9 MB)"
    empty = SimpleNamespace(graphs={"body": GraphCount()}, compiled_graphs=0, compiled_bytes=0)
    assert graph_line(empty) == "none"


def test_cache_says_when_its_rows_were_last_used_in_a_unit_that_reads_at_a_glance():
    """A store filled a minute before said "last used 0.0 h ago"; "3.4 h ago" asked for
    arithmetic: minutes under an hour, whole hours under two days, then days."""
    import time

    from objrec.cli.tools import time_ago

    now = time.time()
    ago = [time_ago(now - seconds) for seconds in (20, 12 * 60 + 5, 5.4 * 3600, 3 * 86400)]
    assert ago == ["just now", "12 min ago", "5 h ago", "3 days ago"]
    assert time_ago(None) == "never"


def test_cache_refuses_prune_options_without_prune(capsys, tmp_path):
    cache = tmp_path / "cache"
    for args, words in (
        (["--days", "3"], "--days needs --prune"),
        (["--keep", tmp_path], "--keep needs --prune"),
        (["--clear", "--days", "3"], "--days needs --prune"),
        (["--clear", "--prune", "--days", "3"], "--clear and --prune do not go together"),
    ):
        code, out, err = run(capsys, "cache", "--cache-dir", cache, *args)
        assert code == 2 and words in err and out == "", args
    assert not cache.exists()


def test_cache_clear_says_it_waits_once_whatever_it_waits_on(capsys, tmp_path, monkeypatch):
    """--clear and --prune wait on each folder in turn (the store, onnx/, openvino/), and printed
    "waiting for other objrec processes ..." each time: up to three times over. Once."""
    from objrec.cache import ClearResult, FeatureCache

    def clear(self, wait=None):
        for _ in range(3):  # another process holds each of the three
            wait()
        return ClearResult(removed=0, left=[], links={})

    monkeypatch.setattr(FeatureCache, "clear", clear)
    (tmp_path / "cache").mkdir()
    code, _, err = run(capsys, "cache", "--clear", "--cache-dir", tmp_path / "cache")
    assert code == 0 and err.count("waiting for other objrec processes") == 1


def test_cache_clear_of_a_missing_folder_says_there_was_nothing(capsys, tmp_path):
    code, out, _ = run(capsys, "cache", "--clear", "--cache-dir", tmp_path / "nope")
    assert code == 0 and "removed" not in out
    assert f"nothing to clear: there is no cache folder {tmp_path / 'nope'}" in out
    assert not (tmp_path / "nope").exists()


@pytest.mark.slow
def test_cache_clear_recovers_a_damaged_feature_store_or_facts_store(capsys, tmp_path):
    """A damaged index.sqlite ended `objrec cache` and `objrec cache --clear` alike in SQLite's
    traceback ("file is not a database"), and so did a damaged facts.sqlite: now one sentence
    naming the file and the way out, which works, after which features are stored again."""
    import torch

    from objrec.backbones import get_backbone
    from objrec.bodies import TinyBody
    from objrec.cache import FeatureCache
    from objrec.data import scan_class_folder
    from objrec.features import feature_table
    from objrec.frozen import FrozenBody
    from objrec.views import ViewSpec

    samples = scan_class_folder(make_class_folder(tmp_path / "photos", per_class=2)).samples
    cache, data = tmp_path / "cache", get_backbone("tiny_test").data_config

    def features() -> tuple[int, torch.Tensor]:
        body = FrozenBody(TinyBody(), data.input_size, FeatureCache(cache), "torch")
        try:
            table = feature_table(body, samples, ViewSpec(data))
            return table.computed, table.load().features
        finally:
            body.cache.close()

    computed, before = features()
    assert computed == len(samples)
    damaged = {"store/index.sqlite": "feature store's index", "facts.sqlite": "image facts store"}
    for name, what in damaged.items():
        (cache / name).write_bytes(b"not a database " * 300)
        code, out, err = run(capsys, "cache", "--cache-dir", cache)
        said = " ".join(err.split())
        assert code == 1 and "Traceback" not in err and said.startswith("error: the "), err
        assert f"the {what} {cache / name} is damaged (file is not a database)" in said
        assert f"`objrec cache --clear --cache-dir {cache}` removes it" in said
        code, out, err = run(capsys, "cache", "--cache-dir", cache, "--clear")
        assert code == 0 and "removed every stored feature" in out, err
        code, out, err = run(capsys, "cache", "--cache-dir", cache, "--json")
        assert code == 0 and json.loads(out)["spaces"] == [] and json.loads(out)["facts_rows"] == 0
        computed, after = features()
        assert computed == len(samples) and torch.equal(after, before)
        again, stored = features()
        assert again == 0 and torch.equal(stored, after)


@pytest.mark.parametrize("option", [[], ["--clear"], ["--prune", "--days", "1"]])
def test_cache_of_a_folder_of_the_user_s_own_says_it_is_none_and_touches_nothing(
    capsys, tmp_path, option
):
    """`objrec cache --clear --cache-dir mine` said 'removed every stored feature and 2 other
    entries' and left mine/ empty: notes.txt and keep/thesis.tex were gone. Then `cache
    --cache-dir PHOTOS` showed an empty table as though PHOTOS were a cache, and --clear
    listed the photos as entries it left: each says it is no cache folder, and writes nothing
    there (a prune made a store in it)."""
    mine = tmp_path / "mine"
    (mine / "keep").mkdir(parents=True)
    (mine / "notes.txt").write_text("notes")
    (mine / "keep" / "thesis.tex").write_text("thesis")
    code, out, err = run(capsys, "cache", "--cache-dir", mine, *option)
    assert (
        code == 1
        and not out
        and " ".join(err.split())
        == (
            f"error: {mine} is not a cache folder of objrec's: it holds keep/, notes.txt, none of "
            "what objrec keeps there (store/, facts.sqlite, onnx/, openvino/): give --cache-dir "
            "the folder objrec keeps its cache in (by default $OBJREC_CACHE, else "
            "$XDG_CACHE_HOME/objrec, else ~/.cache/objrec)"
        )
    )
    assert sorted(p.name for p in mine.iterdir()) == ["keep", "notes.txt"]
    assert (mine / "notes.txt").read_text() == "notes"
    assert (mine / "keep" / "thesis.tex").read_text() == "thesis"


def test_cache_clear_removes_a_linked_onnx_folder_as_a_link(capsys, tmp_path):
    """An onnx folder linked to another disk ended the clear in a traceback ('Cannot call rmtree
    on a symbolic link'), the store half cleared. With --json, what it removed is in the JSON
    alone (review60b F16: its sentences were printed on stderr too)."""
    for as_json in (True, False):
        other, cache = tmp_path / f"other-disk-{as_json}", tmp_path / f"cache-{as_json}"
        other.mkdir()
        (other / f"{'ab' * 16}-224.onnx").write_bytes(b"graph")
        (cache / "store").mkdir(parents=True)
        (cache / "store" / "index.sqlite").write_bytes(b"not a database " * 300)
        (cache / "store" / "mine.txt").write_text("mine")
        (cache / "onnx").symlink_to(other, target_is_directory=True)
        args = ("cache", "--clear", "--cache-dir", cache, *["--json"][:as_json])
        code, out, err = run(capsys, *args)
        assert code == 0 and not (cache / "onnx").exists()
        assert (other / f"{'ab' * 16}-224.onnx").exists()
        assert sorted(p.name for p in (cache / "store").iterdir()) == ["lock", "mine.txt"]
        if as_json:
            summary = json.loads(out)
            assert summary["cleared_other_entries"] == 1 and not err.strip(), err
            assert summary["cleared_bytes"] == 4500  # the index: not the linked folder's graph
            assert summary["left_entries"] == ["store/mine.txt"] and summary["spaces"] == []
            continue
        said = " ".join(out.split())
        assert (  # review53b nit 12: "and 1 other entry" said neither what nor how much
            f"removed every stored feature and 1 entry beside the store (graphs, the image "
            f"facts store, old-format entries) from {cache}: 0.0 MB freed"
        ) in said
        assert "left 1 entry that objrec did not write: store/mine.txt" in said


def test_cache_clear_of_linked_store_and_onnx_says_it_removed_the_links_only(capsys, tmp_path):
    """With store/ and onnx/ links to another disk, clear removed the links alone (right) but said
    'removed every stored feature and 1 other entry': the features and graphs were all there."""
    other = tmp_path / "other-disk"
    (other / "store").mkdir(parents=True)
    (other / "onnx").mkdir()
    (other / "onnx" / f"{'ab' * 16}-224.onnx").write_bytes(b"graph")
    cache = tmp_path / "cache"
    cache.mkdir()
    for as_json in (False, True):
        for name in ("store", "onnx"):
            # the second time relative: its target said as c2/../other-disk/store before
            target = Path("..", "other-disk", name) if as_json else other / name
            (cache / name).symlink_to(target, target_is_directory=True)
        code, out, err = run(
            capsys, "cache", "--clear", "--cache-dir", cache, *["--json"][:as_json]
        )
        said = " ".join(out.split())
        assert code == 0 and "removed every stored feature" not in said, out + err
        for name in ("onnx", "store"):
            link = f"removed the link {cache / name} only: its target {other / name} is left as"
            assert as_json or link in said, out
        assert not as_json or "removed" not in err  # the JSON's removed_links say it
        assert (other / "onnx" / f"{'ab' * 16}-224.onnx").exists() and list(cache.iterdir()) == []
    links = json.loads(out)["removed_links"]
    assert links == {"onnx": str(other / "onnx"), "store": str(other / "store")}


def test_cache_json_carries_its_warnings(capsys, tmp_path, monkeypatch):
    """cache --json had no `warnings` (docs/json.md: every object answer that can warn has it,
    always): a clear that kept a folder another objrec process wrote into said so on stderr
    only."""
    from objrec.cache import FeatureCache

    code, out, _ = run(capsys, "cache", "--cache-dir", tmp_path / "nope", "--json")
    assert code == 0 and json.loads(out)["warnings"] == []
    summary = FeatureCache.summary

    def warned(self):
        logging.getLogger("objrec.cache").warning("kept %s: written into", self.root)
        return summary(self)

    monkeypatch.setattr(FeatureCache, "summary", warned)
    code, out, _ = run(capsys, "cache", "--cache-dir", tmp_path / "nope", "--json")
    assert code == 0 and json.loads(out)["warnings"] == [f"kept {tmp_path / 'nope'}: written into"]


def test_cache_lists_a_missing_folder_as_empty_and_makes_nothing(capsys, tmp_path):
    nope = tmp_path / "nope"
    code, out, _ = run(capsys, "cache", "--cache-dir", nope)
    assert code == 0 and f"there is no cache folder {nope}: nothing is stored yet" in out
    code, out, _ = run(capsys, "cache", "--cache-dir", nope, "--json")
    summary = json.loads(out)
    assert code == 0 and summary["exists"] is False and summary["spaces"] == []
    assert summary["indexed_files"] == 0 and summary["facts_rows"] == 0
    code, out, _ = run(capsys, "cache", "--cache-dir", nope, "--prune", "--days", "1")
    assert code == 0 and f"nothing to prune: there is no cache folder {nope}" in out
    assert not nope.exists()
    nope.mkdir()  # a cache folder without a store yet (split and audit make only facts.sqlite)
    code, out, _ = run(capsys, "cache", "--cache-dir", nope, "--json")
    assert code == 0 and json.loads(out)["exists"] is True and json.loads(out)["spaces"] == []
    assert list(nope.iterdir()) == []


def test_cache_prune_and_clear_json_is_json_alone(capsys, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    code, out, err = run(capsys, "cache", "--cache-dir", cache, "--prune", "--days", "1", "--json")
    summary = json.loads(out)  # review60b F16: the sentences it holds are printed nowhere
    assert code == 0 and summary["pruned"]["feature_rows"] == 0 and summary["spaces"] == []
    assert "removed" not in err and "kept" not in err
    code, out, err = run(capsys, "cache", "--cache-dir", cache, "--clear", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["cleared_other_entries"] >= 0 and summary["spaces"] == []
    assert "removed" not in err
    code, out, _ = run(capsys, "cache", "--cache-dir", cache, "--prune", "--days", "1")
    assert code == 0 and "removed 0 feature rows" in out


def test_cache_prune_alone_prunes_what_no_run_used_for_30_days_and_says_so(
    capsys, tmp_path, monkeypatch
):
    """newcomer60: `objrec cache --prune` was refused ("--prune needs --days N, --keep FOLDER or
    both") where README's table ("`--prune`, `--clear`") and --help ("Free space and keep what
    you still use") read as if it worked alone. Alone it now prunes as --days 30 would, saying
    so first, and --json gives the days; --keep alone still prunes by folder only, and the
    library's prune is called with what the command settled, as before."""
    from objrec.cache import FeatureCache

    cache = tmp_path / "cache"
    cache.mkdir()
    given = []
    prune = FeatureCache.prune

    def spy(self, days=None, keep=None, wait=None):
        given.append((days, keep))
        return prune(self, days, keep, wait)

    monkeypatch.setattr(FeatureCache, "prune", spy)
    code, out, err = run(capsys, "cache", "--cache-dir", cache, "--prune")
    said = " ".join(out.split())
    assert code == 0 and given == [(30, None)], err
    assert said.startswith("pruning what no run used for 30 days (--days N chooses how many)")
    assert "of features of images used within 30 days" in said
    code, out, _ = run(capsys, "cache", "--cache-dir", cache, "--prune", "--json")
    assert code == 0 and json.loads(out)["pruned"]["days"] == 30
    folder = tmp_path / "photos"
    folder.mkdir()
    code, out, _ = run(capsys, "cache", "--cache-dir", cache, "--prune", "--keep", folder, "--json")
    assert code == 0 and given[-1] == (None, folder) and json.loads(out)["pruned"]["days"] is None
    help_all = " ".join(run(capsys, "cache", "--help-all")[1].split())
    assert "(30 unless given)" in help_all and "--prune alone uses 30" in help_all


def test_cache_of_a_folder_without_features_says_so_not_an_empty_table(capsys, tmp_path):
    """review60b F16: `objrec cache` with no feature space printed a table's header row alone
    under "feature store in ..."."""
    cache = tmp_path / "cache"
    (cache / "store").mkdir(parents=True)
    code, out, _ = run(capsys, "cache", "--cache-dir", cache)
    said = " ".join(out.split())
    assert code == 0 and f"feature store in {cache / 'store'}: no features stored" in said
    assert "last used" not in said


@pytest.mark.parametrize("store_said", [True, False])
def test_cache_prune_on_a_full_disk_says_it_needs_room_and_that_a_clear_needs_none(
    capsys, tmp_path, monkeypatch, store_said
):
    """`cache --prune` on a full disk was told the cache's own full-disk sentence: free some
    space, "`objrec cache --prune ...` forgets what no command used for 30 days, once the disk
    has a little room", the very command that had failed. It says that a prune writes, that a
    clear (which only removes) goes on, and what the prune left; whether the image facts store
    said the full disk (``store_said``) or a file's write met it."""
    import errno

    from objrec.cache_folder import full_cache_disk

    cache = tmp_path / "cache"
    facts = cache / "facts.sqlite"
    refused = f"{facts} could not be written (no space left on device)"

    def full(*args, **kwargs):
        if store_said:
            raise full_cache_disk(cache, refused)
        raise OSError(errno.ENOSPC, "No space left on device", str(facts))

    monkeypatch.setattr(importlib.import_module("objrec.facts_store"), "prune_facts", full)
    cache.mkdir()
    code, out, err = run(capsys, "cache", "--cache-dir", cache, "--prune", "--days", "1")
    assert (
        code == 1
        and not out
        and " ".join(err.split())
        == (
            f"error: the disk of the cache folder {cache} is full: {refused}, as the prune wrote: a "
            "prune needs a little room to write in (SQLite's journal, the store compacted into new "
            "files), so free a few MB on that disk and prune again, or `objrec cache --clear "
            f"--cache-dir {cache}` forgets all of it and needs none (what is forgotten is computed "
            "again when needed); what the prune had removed is gone, the rest is kept"
        )
    )


def test_cache_tells_apart_bodies_of_one_name_by_their_id(capsys, tmp_path):
    """Two int8 bodies calibrated apart share a label: `objrec cache` showed two identical rows."""
    from types import SimpleNamespace

    from objrec.cli.tools import print_cache_summary
    from objrec.store import SpaceInfo

    def space(sid, dtype):
        return SpaceInfo(sid, "lite0 (int8) @ 240px", 1280, dtype, 10, 10, 51200, None)

    spaces = [space("aaaaaaaa11", "float16"), space("bbbbbbbb22", "float16")]
    spaces.append(space("cccccccc33", "float32"))
    facts = SimpleNamespace(rows=0, bytes=0)
    summary = SimpleNamespace(spaces=spaces, root=tmp_path, files=0, index_bytes=0)
    summary.onnx_bytes, summary.facts, summary.old_entries, summary.exists = 0, facts, 0, True
    summary.compiled_graphs, summary.compiled_bytes, summary.graphs = 0, 0, {}
    print_cache_summary(summary, as_json=False)
    out = capsys.readouterr().out
    assert "aaaaaaaa" in out and "bbbbbbbb" in out and "cccccccc" not in out


@pytest.mark.slow  # imports objrec.cache: a tenth of a second alone
def test_cache_json_gives_last_used_as_an_iso_utc_time(capsys, tmp_path):
    """`cache --json` gave `last_used` as a Unix time (1764660600.25), which a person or a script
    must convert: it is an ISO 8601 time in UTC, null for a space never used (docs/json.md)."""
    from objrec.cache import CacheSummary
    from objrec.cli.tools import print_cache_summary
    from objrec.store import SpaceInfo

    def space(sid: str, last_used: float | None) -> SpaceInfo:
        return SpaceInfo(sid, "lite0 @ 224px", 1280, "float16", 10, 10, 25600, last_used)

    used, never = space("aaaaaaaa11", 1764660600.25), space("bbbbbbbb22", None)
    summary = CacheSummary(tmp_path, [used, never], 0, 0, 0, 0, 0)
    print_cache_summary(summary, as_json=True)
    spaces = json.loads(capsys.readouterr().out)["spaces"]
    assert [s["last_used"] for s in spaces] == ["2025-12-02T07:30:00Z", None]
    page = (Path(__file__).parents[1] / "docs" / "json.md").read_text()
    section = " ".join(page.split("\n## cache\n")[1].split("\n## ")[0].split())
    assert "`last_used`: str (ISO 8601 in UTC" in section and "Unix time" not in section


@pytest.mark.slow
def test_suggest_given_a_checkpoint_file_writes_beside_it(capsys, tmp_path, trained_run, split_dir):
    """`objrec suggest run/model.safetensors photos` failed: 'run/model.safetensors/suggest: not a
    directory'."""
    code, _, err = run(capsys, "suggest", trained_run / "model.safetensors", split_dir / "test")
    assert code == 0, err
    assert (trained_run / "suggest" / "suggestions.csv").is_file()
