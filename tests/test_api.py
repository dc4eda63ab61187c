"""The package's public API (``objrec/__init__.py``): what ``import objrec`` offers."""

import ast
import importlib
import math
import re
import subprocess
import sys
import warnings
from dataclasses import is_dataclass, replace
from pathlib import Path

import pytest

import objrec

NAMED_LIKE_MODULES = ("train", "evaluate", "predict", "explore")


@pytest.mark.slow  # imports the modules: 2 s alone
def test_the_functions_named_like_their_modules_stay_functions_once_the_modules_are_imported():
    """`from objrec import predict` gave the module predict.py once anything had imported it
    (`TypeError: 'module' object is not callable`); `objrec.predict(...)` worked only once."""
    importlib.import_module("objrec.cli")
    for name in NAMED_LIKE_MODULES:
        module = importlib.import_module(f"objrec.{name}")
        namespace: dict = {}
        exec(f"from objrec import {name}", namespace)
        assert namespace[name] is getattr(objrec, name) is getattr(module, name)
        assert callable(namespace[name]) and sys.modules[f"objrec.{name}"] is module


@pytest.mark.slow
def test_a_fresh_interpreter_gets_the_functions_in_any_order_without_importing_torch():
    """The first `objrec.predict` imported the module predict.py, which took the name: the
    second call was to the module. `import objrec` stays light (no torch)."""
    code = """
import sys, types
import objrec
assert "torch" not in sys.modules, "import objrec imported torch"
first = objrec.predict
assert objrec.predict is first and not isinstance(first, types.ModuleType)
from objrec.train import train
import objrec.evaluate as evaluate
from objrec import explore, train as again
assert again is train is objrec.train and not isinstance(evaluate, types.ModuleType)
assert callable(explore) and not isinstance(explore, types.ModuleType)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_dir_lists_the_public_names_for_completion():
    """`dir(objrec)` listed only ['Any', 'annotations', 'importlib']: nothing to complete."""
    assert set(dir(objrec)) >= {"train", "predict", "load_model", "TrainConfig", "__version__"}
    assert set(dir(objrec)) == set(objrec.__all__)


PATH_PARAMETERS = {"data", "src", "out", "run", "path", "plan_file", "unlabelled", "cache_dir"}
PATH_PARAMETERS |= {"unknown", "against", "plot", "csv", "explain", "labels", "new", "paths"}
"""The parameters of the public functions that take a file or folder (where they have them;
``unknown`` is a flag in ``predict`` and ``create_app``)."""


@pytest.mark.slow  # imports the modules
def test_every_public_path_parameter_takes_a_str_or_any_path_like():
    """The public functions said ``data: Path`` and ``run: Path`` where ``load_run`` and
    ``evaluate``'s ``against`` said ``str | Path`` and ``add_images``'s ``cache_dir`` ``str |
    os.PathLike[str]``, though each took a ``str``: every path parameter is ``PathGiven`` (one or
    several: ``PathsGiven``), ``str | os.PathLike[str]``, as every example passes a ``str``."""
    import inspect

    functions = [getattr(objrec, name) for name in objrec.__all__ if name != "__version__"]
    functions = [f for f in functions if inspect.isfunction(f)] + [objrec.Recognizer.load]
    hinted = {
        f"{function.__name__}({name}: {parameter.annotation})"
        for function in functions
        for name, parameter in inspect.signature(function).parameters.items()
        if name in PATH_PARAMETERS and parameter.annotation != "bool"
    }
    assert len(hinted) >= 35
    assert {h for h in hinted if not re.search(r": Paths?Given( \| None)?\)$", h)} == set()


@pytest.mark.slow  # imports the modules (FastAPI's among them)
def test_export_check_report_serve_and_audit_have_their_python_functions():
    """The docstring said the API mirrors the CLI, yet export, check, report, serve and audit
    had no function in `objrec`: a user had to find them in the modules."""
    wanted = {
        "check_folder": ("objrec.check", "check_folder"),
        "export_model": ("objrec.export.exporter", "export_model"),
        "build_report": ("objrec.report", "build_report"),
        "create_app": ("objrec.serve.server", "create_app"),
        "audit_folder": ("objrec.audit.recipe", "audit"),
        "AuditConfig": ("objrec.audit.recipe", "AuditConfig"),
    }
    for name, (module, own) in wanted.items():
        assert name in objrec.__all__ and name in dir(objrec)
        assert getattr(objrec, name) is getattr(sys.modules[module], own)
    assert objrec.audit is sys.modules["objrec.audit"]  # the package `audit` keeps its name


@pytest.mark.slow  # imports the modules
def test_every_public_signature_reads_without_object_addresses():
    """`help(objrec.train)` showed `reporter: 'Reporter' = <objrec.progress.Reporter object at
    0x7f...>`: the quiet default is `reporter=None`, which behaves as the silent reporter did."""
    import inspect

    for name in objrec.__all__:
        value = getattr(objrec, name)
        if not callable(value):
            continue
        signature = str(inspect.signature(value))
        assert " at 0x" not in signature and "object" not in signature, (name, signature)
        if "reporter" in inspect.signature(value).parameters:
            assert inspect.signature(value).parameters["reporter"].default is None, name
    from objrec.progress import SILENT, Reporter, or_silent

    given = Reporter()
    assert or_silent(None) is SILENT and or_silent(given) is given


@pytest.mark.slow  # imports the modules
def test_apply_plan_and_suggest_have_their_python_functions():
    """`objrec.apply_plan` was an AttributeError: the README's label-fixing loop (audit ->
    apply-plan -> train) had no Python function for its second step, nor `suggest` for what to
    label next (`suggest_images`, as `audit_folder`: the module `objrec.suggest` keeps its name,
    so that `mock.patch("objrec.suggest.X")` still reaches the module)."""
    wanted = {"apply_plan": ("objrec.applying.recipe", "apply_plan")}
    wanted["suggest_images"] = ("objrec.suggest", "suggest")
    for name, (module, own) in wanted.items():
        function = getattr(objrec, name)
        assert name in objrec.__all__ and name in dir(objrec) and function.__doc__
        assert function is getattr(sys.modules[module], own) and callable(function)
    assert objrec.suggest is sys.modules["objrec.suggest"]


def test_a_train_result_has_a_short_repr():
    """`TrainResult`'s repr printed its whole history (a dict per epoch) in the REPL."""
    from pathlib import Path

    from objrec.meta import ParameterCounts
    from objrec.run_record import TrainResult

    history = [{"epoch": e, "train_loss": 1.0, "valid_loss": 1.0} for e in range(1, 31)]
    result = TrainResult(
        Path("run"),
        ["a", "b"],
        history,
        25,
        0.123456,
        0.875,
        ParameterCounts(total=10, trainable=10),
    )
    assert repr(result) == (
        "TrainResult(run='run', n_classes=2, epochs_run=30, best_epoch=25, "
        "best_valid_loss=0.1235, best_valid_acc=0.8750, finished=True)"
    )


def test_every_exception_a_public_function_says_it_raises_is_reachable_from_objrec():
    """`help(objrec.train)` says "Raises: Interrupted", yet `hasattr(objrec, "Interrupted")` was
    False (notebook63 item 4): a notebook could not name it in an `except`. Each exception a
    public function's docstring lists under Raises is a builtin or an `objrec` name."""
    import builtins

    for name in objrec.__all__:
        doc = getattr(getattr(objrec, name), "__doc__", None) or ""
        listed = doc.split("Raises:", 1)[1] if "Raises:" in doc else ""
        for raised in re.findall(r"^ {4,8}(\w+):", listed, flags=re.M):
            assert hasattr(builtins, raised) or raised in objrec.__all__, (name, raised)
    assert objrec.Interrupted is importlib.import_module("objrec.errors").Interrupted
    assert issubclass(objrec.Interrupted, objrec.ObjrecError)


def test_every_field_a_train_result_repr_shows_is_an_attribute():
    """The repr showed `epochs_run=11`, yet `result.epochs_run` raised AttributeError (notebook63
    item 1), while docs/python-api.md names each attribute as its `--json` key. Every name the
    repr shows is an attribute holding the value shown."""
    from objrec.meta import ParameterCounts
    from objrec.run_record import TrainResult

    history = [{"epoch": e} for e in range(1, 12)]
    params = ParameterCounts(total=10, trainable=10)
    result = TrainResult(Path("run"), ["a", "b", "c"], history, 6, 0.25, 0.5, params)
    shown = re.findall(r"(\w+)=([^,)]+)", repr(result))
    assert [name for name, _ in shown][:4] == ["run", "n_classes", "epochs_run", "best_epoch"]
    for name, value in shown:
        attribute = getattr(result, name)
        assert value.strip("'") == (
            f"{attribute:.4f}" if isinstance(attribute, float) else str(attribute)
        ), name
    assert (result.n_classes, result.epochs_run) == (3, 11)
    assert {"n_classes", "epochs_run"} <= set(result.summary())


def test_the_python_api_page_says_how_per_class_and_worst_are_indexed_and_what_worst_holds():
    """docs/python-api.md said the results were "labelled by class and file", yet per_class has a
    0, 1, 2... index and the class in its `class` column; and `worst(5)` gave 1 row of 4 classes
    without the page saying it holds only classes below 100% top-1. The page says both, and the
    result does what it says."""
    import torch

    from objrec.evaluate import summarize_logits

    page = " ".join((Path(__file__).parents[1] / "docs" / "python-api.md").read_text().split())
    assert "labelled by class and file" not in page
    assert "has a plain 0, 1, 2... index, the class or file in a column" in page
    assert "its name in column `class` (per_class.csv)" in page
    assert "evaluation.worst(5) # per_class's first 5 rows below 100% top-1: fewer" in page
    labels, predicted = torch.tensor([0, 0, 1, 1, 2, 3]), torch.tensor([0, 1, 1, 1, 2, 3])
    logits = torch.nn.functional.one_hot(predicted, 4).float() * 5
    result = summarize_logits(logits, labels, ["a", "b", "c", "d"])
    assert list(result.per_class.index) == [0, 1, 2, 3] and result.per_class["class"][0] == "a"
    assert list(result.worst(5)["class"]) == ["a"]  # b, c and d are right every time


class TinyObjrec:
    """``objrec`` for docs/python-api.md's blocks: every name as the package has it, but
    ``train`` and ``audit_folder`` on the tiny body (the page's default three networks would take
    minutes), with the page's own settings kept."""

    def __getattr__(self, name: str):
        return getattr(objrec, name)

    @staticmethod
    def train(data, out, reporter=None, **settings):
        from tests.conftest import tiny_train_config

        return objrec.train(data, out, tiny_train_config(**settings), reporter=reporter)

    @staticmethod
    def audit_folder(data, out=None, **options):
        from objrec.audit.recipe import AuditConfig
        from tests.test_audit import HASH_ONLY  # tiny_test's features find every image alike

        tiny = AuditConfig(backbone="tiny_test", folds=3, epochs=40, lr=1e-2, duplicates=HASH_ONLY)
        return objrec.audit_folder(data, out, tiny, **options)


@pytest.mark.slow  # trains three tiny runs, audits twice, exports, reports: about 30 s
def test_the_python_api_page_runs_as_written(tmp_path, monkeypatch, class_folder_template, capsys):
    """docs/python-api.md's first example read `evaluation.metrics["top1"]` after the metrics
    became a dataclass: it stopped there with a TypeError, and nothing ran the page. Each block
    runs in order, in a folder holding the files it names, with `objrec` as written but trained
    on the tiny body; reading the metrics by key still answers, with a DeprecationWarning. The
    page said a later evaluate replaced an `unknown=` result "(warned)", where it refuses: the
    refusal it shows is raised and printed."""
    import re
    import shutil
    import warnings

    from tests.conftest import make_class_folder, make_image

    photos = shutil.copytree(class_folder_template / "photos", tmp_path / "photos")
    shutil.copy(next(photos.rglob("*.jpg")), tmp_path / "photo.jpg")
    make_class_folder(tmp_path / "more_photos", per_class=4)
    (tmp_path / "untaught").mkdir()
    for i in range(4):  # photos of none of the classes: yellow
        make_image((210, 200, 40), seed=500 + i).save(tmp_path / "untaught" / f"{i}.png")
    for folder in ("new_photos", "unlabelled"):
        (tmp_path / folder).mkdir()
        for i, image in enumerate(sorted(photos.rglob("img_0[0-3].*"))):
            shutil.copy(image, tmp_path / folder / f"{i}{image.suffix}")
    monkeypatch.chdir(tmp_path)
    page = (Path(__file__).parents[1] / "docs" / "python-api.md").read_text()
    namespace = {"objrec": TinyObjrec()}
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for block in re.findall(r"(?ms)^```python\n(.*?)^```", page):
            exec(compile(block.replace("import objrec\n", ""), "python-api.md", "exec"), namespace)
    assert (tmp_path / "run2" / "suggest" / "suggestions.csv").is_file()
    printed = capsys.readouterr().out
    assert printed.split()[0] == str(namespace["evaluation"].metrics.top1)
    assert "unknown_caught=" in repr(namespace["evaluation"])  # as the page says
    printed = " ".join(printed.split())  # the page's refusal, printed:
    assert "eval-test holds the comparison with run and the results of" in printed
    assert "untaught (photos of none of the classes), current for this model" in printed
    assert "`force=True` to replace them, or another `out` to write elsewhere" in printed
    assert (tmp_path / "run2-plain" / "metrics.json").is_file()
    answered = objrec.predict(tmp_path / "run", [tmp_path / "photo.jpg"])[0].prob_predicted
    assert namespace["answer"]["topk"][0]["prob"] == pytest.approx(answered, abs=1e-4)
    assert abs(namespace["probabilities"] - namespace["probs"]).max() < 1e-5  # the export's
    with pytest.warns(DeprecationWarning, match=r"metrics\['top5'\] .* metrics.overall.top5"):
        assert (
            namespace["evaluation"].metrics["top5"] == namespace["evaluation"].metrics.overall.top5
        )


@pytest.mark.slow  # imports the modules
def test_the_result_records_a_user_holds_are_importable_from_objrec():
    """`from objrec import TrainResult` failed (it was `objrec.runs.TrainResult`): every record a
    public function returns is a name of the package, as its functions are."""
    import typing

    returned = {
        "split_folder": "SplitResult",
        "add_images": "AddResult",
        "explore": "ExploreResult",
        "check_folder": "CheckResult",
        "train": "TrainResult",
        "load_run": "TrainResult",
        "evaluate": "EvaluationResult",
        "predict": "Predictions",
        "export_model": "ExportResult",
        "audit_folder": "AuditResult",
        "apply_plan": "AppliedPlan",
        "suggest_images": "Suggestions",
    }
    for function, record in returned.items():
        assert record in objrec.__all__ and record in dir(objrec)
        hints = typing.get_type_hints(getattr(objrec, function))
        assert hints["return"] is getattr(objrec, record), function
    assert objrec.Prediction is typing.get_args(objrec.Predictions.__orig_bases__[0])[0]


REPR_ITEM = re.compile(r"(\w+)=('(?:[^'\\]|\\.)*'|[^,()]+)")
"""A ``name=value`` of a one-line repr: a quoted string, or anything up to a comma."""


def misread_repr_names(record) -> list[str]:
    """The ``name=value`` items of ``record``'s repr that say something else than its attribute of
    that name (a count shown under a list's name), or than the length of the attribute an
    ``n_`` names (``n_unreadable``: ``unreadable_files``, as the JSON's count and list are
    named); the names of no attribute are counts read as such (``train=18``)."""
    misread = []
    for name, shown in REPR_ITEM.findall(repr(record).split("(", 1)[1]):
        counted = [name[2:], f"{name[2:]}_files"] if name.startswith("n_") else []
        counted = [n for n in counted if not current(record, name) and current(record, n)][:1]
        if counted:
            if int(shown) != len(getattr(record, counted[0])):
                misread.append(f"{name}={shown}")
        elif current(record, name):
            value = getattr(record, name)
            if shown.startswith("'"):
                right = ast.literal_eval(shown) == str(value)
            elif shown == type(value).__name__ and is_dataclass(value):  # a group: Kind(...)
                right = True
            elif isinstance(value, bool | None) or not isinstance(value, int | float):
                right = shown == str(value)
            else:
                right = math.isclose(float(shown), value, rel_tol=1e-3, abs_tol=5e-5)
            if not right:
                misread.append(f"{name}={shown} (it holds {value!r})")
    return misread


def current(record, name: str) -> bool:
    """Whether ``record`` has an attribute ``name`` by its name now: not an earlier name kept
    with a DeprecationWarning (``objrec.renames``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            return hasattr(record, name)
        except DeprecationWarning:
            return False


def one_of_each_result() -> list:
    """A record of each kind a public function returns, made by hand, its lists not empty."""
    import pandas as pd
    import torch

    from objrec.check import Problem
    from objrec.evaluate import summarize_logits
    from objrec.export.check import Agreement
    from objrec.meta import ParameterCounts

    counts = {"a": {"train": 2, "valid": 1, "test": 1}, "b": {"train": 1, "valid": 0, "test": 0}}
    table = pd.DataFrame({"train": [2, 1], "valid": [1, 0]}, index=["a", "b"])
    logits = torch.nn.functional.one_hot(torch.tensor([0, 1, 1]), 2).float() * 5
    params = ParameterCounts(total=3, trainable=2)
    agreement = Agreement("onnxruntime", 8, 1e-7, 1)
    return [
        objrec.SplitResult(Path("data"), counts, small_classes=["b"], unreadable_files=["x.jpg"]),
        objrec.AddResult(
            Path("data"), counts, {"a": 2}, [("n/a/1.jpg", "train/a/1.jpg")] * 2, new_classes=["b"]
        ),
        objrec.CheckResult(
            Path("data"), 5, 4, 2, {"train": 5}, [Problem("x.jpg", "unreadable", "bad", True)]
        ),
        objrec.ExploreResult(table, table, pd.DataFrame({"file": ["a.jpg"]}), ["x.jpg"]),
        objrec.TrainResult(Path("run"), ["a", "b"], [{"epoch": 1}], 1, 0.5, 0.75, params),
        summarize_logits(logits, torch.tensor([0, 1, 0]), ["a", "b"]),
        objrec.Prediction("a.jpg", [{"class": "a", "prob": 0.875}], unknown=True, score=-0.25),
        objrec.Prediction("b.jpg", error="no such file or folder"),
        objrec.ExportResult(
            Path("run/model.onnx"), Path("run/model.json"), 1e-7, {"onnxruntime": agreement}
        ),
        objrec.AuditResult([], [], [], n_images=7, classes=["a", "b"], out=Path("audit")),
        objrec.AppliedPlan(copied=7, removed=1),
        objrec.Suggestions(pd.DataFrame({"rank": [1, 2]}), ["x.jpg"], readable=3, labelled=["c"]),
    ]


def test_every_result_reads_in_one_line_naming_counts_as_counts():
    """`AddResult`'s repr said `new_classes=1` where `.new_classes` is a list of names (and
    `copies=12` where `.copies` is a dict per class: `n_copy_files`), `AuditResult`'s
    `classes=3`, `label_issues=0` and SplitResult's `small_classes=1` likewise; CheckResult,
    ExploreResult, Suggestions, Prediction and ExportResult printed every field, tables and
    split records included: a page for a notebook cell. Each is one line, and each name in it is
    the attribute of that name as it is, or `n_` and an attribute's name for its length, as
    TrainResult's `n_classes`."""
    records = one_of_each_result()
    for record in records:
        shown = repr(record)
        assert "\n" not in shown and len(shown) < 250, shown
        assert not misread_repr_names(record), (shown, misread_repr_names(record))
    assert "n_new_classes=1, n_copy_files=2" in repr(records[1])
    assert "answer='unknown', predicted='a', prob_predicted=0.8750" in repr(records[6])
    shown = repr(objrec.AppliedPlan(removed=2, accepted=1))
    assert shown == "AppliedPlan(copied=0, removed=2, accepted=1)"


def test_an_applied_plan_with_every_count_above_0_reads_in_one_line():
    """loose60: AppliedPlan's repr named every count not 0, 303 characters once each of its
    sixteen was (four digits each), past the one-line rule above: the test and validation
    splits' counts, parts of ``removed`` and ``relabelled`` that apply_plan's notes say, are
    left out of it (still attributes, and in ``to_json``)."""
    from dataclasses import fields

    split_counts = {"test_removed", "test_relabelled", "valid_removed", "valid_relabelled"}
    split_counts |= {"test_moved_out", "valid_moved_out"}  # eval63's parts of those
    split_counts |= {"in_source"}  # teach62's count, said by the photo folder's note
    counts = objrec.AppliedPlan(**{f.name: 1234 for f in fields(objrec.AppliedPlan)})
    shown = repr(counts)
    assert len(shown) < 250 and "\n" not in shown, shown
    assert not any(name in shown for name in split_counts)
    named = {f.name for f in fields(objrec.AppliedPlan)} - split_counts
    assert all(f"{name}=1234" in shown for name in named)
    assert counts.to_json()["valid_removed"] == counts.valid_removed == 1234


def test_a_count_of_classes_is_n_classes_in_the_json_and_python_a_list_classes():
    """`classes` was a count in train --json, summary.json, check --json and CheckResult, a map
    in split --json and a list of names in serve's /info, the sidecar and TrainResult (review55b
    M1): a count is `n_classes`, as the reprs said; CheckResult's old name still reads, with a
    DeprecationWarning."""
    records = one_of_each_result()
    check, trained = records[2], records[4]
    assert (check.n_classes, check.to_json()["n_classes"]) == (2, 2)
    assert "classes" not in check.to_json()
    with pytest.warns(DeprecationWarning, match=r"CheckResult.classes is deprecated"):
        assert check.classes == 2
    summary = trained.summary()
    assert summary["n_classes"] == 2 and "classes" not in summary and trained.classes == ["a", "b"]


def test_unreadable_files_are_a_list_of_unreadable_files_and_a_count_n_unreadable():
    """The unreadable files were `unusable_files` (a count) in check, `unreadable_files` (a
    list) in split, `unreadable` (a list) in explore and evaluate, `frozen_pass.unreadable` (a
    count) in train (review55b M2): a list is `unreadable_files`, a count `n_unreadable`, in the
    JSON and the results alike; the attributes' old names still read, with a warning."""
    records = one_of_each_result()
    check, explored, evaluation = records[2], records[3], records[5]
    assert check.to_json()["n_unreadable"] == check.n_unreadable == 1
    assert "unusable_files" not in check.to_json()
    evaluation.unreadable_files = ["test/a/x.jpg: cut short"]
    assert evaluation.to_json()["unreadable_files"] == ["test/a/x.jpg: cut short"]
    assert "unreadable" not in evaluation.to_json()
    assert explored.unreadable_files == ["x.jpg"]
    for record, old, new in [
        (check, "unusable_files", "n_unreadable"),
        (explored, "unreadable", "unreadable_files"),
        (evaluation, "unreadable", "unreadable_files"),
    ]:
        with pytest.warns(DeprecationWarning, match=rf"\.{old} is deprecated: use \w+\.{new}"):
            assert getattr(record, old) == getattr(record, new)


def test_the_data_folder_is_data_as_the_cli_s_data_in_every_function(tmp_path):
    """The data folder was `data_dir`, `data`, `root` or `folder` by function, `export_model`'s
    options `fmt` and `photos` where the CLI says --format and --check-photos (review55b M5):
    each parameter is named as the CLI names it, and the old names still work for a release,
    with a DeprecationWarning naming the new one."""
    import inspect

    from objrec.errors import ObjrecError

    named = {
        objrec.train: "data",
        objrec.evaluate: "data",
        objrec.check_folder: "data",
        objrec.build_report: "data",
        objrec.explore: "data",
        objrec.audit_folder: "data",
        objrec.apply_plan: "data",
        objrec.add_images: "data",
        objrec.suggest_images: "unlabelled",  # objrec suggest RUN UNLABELLED
    }
    for function, name in named.items():
        assert name in inspect.signature(function).parameters, function.__name__
    assert {"format", "check_photos"} <= set(inspect.signature(objrec.export_model).parameters)
    nope = tmp_path / "nope"
    old = [
        (lambda: objrec.check_folder(root=nope), r"check_folder\(root=\) is deprecated: use "),
        (lambda: objrec.suggest_images("r", folder=nope), r"suggest_images\(folder=\) is dep"),
        (lambda: objrec.export_model("run", photos=0), r"export_model\(photos=\) .* use \w+\("),
    ]
    for call, said in old:
        with pytest.warns(DeprecationWarning, match=said), pytest.raises(ObjrecError):
            call()  # taken as the new name: refused as it would be by it
    with pytest.raises(ObjrecError, match=r"^`check_photos` must be a whole number"):
        objrec.export_model("run", check_photos=0)
    with pytest.raises(TypeError, match=r"check_folder\(\) got both root= and data="):
        objrec.check_folder(root=nope, data=nope)


def test_evaluate_and_predict_name_the_argument_a_caller_got_wrong(trained_run, tmp_path):
    """review55b L8: `objrec.evaluate("run", "nope")` said "nope is not a folder", where the CLI
    says "does not exist", and neither named the parameter; `objrec.predict("run", [])` returned
    an empty result, silently, where the CLI requires PATHS. Each is one sentence naming it."""
    from objrec.errors import ObjrecError

    nope, notes = tmp_path / "nope", tmp_path / "notes.txt"
    notes.write_text("not a folder")
    with pytest.raises(ObjrecError, match=rf"^`data` {re.escape(str(nope))} does not exist$"):
        objrec.evaluate(trained_run, nope)
    with pytest.raises(ObjrecError, match=rf"^`data` {re.escape(str(notes))} is not a folder$"):
        objrec.evaluate(trained_run, notes)
    with pytest.raises(ObjrecError, match=r"^`paths` is empty: give the images to predict"):
        objrec.predict(trained_run, [])


def nested_results() -> list:
    """The records a result holds that the Python API page tells a user to print next, made by
    hand as a 15-class evaluation against an earlier run, with untaught photos, holds them."""
    from objrec import evaluation_metrics as em

    classes = [f"class_{i:02d}" for i in range(15)]
    row = {"class": "class_00", "n": 12, "top1": 0.9167, "top1_against": 1.0, "change": -0.0833}
    against = em.Comparison(
        run="run1", classes=classes, merged={"cars": "car_side"}, n=186, top1=0.9677,
        top1_against=0.9785, fixed=2, broken=4, p_value=0.6875, within_chance=True,
        per_class=[row | {"class": name} for name in classes],
    )  # fmt: skip
    by_class = [{"class": name, "unknown": 1, "n": 12} for name in classes]
    stricter = em.StricterThreshold(
        0.31, 0.9, 0.93, 196, 0, 9, by_class, 0.95, 0.92, 0.0, by_class, 1, 9, 26, 30, [], True
    )
    answered_as = {name: 1 for name in classes[:4]}
    figures = em.OpenSetFigures(0.97, 0.12, 211, 30, 4 / 30, answered_as)
    open_set = em.OpenSet(figures, stricter, None, "untaught")
    metrics = em.EvaluationMetrics.from_json(
        {
            "n": 211,
            "n_groups": 209,
            "top1": 0.9716,
            "top5": 0.995,
            "ece": 0.02,
            "known_kept": 0.99,
            "top1_at_threshold": 0.96,
        }
    )
    metrics = replace(metrics, open_set=open_set)
    predictions = objrec.Predictions(
        [objrec.Prediction(f"p{i}.jpg", [{"class": "a", "prob": 0.9}]) for i in range(1000)]
    )
    predictions += [objrec.Prediction("gone.jpg", error="no such file or folder")]
    return [against, stricter, figures, open_set, metrics, metrics.at_threshold, predictions]


def test_the_records_a_result_holds_read_in_one_line_naming_counts_as_counts():
    """newcomer55's 9: `evaluation.against` (a Comparison) printed 3,796 characters, every
    class's row; `metrics.open_set.stricter` 1,138; `evaluation.metrics` 2,449, every figure of
    every group; `Predictions` each of its predictions (1,000 lines for a folder). Each is one
    line, as the top-level results are, by the same rule: a group of figures shown as its kind,
    a list or mapping by how many it holds (`n_` and its name)."""
    records = nested_results()
    for record in records:
        shown = repr(record)
        assert "\n" not in shown and len(shown) < 250, shown
        assert not misread_repr_names(record), (shown, misread_repr_names(record))
    against, stricter, _, _, metrics, _, predictions = records
    assert "n=186, top1=0.9677, top1_against=0.9785, fixed=2, broken=4" in repr(against)
    assert "n_classes=15" in repr(against) and "n_merged=1" in repr(against)
    assert "threshold=0.3100, recommended=True, unknown_caught=30, unknown_caught_now=26" in repr(
        stricter
    )
    assert "calibration=CalibrationFigures(...)" in repr(
        metrics
    ) and "open_set=OpenSet(...)" in repr(metrics)
    assert repr(predictions) == "Predictions(inputs=1001, given_a_class=1000, unknown=0, failed=1)"


def test_evaluate_and_train_show_their_options_and_hide_the_cli_s():
    """newcomer57 (3): `evaluate(run, data, config=None, *, out, reporter, force, read: tuple[...],
    **keywords)` hid `against`, `unknown`, `tta` and `split` (the options the docs use) in
    **keywords, where neither completion nor help() shows them, and showed `read`, report's
    internal; `train` showed the CLI's `precision_why` and `command`. Each of evaluate's settings
    is a keyword parameter with EvaluateConfig's default, named in its docstring; train names
    each TrainConfig field it takes as a keyword in its own."""
    import inspect
    from dataclasses import MISSING, fields

    from objrec.config import EvaluateConfig

    evaluating = inspect.signature(objrec.evaluate).parameters
    assert not [p for p in evaluating.values() if p.kind is p.VAR_KEYWORD]
    assert "read" not in evaluating and evaluating["keep_threshold"].default is False
    doc = inspect.getdoc(objrec.evaluate) or ""
    for setting in fields(EvaluateConfig):
        assert setting.default is not MISSING
        parameter = evaluating[setting.name]
        assert (parameter.kind, parameter.default) == (parameter.KEYWORD_ONLY, setting.default)
    for name in evaluating:
        assert f"\n    {name}: " in doc, name
    training = inspect.signature(objrec.train).parameters
    assert not {"precision_why", "command"} & set(training)
    said = " ".join((inspect.getdoc(objrec.train) or "").split())
    assert all(f"``{f.name}``" in said for f in fields(objrec.TrainConfig))
    with pytest.raises(objrec.ObjrecError, match="as `config` or as keywords, not both"):
        objrec.evaluate("run", "data", EvaluateConfig(), tta=True)


def test_a_check_s_one_line_names_the_folder_as_check_folder_does():
    """newcomer57 (9): `CheckResult(root=...)`'s one line named `root`, while check_folder's
    parameter is `data` since 7 December 2026; the line and an attribute say `data` (`root`
    stays, check --json's key)."""
    from objrec.check import CheckResult

    result = CheckResult(Path("data"), 5, 4, 2)
    assert repr(result).startswith("CheckResult(data='data', images=5, readable=4, n_classes=2")
    assert result.data == result.root == Path("data")


@pytest.mark.slow  # imports the modules
def test_every_record_a_public_function_takes_or_returns_is_public():
    """`evaluate(run, data, config=...)` took an `EvaluateConfig` and `split_folder` a
    `SplitConfig`, neither in `objrec.__all__` (docs/python-api.md spelled the first
    `objrec.config.EvaluateConfig`), where `TrainConfig`, `DataConfig` and `AuditConfig` were:
    each objrec class a public function's parameters or return name is public."""
    import inspect
    import re

    for name in objrec.__all__:
        value = getattr(objrec, name)
        if not inspect.isfunction(value):
            continue
        signature = inspect.signature(value)
        named = [str(p.annotation) for p in signature.parameters.values()]
        named.append(str(signature.return_annotation))
        for record in re.findall(r"\b([A-Z]\w*(?:Config|Result))\b", " ".join(named)):
            assert record in objrec.__all__ and record in dir(objrec), (name, record)
            assert getattr(objrec, record).__name__ == record


@pytest.mark.slow  # loads the run three ways
def test_the_classes_of_a_run_are_one_list_whichever_record_reads_them(trained_run):
    """notebook63: `load_model(run)[1].classes` was a tuple and `TrainResult.classes` a list:
    the same names never compared equal (`("a", "b") == ["a", "b"]` is False), and mypy typed
    them apart. Every record of a run names its classes as a list."""
    import objrec
    from objrec.meta import RunMeta

    _, meta = objrec.load_model(trained_run)
    run = objrec.load_run(trained_run)
    recognizer = objrec.Recognizer.load(trained_run)
    assert meta.classes == run.classes == recognizer.classes and type(meta.classes) is list
    again = RunMeta(meta.backbone, tuple(meta.classes), meta.data, meta.head)
    assert again.classes == meta.classes  # given as a tuple, kept as a list


@pytest.mark.slow  # loads a run
def test_a_recognizer_is_shown_in_one_line_of_its_attributes(trained_run):
    """notebook63: a Recognizer printed as `<objrec.inference.Recognizer object at 0x7fa9...>`
    in a notebook. It is shown in one line, each name an attribute holding the value shown
    (`n_classes`: its classes counted), as the results are."""
    import objrec

    recognizer = objrec.Recognizer.load(trained_run)
    shown = repr(recognizer)
    pairs = re.findall(r"(\w+)=('[^']*'|[^,)]+)", shown)
    assert shown.startswith("Recognizer(backbone='tiny_test', n_classes=3, runtime='torch'")
    for name, value in pairs:
        held = len(recognizer.classes) if name == "n_classes" else getattr(recognizer, name)
        said = f"{held:.4g}" if isinstance(held, float) else str(held)
        assert value.strip("'") == said, name
    assert {name for name, _ in pairs} >= {"threshold", "threshold_source", "temperature"}
