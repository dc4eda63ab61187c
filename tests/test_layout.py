"""The code's shape: short functions, and no later stage reaching into ``train``."""

import ast
import functools
import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import frozen_heap, shared_folder, source_trees

SRC = Path(__file__).resolve().parents[1] / "src" / "objrec"


def long_functions(trees) -> list[str]:
    """The functions of 50 lines or more among ``trees`` (path, syntax tree), named with where:
    the outermost ones (a function nested in one is shorter than it)."""
    return [
        f"{path.as_posix()}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path, tree in trees
        for node in outermost_functions(tree.body)
        if node.end_lineno - node.lineno + 1 >= 50
    ]


def outermost_functions(body: list) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The functions defined in the statements ``body`` (in a class, an ``if``, a ``try``...),
    not those inside them: a function is a statement, so only statements' blocks are read, never
    an expression (``ast.walk`` visited every node of 66,000 lines of tests: 1 s of CPU)."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node
            continue
        for field in node._fields:
            block = getattr(node, field)
            if isinstance(block, list) and block and isinstance(block[0], BLOCKS):
                yield from outermost_functions(block)


BLOCKS = (ast.stmt, ast.excepthandler, ast.match_case)
"""What a block of statements holds: statements, an ``except``'s or a ``case``'s (each with a
body of its own)."""


@pytest.mark.slow
def test_every_function_in_src_is_under_50_lines():
    assert long_functions(source_trees()) == []


@functools.cache
def trees_of_tests() -> tuple[tuple[Path, ast.Module], ...]:
    """Each module of ``tests/`` (its name) and its syntax tree, in name order, parsed once for
    the tests here that read the tests' shape (1 to 2 s each on 2 busy cores; xdist runs this
    module on one worker, ``xdist_groups``)."""
    folder = Path(__file__).resolve().parent
    paths = sorted(folder.glob("*.py"))
    with frozen_heap():  # as conftest.source_trees: full collections walked the trees again
        return tuple((path.relative_to(folder), ast.parse(path.read_text())) for path in paths)


@pytest.mark.slow
def test_every_function_in_tests_is_under_50_lines():
    """A test of 50 lines or more (five were, up to 61) reads as several: split into helpers and
    tests that each say what they check."""
    assert long_functions(trees_of_tests()) == []


def test_the_tests_on_real_photos_find_them_where_objrec_test_shared_says_and_ci_says_each_skip():
    """A clone outside /work (a CI's) skipped the tests on the shared weights and photos, and
    its log did not say so: ``OBJREC_TEST_SHARED`` names their folder, and ``.ci/run`` asks
    pytest for the skip reasons."""
    assert shared_folder({"OBJREC_TEST_SHARED": "/data/objrec-shared"}) == Path(
        "/data/objrec-shared"
    )
    assert shared_folder({}) == SRC.parents[2] / "shared"
    ci = (SRC.parents[1] / ".ci" / "run").read_text().splitlines()
    assert [line for line in ci if line.startswith("python -m pytest")] == [
        "python -m pytest -n auto -rs"
    ]


PRINTS_ITS_OWN = {"__main__.py": None, "export/script.py": None, "progress.py": "TqdmReporter"}
"""What outside ``cli/`` may write to the terminal (a module, or the class of it named):
``python -m objrec``; the script ``export`` writes beside a model (``model_infer.py``, a program
of its own); the progress bars a Python caller asks for (``reporter=TqdmReporter()``)."""


def left_to_check(path: Path, tree: ast.Module) -> ast.Module | None:
    """``tree`` without what :data:`PRINTS_ITS_OWN` lets print; None for all of it."""
    name = path.as_posix()
    if path.parts[0] == "cli" or (name in PRINTS_ITS_OWN and PRINTS_ITS_OWN[name] is None):
        return None
    kept = [
        node
        for node in tree.body
        if not (isinstance(node, ast.ClassDef) and node.name == PRINTS_ITS_OWN.get(name))
    ]
    return ast.Module(body=kept, type_ignores=[])


def printing(tree: ast.Module) -> list[str]:
    """Where ``tree`` prints or writes to the terminal itself: a ``print`` call, ``sys.stdout``
    or ``sys.stderr`` (their ``write``, or handed on), or rich's ``Console``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("print", "Console"):
                found.append(f"{node.lineno} {node.func.id}(")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "sys" and node.attr in ("stdout", "stderr"):
                found.append(f"{node.lineno} sys.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in ("sys", "rich.console"):
            names = {alias.name for alias in node.names} & {"stdout", "stderr", "Console"}
            found += [f"{node.lineno} from {node.module} import {name}" for name in sorted(names)]
    return found


@pytest.mark.slow
def test_library_code_never_prints():
    """Only the CLI prints: the library logs through ``logging``, so that a program calling it
    decides what its user sees (the GUIDE's rule, held by nothing before)."""
    prints = [
        f"{path.as_posix()}:{where}"
        for path, tree in source_trees()
        if (checked := left_to_check(path, tree)) is not None
        for where in printing(checked)
    ]
    assert prints == []
    planted = ast.parse("import sys\nprint(1)\nsys.stderr.write('x')\nfrom sys import stdout")
    assert sorted(printing(planted)) == ["2 print(", "3 sys.stderr", "4 from sys import stdout"]


@pytest.mark.slow
def test_only_the_cli_and_the_demo_import_train():
    """Only they import the module ``train`` as they run: ``objrec/__init__.py``'s import of the
    function under ``if TYPE_CHECKING:``, for mypy, never runs."""
    importers = {
        path.as_posix()
        for path, tree in source_trees()
        for node in run_time_imports(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "objrec.train"
    }
    assert importers <= {"cli/training.py", "demo.py"}


@pytest.mark.slow
def test_no_module_imports_another_modules_private_name():
    """share read model files through checkpoint's private ``_read``: a name a module keeps to
    itself may change under its callers. What another module needs is public, and named so
    (``read_model_state``)."""
    private = [
        f"{path.as_posix()}: {node.module}.{alias.name}"
        for path, tree in source_trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("objrec")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert private == []


def module_name(path: Path) -> str:
    """``objrec.cli.training`` of ``cli/training.py`` (:func:`source_trees`' paths), ``objrec.cli``
    of ``cli/__init__.py``."""
    parts = ["objrec", *path.with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def run_time_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import of ``tree`` that runs: at its top and inside its functions, not those under
    ``if TYPE_CHECKING:``, which never run (an annotation naming a caller's type)."""
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in typing_only
    ]


def imported_modules(name: str, tree: ast.Module, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that module ``name`` imports when it runs: ``from objrec import
    check`` and ``from objrec.check import DECODED`` both import ``objrec.check``, and ``from
    objrec.serve.model import serve_model`` the package ``objrec.serve`` (its ``__init__``) too."""
    wanted = set()
    for node in run_time_imports(tree):
        if isinstance(node, ast.Import):
            wanted.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: from the package holding ``name``
            package = name.split(".")[: -node.level]
            base = ".".join([*package, base] if base else package)
        wanted.update([base, *(f"{base}.{alias.name}" for alias in node.names)])
    packages = {".".join(w.split(".")[:i]) for w in wanted for i in range(2, w.count(".") + 1)}
    return {w for w in wanted | packages if w in modules and w != name}


def import_cycles() -> list[list[str]]:
    """The modules of ``src/objrec`` that import each other, directly or through others: each
    strongly connected component of more than one module of the graph of
    :func:`imported_modules` (Tarjan's), as a sorted list, in sorted order."""
    trees = {module_name(path): tree for path, tree in source_trees()}
    graph = {name: imported_modules(name, tree, set(trees)) for name, tree in trees.items()}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for other in graph[module]:
            if other not in order:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], order[other])
        if low[module] == order[module]:
            component = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return sorted(cycles)


KEPT_CYCLES: list[list[str]] = []
"""The cycles among the library's modules kept, each with why. None: the last, export ->
export_check -> inference -> export (inference made its ONNX graph with the export command's
module, whose check on real photos runs inference's answers), ended when the graph writer moved
under both, into export_graph (session 54)."""


@pytest.mark.slow
def test_no_library_module_imports_itself_through_others():
    """A module that imports, at its top or inside a function, one that imports it back (directly
    or through others) cannot be read, loaded or changed alone: backbones and bodies imported
    each other, until the body's ``torchvision_weights`` moved down into bodies. The ``cli``
    package is one cycle and may stay one: ``cli/__init__`` assembles the click group from its
    commands' modules, and two of them look a command up in that group when they run
    (``messages.objrec_command``, to spell an option as the command spells it, and
    ``data.check_run_folder``): a function-level import of the finished group, which is the
    package's own business, as nothing outside it but ``__main__`` imports it."""
    cycles = [c for c in import_cycles() if not all(m.startswith("objrec.cli") for m in c)]
    assert cycles == KEPT_CYCLES


@functools.cache
def benchmark_trees() -> tuple[tuple[str, ast.Module], ...]:
    """Each script and helper module of ``benchmarks/``, by file name, and its syntax tree,
    parsed once for the tests here, as :func:`trees_of_tests` are."""
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    paths = sorted(folder.glob("*.py"))
    with frozen_heap():
        return tuple((path.name, ast.parse(path.read_text())) for path in paths)


@pytest.mark.slow
def test_every_benchmark_option_says_what_it_is_and_helpers_are_named_apart():
    """benchmarks/ had options without help (--seeds, --repeats, --variant NAME=SRC ...) and a
    helper module, sampling.py, that looked like a script but printed nothing on --help: every
    option has help, and a module that is not a script starts with an underscore."""
    bare, helpers = [], []
    for name, tree in benchmark_trees():
        for node in ast.walk(tree):
            call = isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"
            if call and not any(k.arg == "help" for k in node.keywords):
                bare.append(f"{name}:{node.lineno}")
        script = "__main__" in ast.unparse(tree)
        if script == name.startswith("_"):
            helpers.append(name)
    assert bare == [] and helpers == []


MAIN_GUARD = 'if __name__ == "__main__":'


def test_every_benchmark_script_runs_only_under_its_main_guard():
    """Scripts of benchmarks/ import each other (rare_threshold.py open_set.py, audit_choices.py
    audit.py, add_groups.py split_groups.py): one whose work ran outside its ``__main__`` guard
    would run when imported. Each script ends in the guard, nothing after it at the top level;
    a helper module (``_`` first) has none. Read as lines: parsing the 80 files takes 0.2 s."""
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    wrong = []
    for path in sorted(folder.glob("*.py")):
        lines = path.read_text().splitlines()
        guards = [i for i, line in enumerate(lines) if line == MAIN_GUARD]
        after = lines[guards[-1] + 1 :] if guards else []
        top = [line for line in after if line[:1] not in ("", " ", "#")]
        if bool(guards) == path.name.startswith("_") or top:
            wrong.append(path.name)
    assert wrong == []


TIMING_SCRIPTS = (
    "serve_load.py",
    "audit_vs_train.py",
    "store_read.py",
    "frozen_batch.py",
    "strip_resize.py",
    "incremental.py",
    "export_memory.py",
    "backbones_measure.py",
    "serve_memory.py",
)
"""review64b M3: speed figures from scripts that printed one run's figure, a mean, or no ratio;
M2: the scripts written for figures of docs/ that had none."""


@pytest.mark.slow
def test_each_timing_benchmark_repeats_and_prints_medians_beside_ratios_of_one_run():
    """Speed is shown by benchmarks printing measured ratios side by side in one run, as medians
    of repeats. Six scripts printed one run's figures (serve_load, audit_vs_train, incremental), a
    mean (frozen_batch), a ratio only across separate runs (store_read) or no ratio
    (strip_resize): each takes ``--repeats`` (``--repeat``) and prints ``_medians.median_table``."""
    trees = dict(benchmark_trees())
    lacking = []
    for name in TIMING_SCRIPTS:
        source = ast.unparse(trees[name])
        repeats = "'--repeats'" in source or "'--repeat'" in source
        if (
            not (repeats and "from _medians import median_table" in source)
            or "median_table(" not in source.split("from _medians import median_table", 1)[1]
        ):
            lacking.append(name)
    assert lacking == []


def test_the_benchmarks_median_table_gives_each_arm_its_median_and_ratio_to_the_baseline():
    """The last table of a timing benchmark: each arm's median of its rounds and range, the ratio
    of its median to the baseline's and the median of each round's own ratio (rounds of one arm
    pair with the baseline's only where each has a figure for every round)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "_medians.py"
    spec = importlib.util.spec_from_file_location("_medians", path)
    assert spec is not None and spec.loader is not None
    medians = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(medians)
    runs = {"train": [10.0, 20.0, 12.0], "audit": [11.0, 30.0, 12.0], "warm": [2.0, 3.0]}
    assert medians.median_table(runs, "s", baseline="train", digits=1) == [
        "| arm | rounds | median s | range | / train (medians) | / train (each round's) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        "| train | 3 | 12.0 | 10.0 to 20.0 | 1.000 | 1.000 |",
        "| audit | 3 | 12.0 | 11.0 to 30.0 | 1.000 | 1.100 |",
        "| warm | 2 | 2.5 | 2.0 to 3.0 | 0.208 | - |",
    ]


@pytest.mark.slow
def test_every_module_a_benchmark_imports_at_its_top_is_installed():
    """serve_load.py imported httpx at its top, which the test extra no longer installs (77ae9ca
    named httpx2): the script stopped at its first line. Each module a script of benchmarks/
    imports outside a function or a ``try`` is the standard library's, a file of benchmarks/, or
    one installed beside objrec (its dependencies and the test extra, as CI installs them)."""
    trees = benchmark_trees()
    local = {name.removesuffix(".py") for name, _ in trees}
    missing = []
    for name, tree in trees:
        for node in tree.body:
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                plain = isinstance(node, ast.ImportFrom) and node.level == 0
                modules = [node.module] if plain else []
            for module in modules:
                top = module.split(".")[0]
                ours = top in sys.stdlib_module_names or top in local
                if not ours and importlib.util.find_spec(top) is None:
                    missing.append(f"{name}: {module}")
    assert missing == []


def library_modules(src: Path) -> set[str]:
    """The modules of ``src`` (src/objrec) as docs/development.md's table names them: ``train``,
    a stage's package ``serve`` and each of its modules ``serve.model``; the ``cli`` package
    alone, whose modules its row names."""
    packages = {p.parent.name for p in src.glob("*/__init__.py")} - {"cli"}
    inside = {f"{p.parent.name}.{p.stem}" for d in packages for p in (src / d).glob("*.py")}
    flat = {p.stem for p in src.glob("*.py")} - {"__init__", "__main__"}
    return flat | packages | {"cli"} | {m for m in inside if not m.endswith(".__init__")}


def test_the_readmes_module_table_names_every_module():
    """The table of the modules (docs/development.md, "in the order data flows through them")
    lacked `add` and `tables`, and its `cli` row the package's `heap`: every module of src/objrec
    has its row, a stage's package (``serve``) and each of its modules (``serve.model``) too,
    every module of src/objrec/cli is named in the `cli` row, and no row names a module gone
    (``serve_model``, once the stage became a package)."""
    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "development.md").read_text()
    table = page.split("in the order data flows through them:\n\n")[1].split("\n\n")[0]
    named = {name for row in table.splitlines() for name in row.split("|")[1].split("`")[1::2]}
    modules = library_modules(root / "src" / "objrec")
    cli_row = next(row for row in table.splitlines() if row.startswith("| `cli` |"))
    commands = {p.stem for p in (root / "src" / "objrec" / "cli").glob("*.py")} - {"__main__"}
    assert sorted(modules - named) == []
    assert sorted(named - modules) == []
    assert sorted(commands - set(cli_row.split("`")[1::2])) == []


STAGE_INIT_IMPORTS = {"__future__", "typing", "objrec.lazy"}
"""What a stage's package (``serve``) may import as it is imported: its ``__init__`` names its
entry points and imports their module when one is first asked for, so that importing one of
its light modules (``serve.settings``, read before FastAPI) imports nothing heavy."""


def test_every_stage_package_imports_nothing_of_its_own_when_imported():
    """A subpackage's ``__init__`` runs before any of its modules is imported: one importing the
    stage's main module (FastAPI's app, PyTorch) would make every module of the stage as slow to
    import, and the CLI's checks before its libraries load would wait for them. Each ``__init__``
    but the ``cli``'s imports only :data:`STAGE_INIT_IMPORTS` when it runs."""
    heavy = {}
    for init in sorted(SRC.glob("*/__init__.py")):
        if init.parent.name == "cli":
            continue
        tree = ast.parse(init.read_text())
        imported = {
            (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
            for node in run_time_imports(tree)
            for alias in node.names
        }
        if imported - STAGE_INIT_IMPORTS:
            heavy[init.parent.name] = sorted(imported - STAGE_INIT_IMPORTS)
    assert heavy == {}
    assert len(list(SRC.glob("*/__init__.py"))) >= 2


LAZY_PACKAGES = [SRC / "__init__.py", *sorted(SRC.glob("*/__init__.py"))]
"""The ``__init__`` of ``objrec`` and of each of its packages."""


def test_every_package_hides_its_lazy_getattr_from_mypy():
    """A module ``__getattr__`` that mypy sees lets any name through (``from objrec.serve import
    nosuch`` type-checks): each stage's ``__init__`` binds it only under ``if not
    TYPE_CHECKING:``, where mypy reads the ``TYPE_CHECKING`` imports of the same names instead.
    ``objrec``'s own did not (``from objrec import nosuch_name`` and ``objrec.nosuch_attr``
    type-checked, and mypy took ``objrec.train`` for the module)."""
    seen = {}
    for init in LAZY_PACKAGES:
        tree = ast.parse(init.read_text())
        hidden = [
            node
            for branch in tree.body
            if isinstance(branch, ast.If) and ast.unparse(branch.test) == "not TYPE_CHECKING"
            for node in ast.walk(branch)
        ]
        bound = {
            name.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign | ast.FunctionDef)
            for name in (
                [ast.Name(node.name)] if isinstance(node, ast.FunctionDef) else ast.walk(node)
            )
            if isinstance(name, ast.Name)
            and name.id in ("__getattr__", "__dir__")
            and node not in hidden
        }
        if bound:
            seen[init.parent.name] = sorted(bound)
    assert seen == {}


def type_checked_imports(init: Path) -> dict[str, str]:
    """Each name ``init`` imports under ``if TYPE_CHECKING:`` and where from (``module:name``
    where the module calls it otherwise), as its lazy names spell it."""
    return {
        alias.asname or alias.name: node.module + (f":{alias.name}" if alias.asname else "")
        for branch in ast.parse(init.read_text()).body
        if isinstance(branch, ast.If) and ast.unparse(branch.test) == "TYPE_CHECKING"
        for node in branch.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


def test_every_lazy_name_is_imported_for_mypy_from_where_it_is_looked_up():
    """mypy reads a package's ``TYPE_CHECKING`` imports, Python its lazy names: each name the
    package gives is imported there from the module its lookup imports, so that mypy knows its
    type (``objrec.audit_folder`` is ``objrec.audit.recipe``'s ``audit``) and refuses no name the
    package gives."""
    import importlib

    differ = {}
    for init in LAZY_PACKAGES:
        package = ".".join(init.relative_to(SRC.parent).parent.parts)
        module = importlib.import_module(package)
        given = getattr(module, "ENTRY_POINTS", getattr(module, "_EXPORTS", None))
        if given is None:
            continue
        if type_checked_imports(init) != given:
            differ[package] = sorted(set(type_checked_imports(init).items()) ^ set(given.items()))
        assert set(module.__all__) - {"__version__"} == set(given), package
    assert differ == {}


def check_kinds() -> set[str]:
    """The kinds check.py and check_run.py give a problem: the second argument of each
    ``Problem(...)`` and ``result.note(...)``, a string or a name assigned strings in the same
    function."""
    trees = [ast.parse((SRC / name).read_text()) for name in ("check.py", "check_run.py")]
    kinds = set()
    functions = (f for tree in trees for f in ast.walk(tree) if isinstance(f, ast.FunctionDef))
    for function in functions:
        for call in (c for c in ast.walk(function) if isinstance(c, ast.Call)):
            name = getattr(call.func, "id", getattr(call.func, "attr", ""))
            if name not in ("Problem", "note") or len(call.args) < 2:
                continue
            kind = call.args[1]
            values = (
                [kind]
                if not isinstance(kind, ast.Name)
                else [
                    a.value
                    for a in ast.walk(function)
                    if isinstance(a, ast.Assign)
                    and any(getattr(t, "id", None) == kind.id for t in a.targets)
                ]
            )
            kinds |= {c.value for v in values for c in ast.walk(v) if isinstance(c, ast.Constant)}
    return kinds


def test_docs_json_md_lists_every_kind_check_gives():
    """docs/json.md listed some of check's problem kinds and ended with "...": `imbalanced`,
    `raw_files`, `sidecar_files` and others were missing. Its table lists each, and no other."""
    page = (SRC.parents[1] / "docs" / "json.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \| (?:yes|no)", page, re.MULTILINE))
    assert documented == check_kinds() and len(documented) >= 18


@pytest.mark.slow
def test_no_test_carries_one_mark_twice():
    """A new test was pasted below an old one's ``@pytest.mark.slow`` (test_quantize.py, session
    30): the new test carried the mark twice, and the old one, which builds an int8 body (0.4 s),
    lost it and joined the quick tier unseen. No test function repeats a decorator."""
    twice = []
    for path, tree in trees_of_tests():
        for node in tree.body if path.name.startswith("test_") else ():
            if isinstance(node, ast.FunctionDef):
                marks = [ast.unparse(d) for d in node.decorator_list]
                if len(set(marks)) < len(marks):
                    twice.append(f"{path.name}:{node.lineno} {node.name}")
    assert twice == []


@pytest.mark.slow  # imports setuptools: 0.11 s
def test_the_sdist_holds_every_page_the_readme_and_docs_link_to():
    """The source distribution left out docs/ and benchmarks/README.md: README.md's links to them
    (and the docs pages' to each other) were broken in it. MANIFEST.in takes each file linked."""
    root = SRC.parents[1]
    pages = [root / "README.md", *(root / "benchmarks").glob("*.md"), *(root / "docs").glob("*.md")]
    linked = {
        (page.parent / target).resolve().relative_to(root).as_posix()
        for page in pages
        for target in re.findall(r"\]\(([^)#:]+\.md)", page.read_text())
    }
    files = manifest_files([p.relative_to(root).as_posix() for p in pages])
    assert sorted(linked - {"README.md"} - set(files)) == [] and len(linked) >= 13


def manifest_files(candidates: list[str]) -> list[str]:
    """Those of ``candidates`` (paths relative to the repository) that MANIFEST.in's lines add to
    the source distribution (setuptools takes the package, README.md and tests/test*.py without
    them)."""
    from setuptools.command.egg_info import FileList

    root = SRC.parents[1]
    files = FileList()
    files.allfiles = candidates
    manifest = root / "MANIFEST.in"
    for line in manifest.read_text().splitlines() if manifest.exists() else []:
        if line.strip() and not line.startswith("#"):
            files.process_template_line(line)
    return files.files


@pytest.mark.slow  # imports setuptools: 0.11 s
def test_the_sdist_holds_every_module_the_test_suite_imports():
    """setuptools' sdist takes tests/test*.py only: without conftest.py (the fixtures),
    __init__.py (the tests import each other as a package) and xdist_text.py, the suite could not
    run from the source distribution. MANIFEST.in takes every Python file of tests/."""
    root = SRC.parents[1]
    modules = [p.relative_to(root).as_posix() for p in (root / "tests").glob("*.py")]
    helpers = [m for m in modules if not Path(m).name.startswith("test")]
    assert {"tests/conftest.py", "tests/__init__.py", "tests/xdist_text.py"} <= set(helpers)
    assert sorted(set(helpers) - set(manifest_files(modules))) == []


def heading_anchors(page: Path) -> set[str]:
    """The anchors GitHub gives ``page``'s headings (lower case, punctuation but ``-`` and ``_``
    dropped, spaces as ``-``, a repeated one numbered), code blocks' ``#`` lines left out."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    text = re.sub(r"(?ms)^```.*?^```", "", page.read_text())
    for heading in re.findall(r"(?m)^#{1,6} (.+)$", text):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_every_link_of_the_readme_and_docs_reaches_its_page_and_heading():
    """docs/export.md linked benchmarks/README.md's export-check section by an anchor its
    heading no longer gave (the heading had gained its date): the link opened the page's top."""
    root = SRC.parents[1]
    pages = [root / "README.md", *(root / "benchmarks").glob("*.md"), *(root / "docs").glob("*.md")]
    broken, anchors = [], {p: heading_anchors(p) for p in pages}
    for page in pages:
        text = re.sub(r"(?ms)^```.*?^```", "", page.read_text())
        for target in re.findall(r"\]\(([^)\s:]+)\)", text):
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists() or (anchor and anchor not in anchors.get(linked, set())):
                broken.append(f"{page.relative_to(root).as_posix()}: {target}")
    assert broken == [] and len(pages) >= 13
