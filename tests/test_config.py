"""Settings: checked on creation with messages that name the field, documented per field."""

import dataclasses
import json
import re
from pathlib import Path

import pytest

from objrec.cli.options import option_help
from objrec.cli.sections import first_sentences
from objrec.config import (
    DataConfig,
    EvaluateConfig,
    SplitConfig,
    TrainConfig,
    as_config,
    field_docs,
)
from objrec.errors import ObjrecError


@pytest.mark.parametrize(
    "changes, option",
    [
        ({"epochs": 0}, "`epochs`"),
        ({"lr": 0}, "`lr`"),
        ({"dropout": 1.0}, "`dropout`"),
        ({"augment": "heavy"}, "`augment`"),
        ({"heads": 0}, "`heads`"),
        ({"mean": (0.5, 0.5)}, "`mean`"),
        ({"precision": "int4"}, "`precision`"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_field(changes, option):
    with pytest.raises(ObjrecError, match=option):
        TrainConfig(**changes)


def test_every_train_setting_is_documented_and_its_help_is_the_first_sentence():
    docs = field_docs(TrainConfig)
    assert set(docs) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert first_sentences(option_help("heads")) == "How many heads to train and average."
    assert first_sentences(option_help("weights")) == "Weights for --backbone from a file."


def test_a_config_round_trips_through_json_and_ignores_unknown_keys():
    config = TrainConfig(backbone="tiny_test", mean=[0.5, 0.5, 0.5], heads=2)
    again = TrainConfig.from_dict({**config.to_dict(), "extra": {}, "removed_later": 1})
    assert again == config and again.mean == (0.5, 0.5, 0.5)


def test_a_config_saved_before_precision_existed_ran_in_fp32_not_auto():
    saved = {
        k: v for k, v in TrainConfig(backbone="tiny_test").to_dict().items() if k != "precision"
    }
    assert TrainConfig.from_dict(saved).precision == "fp32"
    assert TrainConfig.from_dict({**saved, "precision": "int8"}).precision == "int8"


def test_a_config_saved_before_head_precision_existed_trained_its_head_in_fp32():
    saved = TrainConfig(backbone="tiny_test").to_dict()
    del saved["head_precision"]
    assert TrainConfig.from_dict(saved).head_precision == "fp32"
    assert TrainConfig().head_precision == "auto"
    with pytest.raises(ObjrecError, match="`head_precision` must be one of auto, fp32, bf16"):
        TrainConfig(head_precision="fp16")


def test_a_data_config_needs_a_resize_at_least_its_crop_and_known_interpolation():
    with pytest.raises(ObjrecError, match="resize size"):
        DataConfig(input_size=224, resize_size=200)
    with pytest.raises(ObjrecError, match="interpolation"):
        DataConfig(interpolation="lanczos9")
    assert DataConfig.from_dict({"input_size": 32, "resize_size": 36, "other": 1}).input_size == 32


@pytest.mark.slow
def test_split_settings_are_checked_and_documented_and_reach_split_folder(tmp_path):
    from objrec.config import SplitConfig
    from objrec.split.recipe import split_folder

    from .conftest import make_class_folder

    with pytest.raises(ObjrecError, match="`ratios` must sum to 1"):
        SplitConfig(ratios=(0.5, 0.5, 0.5))
    with pytest.raises(ObjrecError, match="`mode`"):
        SplitConfig(mode="move")
    assert set(field_docs(SplitConfig)) == {f.name for f in dataclasses.fields(SplitConfig)}
    photos = make_class_folder(tmp_path / "photos", per_class=4)
    config = SplitConfig(exclude=["blue"], seed=3)
    result = split_folder(photos, tmp_path / "a", config)
    assert set(result.counts) == {"green", "red"}
    assert split_folder(photos, tmp_path / "b", exclude=["blue"], seed=3).counts == result.counts
    with pytest.raises(ObjrecError, match="not both"):
        split_folder(photos, tmp_path / "c", config, seed=1)


def test_evaluate_settings_are_checked_and_documented():
    from objrec.config import EvaluateConfig

    with pytest.raises(ObjrecError, match="`split`"):
        EvaluateConfig(split="holdout")
    assert set(field_docs(EvaluateConfig)) == {f.name for f in dataclasses.fields(EvaluateConfig)}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: TrainConfig(epochs="50"), "`epochs` must be a whole number, not '50'"),
        (lambda: TrainConfig(heads=True), "`heads` must be a whole number, not True"),
        (lambda: TrainConfig(lr="0.1"), "`lr` must be a number, not '0.1'"),
        (lambda: TrainConfig(mean=("a", 1, 1)), "`mean` must be a list of numbers or None"),
        (lambda: TrainConfig(backbone=3), "`backbone` must be a string, not 3"),
        (lambda: DataConfig(input_size=2.0), "`input_size` must be a whole number, not 2.0"),
        (lambda: SplitConfig(seed="1"), "`seed` must be a whole number, not '1'"),
        (lambda: EvaluateConfig(tta="yes"), "`tta` must be True or False, not 'yes'"),
    ],
)
def test_a_setting_of_the_wrong_type_is_refused_in_one_sentence_naming_it(make, message):
    """`TrainConfig(epochs="50")` raised "TypeError: '>=' not supported between instances of
    'str' and 'int'", naming no setting."""
    with pytest.raises(ObjrecError, match=re.escape(message)):
        make()


def test_ints_are_numbers_and_lists_are_tuples_where_the_settings_say_so():
    config = TrainConfig(lr=1, mean=[0.5, 0.5, 0.5], min_delta=0)
    assert config.lr == 1 and config.mean == (0.5, 0.5, 0.5)
    assert SplitConfig(exclude=["Faces"]).exclude == ("Faces",)


def test_numpy_numbers_are_taken_and_stored_as_plain_python_numbers():
    """`TrainConfig(epochs=np.int64(3))` was refused, "`epochs` must be a whole number, not
    np.int64(3)", as were NumPy floats, numbers a user computing settings with NumPy holds."""
    np = pytest.importorskip("numpy")
    config = TrainConfig(
        epochs=np.int64(3),
        lr=np.float32(0.5),
        dropout=np.float64(0.25),
        num_workers=np.int32(0),
        mean=[np.float32(0.5), 0.5, np.int8(1)],
    )
    assert (config.epochs, config.lr, config.dropout, config.num_workers) == (3, 0.5, 0.25, 0)
    kinds = [type(v) for v in (config.epochs, config.lr, config.dropout, config.num_workers)]
    assert kinds == [int, float, float, int]
    assert [type(v) for v in config.mean] == [float, float, float]
    assert json.loads(json.dumps(config.to_dict()))["epochs"] == 3  # the run's JSON is written
    split = SplitConfig(seed=np.uint8(7), ratios=(np.float16(0.5), 0.25, 0.25))
    assert type(split.seed) is int and type(split.ratios[0]) is float
    assert type(DataConfig(input_size=np.int16(200)).input_size) is int
    with pytest.raises(ObjrecError, match=re.escape("`epochs` must be a whole number, not np.fl")):
        TrainConfig(epochs=np.float64(3))
    with pytest.raises(
        ObjrecError, match=re.escape("`heads` must be a whole number, not np.True_")
    ):
        TrainConfig(heads=np.bool_(True))


def test_numpy_bools_and_1d_arrays_of_numbers_are_taken_as_python_values():
    """`SplitConfig(strict=np.True_)` was refused, "`strict` must be True or False, not
    np.True_", and `TrainConfig(mean=np.array([...]))` "must be a list of numbers, not
    array(...)": what a user computing settings with NumPy holds. Other arrays (of strings, of
    bools, of two dimensions) are still refused in the same one sentence."""
    np = pytest.importorskip("numpy")
    split = SplitConfig(strict=np.True_, near_duplicates=np.bool_(False))
    assert (split.strict, split.near_duplicates) == (True, False)
    assert type(split.strict) is bool and type(EvaluateConfig(tta=np.True_).tta) is bool
    config = TrainConfig(mean=np.array([0.5, 0.25, 0.125]), std=np.array([1, 1, 1], np.uint8))
    assert config.mean == (0.5, 0.25, 0.125) and config.std == (1.0, 1.0, 1.0)
    assert [type(v) for v in (*config.mean, *config.std)] == [float] * 6
    assert json.loads(json.dumps(config.to_dict()))["mean"] == [0.5, 0.25, 0.125]
    assert SplitConfig(ratios=np.array([0.5, 0.25, 0.25])).ratios == (0.5, 0.25, 0.25)
    for value, shown in (
        (np.array([[0.5, 0.5, 0.5], [1, 1, 1]]), "array([[0.5, 0.5, 0.5], [1. , 1. , 1. ]])"),
        (np.array([True, False, True]), "array([ True, False,  True])"),
        (np.array(["a", "b", "c"]), "array(['a', 'b', 'c'], dtype='<U1')"),
    ):
        message = f"`mean` must be a list of numbers or None, not {shown}"
        with pytest.raises(ObjrecError, match=f"^{re.escape(message)}$"):
            TrainConfig(mean=value)
    with pytest.raises(ObjrecError, match=re.escape("`strict` must be True or False, not np.in")):
        SplitConfig(strict=np.int64(1))
    with pytest.raises(ObjrecError, match=re.escape("`exclude` must be a list of strings, not")):
        SplitConfig(exclude=np.array(["Faces"]))


def test_train_takes_its_settings_as_a_mapping_and_refuses_anything_else(tmp_path):
    """`train("data", "run2", {"epochs": 5})` raised "AttributeError: 'dict' object has no
    attribute 'cache_dir'"."""
    assert as_config(TrainConfig, {"epochs": 5}) == TrainConfig(epochs=5)
    with pytest.raises(ObjrecError, match=r"`config` has no setting epoch$"):
        as_config(TrainConfig, {"epoch": 5})
    from objrec.train import train

    with pytest.raises(ObjrecError, match="`config` must be a TrainConfig or a mapping"):
        train(tmp_path / "data", tmp_path / "run", ["epochs", 5])


def test_a_path_is_a_cache_folder_as_a_string_is():
    from pathlib import Path

    from objrec.config import TrainConfig

    assert TrainConfig(cache_dir=Path("/tmp/store")).cache_dir == Path("/tmp/store")


class Spot:
    """A path that is no ``Path``: any ``os.PathLike[str]`` (a library's own path type)."""

    def __init__(self, path):
        self.path = str(path)

    def __fspath__(self):
        return self.path


PATH_FIELDS = {
    "SplitConfig": ("groups", "like"),
    "EvaluateConfig": ("cache_dir", "unknown", "against"),
    "TrainConfig": ("cache_dir",),
    "AuditConfig": ("cache_dir",),
}
"""The settings of each config that name a file or folder."""


def config_class(name):
    from objrec import config
    from objrec.audit import recipe

    return getattr(recipe if name == "AuditConfig" else config, name)


@pytest.mark.parametrize("name", sorted(PATH_FIELDS))
def test_a_path_setting_takes_any_path_like_as_every_public_path_parameter_does(name):
    """loose60: the configs' path settings said ``str | Path``, and the type check refused any
    other ``os.PathLike`` ("`groups` must be a string or a Path or None"), where every public
    path parameter takes ``paths.PathGiven``: each is ``PathGiven | None`` now, kept as a
    ``Path`` (what every module below reads); a number is refused in one sentence still."""

    from objrec.config import field_hints
    from objrec.paths import PathGiven

    cls = config_class(name)
    for field in PATH_FIELDS[name]:
        assert field_hints(cls)[field] == PathGiven | None, field
        config = cls(**{field: Spot("/tmp/photos")})
        assert getattr(config, field) == Path("/tmp/photos"), field
        assert getattr(cls(**{field: "photos"}), field) == "photos"
        said = re.escape(f"`{field}` must be a string or a path (os.PathLike) or None, not 5")
        with pytest.raises(ObjrecError, match=said):
            cls(**{field: 5})
        with pytest.raises(ObjrecError, match=f"`{field}` must be"):
            cls(**{field: BytesSpot()})


class BytesSpot:
    """An ``os.PathLike[bytes]``: no path objrec takes."""

    def __fspath__(self):
        return b"/tmp/photos"


def path_like_settings_script() -> str:
    """A script passing an ``os.PathLike[str]`` that is no ``Path`` to each config's path
    settings, for mypy (``conftest.type_checked``)."""
    calls = ", ".join(f"{field}=spot" for field in PATH_FIELDS["EvaluateConfig"])
    return (
        "import os\n"
        "from objrec import AuditConfig, EvaluateConfig, SplitConfig, TrainConfig\n"
        "class Spot(os.PathLike[str]):\n"
        "    def __fspath__(self) -> str:\n"
        "        return 'photos'\n"
        "spot = Spot()\n"
        "SplitConfig(groups=spot, like=spot)\n"
        f"EvaluateConfig({calls})\n"
        "TrainConfig(cache_dir=spot)\n"
        "AuditConfig(cache_dir=spot)\n"
    )


@pytest.mark.slow  # mypy reads objrec's modules: about 1 s with its cache, 20 s without
def test_a_path_like_setting_type_checks(type_checked):
    """loose60: mypy refused ``SplitConfig(groups=spot)`` for an ``os.PathLike[str]`` that is no
    ``Path`` ('Argument "groups" to "SplitConfig" has incompatible type "Spot"'), which the
    public functions' ``PathGiven`` parameters take."""
    assert type_checked["path_like_settings"] == []


@pytest.mark.parametrize("name", ["TrainConfig", "DataConfig", "SplitConfig", "EvaluateConfig"])
def test_help_explains_every_setting_from_the_attribute_docstrings(name):
    """`help(objrec.TrainConfig)` showed the settings' names and defaults only: their
    explanations, the strings under them that `--help` reads, were out of `help()`'s sight."""
    import pydoc

    import objrec.config

    cls = getattr(objrec.config, name)
    shown = " ".join(pydoc.render_doc(cls, renderer=pydoc.plaintext).replace("|", "").split())
    docs = field_docs(cls)
    assert set(docs) == {f.name for f in dataclasses.fields(cls)}
    for field, doc in docs.items():
        assert f"{field}: {doc}" in shown


def test_help_explains_every_audit_setting():
    import pydoc

    from objrec.audit.recipe import AuditConfig

    shown = " ".join(pydoc.render_doc(AuditConfig, renderer=pydoc.plaintext).split())
    assert set(field_docs(AuditConfig)) == {f.name for f in dataclasses.fields(AuditConfig)}
    assert f"folds: {field_docs(AuditConfig)['folds']}" in shown.replace("| ", "")


@pytest.mark.slow
def test_a_misspelt_keyword_setting_names_the_function_and_the_likely_setting(tmp_path):
    """``train(data, out, epoch=3)`` said ``TrainConfig.__init__() got an unexpected keyword
    argument``, naming a class the caller never called; split_folder's named SplitConfig."""
    from objrec.split.recipe import split_folder
    from objrec.train import train

    with pytest.raises(
        TypeError, match=r"^train\(\) got an unexpected .* 'epoch' \(is it epochs\?\)"
    ):
        train(tmp_path / "data", tmp_path / "run", epoch=3)
    with pytest.raises(TypeError, match=r"^split_folder\(\) .* 'sead' \(is it seed\?\)"):
        split_folder(tmp_path / "photos", tmp_path / "out", sead=1)
    assert not (tmp_path / "run").exists() and not (tmp_path / "out").exists()


def test_every_unknown_score_and_precision_has_plain_words_before_its_name():
    """evaluate and the report named the unknown score by its name alone ('mahalanobis+knn'),
    train its arithmetic ('bf16'): each has words a newcomer reads, the name after them."""
    from objrec.config import (
        HEAD_PRECISIONS,
        PRECISIONS,
        UNKNOWN_SCORE_WORDS,
        UNKNOWN_SCORES,
        precision_words,
        unknown_score_words,
    )
    from objrec.unknown_scores import SCORES

    assert set(UNKNOWN_SCORE_WORDS) == set(UNKNOWN_SCORES) and SCORES is UNKNOWN_SCORES
    assert unknown_score_words("knn") == "distance to the nearest training images, knn"
    for precision in {*PRECISIONS, *HEAD_PRECISIONS} - {"auto"}:
        words = precision_words(precision)
        assert words.endswith(f" ({precision})") and "-bit " in words, words


def test_the_precision_help_says_what_auto_picks_and_what_int8_costs_in_accuracy():
    """--precision's help said int8 is "as accurate within the noise": a user learnt neither
    what auto picks nor how much accuracy int8 gives up. It says both, with the figures of
    benchmarks/README.md's int8 sections: those of today's engine, OpenVINO (it quoted ONNX
    Runtime's 96.56% in both until benchdocs42 found it stale)."""
    first = option_help("precision")
    assert "within the noise" not in first
    assert "auto uses 8-bit integers (int8) on a CPU with fast 8-bit instructions" in first
    assert "(the default ones), else 32-bit floats (fp32)" in first
    assert "about twice as fast" in first and "within 0.4 percentage points" in first
    bench = (Path(__file__).parents[1] / "benchmarks" / "README.md").read_text(encoding="utf-8")
    summary = bench[bench.index("### A default `train` in int8 against `--precision fp32`") :]
    summary = " ".join(summary[: summary.index("\n### ")].split())
    top1 = re.search(r"scored test top-1 (\d+\.\d+%) against fp32's (\d+\.\d+%)", first)
    assert top1 and f"test top-1 {top1.group(1)} against {top1.group(2)}" in summary


def test_the_bf16_head_figures_are_one_statistic_in_the_help_and_the_docs():
    """--head-precision's help said "within 0.0002 ... at most 0.0002 more" for AMX (medians),
    docs/backbones.md "at most 0.0004 ... at most 0.0003 more" (every head seed); and "as
    accurate" where the EPYC's medians were 0.0004 to 0.0011 higher. Both quote the medians now,
    and say so; the int8 engine's help gives this EPYC's frozen pass beside the AMX machine's."""
    docs = field_docs(TrainConfig)
    page = (Path(__file__).parents[1] / "docs" / "backbones.md").read_text(encoding="utf-8")
    paragraph = page[page.index("The head follows the same rule") : page.index("`train`\nsays")]
    figures = [re.findall(r"0\.\d{4}", text) for text in (docs["head_precision"], paragraph)]
    assert figures[0] == figures[1] == ["0.0002", "0.0002", "0.0004", "0.0011"]
    assert "medians of three head seeds" in docs["head_precision"] and "medians of" in paragraph
    first = option_help("head_precision")
    assert "as accurate" not in first and "within the spread between seeds" in first
    engine = " ".join(docs["int8_engine"].split())
    assert "70 to 87 images/s against ONNX Runtime's 62 to 66" in engine
