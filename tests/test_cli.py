import dataclasses
import importlib
import io
import json
import logging
import math
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
from objrec.config import DEFAULT_BACKBONE, UNKNOWN_SCORES, TrainConfig
from objrec.errors import ObjrecError
from objrec.meta import ParameterCounts
from objrec.run_record import RunSeconds

from .conftest import COLOURS, fake_checkpoint, make_class_folder, make_image, metrics_of
from .test_checkpoint import flipped
from .test_split import no_longer_needed_warning

PARAMS = ParameterCounts(total=2, trainable=1)
"""A model's parameter counts, for a ``TrainResult`` a test makes."""


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


def test_train_help_fits_two_screens_with_each_option_in_one_sentence(capsys, monkeypatch):
    """`objrec train --help` was 195 lines at 80 columns (serve 105, predict 101), every option's
    whole explanation in one list: a newcomer could not find the two options they needed. It
    shows the options a first run needs first, the rest under headings, each in its first
    sentence with its default; --help-all shows the whole text. Every command's fits 80 lines."""
    from objrec.cli import cli
    from objrec.cli.sections import first_sentences

    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "train", "--help")
    headings = [line for line in out.splitlines() if line.endswith(":") and line[0] != " "]
    assert code == 0 and headings[0] == "Options:" and "Fine-tuning:" in headings
    first = out[out.index("Options:") : out.index(headings[1])]
    assert "--out RUN" in first and "--epochs" in first and "--finetune-blocks" not in first
    for name, command in cli.commands.items():
        code, out, _ = run(capsys, name, "--help")
        assert code == 0 and len(out.splitlines()) <= 80, (name, len(out.splitlines()))
        page = "".join(out.split())
        for option in command.params:
            if isinstance(option, click.Option) and option.help and ". " in option.help:
                assert "".join(first_sentences(option.help).split()) in page, option.name
                assert "".join(option.help.split()) not in page, (name, option.name)


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


def test_split_s_photo_folder_is_photos_and_every_count_has_a_metavar(capsys):
    """split's usage said SRC where README.md, docs/commands.md and check's own notes say PHOTOS
    (`objrec split PHOTOS data`); --topk, --worst, --folds, --plot-max, -n, --num-workers and
    --port showed as INTEGER RANGE, --days and --diversity as FLOAT RANGE, beside --images N
    (review60b F23): each has a metavar that says what it is."""
    from objrec.cli import cli

    code, out, _ = run(capsys, "split", "--help")
    assert code == 0 and "Usage: objrec split [OPTIONS] PHOTOS OUT" in out
    assert "Split PHOTOS (one sub-folder per class)" in out and "SRC" not in out
    ranges = []
    for name, command in cli.commands.items():
        ctx = click.Context(command, info_name=name)
        for option in command.params:
            if isinstance(option, click.Option) and "RANGE" in option.make_metavar(ctx):
                ranges.append((name, option.opts[0]))
    assert ranges == []
    code, out, _ = run(capsys, "predict", "--help")
    assert code == 0 and "--topk N " in out and "--plot-max N " in out


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


def test_each_split_setting_s_help_is_its_field_s():
    """split's --groups help was written out again in the command, and drifted from what
    grouping reads (it said comma or semicolon; a tab-separated file is read too, and so is a
    Windows path): each SplitConfig option's help starts with its field's first sentence
    (docs/development.md, "A setting of another command")."""
    from dataclasses import fields

    from objrec.cli.data import split
    from objrec.cli.options import option_help
    from objrec.cli.sections import first_sentences
    from objrec.config import SplitConfig

    spelled = {"mode": "copy"}
    helps = {param.name: getattr(param, "help", "") for param in split.params}
    for f in fields(SplitConfig):
        name = spelled.get(f.name, f.name)
        assert helps[name].startswith(first_sentences(option_help(f.name, cls=SplitConfig))), name
    assert "comma, semicolon or tab separated" in helps["groups"]


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


def test_predicts_runtime_help_links_the_benchmark_and_quotes_no_figure():
    """predict --runtime's help said onnx "took 0.6 of torch's time on 120 (benchmarks/README.md)",
    a figure that drifts each time the benchmark is rerun (review60b, "In the code"): it names the
    section instead, which benchmarks/README.md has."""
    from objrec.cli.prediction import predict

    text = " ".join(next(p for p in predict.params if p.name == "runtime").help.split())
    assert not re.search(r"\b0\.\d+ of torch", text) and " on 120 " not in text
    section = re.search(r'benchmarks/README\.md, "([^"]+)"', text)
    assert section, text
    readme = (Path(__file__).parents[1] / "benchmarks" / "README.md").read_text()
    assert f"### {section[1]}" in readme


def test_serve_help_says_what_its_page_takes(capsys):
    """serve --help said its page takes "an image", picked or dropped: it takes several at once
    (a row each) and the computer's camera (tests/test_page.py)."""
    code, out, _ = run(capsys, "serve", "--help-all")
    out = " ".join(out.split())
    assert code == 0 and "a page: pick, drop or take (camera) photos, a row each" in out


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


def test_objrec_help_says_train_s_default_reads_with_several_networks_and_heads(capsys):
    """`objrec --help` said train fits "a pretrained network, kept as is, + a new head", where its
    default reads each photo with three pretrained networks and averages five heads (the README:
    "pretrained networks read the photos; small heads learn your classes")."""
    from objrec.config import TrainConfig

    code, out, _ = run(capsys, "--help")
    line = next(line for line in out.splitlines() if "objrec train " in line)
    default = TrainConfig()
    assert code == 0 and "+" in default.backbone and default.heads > 1
    assert "pretrained networks" in line and "heads" in line


def test_backbone_help_says_it_may_be_several_networks_as_its_default_is(capsys):
    """train's and audit's --backbone said "The pretrained network that reads the images" beside
    a default of three networks joined by + (newcomer58, 7): the line says it may be several."""
    for command in ("train", "audit"):
        code, out, _ = run(capsys, command, "--help")
        said = " ".join(out.split())
        assert code == 0 and "+" in DEFAULT_BACKBONE
        assert "--backbone TEXT The pretrained network, or networks joined by +, that read" in said
        assert "The pretrained network that reads" not in said, command


def test_finetune_blocks_help_and_pages_say_which_bodies_it_fine_tunes(capsys):
    """--finetune-blocks fine-tunes EfficientNet-Lite bodies only: the refusal said so and sent
    the user to train --help, which did not, nor commands.md or backbones.md (newcomer60b, 2). A
    user choosing a backbone reads it in each before trying."""
    docs = Path(__file__).parents[1] / "docs"
    code, out, _ = run(capsys, "train", "--help")
    said = " ".join(out.split())
    assert code == 0 and "--finetune-blocks INTEGER Fine-tune EfficientNet-Lite's last N" in said
    code, out, _ = run(capsys, "train", "--help-all")
    assert code == 0 and "a backbone other than the EfficientNet-Lite ones" in " ".join(out.split())
    commands = (docs / "commands.md").read_text()
    row = next(line for line in commands.splitlines() if line.startswith("| `--finetune-blocks"))
    assert "EfficientNet-Lite bodies only" in row
    paragraph = " ".join(commands[commands.index("**Fine-tuning**") :].split("\n\n")[0].split())
    assert "Only the EfficientNet-Lite bodies" in paragraph
    backbones = " ".join((docs / "backbones.md").read_text().split())
    assert (
        "Only the EfficientNet-Lite bodies, alone or in an ensemble of them, can be fine-tuned"
        in (backbones)
    )


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


@pytest.mark.slow  # imports objrec.train
def test_json_md_names_every_stage_train_times():
    """train --json's `seconds` has `quantize` for an int8 body (the default on a CPU with VNNI),
    which docs/json.md did not name."""
    from types import SimpleNamespace

    from objrec.train import run_seconds

    page = (Path(__file__).parents[1] / "docs" / "json.md").read_text()
    row = next(r for r in page.split("\n## train\n")[1].splitlines() if r.startswith("| `seconds`"))
    prep = SimpleNamespace(seconds=3.0, quantize_seconds=1.0)
    for precision in ("fp32", "int8"):
        stages = run_seconds(prep, precision, (0.0, 3.0, 4.0, 5.0)).to_json()
        assert not [s for s in stages if f"`{s}`" not in row], precision


def test_help_says_the_runs_own_report_and_evaluations_are_refreshed_without_force(capsys):
    """report's --force said "Overwrite --out", yet RUN/report.html was refreshed without it, as
    evaluate refreshes RUN/eval-test: the help says which outputs need --force."""
    for name in ("report", "evaluate"):
        code, out, _ = run(capsys, name, "--help-all")
        assert code == 0 and "refreshed without" in " ".join(out.split()), name
    code, out, _ = run(capsys, "export", "--help-all")
    assert code == 0 and "never refreshed without" in " ".join(out.split())


@pytest.mark.slow  # a whole evaluate
def test_evaluate_writes_beside_a_checkpoint_file_and_its_help_says_so(
    capsys, trained_run, split_dir
):
    """`objrec evaluate RUN/epoch3.safetensors DATA` read every image, then failed: 'error:
    RUN/epoch3.safetensors/eval-test: not a directory', exit 1; --help said only RUN/eval-*."""
    shutil.copy(trained_run / "model.safetensors", trained_run / "epoch3.safetensors")
    code, out, _ = run(capsys, "evaluate", trained_run / "epoch3.safetensors", split_dir)
    assert code == 0 and str(trained_run / "epoch3-eval-test") in " ".join(out.split())
    code, out, _ = run(capsys, "evaluate", "--help-all")
    assert code == 0 and "CKPT.safetensors other than a run's model.safetensors, CKPT-eval-" in (
        " ".join(out.split())
    )


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
    assert "--backbone TEXT The pretrained network, or networks joined by +," in helps["audit"]
    assert "How the pretrained networks compute. Without --run, 8-bit integers" in helps["audit"]


def test_report_says_where_it_wrote_as_an_absolute_path_and_a_link(capsys, tmp_path, monkeypatch):
    """Its "report written to run/report.html" could not be opened from elsewhere nor clicked."""
    import sys
    import types

    def write_report(run, out, data, reporter, force, grad_cam=True):
        (tmp_path / "my run" / "report.html").write_text("<html></html>")
        page = Path("my run") / "report.html"  # as the library returns it for a relative RUN
        return types.SimpleNamespace(out=page, evaluation=Path("my run") / "eval-test")

    (tmp_path / "my run").mkdir()
    fake_checkpoint(tmp_path / "my run" / "model.safetensors")
    monkeypatch.chdir(tmp_path)
    fake = types.ModuleType("objrec.report")  # the real one imports pandas: 1 s of this test
    fake.write_report = write_report  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "objrec.report", fake)
    code, out, err = run(capsys, "report", "my run")
    page = tmp_path.resolve() / "my run" / "report.html"
    assert code == 0 and f"report written to {page} (0.0 MB)" in out
    assert err.startswith("loading the libraries ...")  # at once: the import takes seconds
    assert f"open {page.as_uri()} in a browser" in out and "%20run/report.html" in out


def test_report_json_gives_the_page_its_evaluation_and_the_headline_scores(
    capsys, tmp_path, monkeypatch
):
    """review60b F23: report had no --json, where a script wants the page's path and the scores
    it shows (it printed a sentence to parse). --json gives them, as docs/json.md lists."""
    import sys
    import types

    evaluation = tmp_path / "run" / "eval-test"
    evaluation.mkdir(parents=True)
    figures = {"n": 12, "n_groups": 11, "top1": 0.75, "top1_low": 0.4, "top1_high": 0.9}
    record = figures | {"top5": None, "mean_class_top1": 0.7, "folder": str(tmp_path / "test")}
    (evaluation / "metrics.json").write_text(json.dumps(record))

    def write_report(run, out, data, reporter, force, grad_cam=True):
        (tmp_path / "run" / "report.html").write_text("<html></html>")
        return types.SimpleNamespace(out=tmp_path / "run" / "report.html", evaluation=evaluation)

    fake_checkpoint(tmp_path / "run" / "model.safetensors")
    fake = types.ModuleType("objrec.report")  # the real one imports pandas: 1 s of this test
    fake.write_report = write_report  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "objrec.report", fake)
    code, out, _ = run(capsys, "report", tmp_path / "run", "--json")
    answer = json.loads(out)
    assert code == 0 and answer == {
        "out": str((tmp_path / "run" / "report.html").resolve()),
        "evaluation": str(evaluation.resolve()),
        "evaluated": str(tmp_path / "test"),
        **figures,
        "top5": None,
        "mean_class_top1": 0.7,
        "warnings": [],
    }
    page = (Path(__file__).parents[1] / "docs" / "json.md").read_text()
    section = page.split("\n## report\n")[1].split("\n## ")[0]
    assert not [key for key in answer if f"`{key}`" not in section]


def test_report_no_grad_cam_leaves_the_maps_out(capsys, tmp_path, monkeypatch):
    """Grad-CAM took 3m45s for a report's 6 maps on a busy machine, with no way to
    skip it: --no-grad-cam passes ``grad_cam=False``, and --help says what it saves."""
    import sys
    import types

    given = []

    def write_report(run, out, data, reporter, force, grad_cam=True):
        given.append(grad_cam)
        (tmp_path / "run" / "report.html").write_text("<html></html>")
        page = tmp_path / "run" / "report.html"
        return types.SimpleNamespace(out=page, evaluation=tmp_path / "run" / "eval-test")

    (tmp_path / "run").mkdir()
    fake_checkpoint(tmp_path / "run" / "model.safetensors")
    fake = types.ModuleType("objrec.report")  # the real one imports pandas: 1 s of this test
    fake.write_report = write_report  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "objrec.report", fake)
    assert run(capsys, "report", tmp_path / "run", "--no-grad-cam")[0] == 0
    assert run(capsys, "report", tmp_path / "run")[0] == 0
    assert given == [False, True]
    helped = " ".join(run(capsys, "report", "--help")[1].split())
    assert "--grad-cam / --no-grad-cam Draw the Grad-CAM maps, or leave them out (minutes" in helped


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


CPU_OUT_OF_MEMORY = (
    "[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't allocate memory: you "
    "tried to allocate 4000000000 bytes. Error code 12 (Cannot allocate memory)"
)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            RuntimeError(CPU_OUT_OF_MEMORY),
            "objrec train ran out of memory (an allocation of 3.7 GiB failed): lower "
            "--batch-size, --heads, --hidden or --aug-views, or close other programs",
        ),
        (
            RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.2 GiB total)"),
            "objrec train ran out of the GPU's memory (an allocation of 2.0 GiB failed): lower",
        ),
        (MemoryError(), "objrec train ran out of memory (MemoryError): lower --batch-size,"),
    ],
)
def test_memory_that_runs_out_is_said_with_what_to_lower_not_called_a_bug(
    capsys, tmp_path, monkeypatch, error, said
):
    """train --heads 1000000 said "objrec train stopped on an error objrec did not expect, a bug:
    RuntimeError: [enforce fail at alloc_cpu.cpp:127] ...", as if memory running
    out were a bug."""
    from objrec.cli import training

    def run_train(*args, **kwargs):
        raise error

    monkeypatch.setattr(training, "loaded_train", lambda *args: run_train)
    as_split_folder(tmp_path / "data")
    code, out, err = run(capsys, "train", tmp_path / "data", "--out", tmp_path / "run")
    err = " ".join(err.split())
    assert code == 1 and out == "" and err.startswith(f"error: {said}"), err
    assert "a bug" not in err and "Traceback" not in err


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


def test_report_on_a_folder_that_is_no_run_says_so_before_loading_the_libraries(
    capsys, tmp_path, monkeypatch
):
    """`objrec report photos` spent 6 s importing torch and pandas before saying "no checkpoint";
    the folder is looked at first (the report's module cannot even be imported here)."""
    import sys

    monkeypatch.setitem(sys.modules, "objrec.report", None)  # importing it now fails
    (tmp_path / "photos" / "cat").mkdir(parents=True)
    code, _, err = run(capsys, "report", tmp_path / "photos")
    said = " ".join(err.split())
    assert code == 1 and f"no checkpoint at {tmp_path / 'photos' / 'model.safetensors'}" in said
    assert "loading the libraries" not in err and "Traceback" not in err


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


def test_a_photo_named_with_a_leading_dash_is_said_to_be_a_file(capsys, tmp_path, monkeypatch):
    """In her class folder, `objrec predict ../run -photo5.jpg` said only "no such option '-p'":
    the photo was read as options. The error now says it is a file and how to give it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-photo5.jpg").write_bytes(b"")
    code, _, err = run(capsys, "predict", "run", "-photo5.jpg")
    err = " ".join(err.split())
    assert code == 2 and "no such option '-p'" in err
    assert "-photo5.jpg is a file here, read as options: give it as ./-photo5.jpg, or put --" in err
    assert err.endswith("put -- before it (see objrec predict --help)")
    code, _, err = run(capsys, "predict", "run", "-x")  # no such file: click's sentence alone
    assert code == 2 and "a file here" not in err


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


@pytest.mark.slow  # train's refusal comes after its libraries: 1 s
def test_train_on_a_class_folder_gives_the_split_command_that_makes_one(
    capsys, tmp_path, monkeypatch
):
    """Its refusal "photos is not a split folder ...; `objrec split` makes them" left the user
    to find its arguments, where split's own errors give them: the command, into a
    folder named after the photos' in the current one (`data` beside the photos was
    outside it), never one that exists."""
    make_class_folder(tmp_path / "photos", per_class=2)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    photos = tmp_path / "photos"
    code, _, err = run(capsys, "train", photos, "--out", "run")
    assert code == 1 and err.strip().endswith(
        "(train/ and valid/ are needed, test/ is optional); "
        f"`objrec split {photos} photos-split` makes them"
    )
    (here / "photos-split").mkdir()
    code, _, err = run(capsys, "train", photos, "--out", "run")
    assert code == 1 and err.strip().endswith(f"`objrec split {photos} photos-split-2` makes them")
    assert not (tmp_path / "data").exists() and not (here / "data").exists()


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


def test_an_empty_class_folder_is_a_clear_error(capsys, tmp_path, split_dir):
    (split_dir / "train" / "purple").mkdir()
    code, _, err = run(
        capsys, "train", split_dir, "--out", tmp_path / "run", "--backbone", "tiny_test"
    )
    assert code == 1 and "purple holds no images" in err


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


def test_check_says_what_split_and_train_do_with_an_empty_class_folder(capsys, tmp_path):
    """A teacher's check named an empty class folder as unusable (exit 1), and split then went
    on without it: check says so, and in a split folder that train refuses it."""
    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    (photos / "empty").mkdir()
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    assert code == 1 and "put photos of the class in it (`objrec split` leaves it out, " in said
    assert "with a warning)" in said
    # review53b nit 15: the summary said "1 unusable folder", which split "is not left out so
    # quietly" past, where the line said split leaves it out: both say what split does, as of
    # an unusable file (exit 1 for both: something is unusable, and split goes on)
    assert (
        "6 image files in 2 classes: 6 readable, 0 unusable; 1 empty class folder that split "
        in (said)
    )
    assert said.endswith(
        "what next: split and train leave the 1 empty class folder out, with a warning naming it, "
        "and go on (split --strict and train --strict refuse it instead)"
    )
    shutil.copytree(photos, tmp_path / "data" / "train")
    shutil.copytree(photos, tmp_path / "data" / "valid")
    code, out, _ = run(capsys, "check", tmp_path / "data")
    said = " ".join(out.split())
    assert code == 1 and "train/empty: class folder holds no images: delete it, or put " in said
    assert "photos of the class in it (`objrec train` refuses it)" in said
    assert "`objrec split` leaves it out" not in said


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


def listing(folder: Path) -> list[str]:
    """Every entry under ``folder``, hidden ones too, as paths relative to it."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("inside", [False, True])
def test_split_refuses_a_cache_dir_that_is_or_lies_inside_its_source(
    capsys, image_folder, tmp_path, inside
):
    """review60b F1: `split SRC OUT --cache-dir SRC` exited 0 and wrote store/, facts.sqlite and
    facts.lock into SRC, which split promises only to read (the next check called store/ an
    empty class). A cache folder equal to or inside SRC is refused as an --out there is."""
    before = listing(image_folder)
    cache = image_folder / "cache" if inside else image_folder
    code, _, err = run(capsys, "split", image_folder, tmp_path / "data", "--cache-dir", cache)
    said = " ".join(err.split())
    where = "lies inside the source folder" if inside else "is the source folder"
    assert code == 2 and f"--cache-dir {cache} {where}" in said, err
    assert said.endswith("(see objrec split --help)")
    assert listing(image_folder) == before and not (tmp_path / "data").exists()


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


def test_check_with_a_cache_folder_it_cannot_make_reads_on_keeping_nothing(
    capsys, caplog, image_folder, tmp_path, monkeypatch
):
    """review60b F2: check, which only reads the cache, warned that the cache folder could not be
    written and that it would go on keeping nothing, then failed (exit 1) making that folder to
    keep its decodes in. It keeps none there now: said once, and the check ends as it would."""
    (tmp_path / "notes.txt").write_text("mine")
    cache = tmp_path / "notes.txt" / "cache"
    monkeypatch.setenv("OBJREC_CACHE", str(cache))
    with caplog.at_level(logging.WARNING, logger="objrec"):
        code, out, err = run(capsys, "check", image_folder)
    assert code == 0 and not err, err
    assert caplog.messages == [
        f"the cache folder {cache} cannot be written: files its file index does not know are "
        "hashed, and nothing is kept there"
    ]
    assert "36 readable, 0 unusable" in out and (tmp_path / "notes.txt").read_text() == "mine"


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


@pytest.mark.parametrize("name", ["model.safetensors", "last.safetensors"])
def test_check_of_a_damaged_model_left_alone_says_what_is_wrong_with_it(
    capsys, tmp_path, trained_run, name
):
    """review60b F19: a folder holding only a cut-short model.safetensors was checked as a folder
    of photos ("has no class sub-folders"), where beside the run's records check said the model
    was damaged. A model or training state of those names alone is a run's, checked as one."""
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / name).write_bytes((trained_run / "model.safetensors").read_bytes()[:1000])
    code, out, err = run(capsys, "check", alone)
    said = " ".join((out + err).split())
    assert code == 1 and "class sub-folders" not in said, said
    assert f"unreadable {alone / name} is cut short: it holds 1,000 bytes" in said, said


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
def test_predict_says_when_an_answered_image_is_barely_familiar(capsys, trained_run, split_dir):
    """`dolphin_image_0003.jpg: bonsai 50.64%, Leopards 40.06%` had familiarity 0.015, just
    above the line 0, and read like a confident answer; only --json showed the score."""
    image = sorted((split_dir / "test" / "red").iterdir())[0]
    code, out, _ = run(capsys, "predict", trained_run, image, "--json")
    score = json.loads(out)[0]["score"]
    for line, said in ((score - 0.1, True), (score - 0.5, False), (score + 0.1, False)):
        code, out, _ = run(capsys, "predict", trained_run, image, "--threshold", line)
        note = f"(barely familiar: {score:.2f})"
        assert code == 0 and (note in " ".join(out.split())) == said, (line, out)
    code, out, _ = run(capsys, "predict", "--help-all")
    assert "barely familiar" in out


@pytest.mark.slow
def test_predict_names_a_folders_files_that_are_not_images_and_predicts_the_rest(
    capsys, caplog, tmp_path, trained_run
):
    """A newcomer's notes.txt beside the photos was skipped without a word: now one warning (a
    line on stderr, through SentenceHandler) names it, and the image is predicted, exit 0."""
    photos = tmp_path / "new photos"
    photos.mkdir()
    make_image((200, 30, 30)).save(photos / "a.png")
    (photos / "notes.txt").write_text("where these were taken")
    (photos / ".DS_Store").write_bytes(b"\x00")  # hidden: skipped quietly, as everywhere
    with caplog.at_level(logging.WARNING, logger="objrec"):
        code, out, _ = run(capsys, "predict", trained_run, photos)
    assert code == 0 and out.startswith(f"{photos / 'a.png'}: ")
    assert caplog.messages == [f"{photos / 'notes.txt'} left out: not an image file objrec reads"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="objrec"):
        code, out, _ = run(capsys, "predict", trained_run, photos, "--json")
    assert code == 0 and [r["filename"] for r in json.loads(out)] == ["a.png"]
    assert len(caplog.messages) == 1 and "notes.txt left out" in caplog.messages[0]
    # named on the command line, it is an input that failed, as an unreadable image is
    code, _, err = run(capsys, "predict", trained_run, photos / "notes.txt", photos / "a.png")
    assert code == 1 and "notes.txt: not an image file objrec reads (.txt)" in err


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


@pytest.mark.slow
def test_train_names_the_classes_it_learns(capsys, tmp_path, split_dir, trained_once, monkeypatch):
    """After adding a class, the only change train showed was its parameter count."""
    cache = shutil.copytree(trained_once.parent / "cache", tmp_path / "cache")
    monkeypatch.setenv("OBJREC_CACHE", str(cache))  # the session run's features: no frozen pass
    args = ("--backbone", "tiny_test", "--epochs", "1", "--aug-views", "0")
    code, _, err = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    assert code == 0 and "classes: 3 (blue, green, red)\n" in err, err


@pytest.mark.slow
def test_train_counts_a_truncated_file_as_unreadable_not_pushed_through_the_body(
    capsys, tmp_path, split_dir, trained_once, monkeypatch
):
    """It said "145 images, 1 pushed through the frozen body" of a truncated file it then said
    it skipped."""
    cache = shutil.copytree(trained_once.parent / "cache", tmp_path / "cache")
    monkeypatch.setenv("OBJREC_CACHE", str(cache))  # every other image's features are stored
    whole = next((split_dir / "train" / "red").iterdir()).read_bytes()
    (split_dir / "train" / "red" / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    args = ("--backbone", "tiny_test", "--epochs", "1", "--aug-views", "0")
    code, _, err = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    assert code == 0, err
    said = (
        "train features: 19 images, 0 run through the pretrained network, 18 from the feature store"
    )
    assert said + ", 1 unreadable\n" in err
    counts = json.loads((tmp_path / "run" / "summary.json").read_text())["frozen_pass"]
    assert (counts["computed"], counts["from_store"], counts["n_unreadable"]) == (0, 27, 1)
    _, meta = load_model(tmp_path / "run" / "model.safetensors")  # the head learned from 6 reds
    assert meta.n_train == {"blue": 6, "green": 6, "red": 6}
    args = ("--backbone", "tiny_test", "--epochs", "1", "--aug-views", "1")
    code, out, _ = run(capsys, "train", split_dir, "--out", tmp_path / "views", *args, "--json")
    answer = json.loads(out)
    assert code == 0 and any("skipped 1 unreadable file" in w for w in answer["warnings"])
    # files, as the warning counts them: not the file's 2 views (centre and augmented)
    assert answer["frozen_pass"]["n_unreadable"] == 1


@pytest.mark.slow
def test_train_skips_and_counts_a_file_removed_before_it_is_hashed(
    capsys, tmp_path, split_dir, trained_once, monkeypatch
):
    """A training photo removed between train's listing and its hashing stopped the train ("no
    such file or directory", exit 1); removed a moment later it was skipped and reported."""
    import importlib

    recipe = importlib.import_module("objrec.train")  # the module: objrec.train is the function
    cache = shutil.copytree(trained_once.parent / "cache", tmp_path / "cache")
    monkeypatch.setenv("OBJREC_CACHE", str(cache))
    gone = sorted((split_dir / "train" / "red").iterdir())[0]
    listed_split = recipe.listed_split

    def listed_then_removed(*args):
        listed = listed_split(*args)
        gone.unlink()  # the user tidies the folder as train starts
        return listed

    monkeypatch.setattr(recipe, "listed_split", listed_then_removed)
    args = ("--backbone", "tiny_test", "--epochs", "1", "--aug-views", "1", "--json")
    code, out, err = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    assert code == 0, err
    answer = json.loads(out)
    said = f"skipped 1 unreadable file (`objrec check` lists them): {gone}: cannot read the file"
    assert any(w.startswith(said) for w in answer["warnings"]), answer["warnings"]
    assert answer["frozen_pass"]["n_unreadable"] == 1  # once, not once per view
    assert answer["n_images"]["train"] == 17  # of 18 listed
    from objrec.leakage import read_seen

    seen = read_seen(tmp_path / "run")  # the 17 trained on, and no empty digest for the one gone
    assert seen is not None and list(seen.values()).count("train") == 17


@pytest.mark.slow
def test_check_on_a_split_folder_counts_classes_and_images_per_split(capsys, split_dir):
    code, out, _ = run(capsys, "check", split_dir)
    assert code == 0
    assert (
        "36 image files in 3 classes (train 18, valid 9, test 9): 36 readable, 0 unusable"
        in " ".join(out.split())
    )
    code, out, _ = run(capsys, "check", split_dir, "--json")
    result = json.loads(out)
    assert (result["n_classes"], result["splits"]) == (3, {"train": 18, "valid": 9, "test": 9})


@pytest.mark.slow
def test_check_says_a_class_folder_renamed_inside_a_split_folder(capsys, split_dir):
    """A user renamed dolphin dolphins in train/, valid/ and test/ of a split folder: `check`
    said all was fine, though manifest.csv still listed the 45 files under dolphin.
    It says so, where the files are now, and how to rename a class."""
    for split in ("train", "valid", "test"):
        (split_dir / split / "green").rename(split_dir / split / "verde")
    code, out, _ = run(capsys, "check", split_dir, "--json")
    (found,) = [p for p in json.loads(out)["problems"] if p["kind"] == "manifest_class_gone"]
    assert code == 0 and found["message"].startswith(
        "manifest.csv lists 12 images of class green, which has no folder in any split (its "
        "files are in verde now: renamed by hand?): train reads the class folders"
    )
    assert found["message"].endswith(
        f"`objrec split PHOTOS {split_dir} --force --like {split_dir}`"
    )


@pytest.mark.slow
def test_check_says_an_image_moved_by_hand_between_class_folders_of_a_split_folder(
    capsys, split_dir
):
    """`mv split/test/crab/x.jpg split/test/ibis/` went unremarked by check, while manifest.csv
    still listed the photo as a crab. check notes it, with what reads the
    manifest's class and how to record the move; an image left where it was is not named."""
    moved = sorted((split_dir / "test" / "green").iterdir())[0]
    now = f"test/red/green_{moved.name}"  # renamed as it was moved: found by its bytes
    moved.rename(split_dir / now)
    code, out, _ = run(capsys, "check", split_dir, "--json")
    (found,) = [p for p in json.loads(out)["problems"] if p["kind"] == "manifest_class_moved"]
    assert code == 0 and found["message"].startswith(
        "1 image is in another class folder than manifest.csv lists it under (moved by hand?): "
        f"{now} (green in manifest.csv); train, evaluate, add and audit take an "
        "image's class from its folder"
    )
    assert found["message"].endswith(
        f"`objrec split PHOTOS {split_dir} --force --like {split_dir}`"
    )
    assert "manifest_unlisted" not in {p["kind"] for p in json.loads(out)["problems"]}  # listed
    code, out, _ = run(capsys, "check", split_dir)
    assert f"{now} (green in manifest.csv)" in " ".join(out.split())


def test_check_names_every_file_relative_to_the_folder_checked(capsys, tmp_path, monkeypatch):
    """check printed ``PHOTOS/lamp/image_0004.jpg: the same bytes as lamp/lamp_dup.jpg``: the
    problem's file relative to the working folder, the ones its message names relative to the
    folder checked. Both are now relative to the folder checked, however it was given; a problem
    of the folder itself names it as given."""
    photos = make_class_folder(tmp_path / "PHOTOS", per_class=3, classes=("red", "green"))
    shutil.copy(photos / "red" / "img_00.jpg", photos / "red" / "img_00_dup.jpg")
    (photos / "red" / "notes.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    for given in ("PHOTOS", str(photos)):
        code, out, _ = run(capsys, "check", given)
        lines = [line for line in out.splitlines() if line.startswith(("identical", "ignored"))]
        assert code == 0 and lines == [
            "ignored_file red/notes.txt: not an image file, ignored",
            "identical_files red/img_00_dup.jpg: the same bytes as red/img_00.jpg: one picture "
            "trained on as 2; delete the copies unless that is meant",
        ], out
    (photos / "red").rename(tmp_path / "red")
    code, out, _ = run(capsys, "check", "PHOTOS")
    assert code == 1 and "one_class PHOTOS: only one class (green)" in out


def test_check_and_split_refuse_class_folders_differing_only_in_case(
    capsys, tmp_path, image_folder, known_facts
):
    """red and Red, one folder on macOS and Windows: split refuses them (naming --exclude, the
    flag), and check says so first, exiting 1, where it found nothing wrong."""
    shutil.copytree(image_folder / "red", image_folder / "Red")
    code, out, _ = run(capsys, "check", image_folder, "--json")
    problems = [(p["kind"], Path(p["path"]).name) for p in json.loads(out)["problems"]]
    copies = [p for p in problems if p[0] == "identical_files"]  # Red's images are red's
    assert code == 1 and [p for p in problems if p not in copies] == [("alike_classes", "red")]
    code, _, err = run(capsys, "split", image_folder, tmp_path / "data")
    err = " ".join(err.split())
    assert code == 1 and "class folders 'Red' and 'red'" in err and "with --exclude" in err
    assert not (tmp_path / "data").exists()


def test_split_names_empty_and_small_classes_and_says_what_to_do(
    capsys, tmp_path, image_folder, known_facts
):
    (image_folder / "empty").mkdir()
    (image_folder / "tiny").mkdir()
    (image_folder / "red" / "img_00.jpg").rename(image_folder / "tiny" / "only.jpg")
    code, out, err = run(capsys, "split", image_folder, tmp_path / "data")
    err = " ".join(err.split())
    assert code == 0 and "split 4 classes" in out
    assert "left out class folders without images (--strict refuses them): empty" in err
    assert "fewer than 3 distinct images cannot appear in every split" in err and "tiny" in err
    code, _, err = run(capsys, "split", image_folder, tmp_path / "strict", "--strict")
    assert code == 1 and "empty holds no images" in err
    code, out, _ = run(capsys, "check", image_folder, "--json")
    problems = [(p["kind"], Path(p["path"]).name) for p in json.loads(out)["problems"]]
    assert code == 1 and problems == [("empty_class", "empty"), ("few_images", "tiny")]


@pytest.mark.slow
def test_predict_reports_each_failed_input_once_and_predicts_the_rest(
    capsys, tmp_path, trained_run, split_dir
):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a picture")
    (tmp_path / "nothing").mkdir()
    good = sorted((split_dir / "test" / "red").iterdir())[0]
    inputs = (tmp_path / "missing.jpg", bad, good, tmp_path / "nothing")
    code, out, err = run(capsys, "predict", trained_run, *inputs)
    err = " ".join(err.split())
    assert code == 1 and out.count(": red") + out.count(": green") + out.count(": blue") == 1
    assert err.count("missing.jpg: no such file or folder") == 1
    assert err.count("bad.jpg") == 1 and "bad.jpg: cannot read image" in err
    assert "nothing: no image files in this folder" in err and "3 of 4 inputs" in err
    code, out, err = run(capsys, "predict", trained_run, *inputs, "--json")
    results = json.loads(out)
    assert code == 1 and [bool(r.get("error")) for r in results] == [True, True, False, True]
    assert "cannot read image" not in err and results[1]["error"].startswith("cannot read image")
    assert err.count("bad.jpg") == 1  # named once, in the last line: no line of its own


def test_predict_of_missing_inputs_only_says_so_without_loading_the_model(
    capsys, tmp_path, trained_run, monkeypatch
):
    """`objrec predict run missing.jpg` said "loading the model ..." (6 s at a load of 8) before
    "missing.jpg: no such file or folder": the same lines, exit code and --json,
    the model never built."""
    from objrec import inference

    def never(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(inference, "load_model", never)
    code, out, err = run(capsys, "predict", trained_run, tmp_path / "missing.jpg")
    assert code == 1 and out == "" and "loading the model" not in err
    assert " ".join(err.split()).endswith(
        "missing.jpg: no such file or folder 1 of 1 input could not be predicted"
    )
    code, out, err = run(capsys, "predict", trained_run, tmp_path / "missing.jpg", "--json")
    assert code == 1 and json.loads(out)[0]["error"] == "no such file or folder"
    assert " ".join(err.split()).endswith(  # newcomer56: which input? the JSON had it
        f'1 of 1 input could not be predicted: {tmp_path / "missing.jpg"} (the JSON\'s "error" '
        "of each says why)"
    )


@pytest.mark.slow
def test_predict_of_a_folder_ends_with_the_tally_of_its_json_answers(
    capsys, trained_run, split_dir
):
    """A folder's lines end with how many images went to each answer, at a threshold between
    their scores (some unknown): the counts of --json's `answer`."""
    from collections import Counter

    test = split_dir / "test"
    scores = sorted(
        a["score"] for a in json.loads(run(capsys, "predict", trained_run, test, "--json")[1])
    )
    line = repr((scores[3] + scores[4]) / 2)
    code, out, _ = run(capsys, "predict", trained_run, test, "--json", "--threshold", line)
    counts = Counter(a["answer"] for a in json.loads(out))
    code, out, _ = run(capsys, "predict", trained_run, test, "--threshold", line)
    lines = out.splitlines()
    tally = lines[lines.index("9 images answered:") + 1 :]
    assert code == 0 and {t.split()[0]: int(t.split()[1]) for t in tally} == counts
    assert counts["unknown"] == 4 and tally[-1].endswith("(like none of the classes)")


@pytest.mark.slow
@pytest.mark.figures
def test_predict_plot_draws_up_to_plot_max_and_says_what_was_left_out(
    capsys, tmp_path, trained_run, split_dir
):
    from PIL import Image

    sizes = []
    for n in (2, 5):
        plot = tmp_path / f"plot{n}.png"
        code, out, _ = run(
            capsys, "predict", trained_run, split_dir / "test", "--plot", plot, "--plot-max", n
        )
        assert code == 0
        assert (
            f"plot of the {n} of 9 readable images most worth a look (those answered unknown, "
            f"then the barely familiar, then the least sure) written to {plot}; {9 - n} more left "
            "out"
        ) in " ".join(out.split())
        sizes.append(Image.open(plot).size)
    (width2, height2), (width5, height5) = sizes  # 2 side by side; 4 in a row, then 1 below
    assert width5 > 1.7 * width2 and height5 > 1.7 * height2


@pytest.mark.slow
def test_predict_explain_says_where_the_overlays_went(capsys, tmp_path, trained_run, split_dir):
    images = split_dir / "test" / "green"
    n = len(list(images.iterdir()))
    code, out, _ = run(capsys, "predict", trained_run, images, "--explain", tmp_path / "cams")
    assert code == 0
    assert f"Grad-CAM overlays of {n} images written to {tmp_path / 'cams'}" in out
    code, out, err = run(
        capsys, "predict", trained_run, images, "--explain", tmp_path / "more", "--json"
    )
    assert code == 0 and len(json.loads(out)) == n  # stdout stays JSON
    assert f"Grad-CAM overlays of {n} images written to {tmp_path / 'more'}" in err
    page = (Path(__file__).parents[1] / "docs" / "json.md").read_text()
    section = page.split("\n## predict\n")[1].split("\n## ")[0]
    keys = {key for answer in json.loads(out) for key in answer}
    assert "explained" in keys and not [k for k in keys if f"`{k}`" not in section]  # documented


@pytest.mark.slow
def test_predict_csv_writes_the_json_answers_as_rows_and_never_over_a_file_unforced(
    capsys, tmp_path, trained_run, split_dir
):
    """`predict --csv FILE`: the answers --json prints, one row per input, for a spreadsheet;
    where it went is said (on stderr with --json, whose stdout stays JSON); an existing file is
    refused in the CLI's words and kept, --force replaces it."""
    from .test_predict import read_csv_rows

    inputs = (split_dir / "test" / "red", tmp_path / "missing.jpg")
    table = tmp_path / "answers.csv"
    code, out, err = run(capsys, "predict", trained_run, *inputs, "--csv", table, "--json")
    answers = json.loads(out)
    assert code == 1 and f"4 rows (one per input) written to {table}" in " ".join(err.split())
    columns, rows = read_csv_rows(table)
    assert columns[-1] == "error" and [r["path"] for r in rows] == [a["path"] for a in answers]
    for row, answer in zip(rows[:3], answers, strict=False):
        assert row["unknown"] == str(answer["unknown"]) and row["error"] == ""
        assert [row["class_1"], row["class_2"], row["class_3"]] == [
            t["class"] for t in answer["topk"]
        ]
        assert float(row["prob_1"]) == answer["topk"][0]["prob"] == float(row["prob_predicted"])
    assert rows[3]["error"] == "no such file or folder" and rows[3]["predicted"] == ""
    table.write_text("mine")
    code, out, err = run(capsys, "predict", trained_run, inputs[0], "--csv", table)
    assert code == 1 and out == "" and table.read_text() == "mine"
    assert "answers.csv exists: choose another --csv or pass --force" in " ".join(err.split())
    code, out, _ = run(capsys, "predict", trained_run, inputs[0], "--csv", table, "--force")
    assert code == 0 and f"3 rows (one per input) written to {table}" in " ".join(out.split())
    assert len(read_csv_rows(table)[1]) == 3


@pytest.mark.slow
def test_predict_csv_says_what_the_answers_come_to_not_a_line_per_photo(
    capsys, tmp_path, trained_run, split_dir, monkeypatch
):
    """With --csv, a folder of 5,000 photos printed 5,000 lines: the table holds the answers, the
    terminal gets the first few (it printed none, so a user never saw what it said), one line of
    what they come to (how many given a class, how many unknown) and the first inputs that
    failed, the others counted."""
    from objrec.cli import prediction

    monkeypatch.setattr(prediction, "ANSWERS_SHOWN", 2)
    monkeypatch.setattr(prediction, "ANSWERS_ALL", 2)
    folder = split_dir / "test" / "red"
    missing = [tmp_path / f"gone{i}.jpg" for i in range(5)]
    table = tmp_path / "answers.csv"
    code, out, err = run(capsys, "predict", trained_run, folder, *missing, "--csv", table)
    n = len(list(folder.iterdir()))
    photos = sorted(str(p) for p in folder.iterdir())
    printed = [line.split(": ")[0] for line in out.splitlines()[:2]]
    assert set(printed) < set(photos)  # the two most worth a look (test_predict_csv_prints_...)
    out, err = " ".join(out.split()), " ".join(err.split())
    assert code == 1 and sum(p in out for p in photos) == 2 and "images answered:" not in out
    assert f"and {n - 2} more answer{'s' * (n != 3)} in {table} (above, the 2 most" in out
    said = re.search(
        rf"{n + 5} rows \(one per input\) written to {re.escape(str(table))}: (\d+) images? given "
        r"a class; (\d+) said to be unknown \(like none of the classes\)",
        out,
    )  # how many of red's test photos the tiny run calls unknown rests on which are in test
    assert said is not None and int(said[1]) + int(said[2]) == n
    assert [m.name in err for m in missing] == [True] * 3 + [False] * 2
    assert f"5 of {n + 5} inputs could not be predicted (the first 3 named above" in err
    argv = ["predict", trained_run, folder, *missing, "--csv", table, "--force", "--json"]
    code, out, err = run(capsys, *argv)
    assert code == 1 and len(json.loads(out)) == n + 5 and "named above" not in err  # none is
    assert f"5 of {n + 5} inputs could not be predicted" in " ".join(err.split())


def test_predict_csv_prints_every_answer_of_few_and_else_the_unknown_ones_first(capsys):
    """newcomer53 (7): `predict --csv` of 11 photos printed the first 10 and "and 1 more answer
    in pred.csv": the one left out was the only "unknown". Up to ANSWERS_ALL answers every one
    is printed; past it, the ANSWERS_SHOWN printed are those answered unknown, then the barely
    familiar, then the least sure, and the line says so."""
    from objrec.cli import prediction
    from objrec.predict import Prediction

    def answer(name: str, prob: float, score: float = 1.0, unknown: bool = False) -> Prediction:
        topk: list[dict[str, float | str]] = [{"class": "cup", "prob": prob}]
        return Prediction(name, topk, unknown=unknown, score=score, line=0.0, unknown_threshold=0.0)

    star = answer("star.jpg", 0.95, score=-0.3, unknown=True)
    eleven = [*(answer(f"p{i}.jpg", 0.99) for i in range(10)), star]
    table = Path("pred.csv")
    prediction.print_predictions(eleven, None, 20, table=table)
    out = capsys.readouterr().out
    assert "star.jpg: unknown" in out and "more answer" not in out
    sure = [answer(f"p{i:02}.jpg", 0.99) for i in range(25)]
    many = [*sure, answer("unsure.jpg", 0.4), answer("barely.jpg", 0.9, score=0.05)]
    many.append(star)
    prediction.print_predictions(many, None, 20, table=table)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == [
        *("star.jpg", "barely.jpg", "unsure.jpg", "p00.jpg")
    ]
    assert " ".join(lines).count(".jpg:") == prediction.ANSWERS_SHOWN
    assert " ".join(" ".join(lines).split()).count(
        "and 18 more answers in pred.csv (above, the 10 most worth a look: those answered "
        "unknown, then the barely familiar, then the least sure)"
    )


def test_predict_csvs_help_says_the_lines_it_prints_as_it_prints_them(capsys):
    """review60b F5: predict --help-all said --csv prints "not a line per image", where it prints
    every answer up to ANSWERS_ALL, else the ANSWERS_SHOWN most worth a look."""
    from objrec.cli import prediction

    code, out, _ = run(capsys, "predict", "--help-all")
    said = " ".join(out.split())
    assert code == 0 and "not a line per image" not in said
    assert (
        f"a line for every answer up to {prediction.ANSWERS_ALL}, else for the "
        f"{prediction.ANSWERS_SHOWN} most worth a look (unknown, then barely familiar, then the "
        "least sure)"
    ) in said


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


def test_a_file_before_the_run_says_the_run_comes_first(capsys, trained_run, split_dir):
    image = sorted((split_dir / "test" / "green").iterdir())[0]
    for command in ("predict", "evaluate"):
        code, out, err = run(capsys, command, image, trained_run)
        assert code == 2 and out == ""
        text = " ".join(err.split())
        assert (
            f"{image} is not an objrec checkpoint ({trained_run} comes first: "
            f"objrec {command} {trained_run} {image})"
        ) in text
        assert "not image files" not in text  # the run's files are not listed as photos


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


def test_plain_progress_prints_a_line_every_few_seconds_and_when_done():
    from types import SimpleNamespace

    from objrec.cli.output import PlainProgress, SteadyTimeRemaining

    now, lines = [0.0], []
    early = PlainProgress("start", 260, 5.0, clock=lambda: now[0], write=lines.append)
    now[0] = 5
    early.advance(16)  # 6%: its start-up's pace said "about 1m23s left" (all took 9 s)
    assert lines == ["start: 16/260 (6%), 5s"]
    assert not SteadyTimeRemaining().render(SimpleNamespace(total=260, completed=16)).plain
    now[0], lines[:] = 0.0, []
    progress = PlainProgress("frozen pass", 100, 5.0, clock=lambda: now[0], write=lines.append)
    for t in (1, 2, 6, 7, 8, 12):
        now[0] = t
        progress.advance(10)
    progress.finish()
    assert lines == [  # the pace from the first step's end (1 s): 20 in 5 s, then 50 in 11 s
        "frozen pass: 30/100 (30%), 6s, about 18s left",
        "frozen pass: 60/100 (60%), 12s, about 9s left",
        "frozen pass: 60/100 (60%), 12s, done",
    ]
    quick = PlainProgress("quick", 3, 5.0, clock=lambda: 0.0, write=lines.append)
    quick.advance(3)
    quick.finish()
    assert len(lines) == 3  # a task shorter than the interval prints nothing


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


def test_plain_progress_tells_the_time_left_from_the_pace_after_the_first_step():
    """A newcomer's demo log read "train features: 16/60 (27%), 17s, about 46s left", then
    "60/60 (100%), 18s, done" a second later: the first batch carries the pass's start-up (the
    workers, the body's runner), and the pace counted it. The time left is now told from the
    pace after the first step, as rich's bar does, and not before a second step."""
    from objrec.cli.output import PlainProgress

    now, lines = [0.0], []
    progress = PlainProgress("train features", 60, 0.3, clock=lambda: now[0], write=lines.append)
    for t, n in ((17.0, 16), (17.6, 32), (18.0, 12)):
        now[0] = t
        progress.advance(n)
    progress.finish()
    assert lines == [
        "train features: 16/60 (27%), 17s",  # was ", about 46s left"
        "train features: 48/60 (80%), 18s",  # 0.3 s left: not "about 0s left"
        "train features: 60/60 (100%), 18s, done",
    ]


def test_progress_of_few_steps_tells_no_time_left_from_one_step_s_pace():
    """report's Grad-CAM said "2/12 (17%), 15s, about 4s left": the pace of one step after the
    first, which carries the start-up. The time left waits for two."""
    from types import SimpleNamespace

    from objrec.cli.output import PlainProgress, SteadyTimeRemaining

    now, lines = [0.0], []
    progress = PlainProgress("grad-cam", 12, 1.0, clock=lambda: now[0], write=lines.append)
    for t in (13.0, 15.0):
        now[0] = t
        progress.advance()
    assert lines == ["grad-cam: 1/12 (8%), 13s", "grad-cam: 2/12 (17%), 15s"]  # no "about 4s"
    now[0] = 16.0
    progress.advance()
    assert lines[-1] == "grad-cam: 3/12 (25%), 16s, about 14s left"  # 2 steps in 3 s
    assert not SteadyTimeRemaining().render(SimpleNamespace(total=12, completed=2)).plain


def test_the_time_left_counts_down_through_a_long_step_and_is_not_said_once_overdue():
    """The int8 copy sat at "36/46 (78%)" for 16 s while "about 23s left" grew to 27s: the pace
    was measured to now, not to the last step. The time left is counted down from
    the last step, and not said once a step outlasts it; rich's bar counts it down too."""
    from types import SimpleNamespace

    from objrec.cli.output import PlainProgress, SteadyTimeRemaining

    now, lines = [0.0], []
    progress = PlainProgress("int8 copy", 46, 5.0, clock=lambda: now[0], write=lines.append)
    for t in range(1, 37):  # a step a second
        now[0] = float(t)
        progress.advance()
    assert lines[-1] == "int8 copy: 35/46 (76%), 35s, about 11s left"
    progress.doing("writing the graph (one long step)")  # said in the next line, 5 s on at most
    for t in (41.0, 46.0, 52.0):
        now[0] = t
        progress.tick()
    assert lines[-4:] == [
        "int8 copy: 35/46 (76%), 35s, about 11s left",
        "int8 copy: writing the graph (one long step): 36/46 (78%), 41s, about 5s left",
        "int8 copy: writing the graph (one long step): 36/46 (78%), 46s",  # overdue: no claim
        "int8 copy: writing the graph (one long step): 36/46 (78%), 52s",
    ]

    def task(now: float, stepped: float | None) -> SimpleNamespace:
        fields = {} if stepped is None else {"stepped": stepped}
        # rich's own estimate from the pace to the last step: 10 s
        return SimpleNamespace(
            total=46,
            completed=36,
            finished=False,
            fields=fields,
            time_remaining=10.0,
            get_time=lambda: now,
            finished_time=None,
        )

    column = SteadyTimeRemaining()
    assert column.render(task(36.0, 36.0)).plain == "0:00:10"
    assert column.render(task(41.0, 36.0)).plain == "0:00:05"
    assert column.render(task(46.0, 36.0)).plain == ""


def test_a_task_without_steps_does_not_say_its_time_twice_as_it_ends():
    """The demo printed "loading the 3 pretrained networks: 10s" then "...: 10s, done", which
    read as stuck: a task without steps whose last line showed the time it ends at
    says "done" alone."""
    from objrec.cli.output import PlainProgress

    now, lines = [0.0], []
    progress = PlainProgress("loading", None, 5.0, clock=lambda: now[0], write=lines.append)
    now[0] = 10.0
    progress.tick()
    now[0] = 10.4
    progress.finish()
    assert lines == ["loading: 10s", "loading: done"]
    lines.clear()
    progress = PlainProgress("loading", None, 5.0, clock=lambda: now[0], write=lines.append)
    now[0] = 15.0
    progress.tick()
    now[0] = 17.0
    progress.finish()
    assert lines == ["loading: 5s", "loading: 7s, done"]


def test_a_task_says_what_a_long_step_of_it_is_doing_in_its_lines_until_it_is_done(capsys):
    """The int8 copy's bar sat at 34/44 for 15 to 40 s with nothing said, one call of ONNX
    Runtime's: ``Reporter.doing`` puts the step's words after the task's
    description, in a log's next line (at once when none came for an interval: newcomer62's 7)
    and in each line after it; the last says the task."""
    from objrec.cli.output import PlainProgress, RichReporter

    now, lines = [0.0], []
    progress = PlainProgress("int8 copy", 4, 1.0, clock=lambda: now[0], write=lines.append)
    now[0] = 2.0
    progress.advance()
    progress.doing("writing the graph")
    now[0] = 9.0
    progress.tick()
    progress.advance(3)
    progress.finish()
    assert lines == [
        "int8 copy: 1/4 (25%), 2s",
        "int8 copy: writing the graph: 1/4 (25%), 9s",
        "int8 copy: 4/4 (100%), 9s, done",
    ]
    reporter = RichReporter()
    reporter.doing("nothing going on: said nowhere")
    with reporter.task("int8 copy", 4) as advance:
        reporter.doing("writing the graph")
        advance(4)
    said = capsys.readouterr().err
    assert "int8 copy: writing the graph: 0/4 (0%)" in said and "said nowhere" not in said


def test_a_log_gets_a_task_s_line_at_its_start_its_end_and_one_an_interval_at_most(capsys):
    """Captured to a file, the int8 copy's line came 8 times in 16 s and export's check's 7
    times in 9 s: each step's words (``Reporter.doing``) wrote a line at once (newcomer62, 7).
    Where stderr is not a terminal, a task says a line as it starts, one each interval at
    most (5 s: ``PLAIN_PROGRESS_SECONDS``), its next one naming the step it is at, and one
    as it ends."""
    from objrec.cli.output import PlainProgress, RichReporter

    now, lines = [0.0], []
    progress = PlainProgress("int8 copy", 46, 5.0, clock=lambda: now[0], write=lines.append)
    progress.counts("steps")
    steps = [(0, 0, "reading"), (2, 3, "preparing"), (3, 1, "probing"), (4, 1, "loading")]
    steps += [(4, 1, "measuring"), (9, 20, "measuring"), (12, 10, "writing")]
    for t, n, what in steps:
        now[0] = float(t)
        if n:
            progress.advance(n)
        progress.doing(what)
    now[0] = 14.0
    progress.tick()  # beat's thread: 5 s without a line
    now[0] = 16.0
    progress.advance(10)
    progress.finish()
    assert [line.split(" (")[0] for line in lines] == [
        "int8 copy: reading: 0/46 steps",
        "int8 copy: measuring: 26/46 steps",
        "int8 copy: writing: 36/46 steps",
        "int8 copy: 46/46 steps",
    ]
    reporter = RichReporter()  # capsys: stderr is not a terminal
    with reporter.task("checking the export", 96) as advance:
        for n in range(6):
            reporter.doing(f"photos {n}: answering")
            advance(16)
    said = capsys.readouterr().err.splitlines()
    assert said == [
        "checking the export: photos 0: answering: 0/96 (0%), 0s",
        "checking the export: 96/96 (100%), 0s, done",
    ]


def test_plain_progress_of_a_task_without_steps_still_prints_a_line_every_few_seconds():
    import threading

    from objrec.cli.output import PlainProgress

    now, lines, written = [0.0], [], threading.Event()

    def write(line):
        lines.append(line)
        written.set()

    progress = PlainProgress("quantizing", None, 0.01, clock=lambda: now[0], write=write)
    now[0] = 12.0  # before the thread starts: its first line may come at once on a loaded machine
    progress.beat()
    assert written.wait(60)  # the thread's first line, however loaded the machine is
    progress.finish()
    assert lines[0] == "quantizing: 12s" and lines[-1] == "quantizing: done"  # 12s said


@pytest.mark.slow
def test_plain_progress_says_done_after_a_line_its_thread_was_writing():
    import threading
    import time

    from objrec.cli.output import PlainProgress

    lines, writing, release = [], threading.Event(), threading.Event()

    def write(line):
        if threading.current_thread() is not threading.main_thread():
            writing.set()
            release.wait(60)  # the thread is held inside its write while the task finishes
        lines.append(line)

    progress = PlainProgress("quantizing", None, 0.01, clock=lambda: 12.0, write=write)
    progress.beat()
    assert writing.wait(60)
    threading.Timer(0.2, release.set).start()
    progress.finish()
    release.set()
    for _ in range(50):  # without the join, the held line lands after "done" (or alone)
        if len(lines) == 2:
            break
        time.sleep(0.1)
    assert lines == ["quantizing: 0s", "quantizing: done"]


def test_plain_progress_prints_the_last_step_once():
    from objrec.cli.output import PlainProgress

    now, lines = [0.0], []
    progress = PlainProgress("predicting", 30, 5.0, clock=lambda: now[0], write=lines.append)
    for t in (6, 8):
        now[0] = t
        progress.advance(15)
    progress.finish()
    assert lines == [  # one step done: no pace yet to tell the time left by
        "predicting: 15/30 (50%), 6s",
        "predicting: 30/30 (100%), 8s, done",
    ]
    now[0], last = 0.0, []
    slow = PlainProgress("Grad-CAM", 2, 5.0, clock=lambda: now[0], write=last.append)
    now[0] = 12.0
    slow.advance(2)  # the only step past the interval is the last one: shown once, as done
    slow.finish()
    assert last == ["Grad-CAM: 2/2 (100%), 12s, done"]


def test_plain_progress_of_a_counted_task_says_it_is_going_on_before_its_first_step(
    capsys, monkeypatch
):
    """The demo's first frozen pass sat 46 s at its first step (its start-up) on a busy machine,
    and a log said nothing between "the new head trains in ..." and "train features: 16/60":
    a line every interval was written only by a step."""
    import time

    import objrec.cli.output
    from objrec.cli.output import RichReporter

    monkeypatch.setattr(objrec.cli.output, "PLAIN_PROGRESS_SECONDS", 0.01)
    err, deadline = "", time.monotonic() + 60
    with RichReporter().task("train features", 60) as advance:
        while "train features: 0/60 (0%)" not in err and time.monotonic() < deadline:
            time.sleep(0.01)  # the start-up: no step yet
            err += capsys.readouterr().err
        advance(60)
    err += capsys.readouterr().err
    assert "train features: 0/60 (0%), 0s" in err
    assert err.splitlines()[-1].startswith("train features: 60/60 (100%)")


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


def report_epochs(reporter, epochs, improved) -> None:
    """``reporter`` told of each epoch, its valid loss falling, ``improved`` marked best."""
    for epoch in epochs:
        record = {"epoch": epoch, "train_loss": 0.5, "train_acc": 0.9, "seconds": 0.1}
        record |= {"valid_loss": 0.4 - 0.01 * epoch, "valid_acc": 0.9, "best": epoch in improved}
        reporter.epoch(record)


def test_epoch_lines_are_the_first_the_improvements_and_every_tenth(capsys):
    """... and they say so before the first, as a newcomer missed epochs 4 to 6 without a word."""
    from objrec.cli.output import RichReporter

    report_epochs(RichReporter(), range(1, 26), improved={1, 2, 3, 7, 12})
    said, *lines = after_legend(capsys.readouterr().err)
    assert said.startswith("showing epoch 1, every 10th epoch, each new lowest valid loss")
    assert said.endswith("every epoch is in history.csv in the run folder")
    assert [int(line.split()[1]) for line in lines] == [1, 2, 3, 7, 10, 12, 20]
    assert [line.endswith("kept so far") for line in lines] == [True] * 4 + [False, True, False]


def test_train_shows_the_last_epoch_s_line_where_the_table_skipped_it(
    capsys, monkeypatch, tmp_path
):
    """ "stopped after 21 epochs (best 16)" under a table that ended at epoch 20: a reader looked
    for epoch 21. The last epoch gets its line, once, when the fit ends: before
    the next stage (calibration, writing the run), where it came after them."""
    from objrec.run_record import TrainResult

    history = [
        {"epoch": e, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1, "valid_acc": 0.9}
        | {"valid_loss": 0.9 - 0.03 * min(e, 16), "best": e in (1, 2, 16)}
        for e in range(1, 22)
    ]

    def fake_train(data, out, config, reporter, *args, **kwargs):
        for record in history:
            reporter.epoch(record)
        with reporter.task('calibrating probabilities and "unknown"', None):
            reporter.note("temperature 1.2")
        seconds = RunSeconds(features=0.5, fit=0.0, calibrate=0.0, total=1.0)
        return TrainResult(out, ["a", "b"], history, 16, 0.42, 0.9, PARAMS, seconds)

    monkeypatch.setattr(importlib.import_module("objrec.train"), "train_as_asked", fake_train)
    as_split_folder(tmp_path)
    code, out, err = run(capsys, "train", tmp_path, "--out", tmp_path / "run")
    lines = err.splitlines()
    shown = [int(line.split()[1]) for line in lines if line.startswith("epoch ")]
    assert code == 0 and shown == [1, 2, 10, 16, 20, 21]
    calibrating = next(i for i, line in enumerate(lines) if line.startswith("calibrating"))
    assert lines[calibrating - 2].startswith("epoch  21")
    assert lines[calibrating - 1] == "kept: epoch 16, valid loss 0.4200"  # once, after the last
    assert "best epoch 16 of 21" in " ".join(out.split())


def test_quiet_leaves_out_progress_and_notes_not_warnings_errors_or_the_result(
    capsys, monkeypatch, tmp_path
):
    """review60b F24: a 3-epoch train wrote 29 lines to stderr (its progress, the epoch legend
    and table, the calibration's notes), and only `2>/dev/null`, which hides the errors too,
    quietened it. `objrec -q` (before or after the command) says the warnings, the errors and the
    result alone; -q with -v is refused."""
    from objrec.cli import output
    from objrec.run_record import TrainResult

    monkeypatch.setattr(output, "PLAIN_PROGRESS_SECONDS", 0.0)  # a line at every step
    history = [
        {"epoch": e, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1, "valid_acc": 0.9}
        | {"valid_loss": 0.9 - 0.03 * e, "best": True}
        for e in range(1, 4)
    ]

    def fake_train(data, out, config, reporter, *args, **kwargs):
        with reporter.task("fitting", 3) as advance:
            for record in history:
                reporter.epoch(record)
                advance(1)
        reporter.note("temperature 1.2")
        seconds = RunSeconds(features=0.5, fit=0.0, calibrate=0.0, total=1.0)
        return TrainResult(out, ["a", "b"], history, 3, 0.81, 0.9, PARAMS, seconds)

    monkeypatch.setattr(importlib.import_module("objrec.train"), "train_as_asked", fake_train)
    as_split_folder(tmp_path / "data")
    code, loud, err = run(capsys, "train", tmp_path / "data", "--out", tmp_path / "run")
    assert code == 0 and "epoch   1" in err and "temperature 1.2" in err and "fitting" in err
    for quiet in (["-q", "train"], ["train", "--quiet"]):
        args = [tmp_path / "data", "--out", tmp_path / "run", "--force"]
        code, out, err = run(capsys, *quiet, *args)
        assert code == 0 and err == "" and out == loud, (quiet, err)
    photos = make_class_folder(tmp_path / "photos", per_class=4)
    code, out, err = run(capsys, "-q", "split", photos, tmp_path / "split")
    assert code == 0 and out.startswith("split 3 classes into ")
    assert err and all(line.startswith(("warning:", " ")) for line in err.splitlines()), err
    code, _, err = run(capsys, "-q", "split", tmp_path / "nosuch", tmp_path / "split2")
    assert code == 2 and err.startswith("error: invalid value for 'PHOTOS'"), err
    code, _, err = run(capsys, "-q", "-v", "check", photos)
    assert code == 2 and err.startswith("error: -q and -v do not go together"), err


def test_the_epoch_lines_begin_with_what_their_words_mean(capsys):
    """A newcomer (Teachable Machine, not ML) read 'epoch 1  train loss 2.0800 acc 13.75%  valid
    loss 1.4281 acc 92.50%' without a word of what an epoch, a loss or 'valid' is, nor why train's
    accuracy is the lower (15.38% against 100.00%, read as a bug)."""
    from objrec.cli.output import RichReporter

    report_epochs(RichReporter(), range(1, 4), improved={1, 2})
    err = capsys.readouterr().err
    legend = err.splitlines()[:3]  # three lines a terminal of 100 columns shows whole: it was one
    assert max(map(len, legend)) <= 100  # of 322 characters, cut mid-word
    assert legend[0].startswith("epoch: one pass over the training images; loss: how wrong")
    assert legend[1].startswith("acc: the share guessed right (train's counted as the head learns")
    assert legend[1].endswith("so at first below valid's)") and legend[2].startswith("valid: the")
    said, first, *_ = after_legend(err)
    assert said.startswith("showing epoch 1") and first.split()[:2] == ["epoch", "1"]


def test_a_resumed_run_shows_and_names_its_first_epoch(capsys):
    """A run resumed after epoch 12 said 'showing epoch 1, ...' and showed its epoch 13 only if
    that was a new best: its first line could be any later epoch, without a word."""
    from objrec.cli.output import RichReporter

    report_epochs(RichReporter(), range(13, 26), improved={15, 16, 22})
    said, *lines = after_legend(capsys.readouterr().err)
    assert said.startswith(
        "showing epoch 13 (the first of this resume), every 10th epoch, each new lowest valid loss"
    )
    assert [int(line.split()[1]) for line in lines] == [13, 15, 16, 20, 22]


def test_a_resumed_runs_legend_names_the_best_its_first_best_line_must_beat(capsys):
    """A run interrupted with its best, 0.3000, at epoch 12 and resumed: the legend started from
    nothing. It names the run's best before the resume, which the next best is below."""
    from objrec.cli.output import RichReporter

    reporter = RichReporter()
    reporter.best_before(12, 0.3)
    for epoch, loss in ((13, 0.31), (14, 0.3004), (15, 0.2992), (16, 0.2980)):
        record = {"epoch": epoch, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1}
        reporter.epoch(record | {"valid_loss": loss, "valid_acc": 0.9, "best": loss < 0.3})
    said, *lines = after_legend(capsys.readouterr().err)
    assert said.startswith(
        "showing epoch 13 (the first of this resume), every 10th epoch, each new lowest valid loss "
        '(marked "kept so far": the run keeps the lowest, named under the table; below epoch '
        "12's 0.3000, kept before this resume)"
    )
    assert [int(line.split()[1]) for line in lines] == [13, 15, 16]


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


def test_two_lines_marked_kept_so_far_never_show_the_same_loss(capsys):
    """newcomer61b: epochs 13 and 15 both said "valid loss 0.0444 ... kept so far", as if the
    same loss were kept twice (15's was lower by less than 0.00005). A new lowest that four
    decimals would show as the last one's is shown with the digits that tell them apart, and
    so is the line under the table; other lines keep four."""
    from objrec.cli.output import RichReporter

    reporter = RichReporter()
    losses = {1: 0.5, 2: 0.04441, 3: 0.0445, 4: 0.04437, 5: 0.00012, 6: 0.000118}
    for epoch, loss in losses.items():
        record = {"epoch": epoch, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1}
        reporter.epoch(record | {"valid_loss": loss, "valid_acc": 0.9, "best": epoch != 3})
    reporter.last_epoch()
    _, *lines = after_legend(capsys.readouterr().err)
    shown = [line.split("valid loss ")[1].split()[0] for line in lines if line.startswith("epoch")]
    assert shown == ["0.5000", "0.0444", "0.04437", "1.20e-04", "1.18e-04"]
    assert lines[-1] == "kept: epoch 6, valid loss 1.18e-04"
    reporter = RichReporter()
    for epoch, loss in ((1, 0.5), (2, 0.0444), (3, 0.04438)):
        record = {"epoch": epoch, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1}
        reporter.epoch(record | {"valid_loss": loss, "valid_acc": 0.9, "best": True})
    reporter.last_epoch()
    _, *lines = after_legend(capsys.readouterr().err)
    assert lines[-2].split("valid loss ")[1].startswith("0.04438 ")
    assert lines[-1] == "kept: epoch 3, valid loss 0.04438"


def test_the_table_names_the_epoch_kept_under_it_with_one_kind_of_mark(capsys):
    """Each new lowest valid loss was marked "best" (six lines of nine), the legend saying the
    last one marked was kept: a reader decoded which. Each is marked "kept so far", true of it
    when printed, and the line under the table names the epoch kept, once a fit (before
    fine-tuning's note, then after its epochs); a resume that marks none names the run's kept
    epoch from before it."""
    from objrec.cli.output import RichReporter

    reporter = RichReporter()
    losses = {1: 0.5, 2: 0.3, 3: 0.2, 4: 0.25, 5: 0.26}
    for epoch, loss in losses.items():
        record = {"epoch": epoch, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1}
        reporter.epoch(record | {"valid_loss": loss, "valid_acc": 0.9, "best": epoch <= 3})
    reporter.note("fine-tuning the last block from epoch 3")
    for epoch, best in ((6, False), (7, True), (8, False)):  # a tuned epoch below the head's
        record = {"epoch": epoch, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1}
        reporter.epoch(record | {"valid_loss": 0.19, "valid_acc": 0.9, "best": best})
    reporter.last_epoch()
    reporter.last_epoch()  # once
    said, *lines = after_legend(capsys.readouterr().err)
    table = [line for line in lines if line.startswith("epoch")]
    assert all(line.endswith(("0.1s", "0.1s  kept so far")) for line in table)
    assert [line.endswith("kept so far") for line in table] == [True] * 3 + [False, True, False]
    assert "best" not in " ".join(lines)
    assert [line for line in lines if not line.startswith("epoch")] == [
        "kept: epoch 3, valid loss 0.2000",
        "fine-tuning the last block from epoch 3",
        "kept: epoch 7, valid loss 0.1900",
    ]
    assert lines[-2].startswith("epoch   8") and "under the table" in said
    resumed = RichReporter()
    resumed.best_before(12, 0.3)
    record = {"epoch": 13, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1}
    resumed.epoch(record | {"valid_loss": 0.31, "valid_acc": 0.9, "best": False})
    resumed.last_epoch()
    assert after_legend(capsys.readouterr().err)[-1] == "kept: epoch 12, valid loss 0.3000"


def test_tiny_gains_of_a_nearly_zero_loss_are_marked_as_the_epochs_kept(capsys):
    """An easy set improves its valid loss by 1e-6 an epoch: each such epoch is the one kept so
    far, so each is marked (and shown to three significant digits, not as 0.0000); --min-delta
    counts none of them, so the fit stops after --patience of them (test_engine.py)."""
    losses = [0.5] + [3e-4 - 1e-6 * epoch for epoch in range(2, 16)]
    _said, marked, kept = marked_lines(0.001, losses, capsys)
    assert marked == list(range(1, 16)) and kept == 15


def test_a_kept_fine_tuning_is_named_in_the_best_epoch_line(capsys, tmp_path):
    """After --finetune-blocks 1 was kept (valid loss 0.1396 -> 0.1353), train's last lines said
    'best epoch 19 of 24, the head kept': as if the body's tuned block had not been."""
    from dataclasses import replace

    from objrec.cli.training import print_trained
    from objrec.finetune import FinetuneRecord
    from objrec.run_record import TrainResult

    record = {"epoch": 1, "train_loss": 0.1, "train_acc": 1.0, "valid_loss": 0.2}
    record |= {"valid_acc": 0.9, "seconds": 0.1, "best": True}
    seconds = RunSeconds(features=0.5, fit=0.0, calibrate=0.0, total=1.0)
    losses = {"best_valid_loss_before": 0.3, "best_valid_loss_after": 0.2}
    tuned = FinetuneRecord(blocks=1, epochs_run=1, kept=True, best_epoch_before=1, **losses)
    for finetune, said in (
        (tuned, "the head and its fine-tuned blocks kept"),
        (replace(tuned, kept=False), "the head kept"),
        (None, "the head kept"),
    ):
        result = TrainResult(tmp_path, ["a", "b"], [record], 1, 0.2, 0.9, PARAMS, seconds)
        result.finetune = finetune
        print_trained(result)
        assert f"best epoch 1 of 1, {said}: valid loss 0.2000" in " ".join(
            capsys.readouterr().out.split()
        )


@pytest.mark.slow
@pytest.mark.figures
def test_the_curves_mark_the_epoch_whose_head_was_kept(capsys, monkeypatch, tmp_path, split_dir):
    """With --min-delta, curves.png marked the lowest valid loss as the best epoch, a later one than
    the summary's (its gain was under --min-delta, so early stopping kept the earlier head). The
    run keeps the lowest now: the curves mark it, the summary's epoch."""
    import pandas as pd

    import objrec.plots

    marked = []

    def save(fig, path):
        marked.append(fig.axes[0].get_legend_handles_labels()[1][-1])
        Path(path).write_bytes(b"")  # train renames what it saved into the run folder
        return path

    monkeypatch.setattr(objrec.plots, "save", save)
    args = ["--backbone", "tiny_test", "--aug-views", "1", "--batch-size", "8", "--lr", "0.01"]
    args += ["--epochs", "12", "--min-delta", "0.05", "--json"]
    code, out, _ = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    best = json.loads(out)["best_epoch"]
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert code == 0 and history.loc[history["valid_loss"].idxmin(), "epoch"] == best
    assert marked == [f"best epoch ({best})"]


@pytest.mark.slow
def test_train_ends_with_the_evaluate_to_run_and_how_to_try_unknown_photos(
    capsys, tmp_path, split_dir, monkeypatch
):
    """A newcomer found the stricter threshold only by chance: train said nothing of
    `evaluate --unknown`, which measures what "unknown" catches and offers it."""
    monkeypatch.chdir(tmp_path)
    args = ["--out", "my run", "--backbone", "tiny_test", "--epochs", "1"]
    code, out, _ = run(capsys, "train", split_dir, *args)
    last = " ".join(out.split()).rsplit("next: ", 1)[-1]
    assert code == 0 and last.startswith("objrec evaluate 'my run' data; add --unknown")


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
        (["train", "photos", "--out", "new"], 1),  # not a split folder
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


def test_predict_plot_not_named_as_a_picture_is_a_usage_error_before_anything_loads(
    capsys, tmp_path
):
    """review55b L9: `predict --plot out.txt` exited 1, refused by the library once the model had
    loaded, where an option value that names nothing objrec knows exits 2; and its endings
    offered .raw and .rgba (bare pixel buffers) for an option whose help says PNG. It is a usage
    error now, before the run is even read, offering the picture formats matplotlib writes."""
    from matplotlib.backend_bases import FigureCanvasBase

    from objrec.predict_outputs import PLOT_FORMATS

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("out.txt", "out.raw", "figure"):
        code, _, err = run(capsys, "predict", tmp_path, photos, "--plot", tmp_path / name)
        png = tmp_path / (name.split(".")[0] + ".png")
        assert code == 2 and err.startswith(
            f"error: invalid value for '--plot': {tmp_path / name} does not end in an image "
            f"format: name it {png}, or end it in one of .jpg, .jpeg, .webp, .tif, .tiff, .svg, "
            ".pdf"
        ), err
    assert set(PLOT_FORMATS) <= set(FigureCanvasBase.get_supported_filetypes())


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


@pytest.mark.slow
def test_split_names_a_killed_splits_staging_folder_in_the_clis_terms(
    capsys, tmp_path, image_folder
):
    """The library names the call that replaces a killed split's leftovers as Python spells it;
    `objrec split` says the command line instead, as it did before the library said it once."""
    out = tmp_path / "data"
    killed = out / ".objrec-split-1a2b3c4d"
    (killed / "train" / "red").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")  # OUT holds more than the killed split's folder
    hour_ago = time.time() - 3600
    os.utime(killed, (hour_ago, hour_ago))
    handler = SentenceHandler()  # as `objrec` installs it (pytest's own handler comes first here)
    log = logging.getLogger("objrec.split.out")
    log.addHandler(handler)
    try:
        code, _, err = run(capsys, "split", image_folder, out)
    finally:
        log.removeHandler(handler)
    command = f"objrec split {image_folder.resolve()} {out.resolve()} --force"
    assert code == 1 and f"keep it until `{command}` has replaced" in " ".join(err.split())
    assert "split_folder(" not in err


def test_split_into_a_folder_of_only_a_killed_splits_staging_folder_says_so_once(
    capsys, tmp_path, image_folder
):
    """`objrec split SRC OUT --strict`, OUT holding only a killed split's staging folder, warned
    "keep it until `objrec split SRC OUT --force` has replaced what that split left", then
    refused "OUT is not empty: choose another folder or pass --force": one sentence now says the
    folder is not needed and both ways on."""
    out = tmp_path / "data"
    killed = out / ".objrec-split-1a2b3c4d"
    (killed / "train" / "red").mkdir(parents=True)
    hour_ago = time.time() - 3600
    os.utime(killed, (hour_ago, hour_ago))
    handler = SentenceHandler()  # as `objrec` installs it (pytest's own handler comes first here)
    log = logging.getLogger("objrec.split.out")
    log.addHandler(handler)
    try:
        code, _, err = run(capsys, "split", image_folder, out, "--strict")
    finally:
        log.removeHandler(handler)
    said = " ".join(err.split())
    assert code == 1 and said.count("error:") == 1 and "warning" not in said, said
    assert said == (
        f"error: {out} holds only {killed.name}, left by a split that was killed before moving "
        f"anything in: nothing in it is needed; delete it (rm -r {killed}) to split into {out}, "
        "or pass --force to split beside it"
    )
    assert killed.is_dir() and [p.name for p in out.iterdir()] == [killed.name]


@pytest.mark.slow
def test_evaluating_another_folder_never_replaces_an_earlier_evaluation(
    capsys, tmp_path, trained_run, split_dir
):
    """The --json of each says where it wrote (review60b F12: no `out`, so a script rebuilt
    RUN/eval-NAME-HASH)."""
    code, out, _ = run(capsys, "evaluate", trained_run, split_dir, "--json")
    own = trained_run / "eval-test"
    assert code == 0 and json.loads(out)["folder"] == str((split_dir / "test").resolve())
    assert Path(json.loads(out)["out"]).resolve() == own.resolve()
    before = {p.name: p.read_bytes() for p in own.iterdir()}
    other = make_class_folder(tmp_path / "other", per_class=5)
    code, out, _ = run(capsys, "evaluate", trained_run, other, "--json")
    assert code == 0 and json.loads(out)["n"] == 15
    assert {p.name: p.read_bytes() for p in own.iterdir()} == before
    assert [p.name.startswith("eval-other-") for p in trained_run.glob("eval-*")].count(True) == 1
    assert [Path(json.loads(out)["out"]).resolve()] == [
        p.resolve() for p in trained_run.glob("eval-other-*")
    ]
    code, _, err = run(capsys, "evaluate", trained_run, other, "--out", own)
    assert code == 1 and "not empty" in err


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


def test_evaluate_says_its_results_overstate_accuracy_before_the_scores(
    monkeypatch, trained_run, split_dir
):
    """review52b L10: evaluating the run's own images printed the tables and "next, try:", and
    only then "these results overstate accuracy": the reader met the figure before the warning
    on it. The warning comes first (stdout and stderr into one stream here, as in a terminal)."""
    import io

    from rich.console import Console

    from objrec.cli import evaluation

    both = io.StringIO()
    monkeypatch.setattr(evaluation, "console", Console(file=both, width=300))
    monkeypatch.setattr(evaluation, "err", Console(file=both, width=300))
    assert main(["evaluate", str(trained_run), str(split_dir / "train"), "--force"]) == 0
    said = " ".join(both.getvalue().split())
    assert "overstate accuracy" in said and "next, try:" in said
    assert said.index("overstate accuracy") < said.index("top-1")


@pytest.mark.slow
def test_evaluate_warns_loudly_when_images_are_the_runs_own_training_images(
    capsys, trained_run, split_dir, image_folder
):
    code, out, err = run(capsys, "evaluate", trained_run, image_folder, "--json")
    result = json.loads(out)
    assert code == 0 and result["n"] == 36
    assert result["seen_in_training"] == {"train": 18, "valid": 9}
    assert (
        "27 of the 36 evaluated images are the run's own 18 training and 9 validation"
        in (result["warning"])
    )
    assert "warning:" in err and " ".join(err.split()).count("overstate accuracy") == 1
    code, out, err = run(capsys, "evaluate", trained_run, image_folder, "--force")
    assert code == 0 and " ".join(err.split()).count("overstate accuracy") == 1  # not logged too
    code, out, err = run(capsys, "evaluate", trained_run, split_dir, "--json")
    result = json.loads(out)
    assert result["seen_in_training"] == {"train": 0, "valid": 0} and "warning" not in result
    assert "warning" not in err


@pytest.mark.slow
def test_evaluate_ignores_an_empty_folder_that_split_left_out(capsys, tmp_path, trained_run):
    photos = make_class_folder(tmp_path / "photos2", per_class=2)
    (photos / "empty").mkdir()
    code, out, err = run(capsys, "evaluate", trained_run, photos, "--json")
    assert code == 0, err
    assert json.loads(out)["n"] == 6


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


def test_no_library_log_sentence_names_a_cli_flag_and_the_cli_spells_them_as_flags(capsys):
    """A notebook's log said "for ONNX Runtime, train with --precision fp32" and "evaluated
    again without --unknown ...": the library logs the arguments' names (`precision='fp32'`),
    which the CLI spells as its flags, in its ``-v`` lines too. The server's own log lines
    (serve_*), logged where the CLI's translation does not reach, keep theirs."""
    import ast
    import logging
    import re

    from objrec.cli import cli
    from objrec.cli.output import LogLineHandler
    from objrec.config import TrainConfig
    from objrec.precision import settle_precision

    from .conftest import source_nodes

    flags = {o for c in cli.commands.values() for p in c.params for o in p.opts if o[:2] == "--"}
    flag = re.compile(rf"(?<![\w-])({'|'.join(map(re.escape, sorted(flags)))})\b(?!-)")
    found = []
    for path, nodes in source_nodes():
        if path.parts[0] in ("cli", "serve"):
            continue
        constants = {
            target.id: node.value
            for node in nodes[0].body  # the module
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for call in nodes:
            logged = isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            if not logged or getattr(call.func.value, "id", None) != "log":
                continue
            named = [constants.get(a.id) for a in call.args if isinstance(a, ast.Name)]
            for node in [*call.args, *(n for n in named if n is not None)]:
                for text in ast.walk(node):
                    if isinstance(text, ast.Constant) and flag.search(str(text.value)):
                        found.append(f"{path.as_posix()}:{text.lineno}: {text.value}")
    assert found == []
    assert settle_precision(TrainConfig(precision="fp32"), None)[1].why == "asked for"  # type: ignore[arg-type]
    record = logging.LogRecord("objrec.train", logging.INFO, "", 0, "%s", (EXPORT_WORDS,), None)
    with click.Context(cli.commands["train"]):
        LogLineHandler().emit(record)
    assert "for ONNX Runtime, train with --precision fp32 (see" in capsys.readouterr().err


EXPORT_WORDS = "for ONNX Runtime, train with `precision='fp32'` (see docs/export.md)"

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


@pytest.mark.slow
def test_split_names_unreadable_files_once_and_strict_refuses_them(
    capsys, tmp_path, image_folder, known_facts
):
    (image_folder / "red" / "broken.jpg").write_bytes(b"not a picture")
    code, out, err = run(capsys, "split", image_folder, tmp_path / "data")
    err = " ".join(err.split())
    assert code == 0 and "split 3 classes" in out
    sentence = "left out 1 image file that cannot be read (--strict refuses them): red/broken.jpg"
    assert f"warning: {sentence}" in err  # as train, evaluate and predict print theirs
    assert err.count("cannot be read") == 1  # the library's logged sentence is not shown too
    assert not list((tmp_path / "data").rglob("broken.jpg"))
    code, out, err = run(capsys, "split", image_folder, tmp_path / "data2", "--json")
    assert json.loads(out)["unreadable_files"] == ["red/broken.jpg"]
    assert [w for w in json.loads(out)["warnings"] if "cannot be read" in w] == [sentence]
    assert f"warning: {sentence}" in " ".join(err.split())  # on stderr too (docs/json.md)
    code, _, err = run(capsys, "split", image_folder, tmp_path / "strict", "--strict")
    assert code == 1 and "red/broken.jpg" in err and not (tmp_path / "strict").exists()


@pytest.mark.slow
def test_train_on_a_full_disk_at_its_end_says_one_sentence_last(
    capsys, monkeypatch, tmp_path, split_dir
):
    """A full disk as train wrote its run, its training state failing too, printed "error: the
    training state could not be written either ([Errno 28] No space left on device: '...')"
    and then "error: run/model.safetensors: no space left on device": the consequence before
    the cause, in the system's raw words. One error line ends the output now, exit 1."""
    import errno

    runs = importlib.import_module("objrec.runs")
    resume_state = importlib.import_module("objrec.resume_state")

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(runs, "save_checkpoint", full)
    monkeypatch.setattr(resume_state, "write_training_state", full)
    monkeypatch.setattr(sys, "stderr", sys.stdout)  # one stream, as a terminal shows both
    out = tmp_path / "run"
    code = main(
        ["train", str(split_dir), "--out", str(out), "--backbone", "tiny_test", "--epochs", "3"]
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("error:")]
    assert code == 1 and errors == [len(lines) - 1], lines
    assert lines[-1].startswith(f"error: the disk of {out} is full: {out / 'model.safetensors'}")
    assert "give --out a folder on a disk with room" in lines[-1] and "Errno" not in lines[-1]


@pytest.mark.slow
def test_check_on_a_full_cache_disk_says_so_and_how_to_free_it(capsys, tmp_path, monkeypatch):
    """SQLite's "database or disk is full" in the cache folder (the feature store's file index,
    which check hashes through, or the image facts store): the CLI names the cache folder, its
    full disk, `objrec cache --prune` and OBJREC_CACHE or --cache-dir (check's option since 7
    December 2026), exit 1; never "an error objrec did not expect"."""
    from .test_store import sqlite_full

    photos = make_class_folder(tmp_path / "photos", per_class=2, classes=("red", "green"))
    cache = tmp_path / "cache"
    monkeypatch.setenv("OBJREC_CACHE", str(cache))
    with sqlite_full(monkeypatch, pages=1):
        code, out, err = run(capsys, "check", photos)
    said = " ".join(err.split())
    assert code == 1 and out == ""
    assert said.startswith(f"error: the disk of the cache folder {cache} is full: the ")
    assert (  # the feature store's file index, its first write since check hashes through it
        f"{cache / 'store' / 'index.sqlite'} could not be written (database or disk is full); "
        f"free some space on it (`objrec cache --prune --cache-dir {cache} --days 30` forgets "
        "what no command used for 30 days"
    ) in said
    assert said.endswith("or point OBJREC_CACHE or --cache-dir at a folder on a disk with room")
    assert "did not expect" not in said


@pytest.mark.slow
def test_split_says_its_warnings_before_the_summary_they_qualify(
    capsys, monkeypatch, tmp_path, image_folder, known_facts
):
    """Both streams in one terminal read "split 3 classes ...: train 19, ...", the duplicates'
    and bursts' notes, and only then "warning: left out 1 image file that cannot be read": the
    warning came after the counts it explains, as a split's library warnings (logged as it
    works) never do. Every warning now comes before the summary, which ends the output."""
    (image_folder / "red" / "broken.jpg").write_bytes(b"not a picture")
    shutil.copy(image_folder / "blue" / "img_00.jpg", image_folder / "blue" / "copy.jpg")
    monkeypatch.setattr(sys, "stderr", sys.stdout)  # one stream, as a terminal shows both
    code = main(["split", str(image_folder), str(tmp_path / "data")])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    said = ("warning: left out 1 image file that cannot be read", "split 3 classes", "1 duplicate")
    starts = [next(i for i, line in enumerate(lines) if line.startswith(s)) for s in said]
    assert code == 0 and starts == sorted(starts), lines
    assert lines[-1].startswith(
        "no photo says when it was taken (EXIF): no rapid series looked for"
    )


@pytest.mark.slow
def test_check_totals_add_up_and_an_empty_class_folder_is_not_a_class(capsys, tmp_path):
    """'283 images of 8 classes: 281 readable, 3 unusable': the empty class folder counted as a
    class, and as one of the unusable beside the undecodable files (281 + 3 != 283)."""
    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    (photos / "empty").mkdir()
    (photos / "red" / "bad.jpg").write_bytes(b"not a picture")
    shutil.copy(photos / "green" / "img_00.jpg", photos / "green" / os.fsdecode(b"caf\xe9.jpg"))
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    assert (
        code == 1
        and "8 image files in 2 classes: 6 readable, 2 unusable; 1 empty class folder that "
        "split leaves out"
        in said
    )
    code, out, _ = run(capsys, "check", photos, "--json")
    found = json.loads(out)
    assert (found["images"], found["readable"], found["n_unreadable"]) == (8, 6, 2)
    assert (found["n_classes"], found["unusable_folders"], found["unusable"]) == (2, 1, 3)
    assert found["images"] == found["readable"] + found["n_unreadable"]
    assert found["unusable"] == len([p for p in found["problems"] if p["unusable"]])
    data = tmp_path / "data"
    for split in ("train", "valid"):
        shutil.copytree(photos, data / split)
    code, out, _ = run(capsys, "check", data, "--json")
    found = json.loads(out)
    assert found["splits"] == {"train": 8, "valid": 8} and found["images"] == 16
    assert (found["readable"], found["n_unreadable"], found["unusable_folders"]) == (12, 4, 2)


def test_check_s_summary_writes_every_count_with_thousands_separators(tmp_path):
    """check wrote its split and readable counts as '4059' and '6179' (its first count, through
    plural, as '7,179'), where explore writes every count as '6,179'."""
    from objrec.check import CheckResult, Problem
    from objrec.cli.data import check_summary

    splits = {"train": 4059, "valid": 1560, "test": 1560}
    result = CheckResult(tmp_path, images=7179, readable=6179, n_classes=100, splits=splits)
    result.problems = [Problem(f"{i}.jpg", "unreadable", "cannot read", True) for i in range(1000)]
    assert check_summary(result) == (
        "7,179 image files in 100 classes (train 4,059, valid 1,560, test 1,560): 6,179 readable, "
        "1,000 unusable"
    )
    from objrec.cli.data import check_next  # a user read exit 1 as "fix them first"

    assert check_next(result) == (
        "what next: train leaves the 1,000 unusable files out, with a warning naming them, and "
        "goes on (train --strict refuses to start while any exist)"
    )
    result.splits = {}
    assert check_next(result).startswith("what next: split and train leave the 1,000 unusable")
    assert check_next(result).endswith("(split --strict and train --strict refuse them instead)")
    result.problems[0].kind = "bad_name"  # split --strict does not refuse those
    assert check_next(result).endswith("(train --strict refuses to start while any exist)")


def test_check_next_promises_no_going_on_past_an_unusable_folder(tmp_path):
    """A class folder of one class and a damaged photo: check's last line said split and train
    'go on' without the photo, where train refuses the folder (one class); and 'with a warning
    naming them' of one file. The folder's own line says what it stops."""
    from objrec.check import CheckResult, Problem
    from objrec.cli.data import check_next

    result = CheckResult(tmp_path, images=8, readable=7, n_classes=1)
    result.problems = [Problem("a/bad.jpg", "unreadable", "cannot read", True)]
    assert check_next(result) == (
        "what next: split and train leave the 1 unusable file out, with a warning naming it, and "
        "go on (split --strict and train --strict refuse it instead)"
    )
    result.problems.append(Problem(str(tmp_path), "one_class", "train refuses it", True))
    said = check_next(result)
    assert "go on" not in said and said.endswith(
        "; the unusable folder is another matter (its line above)"
    )
    result.problems.append(Problem(str(tmp_path / "b"), "empty_class", "no images", True))
    said = check_next(result)  # the empty class folder is left out as the file is: not "2"
    assert "leave the 1 unusable file and the 1 empty class folder out, with a warning" in said
    assert said.endswith("; the unusable folder is another matter (its line above)")


@pytest.mark.slow
def test_check_s_exit_codes_are_said_in_its_help(capsys, tmp_path):
    """A user saw exit 1 for one truncated photo, which split and train just leave out: check's
    help said only 'Exits with 1 when anything is unusable'. It says each code now: 0 nothing
    unusable, 1 something (files left out by split and train), 2 a wrong command line; each in a
    sentence of its own (review60b F24: "with 0 when ...; 1 when something is (unusable files:
    split and train leave them out and go on, the last line says, as split does an empty class
    folder; another unusable folder: its line says what it stops), or ..." was hard to parse)."""
    photos = make_class_folder(tmp_path / "photos", per_class=3)  # 3 a class: split gives valid one
    assert run(capsys, "check", photos)[0] == 0
    (photos / "red" / "cut.png").write_bytes((photos / "red" / "img_01.png").read_bytes()[:200])
    code, out, _ = run(capsys, "check", photos)
    assert code == 1 and "split and train leave the 1 unusable file out" in " ".join(out.split())
    code, _, err = run(capsys, "check", tmp_path / "missing")
    assert code == 2 and "missing" in err
    said = " ".join(run(capsys, "check", "--help-all")[1].split())
    sentences = re.split(r"(?<=[.:]) ", said[said.index("The exit status") :])
    assert sentences[1].startswith("0 when nothing is unusable (notes do not stop split")
    assert sentences[2].startswith("1 when something is unusable, or DATA cannot be read:")
    assert "split and train leave unusable files and empty class folders out" in said
    assert "2 when the command line is wrong (DATA missing, say): nothing is checked." in said
    assert "(" not in sentences[3]  # no clause in brackets holding clauses of its own


def test_check_of_a_folder_split_refuses_says_so_not_that_split_goes_on(capsys, tmp_path):
    """review60b F20: a/x.jpg unreadable beside b/one.jpg: check ended "what next: split and
    train leave the 1 unusable file out, with a warning naming it, and go on", and its folder note
    said --ratios 0.7 0.15 0.15 would train on more of it, where split refused the folder ("no
    image would go to valid"). It says split refuses it as it stands, and to add photos."""
    photos = make_class_folder(tmp_path / "photos", per_class=1)
    (photos / "red" / "img_00.png").write_bytes(b"not an image")
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    assert code == 1 and "go on" not in said and "--ratios" not in said
    assert f"few_images {photos}: `objrec split` refuses this folder as it stands" in said
    assert said.endswith(
        "what next: add photos; split refuses this folder as it stands (its note above)"
    )
    big = make_class_folder(tmp_path / "more", per_class=4)  # valid gets one of each: no refusal
    (big / "red" / "img_00.png").write_bytes(b"not an image")
    code, out, _ = run(capsys, "check", big)
    assert code == 1 and "refuses this folder" not in out and "and go on" in " ".join(out.split())


def test_check_s_help_names_the_export_among_what_fails_a_run(capsys):
    """check --help said a run fails "when a file is damaged, unreadable or describes another
    model", where docs/commands.md (and check) also fail one missing from an export."""
    said = " ".join(run(capsys, "check", "--help-all")[1].split())
    assert "its export (objrec export RUN) against the SHA-256 its model.json records" in said
    assert "unreadable, missing from an export (its script excepted: yours to adapt) or" in said


def test_check_counts_a_folder_once_when_it_is_both_empty_and_unknown_to_train(capsys, split_dir):
    """An empty valid/purple that train lacks is two problems (empty_class, unknown_class) of one
    folder: check said '2 unusable folders' for it."""
    (split_dir / "valid" / "purple").mkdir()
    code, out, _ = run(capsys, "check", split_dir)
    said = " ".join(out.split())
    assert code == 1 and said.count("valid/purple") == 2 and "0 unusable; 1 unusable folder" in said
    found = json.loads(run(capsys, "check", split_dir, "--json")[1])
    assert (found["n_unreadable"], found["unusable_folders"], found["unusable"]) == (0, 1, 2)


def test_check_names_an_unreadable_file_once_and_counts_in_english(capsys, tmp_path):
    photos = make_class_folder(tmp_path / "photos", per_class=1, classes=("red",))
    (photos / "red" / "bad.jpg").write_bytes(b"not a picture")
    code, out, _ = run(capsys, "check", photos)
    out = " ".join(out.split())
    assert code == 1 and out.count("bad.jpg") == 1 and "bad.jpg: cannot read image" in out
    assert "what next: add photos; split refuses this folder as it stands" in out  # 1 photo
    assert "2 image files in 1 class: 1 readable, 1 unusable; 1 unusable folder" in out  # one class
    (photos / "red" / "bad.jpg").unlink()
    code, out, _ = run(capsys, "check", photos)
    assert code == 1 and "1 image file in 1 class: 1 readable, 0 unusable; 1 unusable folder" in out


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


@pytest.mark.slow  # 1.7-2.3 s on 2 loaded cores (two explores)
def test_explore_of_many_classes_lists_those_with_the_fewest_images(capsys, tmp_path, monkeypatch):
    """explore of 500 class folders printed a 506-line table (the summary scrolled away); past
    ``EXPLORE_ROWS`` classes it lists those with the fewest images and counts the rest, which
    counts.csv and the plot hold (here 4 classes past a limit of 3, the fewest 2 listed)."""
    import objrec.cli.data

    monkeypatch.setattr(objrec.cli.data, "EXPLORE_ROWS", 3, raising=False)
    monkeypatch.setattr(objrec.cli.data, "EXPLORE_FEWEST", 2, raising=False)
    photos = make_class_folder(tmp_path / "photos", per_class=3)
    (make_class_folder(tmp_path / "more", per_class=2, classes=("blue",)) / "blue").rename(
        photos / "cyan"
    )
    (photos / "red" / sorted(os.listdir(photos / "red"))[0]).unlink()
    code, out, _ = run(capsys, "explore", photos, "--out", tmp_path / "explore")
    rows = [line.split()[1] for line in out.splitlines() if line.startswith("│")]
    assert code == 0 and rows == ["cyan", "red"]  # fewest first (2 images each), by name
    assert "The 2 classes with the fewest images" in out
    assert "and 2 more classes in counts.csv; every class in images_per_class.png" in out
    code, out, _ = run(capsys, "explore", photos, "--out", tmp_path / "e2", "--json")
    assert code == 0 and len(json.loads(out)["counts"]) == 4  # --json keeps every class
    assert json.loads(out)["unreadable_files"] == []  # as split's, add's and audit's lists


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


@pytest.mark.slow
def test_predict_json_says_where_the_plot_went_on_stderr(capsys, tmp_path, trained_run, split_dir):
    plot = tmp_path / "p.png"
    code, out, err = run(
        capsys, "predict", trained_run, split_dir / "test" / "red", "--json", "--plot", plot
    )
    assert code == 0 and len(json.loads(out)) == 3 and plot.exists()
    assert f"plot of 3 of 3 readable images written to {plot}" in " ".join(err.split())


@pytest.mark.slow
def test_predict_plot_refuses_an_existing_file_unless_force(
    capsys, tmp_path, trained_run, split_dir
):
    plot = tmp_path / "predictions.png"
    plot.write_bytes(b"the user's own picture")
    images = split_dir / "test" / "red"
    code, _, err = run(capsys, "predict", trained_run, images, "--plot", plot)
    assert code == 1 and plot.read_bytes() == b"the user's own picture"
    assert f"{plot} exists" in err and "--force" in err
    code, _, _ = run(capsys, "predict", trained_run, images, "--plot", plot, "--force")
    assert code == 0 and plot.read_bytes() != b"the user's own picture"


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


def test_export_names_the_script_it_wrote_with_the_model_and_sidecar(monkeypatch, tmp_path):
    """The README has users copy three files (model.onnx, model.json, model_infer.py); export's
    summary named only the first two, the script only in the command printed last. It names the
    three, once each as files, and the command line still gives the script to run."""
    from objrec.cli.delivery import exported_line, script_line
    from objrec.export.exporter import ExportResult

    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    result = ExportResult(
        run_dir / "model.onnx", run_dir / "model.json", 3e-6, script=run_dir / "model_infer.py"
    )
    line = exported_line(result)
    assert line.startswith("exported run/model.onnx, run/model.json and run/model_infer.py")
    assert "copy them together" in line and "within 3.0e-06 on sample inputs" in line
    assert "python run/model_infer.py PHOTO..." in script_line(result.script)
    assert "(onnxruntime, numpy and Pillow only)" in script_line(result.script)
    openvino = script_line(result.script, openvino=True)  # an int8 body OpenVINO ran
    assert "(numpy, Pillow and OpenVINO where installed, as with objrec; else onnxruntime)" in (
        openvino
    )
    two = exported_line(ExportResult(run_dir / "model.onnx", run_dir / "model.json", 3e-6))
    assert two.startswith("exported run/model.onnx and run/model.json;") and "copy" not in two


def test_export_json_names_its_kept_threshold_s_date_as_predict_and_serve_do(tmp_path):
    """export --json said `threshold_kept_on` where predict --json, serve's /info and
    Prediction say `unknown_threshold_kept_on` (review55b L1)."""
    from objrec.cli.delivery import export_record
    from objrec.export.exporter import ExportResult
    from objrec.kept import KeptThreshold

    when = "2026-12-05T10:00:00Z"
    kept = KeptThreshold(0.4, when, tmp_path / "threshold.json", True, {"threshold": 0.4})
    record = export_record(ExportResult(tmp_path / "m.onnx", tmp_path / "m.json", 3e-6, kept=kept))
    assert record["unknown_threshold_kept_on"] == when and "threshold_kept_on" not in record


def test_train_says_why_it_stopped_where_it_did():
    from objrec.cli.training import early_stop_sentence

    config = {"epochs": 100, "patience": 5, "finetune_blocks": 0}
    assert early_stop_sentence(10, 15, config) == (
        "stopped early at epoch 15 of at most 100 (--epochs): the validation loss did not improve "
        "in the 5 epochs after epoch 10 (--patience 5), so more epochs were unlikely to help"
    )
    # a tiny set: the loss still fell. The warning says "training stopped at the --epochs limit
    # (100) before early stopping ended it: the validation loss last improved at epoch 98; more
    # --epochs may give a better model": this line said so again ("ran all --epochs 100 without
    # stopping early: the validation loss last improved at epoch 98, the one kept", review60b F24)
    assert early_stop_sentence(98, 100, config) is None
    assert early_stop_sentence(13, 300, {**config, "epochs": 300, "patience": 300}) == (
        "stopped at the epoch limit, --epochs 300; the best epoch, the one kept, was 13"
    )  # not "... last improved at epoch 13, so a larger --epochs may lower it further"
    assert early_stop_sentence(95, 100, config) == (  # patience ran out at the last epoch
        "stopped at the epoch limit, --epochs 100; the best epoch, the one kept, was 95"
    )  # not "stopped at epoch 100 of --epochs 100: ... did not improve in the 5 epochs after"
    assert early_stop_sentence(3, 8, {**config, "finetune_blocks": 2}) is None
    still = [1 / (1 + e) for e in range(100)]  # the last 5 epochs: 0.0104 to 0.0100, 4e-4 less
    assert early_stop_sentence(100, 100, config, still) == (  # a tiny set, learned already
        "ran all --epochs 100 without stopping early: the validation loss last improved at epoch "
        "100, but by less than 0.001 in the last 5 epochs, so a larger --epochs would gain little "
        "(--min-delta 0, the one set, let it run on; --min-delta 0.001 stops on gains this small)"
    )
    falling = [1 - e / 100 for e in range(100)]  # 0.01 less an epoch: more epochs may help
    assert early_stop_sentence(100, 100, config, falling) is None
    counted = {**config, "min_delta": 0.001}  # the lowest is kept, however little lower
    assert early_stop_sentence(100, 100, counted, still).endswith("would gain little")
    diverged = [math.nan, *still[1:]]  # a NaN first epoch does not hide the small gain
    assert "would gain little" in early_stop_sentence(100, 100, config, diverged)


def test_would_gain_little_names_the_min_delta_the_user_set():
    """ "--min-delta 0.001 stops on gains this small" was said whatever --min-delta the run had:
    with 0.00001 it named 0.001 as if in use, and with 0.001 or 0.01, which had not stopped the
    fit, it told the user to set what they had. The value set is named where it let the small
    gains run on; at 0.001 or more nothing is said of it."""
    from objrec.cli.training import early_stop_sentence

    config = {"epochs": 100, "patience": 5, "finetune_blocks": 0}
    still = [1 / (1 + e) for e in range(100)]  # the last 5 epochs: 0.0104 to 0.0100, 4e-4 less
    small = early_stop_sentence(100, 100, {**config, "min_delta": 0.00001}, still)
    assert small.endswith(
        "would gain little (--min-delta 0.00001, the one set, let it run on; --min-delta 0.001 "
        "stops on gains this small)"
    )
    for larger in (0.001, 0.01):
        said = early_stop_sentence(100, 100, {**config, "min_delta": larger}, still)
        assert said.endswith("so a larger --epochs would gain little")


def test_train_s_early_stop_says_by_how_much_the_loss_did_not_improve():
    """With --min-delta 0.001 (the default since d21a7f1) a loss still falling by less than that
    stops the fit: "the validation loss did not improve in the 5 epochs after epoch 16" read as
    untrue beside the table, whose epoch 20 had 0.0010 against epoch 16's 0.0015 (the sample)."""
    from objrec.cli.training import early_stop_sentence

    config = {"epochs": 30, "patience": 5, "finetune_blocks": 0, "min_delta": 0.001}
    assert early_stop_sentence(16, 21, config) == (
        "stopped early at epoch 21 of at most 30 (--epochs): in the 5 epochs after epoch 16 "
        "(--patience 5), the validation loss never fell more than 0.001 (--min-delta) below "
        "epoch 16's, so more epochs were unlikely to help"
    )
    tiny = early_stop_sentence(16, 21, {**config, "min_delta": 0.00001})  # was "1e-05"
    assert "more than 0.00001 (--min-delta)" in tiny


def test_train_s_early_stop_names_the_epoch_patience_counted_from_and_the_lowest_kept():
    """Epoch 18 lower than epoch 16 by less than --min-delta is the one kept; patience still
    counted from epoch 16. The sentence said "did not fall below epoch 18's by more than 0.001
    in the 3 epochs after it (--patience 5)": neither the epoch nor the count patience ran on."""
    from objrec.cli.training import early_stop_sentence

    config = {"epochs": 30, "patience": 5, "finetune_blocks": 0, "min_delta": 0.001}
    assert early_stop_sentence(18, 21, config) == (
        "stopped early at epoch 21 of at most 30 (--epochs): in the 5 epochs after epoch 16 "
        "(--patience 5), the validation loss never fell more than 0.001 (--min-delta) below "
        "epoch 16's, so more epochs were unlikely to help; epoch 18, lower than epoch 16 by less "
        "than that, is the one kept"
    )


def test_check_on_one_class_folder_says_so_and_fails(capsys, tmp_path):
    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red",))
    code, out, err = run(capsys, "check", photos / "red")
    assert code == 1 and "file outside any class folder" not in out
    said = f"{photos / 'red'} has no class sub-folders (it holds 3 images directly): give the "
    assert f"{said}folder that contains one sub-folder per class" in " ".join(err.split())
    code, out, err = run(capsys, "split", photos / "red", tmp_path / "data")  # as check says
    assert code == 1 and f"{said}folder that contains" in " ".join(err.split())


@pytest.mark.slow  # two checks (0.2 s at a load of 14)
def test_check_of_an_empty_folder_or_one_of_a_link_loop_fails_as_split_refuses_it(capsys, tmp_path):
    """check of an empty folder (or one holding only a link loop) said "0 image files in 0
    classes" and exited 0, where split, explore, audit and train refuse it."""
    empty = tmp_path / "empty"
    empty.mkdir()
    looped = tmp_path / "looped"
    looped.mkdir()
    (looped / "lp1").symlink_to(looped / "lp2")
    (looped / "lp2").symlink_to(looped / "lp1")
    for folder in (empty, looped):
        code, out, err = run(capsys, "check", folder)
        assert code == 1 and "0 image files" not in out
        assert f"error: {folder} has no class sub-folders: give the folder" in " ".join(err.split())


def test_check_of_a_run_folder_whose_model_is_gone_says_so(capsys, tmp_path):
    """check of a run folder whose model.safetensors was moved said "RUN has no class sub-folders
    (it holds 1 image directly)", its curves.png; train given it as DATA too."""
    run_folder = tmp_path / "run"
    (run_folder / "eval-test").mkdir(parents=True)
    for name in ("config.json", "summary.json"):
        (run_folder / name).write_text("{}")
    make_image(COLOURS["red"]).save(run_folder / "curves.png")
    said = (
        f"error: {run_folder} is a run folder without its model.safetensors (it holds config.json "
        "and summary.json, which `objrec train` writes beside it): moved or deleted? Put the model "
        "back to use the run, or pass a folder of class sub-folders"
    )
    for args in (["check", run_folder], ["split", run_folder, tmp_path / "data"]):
        code, _, err = run(capsys, *args)
        assert code == 1 and said in " ".join(err.split()), err


@pytest.mark.slow
def test_check_calls_a_folder_laid_out_as_train_val_test_unusable_and_split_refuses_it(
    capsys, tmp_path
):
    """check said of train/ val/ test/ of class folders (no manifest) "36
    readable, 0 unusable", exit 0, with a nested_folder note of each split-named folder, and
    split made classes of them; now one unusable problem, the folder checked, saying what to do,
    as split's refusal does."""
    for split in ("train", "val"):
        make_class_folder(tmp_path / "kg" / split, per_class=2, classes=("red", "green"))
    code, out, _ = run(capsys, "check", tmp_path / "kg", "--json")
    found = json.loads(out)
    said = (
        "laid out as split already: train/ and val/ hold class folders (green, red), not photos: "
        "rename val/ to valid/ and give it to `objrec train` as a split folder, or merge each "
        "class's folders into one folder of class folders and split that"
    )
    unusable = [(p["path"], p["kind"], p["message"]) for p in found["problems"] if p["unusable"]]
    assert code == 1 and unusable == [(".", "already_split", said)]
    assert "nested_folder" not in {p["kind"] for p in found["problems"]}
    code, _, err = run(capsys, "split", tmp_path / "kg", tmp_path / "data")
    assert code == 1 and f"{tmp_path / 'kg'} is {said}" in " ".join(err.split())


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
def test_split_json_carries_every_warning_the_text_gives(
    capsys, tmp_path, image_folder, known_facts
):
    """`split --json` left out the one-class warning and the logged ones (a killed split's
    staging folder): a script saw no warning where a person did."""
    photos = make_class_folder(tmp_path / "one", per_class=12, classes=("red",))
    code, out, _ = run(capsys, "split", photos, tmp_path / "one-data", "--json")
    one_class = (
        "only one class (red): `objrec train` will refuse this split "
        "(a classifier needs at least two classes)"
    )
    assert code == 0 and json.loads(out)["warnings"] == [one_class]
    (image_folder / "empty").mkdir()
    (image_folder / "tiny").mkdir()
    (image_folder / "red" / "img_00.jpg").rename(image_folder / "tiny" / "only.jpg")
    (image_folder / "red" / "broken.jpg").write_bytes(b"not a picture")
    code, _, err = run(capsys, "split", image_folder, tmp_path / "text")
    assert code == 0
    killed = tmp_path / "data" / ".objrec-split-killed"
    killed.mkdir(parents=True)
    hour_ago = time.time() - 3600
    os.utime(killed, (hour_ago, hour_ago))
    code, out, _ = run(capsys, "split", image_folder, tmp_path / "data", "--json", "--force")
    warnings = json.loads(out)["warnings"]
    assert code == 0 and len(warnings) == 4
    assert warnings[0] == no_longer_needed_warning(killed, tmp_path / "data")  # split done
    assert [w.split(":")[0] for w in warnings[1:]] == [
        "left out class folders without images (--strict refuses them)",
        "left out 1 image file that cannot be read (--strict refuses them)",
        "classes with fewer than 3 distinct images cannot appear in every split (add images or "
        "change --ratios)",
    ]
    assert all(w in err for w in warnings[1:])  # the sentences the text gives, word for word


@pytest.mark.slow
def test_split_names_pictures_found_in_two_classes(capsys, tmp_path, image_folder, known_facts):
    """The same picture in two class folders was found, kept in one split and never said."""
    data = (image_folder / "red" / "img_00.jpg").read_bytes()
    (image_folder / "green" / "stray.jpg").write_bytes(data)
    code, out, _ = run(capsys, "split", image_folder, tmp_path / "data", "--json")
    result = json.loads(out)
    assert code == 0 and result["cross_class_duplicates"] == [["green/stray.jpg", "red/img_00.jpg"]]
    (warning,) = [w for w in result["warnings"] if "two classes" in w]
    assert warning.endswith(
        "(1 pair; one of the two labels is probably wrong, and each pair was "
        "kept in one split): green/stray.jpg = red/img_00.jpg"
    )
    code, _, err = run(capsys, "split", image_folder, tmp_path / "data", "--force")
    assert code == 0 and "green/stray.jpg = red/img_00.jpg" in " ".join(err.split())


@pytest.mark.slow
def test_split_names_no_two_blank_images_as_one_picture_in_two_classes(
    capsys, tmp_path, image_folder, known_facts
):
    """A black frame in red and a grey card in green were "pictures in two classes that are the
    same or look alike": a flat image's pHash is about 0 whatever its colour. A byte copy of the
    black frame in green is one picture still."""
    from PIL import Image

    Image.new("RGB", (64, 64), (0, 0, 0)).save(image_folder / "red" / "black.png")
    Image.new("RGB", (64, 64), (128, 128, 128)).save(image_folder / "green" / "grey.png")
    code, out, _ = run(capsys, "split", image_folder, tmp_path / "data", "--json")
    assert code == 0 and json.loads(out)["cross_class_duplicates"] == []
    shutil.copy(image_folder / "red" / "black.png", image_folder / "green" / "stray.png")
    code, out, _ = run(capsys, "split", image_folder, tmp_path / "data", "--json", "--force")
    pairs = json.loads(out)["cross_class_duplicates"]
    assert code == 0 and pairs == [["green/stray.png", "red/black.png"]]


@pytest.mark.slow  # a whole evaluate: 1.3-1.6 s
def test_evaluate_ends_with_the_report_and_the_audit_to_run_next(
    capsys, tmp_path, trained_run, split_dir, monkeypatch
):
    """A newcomer's evaluate ended on 'per-class table, confusion matrix and plots in ...',
    naming neither the HTML page (`objrec report`) nor the audit of likely wrong labels, as demo
    and train end with what to run next; nor, for a Teachable Machine user, the page to try the
    model on (teachable42); --json stays one JSON object."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "evaluate", "run", "data")
    said = [" ".join(line.split()) for line in out.splitlines()]
    assert code == 0 and said[-4:] == [
        "next, try:",
        "objrec report run # one HTML page: the results, the confusions and the images it got "
        "wrong",
        "objrec audit data --run run # likely wrong labels, near-duplicates, outliers",
        "objrec serve run # a page in your browser to try it: drop photos on it",
    ]
    assert said[1].startswith("9 images: top-1") and "(the first guess right)" in said[1]
    code, out, _ = run(capsys, "evaluate", "run", "data", "--split", "valid", "--json")
    assert code == 0 and "next" not in json.loads(out)


def test_train_s_next_step_without_a_test_split_is_not_an_evaluate_that_refuses_it(tmp_path):
    """After `split --ratios 0.85 0.15 0` (the final model, trained on most photos), train said
    "next: objrec evaluate run85 data85", which answered "data85 has no test split"
    (teachable42): it names the page and predict, and evaluate's --split valid."""
    from objrec.cli.training import evaluate_next

    run_dir, data = tmp_path / "run85", tmp_path / "data85"
    for split in ("train", "valid"):
        (data / split).mkdir(parents=True)
    without = " ".join(evaluate_next(run_dir, data).split())
    (data / "test").mkdir()
    said = " ".join(evaluate_next(run_dir, data).split())
    assert said.startswith(f"next: objrec evaluate {run_dir} {data};")
    relative = evaluate_next(Path("run"), Path("data")).splitlines()
    assert relative == [  # it was one line of 171 characters
        "next: objrec evaluate run data; add --unknown FOLDER (photos of none of the classes) to see how",
        "  many of them would still get a class, and a stricter threshold if one helps",
    ]
    assert without.startswith(f"next: {data} has no test split to score the model on;")
    assert f"objrec serve {run_dir} (a page" in without and f"objrec predict {run_dir} " in without
    assert f"objrec evaluate {run_dir} {data} --split valid" in without


def test_evaluate_s_next_report_names_the_data_when_it_shows_another_evaluation(capsys, tmp_path):
    """`objrec report RUN` shows the run's own test split: after an evaluation of anything else
    (another split folder, --out elsewhere) it is given --data DATA, which reports that one."""
    from objrec.cli.evaluation import print_next_steps

    run_dir, data = tmp_path / "run", tmp_path / "my data"
    run_dir.mkdir()
    print_next_steps(run_dir, data, run_dir / "eval-my data-test-0123abcd")
    out = " ".join(capsys.readouterr().out.split())
    assert f"objrec report {run_dir} --data '{data}' #" in out
    assert f"objrec audit '{data}' --run {run_dir} #" in out
    print_next_steps(run_dir, data, run_dir / "eval-test")
    assert f"objrec report {run_dir} #" in " ".join(capsys.readouterr().out.split())


def test_evaluate_s_next_report_after_another_split_names_that_split(capsys, tmp_path):
    """After `evaluate RUN DATA --split valid` it advised `objrec report RUN --data DATA`, whose
    page shows DATA's test split, not the evaluation just made: it names DATA/valid, which report
    shows (test_report_shows_the_valid_evaluation_evaluate_advises_it_for runs both)."""
    from objrec.cli.evaluation import print_next_steps

    run_dir, data = tmp_path / "run", tmp_path / "my data"
    for folder in (run_dir, data / "train", data / "valid"):
        folder.mkdir(parents=True)
    print_next_steps(run_dir, data, run_dir / "eval-valid", "valid")
    out = " ".join(capsys.readouterr().out.split())
    assert f"objrec report {run_dir} --data '{data / 'valid'}' #" in out
    assert f"objrec audit '{data}' --run {run_dir} #" in out
    print_next_steps(run_dir, data, run_dir / "eval-my data-test-0123abcd", "test")
    assert f"--data '{data}' #" in " ".join(capsys.readouterr().out.split())
    classes = tmp_path / "classes"  # a folder of classes: evaluated whole, whatever --split says
    (classes / "valid").mkdir(parents=True)
    print_next_steps(run_dir, classes, run_dir / "eval-classes-0123abcd", "valid")
    assert f"--data {classes} #" in " ".join(capsys.readouterr().out.split())


def test_evaluate_advises_no_report_that_cannot_find_its_evaluation(capsys, tmp_path):
    """`evaluate run data/test --out elsewhere` advised `objrec report run --data data/test`,
    which said "run has no evaluation of data/test by its model yet: evaluate it there first":
    report reads RUN/eval-* only. No report is advised then; a split folder's test split (which
    report evaluates itself) and an evaluation in RUN/eval-* keep theirs."""
    from objrec.cli.evaluation import print_next_steps

    run_dir, data, classes = tmp_path / "run", tmp_path / "data", tmp_path / "data" / "test"
    for folder in (run_dir, data / "train", data / "valid", classes):
        folder.mkdir(parents=True, exist_ok=True)
    cases = [
        (classes, tmp_path / "elsewhere", "test", False),
        (data, tmp_path / "elsewhere", "valid", False),
        (classes, run_dir / "eval-test-0123abcd", "test", True),
        (data, tmp_path / "elsewhere", "test", True),
    ]
    for folder, out, split, advised in cases:
        print_next_steps(run_dir, folder, out, split)
        said = capsys.readouterr().out
        assert ("objrec report" in said) == advised, (folder, out, split, said)
        assert f"objrec audit {folder} --run {run_dir}" in " ".join(said.split())


@pytest.mark.slow  # an evaluate and a report: about 3 s
def test_report_shows_the_valid_evaluation_evaluate_advises_it_for(
    capsys, tmp_path, trained_run, split_dir, monkeypatch
):
    """The report command evaluate --split valid advises shows that evaluation, not the test's."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "evaluate", "run", "data", "--split", "valid")
    (advice,) = [line.split("#")[0].split() for line in out.splitlines() if "objrec report" in line]
    assert code == 0 and advice == ["objrec", "report", "run", "--data", "data/valid"]
    code, _, err = run(capsys, *advice[1:], "--out", "valid.html")
    assert code == 0, err
    html = " ".join((tmp_path / "valid.html").read_text().split())
    assert code == 0
    assert "Results of the evaluation of <code>data/valid</code>" in html  # as given


def test_top5_is_shown_only_for_models_of_more_than_five_classes():
    import pandas as pd

    from objrec.cli.evaluation import top5_text, worst_table

    assert top5_text(1.0, 5) == "" and "top-5" in top5_text(0.98, 6)
    said = top5_text(0.98, 6, explained=True)  # among 5 of 6: only not last
    assert said == ", top-5 98.00% (the right class among the 5 best guesses of 6)"
    rows = pd.DataFrame(
        {"n_train": [3], "n_test": [2], "top1": [0.5], "top5": [1.0], "precision": [0.5]}
        | {"f1": [0.5], "most_confused_with": ["b"]},
        index=pd.Index(["a"], name="class"),
    ).reset_index()
    headers = [[c.header for c in worst_table(rows, with_top5=w).columns] for w in (True, False)]
    assert "top-5" in headers[0] and "top-5" not in headers[1]
    assert "images" in headers[0] and "n_test" not in headers[0]  # the evaluated ones, test or not


def test_evaluate_s_tables_say_what_their_columns_and_rows_mean():
    """A newcomer could not parse 'n_train', 'precision', 'F1', 'macro' or 'weighted'."""
    import pandas as pd
    from rich.console import Console

    from objrec.cli.evaluation import averages_table, worst_table
    from objrec.evaluation_metrics import Overall

    rows = pd.DataFrame(
        {"class": ["a"], "n_train": [3], "n_test": [2], "top1": [0.5], "top5": [1.0]}
        | {"precision": [0.5], "f1": [0.5], "most_confused_with": ["b"]}
    )
    metrics = {
        f"{kind}_{name}": 0.5
        for kind in ("macro", "weighted")
        for name in ("precision", "recall", "f1")
    }
    console = Console(width=300, record=True)
    console.print(worst_table(rows), averages_table(Overall.from_json(metrics | {"n": 2})))
    said = " ".join(console.export_text().split())
    assert "trained on" in said and "n_train" not in said
    assert "top-1 (recall): its images guessed right" in said
    assert "precision: the images guessed as it that are it (-: it never was); F1" in said
    assert "macro: each class counts the same; weighted: each image does" in said


def test_evaluate_s_tables_show_a_class_never_answered_without_a_precision():
    """A class never answered showed precision 0.000 ("every answer of it wrong", yet there was
    none), and the macro precision counted it: "-" now, NaN in the per-class
    table, null in JSON; the averages' caption says the precision leaves such a class out."""
    import pandas as pd
    from rich.console import Console

    from objrec.cli.evaluation import averages_table, worst_table
    from objrec.evaluation_metrics import Overall

    rows = pd.DataFrame(
        {"class": ["green"], "n_train": [3], "n_test": [2], "top1": [0.0], "top5": [1.0]}
        | {"precision": [float("nan")], "f1": [0.0], "most_confused_with": ["red"]}
    )
    metrics = {
        f"{kind}_{name}": 0.5
        for kind in ("macro", "weighted")
        for name in ("precision", "recall", "f1")
    }
    console = Console(width=300, record=True)
    console.print(
        worst_table(rows),
        averages_table(Overall.from_json(metrics | {"macro_precision": None, "n": 2})),
    )
    said = console.export_text()
    rows = [line.strip("│ ").split("│") for line in said.splitlines() if line.startswith("│")]
    cells = {row[0].strip(): [cell.strip() for cell in row[1:]] for row in rows}
    assert cells["green"][-3:] == ["-", "0.000", "red"] and "nan" not in said
    assert cells["macro"] == ["-", "0.500", "0.500", "2"]
    assert "the precision leaves out a class never guessed" in " ".join(said.split())


def test_a_top1_on_few_images_is_shown_with_its_interval():
    """evaluate's table showed crab's 3 right of 4 as a plain "75.00%": a class of
    fewer than 10 distinct images shows its 95% interval beside it, the caption says what it is,
    and a class of 45 stays as it was."""
    import pandas as pd
    from rich.console import Console

    from objrec.cli.evaluation import worst_table

    rows = pd.DataFrame(
        {"class": ["crab", "watch"], "n_train": [10, 89], "n_test": [4, 45], "n_groups": [4, 45]}
        | {"top1": [0.75, 1.0], "top1_low": [0.3006, 0.9213], "top1_high": [0.9544, 1.0]}
        | {"top5": [1.0, 1.0], "precision": [1.0, 1.0], "f1": [0.857, 1.0]}
        | {"most_confused_with": ["Motorbikes", ""]}
    )
    console = Console(width=300, record=True)
    console.print(worst_table(rows))
    said = console.export_text()
    assert "│ 75.00% (30-95%) " in said and "│ 100.00%  " in said and "(92-100%)" not in said
    caption = " ".join(said.split())
    # "(30-95%)" under a table whose only interval read "(70-100%)" read as a row's
    assert (
        "; (low-high%) after a top-1: under 10 images, where it would likely lie on many more "
        "photos (95% interval)" in caption
    )


def test_a_perfect_evaluation_says_so_instead_of_a_table_of_classes_at_100(capsys):
    """Every image right: the table listed 10 classes at 100% in an order nothing shown explains.
    The text said "Worst classes: none" while --json's `worst_classes` listed every class at
    100%, and a class at 100% was a worst class when fewer had an error: text and JSON list the
    classes below 100% only."""
    import torch

    from objrec.cli.evaluation import print_worst
    from objrec.evaluate import summarize_logits

    def result(predicted):
        logits = torch.nn.functional.one_hot(torch.tensor(predicted), 3).float() * 5
        return summarize_logits(logits, torch.tensor([0, 0, 1, 1, 2]), ["a", "b", "c"])

    perfect = result([0, 0, 1, 1, 2])
    print_worst(perfect, 10)
    out = " ".join(capsys.readouterr().out.split())
    assert out == "Worst classes: none; all 5 images of the 3 classes right"
    assert perfect.to_json()["worst_classes"] == []
    one_wrong = result([0, 0, 1, 0, 2])
    print_worst(one_wrong, 1)
    out = " ".join(capsys.readouterr().out.split())
    assert "Worst classes" in out and "worst first: by top-1, then by mean loss" in out
    assert [r["class"] for r in one_wrong.to_json()["worst_classes"]] == ["b"]
    assert list(one_wrong.worst(10)["class"]) == ["b"]  # the table's rows: no class at 100%


def test_evaluate_lists_every_class_when_there_are_no_more_than_worst(capsys):
    """With 6 classes and 1 of them wrong, the text's table held that one class: how good the
    other five were was in per_class.csv and the report only. At most --worst classes: every
    one, worst first (--json's worst_classes stays the classes with an error)."""
    import torch

    from objrec.cli.evaluation import print_worst
    from objrec.evaluate import summarize_logits

    classes = ["ant", "bee", "cat", "dog", "eel", "fox"]
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    predicted = labels.clone()
    predicted[3] = 0  # one bee taken for an ant
    logits = torch.nn.functional.one_hot(predicted, 6).float() * 5
    result = summarize_logits(logits, labels, classes)
    print_worst(result, 10)
    out = capsys.readouterr().out
    assert "Every class" in out and "Worst classes" not in out
    rows = [
        line.split()[1] for line in out.splitlines() if line.split()[1:2] in [[c] for c in classes]
    ]
    assert rows[0] == "bee" and sorted(rows) == classes  # worst first, every class
    assert [r["class"] for r in result.to_json()["worst_classes"]] == ["bee"]
    print_worst(result, 5)  # more classes than --worst: only those with an error
    out = capsys.readouterr().out
    assert "Worst classes" in out and "bee" in out and "fox" not in out


def test_evaluate_names_the_classes_mistaken_for_each_other_with_counts(capsys, monkeypatch):
    """Look-alike classes: the worst classes' table named crocodile_head as crocodile's commonest
    confusion and crocodile as crocodile_head's, without a count and apart: the two read as
    unrelated errors. evaluate says the pair is mixed both ways, how often, and what may help."""
    import torch

    from objrec.cli.evaluation import print_evaluation
    from objrec.evaluate import summarize_logits

    labels = torch.tensor([0] * 5 + [1] * 5 + [2] * 4)
    predicted = labels.clone()
    predicted[[0, 1]] = 1  # 2 crocodiles taken for heads
    predicted[[5, 6]] = 0  # 2 heads for crocodiles
    predicted[10] = 0  # 1 emu for a crocodile: one way, no pair
    logits = torch.nn.functional.one_hot(predicted, 3).float() * 5
    result = summarize_logits(logits, labels, ["crocodile", "crocodile_head", "emu"])
    monkeypatch.setattr("objrec.cli.evaluation.confidence_lines", lambda *a: [])  # uncalibrated
    print_evaluation(result, 10)
    out = " ".join(capsys.readouterr().out.split())
    assert "mistaken for each other both ways" in out
    assert (
        "crocodile and crocodile_head: 2 of 5 crocodile taken for crocodile_head, "
        "2 of 5 crocodile_head for crocodile" in out
    )
    assert "emu and" not in out and "more training photos of both" in out


def test_the_classes_mistaken_both_ways_are_counted_in_distinct_photos():
    """evaluate said "11 of 18 crocodile taken for crocodile_head" where 9 were copies of one
    photo, and two frames of one burst met the floor of 2: the pair is counted in
    distinct photos, as the scores and McNemar's test are, and its lines say so."""
    from objrec.cli.evaluation import mixed_pair_lines
    from objrec.evaluate import summarize_logits

    labels = torch.tensor([0] * 5 + [1] * 5)
    predicted = labels.clone()
    predicted[[0, 1]] = 1  # two frames of one crocodile photo taken for heads
    predicted[[5, 6]] = 0  # two head photos taken for crocodiles
    logits = torch.nn.functional.one_hot(predicted, 2).float() * 5
    classes = ["crocodile", "crocodile_head"]
    result = summarize_logits(logits, labels, classes, groups=[0, 0, 1, 2, 3, 4, 5, 6, 7, 8])
    pair = {"a": "crocodile", "b": "crocodile_head", "a_as_b": 1, "b_as_a": 2, "n_a": 4, "n_b": 5}
    assert result.to_json()["mixed_pairs"] == [pair]  # one photo of 4, not two images of 5
    assert mixed_pair_lines(result) == []  # one photo one way is what chance gives
    groups = [0, 1, 2, 3, 4, 5, 6, 7, 8, 8]  # two photos each way; two heads right are copies
    lines = mixed_pair_lines(summarize_logits(logits, labels, classes, groups=groups))
    assert lines[:2] == [
        "mistaken for each other both ways (in distinct photos), so the model cannot yet tell "
        "them apart:",
        "  crocodile and crocodile_head: 2 of 5 crocodile taken for crocodile_head, 2 of 4 "
        "crocodile_head for crocodile",
    ]


@pytest.mark.slow  # 1,200 images summarised: 0.5 s
def test_evaluate_counts_its_images_as_every_count_is():
    """evaluate on s0's test split said "1,542 images: top-1 ..." and then "1542 test images are
    1,519 distinct photos ... not 1542", "images 1542" in the averages table and "(1542 images)"
    in the confidence line: each count now has its thousands separator."""
    from objrec.cli.evaluation import averages_table, tempered_calibration_line
    from objrec.evaluate import summarize_logits

    labels = torch.tensor([0, 1] * 600)
    logits = torch.nn.functional.one_hot(labels, 2).float()
    groups = list(range(1100)) + list(range(100))  # 100 near-duplicates of the first 100
    result = summarize_logits(logits, labels, ["a", "b"], groups=groups)
    result.folder = Path("data/test")
    said = "1,200 test images are 1,100 distinct photos and 100 near-duplicates of them"
    assert result.near_duplicates is not None and result.near_duplicates.startswith(said)
    assert result.near_duplicates.endswith("not 1,200")
    table = averages_table(result.metrics.overall)
    assert table.columns[-1]._cells == ["1,200", "1,200"]
    m = {"n": 1200, "temperature": 0.9, "nll": 0.1, "nll_before_calibration": 0.2}
    m |= {"ece": 0.01, "ece_before_calibration": 0.02, "ece_by_chance": 0.005}
    assert "on the test images (1,200 images)" in tempered_calibration_line(
        metrics_of(m), "the test images", "surer"
    )


def test_evaluate_names_no_look_alikes_on_one_mistake_each_way(capsys, monkeypatch):
    """One mistake each way is what chance gives (s0's validation split: 21% of random draws
    paired two classes so): evaluate listed such a pair as classes the model cannot tell apart.
    The floor predict names a pair by (2 each way and 5% of each class) rules here too, and
    nothing is said when no pair reaches it."""
    from objrec.cli.evaluation import mixed_pair_lines, print_evaluation
    from objrec.evaluate import summarize_logits

    labels = torch.tensor([0] * 5 + [1] * 5 + [2] * 40 + [3] * 40)
    predicted = labels.clone()
    predicted[0], predicted[5] = 1, 0  # 1 crocodile for a head, 1 head for a crocodile
    predicted[[10, 11]], predicted[[50, 51]] = 3, 2  # 2 of 40 each way: 5%, a pair
    result = summarize_logits(
        torch.nn.functional.one_hot(predicted, 4).float() * 5,
        labels,
        ["crocodile", "crocodile_head", "lotus", "water_lilly"],
    )
    lines = " ".join(mixed_pair_lines(result))
    assert "lotus and water_lilly: 2 of 40" in lines and "crocodile" not in lines
    predicted[[11, 51]] = torch.tensor([2, 3])  # 1 of 40 each way: no pair left
    result = summarize_logits(
        torch.nn.functional.one_hot(predicted, 4).float() * 5, labels, result.classes
    )
    monkeypatch.setattr("objrec.cli.evaluation.confidence_lines", lambda *a: [])
    print_evaluation(result, 10)
    assert "both ways" not in capsys.readouterr().out


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


def test_a_task_without_steps_says_what_it_does_in_a_pipe(capsys):
    """Quantizing the int8 body (no steps to count) left a piped `train` silent for 40 s."""
    from objrec.cli.output import RichReporter

    with RichReporter().task("quantizing the frozen body to int8", None):
        pass
    assert "quantizing the frozen body to int8 ..." in capsys.readouterr().err


@pytest.mark.slow
def test_a_failed_train_takes_back_only_the_folders_it_created(capsys, tmp_path, split_dir):
    weights = tmp_path / "bad.safetensors"
    weights.write_bytes(b"not a state dict")
    bad = ["--backbone", "tiny_test", "--weights", weights]
    new = tmp_path / "new" / "run"
    code, _, err = run(capsys, "train", split_dir, "--out", new, *bad)
    assert code == 1 and "not a readable state dict" in err
    assert not (tmp_path / "new").exists()  # neither the run folder nor its new parent
    empty, used = tmp_path / "empty", tmp_path / "used"
    empty.mkdir()
    used.mkdir()
    (used / "notes.txt").write_text("the user's")
    for theirs in (empty, used):
        code, _, _ = run(capsys, "train", split_dir, "--out", theirs, *bad)
        assert code == 1 and theirs.is_dir()
    assert (used / "notes.txt").read_text() == "the user's"
    again = run(capsys, "train", split_dir, "--out", new, *bad)
    assert again[0] == 1 and again[2] == err and not (tmp_path / "new").exists()  # as the first


@pytest.mark.slow
def test_explore_counts_the_image_files_check_counts_and_says_it_reads_only_headers(
    capsys, tmp_path
):
    """check said '393 image files in 8 classes: 391 readable, 2 unusable', explore '392 images':
    it read a truncated JPEG's size from its whole header, and left out the undecodable one."""
    import io

    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    jpeg = io.BytesIO()
    make_image((200, 30, 30), size=(64, 64)).save(jpeg, "JPEG")
    (photos / "red" / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (photos / "green" / "bad.jpg").write_bytes(b"not a picture")
    code, out, _ = run(capsys, "check", photos)
    assert code == 1 and "8 image files in 2 classes: 6 readable, 2 unusable" in out
    code, out, _ = run(capsys, "explore", photos, "--out", tmp_path / "explore")
    said = " ".join(out.split())
    assert code == 0 and (
        "8 image files in 2 classes: 7 sized from their headers, 1 unreadable (the pixels are not "
        "decoded: `objrec check` decodes every image)" in said
    )


@pytest.mark.slow
def test_explore_s_summary_writes_every_count_with_thousands_separators():
    """It said '6,179 image files in 100 classes: 6179 sized from their headers' (Caltech-101)."""
    import pandas as pd

    from objrec.cli.data import explore_summary
    from objrec.explore import summarise_sizes

    sizes = pd.DataFrame(
        [("all", f"c{i % 2}", f"{i}.jpg", 10, 10) for i in range(1234)],
        columns=["split", "class", "file", "width", "height"],
    )
    said = explore_summary(summarise_sizes(sizes, ["x"] * 1001))
    assert said.startswith("2,235 image files in 2 classes: 1,234 sized from their headers, 1,001")


def test_explore_s_summary_says_each_file_was_sized_without_its_count_again():
    """The demo's explore ended "120 image files in 5 classes: 120 sized from their headers":
    the count twice, where every file was sized."""
    import pandas as pd

    from objrec.cli.data import explore_summary
    from objrec.explore import summarise_sizes

    sizes = pd.DataFrame(
        [("all", f"c{i % 5}", f"{i}.jpg", 10, 10) for i in range(120)],
        columns=["split", "class", "file", "width", "height"],
    )
    assert explore_summary(summarise_sizes(sizes, [])) == (
        "120 image files in 5 classes, each sized from its header (the pixels are not decoded: "
        "`objrec check` decodes every image)"
    )


def test_a_failed_explore_leaves_no_empty_folder(capsys, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    code, _, err = run(capsys, "explore", photos, "--out", tmp_path / "a" / "explore")
    assert code == 1 and "no images" in err and not (tmp_path / "a").exists()


@pytest.mark.slow
def test_splits_duplicate_counts_are_of_one_class_and_add_up(capsys, tmp_path):
    """'46 duplicate files kept together in one split (48 by perceptual hash rather than identical
    bytes)' read as 48 of 46: the 48 counted copies across classes too."""
    from PIL import Image, ImageOps

    from .test_audit import COLOURS as PATTERNED
    from .test_audit import pattern

    photos = tmp_path / "photos"
    for c, (name, colour) in enumerate(PATTERNED.items()):
        (photos / name).mkdir(parents=True)
        for i in range(6):
            pattern(colour, 100 * c + i).save(photos / name / f"{name}_{i}.png")
    original = photos / "red" / "red_0.png"
    shutil.copy(original, photos / "red" / "copy.png")
    ImageOps.mirror(Image.open(original)).save(photos / "red" / "mirrored.jpg", quality=60)
    Image.open(original).resize((40, 35)).save(photos / "green" / "resized.png")
    code, out, _ = run(capsys, "split", photos, tmp_path / "data", "--json")
    found = json.loads(out)
    assert code == 0 and (found["duplicate_files"], found["identical_files"]) == (2, 1)
    assert found["near_duplicate_files"] == 2  # mirrored and resized: across classes too
    code, out, _ = run(capsys, "split", photos, tmp_path / "again")
    said = " ".join(out.split())
    assert code == 0 and (  # the original first, as check names it (copy.png is newer)
        "2 duplicate files kept together in one split with a file of their class (1 identical, "
        "1 alike by perceptual hash), in 1 group: red/red_0.png = red/copy.png and 1 more; "
        "--json lists them all" in said
    )


def test_split_s_line_of_one_duplicate_file_says_its_class():
    """split said '1 duplicate file kept together in one split with a file of their
    class' of the one copy a Caltech-101 class held."""
    from types import SimpleNamespace

    from objrec.cli.data import duplicates_line

    one = SimpleNamespace(
        duplicate_files=1,
        identical_files=0,
        duplicate_groups=[["a/1.jpg", "a/2.jpg"]],
        cross_class_duplicates=[],
    )
    two = SimpleNamespace(
        duplicate_files=2,
        identical_files=1,
        duplicate_groups=[["a/1", "a/2", "a/3"]],
        cross_class_duplicates=[],
    )
    assert "with a file of its class (alike by perceptual hash): a/1.jpg" in duplicates_line(one)
    assert "with a file of their class (1 identical, 1 alike" in duplicates_line(two)


def test_split_s_duplicates_line_leaves_out_a_kind_of_none_and_a_group_of_one():
    """The demo's split said "1 duplicate file kept together in one split with a file of its
    class (0 identical, 1 alike by perceptual hash), in 1 group: ...": a kind of none, and the
    one file's group counted. The one kind is named alone, the groups counted where fewer than
    the files."""
    from types import SimpleNamespace

    from objrec.cli.data import duplicates_line

    pair = ["grand_piano/image_0004.jpg", "grand_piano/image_0006.jpg"]
    one = SimpleNamespace(
        duplicate_files=1, identical_files=0, duplicate_groups=[pair], cross_class_duplicates=[]
    )
    assert duplicates_line(one) == (
        "1 duplicate file kept together in one split with a file of its class (alike by "
        "perceptual hash): grand_piano/image_0004.jpg = grand_piano/image_0006.jpg"
    )
    three = SimpleNamespace(
        duplicate_files=3,
        identical_files=3,
        duplicate_groups=[["a/1", "a/2", "a/3"], ["b/1", "b/2"]],
        cross_class_duplicates=[],
    )
    assert "their class (identical), in 2 groups: a/1 = a/2 and 1 more; b/1 = b/2" in (
        duplicates_line(three)
    )


def test_split_s_duplicates_line_counts_the_pictures_in_two_classes_too():
    """newcomer52 6: check named 3 identical files (copies of lotus photos in water lily), and
    split's line right after said "2 duplicate files ... (0 identical, 2 alike by perceptual
    hash)", the 3 only in a warning on stderr: the line counts them, and is said with no copy
    within a class too."""
    from types import SimpleNamespace

    from objrec.cli.data import duplicates_line

    pairs = [(f"lotus/{i}.jpg", f"water lily/dup_{i}.jpg") for i in range(3)]
    both = SimpleNamespace(
        duplicate_files=2,
        identical_files=0,
        duplicate_groups=[["a/1", "a/2"], ["b/1", "b/2"]],
        cross_class_duplicates=pairs,
    )
    assert duplicates_line(both).endswith(
        "(alike by perceptual hash): a/1 = a/2; b/1 = b/2; and 3 "
        "pictures in two classes, identical or alike, each kept in one split with its copy (the "
        "warning names them)"
    )
    across = SimpleNamespace(duplicate_files=0, cross_class_duplicates=pairs[:1])
    assert duplicates_line(across) == (
        "1 picture in two classes, identical or alike, each kept in one split with its copy (the "
        "warning names them)"
    )


def test_split_s_lines_write_every_count_with_thousands_separators(capsys, tmp_path):
    """1,100 copies of one photo: split said '1,100 duplicate files kept together ... (1100
    identical, 0 alike ...) ... a/0.png = a/copy0.png and 1099 more', two ways in one line."""
    from objrec.cli.data import print_split
    from objrec.split.result import SplitResult

    copies = [f"a/copy{k}.png" for k in range(1100)]
    result = SplitResult(
        out=tmp_path,
        counts={
            "a": {"train": 1107, "valid": 3, "test": 2},
            "b": {"train": 6, "valid": 3, "test": 3},
        },
        duplicate_files=1100,
        identical_files=1100,
        duplicate_groups=[["a/0.png", *copies]],
    )
    print_split(result, None)
    out = capsys.readouterr().out
    assert "train 1,113, valid 6, test 5" in out and "1,100 duplicate files" in out
    assert "(identical), in 1 group" in out and "a/copy0.png and 1,099 more" in out


@pytest.mark.slow
def test_split_names_a_few_duplicate_groups_and_json_all_of_them(capsys, tmp_path):
    """A user's split printed a line of 1,199 characters naming every duplicate group: the text
    counts them and names the first 3 (2 files each), --json lists every one."""
    photos = make_class_folder(tmp_path / "photos", per_class=6)
    for i, original in enumerate(sorted((photos / "red").iterdir())):
        for k in range(3):
            (photos / "red" / f"copy_{i}_{k}{original.suffix}").write_bytes(original.read_bytes())
    code, out, _ = run(capsys, "split", photos, tmp_path / "data")
    line = next(line for line in out.splitlines() if "duplicate files" in line)
    said = " ".join(out.split())
    assert code == 0 and "18 duplicate files kept together" in said and "in 6 groups: " in said
    assert "and 2 more; " in said and "; and 3 more groups; --json lists them all" in said
    assert said.count(" = ") == 3 and len(line) < 400
    assert (
        "no photo says when it was taken (EXIF): no rapid series looked for (see --groups)" in said
    )
    code, out, _ = run(capsys, "split", photos, tmp_path / "json", "--json")
    assert json.loads(out)["untimed_files"] == 36  # PNGs and JPEGs without EXIF
    groups = json.loads(out)["duplicate_groups"]
    assert len(groups) == 6 and sorted(map(len, groups)) == [4] * 6


@pytest.mark.slow
def test_split_names_the_duplicates_it_kept_together_as_they_are_named(capsys, tmp_path):
    """File names are printed as they are, never read as markup: "[b]old.png" stays itself."""
    photos = make_class_folder(tmp_path / "photos", per_class=6)
    original = next((photos / "red").glob("*.png"))
    (photos / "red" / "[b]old.png").write_bytes(original.read_bytes())
    code, out, _ = run(capsys, "split", photos, tmp_path / "data")
    assert code == 0 and "kept together in one split" in out
    assert f"red/[b]old.png = red/{original.name}" in " ".join(out.split()) or (
        f"red/{original.name} = red/[b]old.png" in " ".join(out.split())
    )


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


@pytest.mark.slow
def test_a_plot_or_report_in_a_new_folder_makes_it(capsys, tmp_path, trained_run, image_folder):
    """``--plot new/p.png`` and ``report --out new/r.html`` failed with a FileNotFoundError
    traceback, where every output folder (explore --out new/x, say) is made when new."""
    plot, page = tmp_path / "new" / "p.png", tmp_path / "new2" / "deeper" / "r.html"
    code, _, err = run(capsys, "predict", trained_run, image_folder / "red", "--plot", plot)
    assert code == 0 and plot.is_file(), err
    code, _, err = run(capsys, "report", trained_run, "--out", page)
    assert code == 0 and page.is_file(), err
    assert [p.name for p in page.parent.iterdir()] == ["r.html"]  # no temporary file left


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
    ("args", "message"),
    [
        (["{tmp}/full"], "full is not empty: choose another folder or pass --force"),
        (["{photos}/out"], "OUT {photos}/out lies inside the source folder {photos}: choose"),
        (["{photos}"], "OUT {photos} is the source folder: choose a folder outside it"),
        (["{tmp}"], "OUT {tmp} holds the source folder {photos}: choose"),
        (["{tmp}/afile/out"], "afile is a file, not a folder"),
        (["{tmp}/out", "--ratios", "0.5", "0.3", "0.3"], "sum to 1"),
        (["{tmp}/out", "--exclude", "mauve"], "does not have: mauve"),
    ],
)
def test_split_refuses_a_bad_out_first_and_reads_no_image(
    capsys, monkeypatch, tmp_path, image_folder, args, message
):
    monkeypatch.setattr(
        "objrec.file_index.hash_file_and_kind", lambda path: pytest.fail(f"read {path}")
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    (tmp_path / "afile").write_text("mine")
    args = [a.format(tmp=tmp_path, photos=image_folder) for a in args]
    message = message.format(tmp=tmp_path, photos=image_folder)
    code, _, err = run(capsys, "split", image_folder, *args)
    usage = "--ratios" in args or "afile" in args[0] or "OUT" in message  # 2: a usage error
    usage = usage or "--exclude" in args  # a class SRC lacks (review60b F3)
    assert code == (2 if usage else 1) and message in " ".join(err.split())
    assert len(err.strip().splitlines()) == 1 and "hashing" not in err, err


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


def test_predict_prints_a_name_that_is_not_utf8_with_its_byte_escaped(
    capsys, tmp_path, trained_run
):
    """It printed the surrogate's code point ('caf\\udce9.jpg') where warnings give the byte."""
    latin1 = tmp_path / os.fsdecode(b"caf\xe9.jpg")
    make_image((200, 40, 40)).save(latin1, "JPEG")
    code, _, err = run(capsys, "predict", trained_run, latin1)
    assert code == 1 and "caf\\xe9.jpg: its name is not UTF-8" in err and "udce9" not in err


def test_predict_counts_the_inputs_too_large_to_read_apart():
    """predict's last line counted a 10000x10000 PNG among the inputs that could not be
    predicted, with nothing said of how to have it read."""
    from objrec.cli.prediction import failed_sentence
    from objrec.predict import Prediction

    damaged = Prediction("a.jpg", error="cannot read image (empty file, 0 bytes)")
    large = Prediction("b.png", error="10000x10000 pixels is over the limit", too_large=True)
    assert failed_sentence([damaged], 18) == "1 of 18 inputs could not be predicted"
    assert failed_sentence([damaged, large], 18) == (
        "2 of 18 inputs could not be predicted; 1 of them too large to read, over the pixel "
        "limit (downscale it, or raise the limit with OBJREC_MAX_PIXELS, docs/folders.md)"
    )


def test_the_human_top_k_counts_the_classes_at_0_00_percent_instead_of_listing_them():
    from objrec.cli.prediction import topk_line

    topk = [
        {"class": "Motorbikes", "prob": 0.99993},
        {"class": "watch", "prob": 6e-5},
        {"class": "airplanes", "prob": 4e-5},
        {"class": "sunflower", "prob": 1e-6},
    ]
    assert topk_line(topk) == "Motorbikes 99.99%, watch 0.01%, and 2 more classes under 0.005%"
    assert topk_line(topk[:2]) == "Motorbikes 99.99%, watch 0.01%"
    assert topk_line(topk[:1] + topk[3:]) == "Motorbikes 99.99%, and 1 more class under 0.005%"
    assert topk_line([{"class": "a", "prob": 0.0}]) == "a 0.00%"  # the top class always shows


def test_json_output_writes_numbers_that_are_not_finite_as_null(capsys):
    """predict --json wrote "score": NaN, which JSON parsers (jq, a browser) refuse."""
    from objrec.cli.output import print_json

    print_json({"score": float("nan"), "scores": [1.5, float("inf")], "row": ({"x": -math.inf},)})
    assert json.loads(capsys.readouterr().out, parse_constant=lambda name: pytest.fail(name)) == {
        "score": None,
        "scores": [1.5, None],
        "row": [{"x": None}],
    }


def test_json_output_writes_numpy_and_torch_scalars_as_numbers(capsys):
    """A numpy float32 or int64 (not a float or int subclass) was written by default=str: "0.5",
    "3" and "nan" as strings."""
    import numpy as np
    import torch

    from objrec.cli.output import print_json

    print_json(
        {"p": np.float32(0.5), "n": np.int64(3), "t": torch.tensor(2), "x": np.float32("nan")}
    )
    assert json.loads(capsys.readouterr().out) == {"p": 0.5, "n": 3, "t": 2, "x": None}


def test_json_output_writes_text_as_it_is_and_escapes_what_stdout_cannot_write(capsys, monkeypatch):
    """predict --json wrote "class": "D\\u00e9faut-3", which grep for Défaut-3 does not find.
    Where stdout cannot write a character (PYTHONIOENCODING=ascii, a latin-1 terminal, a name's
    byte that is not UTF-8) the whole answer is ASCII with escapes, and it does not crash."""
    from objrec.cli.output import print_json

    print_json({"class": "Défaut-3", "top": ["Défaut-3", "Kratzer ✓"]})
    out = capsys.readouterr().out
    assert '"class": "Défaut-3"' in out and '"Kratzer ✓"' in out
    for encoding, text in (("ascii", "Défaut-3"), ("latin-1", "Défaut ✓"), ("utf-8", "caf\udce9")):
        stream = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
        monkeypatch.setattr(sys, "stdout", stream)
        print_json({"class": text})
        raw = stream.buffer.getvalue()
        assert raw.isascii() and json.loads(raw) == {"class": text}, encoding


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


def write_state(run: Path) -> Path:
    """``run/last.safetensors``: the training state of its model's head after one epoch, as a
    forced retrain stopped before its model was written leaves it beside a finished run."""
    from objrec.engine import EarlyStopping, FitState
    from objrec.resume_state import training_state, write_training_state
    from objrec.run_files import LAST

    model, meta = load_model(run)
    optimizer = torch.optim.Adam(model.head.parameters())
    fit = FitState(EarlyStopping(5), epoch=1, best_state=model.head.state_dict())
    write_training_state(run / LAST, training_state(model.head, optimizer, fit, meta))
    return run / LAST


@pytest.mark.slow  # a run's model and training state read, twice (0.5 s)
def test_check_of_a_run_says_what_it_found_intact_and_exits_0(capsys, trained_run):
    """`objrec check RUN` refused a run folder as no data folder: a user could not ask whether a
    run was intact. It reads each file as the commands that use it do."""
    state = write_state(trained_run)
    code, out, err = run(capsys, "check", trained_run)
    assert code == 0 and "Traceback" not in err
    lines = [" ".join(line.split()) for line in out.strip().splitlines()]
    assert lines == [
        f"unfinished {state}: a forced retrain stopped after epoch 1, before its model was "
        "written (the model is still the finished run's): continue it with `objrec train "
        f"{trained_run.parent / 'data'} --resume {trained_run}`",
        f"{trained_run}: an interrupted run of 3 classes (tiny_test); SHA-256 as recorded: "
        "model.safetensors and last.safetensors; nothing unusable",
    ]
    code, out, _ = run(capsys, "check", trained_run, "--json")
    answer = json.loads(out)
    assert code == 0 and answer["intact"] == ["model.safetensors", "last.safetensors"]
    assert (answer["status"], answer["n_classes"], answer["unusable"]) == ("interrupted", 3, 0)
    assert [(p["path"], p["kind"], p["unusable"]) for p in answer["problems"]] == [
        ("last.safetensors", "unfinished", False)
    ]


@pytest.mark.slow  # a run's model read, twice in a new process (3 s)
def test_check_of_a_run_of_objrecs_own_bodies_imports_no_pytorch(trained_run):
    """`objrec check RUN` imported PyTorch (2 s of its 3.5 s on the default run) to load a model
    whose answer needs no tensor: a sealed model of objrec's own bodies is checked by its bytes'
    SHA-256 and its metadata, the training state too, in a new process importing no heavy
    library; the same answer as in this process, which loaded PyTorch long ago."""
    from objrec.check_run import check_run

    write_state(trained_run)
    assert imported_by(["check", str(trained_run), "--json"], trained_run.parent) == (0, [])
    found = check_run(trained_run)
    assert found.intact == ["model.safetensors", "last.safetensors"] and not found.unusable


@pytest.mark.slow  # a run's model loaded twice (0.6 s)
def test_check_of_a_run_still_loads_a_model_its_seal_cannot_vouch_for(capsys, trained_run):
    """A model written before objrec sealed its files has no SHA-256 to vouch for its weights:
    check loads it as predict does, and a weight renamed since is said not to fit (exit 1), as
    predict would refuse it."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from objrec.checkpoint import SEAL_KEY

    path = trained_run / "model.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        header = {k: v for k, v in handle.metadata().items() if k != SEAL_KEY}
    written = json.loads(header["objrec"])
    del written["objrec_version"]  # as such a model's header had none
    header["objrec"] = json.dumps(written)
    state = load_file(path)
    state["head.renamed"] = state.pop(next(k for k in state if k.startswith("head.")))
    save_file(state, path, metadata=header)
    code, out, _ = run(capsys, "check", trained_run, "--json")
    [problem] = [p for p in json.loads(out)["problems"] if p["unusable"]]
    assert code == 1 and problem["kind"] == "unreadable", problem
    assert "does not fit the architecture" in problem["message"], problem


@pytest.mark.slow  # a run's model loaded (0.3 s)
def test_check_of_a_run_reads_its_model_state_and_summary_once(
    capsys, trained_run, split_dir, monkeypatch
):
    """check RUN read the model whole for its metadata, again to load it where its seal cannot
    vouch for its weights, and its header twice more for the seal (review52a M2): a retrain
    landing in between had one model's metadata checked beside another's weights. It still
    opened the model twice more for the run's status (``is_run_folder``, ``run_status``), the
    training state five times (the status, its check, its seal, whether a forced retrain left
    it, the resume command's data folder) and summary.json three times (the status, the state's
    check, the summary's).
    It reads each once; the status, the state's words and its resume command are of those
    bytes."""
    from objrec import check_run as checking

    from .conftest import opens_counted

    monkeypatch.setattr(checking, "vouched_for", lambda *args: False)  # loaded in PyTorch too
    files = ("model.safetensors", "last.safetensors", "summary.json")
    with opens_counted(monkeypatch) as opened:
        code, out, _ = run(capsys, "check", trained_run, "--json")
    assert code == 0 and json.loads(out)["status"] == "finished"
    assert {name: opened[name] for name in files} == dict(zip(files, (1, 0, 1), strict=True))
    assert json.loads(out)["intact"] == ["model.safetensors"]

    write_state(trained_run)  # a forced retrain's, stopped before its model was written
    with opens_counted(monkeypatch) as opened:
        code, out, _ = run(capsys, "check", trained_run)
    assert {name: opened[name] for name in files} == dict.fromkeys(files, 1)
    said = " ".join(out.split())
    assert code == 0 and "a forced retrain stopped after epoch 1" in said
    assert f"objrec train {split_dir.resolve()} --resume {trained_run}" in said
    assert f"{trained_run}: an interrupted run of 3 classes" in said


@pytest.mark.slow  # a run's model loaded twice (0.6 s)
def test_check_of_a_run_loads_a_sealed_model_another_objrec_wrote(capsys, trained_run):
    """review3-47: a sealed model of objrec's own bodies that another objrec wrote (a later one
    whose body has another layer) was checked by its seal alone, "nothing unusable", where
    predict refuses it: the seal vouches for the bytes, not for this objrec's architecture. Its
    ``objrec_version`` is not this one's, so check loads it as predict does."""
    from objrec.checkpoint import read_model_state, save_model_state

    path = trained_run / "model.safetensors"
    state, header, _ = read_model_state(path)
    state["head.renamed"] = state.pop(next(k for k in state if k.startswith("head.")))
    save_model_state(path, state, header | {"objrec_version": "0.0.1"})
    code, out, _ = run(capsys, "check", trained_run, "--json")
    [problem] = [p for p in json.loads(out)["problems"] if p["unusable"]]
    assert code == 1 and problem["kind"] == "unreadable", problem
    assert "does not fit the architecture" in problem["message"], problem


@pytest.mark.slow  # a run's files read six times (1 s)
@pytest.mark.parametrize(
    "damage, kind, said",
    [
        ("model", "damaged", "model.safetensors is damaged: its bytes no longer match the SHA-256"),
        (
            "state",
            "damaged",
            "so its training cannot go on from it: start the run over with `objrec train ",
        ),
        (
            "summary",
            "disagrees",
            "summary.json: describes another model: n_classes 4, the model's 3",
        ),
        ("older_summary", "disagrees", "describes another model: n_classes 4, the model's 3"),
        ("config", "disagrees", "config.json: says other settings than the model file carries: lr"),
        ("threshold", "edited", "threshold.json was changed since evaluate kept it"),
        ("evaluation", "other_model", "eval-test: an evaluation of another model than the run's"),
        (
            "classes",
            "unreadable",
            "image_classes.csv: line 2 is not a split, a class and a digest: an `objrec evaluate` "
            "of a later run against this one cannot follow its classes",
        ),
    ],
)
def test_check_of_a_run_names_each_damaged_file_in_one_line(
    capsys, trained_run, damage, kind, said
):
    """A flipped byte of the model or of the resume state, a summary or config of another model,
    a record of the images' classes cut off: one line each, naming the file, and exit 1; a
    threshold edited by hand is used by every command, and an evaluation of another model is
    left out by those that read one: notes (exit 0)."""
    from objrec.kept import keep_threshold

    if damage == "model":
        flipped(trained_run / "model.safetensors", -100)
    elif damage == "state":
        flipped(write_state(trained_run), -100)
    elif damage == "older_summary":  # written before 7 December 2026: its count `classes`
        path = trained_run / "summary.json"
        older = {key: v for key, v in json.loads(path.read_text()).items() if key != "n_classes"}
        path.write_text(json.dumps(older | {"classes": 4}))
    elif damage in ("summary", "config"):
        path = trained_run / f"{damage}.json"
        record = json.loads(path.read_text())
        path.write_text(
            json.dumps(record | ({"n_classes": 4} if damage == "summary" else {"lr": 9}))
        )
    elif damage == "classes":  # cut off within its first row
        (trained_run / "image_classes.csv").write_text("split,class,digest\ntest,red,0f0\n")
    elif damage == "threshold":
        kept = keep_threshold(trained_run, 0.25, {"replaced": 0.0})
        kept.path.write_text(kept.path.read_text().replace("0.25", "0.5"))
    else:  # made with a model since replaced by a copy of another
        (trained_run / "eval-test").mkdir()
        metrics = {"top1": 0.5, "per_class": {}, "model": "0" * 64}
        (trained_run / "eval-test" / "metrics.json").write_text(json.dumps(metrics))
    code, out, err = run(capsys, "check", trained_run)
    lines = [" ".join(line.split()) for line in out.strip().splitlines()]
    assert code == (0 if damage in ("threshold", "evaluation") else 1) and "Traceback" not in err
    assert lines[0].startswith(f"{kind} ") and said in lines[0], lines
    assert len(lines) == 2  # the problem, then the last line


@pytest.mark.slow  # an export (0.3 s) and a run's files read four times (1.2 s)
def test_check_of_a_run_says_whether_its_export_is_of_its_model_and_whole(capsys, trained_run):
    """check RUN did not look at the run's export (`objrec export RUN`): a graph of a model since
    replaced, or one cut short by a bad copy, passed as a run intact. The sidecar records the model
    file's SHA-256 and each exported file's: an intact export is listed as such, a changed byte or
    a file gone is unusable (exit 1), another model's export is a note, each with what to do (the
    script gone is a note: the graph runs without it)."""
    from objrec.export.exporter import export_model

    export_model(trained_run, check_photos=1)
    code, out, _ = run(capsys, "check", trained_run, "--json")
    answer = json.loads(out)
    assert code == 0 and answer["problems"] == []
    assert answer["intact"] == ["model.safetensors", "model.onnx", "model_infer.py"]
    sidecar = trained_run / "model.json"
    record = json.loads(sidecar.read_text())
    flipped(trained_run / "model.onnx", -100)
    (trained_run / "model_infer.py").unlink()
    sidecar.write_text(json.dumps(record | {"model_digest": "0" * 64}))
    code, out, _ = run(capsys, "check", trained_run)
    lines = [" ".join(line.split()) for line in out.strip().splitlines()]
    again = f"export it again with `objrec export {trained_run} --force`"
    assert code == 1 and len(lines) == 4, lines
    assert lines[0].startswith(f"other_model {sidecar}: an export of another model than the run's")
    assert lines[0].endswith(again)
    assert lines[1] == (
        f"damaged {trained_run / 'model.onnx'} is damaged: its bytes no longer match the SHA-256 "
        f"that model.json recorded when it was exported (a changed byte, a bad copy or disk); {again}"
    )
    assert lines[2].startswith(f"missing {trained_run / 'model_infer.py'}: not there: the export's")
    assert lines[3].endswith(
        "SHA-256 as recorded: model.safetensors; 1 unusable file, listed above"
    )


@pytest.mark.parametrize(
    ("name", "lost", "status"),
    [
        (
            "config.json",
            "lost are the settings a share of the run carries, and the cache folder",
            "a finished run",
        ),
        (
            "summary.json",
            "the run is unfinished (a train stopped as it put the run in place, which writes the "
            "summary last): lost is how training went (its times in report, its scores in a",
            "an unfinished run that cannot be resumed",
        ),
    ],
)
def test_check_of_a_run_without_a_json_record_says_what_is_lost_and_what_to_do(
    capsys, trained_run, name, lost, status
):
    """review53b nit 6: ``check RUN`` with config.json (or summary.json) removed said only "not
    there: every run writes it beside its model": neither what was lost nor what to do, nor why
    it exits 0. A note (exit 0: the commands read the model file) names both. A model without
    its summary is of an unfinished run (a train killed before it put its summary in place, the
    last of the run's files): check called it finished."""
    record = trained_run / name
    kept = record.read_bytes()
    record.unlink()
    try:
        code, out, err = run(capsys, "check", trained_run)
        json_code, json_out, _ = run(capsys, "check", trained_run, "--json")
    finally:
        record.write_bytes(kept)
    assert code == json_code == 0 and "nothing unusable" in out, (out, err)
    [line] = [line for line in (out + err).splitlines() if line.startswith("missing ")]
    assert line.startswith(f"missing {record}: not there (a note: predict, evaluate"), line
    assert lost in " ".join(line.split()), line
    assert "restore it from a copy of the run if you have one" in line
    assert f": {status} of " in " ".join(out.split()), out
    assert json.loads(json_out)["status"] == status.split()[1]


@pytest.mark.slow  # an export (0.3 s) and a run's files read twice (0.6 s)
def test_check_of_a_run_notes_an_edited_or_removed_export_script_and_exits_0(capsys, trained_run):
    """model_infer.py is the user's to adapt, and model.onnx runs without it: check called an
    edited script damaged (exit 1) and advised `export --force`, which throws the edit away. A
    script changed or gone is a note saying what `--force` would do; the graph is still checked."""
    from objrec.export.exporter import export_model

    export_model(trained_run, check_photos=1)
    script = trained_run / "model_infer.py"
    script.write_text(script.read_text() + "# my change\n")
    code, out, _ = run(capsys, "check", trained_run, "--json")
    [problem] = json.loads(out)["problems"]
    assert code == 0 and (problem["path"], problem["kind"], problem["unusable"]) == (
        "model_infer.py",
        "edited",
        False,
    )
    assert problem["message"].endswith(
        f"`objrec export {trained_run} --force` would write objrec's again, your changes lost"
    )
    script.unlink()
    code, out, _ = run(capsys, "check", trained_run, "--json")
    [problem] = json.loads(out)["problems"]
    assert code == 0 and (problem["kind"], problem["unusable"]) == ("missing", False)
    assert "would write objrec's again" in problem["message"]


@pytest.mark.slow  # an export (0.3 s) and a run's files read (0.3 s)
def test_check_of_a_run_notes_an_export_made_before_digests_and_does_not_fail(capsys, trained_run):
    """An export made before its sidecar recorded the model's SHA-256 (043669e) and its files'
    cannot be judged: check says so, and what to do, and exits 0."""
    from objrec.export.exporter import export_model

    export_model(trained_run, check_photos=1)
    sidecar = trained_run / "model.json"
    record = json.loads(sidecar.read_text())
    old = {k: v for k, v in record.items() if k not in ("model_digest", "files_sha256")}
    sidecar.write_text(json.dumps(old))
    code, out, _ = run(capsys, "check", trained_run, "--json")
    answer = json.loads(out)
    assert code == 0 and answer["intact"] == ["model.safetensors"]
    assert [(p["path"], p["kind"], p["unusable"]) for p in answer["problems"]] == [
        ("model.json", "no_digest", False)
    ]
    assert (
        "check cannot tell whether it is of this model or whether its files are whole"
        in (answer["problems"][0]["message"])
    )
    assert (  # the sidecar's model_digest is 32 hex digits of it, not the SHA-256 (review55b L5)
        "recorded the model file's content digest and its files' SHA-256 in its sidecar"
        in answer["problems"][0]["message"]
    )


@pytest.mark.slow  # two exports (0.6 s) and a run's files read three times (0.9 s)
def test_check_of_a_run_notes_an_export_answering_by_a_threshold_the_run_no_longer_uses(
    capsys, trained_run, monkeypatch
):
    """A threshold kept with the run after its export (or removed since) leaves the export
    answering "unknown" by the one before until exported again: check said the export was
    intact and nothing more. It notes it (exit 0), with what to do; the same value kept again
    later is no other threshold. check reads threshold.json once (it read it three times)."""
    from objrec import kept as kept_module
    from objrec.export.exporter import export_model
    from objrec.kept import keep_threshold, sealed

    reads, read = [], kept_module.kept_json
    monkeypatch.setattr(kept_module, "kept_json", lambda path: (reads.append(path), read(path))[1])

    def noted() -> list[tuple[str, str, str]]:
        reads.clear()
        code, out, _ = run(capsys, "check", trained_run, "--json")
        assert code == 0 and len(reads) <= 1
        return [(p["path"], p["kind"], p["message"]) for p in json.loads(out)["problems"]]

    export_model(trained_run, check_photos=1)
    kept = keep_threshold(trained_run, 0.25, {"replaced": 0.0})
    [(path, kind, message)] = noted()
    assert (path, kind) == ("model.json", "other_threshold") and message.startswith(
        "the export answers unknown below 0.0, not below 0.25, the threshold kept with the run "
        f"since; export it again with `objrec export {trained_run} --force`"
    )
    export_model(trained_run, check_photos=1, force=True)
    assert noted() == []
    again = keep_threshold(trained_run, 0.25, {"replaced": 0.25})  # the same value, kept later:
    record = json.loads(again.path.read_text()) | {"kept_on": "2026-12-06T09:00:00Z"}
    again.path.write_text(json.dumps(sealed(record)))
    assert noted() == []  # "answers unknown below 0.25, not below 0.25" before
    kept.path.unlink()
    [(_, kind, message)] = noted()
    assert kind == "other_threshold" and "which it no longer keeps (it uses its own now)" in message


@pytest.mark.slow  # a run's files read (0.3 s)
def test_check_of_a_run_calls_a_kept_threshold_whose_sha256_line_was_removed_edited(
    capsys, trained_run
):
    """Removing the sha256 line of a threshold changed on purpose, as the warning advises, made
    check call it "kept before objrec recorded its SHA-256"."""
    from objrec.kept import keep_threshold

    kept = keep_threshold(trained_run, 0.25, {"replaced": 0.0})
    unsealed = {k: v for k, v in kept.record.items() if k != "sha256"} | {"threshold": 0.5}
    kept.path.write_text(json.dumps(unsealed))
    code, out, _ = run(capsys, "check", trained_run)
    said = " ".join(out.split())
    assert code == 0 and f"edited {kept.path}: edited by hand (its sha256 line removed)" in said


@pytest.mark.slow  # a run's files read twice (0.4 s)
def test_check_of_a_run_shows_reading_a_training_state_only_where_there_is_one(trained_run):
    """check RUN's progress said "reading the model and training state 2/2" of a finished run,
    which has no training state."""
    from objrec.check_run import check_run

    from .conftest import TaskRecorder

    shown = TaskRecorder()
    check_run(trained_run, shown)
    write_state(trained_run)
    check_run(trained_run, shown)
    assert shown.tasks == ["reading the model", "reading the model and training state"]


@pytest.mark.slow  # a run's files read (0.3 s)
def test_check_of_a_run_compares_its_records_with_the_model_it_checked(
    trained_run, tmp_path, monkeypatch
):
    """check RUN hashed the model file again for each record it compares with the model (the kept
    threshold, the evaluations, the export: up to five SHA-256 passes over it in all), so a
    retrain landing once the model was checked had that model's own records called "of another
    model". They are compared with the digest of the bytes checked."""
    from objrec import check_run as checking
    from objrec.checkpoint import model_digest
    from objrec.kept import keep_threshold

    from .conftest import followed_by, retrain_of

    checked = model_digest(trained_run)
    keep_threshold(trained_run, 0.3, {"unknown": None, "evaluated": None})
    (trained_run / "eval-test").mkdir()
    metrics = {"top1": 1.0, "per_class": [], "model": checked}
    (trained_run / "eval-test" / "metrics.json").write_text(json.dumps(metrics))
    retrain = retrain_of(trained_run, tmp_path / "b.safetensors")
    monkeypatch.setattr(
        checking, "checkpoint_bytes", followed_by(checking.checkpoint_bytes, retrain)
    )
    result = checking.check_run(trained_run)
    assert model_digest(trained_run) != checked
    assert [p for p in result.problems if p.kind == "other_model"] == []


@pytest.mark.slow  # a run's model read, twice (0.3 s)
def test_check_of_a_run_whose_summary_is_damaged_says_so_and_never_advises_force(
    capsys, trained_run
):
    """With its model sound and summary.json damaged, check called the run interrupted and said
    "train it again with --force", which replaces the sound model. It says
    the summary is damaged, not the model, and the run is finished."""
    summary = trained_run / "summary.json"
    summary.write_text("{bad")
    code, out, _ = run(capsys, "check", trained_run, "--json")
    answer = json.loads(out)
    assert code == 1 and answer["status"] == "finished"
    assert [(p["path"], p["kind"]) for p in answer["problems"]] == [("summary.json", "unreadable")]
    said = answer["problems"][0]["message"]
    assert said.startswith(f"{summary} is not JSON (Expecting property name") and (
        "the run's record is damaged, not its model" in said
    )
    _, out, _ = run(capsys, "check", trained_run)
    assert "--force" not in out and "interrupted" not in out and "unfinished" not in out
    assert f"{trained_run}: a finished run of 3 classes" in " ".join(out.split())


@pytest.mark.slow  # a run's training state read (0.2 s)
def test_check_of_a_run_with_no_model_yet_says_only_how_to_continue_it(capsys, trained_run):
    """With last.safetensors and no model.safetensors, check said "no model yet" and then that
    "the model is still the finished run's": the no_model line alone gives the resume command."""
    state = write_state(trained_run)
    (trained_run / "model.safetensors").unlink()
    _, out, _ = run(capsys, "check", trained_run, "--json")
    kinds = [(p["path"], p["kind"]) for p in json.loads(out)["problems"]]
    assert ("model.safetensors", "no_model") in kinds
    assert (state.name, "unfinished") not in kinds, kinds
    (said,) = [p["message"] for p in json.loads(out)["problems"] if p["kind"] == "no_model"]
    assert said.startswith("no model yet: the run stopped before its model was written; ")  # nit 14


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
def test_evaluate_refuses_its_run_folder_as_the_data(capsys, trained_run, tmp_path):
    code, _, err = run(capsys, "evaluate", trained_run, trained_run, "--out", tmp_path / "e")
    assert code == 1 and f"{trained_run} is a run folder (`objrec train`'s output" in " ".join(
        err.split()
    )
    assert not (tmp_path / "e").exists()


def test_check_names_a_class_renamed_or_misspelt_in_valid_or_test_and_fails(capsys, split_dir):
    """With valid/butterfly renamed Butterfly (or test/butterfy misspelt), check said '0 unusable'
    and exit 0; only train then refused the valid class it did not know."""
    (split_dir / "valid" / "red").rename(split_dir / "valid" / "Red")
    (split_dir / "test" / "green").rename(split_dir / "test" / "gren")
    code, out, _ = run(capsys, "check", split_dir)
    said = " ".join(out.split())
    assert code == 1 and "0 unusable; 2 unusable folders" in said
    refused = "class not in train (is it {}?): `objrec {} refuses a {} class"
    assert "unknown_class valid/Red: " + refused.format("red", "train`", "validation") in said
    assert (
        "unknown_class test/gren: class not in train (is it green?): "
        "`objrec evaluate` scores only the classes the model was trained on" in said
    )
    missing = "missing_class {}: no folder of class {} (is {} it?): it is never {}"
    assert missing.format("valid", "red", "valid/Red", "validated") in said
    assert missing.format("test", "green", "test/gren", "tested") in said
    code, out, _ = run(capsys, "check", split_dir, "--json")
    found = {(p["kind"], Path(p["path"]).name, p["unusable"]) for p in json.loads(out)["problems"]}
    assert code == 1 and found == {
        ("manifest_unlisted", "manifest.csv", False),  # valid/Red's images lost their groups
        ("unknown_class", "Red", True),
        ("unknown_class", "gren", True),
        ("missing_class", "valid", False),
        ("missing_class", "test", False),
    }


def test_check_warns_of_a_class_missing_from_test_and_passes(capsys, split_dir):
    shutil.rmtree(split_dir / "test" / "blue")
    code, out, _ = run(capsys, "check", split_dir)
    said = " ".join(out.split())
    assert code == 0 and "33 readable, 0 unusable" in said and "folder" not in said.split(":")[-1]
    assert "missing_class test: no folder of class blue: it is never tested" in said


def test_check_warns_of_classes_with_fewer_readable_images_than_split_needs(capsys, tmp_path):
    """A class of one image passed check silently; split then warned it could not fill every split,
    train that it had no validation image, and evaluate left it out of its tables unsaid."""
    photos = make_class_folder(tmp_path / "photos", per_class=3)
    for path in sorted((photos / "red").iterdir())[1:]:
        path.unlink()
    (photos / "green" / "img_02.jpg").write_bytes(b"truncated")
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    needs = "`objrec split` needs 3 to put one in each of train, valid and test"
    assert f"few_images red: only 1 readable image: {needs}" in said
    assert f"few_images green: only 2 readable images: {needs}" in said
    assert code == 1 and "6 readable, 1 unusable" in said  # the truncated file, not the warning
    few = (
        "3 readable images: split gives 1 training image, fewer than 3 (a class of 7 or more "
        "gets 3): the model learns"
    )
    assert f"few_images blue: {few}" in said  # 1 / 1 / 1: too few to learn from
    (photos / "green" / "img_02.jpg").unlink()
    code, out, _ = run(capsys, "check", photos, "--json")
    found = [(p["kind"], Path(p["path"]).name, p["unusable"]) for p in json.loads(out)["problems"]]
    assert code == 0 and sorted(found) == [
        ("few_images", "", False),  # the folder: most classes small, the larger ratios
        ("few_images", "blue", False),
        ("few_images", "green", False),
        ("few_images", "red", False),
    ]
    messages = {Path(p["path"]).name: p["message"] for p in json.loads(out)["problems"]}
    assert messages["green"].endswith(needs) and messages["red"].endswith(needs)  # CLI's terms


def test_check_notes_a_sub_folder_of_a_class_folder_that_holds_images(capsys, tmp_path):
    """photos/llama/to sort/ (5 kangaroo photos) went through check, split and train unsaid,
    trained as llama: check notes each such sub-folder, counting the images below it."""
    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    nested = photos / "red" / "to sort" / "deeper"
    nested.mkdir(parents=True)
    for i in range(2):
        shutil.copy(photos / "green" / f"img_0{2 * i}.jpg", nested / f"k{i}.jpg")
    (photos / "red" / "to sort" / "notes.txt").write_text("not an image")
    (photos / "green" / "empty").mkdir()
    code, out, _ = run(capsys, "check", photos, "--json")
    found = json.loads(out)
    nested_notes = [p for p in found["problems"] if p["kind"] == "nested_folder"]
    assert code == 0 and [(p["path"], p["unusable"]) for p in nested_notes] == [
        ("red/to sort", False)
    ]
    said = "sub-folder of class red with 2 images, all trained as red"
    assert nested_notes[0]["message"].startswith(said) and found["images"] == 8
    code, out, _ = run(capsys, "check", photos)
    assert code == 0 and f"nested_folder red/to sort: {said}" in " ".join(out.split())


def test_check_sums_up_camera_raw_and_sidecar_files_naming_raw_ones_with_no_image_beside(
    capsys, tmp_path
):
    """A photographer's folder, a .CR2 and an .xmp beside each JPEG: check printed one
    'ignored_file ...: not an image file, ignored' line per file, and a shot kept only as RAW
    (a photo left out of training) got the very same line. One note each now, naming the RAW
    files with no image of their name beside them (10, then a count); --json lists them all."""
    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    for jpeg in sorted(photos.rglob("*.jpg")):  # img_00 and img_02 of each: 4 pairs
        jpeg.with_suffix(".CR2").write_bytes(b"II*\x00raw")
        jpeg.with_suffix(".xmp").write_text("<x:xmpmeta/>")
    alone = [photos / "red" / f"IMG_{i}.NEF" for i in range(11)] + [photos / "green" / "x.CR2"]
    for path in alone:
        path.write_bytes(b"raw")
    (photos / "green" / "x.THM").write_bytes(b"thumbnail")
    (photos / "green" / "notes.txt").write_text("not an image")
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    assert code == 0 and said.count("ignored_file") == 1 and "notes.txt" in said
    names = ", ".join(["green/x.CR2"] + [f"red/IMG_{i}.NEF" for i in (0, 1, 10, *range(2, 8))])
    assert (
        f"raw_files {photos}: 16 camera RAW files (.CR2, .NEF) not read (objrec reads JPEG, PNG, "
        "TIFF, WebP and the like): 4 have a JPEG or other image of the same name beside them, "
        f"12 have none (left out of training unless converted to JPEG): {names} and 2 more"
    ) in said
    assert f"sidecar_files {photos}: 5 sidecar files (4 .xmp, 1 .THM) ignored" in said
    found = json.loads(run(capsys, "check", photos, "--json")[1])["problems"]
    raw, sidecars = [p for p in found if p["kind"] in ("raw_files", "sidecar_files")]
    assert (raw["path"], raw["unusable"], len(raw["files"])) == (".", False, 16)
    assert sorted(raw["without_image"]) == sorted(p.relative_to(photos).as_posix() for p in alone)
    assert len(sidecars["files"]) == 5 and "without_image" not in sidecars
    assert set(found[0]) == {"path", "kind", "message", "unusable"}  # ignored_file, as it was


def test_check_s_raw_note_says_each_case_in_english():
    from objrec.check import raw_message

    root = Path("/p")
    one, two = [root / "a" / "x.CR2"], [root / "a" / "x.CR2", root / "b" / "y.nef"]
    head = "1 camera RAW file (.CR2) not read (objrec reads JPEG, PNG, TIFF, WebP and the like): "
    image, left = "JPEG or other image of the same name beside it", "(left out of training unless"
    assert raw_message(root, one, []) == f"{head}it has a {image}"
    assert raw_message(root, one, one).startswith(f"{head}it has no {image} {left}")
    assert raw_message(root, one, one).endswith("converted to JPEG): a/x.CR2")
    assert raw_message(root, two, []).endswith(
        f"(.CR2, .nef) not read (objrec reads JPEG, PNG, TIFF, WebP and the like): each has a {image}"
    )
    assert raw_message(root, two, two).endswith(
        f": none has a {image} {left} converted to JPEG): a/x.CR2, b/y.nef"
    )
    said = raw_message(root, two, two[1:])
    assert said.endswith(f": 1 has a {image}, 1 has none {left} converted to JPEG): b/y.nef")


def test_check_points_a_folder_of_mostly_small_classes_to_larger_training_ratios(capsys, tmp_path):
    """check named the classes of 6 photos, but nothing said that a default split of
    her 101 classes of 6 to 10 photos keeps half of them out of training, nor how to train on
    more: one note on the folder says it, as split does, with the command that splits so."""
    photos = make_class_folder(tmp_path / "photos", per_class=8)
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    head = f"few_images {photos}: most classes have fewer than 11 photos (median 8): the "
    assert code == 0 and head + "default ratios keep 12 of the 24 out of" in said
    assert f"`objrec split {photos} data70 --ratios 0.7 0.15 0.15` trains on about 18" in said
    # review60b F20: it said `objrec split PHOTOS data ...`, where split names the real folder
    more = make_class_folder(tmp_path / "more", per_class=11)
    code, out, _ = run(capsys, "check", more)
    assert code == 0 and "most classes" not in out


@pytest.mark.slow
def test_split_leaves_ratios_typed_as_the_default_ones_alone(capsys, tmp_path):
    """`--ratios 0.5 0.25 0.25` typed still heard "the default ratios keep ...", as if
    the user had not chosen them; other typed ratios are not second-guessed, nor are these."""
    photos = make_class_folder(tmp_path / "photos", per_class=8)
    code, _, err = run(capsys, "split", photos, tmp_path / "default")
    assert code == 0 and "the default ratios keep" in err
    code, _, err = run(
        capsys, "split", photos, tmp_path / "typed", "--ratios", "0.5", "0.25", "0.25"
    )
    assert code == 0 and "most classes" not in err


def test_check_and_split_say_why_a_class_of_six_gets_two_training_images(capsys, tmp_path):
    """newcomer52 7: a class of 6 photos went 2 / 2 / 2 at the default 50/25/25 and check said
    only "split gives 2 training images, fewer than 3": not why (valid and test get 25% of 6
    each, 1.5 rounded to 2), nor what `--ratios 0.7 0.15 0.15` would give (4 / 1 / 1), which
    split said only when most classes were small."""
    from objrec.cli.data import split_warnings
    from objrec.split.result import SplitResult

    photos = make_class_folder(tmp_path / "photos", per_class=6)
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    why = "its 6 photos go 2 / 2 / 2 as valid and test get 25% of 6, 1.5 rounded to 2, each"
    assert code == 0 and "as few test images; " + why in said
    assert why + f"; `objrec split {photos} data70 --ratios 0.7 0.15 0.15` gives 4 / 1 / 1" in said
    counts = {"anchor": {"train": 2, "valid": 2, "test": 2}}
    counts |= {f"c{i}": {"train": 10, "valid": 5, "test": 5} for i in range(3)}
    result = SplitResult(out=tmp_path, counts=counts, few_train_classes=["anchor"])
    (few,) = [w for w in split_warnings(result) if "training image" in w]
    assert few.endswith(
        f": anchor (2 in train); anchor: {why}; --ratios 0.7 0.15 0.15 gives 4 / 1 / 1"
    )


def test_check_says_the_classes_of_one_few_images_note_in_one_line(tmp_path):
    """101 classes of 6 to 10 photos: check printed 21 lines of "few_images NAME: 6
    readable images: split gives 2 training images, fewer than 3: ...". The classes noted alike
    are named in one line; a note of another count keeps its own; --json keeps one per class."""
    from objrec.check import Problem
    from objrec.cli.data import problem_lines

    six = "6 readable images: split gives 2 training images"
    problems = [
        Problem(str(tmp_path / name), "few_images", message, False)
        for name, message in [("ant", six), ("bee", "3 readable images: ..."), ("cat", six)]
    ]
    problems.insert(1, Problem(str(tmp_path / "bee" / "x.jpg"), "unreadable", six, True))
    assert problem_lines(problems, tmp_path) == [
        f"[yellow]few_images[/] ant, cat: {six}",
        f"[red]unreadable[/] bee/x.jpg: {six}",
        "[yellow]few_images[/] bee: 3 readable images: ...",
    ]


def test_check_notes_a_split_folders_class_with_too_few_training_images(capsys, split_dir):
    """A class of a split folder whose train holds one or two images passed check silently."""
    for path in sorted((split_dir / "train" / "red").iterdir())[1:]:
        path.unlink()
    code, out, _ = run(capsys, "check", split_dir, "--json")
    found = [(p["kind"], p["path"], p["message"]) for p in json.loads(out)["problems"]]
    assert code == 0 and found == [
        (
            "few_images",
            "train/red",
            "1 training image, fewer than 3: the model learns the class from one or two photos, "
            "and its per-class results rest on as few test images",
        )
    ]


@pytest.mark.slow
def test_check_names_balance_weights_for_a_strongly_imbalanced_training_split(capsys, split_dir):
    """A training split of 50 images of red against 1 of blue: check notes it once, naming
    the option; at 49 to 1, as for Caltech-101's 27 to 1, it says nothing of it."""
    from .conftest import make_imbalanced

    make_imbalanced(split_dir)
    code, out, _ = run(capsys, "check", split_dir, "--json")
    notes = [p for p in json.loads(out)["problems"] if p["kind"] == "imbalanced"]
    assert code == 0 and [(p["path"], p["unusable"]) for p in notes] == [("train", False)]
    said = "red has 50 training images, blue 1 (50 to 1; said at 50 to 1 or more), so the model may"
    assert said in notes[0]["message"]
    option = "`objrec train DATA --out RUN --balance weights` weighs each class's loss"
    assert option in notes[0]["message"]
    code, out, _ = run(capsys, "check", split_dir)
    assert "imbalanced train: the classes" in " ".join(out.split())
    sorted((split_dir / "train" / "red").iterdir())[-1].unlink()
    code, out, _ = run(capsys, "check", split_dir, "--json")
    assert "imbalanced" not in [p["kind"] for p in json.loads(out)["problems"]]


@pytest.mark.slow
def test_evaluate_names_the_classes_it_had_no_image_of(capsys, tmp_path, trained_run):
    other = make_class_folder(tmp_path / "other", per_class=2, classes=("red", "green"))
    code, out, _ = run(capsys, "evaluate", trained_run, other, "--out", tmp_path / "e")
    said = " ".join(out.split())
    assert code == 0 and (
        f"no image of 1 class in {other}, so not in the per-class tables and means: blue" in said
    )
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["classes_without_images"] == [
        "blue"
    ]
    code, out, _ = run(capsys, "evaluate", trained_run, other, "--out", tmp_path / "e2", "--json")
    assert code == 0 and json.loads(out)["classes_without_images"] == ["blue"]


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


@pytest.mark.parametrize("command", ["predict", "serve", "export"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_threshold_that_is_not_a_finite_number_is_refused_naming_the_option(
    tmp_path, capsys, command, value
):
    """predict --threshold nan was taken, and answered nothing unknown ('unknown below nan')."""
    code, _, err = run(
        capsys, command, tmp_path, *(["x.jpg"] * (command == "predict")), "--threshold", value
    )
    assert code == 2 and "--threshold" in err and f"'{value}' is not a finite number" in err


@pytest.mark.parametrize("worst", ["0", "-1"])
def test_evaluate_refuses_a_count_of_worst_classes_below_one(tmp_path, capsys, worst):
    """evaluate --worst -1 was taken and listed every class but the best one (pandas' head(-1))."""
    code, _, err = run(capsys, "evaluate", tmp_path, tmp_path, "--worst", worst)
    assert code == 2 and "invalid value for '--worst'" in err


@pytest.mark.parametrize("command", ["predict", "serve"])
def test_a_threshold_beside_no_unknown_is_refused_naming_both(tmp_path, capsys, command):
    """predict --threshold 0.5 --no-unknown took both and never answered unknown: the threshold
    was ignored without a word."""
    code, _, err = run(
        capsys,
        command,
        tmp_path,
        *(["x.jpg"] * (command == "predict")),
        "--threshold",
        "0.5",
        "--no-unknown",
    )
    assert code == 2 and "--threshold and --no-unknown do not go together" in err


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
def test_explain_refuses_a_link_among_its_maps_before_drawing_any_naming_explain(
    capsys, tmp_path, trained_run, split_dir
):
    """A link among the maps was found only when its turn came, after earlier maps were drawn
    over, and the refusal said 'choose another out': predict has no --out."""
    images = sorted((split_dir / "test" / "red").iterdir())[:3]
    cams = tmp_path / "cams"
    assert run(capsys, "predict", trained_run, *images, "--explain", cams)[0] == 0
    first, third = sorted(cams.glob("*.gradcam.png"))[0], sorted(cams.glob("*.gradcam.png"))[2]
    before = first.stat().st_mtime_ns
    third.unlink()
    third.symlink_to(tmp_path / "elsewhere.png")
    code, _, err = run(capsys, "predict", trained_run, *images, "--explain", cams, "--force")
    said = " ".join(err.split())
    assert code == 1 and f"{third} is a link" in said and "choose another --explain" in said
    assert first.stat().st_mtime_ns == before and third.is_symlink()


@pytest.mark.slow
def test_suggest_given_a_checkpoint_file_writes_beside_it(capsys, tmp_path, trained_run, split_dir):
    """`objrec suggest run/model.safetensors photos` failed: 'run/model.safetensors/suggest: not a
    directory'."""
    code, _, err = run(capsys, "suggest", trained_run / "model.safetensors", split_dir / "test")
    assert code == 0, err
    assert (trained_run / "suggest" / "suggestions.csv").is_file()


@pytest.mark.slow
def test_python_dash_m_objrec_cli_runs_the_command():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "objrec.cli", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "Usage:" in done.stdout


@pytest.mark.slow
def test_resume_warns_once_of_the_options_it_ignores(capsys, caplog, tmp_path, split_dir):
    """--resume continues with the run's own settings: --epochs, --cache-dir (and --force) given
    beside it were dropped without a word. --device and --json are not settings of the run."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    given = ["--epochs", "9", "--cache-dir", tmp_path / "cache", "--force", "--device", "cpu"]
    with caplog.at_level(logging.WARNING, logger="objrec"):
        code, _, err = run(capsys, "train", split_dir, "--resume", run_dir, *given, "--json")
    assert code == 1 and "holds no run to resume" in err
    assert caplog.messages == [
        f"--resume continues {run_dir} with the settings it started with: --epochs, --cache-dir "
        "and --force are ignored"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("blocks", [[], ["--finetune-blocks", "0"], ["--finetune-blocks", "2"]])
def test_fine_tuning_options_without_blocks_to_tune_are_named_as_ignored(
    capsys, caplog, tmp_path, blocks
):
    """train --finetune-epochs 20 trained the head alone and said nothing: without
    --finetune-blocks N the body stays frozen and the fine-tuning options change nothing."""
    empty = tmp_path / "empty"
    for split in ("train", "valid"):  # a split folder of no images: refused after the options
        (empty / split).mkdir(parents=True)
    given = ["--finetune-epochs", "20", "--finetune-lr", "0.001", *blocks]
    with caplog.at_level(logging.WARNING, logger="objrec"):
        code, _, _ = run(capsys, "train", empty, "--out", tmp_path / "run", *given)
    assert code == 1
    warned = [m for m in caplog.messages if "--finetune-blocks is 0" in m]
    assert warned == (
        []
        if "2" in blocks
        else [
            "--finetune-epochs and --finetune-lr are ignored: --finetune-blocks is 0, so the body "
            "stays frozen and only the head trains (--finetune-blocks N fine-tunes its last N blocks)"
        ]
    )


@pytest.mark.slow
def test_split_keeps_a_groups_files_groups_together_and_says_so(
    capsys, tmp_path, image_folder, known_facts
):
    code, out, _ = run(capsys, "split", "--help-all")
    out = " ".join(out.split())
    assert code == 0 and "--groups FILE" in out and "columns file and group" in out
    assert "class/name relative to the source folder, ./class/name, class\\name as Windows" in out
    groups = tmp_path / "groups.csv"
    groups.write_text("file,group\nred/img_00.jpg,b1\nblue/img_03.png,b1\ngreen/img_01.png,b2\n")
    code, out, _ = run(capsys, "split", image_folder, tmp_path / "data", "--groups", groups)
    assert code == 0 and "kept 1 group from groups.csv together" in out
    code, out, _ = run(capsys, "split", image_folder, tmp_path / "j", "--groups", groups, "--json")
    assert code == 0 and json.loads(out)["file_groups"] == 1
    groups.write_text("file,group\nred/img_00.jpg,b1\nred/gone.jpg,b1\n")
    code, _, err = run(capsys, "split", image_folder, tmp_path / "bad", "--groups", groups)
    err = " ".join(err.split())
    assert code == 1 and "--groups file" in err and "line 3" in err and "'red/gone.jpg'" in err


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


def test_the_program_imports_train_with_the_collector_off_then_frozen(monkeypatch):
    """`objrec train` as the program imports PyTorch and train's modules with the garbage
    collector off (importing them set off three full collections, each walking every object
    imported so far, none of it garbage: 0.14 s of a warm retrain), then freezes them and turns
    it on again; main([...]) in a process that goes on, as here, leaves the collector alone."""
    import gc

    from objrec.cli import heap, training
    from objrec.cli.output import RichReporter

    collecting: list[bool] = []
    frozen: list[bool] = []
    monkeypatch.setattr(
        training, "refuse_what_the_body_cannot", lambda config: collecting.append(gc.isenabled())
    )
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(gc.isenabled()))
    training.loaded_train(TrainConfig(), True, RichReporter())
    assert collecting == [True] and frozen == [] and gc.isenabled()
    monkeypatch.setattr(heap, "_program", True)
    training.loaded_train(TrainConfig(), True, RichReporter())
    assert collecting == [True, False] and frozen == [False] and gc.isenabled()


def test_the_tests_run_with_the_collector_on_and_what_collection_imported_frozen():
    """conftest's pytest_collection: no garbage collection while the test files are imported,
    then what they left frozen (full collections walked torch's modules again and again), and
    the collector on again for the tests themselves."""
    import gc

    assert gc.isenabled() and gc.get_freeze_count() > 0


def test_train_s_last_line_says_in_plain_words_what_its_feature_seconds_went_to(
    trained_run, capsys
):
    """It said '(4s frozen features, int8 body, 2s of it making the int8 body)'; then "2s of it
    making its int8 copy" on every warm retrain, where the copy made once per network and cache folder is
    found (the body's fingerprint, its key, taking those seconds); then "made once per
    cache folder and found after", where "found after" was unclear."""
    from types import SimpleNamespace

    from objrec.cli.training import print_trained
    from objrec.precision import Precision, Settled

    losses = [{"valid_loss": 0.5}, {"valid_loss": 0.4}]
    seconds = RunSeconds(features=4.0, fit=0.0, calibrate=0.0, quantize=2.0, total=10.0)
    result = SimpleNamespace(
        best_epoch=2, history=losses, best_valid_loss=0.4, best_valid_acc=0.9, run=trained_run
    )
    head = Settled("fp32", "asked for")
    int8 = Precision(body=Settled("int8", "auto"), head=head, engine="openvino")
    print_trained(SimpleNamespace(**vars(result), seconds=seconds, precision=int8))
    said = " ".join(capsys.readouterr().out.split())
    assert (
        "10s in all (4s computing features with the pretrained network in 8-bit integers (int8), "
        "2s of it getting its int8 copy, made once per network and cache folder and loaded by "
        "later runs) model saved to" in said
    )
    tuned = Precision(
        body=Settled("fp32", "fine-tuning was kept: its tuned blocks run in fp32"), head=head
    )
    print_trained(SimpleNamespace(**vars(result), seconds=seconds, precision=tuned))
    said = " ".join(capsys.readouterr().out.split())  # the features were the int8 body's
    assert "(4s computing features with the pretrained network in 8-bit integers (int8)" in said


def test_train_s_closing_lines_fit_a_terminal_of_100_columns_the_model_on_its_own(
    trained_run, capsys
):
    """A cold int8 run closed with one line of 297 characters (the seconds in all, where they
    went, the int8 copy made once, and the model's path), which a terminal of 100 columns cut
    mid-word; the model file, what a user needs next, was at its very end."""
    import time
    from types import SimpleNamespace

    from objrec.cli.training import Waited, print_trained
    from objrec.precision import Precision, Settled

    seconds = RunSeconds(features=191.0, fit=6.0, calibrate=0.0, quantize=144.0, total=203.0)
    int8 = Precision(body=Settled("int8", "auto"), head=Settled("fp32", "asked for"))
    ran = dict(best_epoch=25, history=[{"valid_loss": 0.5}] * 30, run=trained_run)
    ran |= dict(best_valid_loss=0.0162, best_valid_acc=1.0, seconds=seconds, precision=int8)
    print_trained(SimpleNamespace(**ran), None, Waited(time.monotonic() - 208, 5))
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines[:-1]) <= 100, lines  # the last: the path's length
    assert lines[-1] == f"model saved to {trained_run / 'model.safetensors'}"
    assert lines[-2].startswith("    by later runs, 6s fitting the")


def test_train_s_last_line_counts_the_seconds_the_user_waited_starting_included(
    trained_run, capsys, monkeypatch
):
    """A warm retrain said "4s in all" after 12.8 s: summary.json's total, which leaves out
    Python's start and the libraries' import (6.6 s at a load of 7) and the run's writing.
    The CLI says the seconds since the process began, and how many went to
    starting."""
    import time
    from types import SimpleNamespace

    from objrec.cli.training import Waited, print_trained
    from objrec.precision import Precision, Settled

    result = SimpleNamespace(
        best_epoch=1,
        history=[{"valid_loss": 0.5}],
        best_valid_loss=0.5,
        best_valid_acc=0.9,
        run=trained_run,
        seconds=RunSeconds(features=1.0, fit=2.2, calibrate=0.4, total=4.0),
        precision=Precision(body=Settled("fp32", "asked for"), head=Settled("fp32", "asked for")),
    )
    print_trained(result, None, Waited(time.monotonic() - 12.8, 6.6))
    said = " ".join(capsys.readouterr().out.split())
    assert "13s in all (7s starting, 1s computing features with the pretrained" in said
    # the head's fit is said, what a retrain waits for; calibrating's 0.4 s is not
    heads = json.loads((trained_run / "config.json").read_text())["heads"]
    fitting = f"fitting the {heads} heads" if heads > 1 else "fitting the head"
    # and the 2 s past train's own work, writing the run: "31s in all (11s starting, 3s
    # computing features, 12s fitting the 5 heads)" left 5 s unsaid under torchrun
    assert f"32-bit floats (fp32), 2s {fitting}, 2s writing the run) model saved to" in said
    print_trained(result, None, Waited(time.monotonic() - 4.2, 0.3))  # under a second: unsaid
    said = " ".join(capsys.readouterr().out.split())
    assert "4s in all (1s computing features with the pretrained" in said
    assert "writing the run" not in said
    monkeypatch.setenv("WORLD_SIZE", "2")  # under torchrun, rank 0's line
    print_trained(result, None, Waited(time.monotonic() - 12.8, 6.6))
    said = " ".join(capsys.readouterr().out.split())
    assert ", 2s writing the run and ending its 2 processes (torchrun)) model saved to" in said


def test_train_s_last_line_names_fine_tuning_apart_from_the_heads_fit(trained_run, capsys):
    """A fine-tuned run closed with "352s fitting the 5 heads" where those seconds were its
    fine-tuning: a pass through the networks below the tuned blocks, then its epochs. Each stage
    is named for what it was, and --help gives --finetune-blocks' cost."""
    from types import SimpleNamespace

    from objrec.cli.training import print_trained
    from objrec.finetune import FinetuneRecord
    from objrec.precision import Precision, Settled

    fp32 = Precision(body=Settled("fp32", "asked for"), head=Settled("fp32", "asked for"))
    seconds = RunSeconds(features=89.0, fit=288.0, calibrate=12.0, total=390.0)
    ran = dict(best_epoch=9, history=[{"valid_loss": 0.5}], best_valid_loss=0.5)
    ran |= dict(best_valid_acc=0.9, run=trained_run, seconds=seconds, precision=fp32)
    tuned = dict(blocks=1, epochs_run=8, kept=True, best_epoch_before=1)
    tuned |= dict(best_valid_loss_before=0.6, best_valid_loss_after=0.5)
    finetune = FinetuneRecord(**tuned, seconds=268.0, below_seconds=84.0)
    print_trained(SimpleNamespace(**ran, finetune=finetune))
    said = " ".join(capsys.readouterr().out.split())
    heads = json.loads((trained_run / "config.json").read_text())["heads"]
    fitting = f"fitting the {heads} heads" if heads > 1 else "fitting the head"
    assert (  # the pass below the tuned blocks runs first, with the body's features
        "89s computing features with the pretrained network in 32-bit floats (fp32), 84s of it "
        f"the pass below the tuned blocks, 20s {fitting}, 268s fine-tuning the network's last "
        "block, 12s calibrating) model saved to" in said
    )
    assert FinetuneRecord.from_json(finetune.to_json()) == finetune  # summary.json's record
    _, page, _ = run(capsys, "train", "--help")
    cost = "Fine-tune EfficientNet-Lite's last N blocks (slow; kept, run in fp32)."
    assert cost in " ".join(page.split())


def test_train_s_last_line_says_features_read_from_the_store_were_not_computed(trained_run, capsys):
    """A retrain whose every feature came from the feature store (under torchrun, on a resume,
    in one process: "0 run through the 3 pretrained networks" in its lines per view) closed with
    "3s computing features with the 3 pretrained networks"; one that computed some did not say
    how many of them, nor that it read the others."""
    from types import SimpleNamespace

    from objrec.cli.training import print_trained
    from objrec.precision import Precision, Settled
    from objrec.run_record import FrozenPassCounts

    fp32 = Precision(body=Settled("fp32", "asked for"), head=Settled("fp32", "asked for"))
    seconds = RunSeconds(features=3.0, fit=0.0, calibrate=0.0, total=5.0)
    run = dict(best_epoch=1, history=[{"valid_loss": 0.5}], best_valid_loss=0.5)
    run |= dict(best_valid_acc=0.9, run=trained_run, seconds=seconds, precision=fp32)
    read = FrozenPassCounts(
        computed=0, from_store=192, copies=0, n_unreadable=0, hashed=0, digest_seconds=0.0
    )
    print_trained(SimpleNamespace(**run, frozen_pass=read))
    said = " ".join(capsys.readouterr().out.split())
    assert "computing" not in said
    assert (
        "5s in all (3s getting the 192 image features, every one from the feature store) "
        "model saved to" in said
    )
    some = FrozenPassCounts(
        computed=36, from_store=330, copies=0, n_unreadable=0, hashed=30, digest_seconds=0.1
    )
    print_trained(SimpleNamespace(**run, frozen_pass=some))
    said = " ".join(capsys.readouterr().out.split())
    assert (
        "(3s computing 36 image features with the pretrained network in 32-bit floats (fp32) and "
        "reading 330 from the feature store) model saved to" in said
    )


def test_train_s_last_line_counts_features_made_from_the_fine_tuning_s_cut_as_computed(
    trained_run, capsys
):
    """A fine-tuned run whose new images' features were made from its cut's rows (``derived``),
    none run through the body, read the others from the store: its last line said "reading the
    330 image features from the feature store, none computed"."""
    from types import SimpleNamespace

    from objrec.cli.training import print_trained
    from objrec.precision import Precision, Settled
    from objrec.run_record import FrozenPassCounts

    fp32 = Precision(body=Settled("fp32", "asked for"), head=Settled("fp32", "asked for"))
    seconds = RunSeconds(features=3.0, fit=0.0, calibrate=0.0, total=5.0)
    run = dict(best_epoch=1, history=[{"valid_loss": 0.5}], best_valid_loss=0.5)
    run |= dict(best_valid_acc=0.9, run=trained_run, seconds=seconds, precision=fp32)
    made = FrozenPassCounts(
        computed=0,
        from_store=330,
        copies=0,
        derived=36,
        n_unreadable=0,
        hashed=30,
        digest_seconds=0,
    )
    print_trained(SimpleNamespace(**run, frozen_pass=made))
    said = " ".join(capsys.readouterr().out.split())
    assert "none computed" not in said
    assert "(3s computing 36 image features with the pretrained network in 32-bit floats" in said


def test_train_s_last_line_counts_the_views_a_fine_tuned_retrain_computed_below_its_blocks(
    trained_run, capsys
):
    """late54 M1: a fine-tuned retrain after a plain run read every body feature from the store
    and computed its views below the tuned blocks; its last line said "every one from the
    feature store" (before: "none computed") of 10 s, 9.6 of them computing."""
    from types import SimpleNamespace

    from objrec.cli.training import print_trained
    from objrec.precision import Precision, Settled
    from objrec.run_record import FrozenPassCounts

    fp32 = Precision(body=Settled("fp32", "asked for"), head=Settled("fp32", "asked for"))
    seconds = RunSeconds(features=10.0, fit=0.0, calibrate=0.0, total=12.0)
    run = dict(best_epoch=1, history=[{"valid_loss": 0.5}], best_valid_loss=0.5)
    run |= dict(best_valid_acc=0.9, run=trained_run, seconds=seconds, precision=fp32)
    made = FrozenPassCounts(
        computed=0,
        from_store=18,
        copies=0,
        cut_computed=18,
        n_unreadable=0,
        hashed=0,
        digest_seconds=0,
    )
    print_trained(SimpleNamespace(**run, frozen_pass=made))
    said = " ".join(capsys.readouterr().out.split())
    assert "none computed" not in said and "every one from the feature store" not in said
    assert (
        "10s getting the 18 image features from the feature store and computing 18 below the "
        "tuned blocks"
    ) in said


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


@pytest.mark.slow
def test_train_says_it_wrote_all_once_it_has_said_all(capsys, tmp_path, monkeypatch):
    """train lets the program end at once after its last line, not before: a failed or stopped
    run exits as Python does."""
    from types import SimpleNamespace

    from objrec.cli import heap, training

    monkeypatch.setattr(heap, "_done", False)
    result = SimpleNamespace(run=tmp_path / "run")
    monkeypatch.setattr(
        importlib.import_module("objrec.train"), "train_as_asked", lambda *a, **k: result
    )
    monkeypatch.setattr(training, "print_trained", lambda *args: print("trained"))
    as_split_folder(tmp_path / "data")
    code, out, _ = run(capsys, "train", tmp_path / "data", "--out", tmp_path / "run")
    assert code == 0 and "trained" in out and heap._done
    monkeypatch.setattr(heap, "_done", False)

    def refused(*args, **kwargs):
        raise ObjrecError("run already holds a trained model")

    monkeypatch.setattr(importlib.import_module("objrec.train"), "train_as_asked", refused)
    code, _, _ = run(capsys, "train", tmp_path / "data", "--out", tmp_path / "run")
    assert code == 1 and not heap._done


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


def test_a_json_block_inside_another_lets_go_of_its_own_held_answers_only(capsys):
    """stdout_for_json_only let go of its held answers with list.remove, which compares lists:
    an inner block holding what the outer one held (both nothing) took the outer's list away,
    and the outer block's answer, held in the inner's list, was never printed."""
    from objrec.cli.output import print_json, stdout_for_json_only

    with stdout_for_json_only():
        with stdout_for_json_only():
            pass
        print_json({"answer": 1})
    assert json.loads(capsys.readouterr().out) == {"answer": 1}


@pytest.mark.slow
def test_train_json_shows_on_stderr_what_a_logged_run_without_it_shows(capsys, tmp_path, split_dir):
    """`train --json` wrote nothing to stderr until it ended (44 s of silence in a nightly log;
    minutes on a real data set): --json now changes stdout alone, and stderr shows the progress,
    notes and epoch lines a run without it shows in a log (stderr not a terminal)."""
    args = ["--backbone", "tiny_test", "--epochs", "2", "--aug-views", "1", "--json"]
    code, out, err = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    assert code == 0 and json.loads(out)["epochs_run"] == 2
    lines = err.splitlines()
    assert any(line.startswith("train features: 18 images") for line in lines)
    assert any(line.startswith("parameters: ") for line in lines)
    assert [line.split()[:2] for line in lines if line.startswith("epoch ")] == [
        ["epoch", "1"],
        ["epoch", "2"],
    ]


@pytest.mark.slow
def test_train_warns_once_of_a_mean_unlike_the_backbones_own(capsys, tmp_path, split_dir):
    """--mean or --std unlike the normalisation the body's weights were trained with: one
    warning naming both, with the option as the command spells it; none for a file of weights
    of the user's, whose normalisation objrec cannot know."""
    args = ["--backbone", "tiny_test", "--epochs", "1", "--aug-views", "0", "--json"]
    args += ["--mean", "0.5", "0.5", "0.5"]
    code, out, _ = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    said = [w for w in json.loads(out)["warnings"] if "normalisation" in w]
    assert code == 0 and said == [
        "--mean 0.5 0.5 0.5 differs from the normalisation the pretrained weights of tiny_test "
        "were trained with (mean 0.485 0.456 0.406), so the network reads your images unlike the "
        "images it learnt from, which usually costs accuracy (leave out --mean to use theirs)"
    ]
    from objrec.bodies import TinyBody

    torch.save(TinyBody().state_dict(), tmp_path / "mine.pth")
    args += ["--weights", tmp_path / "mine.pth"]
    code, out, _ = run(capsys, "train", split_dir, "--out", tmp_path / "mine", *args)
    assert code == 0 and not [w for w in json.loads(out)["warnings"] if "normalisation" in w]


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


def test_an_ensemble_of_two_normalisations_says_each_and_what_to_give_for_all(
    capsys, tmp_path, split_dir
):
    """`--backbone mobilenet_v2+efficientnet_lite0 --mean 0.5 0.5 0.5 --std 0.5 0.5 0.5` was
    refused as normalising differently, though one normalisation was given, with nothing of what
    would work (newcomer60b, 5). The bodies now read the normalisation given for all of them
    (test_backbones, and the run below); the refusal without it names each body's, why one is
    needed and what to give: here --std, --mean being given."""
    args = ["train", split_dir, "--out", tmp_path / "run", "--backbone"]
    code, out, err = run(
        capsys, *args, "efficientnet_lite0+resnet18", "--mean", "0.5", "0.5", "0.5"
    )
    said = " ".join(err.split())
    assert (code, out) == (2, "") and not (tmp_path / "run").exists()
    assert (
        "normalise their inputs differently (efficientnet_lite0: mean 0.5 0.5 0.5, std 0.5 0.5 "
        "0.5; resnet18: mean 0.485 0.456 0.406, std 0.229 0.224 0.225), and an ensemble's bodies "
        "all read one image, normalised once: give --std for all of them (each body then reads "
        "images normalised unlike some it learnt from), or join bodies normalised alike (see "
    ) in said


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


@pytest.mark.slow
def test_a_timm_backbone_is_looked_up_not_built_before_train_starts(
    capsys, tmp_path, split_dir, monkeypatch
):
    """`--backbone timm:NAME` was checked by building the model (timm.create_model), which train
    then built again: seconds and memory for a large ViT. The name is looked up in timm's list;
    an unknown one is still a usage error naming --backbone, exit 2."""
    import importlib.machinery
    import types

    built = []
    timm = types.ModuleType("timm")
    timm.__spec__ = importlib.machinery.ModuleSpec("timm", None)
    timm.is_model = lambda name: name == "vit_huge_patch14_224"
    timm.list_models = lambda: ["vit_huge_patch14_224", "resnet50"]
    timm.create_model = lambda name, *args, **kwargs: built.append(name)
    timm.data = types.ModuleType("timm.data")  # what building the spec reads from the model
    timm.data.resolve_data_config = lambda *a, **k: {
        "input_size": (3, 224, 224), "crop_pct": 0.9, "mean": (0.5,) * 3, "std": (0.5,) * 3,
        "interpolation": "bicubic",
    }  # fmt: skip
    monkeypatch.setitem(sys.modules, "timm", timm)
    monkeypatch.setitem(sys.modules, "timm.data", timm.data)

    def train_stand_in(data, out, config, *args, **kwargs):
        raise ObjrecError(f"train was called with {config.backbone}")

    monkeypatch.setattr(importlib.import_module("objrec.train"), "train_as_asked", train_stand_in)
    args = ["train", split_dir, "--out", tmp_path / "run", "--backbone"]
    code, _, err = run(capsys, *args, "timm:vit_huge_patch14_224")
    assert (code, built) == (1, []) and "train was called with timm:vit_huge" in err
    code, out, err = run(capsys, *args, "timm:nosuchvit")
    assert (code, out) == (2, "")
    assert "invalid value for '--backbone': timm has no model named 'nosuchvit'; " in err
    assert not (tmp_path / "run").exists()
    code, out, err = run(capsys, *args, "timm:vit_huge_patch14_22")  # newcomer60b, 4
    said = " ".join(err.split())
    assert (code, out) == (2, "")
    assert "'vit_huge_patch14_22' (is it timm:vit_huge_patch14_224?);" in said
    assert "timm.list_models() lists its 2 models" in said
    assert "`objrec backbones` lists them" not in said  # it lists no timm model
    code, _, err = run(capsys, "backbones", "timm:resnet5")
    assert code == 2 and "(is it timm:resnet50?)" in err


def test_export_check_photos_help_says_its_default_and_cost_from_export_itself(capsys):
    """`--check-photos` repeated export's default (32) as a literal, and its help quoted the
    export times of the number before (150) that a user has no use for. Its default is
    export's CHECK_PHOTOS, and the help says what the option does and costs."""
    from objrec.cli.delivery import export
    from objrec.export.exporter import CHECK_PHOTOS

    option = next(p for p in export.params if p.name == "photos")
    assert option.default is CHECK_PHOTOS
    code, out, _ = run(capsys, "export", "--help-all")
    said = " ".join(out.split())
    assert code == 0 and f"[default: {CHECK_PHOTOS}; x>=1]" in said
    assert "the number before" not in said
    # 0.1 s was an int8 run's; fp32's, the one to export for ONNX Runtime, measured 0.25-0.37 s
    assert "each adds about 0.3 s on 2 cores for an fp32 run, 0.1 s for an int8 one" in said


def test_export_s_check_line_says_1_real_photo_not_1_real_photos():
    """`export --check-photos 1` printed "on 1 real photos" (a newcomer's run)."""
    from objrec.cli.delivery import agreement_lines
    from objrec.export.check import Agreement

    found = dict(runtime="onnxruntime", max_prob_diff=4.6e-6, max_score_diff=1e-6)
    found |= dict(top_class_changed=0, unknown_changed=0)
    one, many = (Agreement(photos=n, **found) for n in (1, 32))
    assert agreement_lines([one]) + agreement_lines([many]) == [
        "in ONNX Runtime (as model_infer.py runs it), the file differs from objrec's answers by "
        f"up to 4.6e-06 in a probability and 1e-06 in the unknown score on {photos} (no top "
        "class or unknown answer differs)"
        for photos in ("1 real photo", "32 real photos")
    ]


def test_export_s_lines_of_each_runtime_word_their_figures_alike():
    """An int8 run's export said of ONNX Runtime "(0 top classes differ, 0 unknown answers
    differ)", then of OpenVINO "top class changed: 0, unknown answer changed: 0": the same
    figures in two forms, one line after the other. Both say them as the first did, and none
    differing as `no top class or unknown answer differs`."""
    from objrec.cli.delivery import agreement_lines
    from objrec.export.check import Agreement

    apart = Agreement("onnxruntime", 32, 1.8e-3, 0, 0.037, 0)
    close = Agreement("openvino", 32, 7.2e-7, 0, 4e-5, 0)
    first, second = agreement_lines([apart, close])
    assert "on 32 real photos (no top class or unknown answer differs), as objrec ran" in first
    assert second.endswith("on 32 real photos (no top class or unknown answer differs)")
    assert "changed: 0" not in second
    two = Agreement("openvino", 32, 7.2e-7, 2, 4e-5, 1)
    assert agreement_lines([two])[0].endswith("(2 top classes differ, 1 unknown answer differs)")


def test_export_says_once_how_far_onnx_runtime_is_from_objrec_s_answers():
    """an int8 run's export warned that the file in ONNX Runtime differs from objrec's
    answers (export.check.warn_if_apart), then said it again ("in ONNX Runtime, on 32 real photos, it
    differs ... by up to 4.0e-02"): the warning says it, the line of a runtime that agrees stays.
    The script runs an int8 body OpenVINO ran in OpenVINO, so its line says so, and
    ONNX Runtime alone apart is no warning but a line saying why and what gives objrec's."""
    from objrec.cli.delivery import agreement_lines
    from objrec.export.check import Agreement

    apart = Agreement("onnxruntime", 32, 4.0e-2, 0, 1e-3, 0)
    close = Agreement("openvino", 32, 2e-6, 0, 1e-6, 0)
    assert apart.apart and not close.apart
    first, second = agreement_lines([apart, close])
    assert first.startswith(
        "in ONNX Runtime alone (an app's, or model_infer.py without openvino), "
        "the file differs from objrec's answers by up to 0.04 in a probability"
    )
    assert first.endswith(
        "for a file that any runtime reproduces, train an fp32 run beside this one, "
        "`objrec train DATA --out run-fp32 --precision fp32`, and export that"
    )
    assert second.startswith(
        "in OpenVINO (as model_infer.py runs it, where openvino is installed, and as objrec "
        "runs the body), the file differs from objrec's answers by up to 2e-06"
    )
    ort_close = Agreement("onnxruntime", 32, 2e-6, 0, 1e-6, 0)
    ov_apart = Agreement("openvino", 32, 4.0e-2, 0, 1e-3, 0)
    assert agreement_lines([ort_close, ov_apart]) == [
        "in ONNX Runtime alone (an app's), the file differs from objrec's answers by up to "
        "2e-06 in a probability and 1e-06 in the unknown score on 32 real photos (no top class "
        "or unknown answer differs)"
    ]  # the warning says how far the script's runtime is
    assert agreement_lines([apart]) == []  # fp32: the warning says it


def test_export_s_lines_fit_a_terminal_of_100_columns_keeping_commands_whole(capsys):
    """A default (int8, OpenVINO) run's export said how far ONNX Runtime is in one line of 409
    characters, and how far OpenVINO is in one of 261, which a terminal of 100 columns cut
    mid-word; the lines are wrapped now, a path with a space and a command kept on one line."""
    from objrec.cli.delivery import print_export
    from objrec.export.check import Agreement
    from objrec.export.exporter import ExportResult

    run = Path("my run")
    apart = Agreement("onnxruntime", 32, 0.068, 1, 0.049, 0)
    close = Agreement("openvino", 32, 6.2e-5, 0, 7e-5, 0)
    result = ExportResult(run / "model.onnx", run / "model.json", 8.9e-8)
    result.answers_checked = {"onnxruntime": apart, "openvino": close}
    result.script = run / "model_infer.py"
    with click.Context(click.Command("export")):
        print_export(result, [], as_json=False)
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100, lines
    assert sum(not line.startswith(" ") for line in lines) == 4  # the file, two runtimes, script
    said = "\n".join(lines)
    assert "`objrec train DATA --out run-fp32 --precision fp32`" in said
    assert "'my run/model_infer.py' PHOTO..." in said


def test_check_json_names_each_path_relative_to_the_folder_checked(capsys, tmp_path, monkeypatch):
    """`check --json` gave DATA joined with each file (absolute when DATA was), where the text
    and docs/commands.md name files relative to DATA (`lamp/labels.csv`) and split's --json does:
    a script had to handle both. Now relative to `root` however DATA is given, `.` for itself."""
    photos = make_class_folder(tmp_path / "photos", per_class=3)
    (photos / "red" / "notes.txt").write_text("not an image")
    make_image(COLOURS["red"], seed=7).save(photos / "red" / "copy.png")
    shutil.copy(photos / "red" / "copy.png", photos / "red" / "copy2.png")
    (photos / "green" / "IMG_1.CR2").write_bytes(b"raw")
    monkeypatch.chdir(tmp_path)
    answers = [json.loads(run(capsys, "check", given, "--json")[1]) for given in (photos, "photos")]
    assert [a["root"] for a in answers] == [str(photos), "photos"]
    where = [[(p["path"], p["kind"], p.get("files")) for p in a["problems"]] for a in answers]
    assert where[0] == where[1]  # a message may name the folder as given: the command to type
    paths = {p["kind"]: (p["path"], p.get("files")) for p in answers[0]["problems"]}
    assert paths["ignored_file"] == ("red/notes.txt", None)
    assert paths["identical_files"] == ("red/copy2.png", ["red/copy.png", "red/copy2.png"])
    assert paths["raw_files"] == (".", ["green/IMG_1.CR2"])


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
def test_an_interrupted_train_json_prints_the_run_so_far_with_finished_false(
    capsys, tmp_path, split_dir, monkeypatch
):
    """docs/json.md documented `finished: false` ("interrupted, resumable") for train --json, but
    an interrupted train printed no JSON: only summary.json ever held it. Ctrl-C in the head's
    epochs now prints the run so far as saved, finished false, and exits 130 as before."""
    ctrl_c_at_epoch_3(monkeypatch)
    args = ["--backbone", "tiny_test", "--epochs", "9", "--aug-views", "1", "--json"]
    code, out, err = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    answer = json.loads(out)
    assert code == 130 and "interrupted after epoch 3" in err and "--resume" in err
    assert (answer["finished"], answer["epochs_run"], answer["warnings"]) == (False, 3, [])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert answer == summary | {"warnings": []}
    records_the_seconds_and_precision_so_far(summary, calibrated=False)
    code, out, err = run(capsys, "train", split_dir, "--out", tmp_path / "early", *args[:-1])
    assert code == 130 and out == ""  # without --json: the sentence on stderr alone, as before


@pytest.mark.slow
def test_train_json_stopped_after_the_head_s_epochs_prints_the_run_saved_then(
    capsys, tmp_path, split_dir, monkeypatch
):
    """Ctrl-C in calibration (or fine-tuning), after the head's epochs, printed no JSON and saved
    only the training state, where a stop in the head's epochs prints the run so far: the run is
    now written as of the head's end (finished false) and printed, and exits 130 as before."""

    def ctrl_c(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module("objrec.train"), "calibrate", ctrl_c)
    args = ["--backbone", "tiny_test", "--epochs", "3", "--aug-views", "1", "--json"]
    code, out, err = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    answer = json.loads(out)
    assert code == 130 and "interrupted after the head's epochs" in err and "--resume" in err
    assert (answer["finished"], answer["epochs_run"]) == (False, 3)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert answer == summary | {"warnings": answer["warnings"]}
    assert load_model(tmp_path / "run")  # the head's best model, as after a stop in its epochs
    records_the_seconds_and_precision_so_far(summary, calibrated=True)
    assert (summary["calibration"], summary["finetune"]) == ({}, None)  # as docs/json.md says


def records_the_seconds_and_precision_so_far(summary, calibrated):
    """A stopped run's summary had `seconds` {} and `precision` {used, why: ""} (docs/json.md
    said so): it has a finished run's stages, the time spent in each so far (none in calibration
    before it began), and the precision settled, the head's too."""
    seconds, precision = summary["seconds"], summary["precision"]
    assert {"features", "fit", "calibrate", "total"} <= set(seconds)
    assert seconds["features"] > 0 and seconds["fit"] > 0
    assert (seconds["calibrate"] > 0) is calibrated
    assert seconds["total"] >= seconds["features"] + seconds["fit"] + seconds["calibrate"]
    assert {"used", "why", "head", "head_why"} <= set(precision) and all(precision.values())


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


def test_log_times_are_year_month_day(monkeypatch):
    """serve's log said `[12/05/26 16:20:05]` (``%x``, the C locale's date), which most of the
    world reads as the 12th of May: every log time is 2026-12-05 16:20:05."""
    import datetime

    from objrec.cli.output import EVENT_TIME, LOG_LINE, err, log_handler

    record = logging.LogRecord("objrec", logging.INFO, __file__, 1, "answered", None, None)
    record.created = datetime.datetime(2026, 12, 5, 16, 20, 5).timestamp()
    assert LOG_LINE.format(record).startswith("[2026-12-05 16:20:05] INFO")
    assert EVENT_TIME.formatTime(record, EVENT_TIME.datefmt) == "2026-12-05 16:20:05"
    monkeypatch.setattr(type(err), "is_terminal", property(lambda console: True))
    assert log_handler(1)._log_render.time_format == "[%Y-%m-%d %H:%M:%S]"  # rich's, -v


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


def test_check_and_split_refuse_class_folders_differing_only_in_a_space_at_either_end(
    capsys, tmp_path, image_folder, known_facts
):
    """A Mac's ``red `` folder beside ``red`` (a shop-owner newcomer's ``Stop signs ``): check
    found nothing wrong and split made two classes that read the same in every answer."""
    (image_folder / "blue").rename(image_folder / "red ")
    code, out, _ = run(capsys, "check", image_folder, "--json")
    found = [p for p in json.loads(out)["problems"] if p["kind"] == "alike_classes"]
    assert code == 1 and [(Path(p["path"]).name, p["unusable"]) for p in found] == [("red ", True)]
    assert "class folder 'red' but for a space at either end" in found[0]["message"]
    code, _, err = run(capsys, "split", image_folder, tmp_path / "data")
    err = " ".join(err.split())
    assert code == 1 and "class folders 'red' and 'red ' of" in err
    assert "differ only in a space at either end" in err and "rename one" in err
    assert not (tmp_path / "data").exists()


def alike_split(split_dir: Path) -> Path:
    """``split_dir`` with its blue folders renamed ``Red ``, beside ``red``: as made by hand, or
    by an add before it refused them."""
    for split in ("train", "valid", "test"):
        (split_dir / split / "blue").rename(split_dir / split / "Red ")
    return split_dir


def test_check_fails_on_a_split_folder_of_classes_named_alike(capsys, split_dir):
    """``red`` and ``Red `` in train/: check found nothing wrong, and train learnt two classes
    that read the same."""
    code, out, _ = run(capsys, "check", alike_split(split_dir), "--json")
    found = [p for p in json.loads(out)["problems"] if p["kind"] == "alike_classes"]
    assert code == 1 and [Path(p["path"]).name for p in found] == ["red"]
    assert "but for case and a space at either end" in found[0]["message"]
    assert "`objrec train` refuses the two" in " ".join(found[0]["message"].split())


def test_train_refuses_a_split_folder_of_classes_named_alike(capsys, tmp_path, split_dir):
    code, out, err = run(capsys, "train", alike_split(split_dir), "--out", tmp_path / "run")
    refusal = "the class folders 'Red ' and 'red' of " + str(split_dir / "train")
    assert code == 1 and out == "" and refusal in " ".join(err.split())
    assert "differ only in case and a space at either end" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # imports objrec.train (torch): 0.1 s alone
def test_ctrl_c_under_torchrun_leaves_the_other_ranks_silent(capsys, monkeypatch, tmp_path):
    """Ctrl-C under `torchrun --nproc-per-node 2` printed a blank line and 'aborted' (rank 1's
    KeyboardInterrupt, which click turns into Abort) beside rank 0's 'interrupted after epoch 102
    ...; continue it with ...', as if something had failed: only rank 0 says what was kept."""
    import importlib

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module("objrec.train"), "train_as_asked", interrupted)
    monkeypatch.setenv("RANK", "1")
    as_split_folder(tmp_path)
    code, out, err = run(capsys, "train", tmp_path, "--out", tmp_path / "run")
    assert (code, out, err) == (130, "", "")


def test_serve_help_says_what_each_worker_costs(capsys):
    """`serve --workers` said only 'Server processes.': a user raised it for speed and got a
    copy of the model a process (2 workers: 3 GB against 1.1 GB, no faster on 2 cores)."""
    code, out, _ = run(capsys, "serve", "--help")  # the line a user reads
    said = " ".join(out.split())
    assert code == 0 and "Server processes, each with its own copy of the model." in said
    code, out, _ = run(capsys, "serve", "--help-all")
    said = " ".join(out.split())
    assert "About 1 GB a copy for a default run" in said
    assert "one already answers 4 uploads at once" in said


def test_under_torchrun_only_train_runs(capsys, monkeypatch, tmp_path):
    """`torchrun --nproc-per-node 2 -m objrec evaluate run data` evaluated twice: every result
    printed twice, and both ranks wrote run/eval-test at once. Refused, by rank 0 alone."""
    for name, value in {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    code, _, err = run(capsys, "evaluate", tmp_path / "run", tmp_path / "data")
    said = " ".join(err.split())
    assert code == 2 and "objrec evaluate runs in one process, not under torchrun" in said
    assert "WORLD_SIZE and MASTER_ADDR are set: unset them where torchrun did not" in said
    monkeypatch.setenv("RANK", "1")
    assert run(capsys, "evaluate", tmp_path / "run", tmp_path / "data") == (2, "", "")
    monkeypatch.setenv("WORLD_SIZE", "1")  # one process: it runs, as alone (here: no such run)
    monkeypatch.setenv("RANK", "0")
    said = " ".join(run(capsys, "evaluate", tmp_path / "run", tmp_path / "data")[2].split())
    assert "not under torchrun" not in said and "run does not exist" in said


def stated_as_torchrun(state_file: Path, ranks: int) -> None:
    """Rewrite the training state in ``state_file`` as written by ``ranks`` torchrun processes on
    one machine (the in-process tests cannot run torchrun; tests/test_distributed.py does)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from objrec.checkpoint import save_model_state

    with safe_open(str(state_file), framework="pt") as handle:
        header = json.loads(handle.metadata()["objrec"])
    header["processes"] = {"ranks": ranks, "per_node": ranks, "torchrun": True}
    save_model_state(state_file, load_file(str(state_file)), header)  # sealed, as objrec writes


@pytest.mark.slow
def test_a_resume_in_another_number_of_processes_says_how_to_resume_as_it_started(
    capsys, tmp_path, split_dir, monkeypatch
):
    """A run started by `torchrun --nproc-per-node 2`, resumed by `objrec train data --resume
    run`, trained on to other weights (best epoch 386 against 249, weights up to 0.056 apart)
    without a word: one process draws each epoch's batches otherwise than 2 ranks. The training
    state now records how many processes wrote it, and a resume in another number says so."""
    from objrec.cli.output import RichReporter
    from objrec.meta import Processes
    from objrec.resume_state import load_training_state

    shown = ctrl_c_at_epoch_3(monkeypatch)
    args = ["--backbone", "tiny_test", "--epochs", "5", "--aug-views", "1"]
    run_dir = tmp_path / "run"
    code, _, err = run(capsys, "train", split_dir, "--out", run_dir, *args)
    assert code == 130, err
    assert load_training_state(run_dir / "last.safetensors").progress.processes == Processes()
    stated_as_torchrun(run_dir / "last.safetensors", 2)
    monkeypatch.setattr(RichReporter, "epoch", shown)
    handler = SentenceHandler()  # as `objrec` installs it (pytest's own handler comes first here)
    log = logging.getLogger("objrec.runs")
    log.addHandler(handler)
    try:
        code, out, err = run(capsys, "train", split_dir, "--resume", run_dir, "--json")
    finally:
        log.removeHandler(handler)
    said = " ".join(err.split())
    assert code == 0, err
    warning = (
        f"warning: {run_dir} started in 2 processes under torchrun and resumes in 1 process: each "
        "epoch's batches are drawn otherwise, so it will not end with the weights it would have "
        "had uninterrupted; resume it as it started with `torchrun --nproc-per-node 2 -m objrec "
        f"train {split_dir} --resume {run_dir}`"
    )
    assert said.count(warning) == 1, said
    assert json.loads(out)["warnings"][0] == warning.removeprefix("warning: ")


def as_torchrun_rank(monkeypatch, rank: int, size: int = 2) -> None:
    """This process's environment as torchrun sets it for rank ``rank`` of ``size``."""
    torchrun = {"RANK": rank, "WORLD_SIZE": size, "LOCAL_WORLD_SIZE": size, "MASTER_ADDR": "x"}
    for name, value in torchrun.items():
        monkeypatch.setenv(name, str(value))


@pytest.mark.slow  # imports objrec.train (torch): 0.1 s alone
def test_under_torchrun_another_rank_than_0_says_which_it_is_before_its_error(
    capsys, monkeypatch, tmp_path
):
    """Under torchrun every rank printed 'error: ... run already holds a trained model ...',
    the same line twice, unmarked. An error one rank alone meets must
    still show, so each rank says its own, marked; a bad option, the same command line on every
    rank, is said by rank 0 alone."""

    def refused(*args, **kwargs):
        raise ObjrecError("run already holds a trained model")

    monkeypatch.setattr(importlib.import_module("objrec.train"), "train_as_asked", refused)
    as_split_folder(tmp_path)
    lines = {}
    for rank in (0, 1):
        as_torchrun_rank(monkeypatch, rank)
        code, _, err = run(capsys, "train", tmp_path, "--out", tmp_path / "run")
        _, _, bad_option = run(capsys, "train", tmp_path, "--out", "run", "--epoch", "3")
        _, _, bad_value = run(capsys, "train", tmp_path / "gone", "--out", "run")
        lines[rank] = (code, err, bad_option, bad_value.split(":")[:2])
    assert lines[0][:2] == (
        1,
        "loading the libraries ...\nerror: run already holds a trained model\n",
    )
    assert lines[1][:2] == (1, "rank 1 of 2: error: run already holds a trained model\n")
    assert lines[0][2].startswith("error: no such option '--epoch'") and lines[1][2] == ""
    assert lines[0][3] == ["error", " invalid value for 'DATA'"]
    assert lines[1][3] == ["rank 1 of 2", " error"]  # a folder one machine may lack


def test_a_logged_error_of_another_rank_than_0_says_which_it_is(capsys, monkeypatch):
    """Rank 1 shows the errors it logs (only those: its level is ERROR), marked as its own."""
    handler = SentenceHandler()
    record = logging.LogRecord("objrec.x", logging.ERROR, __file__, 1, "it failed", None, None)
    as_torchrun_rank(monkeypatch, 1, 4)
    handler.emit(record)
    as_torchrun_rank(monkeypatch, 0, 4)
    handler.emit(record)
    assert capsys.readouterr().err == "rank 1 of 4: error: it failed\nerror: it failed\n"


def test_a_class_named_with_control_characters_is_escaped_in_every_printed_line(capsys):
    """train's ``classes: 2 (...)`` (a reporter's note) printed a class folder named
    ``ESC]0;...`` raw: the terminal's title set, its screen cleared (security40 #4). The CLI's
    consoles escape every text they print, as they escaped their tables' cells."""
    from objrec.cli.output import RichReporter, console

    RichReporter().note("classes: 2 (\x1b]0;pwned\x07\x1b[2Jbad, ant)")  # train.classes_note
    console.print("[bold]a[/] \x1b[31mred")
    out, err = capsys.readouterr()
    assert err == "classes: 2 (\\x1b]0;pwned\\x07\\x1b[2Jbad, ant)\n"
    assert out == "a \\x1b[31mred\n"


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


def test_serve_v_in_a_terminal_shows_an_upload_s_name_escaped_as_every_other_log(
    capsys, monkeypatch
):
    """`serve -v` in a terminal logs through rich's handler, which strips only BEL, BS, VT, FF
    and CR: an upload named ``a\x1bc.jpg`` (ESC c: reset the terminal) reached the operator's
    terminal as sent, and a bidi override (U+202E, shown reversed after it: ``gpj.exe``) passed
    every handler (review2-46 finding 4). Each is escaped, as predict's lines and the script's."""
    from objrec.cli.output import SERVER_EVENTS, err, log_handler, printable
    from objrec.export.script import text

    name = "a\x1bc\u202egpj.exe\u2066.jpg"
    shown = "a\\x1bc\\u202egpj.exe\\u2066.jpg"
    assert printable(name) == shown
    assert text({"path": name, "unknown": False, "topk": [{"class": "x", "prob": 1.0}]}) == (
        f"{shown}: x 100.00%"
    )  # the exported script prints a name as predict does
    monkeypatch.setattr(type(err), "is_terminal", property(lambda console: True))
    log, handler = logging.getLogger(SERVER_EVENTS), log_handler(1)  # -v, in a terminal
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("/predict %s (1 KiB) from 127.0.0.1: x 99%%", name)
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    said = "".join(capsys.readouterr().err.split())  # rich's columns may wrap the line
    assert "\x1b" not in said and "\u202e" not in said and "\u2066" not in said, repr(said)
    assert f"/predict{shown}(1KiB)" in said, said


@pytest.mark.parametrize("encoding", ["iso8859-1", "euc_jp", "ascii"])
def test_a_python_reading_file_names_in_a_legacy_encoding_is_told_so(capsys, monkeypatch, encoding):
    """Under LANG=fr_FR.ISO-8859-1 (ja_JP.eucJP, or a C locale with UTF-8 mode off) Python reads
    a UTF-8 folder café as cafÃ©: split wrote class cafÃ© into manifest.csv, train would into
    the model, without a word. Every command now says it first, and the cure."""
    from objrec.cli.output import legacy_names_warning

    assert legacy_names_warning("utf-8") is None and legacy_names_warning("UTF8") is None
    monkeypatch.setattr(sys, "getfilesystemencoding", lambda: encoding)
    code, _, err = run(capsys, "--version")
    err = " ".join(err.split())
    assert code == 0 and f"warning: this Python reads file names as {encoding}" in err
    garbled = "caf\u00e9".encode().decode(encoding, "replace")
    assert f"café reads as {garbled} into the classes" in err and "PYTHONUTF8=1" in err
    assert ("cafÃ©" in err) == (encoding == "iso8859-1")


def test_mixed_pairs_quote_a_class_name_the_line_would_split():
    """A class named "salt, pepper" mistaken both ways with "salt" is quoted, as every other
    list of class names says it (words.quoted): unquoted, the line read as three classes."""
    from objrec.cli.evaluation import mixed_pair_lines
    from objrec.evaluate import summarize_logits

    labels = torch.tensor([0] * 10 + [1] * 10)
    predicted = torch.tensor([0] * 8 + [1] * 2 + [0] * 3 + [1] * 7)
    logits = torch.nn.functional.one_hot(predicted, 2).float() * 5
    line = mixed_pair_lines(summarize_logits(logits, labels, ["salt, pepper", "salt"]))[1]
    assert line == (
        '  "salt, pepper" and salt: 2 of 10 "salt, pepper" taken for salt, '
        '3 of 10 salt for "salt, pepper"'
    )


@pytest.mark.slow
def test_check_says_how_a_split_was_made_and_train_records_its_command(
    capsys, tmp_path, image_folder, monkeypatch
):
    """repro40: a reader of a result could not tell how its split folder was made, nor the
    command that trained the run. check names the split's source, settings and command line
    (split.json), and the run's summary records its own command and the split's record."""
    monkeypatch.chdir(tmp_path)
    split = ["split", "photos", "data", "--seed", "4", "--exclude", "blue", "--link"]
    shutil.move(image_folder, tmp_path / "photos")
    assert run(capsys, *split)[0] == 0
    code, out, _ = run(capsys, "check", "data")
    said = f"split of {tmp_path.resolve() / 'photos'}: seed 4, ratios 0.5 0.25 0.25, excluding "
    assert code == 0 and said + "blue, near-duplicates kept together" in out
    by = f"by objrec split photos data --seed 4 --exclude blue --link in {os.getcwd()}"
    assert by in " ".join(out.split())  # the folder its relative paths start from
    code, out, _ = run(capsys, "check", "data", "--json")
    assert json.loads(out)["split_record"]["command"] == ["objrec", *split]
    assert json.loads(out)["split_record"]["cwd"] == os.getcwd()
    train = ["train", "data", "--out", "run", "--backbone", "tiny_test", "--epochs", "1"]
    assert run(capsys, *train, "--aug-views", "0")[0] == 0
    made = json.loads((tmp_path / "run" / "summary.json").read_text())["provenance"]
    assert made["command"] == ["objrec", *train, "--aug-views", "0"]
    assert made["cwd"] == os.getcwd()
    assert made["split_record"] == json.loads((tmp_path / "data" / "split.json").read_text())
    (tmp_path / "data" / "split.json").unlink()  # as a split made before it
    code, out, _ = run(capsys, "check", "data", "--json")
    assert code == 0 and json.loads(out)["split_record"] is None
    assert "split of" not in run(capsys, "check", "data")[1]


@pytest.mark.slow
def test_split_classes_takes_several_names_and_check_names_them(capsys, tmp_path, image_folder):
    """`objrec split PHOTOS data --classes red green`: those classes alone, which check names;
    OUT given after --classes is said to be taken by it."""
    data = tmp_path / "data"
    code, out, _ = run(capsys, "split", image_folder, data, "--classes", "red", "green", "--json")
    assert code == 0 and set(json.loads(out)["classes"]) == {"green", "red"}
    code, out, _ = run(capsys, "check", data)
    assert code == 0 and "0.25, only the classes red and green, near-dup" in " ".join(out.split())
    code, _, err = run(capsys, "split", image_folder, "--classes", "red", tmp_path / "d2")
    assert code == 2 and "--classes takes every word after it up to the next option" in err


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


def test_train_given_both_out_and_resume_says_not_both(capsys, tmp_path):
    """mistakes41: `train data --out run2 --resume run` was told to give --out or --resume, as
    if it had given neither."""
    (tmp_path / "run").mkdir()
    code, _, err = run(
        capsys, "train", tmp_path, "--out", tmp_path / "run2", "--resume", tmp_path / "run"
    )
    assert code == 2 and err.startswith(
        "error: give --out RUN for a new run, or --resume RUN to continue one, not both (a "
        "resumed run stays in its folder) (see objrec train --help)"
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


def test_ctrl_c_in_split_says_how_far_it_got_and_that_nothing_was_written(
    tmp_path, capsys, monkeypatch
):
    """Ctrl-C said only "aborted" in every command but train, demo and predict (cli42): now how
    far the progress got and what the work left, exit 130."""
    reading = importlib.import_module("objrec.reading")
    read_first = reading.read_first

    def stop_at_red(path):  # read in order (hashed as read): the blue and green ones done
        if Path(path).parent.name == "red":
            raise KeyboardInterrupt
        return read_first(path)

    monkeypatch.setattr(reading, "read_first", stop_at_red)
    photos = make_class_folder(tmp_path / "photos", per_class=4)
    code, _, err = run(capsys, "split", photos, tmp_path / "data")
    said = " ".join(err.split())
    assert code == 130 and "aborted" not in err and "Traceback" not in err, err
    assert said == (
        f"interrupted at reading images (8 of 12 done): nothing was written to {tmp_path / 'data'}"
        ": run it again"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


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


@pytest.mark.slow  # explores twice: 0.24 s
def test_ctrl_c_while_explore_writes_again_leaves_the_earlier_outputs_whole(
    tmp_path, capsys, monkeypatch
):
    """explore replaced its files one at a time: Ctrl-C while it drew its plots left the new
    counts.csv beside the earlier run's plots, which read as one result. Its files now take their
    names together once all are written, so the earlier ones stay as they were, every one."""
    photos = make_class_folder(tmp_path / "photos", per_class=2)
    out = tmp_path / "out"
    assert run(capsys, "explore", photos, "--out", out)[0] == 0
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    make_class_folder(tmp_path / "more", per_class=3)
    shutil.copy(tmp_path / "more" / "red" / "img_02.jpg", photos / "red" / "img_02.jpg")
    plots = importlib.import_module("objrec.plots")
    monkeypatch.setattr(plots, "images_per_class", stop_at_call(1, plots.images_per_class))
    code, _, err = run(capsys, "explore", photos, "--out", out, "--force")
    said = " ".join(err.split())
    assert code == 130 and "Traceback" not in err, err
    assert said.endswith(f"nothing was written to {out}: run it again"), said
    assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier  # no staging folder left


@pytest.mark.slow  # explores twice
def test_ctrl_c_as_explore_renames_its_files_in_says_they_were_written_whole(
    tmp_path, capsys, ctrl_c_after_rename
):
    """A Ctrl-C held back while explore --force renamed its files in said "OUT holds 5 outputs
    of it, each whole (...), not the others: run it again", the whole new result in place."""
    photos = make_class_folder(tmp_path / "photos", per_class=2)
    out = tmp_path / "out"
    assert run(capsys, "explore", photos, "--out", out)[0] == 0
    ctrl_c_after_rename(lambda source, target: target == out / "counts.csv")
    code, _, err = run(capsys, "explore", photos, "--out", out, "--force")
    said = " ".join(err.split())
    assert code == 130 and "Traceback" not in err, err
    assert said.endswith(
        f"the files were written to {out}, whole, before the stop: nothing is left to do"
    ), said


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


def test_a_command_catches_up_with_the_signals_heard_before_its_last_line():
    """serve's Ctrl-C, which uvicorn raises again as it stops, was replied to by the listening
    thread whenever it ran: on a loaded machine after "stopped serving ...", the line its test
    reads as the last (4 of 6 runs at load 22). CTRL_C.catch_up returns once every signal that
    came before it has been heard, and replied to."""
    import signal

    from objrec.cli import ctrl_c_heard_at_once
    from objrec.cli.output import CTRL_C
    from objrec.errors import WORK_IN_HAND

    def handler(signum, frame):
        pass

    CTRL_C.reset()
    before = signal.signal(signal.SIGINT, handler)
    try:
        with ctrl_c_heard_at_once(handler):
            for _ in range(20):
                signal.raise_signal(signal.SIGINT)
                CTRL_C.catch_up()
                assert CTRL_C.said.is_set()
                CTRL_C.reset()
    finally:
        signal.signal(signal.SIGINT, before)
        CTRL_C.reset()
        WORK_IN_HAND.reset()  # each reply stopped the work in hand
    CTRL_C.catch_up()  # no command listening: returns at once


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


@pytest.mark.slow  # two fresh interpreters importing objrec's CLI (1 to 5 s)
def test_train_refuses_its_data_or_out_from_paths_alone_before_loading_the_libraries(tmp_path):
    """`objrec train data-r2 --out run2` (run2 holding a model) said "run2/model.safetensors
    exists" after 28 s of "loading the libraries", and a
    DATA that is no split folder as late: both are said from paths and headers alone, at once."""
    import subprocess

    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "valid").mkdir()
    (tmp_path / "photos" / "red").mkdir(parents=True)
    (tmp_path / "run").mkdir()
    fake_checkpoint(tmp_path / "run" / "model.safetensors")
    (tmp_path / "run" / "summary.json").write_text('{"finished": true}')
    (tmp_path / "busy").mkdir()  # a run another train holds, its training state there
    fake_checkpoint(tmp_path / "busy" / "last.safetensors")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    said = {
        ("photos", "new"): "error: photos is not a split folder: it has no train and no valid",
        ("data", "run"): f"error: {tmp_path.resolve() / 'run' / 'model.safetensors'} exists: "
        "run already holds a trained model; choose another --out or pass --force",
    }
    for (data, out), sentence in said.items():
        command = [sys.executable, "-m", "objrec", "train", data, "--out", out]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
        err = " ".join(done.stderr.split())
        assert done.returncode == 1 and err.startswith(sentence), err
        assert "loading the libraries" not in err and not (tmp_path / "new").exists()
    import fcntl

    other = os.open(tmp_path / "busy", os.O_RDONLY)
    try:  # not "holds an interrupted run: continue it with --resume": the library's RUN_BUSY
        fcntl.flock(other, fcntl.LOCK_EX)
        command = [sys.executable, "-m", "objrec", "train", "data", "--out", "busy"]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
    finally:
        os.close(other)
    assert "interrupted run" not in done.stderr and "loading the libraries" in done.stderr


def test_a_loop_of_links_is_said_to_be_one_not_a_link_to_nothing(capsys, tmp_path):
    """`ln -s lp2 lp1; ln -s lp1 lp2`: check and split said "lp1 is a link to nothing", predict
    "a link to lp2, which is not there (moved or deleted since it was linked)", though lp2 is
    there."""
    from objrec.images import broken_link_reason

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


@pytest.mark.slow
def test_predict_says_its_answers_before_a_full_disk_refuses_its_csv(
    capsys, monkeypatch, tmp_path, trained_run, split_dir
):
    """predict --csv on a full disk computed every answer and printed none: the table was
    written before the lines. The lines say every answer, then the error."""
    import errno

    table = tmp_path / "p.csv"

    def full(results, path, force=False):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(importlib.import_module("objrec.predict_outputs"), "write_csv", full)
    code, out, err = run(capsys, "predict", trained_run, split_dir / "test" / "red", "--csv", table)
    images = sorted((split_dir / "test" / "red").iterdir())
    assert code == 1 and all(image.name in out for image in images) and "written to" not in out
    assert f"the disk of {tmp_path} is full: {table} could not be written" in " ".join(err.split())
    assert "give --csv a place on a disk with room" in " ".join(err.split())


def test_a_torchrun_process_its_agent_stops_says_so_not_interrupted(capsys, monkeypatch, tmp_path):
    """Under torchrun, one rank's error, then rank 0 (stopped by torchrun's SIGTERM) said
    "interrupted before its work began: nothing was written", read as a Ctrl-C."""
    import signal

    def stopped_by_the_agent(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)

    class Unhandled(Exception):
        pass

    def unhandled(*args):
        raise Unhandled("objrec left SIGTERM to its default: the process would have ended")

    for name, value in {"WORLD_SIZE": "2", "MASTER_ADDR": "localhost", "RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(
        importlib.import_module("objrec.train"), "train_as_asked", stopped_by_the_agent
    )
    as_split_folder(tmp_path / "data")
    previous = signal.signal(signal.SIGTERM, unhandled)  # never end pytest itself
    try:
        code, _, err = run(capsys, "train", tmp_path / "data", "--out", tmp_path / "run")
    finally:
        signal.signal(signal.SIGTERM, previous)
    said = " ".join(err.split())
    assert code == 128 + signal.SIGTERM and "interrupted" not in said, said
    assert "stopped by torchrun (another of its processes failed, its error above, or " in said


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


def test_explore_says_it_writes_beside_data_in_its_help_and_last_line(
    tmp_path, capsys, monkeypatch
):
    """review53b L1: `cd elsewhere && objrec explore /shared/photos` wrote photos-explore beside
    the (shared) photo folder; --help said only "Folder for the CSVs and plots". The help's first
    lines and the closing line say where it goes, and how to choose another."""
    code, out, _ = run(capsys, "explore", "--help")
    first = " ".join(out.split("Options:")[0].split())
    assert code == 0 and "DATA-explore, beside DATA wherever you run it from (--out for" in first
    photos = make_class_folder(tmp_path / "photos", per_class=2)
    monkeypatch.chdir(make_class_folder(tmp_path / "elsewhere", per_class=1))
    code, out, _ = run(capsys, "explore", photos)
    last = out.splitlines()[-1]  # a line of its own: the summary's end made it 190 characters
    assert code == 0 and last == (
        f"CSVs and plots in {tmp_path / 'photos-explore'} (beside DATA; --out for another)"
    ), last
    code, out, _ = run(capsys, "explore", photos, "--out", tmp_path / "mine")
    assert "beside DATA" not in out


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


def test_split_dry_run_says_the_split_and_writes_nothing_in_out(capsys, tmp_path):
    """review60b F23: add had --dry-run, split not: a user could not see how a folder would fall
    (its counts, its warnings) without writing it. split --dry-run says it all and writes
    nothing in OUT: no folder made, an earlier split left as it was (--force too)."""
    photos = make_class_folder(tmp_path / "photos", per_class=4)
    out = tmp_path / "data"
    code, dry, err = run(capsys, "split", photos, out, "--dry-run")
    assert code == 0 and not out.exists() and "warning:" in err
    assert dry.startswith(f"would split 3 classes into {out}: train 6, valid 3, test 3"), dry
    assert dry.rstrip().endswith(f"nothing written in {out} (--dry-run)")
    code, said, _ = run(capsys, "split", photos, out, "--dry-run", "--json")
    answer = json.loads(said)
    assert code == 0 and answer["dry_run"] and not out.exists()
    assert answer["totals"] == {"train": 6, "valid": 3, "test": 3}
    code, done, _ = run(capsys, "split", photos, out, "--json")
    assert code == 0 and json.loads(done) == answer | {"dry_run": False}  # as it said
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    code, _, err = run(capsys, "split", photos, out, "--dry-run", "--seed", "3")
    assert code == 1 and "holds an earlier split" in err  # refused, as the split would be
    code, dry, _ = run(capsys, "split", photos, out, "--dry-run", "--seed", "3", "--force")
    assert code == 0 and dry.startswith("would split 3 classes")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps


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


def test_split_into_a_folder_the_system_cannot_make_says_so(tmp_path, capsys, monkeypatch):
    """review53b nit 10: `split SRC /proc/foo` said "/proc/foo: no such file or directory", as if
    a folder were missing; it could not make it. (A file system that refuses new folders, as
    /proc does even to root, stands in for /proc.)"""
    import errno
    import pathlib

    photos = make_class_folder(tmp_path / "photos", per_class=4)
    out = tmp_path / "proc" / "foo"
    made = pathlib.Path.mkdir

    def refused(self, *args, **kwargs):
        if self == out:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(self))
        return made(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", refused)
    code, _, err = run(capsys, "split", photos, out)
    said = " ".join(err.split())
    assert code == 1 and said == f"error: cannot make the folder {out}: no such file or directory"
