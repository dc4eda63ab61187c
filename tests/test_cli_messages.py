"""The API's names spelled as the CLI's flags and commands (``cli/messages.py``)."""

import pytest

from .conftest import fake_checkpoint
from .test_cli import run, usage_error


def test_the_cli_spells_each_api_name_as_the_command_does():
    from objrec.cli import cli
    from objrec.cli.messages import to_cli

    split, train = cli.commands["split"], cli.commands["train"]
    assert to_cli("x is not empty: pass `force=True`", split) == "x is not empty: pass --force"
    assert to_cli("`copy=False` and `seed`", split) == "--link and --seed"
    assert to_cli("`src` is empty", split) == "PHOTOS is empty"
    assert to_cli('use `precision="fp32"`', train) == "use --precision fp32"
    assert to_cli("choose another `out`", train) == "choose another --out"  # the option is --out
    assert to_cli("`no_such_thing` is odd", train) == "no_such_thing is odd"
    assert to_cli("continue it with `resume=True`", train) == "continue it with --resume RUN"
    assert to_cli("pass `data_dir`", cli.commands["report"]) == "pass --data"


def test_the_cli_spells_each_api_function_and_call_as_the_command_line_that_does_it():
    """The library names functions and calls as Python does (`train`, `split_folder(...)`); the
    CLI shows objrec's command line that does the same, with the values it knows."""
    from objrec.cli import cli
    from objrec.cli.messages import to_cli

    split, add, evaluate = (cli.commands[name] for name in ("split", "add", "evaluate"))
    assert to_cli("`train` will refuse it", split) == "`objrec train` will refuse it"
    assert to_cli("`split` must be one of", evaluate) == "--split must be one of"  # its option
    call = "keep it until `split_folder('/a b/photos', '/out', force=True)` has"
    assert to_cli(call, split) == "keep it until `objrec split '/a b/photos' /out --force` has"
    assert to_cli("run `audit_folder(data)`", add) == "run `objrec audit DATA`"
    assert to_cli("run `audit_folder(data)`", add, {"data": "s 0"}) == "run `objrec audit 's 0'`"
    evaluated = to_cli("too: `evaluate(old_run, data)`", add, {"data": "s0"})
    assert evaluated == "too: `objrec evaluate OLD_RUN s0`"
    evaluated = to_cli("`evaluate(new_run, data, against=old_run)`", add, {"data": "s0"})
    assert evaluated == "`objrec evaluate NEW_RUN s0 --against OLD_RUN`"
    assert to_cli("`evaluate(run, data, against='a b')`", evaluate).endswith("--against 'a b'`")
    assert to_cli("`no_such(1)` or `train(`", split) == "`no_such(1)` or `train(`"  # left as is
    resumed = to_cli("with `train(data, resume=True)`", cli.commands["train"], {"data": "d"})
    assert resumed == "with `objrec train d --resume RUN`"  # was the command inside itself


def test_the_cli_spells_a_method_of_an_api_call_as_the_commands_flag():
    """The way out of a damaged cache, `open_cache(cache_dir=...).clear()` in Python, is
    `objrec cache --clear --cache-dir ...` at the shell; a value is quoted as the shell needs."""
    from objrec.cli import cli
    from objrec.cli.messages import to_cli

    train = cli.commands["train"]
    said = to_cli("it: `open_cache(cache_dir='/a b/c').clear()` removes it", train)
    assert said == "it: `objrec cache --clear --cache-dir '/a b/c'` removes it"
    said = to_cli("`open_cache(cache_dir='c').clear()`", train, {"cache_dir": "x"})
    assert said == "`objrec cache --clear --cache-dir c`"
    said = to_cli("`open_cache(cache_dir='c').prune(older_than_days=30)`", train)
    assert said == "`objrec cache --prune --cache-dir c --days 30`"  # the method's options too
    for left in ("`open_cache(cache_dir='c').compact()`", "`open_cache('c').clear(1)`"):
        assert to_cli(left, train) == left  # no such flag, or no flag's call: left as it is
    said = to_cli("`check_folder('/my photos')` lists", train)
    assert said == "`objrec check '/my photos'` lists"
    assert to_cli("`export_model('/r')`", train) == "`objrec export /r`"
    assert to_cli("`add_images('/s', 'new')`", cli.commands["add"]) == "`objrec add /s new`"
    assert to_cli("`train`'s output", cli.commands["evaluate"]) == "`objrec train`'s output"


def rendered(node) -> str | None:
    """A string of the library's code as a message would read, or None when ``node`` is no
    string: an f-string's fields and a %-format's are filled with ``'x'`` (a ``!r``/``%r``
    value, a quoted path) or ``x`` (a name); strings joined with ``+`` are joined."""
    import ast
    import re

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.sub(r"%[rsd]", lambda m: "'x'" if m.group() == "%r" else "x", node.value)
    if isinstance(node, ast.JoinedStr):
        field = {ord("r"): "'x'"}  # a value as repr() writes it, else as str() does
        return "".join(
            rendered(v) or "" if isinstance(v, ast.Constant) else field.get(v.conversion, "x")
            for v in node.values
            if isinstance(v, ast.Constant | ast.FormattedValue)
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = rendered(node.left), rendered(node.right)
        return None if left is None or right is None else left + right
    return None


@pytest.mark.slow
def test_every_command_line_the_library_suggests_parses_as_objrec_does():
    """export's warning told a user to retrain with `train(data_dir, run, precision='fp32')`,
    which the CLI spelled `objrec train DATA RUN --precision fp32`: "got unexpected extra
    argument" (train takes --out RUN). Every API call a library sentence names is read from the
    code, spelled as messages.to_cli spells it, and parsed by the command's own parser."""
    import ast

    from objrec.cli.messages import API_NAME, call_spelling, objrec_command

    from .conftest import source_trees

    called, wrong = set(), []
    for path, tree in source_trees():
        if path.parts[0] == "cli":
            continue
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        texts = (rendered(n) for n in ast.walk(tree) if id(n) not in docstrings)
        for match in (m for text in texts if text for m in API_NAME.finditer(text)):
            name, _, arguments = match.groups()
            if arguments is None or objrec_command(name) is None:
                continue  # a parameter, a command named alone, or no command's function
            called.add(name)
            line = call_spelling(name, arguments, {})
            error = "left as Python" if line is None else usage_error(line.strip("`"))
            if error:
                wrong.append(f"{path}: {match.group(0)} -> {line}: {error}")
    assert called >= {"train", "evaluate", "split_folder", "add_images", "audit_folder"}
    assert called >= {"check_folder", "export_model", "open_cache"}
    assert wrong == []


def test_under_torchrun_the_resume_command_keeps_the_launcher(monkeypatch):
    """Ctrl-C under `torchrun --nproc-per-node 2` said `objrec train data --resume run`: pasted,
    it resumed in one process, which ended with other weights than the torchrun run would have
    (best epoch 386 against 249 on 12 Caltech-101 classes), without a word."""
    from objrec.cli import cli
    from objrec.cli.messages import to_cli

    torchrun = {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1"}
    for name, value in torchrun.items():
        monkeypatch.setenv(name, value)
    whole = {"resume": "run", "data": "data"}
    said = to_cli("continue it with `resume=True`", cli.commands["train"], whole)
    assert (
        said == "continue it with `torchrun --nproc-per-node 2 -m objrec train data --resume run`"
    )
    monkeypatch.setenv("WORLD_SIZE", "8")  # 2 a machine on 4 machines
    said = to_cli("continue it with `resume=True`", cli.commands["train"], whole)
    assert "`torchrun --nnodes 4 --nproc-per-node 2 -m objrec train data --resume run`" in said


def test_under_torchrun_the_command_given_is_torchrun_s_own_as_typed(monkeypatch):
    """Ctrl-C under `torchrun --standalone --nproc-per-node 2` said to continue with `torchrun
    --nproc-per-node 2 -m objrec ...`, and provenance.command recorded that: rebuilt from
    torchrun's environment, without --standalone (torchrun then takes port 29500, which another
    job may hold) or --rdzv-* (newcomer60b, 3). torchrun's own words are read where they can be
    (its process's command line), else rebuilt as before."""
    from objrec.cli import cli, messages
    from objrec.cli.messages import to_cli, torchrun_words

    args = ["train", "data", "--out", "run"]
    flags = ["--standalone", "--nproc-per-node", "2", "-m", "objrec"]
    for agent in (
        ["/venv/bin/python3", "/venv/bin/torchrun", *flags, *args],
        ["torchrun", *flags, *args],
        ["python", "-m", "torch.distributed.run", *flags, *args],
    ):
        assert torchrun_words(agent, args) == ["torchrun", *flags]
    assert torchrun_words(["torchrun", *flags, "train", "other"], args) is None
    assert torchrun_words(["python", "-m", "pytest", *flags, *args], args) is None
    assert torchrun_words(["torchrun", *args], args) is None  # no program: not this one's
    for name, value in {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "h"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(messages, "torchrun_as_typed", lambda: ["torchrun", *flags])
    whole = {"resume": "run", "data": "data"}
    said = to_cli("continue it with `resume=True`", cli.commands["train"], whole)
    assert said == (
        "continue it with "
        "`torchrun --standalone --nproc-per-node 2 -m objrec train data --resume run`"
    )
    monkeypatch.setattr(messages, "torchrun_as_typed", lambda: None)  # not Linux: rebuilt
    said = to_cli("continue it with `resume=True`", cli.commands["train"], whole)
    assert "`torchrun --nproc-per-node 2 -m objrec train data --resume run`" in said


def test_messages_that_point_to_resume_name_the_run(capsys, tmp_path, split_dir):
    from objrec.cli import cli
    from objrec.cli.messages import to_cli

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    fake_checkpoint(run_dir / "last.safetensors")  # as a killed run leaves it
    code, _, err = run(capsys, "train", split_dir, "--out", run_dir, "--backbone", "tiny_test")
    err = " ".join(err.split())
    whole_command = f"continue it with `objrec train {split_dir} --resume {run_dir}`,"
    assert code == 1 and whole_command in err and "RUN" not in err  # DATA given, to paste
    assert (
        to_cli("continue it with `resume=True`", cli.commands["train"], {"resume": "my runs/a"})
        == "continue it with --resume 'my runs/a'"
    )
    whole = {"resume": "runs/a", "data": "my data"}  # what Ctrl-C during the head's epochs says
    assert (
        to_cli("continue it with `resume=True`", cli.commands["train"], whole)
        == "continue it with `objrec train 'my data' --resume runs/a`"
    )
