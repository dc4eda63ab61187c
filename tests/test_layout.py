"""The code's shape: short functions, and no later stage reaching into ``train``."""

import ast

from .conftest import source_trees


def test_every_function_in_src_is_under_50_lines():
    long = [
        f"{path.as_posix()}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path, tree in source_trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 >= 50
    ]
    assert long == []


def test_only_the_cli_and_the_demo_import_train():
    importers = {
        path.as_posix()
        for path, tree in source_trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "objrec.train"
    }
    assert importers <= {"cli/training.py", "demo.py"}
