import dataclasses
import importlib
import io
import json
import logging
import os
import re
import shutil
import sys
import time
from pathlib import Path

import click
import pytest
import torch
from safetensors.torch import save_file

from objrec.audit.settings import audit_data_config
from objrec.backbones import BadBackbone, get_backbone
from objrec.checkpoint import load_model
from objrec.cli import main
from objrec.cli.options import OUT_DIR, cache_read_from, expand_greedy
from objrec.cli.output import SentenceHandler
from objrec.config import UNKNOWN_SCORES
from objrec.errors import ObjrecError

from .conftest import COLOURS, fake_checkpoint, make_class_folder, make_image


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def as_split_folder(folder: Path) -> Path:
    """``folder`` with empty train/ and valid/: what train's CLI asks of DATA before the libraries
    load, for a test whose library train is faked."""
    for split in ("train", "valid"):
        (folder / split).mkdir(parents=True, exist_ok=True)
    return folder


def test_objrec_help_all_is_the_help_not_an_unknown_option(capsys):
    """README says every command explains itself with --help and --help-all; `objrec
    --help-all` said "no such option '--help-all' (is it --help?)", exit 2 (newcomer62b, 5). It
    prints objrec's help, whose line says where a command's whole help is."""
    code, out, _ = run(capsys, "--help-all")
    assert code == 0 and out.startswith("Usage: objrec [OPTIONS] COMMAND") and "split " in out
    assert "objrec COMMAND --help-all shows a command in full" in " ".join(out.split())
    code, out, _ = run(capsys, "split", "--help-all")  # a command's own, as before
    assert code == 0 and out.startswith("Usage: objrec split")


def test_help_explains_every_command(capsys):
    from objrec.cli import cli

    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert set(cli.commands) >= {"split", "train", "evaluate", "predict", "export", "serve"}
    for name, command in cli.commands.items():
        assert name in out
        code, page, _ = run(capsys, name, "--help")
        assert code == 0 and command.help and command.help.split()[0] in page, name
        for param in command.params:
            if param.param_type_name == "option" and not param.hidden:
                assert param.help, f"objrec {name} {param.opts[0]} has no help"
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0 and "--aug-views" in out and "A first run needs only DATA and --out" in out
    code, out, _ = run(capsys, "train", "--help-all")  # the whole description, after the brief
    assert code == 0 and "early stopping" in out
    assert "--out RUN " in out and "RUN receives" in out  # the RUN its text names


def test_objrec_help_lists_the_commands_in_the_readme_s_order(capsys):
    """`objrec --help` listed the commands alphabetically (add, apply-plan, audit, backbones,
    cache, check, ...: split and train in the last rows), where README.md's "The commands at a
    glance" gives them in the order a user meets them (review60b F24): it lists them in that
    order now."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme.split("## The commands at a glance\n")[1].split("\n## ")[0]
    order = re.findall(r"(?m)^\| `objrec ([a-z-]+)", table)
    code, out, _ = run(capsys, "--help")
    listed = re.findall(r"(?m)^  ([a-z-]+)  ", out.split("Commands:\n")[1])
    assert code == 0 and listed == order and len(order) >= 17


def test_every_command_s_help_describes_it_in_ten_lines_or_fewer(capsys, monkeypatch):
    """add --help printed 13 lines of description (where a duplicate goes, how files are named,
    the manifest, a likely misspelt class, the retrain after) before its first option, where the
    others print 2 to 10, the rest after the form feed for --help-all (review60b F24)."""
    from objrec.cli import cli

    monkeypatch.setenv("COLUMNS", "80")
    long = {}
    for name in cli.commands:
        code, out, _ = run(capsys, name, "--help")
        lines = out.splitlines()
        first = next(i for i, line in enumerate(lines) if re.fullmatch(r"[A-Z][\w ]*:", line))
        described = [line for line in lines[1:first] if line.strip()]
        if code != 0 or len(described) > 10:
            long[name] = len(described)
    assert long == {}
    code, out, _ = run(capsys, "add", "--help-all")
    assert code == 0 and "An image already in DATA (the same bytes) is skipped" in out


def test_no_default_is_cut_mid_word_at_80_columns(capsys, monkeypatch):
    """audit --help showed "[default: efficientn" and "et_lite0+efficientnet_lite1+..." on the
    next line, and "(DATA-" then "audit)": click cuts a word longer than the help's column, which
    --precision [auto|fp32|int8] had narrowed (review60b F24). Each default shows whole."""
    from objrec.cli import cli

    monkeypatch.setenv("COLUMNS", "80")
    cut = []
    for name, command in cli.commands.items():
        for flag in ("--help", "--help-all"):
            page = " ".join(run(capsys, name, flag)[1].split())
            for option in command.params:
                if not isinstance(option, click.Option) or not option.show_default:
                    continue
                shown = option.show_default
                shown = option.default if not isinstance(shown, str) else shown
                if shown is None or isinstance(shown, bool):
                    continue
                words = ", ".join(map(str, shown)) if isinstance(shown, tuple) else str(shown)
                if " ".join(words.split()) not in page:
                    cut.append((name, flag, option.opts[0]))
    assert cut == []


def test_help_all_ends_with_examples_of_options_the_command_takes(capsys, monkeypatch):
    """No command's help showed how it is typed but objrec --help's and serve's curl (review60b
    F24): split, train, evaluate, predict, add and audit end --help-all with a few command lines
    (docs/commands.md's), each naming only options of its command, whole at 80 columns; --help
    stays short without them."""
    from objrec.cli import cli
    from objrec.cli.sections import HELP_FLAGS

    monkeypatch.setenv("COLUMNS", "80")
    for name in ("split", "train", "evaluate", "predict", "add", "audit"):
        code, out, _ = run(capsys, name, "--help-all")
        assert code == 0 and "\nExamples:\n" in out, name
        lines = out.split("\nExamples:\n")[1].strip("\n").splitlines()
        assert len(lines) >= 2 and all(len(line) <= 80 for line in lines), name
        for line in lines:
            typed = re.match(r"  objrec ([a-z-]+) (.*?)(?:\s+#.*)?$", line)
            assert typed and typed[1] in (name, "apply-plan"), line
            takes = {o for p in cli.commands[typed[1]].params for o in p.opts + p.secondary_opts}
            assert set(re.findall(r"(?<![\w-])--?[a-z][\w-]*", typed[2])) <= takes | HELP_FLAGS
        assert "Examples:" not in run(capsys, name, "--help")[1], name


def test_long_warnings_and_errors_are_wrapped_on_a_terminal_and_whole_on_a_pipe(
    capsys, monkeypatch
):
    """docs/commands.md says long sentences are wrapped at 96 characters, but warnings and
    errors were printed as one line whatever their length (split's warnings of 330 and 470
    characters), which a terminal of 100 columns cut mid-word (review60b F11). On a terminal
    they are wrapped at 96, the later lines indented; on a pipe each stays one line for grep."""
    import logging

    from objrec.cli import output

    words = " ".join(f"word{n}" for n in range(80))
    sentence = f"the split left out many photos: {words}; run `objrec check PHOTOS --json` again"

    def said(terminal: bool) -> list[str]:
        monkeypatch.setattr(output.err, "_force_terminal", terminal)
        monkeypatch.setattr(output.err, "_width", 100)
        output.print_warnings([sentence])
        output.print_error(sentence)
        record = logging.LogRecord("objrec.x", logging.WARNING, __file__, 1, sentence, (), None)
        SentenceHandler().emit(record)
        return re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().err).splitlines()

    wrapped = said(True)
    assert max(map(len, wrapped)) <= 96 and len(wrapped) >= 3 * 5
    assert [line[:8] for line in wrapped if not line.startswith("  ")] == [
        "warning:",
        "error: t",
        "warning:",
    ]
    assert "`objrec check PHOTOS --json`" in "".join(wrapped)  # a command kept whole
    piped = said(False)
    assert piped == [f"warning: {sentence}", f"error: {sentence}", f"warning: {sentence}"]


def test_every_option_s_help_line_is_one_short_sentence():
    """--help shows an option's first sentence; export's --out showed 296 characters in it
    (its default, where the sidecar and script go), audit's --precision 189: each option's help
    starts with a short sentence that names what it sets, the rest for --help-all."""
    from objrec.cli import cli
    from objrec.cli.sections import first_sentences

    long = [
        (name, option.opts[0], len(first_sentences(option.help)))
        for name, command in cli.commands.items()
        for option in command.params
        if isinstance(option, click.Option) and option.help
        if len(first_sentences(option.help)) > 70
    ]
    assert long == []


def test_every_json_option_s_help_line_points_to_its_keys_and_threshold_says_familiarity():
    """`predict --help` showed "--json  Print the answers as JSON." with no pointer to its keys,
    where evaluate's and add's had "(keys: docs/json.md)", and "--threshold  Answer unknown below
    this score." where every answer and line says "familiarity"."""
    from objrec.cli import cli
    from objrec.cli.sections import first_sentences

    lines = {
        (name, option.opts[0]): first_sentences(option.help or "")
        for name, command in cli.commands.items()
        for option in command.params
        if isinstance(option, click.Option) and option.opts[0] in ("--json", "--threshold")
    }
    assert [
        key for key, line in lines.items() if key[1] == "--json" if "docs/json.md" not in line
    ] == []
    assert (
        lines["predict", "--threshold"]
        == lines["serve", "--threshold"]
        == ("Answer unknown below this familiarity.")
    )


def test_json_out_and_force_options_are_made_once_in_options():
    """--json was written out 14 times, each help in its own words (audit's and evaluate's "as one
    JSON object", the others "as JSON"); explore's, audit's and suggest's --out repeated what a
    re-run writes again, and --copy/--link and --new-class, shared by split, add and apply-plan,
    lived in cli/data.py (review60b, "In the code"): options.py makes each, one help apiece."""
    from objrec.cli import cli
    from objrec.cli.options import COPY_OPTION, FORCE_OUT, REWRITTEN, new_class_option
    from objrec.cli.sections import first_sentences

    def option(command: str, flag: str) -> click.Option:
        found = next(p for p in cli.commands[command].params if flag in p.opts)
        assert isinstance(found, click.Option)
        return found

    jsons = [n for n, c in cli.commands.items() if any("--json" in p.opts for p in c.params)]
    assert len(jsons) == 16  # report and demo too (cli62)
    for name in jsons:
        line = first_sentences(option(name, "--json").help or "")
        assert re.fullmatch(r"Print [^.]+ as JSON \(keys: docs/json\.md\)\.", line), name
    for name in ("explore", "audit", "suggest"):
        assert REWRITTEN in (option(name, "--out").help or ""), name
    for name in ("explore", "audit", "suggest", "evaluate"):
        assert (option(name, "--force").help or "").startswith(FORCE_OUT), name
    assert callable(COPY_OPTION) and callable(new_class_option)
    for name in ("split", "add", "apply-plan"):
        assert option(name, "--copy").help == option("split", "--copy").help, name


def test_every_option_of_every_command_is_under_a_heading():
    """A sectioned command lists each option under the heading its ``sections`` gives: an
    option a helper adds without placing it would fall under "More options", unexplained."""
    from objrec.cli import cli
    from objrec.cli.sections import Sectioned

    sectioned = {n for n, c in cli.commands.items() if isinstance(c, Sectioned) and c.sections}
    assert sectioned >= {"train", "serve", "predict", "split", "evaluate"}
    for name in sectioned:
        command = cli.commands[name]
        placed = [n for names in command.sections.values() for n in names]
        options = {p.name for p in command.params if isinstance(p, click.Option) and not p.hidden}
        assert sorted(placed) == sorted(options), name  # each once, and no name it lacks
        assert next(iter(command.sections)) == "Options", name


@pytest.mark.slow
def test_help_all_has_each_option_s_whole_text_and_the_whole_description(capsys):
    """Nothing --help used to say is lost: every command's --help-all (as --help, without the
    arguments the command needs, and under --json) shows each option's whole help and the
    command's whole description."""
    from objrec.cli import cli
    from objrec.cli.sections import Sectioned

    code, out, _ = run(capsys, "train", "--json", "--help-all")
    assert code == 0 and out.startswith("Usage: objrec train") and "--help-all" in out
    for name, command in cli.commands.items():
        assert isinstance(command, Sectioned), name
        code, out, _ = run(capsys, name, "--help-all")
        page = "".join(out.split())
        assert code == 0 and out.startswith(f"Usage: objrec {name}"), name
        for option in command.params:
            if isinstance(option, click.Option) and option.help:
                assert "".join(option.help.split()) in page, (name, option.name)
        description = (command.help or "").replace("\f", "").replace("\b", "")
        assert "".join(description.split()) in page, name


def test_every_train_and_split_setting_is_an_option_of_its_command():
    """A TrainConfig or SplitConfig field the command has no option for is a setting only a
    script can reach: its ``@config_option`` line (train) or ``click.option`` (split) forgotten."""
    from dataclasses import fields

    from objrec.cli.data import split
    from objrec.cli.training import train
    from objrec.config import SplitConfig, TrainConfig

    spelled = {"mode": "copy"}  # --copy/--link
    for config, command in ((TrainConfig, train), (SplitConfig, split)):
        options = {param.name for param in command.params}
        settings = {spelled.get(f.name, f.name) for f in fields(config)}  # type: ignore[arg-type]
        assert settings <= options, f"{command.name}: no option for {settings - options}"


def test_audit_and_predict_options_are_their_settings_own():
    """audit's --backbone, --folds, --seed and --precision show and use AuditConfig's defaults and
    first sentences, and predict's --tta evaluate's (EvaluateConfig.tta): each was written again in
    the CLI, in words of its own (predict's "Average over test-time views."; audit's "Same seed,
    same folds." where the field says what else a seed fixes), so that one could change without
    the other (review60b, "In the code")."""
    from objrec.audit.recipe import AuditConfig
    from objrec.cli.auditing import audit
    from objrec.cli.evaluation import evaluate
    from objrec.cli.prediction import predict
    from objrec.cli.sections import first_sentences
    from objrec.config import EvaluateConfig, field_docs

    params = {param.name: param for param in audit.params}
    for name in ("backbone", "folds", "seed", "precision"):
        assert params[name].default == getattr(AuditConfig, name), name
        said = first_sentences(field_docs(AuditConfig)[name]).replace("``", "")
        assert first_sentences(params[name].help or "") == said.replace("run", "--run"), name
    tta = [next(p for p in c.params if p.name == "tta") for c in (predict, evaluate)]
    assert all(option.is_flag for option in tta) and EvaluateConfig.tta is False  # off, as flags
    assert tta[1].help.startswith(tta[0].help)
    assert first_sentences(tta[0].help, 2) == first_sentences(field_docs(EvaluateConfig)["tta"], 2)


def test_the_seed_help_says_another_machine_may_compute_otherwise():
    """--seed said "Same seed, same run", but the default precisions follow the CPU's features:
    another machine rounds otherwise (docs/commands.md, "Reproducing a result")."""
    from objrec.cli.options import option_help

    text = option_help("seed")
    assert "same run. On this machine" in text and "another CPU may compute otherwise" in text
    assert "--precision and --head-precision" in text and "Reproducing a result" in text


def test_objrec_help_gives_every_command_a_summary_that_reads_whole(capsys, monkeypatch):
    """`objrec --help` cut eight summaries mid-phrase ("Add the images of NEW to DATA (a folder
    made by `objrec split`), as split would..."): each command has a short one of its own, whole
    on an 80-column terminal."""
    from objrec.cli import cli

    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "--help")
    listing = " ".join(out.split("Commands:")[1].split())
    assert code == 0 and "..." not in listing
    for name, command in cli.commands.items():
        assert f"{name} {command.short_help}" in listing, name


def test_every_json_option_points_at_the_page_that_lists_its_keys(capsys):
    """evaluate --json printed some 30 keys found nowhere (known_kept, top1_at_threshold, ...):
    docs/json.md lists each command's keys, and every --json help names it."""
    from objrec.cli import cli

    page = (Path(__file__).parents[1] / "docs" / "json.md").read_text()
    for name, command in cli.commands.items():
        option = next((p for p in command.params if "--json" in p.opts), None)
        if option is not None:
            assert "docs/json.md" in (option.help or ""), name
            assert f"\n## {name}\n" in page, name


@pytest.mark.slow
def test_help_names_every_key_of_an_answer_and_every_manifest_column(capsys):
    """predict --json's help and serve's listed an answer's keys without "barely_familiar", which
    both print, and split's help named manifest.csv's columns without "source"."""
    from objrec.manifest import MANIFEST_COLUMNS, MANIFEST_GROUP
    from objrec.predict import Prediction

    keys = Prediction("a.jpg", [{"class": "x", "prob": 1.0}], score=1.0, line=0.0).to_json()
    for name, shown in (("predict", keys), ("serve", set(keys) - {"path"})):
        code, out, _ = run(capsys, name, "--help-all")
        assert code == 0 and not [k for k in shown if f'"{k}"' not in out], name
    code, out, _ = run(capsys, "split", "--help-all")
    columns = ", ".join([*MANIFEST_COLUMNS, MANIFEST_GROUP])
    assert code == 0 and f"manifest.csv ({columns}:" in " ".join(out.split())


@pytest.mark.slow
def test_report_and_export_through_the_cli(capsys, tmp_path, trained_run, split_dir):
    code, out, _ = run(capsys, "export", trained_run, "--out", tmp_path / "m.onnx", "--json")
    checked = json.loads(out)["answers_checked"]  # against objrec's answers, on real photos
    assert (
        code == 0 and json.loads(out)["max_abs_diff"] <= 1e-4 and list(checked) == ["onnxruntime"]
    )
    assert (
        checked["onnxruntime"]["max_prob_diff"] <= 1e-4 and checked["onnxruntime"]["photos"] == 32
    )
    code, _, err = run(capsys, "export", trained_run, "--out", tmp_path / "m.onnx")
    assert code == 1 and "pass --force" in err
    code, out, _ = run(
        capsys,
        "export",
        trained_run,
        "--out",
        tmp_path / "l.onnx",
        "--logits",
        "--check-photos",
        40,
    )
    sidecar = json.loads((tmp_path / "l.json").read_text())
    assert code == 0 and sidecar["outputs"][0] == "logits" and not sidecar["temperature_applied"]
    assert sidecar["answers_checked"]["onnxruntime"]["photos"] == 40  # more, when asked
    code, out, _ = run(
        capsys, "report", trained_run, "--data", split_dir, "--out", tmp_path / "r.html"
    )
    assert code == 0 and (tmp_path / "r.html").stat().st_size > 10_000 and "report written" in out


def test_without_posix_file_locks_a_command_is_refused_in_one_sentence(
    image_folder, monkeypatch, capsys
):
    """On Windows (no fcntl) every command but --help and --version failed with a traceback
    ending in "No module named 'fcntl'" (portable42): now one sentence, exit 1."""
    monkeypatch.setitem(sys.modules, "fcntl", None)  # `import fcntl` fails, as on Windows
    code, out, said = run(capsys, "check", image_folder)
    assert code == 1 and out == ""
    assert said.startswith("error: objrec needs POSIX file locks") and "WSL" in said
    assert run(capsys, "check", "--help")[0] == 0
    assert run(capsys, "--version")[0] == 0


def test_device_help_speaks_of_torchrun_only_where_it_applies(capsys):
    """A newcomer on one machine read "Under torchrun each rank uses GPU LOCAL_RANK" in predict."""
    for name in ("evaluate", "predict", "serve"):
        code, out, _ = run(capsys, name, "--help-all")
        assert code == 0 and "--device" in out and "torchrun" not in out, name
    code, out, _ = run(capsys, "train", "--help-all")
    said = " ".join(out.split())
    assert code == 0 and "torchrun --nproc-per-node N -m objrec train" in said
    assert "auto and cuda mean each process's own GPU" in said and "LOCAL_RANK" not in said


def test_help_shows_each_option_s_default_and_one_wording_for_one_option(capsys):
    """review55b L6: predict's, serve's and export's --threshold, serve's --max-pixels and
    train's --num-workers showed no default in --help; --runtime listed [torch|onnx] in predict
    and [onnx|torch] in serve; --cache-dir was "Where the network's features are kept" in train
    and add, "The folder where objrec keeps what it worked out" in cache."""
    helps = {
        name: " ".join(run(capsys, name, "--help")[1].split())
        for name in ("predict", "serve", "export", "train", "add", "cache")
    }
    for name in ("predict", "serve", "export"):
        assert re.search(r"--threshold NUMBER [^[]*\[default: \(the run's own\)\]", helps[name])
    assert "[default: (89,478,485, or $OBJREC_MAX_PIXELS)]" in helps["serve"]
    assert "[default: (0 on a CPU, every core but one on a GPU); x>=0]" in helps["train"]
    for name in ("predict", "serve"):
        assert "--runtime [onnx|torch]" in helps[name]
    for name in ("train", "add", "cache"):
        said = "--cache-dir DIRECTORY The folder where objrec keeps what it worked out."
        assert (
            said in helps[name]
            and "[default: ($OBJREC_CACHE, else $XDG_CACHE_HOME/objrec, else ~/.cache/objrec)]"
            in (helps[name])
        )


def test_help_shows_where_each_command_writes_without_out(capsys):
    """review60b F9: --help showed every default but --out's: evaluate, audit, explore, suggest,
    report and export said theirs inside the text, after the first sentence --help shows."""
    for name, default in (
        *(("evaluate", "RUN/eval-SPLIT"), ("audit", "DATA-audit"), ("explore", "DATA-explore")),
        *(("suggest", "RUN/suggest"), ("report", "RUN/report.html"), ("export", "RUN/model.onnx")),
    ):
        code, out, _ = run(capsys, name, "--help")
        said = re.sub(r"-\s+", "-", " ".join(out.split()))  # click wraps after a hyphen
        assert code == 0 and re.search(rf"--out \w+ [^[]*\[default: \({default}\)\]", said), name


def test_every_command_says_the_cache_folders_default_as_objrec_finds_it_and_once(
    capsys, tmp_path, monkeypatch
):
    """review60b F7: --help of every command taking --cache-dir gave "$OBJREC_CACHE, else
    ~/.cache/objrec" for its default, where objrec looks in $XDG_CACHE_HOME/objrec before
    ~/.cache; --help-all then said the default a second time, inside the text."""
    from objrec.cli import cli

    monkeypatch.delenv("OBJREC_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    code, out, err = run(capsys, "cache")
    assert code == 0 and str(tmp_path / "xdg" / "objrec") in " ".join((out + err).split())
    said = "$OBJREC_CACHE, else $XDG_CACHE_HOME/objrec, else ~/.cache/objrec"
    takers = [
        name
        for name, command in cli.commands.items()
        if any(getattr(p, "opts", None) == ["--cache-dir"] for p in command.params)
    ]
    assert {"check", "split", "add", "train", "cache", "backbones"} <= set(takers)
    for name in takers:
        full = " ".join(run(capsys, name, "--help-all")[1].split())
        assert full.count("~/.cache/objrec") == 1 and f"[default: ({said})]" in full, name


def test_runtime_and_cache_help_say_in_plain_words_what_they_change(capsys):
    """serve's and predict's --runtime, and cache's options, spoke of exports, graphs and ONNX
    Runtime's checks to a person who knows none of them: each now says what it changes for them
    and when to pick it."""
    helps = {
        name: " ".join(run(capsys, name, "--help-all")[1].split())
        for name in ("serve", "predict", "cache")
    }
    for name in ("serve", "predict"):
        said = "Which engine computes the answers. It changes how fast they come, not what they say"
        assert said in helps[name]
        assert "exported" not in helps[name] and "checked against PyTorch" not in helps[name]
    assert (
        "Pick torch when that copy cannot be made, or to start without making it" in helps["serve"]
    )
    assert "pick it for many photos of a 32-bit model" in helps["predict"]
    cache = helps["cache"]
    assert "The folder where objrec keeps what it worked out. It keeps, to reuse them" in cache
    assert "Your photos and runs are not touched" in cache and "exported graph" not in cache
    assert "the next train takes as long as a first one" in cache
    assert "Free space and keep what you still use" in cache


def test_help_says_in_plain_words_what_precision_and_the_unknown_score_are(capsys):
    """--help spoke jargon to a newcomer: "The frozen body's arithmetic", "The head's training
    arithmetic", "What tells images of the taught classes", "frozen pretrained body + new head",
    audit's "--backbone: The frozen body". Each now says in words what it is, the term after."""
    helps = {
        name: " ".join(run(capsys, *name.split(), "--help-all" if name else "--help")[1].split())
        for name in ("", "train", "audit", "split", "add")
    }
    assert "EXIF Make" not in helps["split"] and "perceptual hashes, crops" not in helps["split"]
    assert "frozen pretrained body" not in helps[""] and "pretrained networks" in helps[""]
    train = helps["train"]
    assert "For the pretrained network (the frozen body), auto uses 8-bit integers" in train
    assert "While the new head trains, auto uses 16-bit floats" in train
    assert (
        'The way the model tells a photo of its classes from anything else, to answer "unknown"'
        in train
    )
    assert "arithmetic" not in train
    jargon = ("LOCAL_RANK", "AMX", "DataLoader", "rank's", "state-dict", "registry", "Adam's")
    assert [word for word in jargon if word in train] == [], "train --help"
    assert "Out-of-fold" not in helps["audit"] and "Each part's labels are judged" in helps["audit"]
    assert "A first run needs only DATA and --out" in train  # and where the rest is explained
    balance = "none counts every training image alike; weights counts the images of a class"
    assert balance in train  # the choice was rendered as the option --weights
    assert "Only with" not in train  # --mean and --std "only with --weights": any body takes them
    assert "before the network reads it: for --weights trained on other pixel values" in train
    # each second sentence goes on from the first, not says it again or a fragment
    assert train.count("in place of the network's own") == 2  # --mean's and --std's first
    assert "in --out. Or write into" not in train and "Instead of NEW, add" not in helps["add"]
    assert "Rows labelled or answered unknown" in helps["add"]
    page = (Path(__file__).parents[1] / "docs" / "confidence.md").read_text()
    scores = page.split("\n## An unknown score and its threshold\n")[1].split("\n## ")[0]
    assert not [s for s in UNKNOWN_SCORES if f"- `{s}`" not in scores and s != "mahalanobis+knn"]
    assert 'docs/confidence.md, "An unknown score and its threshold", says what each' in train
    assert "--backbone NAME The pretrained network, or networks joined by +," in helps["audit"]
    assert "How the pretrained networks compute. Without --run, 8-bit integers" in helps["audit"]


@pytest.mark.parametrize(
    ("command", "module", "function"),
    [
        ("evaluate", "objrec.evaluate", "run_evaluation"),
        ("suggest", "objrec.suggest", "suggest"),
        ("explore", "objrec.explore", "explore"),
        ("audit", "objrec.audit.recipe", "audit"),
    ],
)
def test_commands_of_a_heavy_import_say_they_load_the_libraries_first(
    capsys, tmp_path, monkeypatch, command, module, function
):
    """evaluate, predict, suggest and audit showed nothing for 2 to 6 s while they imported
    PyTorch (the check of evaluate's and predict's arguments' order imported it too) and explore
    for 3 to 5 s (pandas, matplotlib): each says what it is doing at once, as report does.
    predict imports PyTorch under its "loading the model" line, once it has an image to predict
    (``test_a_quick_command_imports_no_heavy_library``)."""
    import sys
    import types

    def stop(*args, **kwargs):
        raise ObjrecError("stopped here")

    (tmp_path / "run").mkdir()
    fake_checkpoint(tmp_path / "run" / "model.safetensors")
    (tmp_path / "data" / "cat").mkdir(parents=True)
    fake = types.ModuleType(module)  # its function stops once the import is done
    setattr(fake, function, stop)
    fake.default_suggest_dir = lambda run: run / "suggest"  # type: ignore[attr-defined]
    fake.AuditConfig = dict  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module, fake)
    alone = command in ("explore", "audit")  # DATA alone
    paths = [tmp_path / "data"] if alone else [tmp_path / "run", tmp_path / "data"]
    code, _, err = run(capsys, command, *paths)
    assert code == 1 and err.startswith("loading the libraries ...") and "stopped here" in err


@pytest.mark.parametrize("command", ["serve", "train"])
def test_serve_and_train_say_they_load_the_libraries_before_importing_them(
    capsys, tmp_path, monkeypatch, command
):
    """`objrec serve RUN` sat silent for 3 s (more under load) importing FastAPI and PyTorch
    before its first line, "loading the model"; `objrec train DATA --out RUN`, the command a
    train-fix-retrain loop runs most, 6.6 s at a load of 7 (PyTorch, objrec.train)."""
    import types

    def stop(name: str):
        raise ObjrecError("stopped here")  # any name asked of the module: the import is done

    module = {"serve": "objrec.serve.server", "train": "objrec.train"}[command]
    fake = types.ModuleType(module)
    fake.__getattr__ = stop  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, module, fake)
    (tmp_path / "run").mkdir()
    fake_checkpoint(tmp_path / "run" / "model.safetensors")
    as_split_folder(tmp_path / "data")  # train refuses any other before its first line
    args = (
        [tmp_path / "run"] if command == "serve" else [tmp_path / "data", "--out", tmp_path / "new"]
    )
    code, _, err = run(capsys, command, *args)
    assert code == 1 and err.startswith("loading the libraries ...") and "stopped here" in err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["predict", "run", "missing.jpg", "--device", "gpu"], "--device must be auto, cpu, cuda"),
        (["serve", "run", "--device", "gpu"], "--device must be auto, cpu, cuda or cuda:N"),
        (["evaluate", "run", "run", "--device", "gpu"], "--device must be auto, cpu, cuda"),
    ],
)
def test_a_misspelt_device_is_said_at_once(capsys, tmp_path, monkeypatch, args, said):
    """`predict RUN missing.jpg --device gpu` said only that the file is missing, and the typo
    after PyTorch loaded once there was an image; `serve` said it after its imports (seconds)."""
    import types

    def stop(name: str):
        raise ObjrecError("stopped here")  # any name asked of the module: the import is done

    fake = types.ModuleType("objrec.serve.server")
    fake.__getattr__ = stop  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "objrec.serve.server", fake)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    fake_checkpoint(tmp_path / "run" / "model.safetensors")
    code, _, err = run(capsys, *args)
    assert code == 2 and err.startswith(f"error: {said}"), err  # a usage error


def test_exclude_takes_several_values_after_one_flag():
    assert expand_greedy(["split", "a", "b", "--exclude", "X", "Y", "--seed", "1"]) == [
        "split",
        "a",
        "b",
        "--exclude",
        "X",
        "--exclude",
        "Y",
        "--seed",
        "1",
    ]


@pytest.mark.parametrize(
    "given, came",
    [(["--exclude", "-v"], "-v"), (["--classes", "--seed", "1"], "--seed"), (["--exclude"], None)],
)
def test_a_greedy_flag_without_a_class_name_is_refused(capsys, tmp_path, given, came):
    """``split PHOTOS OUT --exclude -v`` dropped --exclude without a word (expand_greedy found no
    value before the next option) and split every class."""
    (tmp_path / "photos" / "a").mkdir(parents=True)
    code, out, err = run(capsys, "split", tmp_path / "photos", tmp_path / "out", *given)
    flag = given[0]
    assert code == 2 and out == "" and not (tmp_path / "out").exists()
    assert err.startswith(f"error: {flag} has no class name after it"), err
    assert (f"({came} came next)" in err) == (came is not None)
    assert " ".join(err.split()).endswith("as class names (see objrec split --help)")
    code, _, err = run(capsys, "check", tmp_path / "photos", *given)  # no such option: click's
    assert code == 2 and f"no such option '{flag}'" in err, err


@pytest.mark.parametrize("where", [1, 0])
def test_a_folder_taken_by_exclude_is_said_so(capsys, tmp_path, where):
    """objrec split PHOTOS --exclude A OUT said only "missing argument 'OUT'": --exclude had taken
    OUT as a second class to leave out."""
    args = ["split", tmp_path, tmp_path / "out"]
    args[where + 1 : where + 1] = ["--exclude", "blue"]
    code, _, err = run(capsys, *args)
    name = ("PHOTOS", "OUT")[where]
    assert code == 2 and f"missing argument '{name}'" in err
    assert f"--exclude takes every word after it up to the next option: give {name} before" in err
    assert " ".join(err.split()).endswith("before --exclude (see objrec split --help)")
    code, out, _ = run(capsys, "split", "--help-all")  # and its help says so
    assert code == 0 and "give PHOTOS and OUT before it" in " ".join(out.split())


@pytest.mark.slow
def test_split_explore_train_evaluate_predict_through_the_cli(capsys, tmp_path, image_folder):
    data, run_dir = tmp_path / "data", tmp_path / "run"
    code, out, _ = run(capsys, "split", image_folder, data, "--exclude", "blue", "--json")
    assert code == 0 and json.loads(out)["totals"] == {"train": 12, "valid": 6, "test": 6}
    code, out, _ = run(capsys, "explore", data, "--out", tmp_path / "explore")
    assert code == 0 and "green" in out and (tmp_path / "explore" / "images_per_class.png").exists()
    code, out, _ = run(
        capsys,
        "train",
        data,
        "--out",
        run_dir,
        "--backbone",
        "tiny_test",
        "--epochs",
        "3",
        "--batch-size",
        "4",
        "--aug-views",
        "1",
        "--json",
    )
    summary = json.loads(out)
    assert code == 0 and summary["epochs_run"] == 3 and summary["params"]["trainable"] > 0
    for name in ("model.safetensors", "config.json", "history.csv", "curves.png", "summary.json"):
        assert (run_dir / name).exists(), name
    code, out, _ = run(capsys, "evaluate", run_dir, data, "--json")
    metrics = json.loads(out)
    assert code == 0 and {"top1", "top5", "loss", "n"} <= set(metrics) and metrics["n"] == 6
    assert 0 <= metrics["top1"] <= 1 and metrics["top5"] is None  # two classes: no top-5
    code, out, _ = run(capsys, "evaluate", run_dir, data)
    assert code == 0 and ("Every class" in out or "Worst classes: none" in out) and "top-1" in out
    assert "top-5" not in out  # three classes: top-5 would be 100% by definition
    code, out, _ = run(
        capsys,
        "predict",
        run_dir,
        data / "test" / "red",
        "--topk",
        "2",
        "--json",
        "--plot",
        tmp_path / "p.png",
    )
    predictions = json.loads(out)
    assert code == 0 and len(predictions) == 3 and (tmp_path / "p.png").exists()
    assert all(len(p["topk"]) == 2 and {"class", "prob"} == set(p["topk"][0]) for p in predictions)
    code, out, _ = run(capsys, "train", data, "--out", run_dir, "--backbone", "tiny_test")
    assert code == 1  # a trained model is never overwritten without --force


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["split", "{tmp}/nope", "{tmp}/out"], "does not exist"),
        (["split", "{photos}", "{tmp}/out", "--ratios", "0.5", "0.3", "0.3"], "sum to 1"),
        (["train", "{photos}", "--out", "{tmp}/run"], "not a split folder"),
        (["train", "{data}", "--out", "{tmp}/run", "--backbone", "resnet9000"], "unknown backbone"),
        (["train", "{data}", "--out", "{tmp}/run", "--epochs", "0"], "--epochs"),
        (["evaluate", "{tmp}", "{data}"], "written by `objrec train`"),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_clear_sentence(
    capsys, tmp_path, split_dir, args, message
):
    (tmp_path / "run").mkdir(exist_ok=True)
    photos = tmp_path / "photos"
    args = [a.format(tmp=tmp_path, photos=photos, data=split_dir) for a in args]
    code, _, err = run(capsys, *args)
    assert code != 0
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 4


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["train", "{tmp}", "--out", "{tmp}/run", "--epochs", "-1", "--json"], "--epochs"),
        (["train", "{tmp}", "--out", "{tmp}/run", "--dropout", "1.5", "--json"], "--dropout"),
        (
            ["train", "{tmp}", "--out", "{tmp}/run", "--finetune-blocks", "99"],
            "--finetune-blocks must",
        ),
        (["predict", "{tmp}", "{tmp}", "--topk", "0", "--json"], "--topk"),
        (["split", "{tmp}", "{tmp}/out", "--ratios", "0.5", "0.5", "0.5", "--json"], "--ratios"),
        (["serve", "{tmp}", "--workers", "0"], "--workers"),
    ],
)
def test_an_option_value_out_of_range_is_a_usage_error_naming_it(capsys, tmp_path, args, flag):
    """They exited 1, as a failed run does, while click's own type errors (``--epochs x``) exit
    2: a script could not tell a wrong command line from a failure (docs/json.md)."""
    args = [a.format(tmp=tmp_path) for a in args]
    for split in ("train", "valid") if args[0] == "train" else ():
        (tmp_path / split).mkdir()  # a split folder's shape: what train refuses before its options
    code, out, err = run(capsys, *args)
    err = err.removeprefix("loading the libraries ...\n")  # a body's blocks are torch's to count
    assert code == 2 and out == "" and err.startswith("error: ") and flag in err, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()


def test_an_empty_class_folder_says_what_to_do_with_it(capsys, tmp_path, split_dir):
    """A teacher's check said "empty: class folder holds no images: it would shift every later
    label", and train "error: class folder .../train/zebra holds no images": neither said what to
    do. Both now end: delete it, or put photos of the class in it."""
    advice = "holds no images: delete it, or put photos of the class in it"
    photos = make_class_folder(tmp_path / "mine", per_class=3, classes=("red", "green"))
    (photos / "empty").mkdir()
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    assert code == 1 and f"empty: class folder {advice}" in said and "shift" not in said
    (split_dir / "train" / "zebra").mkdir()
    code, _, err = run(
        capsys, "train", split_dir, "--out", tmp_path / "run", "--backbone", "tiny_test"
    )
    assert code == 1 and f"zebra {advice}" in " ".join(err.split())


def listing(folder: Path) -> list[str]:
    """Every entry under ``folder``, hidden ones too, as paths relative to it."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    ("command", "whose", "how"),
    [
        ("evaluate", "$OBJREC_CACHE", "set OBJREC_CACHE to a folder outside it"),
        ("predict", "$OBJREC_CACHE", "set OBJREC_CACHE to a folder outside it"),
        ("suggest", "$OBJREC_CACHE", "set OBJREC_CACHE to a folder outside it"),
        ("evaluate", "the run's", "move it out of there (then set OBJREC_CACHE to where it went)"),
        ("audit", "the run's", "give --cache-dir outside it"),
    ],
)
def test_every_command_refuses_the_cache_folder_it_would_use_inside_what_it_reads(
    capsys, monkeypatch, tmp_path, command, whose, how
):
    """late60 L5: the refusal of a cache folder inside the folder a command reads was each
    command's own, and checked --cache-dir (else $OBJREC_CACHE) only: evaluate, predict and
    suggest, which have no --cache-dir, wrote store/ into DATA with OBJREC_CACHE=DATA/cache, and
    audit --run (evaluate too) into the run's cache folder there. One check refuses each, before
    the libraries load, naming the folder, whose it is and how to choose another."""
    for name in ("evaluate", "predict", "suggest", "audit.recipe"):
        monkeypatch.setitem(sys.modules, f"objrec.{name}", None)  # importing it now fails
    data = make_class_folder(tmp_path / "photos", per_class=1)
    (model := tmp_path / "run").mkdir()
    (model / "model.safetensors").write_bytes(b"")
    cache = data / "cache"
    if whose == "the run's":
        cache.mkdir()
        (model / "config.json").write_text(json.dumps({"cache_dir": str(cache)}))
        whose = "the run's, from train's --cache-dir"
    else:
        monkeypatch.setenv("OBJREC_CACHE", str(cache))
    before = listing(data)
    args = [data, "--run", model] if command == "audit" else [model, data]
    code, _, err = run(capsys, command, *args)
    what = {"predict": "folder", "suggest": "image folder"}.get(command, "data folder")
    said = f"the cache folder {cache} ({whose}) lies inside the {what} {data}: {how}"
    assert code == 2 and said in " ".join(err.split()), err
    assert listing(data) == before


def test_a_cache_folder_below_a_hidden_folder_of_what_is_read_is_not_refused(tmp_path):
    """`objrec predict RUN ~` was refused for the default ~/.cache/objrec inside ~ (late61 L2),
    though no listing walks into a hidden folder, so the cache there is never read as photos;
    one a listing would walk into is refused still."""
    home = tmp_path / "home"
    assert not cache_read_from(home / ".cache" / "objrec", home)
    assert cache_read_from(home / "cache" / "objrec", home) and cache_read_from(home, home)
    assert not cache_read_from(tmp_path / "elsewhere", home)


@pytest.mark.parametrize("command", ["split", "check"])
def test_a_cache_dir_holding_photos_is_refused_and_left_as_it_was(
    capsys, image_folder, tmp_path, command
):
    """review60b F1: only `objrec cache` refused a --cache-dir holding other things; split (and
    check, train, add, which keep the file index or image facts there) wrote their files into a
    folder of photos given as the cache folder. Every command that makes the cache folder's
    store or facts refuses it now, writing nothing there."""
    photos = Path(shutil.copytree(image_folder, tmp_path / "other-photos"))
    before = listing(photos)
    args = [tmp_path / "data"] if command == "split" else []
    code, _, err = run(capsys, command, image_folder, *args, "--cache-dir", photos)
    assert code == 1 and f"{photos} is not a cache folder of objrec's" in " ".join(err.split())
    assert listing(photos) == before


@pytest.mark.parametrize("as_json", [False, True])
def test_a_closed_pipe_ends_a_command_as_a_shell_says_it(
    capsys, image_folder, monkeypatch, as_json
):
    """review60b F4: `objrec check photos | head -1` exited 1 and said nothing (rich's
    Console.on_broken_pipe), check's "something unusable" to `set -o pipefail` or `| grep -q`;
    it exits 141 now (128 + SIGPIPE, as a shell reports `yes | head`), saying nothing, and so
    does --json's answer (click.echo's BrokenPipeError was "error: ... Broken pipe", exit 1)."""
    read, write = os.pipe()
    os.close(read)
    closed = os.fdopen(write, "w")
    monkeypatch.setattr(sys, "stdout", closed)
    try:
        code = main(["check", str(image_folder), *(["--json"] if as_json else [])])
    finally:
        monkeypatch.undo()
        closed.close()
    assert code == 141 and not capsys.readouterr().err


def test_help_read_by_a_closed_pipe_ends_as_a_shell_says_it(capsys, monkeypatch):
    """`objrec check --help | head -1` exited 1: click's ``main`` ends a broken pipe met in
    parsing (``--help`` is written there) as a silent exit 1, before objrec's handler sees it.
    It exits 141, saying nothing, as a command's output cut short does."""
    read, write = os.pipe()
    os.close(read)
    closed = os.fdopen(write, "w")
    monkeypatch.setattr(sys, "stdout", closed)
    try:
        code = main(["check", "--help"])
    finally:
        monkeypatch.undo()
        closed.close()
    assert code == 141 and not capsys.readouterr().err


def test_a_broken_pipe_not_stdouts_is_an_error_naming_where_it_broke(
    capsys, image_folder, monkeypatch
):
    """late60 M2: a broken pipe met in a command (a process it wrote to that died) ended it with
    no word: click's ``main`` made it a silent exit 1, and objrec's handler took any broken pipe
    for stdout's reader gone (141). Only a closed stdout ends silently; another broken pipe is an
    error, one sentence naming where it broke, exit 1."""
    from objrec import check

    def check_folder(*args, **kwargs):
        read, write = os.pipe()
        os.close(read)
        try:
            os.write(write, b"photos")  # the reader is gone: EPIPE
        finally:
            os.close(write)

    monkeypatch.setattr(check, "check_folder", check_folder)
    assert main(["check", str(image_folder)]) == 1
    said = capsys.readouterr().err
    assert said.startswith("error: a pipe broke in objrec/cli/data.py (")  # check's, here
    assert ": the process or connection reading it went away (broken pipe), not the " in said
    assert len(said.strip().splitlines()) == 1


def test_a_broken_pipe_s_sentence_shows_its_file_as_it_is_named(capsys, image_folder, monkeypatch):
    """b7ca9317 escaped the sentence for rich, and print_error escapes what it is given (3b677788):
    a pipe named `/tmp/[red]fifo` was said with a backslash before its bracket."""
    from objrec import check

    def check_folder(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe", "/tmp/[red]fifo")

    monkeypatch.setattr(check, "check_folder", check_folder)
    assert main(["check", str(image_folder)]) == 1
    assert capsys.readouterr().err.startswith("error: a pipe to /tmp/[red]fifo broke in objrec/")


WRONG_VALUES = {
    "classes named wrong": (
        ["split", "{photos}", "{tmp}/d", "--classes", "Red", "green"],
        "--classes names classes that",
    ),
    "exclude leaves none": (
        ["split", "{photos}", "{tmp}/d", "--classes", "red", "--exclude", "red"],
        "--exclude leaves out every class --classes names",
    ),
    "groups without columns": (
        ["split", "{photos}", "{tmp}/d", "--groups", "{tmp}/afile.txt"],
        "the --groups file {tmp}/afile.txt needs the columns file and group",
    ),
    "like no split": (
        ["split", "{photos}", "{tmp}/d", "--like", "{photos}"],
        "--like {photos} is not a split folder",
    ),
    "weights of an ensemble": (
        ["train", "{data}", "--out", "{tmp}/new", "--weights", "{tmp}/afile.txt"],
        "--weights loads one network, not the ensemble",
    ),
    "export to json": (
        ["export", "{run}", "--out", "{tmp}/ex/m.json"],
        "--out {tmp}/ex/m.json ends in .json",
    ),
    "serve no host": (["serve", "{run}", "--host", "not a host"], "--host not a host names no"),
    "train of no split": (  # the same mistake as --like's (review65b M2), exit 1 before
        ["train", "{photos}", "--out", "{tmp}/new"],
        "{photos} is not a split folder",
    ),
    "add to no split": (["add", "{photos}", "{photos}/red"], "{photos} is not a split folder"),
    "add a class misspelt": (
        ["add", "{data}", "{photos}/red", "--class", "redd", "--dry-run"],
        "--class redd (is it red?) is named like a class of the data folder",
    ),
    "add a class of another case": (
        ["add", "{data}", "{photos}/red", "--class", "Red", "--dry-run"],
        "--class 'Red' and the data folder's class 'red' differ only in case",
    ),
    "add without its class": (
        ["add", "{data}", "{photos}/red", "--dry-run"],
        "holds images but no class folders: name their class with --class",
    ),
    "ratios too few": (  # click took --dry-run as the third: "'--dry-run' is not a number"
        ["add", "{data}", "{photos}/red", "--class", "red", "--ratios", "0.5", "0.5", "--dry-run"],
        "--ratios takes 3 values and was given 2, so it took --dry-run as one: give all 3",
    ),
    "audit run no run": (
        ["audit", "{photos}", "--run", "{tmp}/afile.txt", "--out", "{tmp}/d"],
        "--run {tmp}/afile.txt is not an objrec checkpoint",
    ),
}


@pytest.mark.parametrize("case", WRONG_VALUES)
def test_a_wrong_option_value_is_a_usage_error_whichever_layer_sees_it(
    capsys, tmp_path, image_folder, split_dir, trained_run, case
):
    """review60b F3: docs/json.md promises exit status 2 for a value naming nothing objrec
    knows and for options that do not go together, but each of these exited 1, the library
    refusing it as any failure (train's --weights after loading the libraries). Each is a usage
    error now, naming the option, ending as click's do."""
    (tmp_path / "afile.txt").write_text("name,label\nx,y\n")
    args, said = WRONG_VALUES[case]
    where = {"photos": image_folder, "tmp": tmp_path, "data": split_dir, "run": trained_run}
    code, out, err = run(capsys, *(a.format(**where) for a in args))
    error = " ".join(err.split())
    assert code == 2 and said.format(**where) in error, err
    assert error.endswith(f"(see objrec {args[0]} --help)") and "loading the libraries" not in err
    assert not out and not (tmp_path / "d").exists() and not (tmp_path / "new").exists()


def test_logged_warnings_read_as_the_cli_s_own(capsys):
    """A library warning printed as '[12/01/26 06:22:32] WARNING  ...', wrapped and padded to the
    terminal's width, beside the CLI's own 'warning: ...' lines."""
    handler = SentenceHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("objrec.test_sentences")
    log.addHandler(handler)
    printed = io.StringIO()  # a library that prints its own warnings (huggingface_hub's retries)
    own, quiet = logging.getLogger("printinglib"), logging.getLogger("quietlib")
    own.addHandler(logging.StreamHandler(printed))
    quiet.addHandler(logging.NullHandler())
    try:
        log.warning("%s was left by a split that was killed: it can be deleted", "data/[x]")
        log.error("caf%s.jpg cannot be read", "\udce9")  # a name that is not UTF-8
        for name in ("printinglib.download", "quietlib.download"):  # as the root's handler sees
            handler.handle(
                logging.getLogger(name).makeRecord(name, 30, "", 0, "retrying", (), None)
            )
    finally:
        log.removeHandler(handler)
        own.handlers.clear()
        quiet.handlers.clear()
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "warning: data/[x] was left by a split that was killed: it can be deleted",
        "error: caf\\xe9.jpg cannot be read",
        "warning: retrying",  # quietlib's, once; printinglib's was printed twice
    ]


@pytest.mark.slow
def test_predict_and_split_follow_linked_class_folders(capsys, tmp_path, trained_run):
    real = make_class_folder(tmp_path / "real", per_class=3)
    photos = tmp_path / "linked"
    photos.mkdir()
    for name in ("red", "green"):
        (photos / name).symlink_to(real / name, target_is_directory=True)
    code, out, err = run(capsys, "predict", trained_run, photos, "--json")
    assert code == 0, err
    assert len(json.loads(out)) == 6
    code, out, _ = run(capsys, "split", photos, tmp_path / "data2", "--json")
    assert code == 0 and sum(json.loads(out)["totals"].values()) == 6


@pytest.mark.slow
def test_a_split_without_test_trains_and_evaluate_says_there_is_no_test_split(
    capsys, tmp_path, image_folder
):
    data, run_dir = tmp_path / "data", tmp_path / "run"
    code, _, _ = run(capsys, "split", image_folder, data, "--ratios", "0.67", "0.33", "0")
    assert code == 0 and sorted(p.name for p in data.iterdir() if p.is_dir()) == ["train", "valid"]
    args = ("--backbone", "tiny_test", "--epochs", "2", "--aug-views", "0")
    code, _, err = run(capsys, "train", data, "--out", run_dir, *args)
    assert code == 0, err
    code, _, err = run(capsys, "evaluate", run_dir, data)
    said = " ".join(err.split())
    assert code == 1 and "has no test split (only train and valid)" in said
    assert said.endswith("choose --split valid") and "split=" not in said  # the CLI's terms
    code, _, err = run(capsys, "report", run_dir)
    said = " ".join(err.split())
    assert code == 1 and "no evaluation to report yet" in said and "has no test split" in said
    assert said.endswith(f"on your test images (`objrec evaluate {run_dir} DATA`)"), said
    code, out, _ = run(capsys, "evaluate", run_dir, data, "--split", "valid", "--json")
    assert code == 0 and json.loads(out)["n"] == 12
    code, _, err = run(capsys, "report", run_dir)
    page = (run_dir / "report.html").read_text()
    assert code == 0 and "evaluation of <code>data/valid</code>" in page  # by the data's name


def test_swapped_run_and_data_say_which_comes_first(capsys, trained_run, split_dir):
    for command, data in (("evaluate", split_dir), ("predict", split_dir / "test")):
        code, out, err = run(capsys, command, data, trained_run)
        assert code == 2 and out == ""  # a usage error (review53b L11)
        assert (
            f"no checkpoint at {data / 'model.safetensors'} ({trained_run} comes first: "
            f"objrec {command} {trained_run} {data})"
        ) in " ".join(err.split())
    code, _, err = run(capsys, "evaluate", split_dir / "test" / "red", split_dir)
    assert code == 1 and "comes first" not in err  # no checkpoint in either: nothing to swap
    code, _, err = run(capsys, "add", split_dir / "test", split_dir)  # NEW DATA
    assert code == 2 and "the split folder comes first" in err, err


@pytest.mark.slow  # four fresh interpreters importing objrec's CLI (1 to 5 s each)
def test_a_run_that_is_none_is_said_before_the_libraries_load(tmp_path):
    """review65b M2: `audit photos --run afile.txt` said "afile.txt is not an objrec checkpoint"
    after "loading the libraries", naming no option, exit 1; evaluate, export and suggest given
    a folder that is no run said "no checkpoint at ..." after loading the libraries and the
    model. audit's --run is now a usage error naming it (2); the others say it at once (1, as
    predict and report do)."""
    import subprocess

    make_class_folder(tmp_path / "photos", per_class=2)
    (tmp_path / "afile.txt").write_text("not a model")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    no_model = "error: no checkpoint at photos/model.safetensors"
    said = {
        ("audit", "photos", "--run", "afile.txt"): (
            2,
            "error: --run afile.txt is not an objrec checkpoint",
        ),
        ("evaluate", "photos", "photos"): (1, no_model),
        ("export", "photos"): (1, no_model),
        ("suggest", "photos", "photos"): (1, no_model),
    }
    for args, (code, sentence) in said.items():
        command = [sys.executable, "-m", "objrec", *args]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
        err = " ".join(done.stderr.split())
        assert done.returncode == code and err.startswith(sentence), (args, err)
        assert "loading" not in err and not list(tmp_path.glob("photos-*"))


def test_a_folder_one_may_not_enter_is_no_checkpoint_not_a_traceback(
    monkeypatch, trained_run, tmp_path
):
    """`predict RUN FOLDER` with a folder one may not enter (Python 3.11's is_file raises
    PermissionError there): the swapped-order check raised it before predict could say so."""
    import pathlib

    from objrec.checkpoint import is_checkpoint
    from objrec.cli.options import refuse_swapped

    locked, is_file = tmp_path / "locked", pathlib.Path.is_file
    locked.mkdir()

    def refused(path):
        if path.parent == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return is_file(path)

    monkeypatch.setattr(pathlib.Path, "is_file", refused)
    assert not is_checkpoint(locked)
    refuse_swapped("predict", trained_run, locked)
    refuse_swapped("predict", locked, trained_run)  # a locked first argument: not called a swap


def test_a_task_whose_steps_are_not_images_says_what_it_counts(monkeypatch):
    """The int8 copy's progress read "reading the calibration images: 0/46 (0%)", then
    "preparing the graph: 3/46": 46 steps shown next to "images". A task says what its steps
    are (``Reporter.counts``) and its count says so: "3/46 steps (7%)"."""
    from objrec.cli import output
    from objrec.progress import Prefixed

    lines: list[str] = []
    monkeypatch.setattr(output.err, "print", lambda line, **_: lines.append(line))
    monkeypatch.setattr(output, "PLAIN_PROGRESS_SECONDS", 0.0)  # a line at every step
    reporter = Prefixed(output.RichReporter(), "")
    with reporter.task("making the copy", 46) as advance:
        reporter.counts("steps")
        reporter.doing("reading the calibration images")
        advance(3)
    assert "making the copy: reading the calibration images: 0/46 steps (0%)" in lines[0]
    assert lines[-1].startswith("making the copy: 3/46 steps (7%)")
    with reporter.task("frozen pass", 10) as advance:  # the next task counts no steps
        advance(10)
    assert lines[-1].startswith("frozen pass: 10/10 (100%)")


@pytest.mark.slow
def test_progress_reaches_a_pipe_or_a_log_as_plain_lines(capsys, monkeypatch, tmp_path, split_dir):
    import objrec.cli.output

    monkeypatch.setattr(objrec.cli.output, "PLAIN_PROGRESS_SECONDS", 0.0)
    code, _, err = run(capsys, "explore", split_dir, "--out", tmp_path / "explore")
    assert code == 0
    assert "reading image sizes: 1/" in err and ", done" in err and "\x1b" not in err


@pytest.mark.slow  # 0.08-0.12 s on 2 cores (three runs of the quick tier)
def test_split_and_add_count_files_not_steps_in_their_progress(
    capsys, monkeypatch, tmp_path, image_folder, known_facts
):
    """split said "hashing files: 72/72" of 36 images: it counted two steps a file (the hash,
    then the image read), and add's count never reached its end (the files its store knew were
    one step). split's near-duplicate search (every image against every other: 20 minutes of
    60,000 images on 2 cores) showed nothing; it counts the images too, a pass each. So do its
    reading of the photos' EXIF for bursts and its copying (both showed nothing)."""
    import objrec.cli.output

    monkeypatch.setattr(objrec.cli.output, "PLAIN_PROGRESS_SECONDS", 0.0)
    n = len(list(image_folder.rglob("*.*")))
    code, _, err = run(capsys, "split", image_folder, tmp_path / "data")
    done = [line.split(",")[0] for line in err.splitlines() if line.endswith(", done")]
    assert code == 0 and done == [
        f"hashing files: {n}/{n} (100%)",
        f"reading images: {n}/{n} (100%)",
        f"comparing images: {n}/{n} (100%)",  # the near-duplicate search: minutes at 60,000
        f"comparing turned and trimmed: {n}/{n} (100%)",
        f"comparing crops: {n}/{n} (100%)",
        f"reading camera times: {n}/{n} (100%)",  # bursts: 2.5 ms a photo read
        f"copying files: {n}/{n} (100%)",  # minutes of 60,000 phone photos
    ]
    new = tmp_path / "new" / "red"
    new.mkdir(parents=True)
    make_image((10, 200, 200)).save(new / "cyan.png")
    code, _, err = run(capsys, "add", tmp_path / "data", tmp_path / "new")
    done = [line.split(",")[0] for line in err.splitlines() if line.endswith(", done")]
    assert code == 0 and done[:2] == [
        f"hashing files: {n + 1}/{n + 1} (100%)",
        f"reading images: {n + 1}/{n + 1} (100%)",
    ]


def after_legend(err: str) -> list[str]:
    """The lines of ``err`` after the epoch table's legend (its three lines)."""
    from objrec.cli.output import EPOCH_LEGEND

    return err.splitlines()[len(EPOCH_LEGEND.splitlines()) :]


def marked_lines(min_delta: float, losses: list[float], capsys) -> tuple[str, list[int], int]:
    """The legend, the epochs whose lines are marked kept so far, and the epoch early stopping
    keeps, for a fit of ``losses`` (valid losses, from epoch 1) at ``--min-delta min_delta``;
    the line under the table names that epoch."""
    from objrec.cli.output import RichReporter, loss_text
    from objrec.engine import EarlyStopping

    reporter, stopper = RichReporter(), EarlyStopping(patience=99, min_delta=min_delta)
    for epoch, loss in enumerate(losses, start=1):
        stopper.step(loss, epoch)
        record = {"epoch": epoch, "train_loss": loss, "train_acc": 1.0, "valid_loss": loss}
        best = stopper.best_epoch == epoch  # as ``engine.end_epoch`` marks it
        reporter.epoch(record | {"valid_acc": 1.0, "seconds": 0.1, "best": best})
    reporter.last_epoch()
    said, *lines = after_legend(capsys.readouterr().err)
    marked = [int(line.split()[1]) for line in lines if line.endswith("kept so far")]
    loss = losses[stopper.best_epoch - 1]
    assert lines[-1] == f"kept: epoch {stopper.best_epoch}, valid loss {loss_text(loss)}"
    return said, marked, stopper.best_epoch


def test_the_lines_marked_best_are_the_lowest_losses_whatever_min_delta(capsys):
    """Two rules said "best": the table's (a drop of 0.001 or more) and early stopping's (more
    than --min-delta). At --min-delta 0 epoch 3's drop of 0.0005 was kept with no line, the last
    marked being epoch 2; at 0.01 the legend said 0.001. Then early stopping's alone, which left
    a lower loss unmarked (epoch 3's 0.295 after 0.3 at 0.01) and not kept. The lowest is kept
    now, lower by however little: each new lowest is marked, the last one the kept epoch."""
    losses = [0.5, 0.3, 0.2995, 0.2994, 0.29, 0.295, 0.2, 0.28, 0.281]
    for min_delta in (0.0, 0.01):
        said, marked, kept = marked_lines(min_delta, losses, capsys)
        assert 'each new lowest valid loss (marked "kept so far": the run keeps the lowest' in said
        assert marked == [1, 2, 3, 4, 5, 7] and kept == 7
    said, marked, kept = marked_lines(0.01, [0.5, 0.3, 0.295, 0.31], capsys)
    assert marked == [1, 2, 3] and marked[-1] == kept  # 0.005 lower, under --min-delta: kept


def test_tiny_gains_of_a_nearly_zero_loss_are_marked_as_the_epochs_kept(capsys):
    """An easy set improves its valid loss by 1e-6 an epoch: each such epoch is the one kept so
    far, so each is marked (and shown to three significant digits, not as 0.0000); --min-delta
    counts none of them, so the fit stops after --patience of them (test_engine.py)."""
    losses = [0.5] + [3e-4 - 1e-6 * epoch for epoch in range(2, 16)]
    _said, marked, kept = marked_lines(0.001, losses, capsys)
    assert marked == list(range(1, 16)) and kept == 15


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["add", "{tmp}", "{tmp}/nowhere"], "error: invalid value for 'NEW'"),
        (["add", "{tmp}"], "error: no new images given: name a folder"),  # exit 1 (review52b)
        (["train", "{tmp}"], "error: give --out RUN for a new run, or --resume RUN"),
        (  # accepted, pruning nothing (review52b L5)
            ["cache", "--prune", "--days", "nan"],
            "error: invalid value for '--days': nan is not a number of days",
        ),
        # exit 1, --std late and unnamed, --folds after torch
        (["train", "{tmp}", "--out", "{tmp}/r", "--std", "0", "0", "0"], "error: --std must be"),
        (["train", "{tmp}", "--out", "{tmp}/r", "--device", "bogus"], "error: --device must be"),
        (["audit", "{tmp}", "--folds", "1"], "error: invalid value for '--folds': 1 is not in"),
    ],
)
def test_a_missing_path_or_option_is_refused_before_the_heavy_imports(
    capsys, monkeypatch, tmp_path, args, said
):
    """`objrec add data nowhere` took 4.6 s to say nowhere does not exist and `objrec train data`
    3 s to ask for --out: each imported torch and the command's module first."""
    for name in (
        "objrec.add.recipe",
        "objrec.train",
        "objrec.features",
        "objrec.cache",
        "objrec.audit.recipe",
    ):
        monkeypatch.setitem(sys.modules, name, None)  # importing it now fails
    code, _, err = run(capsys, *(a.format(tmp=tmp_path) for a in args))
    assert code == 2 and err.startswith(said), err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["serve", "{run}", "--port", "{port}"], "port {port} on 127.0.0.1 is already in use"),
        (
            ["serve", "{run}", "--host", "192.0.2.1"],
            "no network interface of this machine has the address 192.0.2.1",
        ),
        (["report", "{run}", "--out", "{tmp}/full/mine.txt"], "{tmp}/full/mine.txt exists"),
        (["train", "{data}", "--out", "{tmp}/new", "--strict"], "--strict refuses {data}"),
        (["evaluate", "{run}", "{data}", "--out", "{tmp}/full"], "{tmp}/full is not empty"),
        (["explore", "{data}", "--out", "{tmp}/full"], "{tmp}/full is not empty"),
        (["explore", "{data}", "--out", "{data}/x"], "--out {data}/x lies inside the data"),
        (["evaluate", "{run}", "{data}", "--out", "{data}/x"], "--out {data}/x lies inside the"),
        (
            ["evaluate", "{run}", "{data}", "--unknown", "{tmp}/unk", "--out", "{tmp}/unk/x"],
            "--out {tmp}/unk/x lies inside the unknown folder {tmp}/unk: choose one outside it",
        ),
        (["suggest", "{run}", "{data}", "--out", "{tmp}/full"], "{tmp}/full is not empty"),
        (["demo", "--out", "{tmp}/full"], "{tmp}/full is not empty"),
        (
            ["evaluate", "{run}", "{data}", "--unknown", "{tmp}/empty"],
            "--unknown {tmp}/empty holds",
        ),
    ],
)
def test_a_refusal_that_needs_no_library_is_said_before_they_load(
    capsys, monkeypatch, tmp_path, args, said
):
    """serve's busy port or unknown host, report's --out already there, train --strict's
    unusable files, evaluate's, explore's, suggest's and demo's --out not empty, evaluate's --out
    inside DATA or inside --unknown's folder, evaluate's --unknown folder of no images: each was said once the libraries had loaded (5 to 30 s of "loading the
    libraries")."""
    import socket

    for name in ("serve.server", "report", "train", "evaluate", "explore", "suggest", "demo"):
        monkeypatch.setitem(sys.modules, f"objrec.{name}", None)  # importing it now fails
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_bytes(b"")  # a run as a first look sees it
    data = as_split_folder(tmp_path / "data")
    (data / "train" / "red").mkdir()
    (data / "train" / "red" / "text.jpg").write_text("hello")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("mine")
    (tmp_path / "empty").mkdir()
    (tmp_path / "unk").mkdir()
    (tmp_path / "unk" / "thing.jpg").write_text("hello")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        given = {"tmp": tmp_path, "run": tmp_path / "run", "data": data, "port": port}
        code, _, err = run(capsys, *(a.format(**given) for a in args))
    last = err.strip().splitlines()[-1]  # demo says first where it writes
    usage = "lies inside" in said  # an output inside what the command reads: exit 2
    usage = usage or "--host" in args  # an address the machine lacks (review60b F3)
    assert code == (2 if usage else 1) and last.startswith("error: " + said.format(**given)), err


HEAVY_LIBRARIES = ("torch", "torchvision", "onnxruntime", "fastapi", "pandas", "matplotlib")
"""The libraries a command that answers at once never imports: each costs 0.5 to 2 s to start."""


def imported_by(args: list[str], cwd: Path) -> tuple[int, list[str]]:
    """The exit code of ``objrec ARGS`` run as the program (``main()``, in a new process) and the
    heavy libraries it imported (:data:`HEAVY_LIBRARIES`)."""
    import subprocess

    code = (
        f"import sys; sys.argv = ['objrec', *{args!r}]\n"
        "from objrec.cli import main\n"
        "code = main()\n"
        f"print(code, *sorted(set({HEAVY_LIBRARIES!r}) & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    exit_code, *libraries = done.stdout.split("\n")[-2].split()
    return int(exit_code), libraries


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["--help"], 0),
        (["check", "photos"], 0),
        (["cache", "--cache-dir", "cache"], 0),
        (["predict", "run", "missing.jpg"], 1),
        (["predict", "run", "missing.jpg", "--json"], 1),
        (["serve", "run", "--cors-origin", "shop.example"], 2),
        (["serve", "photos"], 1),  # no run: said before FastAPI and PyTorch are imported
        (["backbones"], 0),
        (["backbones", "--json"], 0),
        (["train", "photos", "--out", "new", "--epochs", "0"], 2),
        (["train", "photos", "--out", "new"], 2),  # not a split folder: a usage error
    ],
)
def test_a_quick_command_imports_no_heavy_library(tmp_path, args, exit_code):
    """A command a user runs many times a day answers at once: `objrec check PHOTOS` spent 1 to
    2 s of its 1.5 to 3 s importing PyTorch, for the datasets of the module of its folder
    helpers (``data``, now ``loaders`` apart), and never used it; `objrec cache` as long, for
    the name of OpenVINO's folder (``runtime``'s, now ``cache``'s); `objrec predict RUN
    missing.jpg` as long, and read the model file too, to say the file is missing; `objrec serve`
    imported FastAPI and PyTorch (3 s) before it checked its options; `objrec backbones` imported
    PyTorch (2 s) with the bodies of the registry it lists."""
    make_class_folder(tmp_path / "photos", per_class=3)
    (tmp_path / "cache" / "openvino").mkdir(parents=True)
    (tmp_path / "run").mkdir()
    fake_checkpoint(tmp_path / "run" / "model.safetensors")  # not even read
    assert imported_by(args, tmp_path) == (exit_code, [])


def test_a_mistyped_option_or_command_is_asked_about_as_a_class_name_is(capsys):
    """One "is it X?" rule (words.close_match) for options and commands, as for class names
    and settings: click asked "(Did you mean one of: '--out', '--worst'?)" for --worts by
    Python's looser rule, in its own words. An option named as an argument is says so."""
    cases = {
        ("evaluate", "r", "d", "--worts"): "no such option '--worts' (is it --worst?) (see",
        ("predict", "r", "p", "--TopK"): "no such option '--TopK' (is it --topk?) (see",
        ("trian",): "no such command 'trian' (is it train?) (see objrec --help)",
        ("predict", "r", "p", "--zzz"): "no such option '--zzz' (see objrec predict --help)",
        # an argument's name, which no option has: it asked "(is it out?)"
        ("share", "r", "--out", "d"): "no such option '--out' (DEST is an argument: give it "
        "without --out) (see objrec share --help)",
        # the reverse: export's file named as share's DEST is, without --out
        ("export", ".", "m.onnx"): "got unexpected extra argument (m.onnx) (is it --out FILE?) "
        "(see objrec export --help)",
        # one of a few words: click listed them alone (review52b L7)
        ("evaluate", ".", ".", "--split", "tset"): "invalid value for '--split': 'tset' is not "
        "one of 'train', 'valid', 'test' (is it test?) (see objrec evaluate --help)",
        ("predict", ".", ".", "--runtime", "onxx"): "invalid value for '--runtime': 'onxx' is "
        "not one of 'onnx', 'torch' (is it onnx?) (see",
        ("evaluate", ".", ".", "--split", "all"): "invalid value for '--split': 'all' is not one "
        "of 'train', 'valid', 'test' (see",
    }
    for args, said in cases.items():
        code, _, err = run(capsys, *args)
        assert code == 2 and " ".join(err.split()).startswith(f"error: {said}"), err
    from objrec.words import close_match

    assert close_match("sead", ["seed", "ratios"]) == "seed"  # a setting, as train(sead=1) says
    assert close_match("bass", ["crab", "lotus"]) is None


def test_every_option_of_a_few_words_asks_is_it_x_of_a_misspelt_one():
    """Each command's option of a few words (``--split``, ``--precision``, ``--runtime``) is
    ``cli.options.Choice``, which asks "is it X?" where click's Choice lists the words alone."""
    from objrec.cli import cli
    from objrec.cli.options import Choice

    ctx = click.Context(cli)
    params = [
        (name, param)
        for name in cli.list_commands(ctx)
        for param in cli.get_command(ctx, name).params
        if isinstance(param.type, click.Choice)
    ]
    assert len(params) >= 10
    assert [(n, p.name) for n, p in params if not isinstance(p.type, Choice)] == []


def test_click_usage_errors_read_like_objrecs_own(capsys, tmp_path):
    code, _, err = run(capsys, "evaluate", tmp_path / "nope", tmp_path)
    assert (
        code == 2 and err.startswith("error: invalid value for 'RUN'") and "does not exist" in err
    )
    assert "(see objrec evaluate --help)" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "train", tmp_path, "--bogus")
    assert code == 2 and err.startswith("error: no such option '--bogus'")
    for output in (err, run(capsys, "split")[2]):
        assert "Usage:" not in output and "Error:" not in output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["check", "{file}"], "'DATA': {file} is a file, not a folder"),
        (["check", "{tmp}/nope"], "'DATA': {tmp}/nope does not exist"),
        (["explore", "{file}"], "'DATA': {file} is a file, not a folder"),
        (["split", "{file}", "{tmp}/out"], "'PHOTOS': {file} is a file, not a folder"),
        (["split", "{tmp}", "{file}"], "'OUT': {file} is a file, not a folder"),
        (["train", "{file}", "--out", "{tmp}/run"], "'DATA': {file} is a file, not a folder"),
        (["audit", "{file}"], "'DATA': {file} is a file, not a folder"),
        (["add", "{file}", "{tmp}"], "'DATA': {file} is a file, not a folder"),
        (["evaluate", "{tmp}", "{file}"], "'DATA': {file} is a file, not a folder"),
        (["split", "{tmp}", "{tmp}/o", "--groups", "{tmp}"], "'--groups': {tmp} is a folder, not"),
        (["check", "{tmp}/gone"], "'DATA': {tmp}/gone is a link to nothing"),
        (["split", "{tmp}", "{file}/o"], "'OUT': {file}/o cannot be written: {file} is a file,"),
        (
            ["train", "{tmp}", "--out", "{file}/r/x"],
            "'--out': {file}/r/x cannot be written: {file}",
        ),
        (["predict", "{tmp}", "{tmp}", "--csv", "{file}/a.csv"], "'--csv': {file}/a.csv cannot"),
    ],
)
def test_a_bad_path_is_one_usage_error_naming_it_whatever_is_wrong_with_it(
    capsys, tmp_path, args, said
):
    """`objrec check nope` exited 2 ("invalid value for 'DATA': Path 'nope' does not exist") and
    `objrec check photos.zip` 1 ("photos.zip is not a folder", naming no argument), while `split
    PHOTOS photos.zip` said "Directory 'photos.zip' is a file": one form and exit status for all."""
    (tmp_path / "photos.zip").write_bytes(b"PK")
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    values = {"tmp": tmp_path, "file": tmp_path / "photos.zip"}
    code, out, err = run(capsys, *(a.format(**values) for a in args))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: invalid value for {said.format(**values)}"), err
    assert err.rstrip().endswith(f"(see objrec {args[0]} --help)"), err


def test_an_output_where_the_user_may_not_write_is_a_usage_error_naming_the_option(
    capsys, tmp_path, monkeypatch
):
    """An output in a folder the user may not write to exited 1 once the command ran ("... no
    permission to write in ...", naming no option), where one below a file is a usage error. Root
    may write anywhere but on a read-only file system, so the system's answer (os.access) says no
    here; nothing is made in that folder, and a file of the user's there is kept."""
    theirs, photos, access = tmp_path / "theirs", tmp_path / "photos", os.access
    theirs.mkdir()
    photos.mkdir()
    (theirs / "a.csv").write_text("mine")

    def refusing(path, mode, **kwargs):
        return not (mode & os.W_OK and Path(path) == theirs) and access(path, mode)

    monkeypatch.setattr(os, "access", refusing)
    for args, option in [
        (["split", photos, theirs / "data"], "'OUT'"),
        (["train", photos, "--out", theirs], "'--out'"),
        (["explore", photos, "--out", theirs / "new" / "x"], "'--out'"),
        (["predict", tmp_path, photos, "--csv", theirs / "new" / "a.csv"], "'--csv'"),
        (["predict", tmp_path, photos, "--csv", theirs / "a.csv", "--force"], "'--csv'"),
        (["predict", tmp_path, photos, "--plot", theirs / "z" / ".." / "p.png"], "'--plot'"),
    ]:
        code, _, err = run(capsys, *args)
        said = f"{args[4 if args[0] == 'predict' else -1]} cannot be written: no permission to "
        said += f"write in {theirs}"
        assert code == 2 and err.startswith(f"error: invalid value for {option}: {said}"), err
    assert [(p.name, p.read_text()) for p in theirs.iterdir()] == [("a.csv", "mine")]
    assert OUT_DIR.convert(str(tmp_path / "mine"), None, None) == tmp_path / "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in a folder without write permission")
def test_an_output_in_a_read_only_folder_is_a_usage_error(capsys, tmp_path):
    """The same without a stand-in for the system's answer: a folder made read-only."""
    theirs, photos = tmp_path / "theirs", tmp_path / "photos"
    theirs.mkdir(mode=0o555)
    photos.mkdir()
    code, _, err = run(capsys, "split", photos, theirs / "data")
    assert code == 2 and f"no permission to write in {theirs}" in err, err
    assert not any(theirs.iterdir())


def test_a_path_it_may_not_read_is_said_to_be_so_not_a_file_or_a_link_to_nothing(
    capsys, tmp_path, monkeypatch
):
    """A folder or file there that the user may not read (another user's, a mode of 000): click
    refused it as "not readable", and the sentence put in its place called the folder "a file,
    not a folder" and the file "a link to nothing"."""
    photos, plan, run_file = tmp_path / "photos", tmp_path / "plan.csv", tmp_path / "m.safetensors"
    photos.mkdir()
    plan.write_text("file,action\n")
    run_file.write_bytes(b"")
    locked = {str(p) for p in (photos, plan, run_file)}
    access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: str(p) not in locked and access(p, mode, **kw)
    )
    for args, named in (
        (["check", photos], f"'DATA': {photos}"),
        (["apply-plan", tmp_path, plan, tmp_path / "out"], f"'PLAN': {plan}"),
        (["export", run_file], f"'RUN': {run_file}"),
    ):
        code, out, err = run(capsys, *args)
        assert code == 2 and out == "", err
        assert f"invalid value for {named} cannot be read (permission denied)" in err, err


def test_errors_speak_the_api_names_in_python_and_the_flags_in_the_cli(capsys, tmp_path):
    from objrec.config import TrainConfig
    from objrec.errors import ObjrecError

    with pytest.raises(ObjrecError, match=r"^`batch_size` must be at least 1$"):
        TrainConfig(batch_size=0)
    with pytest.raises(ObjrecError, match=r"^`finetune_lr` must be above zero$"):
        TrainConfig(finetune_lr=0)
    code, _, err = run(capsys, "train", tmp_path, "--out", tmp_path / "r", "--batch-size", "0")
    usage = "error: --batch-size must be at least 1 (see objrec train --help)"
    assert code == 2 and err.strip() == usage  # a usage error, as click's own (docs/json.md)


@pytest.mark.slow
def test_every_json_answer_has_a_warnings_list(capsys, tmp_path, trained_run, split_dir):
    """evaluate --json added a "warning" string only when it warned, while split --json always
    had "warnings": []: now every command that can warn answers with a list, empty when clean."""
    page = (Path(__file__).parents[1] / "docs" / "json.md").read_text()
    commands = {
        "split": ("split", make_class_folder(tmp_path / "p", per_class=12), tmp_path / "s"),
        "check": ("check", split_dir),
        "explore": ("explore", split_dir, "--out", tmp_path / "e"),
        "evaluate": ("evaluate", trained_run, split_dir),
        "export": ("export", trained_run, "--out", tmp_path / "m.onnx"),
        "report": ("report", trained_run, "--out", tmp_path / "r.html", "--no-grad-cam"),
    }
    for name, args in commands.items():
        code, out, _ = run(capsys, *args, "--json")
        answer = json.loads(out)
        assert code == 0 and answer["warnings"] == [], name
        section = page.split(f"\n## {name}\n")[1].split("\n## ")[0]
        assert not [key for key in answer if f"`{key}`" not in section], name  # documented
    code, out, _ = run(capsys, "evaluate", trained_run, split_dir / "train", "--json")
    warnings = json.loads(out)["warnings"]
    assert len(warnings) == 1 and "overstate accuracy" in warnings[0]


@pytest.mark.slow
def test_no_library_error_names_a_cli_flag():
    """Library code raises with the API's names (`force=True`); only the cli package speaks in
    flags."""
    import ast
    import re

    from .conftest import source_trees

    flag = re.compile(r"(?<![\w`-])--[a-z]")
    found = []
    for path, tree in source_trees():
        if path.parts[0] == "cli":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in (
                "ObjrecError",
                "Interrupted",
            ):
                for part in ast.walk(node):
                    text = part.value if isinstance(part, ast.Constant) else None
                    if isinstance(text, str) and flag.search(text):
                        found.append(f"{path.as_posix()}:{node.lineno}: {text}")
    assert found == []


@pytest.mark.slow
def test_no_library_sentence_names_an_objrec_command():
    """check, add, split, report and others told a Python caller to run `objrec split`, `objrec
    train`, `objrec check DATA`, ...: the library names its own functions and calls (`train`,
    `split_folder`, `check_folder('photos')`), which the CLI spells as its commands
    (messages.to_cli). Docstrings and HTML pages may name commands; so does serve's answer to
    too large an upload, which goes to a remote client (no Python caller, no CLI to translate),
    and the server's log lines about it and about a refused Host, logged in worker processes and
    the app's own threads, where the CLI's translation does not reach. The model card (``card``)
    is a page for whoever receives the model, which tells them the commands to run, and so is
    the exported script (``export/script.py``): a program of its own, run without objrec, whose
    --help names objrec's commands to someone who may have it."""
    import ast
    import re

    from objrec.cli import cli

    from .conftest import source_trees

    command = re.compile(rf"\bobjrec ({'|'.join(map(re.escape, sorted(cli.commands)))})\b")
    left = {
        ("serve/uploads.py", n) for n in ("too_large_text", "log_too_large", "log_too_many_pixels")
    } | {("serve/guards.py", "log_wrong_host")}
    found = []
    for path, tree in source_trees():
        if path.parts[0] == "cli" or path.as_posix() in ("card.py", "export/script.py"):
            continue
        skipped = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}  # docstrings
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and (path.as_posix(), node.name) in left:
                skipped |= {id(n) for n in ast.walk(node)}
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if id(node) in skipped or not isinstance(text, str) or "</" in text:  # HTML
                continue
            if command.search(text):
                found.append(f"{path.as_posix()}:{node.lineno}: {text}")
    assert found == []


FLAGS_ALLOWED = {
    "serve/api_docs.py": "the page at /docs, for whoever calls the server",
    "card.py": "the model card, a README for whoever is sent the run, at the shell",
    "export/script.py": "model_infer.py, a program with options of its own",
    "export/sidecar.py": "the sidecar's notes, read by model_infer.py's users",
    "serve/guards.py": "the server's log, which names the option and create_app's argument",
    "serve/uploads.py": "the same",
    "serve/predict.py": "/openapi.json, for whoever calls the server",
}
"""The modules whose sentences may name objrec's flags, and why: each is read outside Python."""


def library_sentences_naming_flags() -> list[str]:
    """Each string of ``src/objrec`` but the CLI's, docstrings (a string standing alone, as of a
    constant too) left out, that names one of the commands' flags, where the module may not
    (:data:`FLAGS_ALLOWED`)."""
    import ast

    from objrec.cli import cli

    from .conftest import source_nodes

    flags = {o for c in cli.commands.values() for p in c.params for o in p.opts if o[:2] == "--"}
    flag = re.compile(rf"(?<![\w-])({'|'.join(map(re.escape, sorted(flags)))})\b(?!-)")
    found = []
    for path, nodes in source_nodes():
        if path.parts[0] == "cli" or path.as_posix() in FLAGS_ALLOWED:
            continue
        docs = {id(n.value) for n in nodes if isinstance(n, ast.Expr)}  # a bare string
        texts = [n for n in nodes if isinstance(n, ast.Constant) and id(n) not in docs]
        found += [
            f"{path.as_posix()}:{text.lineno}: {text.value}"
            for text in texts
            if flag.search(str(text.value)) and text.value != KEPT_BY
        ]
    return found


KEPT_BY = "evaluate --keep-threshold"
"""threshold.json's ``kept_by``: what wrote it, a value of the record, not a sentence."""


@pytest.mark.slow
def test_library_sentences_name_arguments_and_each_command_says_them_as_its_flags():
    """Sentences the library returns rather than logs named the CLI's flags to a Python user:
    the kept threshold's "kept from evaluate --unknown ... --threshold overrides it" (predict's
    log, serve's start, export's line, check's note), the manifest's "`split --like`", check's
    notes of a run ("evaluate --against", "share --onnx"), serve's "whatever --runtime says".
    They name the API's arguments and calls in backticks, and each command that shows one says
    them as its own flags: --threshold in predict, serve and export, whose option it is, and the
    call that keeps a threshold as the command line that does, from any command."""
    from objrec.cli import cli
    from objrec.cli.delivery import StartLines, kept_words
    from objrec.cli.messages import to_cli
    from objrec.kept import KeptThreshold
    from objrec.manifest import MANIFEST_WHY

    assert library_sentences_naming_flags() == []
    kept = KeptThreshold(0.2, "2026-12-03T14:00:00Z", Path("run/threshold.json"), True, {})
    assert "`evaluate` from photos" in kept.words() and "`threshold` overrides" in kept.words()
    for command in ("predict", "serve", "export"):
        said = to_cli(kept.words(), cli.commands[command])
        assert "kept by `objrec evaluate` from photos" in said and "; --threshold overrides" in said
    with click.Context(cli.commands["serve"]):
        start = StartLines(Path("run"), "127.0.0.1")
        start.loaded("the whole model in PyTorch", f"asked for\n{kept.words()}")
        assert "; --threshold overrides it;" in start.runs[0]
    with click.Context(cli.commands["export"]):
        assert "; --threshold overrides it;" in kept_words(kept)
    stale = dataclasses.replace(kept, current=False).words()
    assert stale.endswith("`evaluate(run, data, unknown=folder, keep_threshold=True)`")
    keep = "`objrec evaluate 'my run' data --unknown FOLDER --keep-threshold`"
    assert to_cli(stale, cli.commands["train"], {"run": "my run", "data": "data"}).endswith(keep)
    assert "`objrec split PHOTOS OUT --like OLD_SPLIT` reads the split" in to_cli(
        MANIFEST_WHY, cli.commands["check"]
    )


def usage_error(line: str) -> str | None:
    """What objrec's parser says of the command line ``line`` (nothing run, no path checked):
    an unknown option, an extra or a missing argument; None when it parses."""
    import shlex

    import click

    from objrec.cli import cli

    words = expand_greedy(shlex.split(line))
    command = cli.commands[words[1]]
    # the group's context settings, as `objrec` gives its commands: click keeps each command's
    # help option once made, and one made without them (`--help` alone) refused `-h` afterwards
    context = click.Context(command, parent=click.Context(cli, **cli.context_settings))
    try:
        given, extra, _ = command.make_parser(context).parse_args(words[2:])
    except click.UsageError as exc:
        return exc.format_message()
    params = [p for p in command.params if p.required and p.value_is_missing(given.get(p.name))]
    if extra:
        return f"unexpected extra argument {extra[0]}"
    return f"missing {params[0].human_readable_name}" if params else None


def readme_command_lines(page: Path) -> list[str]:
    """Each ``objrec ...`` command of the ``bash`` blocks of ``page``: each line's comment left
    off, each command of a ``&&`` chain on its own."""
    import re

    blocks = re.findall(r"```bash\n(.*?)```", page.read_text(), re.DOTALL)
    lines = [line.split(" #")[0].strip() for block in blocks for line in block.splitlines()]
    commands = [part.strip() for line in lines for part in line.split("&&")]
    return [c for c in commands if c.startswith("objrec ")]


def readme_out_folder(line: str) -> str | None:
    """The folder a README command line writes a run or a split into: train's --out, split's OUT,
    apply-plan's OUT (None for the others)."""
    words = line.split()
    if words[1] == "train" and "--out" in words:
        return words[words.index("--out") + 1]
    positional = [w for w in words[2:] if not w.startswith("-")]
    index = {"split": 1, "apply-plan": 2}.get(words[1])
    return positional[index] if index is not None and len(positional) > index else None


def test_every_command_line_of_the_readme_parses_as_objrec_does():
    """The README's steps are copied as they stand: the loop that fixes PHOTOS itself (audit
    PHOTOS, apply-plan, split --like) was missing, and any line added must parse, each command
    with its arguments and options, by the command's own parser."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    lines = readme_command_lines(readme)
    assert "objrec split PHOTOS-fixed data-fixed2 --like data" in lines
    assert "objrec apply-plan PHOTOS PHOTOS-audit/plan.csv PHOTOS-fixed" in lines
    # a museum's volunteer looked in vain here for how to answer a folder without objrec
    assert "objrec export run" in lines  # the run you have: an int8 one exports too
    assert "objrec train data --out run-fp32 --precision fp32" in lines
    assert "python run/model_infer.py new_photos/ --csv answers.csv" in readme.read_text()
    # a newcomer following the page in order met "run already holds a trained model" there,
    # then "data-fixed holds an earlier split" where the second fix loop reused the first's names
    outs = [readme_out_folder(line) for line in lines]
    assert sorted(o for o in outs if o and outs.count(o) > 1) == []
    # a second evaluate of run2 without --against removed the first's comparison
    compared: set[str] = set()
    for line in (line for line in lines if line.startswith("objrec evaluate ")):
        run = line.split()[2]
        assert "--against" in line or run not in compared, line
        compared |= {run} if "--against" in line else set()
    assert [(line, usage_error(line)) for line in lines if usage_error(line)] == []


def test_the_readme_says_how_to_come_back_to_objrec_and_how_to_edit_the_plan():
    """A newcomer's new terminal gave "objrec: command not found": the first command activates
    .venv in its own shell only, and the page never said to activate it again. And "the
    plan.csv you reviewed" never said which actions a row takes, nor that most come pre-filled
    keep. The first two commands stay the page's first two, as they were."""
    import re

    page = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", page, re.DOTALL)
    venv = "python3.11 -m venv .venv && . .venv/bin/activate && pip install -e "
    assert blocks[:2] == [
        f"{venv}. && objrec demo\n",
        f"{venv}'.[test]' && python -m pytest -n auto\n",
    ]
    between = " ".join(page.split(blocks[0])[1].split(blocks[1])[0].split())
    assert "`cd` into the clone and run `. .venv/bin/activate` again" in between
    assert '"command not found"' in between
    loop = next(b for b in blocks if "apply-plan data data-audit/plan.csv" in b)
    after = " ".join(page.split(loop)[1].split("```")[1].split())
    for said in ("`keep` (copied", "`remove` (left out", "`relabel` (copied", "`new_class`"):
        assert said in after
    assert "pre-filled `keep`" in after


def test_plural_counts_nouns_in_the_right_number():
    from objrec.words import plural

    assert [plural(n, "image") for n in (0, 1, 2)] == ["0 images", "1 image", "2 images"]
    assert plural(1, "class") == "1 class" and plural(1542, "class") == "1,542 classes"
    assert plural(3, "entry") == "3 entries" and plural(2, "day") == "2 days"
    assert plural(5, "epoch") == "5 epochs"
    assert plural(2, "file or folder", "files or folders") == "2 files or folders"


def test_some_of_names_one_more_rather_than_counting_it():
    """Saying "and 1 more" kept back a name (the 11th of evaluate's classes too few to trust) in as many
    words: it is named; two or more are counted."""
    from objrec.words import some_of

    names = [f"c{i}" for i in range(12)]
    assert some_of(names[:11]) == ", ".join(names[:11])
    assert some_of(names) == ", ".join(names[:10]) + " and 2 more"
    assert some_of(names[:3], limit=2) == "c0, c1, c2" and some_of([]) == ""


@pytest.mark.slow
def test_a_piped_table_shows_whole_values(capsys, monkeypatch, tmp_path):
    import os

    def no_terminal(*args):
        raise OSError("not a terminal")

    monkeypatch.setattr(os, "get_terminal_size", no_terminal)
    monkeypatch.setenv("COLUMNS", "80")  # what a log file or a pipe without a terminal gets
    name = "a_class_whose_name_is_much_longer_than_any_terminal_is_wide_" * 2
    photos = make_class_folder(tmp_path / "photos", per_class=2, classes=("red",))
    (photos / "red").rename(photos / name)
    code, out, _ = run(capsys, "explore", photos, "--out", tmp_path / "explore")
    assert code == 0 and name in out and "…" not in out


@pytest.mark.slow
def test_paths_are_shown_one_way_relative_inside_the_working_folder(
    capsys, monkeypatch, tmp_path, trained_run, split_dir
):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "export", trained_run)
    assert code == 0 and "exported run/model.onnx, run/model.json and run/model_infer.py" in out
    assert "the file differs from objrec's answers by up to" in " ".join(out.split())
    code, out, _ = run(capsys, "evaluate", "run", split_dir)
    out = " ".join(out.split())
    assert code == 0 and "evaluated data/test" in out and "plots in run/eval-test" in out
    monkeypatch.chdir(split_dir)  # the run lies outside: shown whole
    code, out, _ = run(capsys, "export", "../run", "--force")
    whole = f"exported {trained_run / 'model.onnx'}, {trained_run}/model.json and {trained_run}/"
    assert code == 0 and whole in " ".join(out.split())  # wrapped to 100 columns


@pytest.mark.slow
def test_one_class_is_warned_of_by_check_and_split_and_refused_by_train(capsys, tmp_path):
    photos = make_class_folder(tmp_path / "photos", per_class=6, classes=("red",))
    code, out, _ = run(capsys, "check", photos)
    assert code == 1 and "one_class" in out
    assert "only one class (red): `objrec train` refuses it" in " ".join(out.split())
    code, _, err = run(capsys, "split", photos, tmp_path / "data")
    assert code == 0
    assert "only one class (red): `objrec train` will refuse this split" in " ".join(err.split())
    code, out, err = run(capsys, "train", tmp_path / "data", "--out", tmp_path / "run")
    refusal = (
        f"{tmp_path / 'data' / 'train'} has only one class (red): a classifier needs at least two"
    )
    assert code == 1 and out == "" and refusal in " ".join(err.split())
    said = err.removeprefix("loading the libraries ...\n")  # train's first line, then the refusal
    assert len(said.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_a_class_named_unknown_is_refused_by_train_and_said_by_check_and_split(capsys, tmp_path):
    """A class folder named unknown trained, and predict's answer "unknown" (an image like none
    of the classes) could not be told from that class's."""
    from objrec.split.result import SplitResult, split_warnings

    for split in ("train", "valid"):
        make_class_folder(tmp_path / "data" / split, per_class=2, classes=("red", "blue"))
        (tmp_path / "data" / split / "blue").rename(tmp_path / "data" / split / "Unknown")
    folder = tmp_path / "data" / "train" / "Unknown"
    code, out, err = run(capsys, "train", tmp_path / "data", "--out", tmp_path / "run")
    said = " ".join(err.split())
    assert code == 1 and f"{folder} is a class named Unknown: predict and evaluate answer" in said
    assert "rename the folder (to other, say), in every split, and train again" in said
    assert not (tmp_path / "run").exists()
    code, out, _ = run(capsys, "check", tmp_path / "data", "--json")
    found = [p for p in json.loads(out)["problems"] if p["kind"] == "unknown_name"]
    assert code == 1 and [p["path"] for p in found] == ["train/Unknown", "valid/Unknown"]
    result = SplitResult(tmp_path, {"red": {"train": 2}, "unknown": {"train": 2}})
    assert split_warnings(result)[0].startswith("`train` will refuse the class named unknown: ")


@pytest.mark.slow
def test_names_like_markup_are_printed_as_they_are(capsys, tmp_path, image_folder, known_facts):
    """Class and file names such as "[b]old" or "cat[/dog].jpg" were read as rich markup: printed
    bold without their brackets, or a crash (a closing tag that closes nothing)."""
    (image_folder / "[b]old").mkdir()  # an empty class folder
    (image_folder / "cat[").mkdir()
    (image_folder / "cat[" / "dog].jpg").write_bytes(b"not a picture")  # shown as cat[/dog].jpg
    shutil.copytree(image_folder / "red", image_folder / "[i]talic")
    code, out, err = run(capsys, "check", image_folder)
    out = " ".join(out.split())
    assert code == 1 and err == "" and "[b]old: class folder holds no images" in out
    assert "cat[/dog].jpg: cannot read image" in out
    code, out, err = run(capsys, "split", image_folder, tmp_path / "data")
    err = " ".join(err.split())
    assert code == 0 and "without images (--strict refuses them): [b]old" in err
    assert "cannot be read (--strict refuses them): cat[/dog].jpg" in err
    code, out, err = run(capsys, "explore", image_folder, "--out", tmp_path / "explore")
    assert code == 0 and " [i]talic " in out and "cat[/dog].jpg" in out


def test_sigterm_takes_back_the_folders_of_a_stopped_command_as_ctrl_c_does(
    capsys, tmp_path, monkeypatch
):
    """SIGTERM (a job scheduler, `kill`) ended objrec at once, leaving the folders it had made."""
    import importlib
    import os
    import signal

    def sigterm(path):
        os.kill(os.getpid(), signal.SIGTERM)
        return 1, 1

    class Unhandled(Exception):
        pass

    def unhandled(*args):
        raise Unhandled("objrec left SIGTERM to its default: the process would have ended")

    photos = make_class_folder(tmp_path / "photos", per_class=2)
    monkeypatch.setattr(importlib.import_module("objrec.explore"), "image_size", sigterm)
    previous = signal.signal(signal.SIGTERM, unhandled)  # never end pytest itself
    try:
        code, _, err = run(capsys, "explore", photos, "--out", tmp_path / "new" / "out")
    finally:
        assert signal.signal(signal.SIGTERM, previous) is unhandled  # main put ours back
    said = " ".join(err.split())
    assert (
        code == 128 + signal.SIGTERM
        and "interrupted at reading image sizes (0 of 6 done): " in said
    )
    assert said.endswith("nothing was written: run it again")
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_an_output_path_in_a_loop_of_links_is_one_sentence_naming_it(
    capsys, tmp_path, trained_run, split_dir, image_folder
):
    """Such a path gave a RuntimeError traceback ("Symlink loop from ...") in every command."""
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "back")
    (tmp_path / "back").symlink_to(loop)
    red = image_folder / "red"
    commands = [
        ("explore", image_folder, "--out", loop),
        ("split", image_folder, loop / "data"),
        ("train", split_dir, "--out", loop, "--backbone", "tiny_test"),
        ("evaluate", trained_run, split_dir, "--out", loop),
        ("predict", trained_run, red, "--plot", loop / "p.png"),
        ("predict", trained_run, red, "--explain", loop),
        ("export", trained_run, "--out", loop / "m.onnx"),
        ("audit", split_dir, "--out", loop, "--backbone", "tiny_test"),
        ("report", trained_run, "--out", loop),
        ("suggest", trained_run, red, "--out", loop),
        ("demo", "--out", loop),
    ]
    for args in commands:
        code, _, err = run(capsys, *args)
        last = err.strip().splitlines()[-1]  # after split's "hashing files ..."
        assert code == 1 and "Traceback" not in err, (args, err)
        assert last.startswith("error:") and "loop of symbolic links" in last, (args, err)
        assert str(loop) in last, (args, err)


@pytest.mark.slow
def test_an_output_through_a_folder_that_is_not_there_makes_no_such_folder(
    capsys, tmp_path, trained_run, split_dir, image_folder, monkeypatch
):
    """``--out z/..`` left an empty ``z`` behind (explore, evaluate, predict --explain, train,
    audit, suggest, export), or failed with a traceback (predict --plot, report)."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    red = image_folder / "red"
    commands = [
        ("explore", image_folder, "--out", "z/../explored"),
        ("predict", trained_run, red, "--plot", "z/../p.png"),
        ("predict", trained_run, red, "--explain", "z/../explained"),
        ("report", trained_run, "--out", "z/../r.html"),
    ]
    for args in commands:
        code, _, err = run(capsys, *args)
        assert code == 0, (args, err)
        assert not (here / "z").exists(), args
    assert sorted(p.name for p in here.iterdir()) == ["explained", "explored", "p.png", "r.html"]


def test_after_one_sigterm_a_second_one_ends_the_process_at_once():
    import os
    import signal
    import time

    from objrec.cli import sigterm_as_ctrl_c

    def pytests_own(*args):  # never end pytest itself, whatever objrec does
        raise AssertionError("SIGTERM reached the handler objrec had replaced")

    before, caught = signal.signal(signal.SIGTERM, pytests_own), []
    try:
        with sigterm_as_ctrl_c(caught):
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler raises as soon as the signal arrives
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # a second one kills
        assert caught == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is pytests_own
    finally:
        signal.signal(signal.SIGTERM, before)


def test_apply_plan_s_out_inside_data_is_a_usage_error_and_a_full_out_a_refused_output(
    capsys, tmp_path
):
    """review52b L12: apply-plan's OUT inside DATA (or holding it) exited 1, as a failed run; it is
    a usage error, exit 2, naming OUT, as split's OUT inside SRC is. OUT not empty stays a refused
    output, exit 1, as every command's (docs/json.md). Nothing is written."""
    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action\n")
    code, _, err = run(capsys, "apply-plan", photos, plan, photos / "fixed")
    assert code == 2 and " ".join(err.split()) == (
        f"error: OUT {photos / 'fixed'} lies inside the data folder {photos}: choose one outside "
        "it (see objrec apply-plan --help)"
    )
    code, _, err = run(capsys, "apply-plan", photos, plan, tmp_path)
    assert code == 2 and f"OUT {tmp_path} holds the data folder {photos}: choose" in err, err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("mine")
    code, _, err = run(capsys, "apply-plan", photos, plan, tmp_path / "full")
    assert code == 1 and "full is not empty: choose another folder" in err, err
    assert not (photos / "fixed").exists() and os.listdir(tmp_path / "full") == ["mine.txt"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "folder"),
    [
        (["explore", "{data}", "--out", "{data}/train/x"], "data"),
        (["evaluate", "{run}", "{data}", "--out", "{data}/test/x"], "data"),
        (["audit", "{data}", "--backbone", "tiny_test", "--out", "{data}/x"], "data"),
        (["suggest", "{run}", "{data}/test", "--out", "{data}/test/red/x"], "image"),
        (
            ["predict", "{run}", "{data}/valid", "{data}/test", "--explain", "{data}/test/x"],
            "image",
        ),
        (["predict", "{run}", "{data}/test", "--plot", "{data}/test/p.png"], "image"),
        (["share", "{run}", "{run}/sub"], "run"),
    ],
)
def test_an_output_inside_the_folder_a_command_reads_is_refused(
    capsys, split_dir, trained_run, args, folder
):
    """What it writes there (plots are images) would be read as data the next time. A usage
    error, exit 2, as an output below a file is (it was 1: review52b L12)."""
    args = [a.format(data=split_dir, run=trained_run) for a in args]
    code, _, err = run(capsys, *args)
    assert code == 2 and f"lies inside the {folder} folder" in err, err
    err = err.removeprefix("loading the libraries ...\n")  # its progress, before the check
    assert len(err.strip().splitlines()) == 1 and not Path(args[-1]).exists()


def test_a_name_that_is_not_utf8_is_printed_with_its_byte_escaped(capsys, tmp_path):
    """`check` printed the Latin-1 'café.jpg' of an old zip to stdout as it is: with a UTF-8
    terminal's strict encoding (en_US.UTF-8) that was a UnicodeEncodeError traceback."""
    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    shutil.copy(photos / "red" / "img_00.jpg", photos / "red" / os.fsdecode(b"caf\xe9.jpg"))
    code, out, _ = run(capsys, "check", photos)
    out = " ".join(out.split())
    assert code == 1 and "bad_name" in out and "caf\\xe9.jpg: its name is not UTF-8" in out


@pytest.mark.slow
def test_a_folder_the_system_refuses_is_one_sentence_naming_it(capsys, tmp_path, monkeypatch):
    """A class folder it may not list (a patched listing: as root, chmod refuses nothing) and a
    full disk end in one line that names the folder, with exit code 1, not a traceback: the
    split's folder, not the source file or the temporary folder the copy met the full disk in."""
    data = make_class_folder(tmp_path / "data")
    refused = data / "green"
    listing = Path.iterdir

    def iterdir(self):
        if self == refused:
            raise PermissionError(13, "Permission denied", str(self))
        return listing(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    code, _, err = run(capsys, "split", data, tmp_path / "split")
    assert code == 1 and "Traceback" not in err
    assert f"{refused}: permission denied" in " ".join(err.split())
    monkeypatch.setattr(Path, "iterdir", listing)

    class FullDisk:  # a copy's file, full: as a buffered write meets it, no file named
        def __init__(self, *args):
            self.file = open(*args)  # noqa: SIM115

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            raise OSError(28, "No space left on device")

    def full_disk(file, mode="r", *args):
        return FullDisk(file, mode, *args) if "w" in mode else open(file, mode, *args)

    monkeypatch.setattr("objrec.file_index.open", full_disk, raising=False)
    code, _, err = run(capsys, "split", data, tmp_path / "split")
    assert code == 1 and "Traceback" not in err
    err = " ".join(err.split())
    named = tmp_path / "split" / "train" / "blue" / "img_00.jpg"  # where it goes (3006d51)
    assert f"{named} could not be written (no space left on device)" in err  # not staging's
    assert str(data) not in err and ".objrec-split" not in err  # nor the source it copied


def test_an_os_error_keeps_the_case_of_its_file_names():
    from objrec.errors import os_error_sentence

    refused = PermissionError(13, "Permission denied", "/Data/Cats")
    assert os_error_sentence(refused) == "/Data/Cats: permission denied"
    unnamed = OSError("cannot read '/Data/Cats/IMG_1.JPG'\nmore lines of a worker's traceback")
    assert os_error_sentence(unnamed) == "cannot read '/Data/Cats/IMG_1.JPG'"
    assert os_error_sentence(OSError()) == "OSError"


def test_objrec_alone_prints_its_help_not_an_error(capsys):
    code, out, err = run(capsys)
    assert code == 0 and err == "" and out.startswith("Usage: objrec")
    assert "train" in out and "error:" not in out  # it was the whole help as an error sentence


def fake_run_folder(root: Path, checkpoint: str = "model.safetensors") -> Path:
    """What `objrec train` then `objrec evaluate` leave in a run folder, without training: its
    checkpoint (an objrec header, no model), config and an evaluation of images."""
    make_class_folder(root, per_class=5, classes=("red",))
    (root / "red").rename(root / "eval-test")
    fake_checkpoint(root / checkpoint)
    (root / "config.json").write_text("{}")
    return root


@pytest.mark.parametrize(
    "command",
    [
        ["explore"],
        ["audit", "--backbone", "tiny_test"],
        ["split", "{tmp}/out"],
        ["train", "--out", "{tmp}/run2"],
    ],
)
def test_a_run_folder_given_as_data_is_refused_in_one_sentence(capsys, tmp_path, command):
    """`objrec audit RUN` audited RUN/eval-test's images as one class (exit 0, RUN-audit/ written),
    explore counted a class eval-test, check called it a folder of one class."""
    run_dir = fake_run_folder(tmp_path / "run")
    name, *rest = command
    code, _, err = run(capsys, name, run_dir, *(a.format(tmp=tmp_path) for a in rest))
    said = (
        f"{run_dir} is a run folder (`objrec train`'s output: it holds model.safetensors), not a "
        "folder of class sub-folders: pass the data folder it was trained on"
    )
    assert code == 1 and said in " ".join(err.split()), err
    assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing written
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "config.json",
        "eval-test",
        "model.safetensors",
    ]


def test_an_interrupted_run_folder_is_refused_as_data_too(capsys, tmp_path):
    run_dir = fake_run_folder(tmp_path / "run", checkpoint="last.safetensors")
    code, _, err = run(capsys, "explore", run_dir)
    assert code == 1 and "it holds last.safetensors), not a folder of class" in " ".join(
        err.split()
    )


@pytest.mark.slow
def test_a_model_file_from_elsewhere_in_a_data_folder_is_only_an_ignored_file(capsys, image_folder):
    """A downloaded model.safetensors at the top of a class folder made check and explore call it
    a run folder; only objrec's own checkpoint header makes one."""
    save_file({"w": torch.zeros(2)}, image_folder / "model.safetensors")
    code, out, err = run(capsys, "check", image_folder)
    assert code == 0 and "run folder" not in err
    assert "model.safetensors: file outside any class folder, ignored" in out
    code, out, _ = run(capsys, "explore", image_folder, "--json")
    assert code == 0 and sorted(json.loads(out)["counts"]) == sorted(COLOURS)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["explore", "audit"])
def test_a_rerun_writes_again_into_its_own_default_folder_not_into_a_users(
    tmp_path, capsys, split_dir, command
):
    """`objrec explore data` run again after an edit was refused ("data-explore is not empty"),
    though objrec had made that folder, and evaluate refreshes its own; a folder of the user's of
    that name is still refused."""
    project = tmp_path / "project"
    data = project / "data"
    shutil.copytree(split_dir, data)
    args = [command, data, *(["--backbone", "tiny_test", "--folds", "3"] * (command == "audit"))]
    assert run(capsys, *args)[0] == 0
    code, _, err = run(capsys, *args)
    assert code == 0 and f"writing again into {project}/data-{command}" in " ".join(err.split())
    shutil.rmtree(project / f"data-{command}")
    (project / f"data-{command}").mkdir()
    (project / f"data-{command}" / "mine.txt").write_text("the user's")
    code, _, err = run(capsys, *args)
    assert code == 1 and "is not empty" in err
    assert [p.name for p in (project / f"data-{command}").iterdir()] == ["mine.txt"]


@pytest.mark.slow
@pytest.mark.parametrize(("command", "edited"), [("explore", "counts.csv"), ("audit", "plan.csv")])
def test_a_rerun_never_writes_over_an_output_the_user_changed(
    tmp_path, capsys, split_dir, command, edited
):
    """The re-run that writes again into DATA-audit wrote over a plan.csv the user had reviewed
    (audit asks them to edit it) without --force: a file changed after the command wrote its
    outputs is the user's work, refused in a sentence naming it; --force writes over it."""
    args = [
        command,
        split_dir,
        *(["--backbone", "tiny_test", "--folds", "3"] * (command == "audit")),
    ]
    assert run(capsys, *args)[0] == 0
    path = split_dir.parent / f"data-{command}" / edited
    path.write_text("the user's review\n")
    later = path.stat().st_mtime_ns + 10**9  # edited after the run, on any file system's clock
    os.utime(path, ns=(later, later))
    code, _, err = run(capsys, *args)
    assert code == 1 and f"{path} changed after" in " ".join(err.split()) and "--force" in err
    assert path.read_text() == "the user's review\n"
    assert run(capsys, *args, "--force")[0] == 0 and path.read_text() != "the user's review\n"
    kept = path.with_name("plan.csv.bak")  # --force keeps a reviewed plan aside, saying so
    assert kept.exists() == (command == "audit")
    if command == "audit":
        assert kept.read_text() == "the user's review\n"


@pytest.mark.slow
def test_commands_given_a_run_read_the_store_of_the_cache_dir_it_was_trained_with(
    tmp_path, split_dir, monkeypatch
):
    """After `objrec train --cache-dir DIR`, suggest and audit --run opened the default cache
    folder's store and pushed every image through the frozen body again; they now use the run's
    (a relative --cache-dir is recorded as the folder it named)."""
    import objrec.frozen

    monkeypatch.chdir(tmp_path)
    train = ["train", str(split_dir), "--out", "run", "--backbone", "tiny_test", "--epochs", "1"]
    assert main([*train, "--cache-dir", "elsewhere"]) == 0
    monkeypatch.chdir(split_dir)  # elsewhere, as given, no longer names the folder from here
    rows: list[int] = []
    call = objrec.frozen.FrozenBody.__call__
    monkeypatch.setattr(
        objrec.frozen.FrozenBody, "__call__", lambda self, x: rows.append(len(x)) or call(self, x)
    )
    run, out = tmp_path / "run", tmp_path / "out"
    assert main(["evaluate", str(run), str(split_dir / "valid"), "--out", str(out / "e")]) == 0
    assert sum(rows) == 0
    tests = len(list((split_dir / "test").rglob("*.*g")))  # train never saw them
    assert main(["suggest", str(run), str(split_dir), "--out", str(out / "s")]) == 0
    assert sum(rows) == tests  # the run's own images are left out of suggest's ranking
    assert main(["audit", str(split_dir), "--run", str(run), "--out", str(out / "a")]) == 0
    assert sum(rows) == tests


def _edit_counts_then_end_image_sizes_in_the_future(out: Path, tmp_path: Path) -> str:
    (out / "counts.csv").write_text("the user's counts\n")
    future = time.time_ns() + 86_400 * 10**9  # a clock set ahead when image_sizes.png was made
    os.utime(out / "image_sizes.png", ns=(future, future))
    return "counts.csv"


def _restore_a_reviewed_copy_with_its_older_time(out: Path, tmp_path: Path) -> str:
    reviewed = tmp_path / "reviewed.csv"
    reviewed.write_text("the user's counts\n")
    past = time.time_ns() - 86_400 * 10**9
    os.utime(reviewed, ns=(past, past))
    shutil.copy2(reviewed, out / "counts.csv")  # `cp -p`: the older mtime kept
    return "counts.csv"


def _replace_the_file_written_last(out: Path, tmp_path: Path) -> str:
    (out / "image_sizes.png").write_text("the user's own plot\n")
    return "image_sizes.png"


@pytest.mark.slow
@pytest.mark.parametrize(
    "edit",
    [
        _edit_counts_then_end_image_sizes_in_the_future,
        _restore_a_reviewed_copy_with_its_older_time,
        _replace_the_file_written_last,
    ],
)
def test_a_rerun_tells_a_users_edit_by_what_objrec_recorded_not_by_times(
    tmp_path, capsys, image_folder, edit
):
    """An edit counted only when modified after image_sizes.png: one made while that file's time
    was ahead (clock skew), a reviewed counts.csv put back with `cp -p` (its older time kept), or
    the user's own image_sizes.png were written over by `objrec explore DATA` without --force,
    exit 0. The mark records each file's size and content hash: any of them is named, kept."""
    assert run(capsys, "explore", image_folder)[0] == 0
    out = image_folder.with_name("photos-explore")
    name = edit(out, tmp_path)
    kept = (out / name).read_bytes()
    code, _, err = run(capsys, "explore", image_folder)
    assert code == 1 and f"{out / name} changed after objrec wrote it" in " ".join(err.split())
    assert "--force" in err and (out / name).read_bytes() == kept
    assert run(capsys, "explore", image_folder, "--force")[0] == 0
    assert (out / name).read_bytes() != kept


@pytest.mark.slow
def test_a_link_named_like_an_output_is_never_written_through(tmp_path, capsys, image_folder):
    """In objrec's own DATA-explore, a link counts.csv -> the user's precious.csv was written
    through by a re-run, the user's file replaced by the counts. A link is refused, named, even
    with --force (it is the user's, and what it points to more so); its target is untouched."""
    assert run(capsys, "explore", image_folder)[0] == 0
    out = image_folder.with_name("photos-explore")
    precious = tmp_path / "precious.csv"
    precious.write_text("the user's precious file\n")
    (out / "counts.csv").unlink()
    (out / "counts.csv").symlink_to(precious)
    for force in ([], ["--force"]):
        code, _, err = run(capsys, "explore", image_folder, *force)
        assert code == 1 and f"{out / 'counts.csv'} is a link" in " ".join(err.split())
        assert precious.read_text() == "the user's precious file\n"
        assert (out / "counts.csv").is_symlink()


@pytest.mark.slow
def test_a_rerun_after_an_interrupted_one_writes_again(tmp_path, capsys, image_folder):
    """A run stopped before its plots left image_sizes.png missing, and every output then counted
    as changed ('counts.csv changed after objrec wrote it'): a missing output is no edit."""
    assert run(capsys, "explore", image_folder)[0] == 0
    out = image_folder.with_name("photos-explore")
    (out / "images_per_class.png").unlink()
    (out / "image_sizes.png").unlink()
    code, _, err = run(capsys, "explore", image_folder)
    assert code == 0 and "writing again into" in " ".join(err.split())
    assert (out / "image_sizes.png").is_file()


@pytest.mark.slow
def test_an_edit_made_while_the_command_runs_is_kept(tmp_path, capsys, image_folder, monkeypatch):
    """The check ran before the work and the writes came at its end: a file the user saved in
    between was written over. Each output is checked again just before it takes its name."""
    explore = importlib.import_module("objrec.explore")  # `objrec.explore` is the function

    assert run(capsys, "explore", image_folder)[0] == 0
    out = image_folder.with_name("photos-explore")
    summarise = explore.summarise_sizes

    def saved_meanwhile(*args):
        (out / "sizes.csv").write_text("the user's sizes, saved during the run\n")
        return summarise(*args)

    monkeypatch.setattr(explore, "summarise_sizes", saved_meanwhile)
    code, _, err = run(capsys, "explore", image_folder)
    assert code == 1 and f"{out / 'sizes.csv'} changed after" in " ".join(err.split())
    assert (out / "sizes.csv").read_text() == "the user's sizes, saved during the run\n"


@pytest.mark.slow
def test_a_folder_an_objrec_before_the_mark_wrote_is_refreshed_after_one_forced_run(
    capsys, image_folder
):
    """DATA-explore from before the mark was refused on every plain re-run, even after --force,
    which wrote the files but no mark to record them in."""
    assert run(capsys, "explore", image_folder)[0] == 0
    out = image_folder.with_name("photos-explore")
    (out / ".objrec-output").unlink()  # as an objrec before the mark left it
    code, _, err = run(capsys, "explore", image_folder)
    assert code == 1 and "kept no record" in err
    assert run(capsys, "explore", image_folder, "--force")[0] == 0
    code, _, err = run(capsys, "explore", image_folder)
    assert code == 0 and "writing again into" in err


@pytest.mark.slow
def test_a_folder_named_like_an_output_is_refused_without_offering_force(capsys, image_folder):
    """'counts.csv is not a file objrec wrote: pass --force', and --force refused it the same."""
    assert run(capsys, "explore", image_folder)[0] == 0
    out = image_folder.with_name("photos-explore")
    (out / "counts.csv").unlink()
    (out / "counts.csv").mkdir()
    for force in ([], ["--force"]):
        code, _, err = run(capsys, "explore", image_folder, *force)
        said = " ".join(err.split())
        assert code == 1 and f"{out / 'counts.csv'} is not a file" in said
        assert "even with --force: move it, or choose another --out" in said


@pytest.mark.slow
def test_python_dash_m_objrec_cli_runs_the_command():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "objrec.cli", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "Usage:" in done.stdout


@pytest.mark.slow
def test_only_the_program_freezes_its_heap_when_the_command_ends(monkeypatch):
    """`objrec ...` freezes what lives when its command ends (gc.freeze: 1.2 s less for the
    interpreter's exit after a warm retrain, which walked 470,000 objects); main([...]) called in
    a process that goes on, as here, leaves its garbage collector alone (the calls are counted:
    the frozen count of a process whose heap conftest froze moves as frozen objects die)."""
    import gc
    import subprocess

    frozen: list[None] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(None))
    assert main(["--version"]) == 0
    assert frozen == [] and gc.isenabled()
    code = (
        "import gc, sys\nfrom objrec.cli import main\nsys.argv = ['objrec', '--version']\n"
        "assert main() == 0 and gc.get_freeze_count() > 0"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_tests_run_with_the_collector_on_and_what_collection_imported_frozen():
    """conftest's pytest_collection: no garbage collection while the test files are imported,
    then what they left frozen (full collections walked torch's modules again and again), and
    the collector on again for the tests themselves."""
    import gc

    assert gc.isenabled() and gc.get_freeze_count() > 0


@pytest.mark.slow
def test_the_process_s_age_counts_from_python_s_start():
    """What train's closing line counts from: the process's start as the system dates it, so
    the seconds before objrec's code ran (Python's start, the imports) are counted too."""
    import subprocess
    import time

    if not Path("/proc/self/stat").is_file():
        pytest.skip("no /proc: the CLI counts from its own start")
    code = (
        "import time; time.sleep(0.5)\n"
        "from objrec.cli.training import process_age\n"
        "print(process_age())"
    )
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    waited = time.monotonic() - start
    assert 0.5 <= float(done.stdout) <= waited + 0.02  # the system's clock ticks: 10 ms


@pytest.mark.slow
def test_the_program_ends_at_once_after_a_command_that_wrote_all_losing_nothing(tmp_path):
    """A warm retrain's process lived 0.34 s after its last line (load 4-7), in Python's
    teardown and the libraries' C++ destructors. After a command that wrote all, the program
    exits at once, once its threads have ended, its exit handlers run and its output is flushed,
    with the command's exit code."""
    import subprocess

    code = (
        "import atexit, sys, threading, time\n"
        "from pathlib import Path\n"
        "from objrec.cli import heap\n"
        "class Late:\n"
        "    def __del__(self):\n"
        "        sys.stderr.write('teardown ran')\n"
        "kept = Late()\n"
        f"folder = Path({str(tmp_path)!r})\n"
        "atexit.register(lambda: (folder / 'atexit').write_text('ran'))\n"
        "late = lambda: (time.sleep(0.2), (folder / 'thread').write_text('ended'))\n"
        "threading.Thread(target=late).start()\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "pool = ThreadPoolExecutor(1)  # left open: its idle worker waits for Python's exit\n"
        "pool.submit(int).result()\n"
        "sys.stdout.write('said, not flushed yet')\n"
        "heap.end_program(3)  # not the program: returns\n"
        "heap.run_as_program(True)\n"
        "heap.end_program(3)  # nothing wrote all: returns\n"
        "heap.wrote_all()\n"
        "heap.end_program(3)\n"
        "sys.stderr.write('not here')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (3, "said, not flushed yet", "")
    assert (tmp_path / "atexit").read_text() == "ran" and (
        tmp_path / "thread"
    ).read_text() == "ended"


def test_json_stdout_holds_the_answer_alone_whatever_the_work_writes_there(
    capsys, tmp_path, monkeypatch
):
    """torch's hub prints `Downloading: "https://..."` on stdout (sys.stdout.write) before a
    torchvision backbone's first download, so `train --json | jq` broke, and offline a failed
    command's stdout was not empty. Under --json whatever a command's work writes to stdout goes
    to stderr, for every command, and the JSON is written when it ends."""
    import objrec.check

    data = make_class_folder(tmp_path / "photos", per_class=3)
    checking = objrec.check.check_folder

    def noisy(*args, **kwargs):
        print('Downloading: "https://download.pytorch.org/models/x.pth" to /tmp/x.pth')
        sys.stdout.write("more noise\n")
        return checking(*args, **kwargs)

    monkeypatch.setattr(objrec.check, "check_folder", noisy)
    code, out, err = run(capsys, "check", data, "--json")
    assert code == 0 and json.loads(out)["images"] == 9
    assert "Downloading:" in err and "more noise" in err
    code, out, err = run(capsys, "check", data)  # without --json, stdout as it was
    assert code == 0 and out.startswith("Downloading:")

    def failing(*args, **kwargs):
        print('Downloading: "https://download.pytorch.org/models/x.pth" to /tmp/x.pth')
        raise ObjrecError("downloading it failed")

    monkeypatch.setattr(objrec.check, "check_folder", failing)
    code, out, err = run(capsys, "check", data, "--json")
    assert code == 1 and out == "" and "Downloading:" in err and "downloading it failed" in err


def test_json_stdout_holds_the_answer_alone_whatever_native_code_writes_to_fd_1(
    capfd, tmp_path, monkeypatch
):
    """What native code (a C library's printf) writes to file descriptor 1 under --json goes to
    stderr too, not before or after the JSON."""
    import ctypes

    import objrec.check

    data = make_class_folder(tmp_path / "photos", per_class=3)
    checking = objrec.check.check_folder
    libc = ctypes.CDLL(None)

    def noisy(*args, **kwargs):
        os.write(1, b"native noise\n")
        libc.printf(b"buffered C noise\n")
        return checking(*args, **kwargs)

    monkeypatch.setattr(objrec.check, "check_folder", noisy)
    code = main(["check", str(data), "--json"])
    out, err = capfd.readouterr()
    assert code == 0 and json.loads(out)["images"] == 9
    assert "native noise" in err and "buffered C noise" in err


@pytest.mark.slow  # a Python process importing objrec
def test_json_stdout_holds_the_answer_alone_whatever_is_written_to_the_stream_held_before():
    """What a library writes to the stdout stream object it took before --json's block (a logging
    handler, a progress bar given sys.stdout) sat in that stream's buffer, a pipe's being no line
    buffer, and was flushed onto stdout before the JSON once fd 1 was stdout's again: it goes to
    stderr with the rest."""
    import subprocess

    code = (
        "import sys\nfrom objrec.cli.output import print_json, stdout_for_json_only\n"
        "held = sys.stdout\nwith stdout_for_json_only():\n"
        "    held.write('noise from a held stream\\n')\n    print_json({'answer': 1})\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(done.stdout) == {"answer": 1}
    assert "noise from a held stream" in done.stderr


def test_json_answer_refused_by_stdout_is_said_as_an_error_not_a_traceback(
    capsys, tmp_path, monkeypatch
):
    """--json's answer is written as the command ends, outside the command's own error handling:
    `check DATA --json > /dev/full` ended in a traceback (OSError: No space left on device), where
    it said 'error: no space left on device' and exited 1 before the answer was held."""
    import errno

    class FullDisk(io.StringIO):
        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    data = make_class_folder(tmp_path / "photos", per_class=3)
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", FullDisk())
    code = main(["check", str(data), "--json"])
    err = capsys.readouterr().err
    assert code == 1 and "error: no space left on device" in err


def test_help_with_json_given_is_printed_on_stdout(capsys):
    """`objrec check --json --help` printed its help on stderr (--json sends what the command
    writes on stdout there, its answer alone on stdout), so `... --help | less` showed nothing:
    help asked for is no JSON answer, and is printed on stdout as without --json."""
    for args in (["check", "--json", "--help"], ["check", "-h", "--json"]):
        code, out, err = run(capsys, *args)
        assert code == 0 and out.startswith("Usage: objrec check") and "Usage" not in err


def test_an_unknown_backbone_is_a_usage_error_naming_the_option(capsys, tmp_path, split_dir):
    """`--backbone nosuchnet` exited 1, as a failed run, where docs/json.md gives 2 to a bad
    option value: a script retrying on 1 retried a typo. Now one sentence naming --backbone and
    `objrec backbones`, exit 2, nothing written; the same for audit and an ensemble part."""
    for args in (
        ["train", split_dir, "--out", tmp_path / "run", "--backbone", "nosuchnet", "--json"],
        ["train", split_dir, "--out", tmp_path / "run", "--backbone", "tiny_test+nosuchnet"],
        ["audit", split_dir, "--out", tmp_path / "audit", "--backbone", "nosuchnet"],
    ):
        code, out, err = run(capsys, *args)
        assert (code, out) == (2, ""), args
        assert "invalid value for '--backbone': unknown backbone 'nosuchnet'" in err
        said = [s for s in err.splitlines() if not s.startswith("loading the libraries")]
        assert "`objrec backbones` lists them" in err and len(said) == 1  # the error alone
    assert not (tmp_path / "run").exists() and not (tmp_path / "audit").exists()


def test_audit_of_an_ensemble_of_two_normalisations_is_told_what_it_can_do(
    capsys, tmp_path, split_dir
):
    """audit takes no --mean/--std, yet an ensemble normalised apart was refused with "give mean
    and std for all of them" (late61 M1), by the CLI and the Python API alike: both say what
    the audit can do instead."""
    code, out, err = run(
        capsys,
        "audit",
        split_dir,
        "--out",
        tmp_path / "a",
        "--backbone",
        "efficientnet_lite0+resnet18",
    )
    said = " ".join(err.split())
    assert (code, out) == (2, "") and "give" not in said and not (tmp_path / "a").exists()
    assert "audit with bodies normalised alike, each body alone, or with --run" in said
    with pytest.raises(BadBackbone, match="or with `run`, a model trained on them"):
        audit_data_config(get_backbone("efficientnet_lite0+resnet18"))


@pytest.mark.slow
def test_an_ensemble_of_two_normalisations_trains_and_evaluates_with_the_one_given(
    capsys, tmp_path, split_dir, monkeypatch
):
    """bb60: an ensemble of bodies normalised apart could not take one --mean/--std for all:
    refused at train, and every later load of the run's backbone (evaluate, predict) joined it
    from its parts' own normalisations again. It trains with the pair given, which the run
    records, and evaluates."""
    from dataclasses import replace

    import objrec.backbones

    tiny = objrec.backbones.get_backbone("tiny_test")
    half = replace(tiny.data_config, mean=(0.5,) * 3, std=(0.5,) * 3)
    monkeypatch.setitem(
        objrec.backbones._REGISTRY, "tiny_half", replace(tiny, name="tiny_half", data_config=half)
    )
    args = ("--backbone", "tiny_test+tiny_half", "--epochs", "1", "--aug-views", "0")
    given = ("--mean", "0.25", "0.25", "0.25", "--std", "0.5", "0.5", "0.5")
    code, _, err = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args, *given)
    assert code == 0, err
    _, meta = load_model(tmp_path / "run")
    assert (meta.data.mean, meta.data.std) == ((0.25,) * 3, (0.5,) * 3)
    code, out, err = run(capsys, "evaluate", tmp_path / "run", split_dir, "--json")
    assert code == 0 and json.loads(out)["n"] == 9, err


def ctrl_c_at_epoch_3(monkeypatch):
    """Train's reporter raises KeyboardInterrupt (Ctrl-C) as epoch 3 is shown, which the saver
    copied just before (the run is kept as of epoch 3); returns the real ``RichReporter.epoch``,
    to put back for a resume."""
    from objrec.cli.output import RichReporter

    shown = RichReporter.epoch

    def stopping(self, record):
        if record["epoch"] == 3:
            raise KeyboardInterrupt
        shown(self, record)

    monkeypatch.setattr(RichReporter, "epoch", stopping)
    return shown


@pytest.mark.slow
def test_predict_and_evaluate_say_a_run_stopped_before_its_end_is_unfinished(
    capsys, caplog, tmp_path, split_dir, monkeypatch, trained_run
):
    """A run stopped by Ctrl-C (here in calibration) holds a model, uncalibrated, which predict
    and evaluate answered with silently, as if finished: they now say it is unfinished and how to
    finish it; of a finished run, they say nothing of it."""

    def ctrl_c(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module("objrec.train"), "calibrate", ctrl_c)
    folder = tmp_path / "stopped"
    args = ["--backbone", "tiny_test", "--epochs", "1", "--aug-views", "0"]
    assert run(capsys, "train", split_dir, "--out", folder, *args)[0] == 130
    image = next((split_dir / "test" / "red").iterdir())
    for command in (["predict", folder, image], ["evaluate", folder, split_dir]):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="objrec"):
            code = run(capsys, *command)[0]
        said = [m for m in caplog.messages if "unfinished" in m]
        assert code == 0 and len(said) == 1 and said[0].startswith(f"{folder} holds an unfinished")
        assert "probabilities are not calibrated" in said[0] and "resume" in said[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="objrec"):
        assert run(capsys, "predict", trained_run, image)[0] == 0
    assert not any("unfinished" in m for m in caplog.messages)


LOGS_AS_OBJREC_V = """
import logging, sys
from objrec.cli import cli
from objrec.cli.output import PlainProgress
cli.callback(verbose=1)  # the logging `objrec -v` sets up
logging.getLogger("objrec.check").info("checked %s: 120 images, 0 unusable", sys.argv[1])
PlainProgress("reading " + sys.argv[1], 2, interval=0).advance()
"""


@pytest.mark.slow  # two Python processes importing objrec
def test_verbose_log_lines_are_whole_lines_in_a_log_file(tmp_path):
    """`objrec train data --out run -v 2> log.txt`: rich's log lines were wrapped at 80 columns,
    a message split over three lines, so grep on the log missed it. Redirected, each record is one
    line (time, level, message), as progress lines already were; a terminal keeps rich's look."""
    import subprocess

    folder = "/data/" + "long-folder-name-" * 6 + "photos"
    log = tmp_path / "log.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "80"}
    env.pop("TTY_COMPATIBLE", None)
    code = [sys.executable, "-c", LOGS_AS_OBJREC_V, folder]
    with log.open("w") as stderr:
        subprocess.run(code, stderr=stderr, env=env, check=True)
    lines = log.read_text().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith(f"] INFO     checked {folder}: 120 images, 0 unusable")
    assert lines[1].startswith(f"reading {folder}: 1/2 (50%), 0s")
    terminal = subprocess.run(
        code, capture_output=True, text=True, env={**env, "TTY_COMPATIBLE": "1"}, check=True
    )
    assert "INFO" in terminal.stderr and f"checked {folder}" not in terminal.stderr  # wrapped


@pytest.mark.slow  # a whole explore
def test_a_table_on_an_ascii_stdout_is_as_wide_on_a_row_whose_name_was_escaped(
    tmp_path, monkeypatch
):
    """Under PYTHONIOENCODING=ascii (b21e847) a table row naming a class `café` was 3 columns
    wider than the others: rich measured é as one column, the stream wrote it as \\xe9. The
    console escapes a table's text as the stream writes it, before measuring it."""
    photos = make_class_folder(tmp_path / "photos", per_class=2, classes=("red", "green"))
    (photos / "green").rename(photos / "café")
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="backslashreplace")
    monkeypatch.setattr(sys, "stdout", stream)
    assert main(["explore", str(photos), "--out", str(tmp_path / "explore")]) == 0
    stream.flush()
    table = [line for line in stream.buffer.getvalue().decode().splitlines() if line[:1] in "+|"]
    assert any("caf\\xe9" in line for line in table) and len(table) >= 5
    assert len({len(line) for line in table}) == 1, "\n".join(table)


@pytest.mark.slow  # a fresh interpreter importing objrec's CLI: about 5 s on 2 cores
def test_text_output_escapes_what_an_ascii_stdout_cannot_write(tmp_path):
    """`PYTHONIOENCODING=ascii objrec check rvé` crashed in rich with a UnicodeEncodeError: the
    program's stdout and stderr now write such a character escaped (\\xe9), and --json's output,
    escaped as JSON already, is unchanged and still reads back."""
    import subprocess

    folder = tmp_path / "rvé"
    (folder / "catégorie").mkdir(parents=True)
    (folder / "catégorie" / "bad.jpg").write_bytes(b"not an image")
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "objrec", "check", str(folder)]
    text = subprocess.run(command, capture_output=True, text=True, env=env)
    assert "UnicodeEncodeError" not in text.stderr and text.returncode == 1, text.stderr
    assert "cat\\xe9gorie" in text.stdout, text.stdout
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, env=env)
    assert json.loads(done.stdout)["root"] == str(folder) and done.stdout.isascii()


def alike_split(split_dir: Path) -> Path:
    """``split_dir`` with its blue folders renamed ``Red ``, beside ``red``: as made by hand, or
    by an add before it refused them."""
    for split in ("train", "valid", "test"):
        (split_dir / split / "blue").rename(split_dir / split / "Red ")
    return split_dir


def as_torchrun_rank(monkeypatch, rank: int, size: int = 2) -> None:
    """This process's environment as torchrun sets it for rank ``rank`` of ``size``."""
    torchrun = {"RANK": rank, "WORLD_SIZE": size, "LOCAL_WORLD_SIZE": size, "MASTER_ADDR": "x"}
    for name, value in torchrun.items():
        monkeypatch.setenv(name, str(value))


def test_a_logged_error_of_another_rank_than_0_says_which_it_is(capsys, monkeypatch):
    """Rank 1 shows the errors it logs (only those: its level is ERROR), marked as its own."""
    handler = SentenceHandler()
    record = logging.LogRecord("objrec.x", logging.ERROR, __file__, 1, "it failed", None, None)
    as_torchrun_rank(monkeypatch, 1, 4)
    handler.emit(record)
    as_torchrun_rank(monkeypatch, 0, 4)
    handler.emit(record)
    assert capsys.readouterr().err == "rank 1 of 4: error: it failed\nerror: it failed\n"


def test_a_name_holding_control_characters_cannot_rewrite_the_terminal(capsys):
    """An upload named ``evil\\x1b[2J.jpg`` (ESC: clear the screen) went raw into serve's log on
    the operator's terminal, and a file named with ESC or a newline into predict's lines (the
    script's too): a colour, a cleared screen, one answer over two lines. They are escaped now,
    tab kept, and a line stays one line."""
    from objrec.cli.output import SERVER_EVENTS, one_line, printable
    from objrec.cli.prediction import print_predictions
    from objrec.export.script import text
    from objrec.predict import Prediction

    assert printable("a\x1b[31mb\r\x07c\td\ne\x9b") == "a\\x1b[31mb\\x0d\\x07c\td\ne\\x9b"
    assert one_line("new\nline.jpg") == "new\\nline.jpg"
    top = [{"class": "café", "prob": 1.0}]
    print_predictions([Prediction(p, top) for p in ("esc\x1b[2J.jpg", "new\nline.jpg")], None, 5)
    said = capsys.readouterr().out.splitlines()[:2]
    assert said == ["esc\\x1b[2J.jpg: café 100.00%", "new\\nline.jpg: café 100.00%"]
    script = [text({"path": p, "unknown": False, "topk": top}) for p in ("esc\x1b[2J.jpg",)]
    assert script == said[:1]  # the exported script prints them as predict does
    log, handler = logging.getLogger(SERVER_EVENTS), SentenceHandler()
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)  # as serve shows its events
    try:
        log.info("/predict %s (1 KiB): café 99%%", "evil\x1b]0;title\x07.jpg")  # a server's event
        log.warning("/predict %s: refused", "bad\x1b[2J.jpg")
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "/predict evil\\x1b]0;title\\x07.jpg (1 KiB)" in err
    assert "/predict bad\\x1b[2J.jpg: refused" in err


def test_a_run_given_as_a_web_address_or_a_quoted_tilde_is_said_as_such(
    capsys, tmp_path, monkeypatch
):
    """mistakes41: `objrec evaluate "~/run" data` said "~/run does not exist", though ~/run was
    there (quoted, the shell leaves ~ as it is); now the path meant is named too."""
    monkeypatch.setenv("HOME", str(tmp_path))
    code, _, err = run(capsys, "evaluate", "~/run", tmp_path)
    assert code == 2 and err.startswith(
        f"error: invalid value for 'RUN': ~/run does not exist (~ is a home folder only "
        f"unquoted: {tmp_path / 'run'}) (see objrec evaluate --help)"
    ), err
    code, _, err = run(capsys, "export", "https://example.com/run")
    assert code == 2 and err.startswith(
        "error: invalid value for 'RUN': https://example.com/run is a web address: objrec reads "
        "files on this computer, so download it first"
    ), err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (  # click's type name, "'three' is not a valid integer range"
            ["predict", "{tmp}", "{tmp}", "--topk", "three"],
            "error: invalid value for '--topk': 'three' is not a whole number "
            "(see objrec predict --help)",
        ),
        (
            ["split", "{tmp}", "{tmp}/data", "--burst-seconds", "abc"],
            "error: invalid value for '--burst-seconds': 'abc' is not a number "
            "(see objrec split --help)",
        ),
        (  # said no more than "option '--ratios' requires 3 arguments"
            ["split", "{tmp}", "{tmp}/data", "--ratios", "0.7", "0.3"],
            "error: option '--ratios' requires 3 arguments (see objrec split --help)",
        ),
        (  # percentages, as a spreadsheet gives them
            ["split", "{tmp}", "{tmp}/data", "--ratios", "70", "15", "15"],
            "error: --ratios must sum to 1, got 100 for [70.0, 15.0, 15.0]: as fractions, "
            "0.7 0.15 0.15 (see objrec split --help)",
        ),
    ],
)
def test_a_bad_number_is_refused_in_words_with_where_help_is(capsys, tmp_path, args, said):
    """mistakes41: each of these read as click's internals or left the user without a next step."""
    code, _, err = run(capsys, *(a.format(tmp=tmp_path) for a in args))
    assert code == 2 and " ".join(err.split()) == said, err


def numeric_options() -> list[tuple[str, str, int, str]]:
    """Every option of every command that takes numbers: its command, flag, how many values and
    the words its refusal of ``x`` uses."""
    from objrec.cli import cli

    words = {"integer": "a whole number", "float": "a number", "number": "a number"}
    return [
        (name, param.opts[0], param.nargs, words[param.type.name.split()[0]])
        for name, command in cli.commands.items()
        for param in command.params
        if isinstance(param, click.Option) and param.type.name.split()[0] in words
    ]


def test_every_number_option_refuses_a_word_in_the_same_words(capsys):
    """A wrong-type value was said three ways: `--topk x` "is not a whole number", `--epochs
    x` "is not a valid integer", `--threshold abc` "is not a valid float". One wording a type,
    each a usage error (exit 2) with where help is."""
    options = numeric_options()
    assert len(options) > 20 and {"--epochs", "--threshold", "--lr"} <= {o[1] for o in options}
    for name, flag, nargs, words in options:
        code, _, err = run(capsys, name, flag, *["x"] * nargs)
        said = f"error: invalid value for '{flag}': 'x' is not {words} (see objrec {name} --help)"
        assert code == 2 and " ".join(err.split()) == said, (name, err)


def test_every_path_is_refused_in_objrec_s_words(capsys, tmp_path):
    """`add --labels x.csv` said click's own "File 'x.csv' does not exist" where every other
    path says "x.csv does not exist"."""
    from objrec.cli import cli
    from objrec.cli.options import PathParam

    checked = [
        (name, param.name, param.type)
        for name, command in cli.commands.items()
        for param in command.params
        if isinstance(param.type, click.Path) and param.type.exists
    ]
    assert len(checked) > 10
    assert [c[:2] for c in checked if not isinstance(c[2], PathParam)] == []
    code, _, err = run(capsys, "add", tmp_path, "--labels", tmp_path / "x.csv")
    assert code == 2 and " ".join(err.split()) == (
        f"error: invalid value for '--labels': {tmp_path / 'x.csv'} does not exist "
        "(see objrec add --help)"
    ), err


def stop_at_call(n: int, function, half=None):
    """``function``, raising KeyboardInterrupt (Ctrl-C) at its ``n``-th call instead; ``half``:
    called with that call's arguments first (a write stopped half way)."""
    calls = []

    def stopping(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            if half is not None:
                half(*args)
            raise KeyboardInterrupt
        return function(*args, **kwargs)

    return stopping


@pytest.mark.slow
def test_ctrl_c_in_add_says_how_many_were_added_and_the_same_add_adds_the_rest(
    tmp_path, capsys, monkeypatch
):
    """An add stopped while copying keeps the files it copied, each whole and in the manifest:
    it says so, and that the same add adds the rest, which it then does."""
    from objrec.split.recipe import split_folder

    adding = importlib.import_module("objrec.add.write")
    data = tmp_path / "data"
    split_folder(make_class_folder(tmp_path / "photos", per_class=4), data, seed=0)
    new = make_class_folder(tmp_path / "new", per_class=2, classes=("green",))
    rows = (data / "manifest.csv").read_text().count("\n")
    monkeypatch.setattr(adding, "_put", stop_at_call(2, adding._put, half=lambda *a: None))
    code, _, err = run(capsys, "add", data, new)
    said = " ".join(err.split())
    assert code == 130 and "Traceback" not in err, err
    assert f"done): 1 of 2 images added to {data}, each whole and in its manifest," in said
    assert "the others not: the same add again adds them" in said
    assert (data / "manifest.csv").read_text().count("\n") == rows + 1
    assert not [p for p in data.rglob(".objrec-*")]  # no part of the one stopped
    monkeypatch.undo()
    assert run(capsys, "add", data, new)[0] == 0
    assert (data / "manifest.csv").read_text().count("\n") == rows + 2


@pytest.mark.slow
def test_ctrl_c_in_apply_plan_leaves_no_half_copied_image_and_out_as_it_was(
    tmp_path, capsys, monkeypatch
):
    """apply-plan copied each image straight to its name: Ctrl-C mid-copy left a part of one
    that looked whole. Each is now copied under a temporary name, then renamed, into a staging
    folder renamed OUT once whole: stopped, it leaves nothing (test_audit's
    test_apply_plan_stopped_half_way_leaves_out_as_it_was_for_the_retry)."""
    applying = importlib.import_module("objrec.applying.copy")
    photos = make_class_folder(tmp_path / "photos", per_class=2)
    (tmp_path / "plan.csv").write_text("file,action,new_class\n")

    def half(source, target):
        Path(target).write_bytes(Path(source).read_bytes()[:50])

    monkeypatch.setattr(applying, "copy_hashed", stop_at_call(3, applying.copy_hashed, half))
    code, _, err = run(capsys, "apply-plan", photos, tmp_path / "plan.csv", tmp_path / "fixed")
    said = " ".join(err.split())
    assert code == 130 and "Traceback" not in err, err
    out = tmp_path / "fixed"
    assert f"nothing was written to {out}, which is as it was (the 2 of 6 files copied" in said
    assert "apply the plan again" in said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "plan.csv"]  # no part left


def test_ctrl_c_before_the_work_began_says_nothing_was_written(tmp_path, capsys, monkeypatch):
    """Ctrl-C as a command loads its libraries (before any progress) said "aborted"."""
    commands = importlib.import_module("objrec.cli.data")

    def loading(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "RichReporter", loading)
    photos = make_class_folder(tmp_path / "photos", per_class=2)
    code, _, err = run(capsys, "explore", photos, "--out", tmp_path / "out")
    assert code == 130 and err.strip() == "interrupted before its work began: nothing was written"


class StoppedAtImport:
    """A module whose import is stopped by Ctrl-C: any name taken from it raises it."""

    def __getattr__(self, name):
        raise KeyboardInterrupt


def test_ctrl_c_as_the_libraries_load_says_nothing_was_written(tmp_path, capsys, monkeypatch):
    """Ctrl-C in the seconds of "loading the libraries" said "interrupted at loading the
    libraries" alone, where every other stop says what was left. A stop outside the library's
    work once it began (its files may be written) still claims nothing."""
    photos = make_class_folder(tmp_path / "photos", per_class=2)
    monkeypatch.setitem(sys.modules, "objrec.explore", StoppedAtImport())
    code, _, err = run(capsys, "explore", photos, "--out", tmp_path / "out")
    said = err.strip().splitlines()
    assert code == 130 and said[-1] == "interrupted at loading the libraries: nothing was written"
    monkeypatch.undo()

    def wrote_then_stopped(data, out, reporter, *args):
        with reporter.task("writing the tables", None):
            raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module("objrec.explore"), "explore", wrote_then_stopped)
    code, _, err = run(capsys, "explore", photos, "--out", tmp_path / "out")
    assert code == 130 and err.strip().splitlines()[-1] == "interrupted at writing the tables"


UNEXPECTED = (
    r"error: objrec explore stopped on an error objrec did not expect, a bug: "
    r"LinAlgError: Singular matrix; its full trace is in (\S+objrec-error-\S+\.txt): please "
    r"report it with that file \(-v prints it too\)"
)


def test_an_unexpected_error_is_one_sentence_naming_the_command_and_the_file_of_its_trace(
    tmp_path, capsys, monkeypatch
):
    """An error objrec did not expect (numpy's "Singular matrix" in evaluate's figure)
    reached the user as a raw traceback of 60 lines, click's frames among them, with no word of
    what failed or what to do: now one sentence, exit 1, and the trace with the command line in
    a file it names; -v prints the trace too."""
    import tempfile

    import numpy as np

    def singular(*args):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(importlib.import_module("objrec.cli.data"), "RichReporter", singular)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    photos = make_class_folder(tmp_path / "photos", per_class=2)
    code, _, err = run(capsys, "explore", photos)
    written = re.fullmatch(UNEXPECTED, err.strip())
    assert code == 1 and written, err
    trace = Path(written[1]).read_text()
    assert Path(written[1]).parent == tmp_path and f"command: objrec explore {photos}\n" in trace
    assert "Traceback (most recent call last)" in trace and "in singular" in trace
    assert trace.endswith("numpy.linalg.LinAlgError: Singular matrix\n")
    code, _, err = run(capsys, "-v", "explore", photos)
    said = err.strip().splitlines()
    assert code == 1 and said[0] == "Traceback (most recent call last):", err
    assert said[-2] == "numpy.linalg.LinAlgError: Singular matrix"
    assert re.fullmatch(UNEXPECTED, said[-1])


@pytest.mark.slow  # a new process: its imports
def test_an_unexpected_error_ends_the_program_in_one_sentence_and_exit_1(tmp_path):
    """The program itself (``main()`` reading ``sys.argv``, ending through ``heap.end_program``)
    says a bug in one sentence and exits 1, no traceback on stderr."""
    import subprocess

    photos = make_class_folder(tmp_path / "photos", per_class=2)
    code = (
        "import sys\nimport numpy as np\nfrom objrec.cli import data, main\n"
        "def singular(*args):\n    raise np.linalg.LinAlgError('Singular matrix')\n"
        f"data.RichReporter = singular\nsys.argv = ['objrec', 'explore', {str(photos)!r}]\n"
        "sys.exit(main())\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    written = re.fullmatch(UNEXPECTED, done.stderr.strip())
    assert done.returncode == 1 and written, done.stderr
    assert Path(written[1]).parent == tmp_path and "Traceback" not in done.stderr


STOPPING = "stopping (Ctrl-C): the step in hand is cut short, then what the command kept is said"
"""The line Ctrl-C gets at once, as it comes."""


NOTHING_WRITTEN = "interrupted before its work began: nothing was written"


def test_a_failure_after_ctrl_c_half_made_an_import_is_said_as_the_interruption(
    tmp_path, capsys, monkeypatch
):
    """Ctrl-C in a command's first second, as numpy or torch was imported, left the module half
    made, and the command failed later with its traceback (RecursionError, ImportError 'cannot
    load module more than once per process'), exit 1: it was interrupted, exit 130."""
    import signal

    commands = importlib.import_module("objrec.cli.data")

    def half_imported(*args):
        try:  # a C extension's import, which swallows what its init raised
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(commands, "RichReporter", half_imported)
    photos = make_class_folder(tmp_path / "photos", per_class=2)
    code, _, err = run(capsys, "explore", photos)
    assert code == 130 and err.split() == [*STOPPING.split(), *NOTHING_WRITTEN.split()]


@pytest.mark.slow  # a fresh interpreter (0.2 s)
def test_ctrl_c_as_objrec_starts_exits_130_without_a_traceback(tmp_path):
    """Ctrl-C in the first second of a command (longer on a loaded machine), as the CLI was
    imported, printed a 20-line traceback ending in KeyboardInterrupt. A
    ``click`` that raises KeyboardInterrupt as it is imported stands for the key pressed then."""
    import subprocess

    from objrec.__main__ import INTERRUPTED_AT_START

    (tmp_path / "click").mkdir()
    (tmp_path / "click" / "__init__.py").write_text("raise KeyboardInterrupt\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "objrec", "--help"], capture_output=True, text=True, env=env
    )
    assert (done.returncode, done.stderr, done.stdout) == (130, f"{INTERRUPTED_AT_START}\n", "")


def test_a_loop_of_links_is_said_to_be_one_not_a_link_to_nothing(capsys, tmp_path):
    """`ln -s lp2 lp1; ln -s lp1 lp2`: check and split said "lp1 is a link to nothing", predict
    "a link to lp2, which is not there (moved or deleted since it was linked)", though lp2 is
    there."""
    from objrec.listing import broken_link_reason

    (tmp_path / "lp1").symlink_to("lp2")
    (tmp_path / "lp2").symlink_to("lp1")
    (tmp_path / "gone").symlink_to("nowhere")
    loop = "lp1 is a link in a loop of links (lp2 leads back to it): it reaches no file"
    for args in (["check", "lp1"], ["split", "lp1", "data"]):
        code, _, err = run(capsys, args[0], *[tmp_path / a for a in args[1:]])
        assert code == 2 and f"{tmp_path / loop}" in " ".join(err.split()), err
    code, _, err = run(capsys, "check", tmp_path / "gone")
    assert code == 2 and "gone is a link to nothing" in err
    assert broken_link_reason(tmp_path / "lp2").startswith("a link in a loop of links (lp1 leads")
    assert broken_link_reason(tmp_path / "gone") == (
        "a link to nowhere, which is not there (moved or deleted since it was linked)"
    )


def test_out_of_range_options_of_suggest_add_and_split_are_usage_errors(capsys, tmp_path):
    """Each exit status 2 with the option named and the --help pointer, as every bad option
    value (docs/json.md); they were failed runs, exit 1, without it."""
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "valid").mkdir()
    (tmp_path / "l.csv").write_text("path,label\n", encoding="utf-8")
    data, new, l_csv = tmp_path / "data", tmp_path, tmp_path / "l.csv"
    cases = {
        ("suggest", tmp_path, tmp_path, "-n", "0"): ("'-n'", "suggest"),
        ("add", data, new, "--ratios", "2", "0", "0"): ("--ratios must sum to 1", "add"),
        ("add", data, "--class", "ant", "--labels", l_csv): ("--class with it", "add"),
        ("split", new, tmp_path / "o", "--ratios", "1", "0", "0"): (
            "--ratios gives valid",
            "split",
        ),
    }
    for args, (said, command) in cases.items():
        code, out, err = run(capsys, *args)
        assert code == 2 and said in err and f"(see objrec {command} --help)" in err, err
        assert not out


def test_a_run_whose_model_is_gone_is_said_so_by_every_command_given_it(capsys, tmp_path):
    """predict, evaluate, export and share said "give a run folder written by `objrec train`" of
    a run folder whose model was deleted; check's sentence, from one place."""
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    for name in ("config.json", "summary.json"):
        (run_folder / name).write_text("{}")
    as_split_folder(tmp_path / "data")
    make_image(COLOURS["red"]).save(tmp_path / "a.png")
    said = (
        f"error: {run_folder} is a run folder without its model.safetensors (it holds config.json "
        "and summary.json, which `objrec train` writes beside it): moved or deleted? Put the model "
        "back to use the run"
    )
    for args in (
        ["predict", run_folder, tmp_path / "a.png"],
        ["evaluate", run_folder, tmp_path / "data"],
        ["export", run_folder],
        ["share", run_folder, tmp_path / "shared"],
    ):
        code, _, err = run(capsys, *args)
        assert code == 1 and said in " ".join(err.split()), err
    project = tmp_path / "project"  # a config.json alone is any project's, not a run's (late51)
    project.mkdir()
    (project / "config.json").write_text("{}")
    code, _, err = run(capsys, "predict", project, tmp_path / "a.png")
    assert code == 1 and "moved or deleted" not in err and "give a run folder" in err, err


def test_a_full_disk_names_the_output_option_not_the_marker_file(capsys, monkeypatch, tmp_path):
    """evaluate's and explore's full disk named their hidden marker (`ev/.objrec-output: no space
    left on device`) and said nothing of what to do; in train's words now, with the option whose
    folder it was."""
    import errno

    out = tmp_path / "ex"

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / ".objrec-output"))

    monkeypatch.setattr(importlib.import_module("objrec.explore"), "explore", full)
    as_split_folder(tmp_path / "data")
    code, out_text, err = run(capsys, "explore", tmp_path / "data", "--out", out)
    said = " ".join(err.split())
    assert code == 1 and not out_text and ".objrec-output" not in said
    assert said.endswith(
        f"error: the disk of {out} is full: {out} could not be written (no space left on "
        "device): free some space on that disk, or give --out a place on a disk with room"
    )


def test_a_full_disk_names_no_flag_as_the_option_to_fix(capsys, monkeypatch, tmp_path):
    """The option named for a full disk was the word before the refused path, whatever it was:
    `evaluate --json RUN DATA`, whose results go in RUN, was told to "give --json a place on a
    disk with room". The command's own parser says which options take a path."""
    import errno

    from objrec.cli import given_path

    run_dir, data = tmp_path / "run", as_split_folder(tmp_path / "data")
    run_dir.mkdir()
    (run_dir / "model.safetensors").write_bytes(b"")  # a run, as evaluate's first look sees it
    refused = run_dir / "eval-test" / ".objrec-output"

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(refused))

    monkeypatch.setattr(importlib.import_module("objrec.evaluate"), "run_evaluation", full)
    code, out_text, err = run(capsys, "evaluate", "--json", run_dir, data)
    said = " ".join(err.split())
    assert code == 1 and not out_text and "--json" not in said, said
    assert said.endswith(
        "could not be written (no space left on device): free some space on that disk"
    )
    ev = str(tmp_path / "ev")
    assert given_path(["evaluate", "--json", ev, "d", "--out", ev], Path(ev, "m.csv")) == (
        "--out",
        ev,
    )
    assert given_path(["predict", "r", "--csv=p.csv", "--force"], Path("p.csv")) == (
        "--csv",
        "p.csv",
    )
    assert given_path(["predict", "--force", "p.csv", "x.jpg"], Path("p.csv")) is None


def test_a_second_ctrl_c_during_the_clean_up_lets_the_sentence_finish(
    tmp_path, capsys, monkeypatch
):
    """An impatient second Ctrl-C, sent while split said it was interrupted, raised
    KeyboardInterrupt in the middle of the sentence: it was cut before "nothing was written to
    out: run it again" (and train, stopped so in fine-tuning, left a run with only its state).
    The first Ctrl-C is the only one acted on until the sentence is said and the clean-up done."""
    import signal

    def ctrl_c(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the handler raises as soon as the signal arrives

    cli_module = importlib.import_module("objrec.cli")
    said_in_cli = cli_module.to_cli

    def ctrl_c_again(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return said_in_cli(*args, **kwargs)

    photos = make_class_folder(tmp_path / "photos", per_class=4)
    monkeypatch.setattr(importlib.import_module("objrec.split.recipe"), "assign", ctrl_c)
    monkeypatch.setattr(cli_module, "to_cli", ctrl_c_again)
    code, _, err = run(capsys, "split", photos, tmp_path / "out")
    said = " ".join(err.split())
    assert code == 130 and said.endswith(f"nothing was written to {tmp_path / 'out'}: run it again")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_ctrl_c_lost_in_a_finalizer_is_not_printed_and_still_stops_the_command():
    """The SIGINT handler raised KeyboardInterrupt wherever the main thread was, once (1 in 10
    splits) inside ProcessPoolExecutor's weakref callback, where Python cannot raise it: it
    printed "Exception ignored in ... weakref_cb" and its traceback after the "interrupted"
    line. Such a KeyboardInterrupt is not printed, and the Ctrl-C it carried is raised again
    where the command runs."""
    import signal
    import subprocess
    import textwrap

    code = textwrap.dedent(
        """
        import signal, sys, time, weakref
        from objrec.cli import sigterm_as_ctrl_c

        class Pool:
            pass

        caught = []
        with sigterm_as_ctrl_c(caught):
            try:
                pool = Pool()
                weakref.finalize(pool, signal.getsignal(signal.SIGINT), signal.SIGINT, None)
                del pool  # the handler runs inside the finalizer, as Ctrl-C may land there
                for _ in range(1000):
                    time.sleep(0.01)
                print("not stopped")
            except KeyboardInterrupt:
                print("stopped")
        print(caught)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert "Exception ignored" not in done.stderr and done.stderr == STOPPING + "\n", done.stderr
    assert done.stdout.split("\n")[0] == "stopped", done.stdout
    assert done.stdout.split("\n")[1] == str([signal.SIGINT]), done.stdout  # caught once


CTRL_C_IN_AN_ENGINE = """
import signal, sys, threading
from objrec import errors
from objrec.cli import data, main, output

output.PLAIN_PROGRESS_SECONDS = 0.05  # a progress line each 0.05 s while the batch runs

def a_batch_in_the_engine(*args, **kwargs):
    # C code that Python's Ctrl-C handler waits for, as ONNX Runtime's and OpenVINO's batches
    # are, until the engine is told to end it (SIGUSR1, where ONNX Runtime's terminate is set)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    engine = threading.get_ident()
    with output.RichReporter().task("computing features", 10):
        with errors.WORK_IN_HAND.cut_by(lambda: signal.pthread_kill(engine, signal.SIGUSR1)):
            print("in the engine", flush=True)
            signal.sigwait([signal.SIGUSR1])

data.RichReporter = a_batch_in_the_engine
sys.argv = ["objrec", "explore", sys.argv[1]]
sys.exit(main())
"""


@pytest.mark.slow  # a new process: its imports
@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_is_answered_at_once_and_cuts_the_batch_in_the_engine_short(tmp_path, presses):
    """Ctrl-C while the main thread was in an engine's batch (the int8 copy's calibration,
    features) was not answered until the batch ended, 10 to 17 s on a busy machine: progress
    lines went on, "interrupted" came at the end. The process, sent SIGINT as a terminal's
    Ctrl-C sends it, says at once that it stops, writes no progress line after that, cuts the
    batch short and says what it left, exit 130, a second Ctrl-C too, without a traceback.
    (Without the reply the batch never ends here: the process is killed at the timeout.)"""
    import signal
    import subprocess

    photos = make_class_folder(tmp_path / "photos", per_class=2)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_IN_AN_ENGINE, str(photos)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "in the engine\n"
        for _ in range(presses):
            process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    stopping = lines.index(STOPPING)
    assert lines[stopping + 1 :] == ["interrupted at computing features (0 of 10 done)"], stderr
    assert all(line.startswith("computing features: 0/10") for line in lines[:stopping]), stderr


def safetensors_cut_short(path: Path) -> Path:
    """A safetensors file of one tensor whose header describes 16 bytes of it, of which it holds
    8: a copy that stopped part way."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    return path


@pytest.mark.parametrize("command", ["export", "train", "serve"])
def test_refusals_the_files_decide_come_before_the_libraries_load(
    tmp_path, capsys, monkeypatch, command
):
    """review53b M2: `export run` with run/model.onnx there, `train data --out PHOTOS/class` and
    `serve` of a model file cut short loaded the libraries (7 s, PyTorch, FastAPI) before
    refusing what the files alone decide. The module that loads them cannot be imported here:
    each refusal comes without it."""
    run_dir = tmp_path / "run"
    if command == "export":
        (run_dir / "model.onnx").parent.mkdir()
        (run_dir / "model.onnx").write_bytes(b"an earlier export")
        monkeypatch.setitem(sys.modules, "objrec.export.exporter", None)
        args, said = ["export", run_dir], f"{run_dir / 'model.onnx'} exists"
    elif command == "train":
        photos = make_class_folder(tmp_path / "photos", per_class=2)
        data = as_split_folder(tmp_path / "data")
        monkeypatch.setitem(sys.modules, "objrec.train", None)
        args, said = ["train", data, "--out", photos / "red"], "holds photos (img_00.jpg"
    else:
        model = safetensors_cut_short(run_dir / "model.safetensors")
        monkeypatch.setitem(sys.modules, "objrec.serve.server", None)
        args, said = ["serve", run_dir], f"{model} is cut short: it holds 78 of the 86 bytes"
    code, _, err = run(capsys, *args)
    assert code == 1 and said in " ".join(err.split()), err
    assert "loading the libraries" not in err


def test_errors_name_arguments_and_metavars_as_the_usage_line_does(capsys, tmp_path):
    """review60b F22: `add DATA nosuch` said "invalid value for '[NEW]...'", `backbones nosuch`
    "invalid value for NAME" (unquoted, unlike 'DATA'), and add --labels of a table without
    its columns asked for "the table `objrec predict RUN PHOTOS --csv file` wrote"."""
    data = as_split_folder(tmp_path / "data")
    code, _, err = run(capsys, "add", data, tmp_path / "nosuch")
    assert code == 2 and " ".join(err.split()).startswith("error: invalid value for 'NEW': ")
    code, _, err = run(capsys, "backbones", "nosuch")
    assert code == 2 and err.startswith("error: invalid value for 'NAME': unknown backbone")
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    code, _, err = run(capsys, "add", data, "--labels", tmp_path / "notes.csv")
    assert code != 0 and "`objrec predict RUN PHOTOS --csv FILE` wrote" in " ".join(err.split())


def test_workers_and_num_workers_each_say_what_they_are_beside_the_other(capsys, monkeypatch):
    """review60b F23: serve's --workers (server processes) and train's --num-workers (processes
    that decode images) are two ideas under one word: each one's --help line says what it is,
    train's that serve's --workers are another thing (serve's --help-all says it of train's);
    export's --format, a choice of one, says so."""
    monkeypatch.setenv("COLUMNS", "200")  # each option's line whole
    code, out, _ = run(capsys, "train", "--help")
    said = " ".join(out.split())
    assert code == 0 and "--num-workers N Extra processes that decode images (not serve's " in said
    code, out, _ = run(capsys, "serve", "--help")
    said = " ".join(out.split())
    assert (
        code == 0 and "--workers N Server processes, each with its own copy of the model." in said
    )
    code, out, _ = run(capsys, "serve", "--help-all")
    assert "Not train's --num-workers, processes that decode images." in " ".join(out.split())
    code, out, _ = run(capsys, "export", "--help")
    said = " ".join(out.split())
    assert (
        code == 0 and "--format [onnx] The file format: ONNX, the only one objrec writes." in said
    )


def test_v_after_the_command_is_taken_as_before_it(tmp_path, capsys, monkeypatch):
    """review53b L6, review60b F21: `objrec predict run x.jpg -v` was refused ("no such option
    '-v'; -v goes before the command"), where every user types it at the end: objrec's own
    options are taken after the command's name too, but after ``--`` (a file) or as an
    option's value (``--out -v``)."""
    import tempfile

    import numpy as np

    def singular(*args):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(importlib.import_module("objrec.cli.data"), "RichReporter", singular)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    photos = make_class_folder(tmp_path / "photos", per_class=2)
    for given in (["-v"], ["--verbose"], ["-vv"]):
        code, _, err = run(capsys, "explore", photos, *given)  # -v prints a bug's trace
        assert code == 1 and err.startswith("Traceback (most recent call last):"), (given, err)
    from objrec.cli import own_options_first

    assert own_options_first(["split", "a", "b", "--ratios", "-v", "-v", "-v", "-vv"]) == [
        *("-vv", "split", "a", "b", "--ratios", "-v", "-v", "-v")
    ]
    assert own_options_first(["train", "d", "--out", "-v"]) == ["train", "d", "--out", "-v"]
    assert own_options_first(["predict", "r", "--", "-v"]) == ["predict", "r", "--", "-v"]
    code, out, _ = run(capsys, "check", photos, "--version")
    assert code == 0 and out.startswith("objrec, version")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["cache", "--prune", "--days", "-1"], "'--days': -1 is not in the range x>=0"),
        (["cache", "--prune", "--days", "-1.5"], "'--days': -1.5 is not in the range x>=0"),
        (["split", "{tmp}", "{tmp}/out", "--burst-seconds", "-2"], "'--burst-seconds': -2 is not"),
    ],
)
def test_a_number_out_of_range_is_said_as_typed(tmp_path, capsys, monkeypatch, args, words):
    """review53b nit 7: `cache --prune --days -1` said "-1.0 is not in the range x>=0", a number
    no one typed."""
    monkeypatch.setenv("OBJREC_CACHE", str(tmp_path / "cache"))
    code, _, err = run(capsys, *(a.format(tmp=tmp_path) for a in args))
    assert code == 2 and words in " ".join(err.split()), err
