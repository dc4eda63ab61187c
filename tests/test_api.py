"""The package's public API (``objrec/__init__.py``): what ``import objrec`` offers."""

import importlib
import subprocess
import sys
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


@pytest.mark.slow  # imports the modules (FastAPI's among them)
def test_export_check_report_serve_and_audit_have_their_python_functions():
    """The docstring said the API mirrors the CLI, yet export, check, report, serve and audit
    had no function in `objrec`: a user had to find them in the modules."""
    wanted = {
        "check_folder": ("objrec.check", "check_folder"),
        "export_model": ("objrec.export", "export_model"),
        "build_report": ("objrec.report", "build_report"),
        "create_app": ("objrec.serve", "create_app"),
        "audit_folder": ("objrec.audit", "audit"),
        "AuditConfig": ("objrec.audit", "AuditConfig"),
    }
    for name, (module, own) in wanted.items():
        assert name in objrec.__all__ and name in dir(objrec)
        assert getattr(objrec, name) is getattr(sys.modules[module], own)
    assert objrec.audit is sys.modules["objrec.audit"]  # the module `audit` keeps its name


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
    wanted = {"apply_plan": ("objrec.applying", "apply_plan")}
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
    from objrec.runs import TrainResult

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
        from objrec.audit import AuditConfig
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
