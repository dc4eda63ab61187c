"""export, share and serve through the CLI (``cli/delivery.py``)."""

import logging
from pathlib import Path

import click

from .test_cli import run


def test_serve_help_says_what_its_page_takes(capsys):
    """serve --help said its page takes "an image", picked or dropped: it takes several at once
    (a row each) and the computer's camera (tests/test_page.py)."""
    code, out, _ = run(capsys, "serve", "--help-all")
    out = " ".join(out.split())
    assert code == 0 and "a page: pick, drop or take (camera) photos, a row each" in out


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
