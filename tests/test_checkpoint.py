import json
import logging
import pickle
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from objrec.checkpoint import load_model, read_checkpoint, save_checkpoint, save_model_state
from objrec.config import DataConfig, TrainConfig
from objrec.errors import ObjrecError
from objrec.meta import Calibration, RunMeta
from objrec.run_files import BEST

from .conftest import drawn_weights, make_image


class Payload:
    """Unpickling this creates a marker file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.slow
def test_checkpoint_round_trip_predicts_the_same(trained_once):
    model, meta = load_model(trained_once)
    assert meta.classes == ["blue", "green", "red"]
    assert meta.backbone == "tiny_test" and meta.format_version == 3
    assert meta.head.members == 5 and meta.head.n_features == 16
    assert meta.data == DataConfig(32, 36, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert meta.train_config is not None and meta.train_config.backbone == "tiny_test"
    assert meta.best_epoch is not None and meta.valid_loss is not None
    assert RunMeta.from_json(meta.to_json()) == meta
    again, _ = load_model(trained_once / BEST)
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(model(x), again(x))


def test_an_export_given_as_a_checkpoint_says_to_give_its_run_folder(tmp_path):
    """`objrec predict run/model.onnx photo.jpg` said only "not an objrec checkpoint"."""
    for name, hint in (("model.onnx", True), ("model.pt", False)):
        (tmp_path / name).write_bytes(b"\x08\x07not safetensors")
        with pytest.raises(ObjrecError) as caught:
            load_model(tmp_path / name)
        said = str(caught.value)
        assert "not an objrec checkpoint" in said
        assert ("for an export, give the run folder it came from" in said) == hint


def test_an_export_without_the_onnx_suffix_says_to_give_its_run_folder_too(tmp_path):
    """s35's `objrec export run --out export` wrote the model as `export` (no suffix) beside
    `export.json`: `objrec predict export photo.jpg` a month later, or its sidecar given, said only
    "not an objrec checkpoint" (upgrade40 #2). A file beside a sidecar of another objrec file is
    no export."""
    (tmp_path / "export").write_bytes(b"\x08\x07not safetensors")
    (tmp_path / "export.json").write_text(json.dumps({"objrec_version": "0.1.0"}))
    (tmp_path / "model.safetensors").write_bytes(b"\x08\x07not safetensors")
    (tmp_path / "model.json").write_text(json.dumps({"objrec_version": "0.1.0"}))
    for name, hint in (("export", True), ("export.json", True), ("model.safetensors", False)):
        with pytest.raises(ObjrecError) as caught:
            load_model(tmp_path / name)
        said = str(caught.value)
        assert ("for an export, give the run folder it came from" in said) == hint, name


def test_a_pickle_with_a_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(Payload(str(marker))))
    torch_file = tmp_path / "model.pt"
    torch_file.write_bytes(pickle.dumps({"state": Payload(str(marker))}))
    for path in (evil, torch_file):
        with pytest.raises(ObjrecError, match="not an objrec checkpoint"):
            load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content", [b"", b"\x00" * 100, b"random bytes" * 50], ids=["empty", "zeros", "junk"]
)
def test_files_that_are_not_checkpoints_are_refused(tmp_path, content):
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    with pytest.raises(ObjrecError):
        read_checkpoint(path)


@pytest.mark.slow
def test_truncated_checkpoint_and_other_versions_are_refused(tmp_path, trained_run):
    data = (trained_run / BEST).read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ObjrecError):
        read_checkpoint(tmp_path / "cut.safetensors")
    state, meta = read_checkpoint(trained_run)
    for version, hint in ((99, "upgrade objrec"), (0, "retrain")):
        save_model_state(
            tmp_path / "v.safetensors", state, {**meta.to_json(), "format_version": version}
        )
        with pytest.raises(ObjrecError, match=hint) as refused:
            read_checkpoint(tmp_path / "v.safetensors")
        # review59a L4: it said "reads format 2", where format 1 is read too
        said = (
            f"v.safetensors has checkpoint format {version}; this objrec reads formats 1, 2 and 3:"
        )
        assert said in str(refused.value)
    for version in (1, 2, 3):  # 1: before the stacked head; its per-member keys are converted
        save_model_state(
            tmp_path / "v.safetensors", state, {**meta.to_json(), "format_version": version}
        )
        assert read_checkpoint(tmp_path / "v.safetensors")[1].format_version == version
    save_file(state, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ObjrecError, match="not an objrec checkpoint"):
        read_checkpoint(tmp_path / "plain.safetensors")


@pytest.mark.parametrize("header", ["{not json", "[1, 2]", "7"])
def test_a_header_that_is_not_a_json_object_is_not_an_objrec_checkpoint(
    tmp_path, trained_once, header
):
    """objrec metadata that was not JSON gave a JSONDecodeError traceback, a JSON list an
    AttributeError one; now either is one sentence naming the file."""
    state, _ = read_checkpoint(trained_once)
    path = tmp_path / "odd.safetensors"
    save_file(state, str(path), metadata={"objrec": header})
    with pytest.raises(ObjrecError, match=f"^{path} is not an objrec checkpoint"):
        read_checkpoint(path)


@pytest.mark.parametrize("change", [-1, 1])
def test_classes_that_do_not_match_the_head_are_refused_when_read(tmp_path, trained_once, change):
    """A checkpoint naming fewer classes than its head has outputs loaded, then predict failed
    with an IndexError traceback; with more, the extra classes were silently never answered.
    Either is refused when the checkpoint is read, in one sentence naming it."""
    state, meta = read_checkpoint(trained_once)
    header = meta.to_json()
    classes = header["classes"]
    header["classes"] = classes[:change] if change < 0 else [*classes, "extra"]
    path = tmp_path / "c.safetensors"
    save_model_state(path, state, header)
    with pytest.raises(ObjrecError, match=f"^{path} .* {len(classes) + change} classes for a head"):
        load_model(path)


@pytest.mark.slow
def test_weights_of_the_wrong_shape_are_a_clear_error(tmp_path, trained_run):
    state, meta = read_checkpoint(trained_run)
    header = meta.to_json()
    header["head"]["hidden"] = 32
    save_model_state(tmp_path / "w.safetensors", state, header)
    with pytest.raises(ObjrecError, match="does not fit the architecture"):
        load_model(tmp_path / "w.safetensors")


@pytest.mark.parametrize("change", ["missing", "stray"])
def test_a_weight_missing_or_one_the_model_lacks_is_refused_not_left_at_random(
    tmp_path, trained_once, change
):
    """A checkpoint without one of the head's tensors would give a model with that layer left
    as built (random), answering nonsense without a word; one with a tensor the model has no
    place for was made by something else. Either is refused when loaded."""
    state, meta = read_checkpoint(trained_once)
    if change == "missing":
        del state[next(k for k in sorted(state) if k.startswith("head."))]
    else:
        state["head.stray"] = torch.zeros(1)
    path = tmp_path / "w.safetensors"
    save_model_state(path, state, meta.to_json())
    with pytest.raises(ObjrecError, match="does not fit the architecture"):
        load_model(path)


@pytest.mark.slow
def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path, trained_run, monkeypatch):
    model, meta = load_model(trained_run)
    (tmp_path / "ckpt").mkdir()
    target = tmp_path / "ckpt" / "ckpt.safetensors"
    save_checkpoint(target, model, meta)
    before = target.read_bytes()

    def crash(fd):  # the new file written whole, not yet renamed over the old one: Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr("objrec.checkpoint.os.fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(target, model, meta)
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["ckpt.safetensors"]


@pytest.mark.slow
def test_a_run_from_before_the_float16_default_reads_its_float32_features(trained_run):
    _, meta = load_model(trained_run)
    assert meta.feature_dtype == "float16"  # the default now
    header = meta.to_json()
    del header["train_config"]["feature_dtype"]  # as runs written before the field existed
    assert RunMeta.from_json(header).feature_dtype == "float32"


@pytest.mark.slow
def test_a_checkpoint_gets_the_permissions_of_any_new_file(tmp_path, trained_run):
    model, meta = load_model(trained_run)
    save_checkpoint(tmp_path / "m.safetensors", model, meta)
    (tmp_path / "plain").write_text("")
    mode = (tmp_path / "plain").stat().st_mode & 0o777
    assert (tmp_path / "m.safetensors").stat().st_mode & 0o777 == mode


def per_member_keys(state: dict) -> dict:
    """A checkpoint's head as written before the members' weights were stacked."""
    layers = {"hidden_weight": "0.weight", "hidden_bias": "0.bias"}
    layers |= {"out_weight": "3.weight", "out_bias": "3.bias"}
    old = {k: v for k, v in state.items() if not k.startswith("head.")}
    for name, key in layers.items():
        for m, tensor in enumerate(state[f"head.{name}"]):
            old[f"head.members.{m}.{key}"] = tensor.clone()
    return old


@pytest.mark.slow
def test_a_checkpoint_with_one_set_of_weights_per_member_still_loads(tmp_path, trained_run):
    state, meta = read_checkpoint(trained_run)
    save_model_state(tmp_path / "old.safetensors", per_member_keys(state), meta.to_json())
    old, _ = load_model(tmp_path / "old.safetensors")
    model, _ = load_model(trained_run)
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(model(x), old(x))


def test_a_write_that_fails_names_the_file_asked_for_not_its_temporary_name(tmp_path, monkeypatch):
    """A full disk met when the data is flushed names no file, and one met on the temporary file
    names that: both are reported about the checkpoint's own name. An error about another file
    keeps its name. No temporary file is left either way."""
    import os

    from objrec.checkpoint import atomic_write

    target = tmp_path / "model.safetensors"
    temporary = tmp_path / f".objrec-{os.getpid()}-{'0' * 32}.part"
    monkeypatch.setattr("objrec.checkpoint.temporary_name", lambda path: temporary)
    other = tmp_path / "source.bin"
    for error, named in (
        (OSError(28, "No space left on device"), target),
        (OSError(28, "No space left on device", str(temporary)), target),
        (PermissionError(13, "Permission denied", str(other)), other),
    ):

        def fails(fd, error=error):
            raise error

        monkeypatch.setattr("objrec.checkpoint.os.fsync", fails)
        with pytest.raises(OSError) as caught:
            atomic_write(target, b"features")
        assert caught.value.filename == str(named) and type(caught.value) is type(error)
        assert sorted(p.name for p in tmp_path.iterdir()) == []


def some_tensors() -> dict[str, torch.Tensor]:
    return {
        "w": torch.randn(3, 5),
        "half": torch.randn(7).half(),
        "steps": torch.arange(4),
        "empty": torch.zeros(0),
    }


def test_atomic_save_writes_the_bytes_save_makes_and_no_temporary_file(tmp_path, monkeypatch):
    """safetensors' ``save_file`` writes a ``.tmpXXXXXX`` file of its own beside the file it is
    given: a run killed meanwhile left it in the run folder, where nothing could tell it from
    another program's. It is written in a folder of objrec's temporary name now."""
    from safetensors.torch import save

    import objrec.checkpoint
    from objrec.checkpoint import atomic_save
    from objrec.leftovers import is_leftover

    seen = []

    def save_file(tensors, name, metadata):  # what a kill in the middle of it would leave
        seen.extend((p.name, is_leftover(p)) for p in tmp_path.iterdir())
        real_save_file(tensors, name, metadata=metadata)

    real_save_file = objrec.checkpoint.save_file
    monkeypatch.setattr(objrec.checkpoint, "save_file", save_file)
    tensors, header = some_tensors(), {"objrec": json.dumps({"kind": "test"})}
    atomic_save(tmp_path / "a.safetensors", tensors, header)
    assert (tmp_path / "a.safetensors").read_bytes() == save(tensors, metadata=header)
    assert [p.name for p in tmp_path.iterdir()] == ["a.safetensors"]
    assert len(seen) == 1 and seen[0][1] and seen[0][0].endswith(".d")  # objrec's, and a folder


def test_a_write_save_file_fails_is_made_again_and_its_os_error_names_the_file(
    tmp_path, monkeypatch
):
    """safetensors' save_file reports a full disk as its own SafetensorError, without errno: the
    file is written again from ``save``'s bytes, whose failure names the file asked for."""
    from safetensors import SafetensorError
    from safetensors.torch import save

    from objrec.checkpoint import atomic_save

    def cut_short(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise SafetensorError("Error while serializing: IoError(Os { code: 28 })")

    monkeypatch.setattr("objrec.checkpoint.save_file", cut_short)
    tensors, target = some_tensors(), tmp_path / "a.safetensors"
    atomic_save(target, tensors, {})  # the disk had room again
    assert target.read_bytes() == save(tensors, metadata={})

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("objrec.checkpoint.os.fsync", full)
    with pytest.raises(OSError) as caught:
        atomic_save(tmp_path / "b.safetensors", tensors, {})
    assert caught.value.filename == str(tmp_path / "b.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["a.safetensors"]


@pytest.mark.slow
def test_a_checkpoint_the_disk_cannot_hold_is_an_os_error_naming_it(tmp_path, trained_run):
    """A real failed write (the file size limit stands in for a full disk): an OSError about the
    checkpoint's own name, which the CLI turns into one sentence; safetensors' save_file raised
    its own SafetensorError, which ended in a traceback."""
    import resource
    import signal

    model, meta = load_model(trained_run)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "model.safetensors"
    limits, handler = resource.getrlimit(resource.RLIMIT_FSIZE), signal.getsignal(signal.SIGXFSZ)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, not the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, limits[1]))
    try:
        with pytest.raises(OSError) as caught:
            save_checkpoint(target, model, meta)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    assert caught.value.filename == str(target) and caught.value.errno is not None
    assert list(target.parent.iterdir()) == []  # no temporary file left


def saved_head_state(tmp_path, monkeypatch, device):
    """A head's training state written and read back while its head is on ``device`` (a GPU is
    only pretended: ``resume_state.model_device`` says so, the CUDA RNG calls are recorded)."""
    from objrec.config import TrainConfig
    from objrec.engine import EarlyStopping, FitState
    from objrec.model import build_head
    from objrec.resume_state import load_training_state, training_state, write_training_state

    calls = []
    cuda_state = torch.arange(16, dtype=torch.uint8)

    def get_rng_state(device):
        calls.append(("get", device))
        return cuda_state.clone()

    where = lambda module: torch.device(device)  # noqa: E731
    monkeypatch.setattr("objrec.resume_state.model_device", where, raising=False)
    monkeypatch.setattr(torch.cuda, "get_rng_state", get_rng_state)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, d: calls.append(("set", s, d)))
    config = TrainConfig(backbone="tiny_test", heads=1)
    head = build_head(8, 3, config.hidden, config.dropout, config.heads)
    optimizer = torch.optim.Adam(head.parameters())
    meta = RunMeta.for_model("tiny_test", ["a", "b", "c"], DataConfig(), 8, config)
    state = FitState(EarlyStopping(5), epoch=1, best_state=head.state_dict())
    write_training_state(tmp_path / "last", training_state(head, optimizer, state, meta))
    return load_training_state(tmp_path / "last"), head, optimizer, calls, cuda_state


def test_a_resumed_gpu_run_gets_back_the_cuda_rng_its_dropout_draws_from(tmp_path, monkeypatch):
    """The training state held the CPU RNG only: on a GPU the head's dropout draws from the CUDA
    RNG, so a resumed GPU run dropped other units than an uninterrupted one."""
    from objrec.resume_state import restore_training_state

    saved, head, optimizer, calls, cuda_state = saved_head_state(tmp_path, monkeypatch, "cuda:1")
    assert calls == [("get", torch.device("cuda:1"))]
    restore_training_state(saved, head, optimizer)
    assert calls[1][0] == "set" and torch.equal(calls[1][1], cuda_state)
    assert calls[1][2] == torch.device("cuda:1")


def test_a_cpu_state_resumes_on_a_gpu_and_a_gpu_state_on_the_cpu(tmp_path, monkeypatch):
    """No CUDA RNG in a state saved on the CPU (or by an objrec before it saved one): nothing to
    set on a GPU; a GPU's CUDA RNG is not set on the CPU."""
    from objrec.resume_state import restore_training_state

    saved, head, optimizer, calls, _ = saved_head_state(tmp_path, monkeypatch, "cpu")
    assert calls == [] and "rng.cuda" not in saved.tensors
    monkeypatch.setattr("objrec.resume_state.model_device", lambda module: torch.device("cuda", 0))
    restore_training_state(saved, head, optimizer)
    assert calls == []
    saved, head, optimizer, calls, _ = saved_head_state(tmp_path, monkeypatch, "cuda:0")
    monkeypatch.setattr("objrec.resume_state.model_device", lambda module: torch.device("cpu"))
    restore_training_state(saved, head, optimizer)
    assert [call[0] for call in calls] == ["get"]


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ({"head": None}, "its metadata lacks `head`"),
        ({"backbone": "resnet9000"}, "its backbone 'resnet9000' is none this objrec ("),
        ({"calibration": {"temperature": 0}}, "temperature must be above zero"),
        ({"head": {"hidden": -3}}, "the head's `hidden` must be at least 0, not -3"),
    ],
    ids=["no-head", "unknown-backbone", "temperature-0", "negative-head"],
)
def test_metadata_that_cannot_be_used_is_one_sentence_naming_the_checkpoint(
    tmp_path, trained_once, edit, words
):
    """A checkpoint's metadata refused said why but not which file ("unknown backbone ...", when
    predict was given several runs), and a head of impossible size was PyTorch's traceback."""
    state, meta = read_checkpoint(trained_once)
    header = meta.to_json()
    for key, value in edit.items():
        if value is None:
            del header[key]
        else:
            header[key] = {**header[key], **value} if isinstance(header[key], dict) else value
    path = tmp_path / "edited.safetensors"
    save_model_state(path, state, header)
    with pytest.raises(ObjrecError, match=f"^cannot load the checkpoint {path}: ") as caught:
        load_model(path)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ({"temperature": float("nan")}, "temperature must be above zero and finite, not nan"),
        ({"temperature": float("inf")}, "temperature must be above zero and finite, not inf"),
        ({"unknown_threshold": float("nan")}, "unknown threshold must be a number, not nan"),
        ({"unknown_threshold": "0.5"}, "its metadata's `calibration` is not an object of cal"),
        (None, "its metadata's `classes` names 'blue' more than once: one class each"),
    ],
    ids=["temperature-nan", "temperature-inf", "threshold-nan", "threshold-string", "classes"],
)
def test_a_sealed_model_file_s_impossible_calibration_or_classes_are_refused_on_load(
    tmp_path, trained_once, edit, words
):
    """A model file edited by hand and sealed again loaded a temperature of NaN (predict said
    "nan%" for every class, exit 0) or inf (every class alike), a threshold of NaN (nothing ever
    unknown) or "0.5" (a TypeError at the first answer), and five classes named alike (review57a
    L1): each is refused in one sentence naming the file."""
    state, meta = read_checkpoint(trained_once)
    header = meta.to_json()
    if edit is None:
        header["classes"] = ["blue"] * len(header["classes"])
    else:
        header["calibration"] = {**header["calibration"], **edit}
    path = tmp_path / "edited.safetensors"
    save_model_state(path, state, header)
    with pytest.raises(ObjrecError, match=f"^cannot load the checkpoint {path}: ") as caught:
        load_model(path)
    assert words in str(caught.value) and "Error" not in str(caught.value)


@pytest.mark.parametrize(
    ("entry", "value", "words"),
    [
        ("classes", 5, "its metadata's `classes` is not a list of class names"),
        ("classes", "abc", "its metadata's `classes` is not a list of class names"),
        (
            "calibration",
            {"temperature": "1.5", "unknown_score": "msp", "unknown_threshold": 0.5},
            "its metadata's `calibration` is not an object of calibration settings, numbers "
            "(its temperature, its threshold)",
        ),
        ("valid", [0.5, 0.9], "its metadata's `valid` is not an object of the validation loss"),
        ("format_version", "two", "its metadata's `format_version` is not a whole number"),
        ("backbone", None, "its metadata lacks `backbone`"),
    ],
    ids=["classes-int", "classes-string", "temperature-string", "valid-list", "version", "none"],
)
def test_a_malformed_metadata_entry_is_one_sentence_naming_it_not_python_s_exception(
    tmp_path, trained_once, entry, value, words
):
    """review55a L3: `classes: 5` said "the checkpoint's metadata is incomplete
    (TypeError("'int' object is not iterable"))", a string temperature Python's "'<=' not
    supported between instances of 'str' and 'int'": neither named the entry nor what it should
    be. (A string of classes was read as one class per letter.)"""
    from objrec.model_file import checkpoint_meta

    header = read_checkpoint(trained_once)[1].to_json()
    if value is None:
        del header[entry]
    else:
        header[entry] = value
    path = tmp_path / "edited.safetensors"
    with pytest.raises(ObjrecError) as caught:
        checkpoint_meta(path, header, "0" * 32)
    said = str(caught.value)
    assert said.startswith(f"cannot load the checkpoint {path}: {words}"), said
    assert "Error" not in said


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda head: head.pop("n_features"), "its head lacks `n_features`"),
        (lambda head: head.update(hidden="wide"), "`hidden` must be a whole number, not 'wide'"),
    ],
    ids=["missing", "wrong-type"],
)
def test_a_head_missing_a_size_or_of_a_wrong_type_is_one_sentence(
    tmp_path, trained_once, edit, words
):
    """A head without `n_features` was "the checkpoint's metadata is incomplete" and Python's
    TypeError about a positional argument; it says which setting the head lacks."""
    state, meta = read_checkpoint(trained_once)
    header = meta.to_json()
    edit(header["head"])
    path = tmp_path / "edited.safetensors"
    save_model_state(path, state, header)
    with pytest.raises(ObjrecError, match=f"^cannot load the checkpoint {path}: ") as caught:
        read_checkpoint(path)
    assert str(caught.value).endswith(words)


LATER = {
    "head": {"norm": "layer"},
    "data_config": {"crop_mode": "squash"},
    "train_config": {"mixup": 0.2},
    "calibration": {"bias": 0.1},
}
"""Settings a later objrec might add to each config a checkpoint carries."""


def test_a_checkpoint_with_settings_of_a_later_objrec_loads_and_names_them(
    tmp_path, trained_once, caplog
):
    """A checkpoint whose head had a setting this objrec does not know (written by a later one)
    could not be loaded ("metadata is incomplete"): it loads, and a warning names each setting
    ignored and the file; the model answers as before."""
    model, meta = load_model(trained_once)
    header = meta.to_json()
    for entry, added in LATER.items():
        header[entry] = header[entry] | added
    header["later_section"] = {"anything": 1}
    path = tmp_path / "later.safetensors"
    state, _ = read_checkpoint(trained_once)
    save_model_state(path, state, header)
    with caplog.at_level(logging.WARNING, logger="objrec"):
        later, read = load_model(path)
    assert read == meta
    said = [m for m in caplog.messages if m.startswith(f"{path}: its ")]
    assert len(said) == len(LATER), caplog.messages
    for (entry, added), message in zip(LATER.items(), said, strict=True):
        assert f"its {entry} has settings this objrec does not know" in message
        assert message.endswith(f"ignored: {', '.join(added)}")
    # a later entry of its own was ignored without a word (a sharer42 finding)
    assert f"{path}: it holds entries this objrec does not know" in caplog.text
    assert caplog.text.count("ignored: later_section") == 1
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(model(x), later(x))


def test_a_later_objrec_s_settings_are_warned_of_once_by_a_command_that_reads_the_model_twice(
    tmp_path, trained_run, caplog
):
    """report reads the checkpoint, then loads the model: each warned of the later objrec's head
    setting, so the page's log said it twice. Within one command (``warned_once_per_file``) a
    file's settings are warned of once."""
    from objrec.warned import warned_once_per_file

    state, meta = read_checkpoint(trained_run)
    header = meta.to_json()
    header["head"] |= {"norm": "layer"}
    save_model_state(trained_run / BEST, state, header)
    with caplog.at_level(logging.WARNING, logger="objrec"), warned_once_per_file():
        read_checkpoint(trained_run)
        load_model(trained_run)
    said = [m for m in caplog.messages if "settings this objrec does not know" in m]
    assert len(said) == 1, said
    with caplog.at_level(logging.WARNING, logger="objrec"):
        read_checkpoint(trained_run)  # a later command is told again
    assert len([m for m in caplog.messages if "does not know" in m]) == 2


def test_settings_an_earlier_objrec_wrote_are_left_out_without_a_word(trained_once, caplog):
    """`init_from` and `extra`, train settings of an earlier objrec, are no later one's."""
    meta = read_checkpoint(trained_once)[1].to_json()
    meta["train_config"] |= {"init_from": None, "extra": {}}
    with caplog.at_level(logging.WARNING, logger="objrec"):
        RunMeta.from_json(meta)
    assert caplog.messages == []


def test_an_int8_body_whose_graph_is_damaged_is_one_sentence(tmp_path, trained_run):
    """A checkpoint whose int8 body's graph was damaged loaded, then the first image gave ONNX
    Runtime's InvalidProtobuf traceback (predict's default runtime, and serve's with torch)."""
    from objrec.inference import Recognizer

    state, meta = read_checkpoint(trained_run)
    state = {k.replace("body.", "body.float_body.", 1): v for k, v in state.items()}
    state["body.int8_graph"] = torch.frombuffer(bytearray(b"not an onnx graph"), dtype=torch.uint8)
    path = tmp_path / "int8.safetensors"
    save_model_state(path, state, meta.to_json())
    recognizer = Recognizer.load(path, "torch")
    with pytest.raises(ObjrecError, match=r"int8 body cannot be run: .* damaged or not ONNX"):
        recognizer.probabilities([make_image((200, 40, 40))])


def tiny_saver(tmp_path: Path):
    """A tiny head, its Adam, an ``EpochSaver`` writing in ``tmp_path``, and ``epoch(n)``: one
    step of training, then the saver's call for epoch ``n``."""
    from objrec.config import TrainConfig
    from objrec.engine import EarlyStopping, FitState
    from objrec.model import build_head
    from objrec.resume_state import EpochSaver

    config = TrainConfig(backbone="tiny_test", heads=2)
    head = build_head(8, 3, config.hidden, config.dropout, config.heads)
    optimizer = torch.optim.Adam(head.parameters())
    meta = RunMeta.for_model("tiny_test", ["a", "b", "c"], DataConfig(), 8, config)
    saver = EpochSaver(tmp_path, head, optimizer, meta)

    def epoch(n: int) -> None:
        head(torch.randn(4, 8)).pow(2).sum().backward()
        optimizer.step()
        saver(FitState(EarlyStopping(5), epoch=n, best_state=head.state_dict()))

    return head, optimizer, saver, epoch


def test_each_epochs_training_state_is_copied_into_the_last_ones_tensors(tmp_path):
    """The saver copies the head and Adam's moments after every epoch (60 MB for the default
    head): into the copies of the epoch before the last (the last's may wait to be written), not
    fresh memory (whose pages cost 119,000 page faults a fit of the 100-class protocol), still
    the epoch's own numbers, and written as such."""
    from objrec.resume_state import load_training_state

    head, optimizer, saver, epoch = tiny_saver(tmp_path)
    kept = []
    for n in (1, 2, 3):
        epoch(n)
        tensors = saver.pending[0]
        kept.append(
            {k: v.data_ptr() for k, v in tensors.items() if k.startswith(("head.", "optim."))}
        )
        assert all(torch.equal(tensors[f"head.{k}"], v) for k, v in head.state_dict().items())
    assert len(kept[0]) == 4 * len(head.state_dict())  # the head, Adam's step and 2 moments
    assert kept[0] == kept[2]
    assert not set(kept[0].values()) & set(kept[1].values())  # two sets of copies, taking turns
    saver.flush()
    saved = load_training_state(tmp_path / "last.safetensors")
    assert saved.progress.epoch == 3
    for k, v in head.state_dict().items():
        assert torch.equal(saved.tensors[f"head.{k}"], v)
    moments = optimizer.state_dict()["state"][0]
    assert torch.equal(saved.tensors["optim.0.exp_avg"], moments["exp_avg"])


def test_a_stop_while_an_epochs_state_is_copied_leaves_the_last_one_whole(tmp_path, monkeypatch):
    """Ctrl-C during the copy after epoch 4 (a few milliseconds of each epoch) flushes epoch 3's
    state: the copy goes into other tensors than the ones waiting to be written, never part of
    epoch 4's numbers over epoch 3's under epoch 3's header."""
    from objrec import resume_state
    from objrec.resume_state import load_training_state

    head, _, saver, epoch = tiny_saver(tmp_path)
    for n in (1, 2, 3):
        epoch(n)
    epoch3 = {k: v.clone() for k, v in head.state_dict().items()}
    calls, cpu_copy = [], resume_state.cpu_copy

    def stopped(tensor, into=None):
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return cpu_copy(tensor, into)

    monkeypatch.setattr(resume_state, "cpu_copy", stopped)
    with pytest.raises(KeyboardInterrupt):
        epoch(4)
    saver.flush()
    saved = load_training_state(tmp_path / "last.safetensors")
    assert saved.progress.epoch == 3
    assert all(torch.equal(saved.tensors[f"head.{k}"], v) for k, v in epoch3.items())


def test_a_stopped_run_s_model_file_given_itself_is_said_to_be_unfinished(tmp_path, caplog):
    """predict, evaluate, serve and export say a run whose training was stopped is unfinished
    when given its folder; given its model file (RUN/model.safetensors, which they all take),
    they said nothing of it. A checkpoint elsewhere (no run folder around it) is not a run."""
    import logging

    from objrec.checkpoint import warn_if_unfinished
    from objrec.run_files import BEST, LAST

    run = tmp_path / "run"
    run.mkdir()
    for name in (BEST, LAST, "epoch3.safetensors"):
        (run / name).write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="objrec"):
        warn_if_unfinished(run / BEST)
        warn_if_unfinished(run / "epoch3.safetensors")  # a copy of the user's: not the run's
        (run / LAST).unlink()
        warn_if_unfinished(run / BEST)  # finished
    assert [m.split(":")[0] for m in caplog.messages] == [f"{run} holds an unfinished run"]


def test_a_forced_retrain_stopped_before_its_model_is_not_said_unfinished(tmp_path, caplog):
    """train --force stopped before its model is written leaves the earlier, finished run whole
    (its model, its summary) with the new run's last.safetensors beside it, for --resume:
    predict, evaluate, serve, export and share said that folder's model was the best so far,
    uncalibrated, with no "unknown" threshold of its own, of the earlier run's finished model."""
    import json
    import logging

    from objrec.checkpoint import warn_if_unfinished
    from objrec.run_files import BEST, LAST

    run = tmp_path / "run"
    run.mkdir()
    for name in (BEST, LAST):
        (run / name).write_bytes(b"")
    (run / "summary.json").write_text(json.dumps({"finished": True, "seconds": {"total": 1.0}}))
    with caplog.at_level(logging.WARNING, logger="objrec"):
        warn_if_unfinished(run)
        (run / "summary.json").write_text(json.dumps({"finished": False}))  # Ctrl-C's own
        warn_if_unfinished(run / BEST)
    assert [m.split(":")[0] for m in caplog.messages] == [f"{run} holds an unfinished run"]


EARLIER_CALIBRATION_KEYS = {"temperature", "unknown_threshold", "unknown_score"}
"""What an objrec from before 99f5350 takes in the metadata's calibration (``Calibration(**it)``):
any other key there and it refuses the whole checkpoint as incomplete."""


def test_a_checkpoint_s_threshold_image_count_leaves_earlier_objrecs_able_to_load_it():
    """The count of validation images the threshold was chosen on travels outside the calibration
    entry, which an earlier objrec reads key for key (a run trained now, served by last week's
    objrec: 'metadata is incomplete (unexpected keyword argument validation_images)'); it reads
    back, from there or from inside calibration (runs written in between), and a key a later
    objrec adds to calibration is left out, not refused."""
    meta = RunMeta.for_model("efficientnet_lite0", ["a", "b"], DataConfig(), 8, TrainConfig())
    meta = replace(meta, calibration=Calibration(1.5, 0.3, "msp", 36))
    written = json.loads(json.dumps(meta.to_json()))
    assert set(written["calibration"]) == EARLIER_CALIBRATION_KEYS
    assert RunMeta.from_json(written).calibration == meta.calibration
    between = {**written, "calibration": {**written["calibration"], "validation_images": 12}}
    del between["threshold_images"]
    assert RunMeta.from_json(between).calibration.validation_images == 12
    later = {**written, "calibration": {**written["calibration"], "a_later_key": 1}}
    assert RunMeta.from_json(later).calibration == meta.calibration
    unrecorded = replace(meta, calibration=Calibration(1.5, 0.3, "msp"))
    assert "threshold_images" not in unrecorded.to_json()
    assert RunMeta.from_json(unrecorded.to_json()).calibration.validation_images is None


def test_an_int8_run_whose_fine_tuning_was_not_kept_stays_loadable_by_earlier_objrecs():
    """An int8 body's fine-tuning that was not kept leaves a run of precision int8 with
    ``finetune_blocks`` set (aeed77f), which an objrec from before it refuses on loading ("
    `finetune_blocks` trains the body in fp32"). The checkpoint's train_config says 0 blocks, true
    of its model (no block of it was tuned), and the setting travels beside it, read back."""
    config = TrainConfig(precision="int8", finetune_blocks=2)
    meta = RunMeta.for_model("efficientnet_lite0", ["a", "b"], DataConfig(), 8, config)
    written = json.loads(json.dumps(meta.to_json()))
    earlier = written["train_config"]  # what an earlier objrec's TrainConfig checks
    assert earlier["precision"] != "int8" or not earlier["finetune_blocks"]
    assert RunMeta.from_json(written).train_config == config
    fp32 = replace(meta, train_config=replace(config, precision="fp32"))
    assert "finetune_blocks" not in fp32.to_json()  # the earlier form holds it
    assert RunMeta.from_json(fp32.to_json()).train_config.finetune_blocks == 2


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc")
def test_a_loaded_model_holds_no_part_of_its_file(trained_once, tmp_path):
    """The model kept tensors of its file's mapping: a copy over the file in place (cp) killed
    a running serve with SIGBUS at its next answer."""
    import shutil

    run = Path(shutil.copytree(trained_once, tmp_path / "run"))
    model, _ = load_model(run)
    assert str(run / BEST) not in Path("/proc/self/maps").read_text()
    (run / BEST).write_bytes(b"")  # in place, as cp begins: the model still answers
    assert torch.isfinite(model(torch.zeros(1, 3, 32, 32))[0]).all()


def test_a_state_says_how_many_processes_wrote_it_and_an_older_one_is_not_known(
    tmp_path, monkeypatch, caplog
):
    """A resume in another number of processes than the run started in trains on to other
    weights: the state records the processes, a resume compares them (an older state, which
    does not say, is resumed without a word)."""
    from objrec.meta import Processes
    from objrec.resume_state import (
        load_training_state,
        restore_training_state,
        training_state,
        write_training_state,
    )
    from objrec.runs import warn_of_other_processes

    saved, head, optimizer, _, _ = saved_head_state(tmp_path, monkeypatch, "cpu")
    assert saved.progress.processes is None  # not given: not known
    fit_state = restore_training_state(saved, head, optimizer)
    state = training_state(head, optimizer, fit_state, saved.meta, None, Processes(4, 2, True))
    write_training_state(tmp_path / "last", state)
    assert load_training_state(tmp_path / "last").progress.processes == Processes(4, 2, True)
    with caplog.at_level(logging.WARNING, logger="objrec"):
        warn_of_other_processes(tmp_path, None, Processes(), tmp_path / "data")
        warn_of_other_processes(tmp_path, Processes(4, 2, True), Processes(4, 4, True), tmp_path)
        assert caplog.messages == []  # not known; spread otherwise over machines, drawn alike
        warn_of_other_processes(tmp_path, Processes(1, 1, True), Processes(), tmp_path)
    assert caplog.messages == [
        f"{tmp_path} started in 1 process under torchrun and resumes in 1 process: each epoch's "
        "batches are drawn otherwise, so it will not end with the weights it would have had "
        "uninterrupted; resume it as it started with `resume=True`"
    ]


def test_a_resumed_fit_ends_with_the_best_epochs_head_not_the_last_one(tmp_path):
    """A run stopped after an epoch that did not beat an earlier one ends, once resumed, with the
    earlier epoch's head (early stopping keeps the best validation loss): the training state
    carries the best head beside the last one, and a resume restores it as the best."""
    from objrec.engine import EarlyStopping, FitState, Stopping, fit
    from objrec.model import build_head
    from objrec.resume_state import load_training_state, restore_training_state

    head, optimizer, saver, epoch = tiny_saver(tmp_path)
    epoch(1)
    best = {k: v.clone() for k, v in head.state_dict().items()}
    head(torch.randn(4, 8)).pow(2).sum().backward()
    optimizer.step()  # epoch 2: a worse validation loss
    stopper = EarlyStopping(5)
    stopper.step(0.5, 1)
    stopper.step(0.7, 2)
    saver(FitState(stopper, epoch=2, best_state=best))
    saver.flush()
    config = TrainConfig(backbone="tiny_test", heads=2)
    resumed = build_head(8, 3, config.hidden, config.dropout, config.heads)
    adam = torch.optim.Adam(resumed.parameters())
    state = restore_training_state(
        load_training_state(tmp_path / "last.safetensors"), resumed, adam
    )
    assert (state.epoch, state.best_epoch) == (2, 1)
    fit(resumed, lambda e: [], lambda: [], adam, Stopping(2, 5), state=state)  # no epoch left
    assert all(torch.equal(v, best[k]) for k, v in resumed.state_dict().items())
    assert not all(torch.equal(v, head.state_dict()[k]) for k, v in best.items())


def fit_on_losses(monkeypatch, head, optimizer, losses, epochs, **fitting):
    """``engine.fit`` of ``head`` on one fixed batch, its validation losses ``losses`` in turn,
    patience 5 (the run's, ``tiny_saver``'s) and ``--min-delta`` 0.001."""
    from objrec import engine

    told = iter(losses)
    monkeypatch.setattr(engine, "evaluate_loss", lambda m, b: {"loss": next(told), "acc": 0.5})
    x, y = torch.ones(4, 8), torch.tensor([0, 1, 2, 0])
    return engine.fit(
        head,
        lambda e: [(x, y)],
        lambda: [],
        optimizer,
        engine.Stopping(epochs, 5, min_delta=0.001),
        **fitting,
    )


@pytest.mark.parametrize(
    "losses, kept, ran",
    [
        ([1.0, 0.9995, 1.1, 1.2, 1.3, 1.4], 2, 6),
        ([1.0, 0.9995, 1.1, 0.9987, 1.2, 1.3, 1.4, 1.5, 1.6], 4, 9),
    ],
    ids=["lowest_by_less", "reference_kept"],
)
def test_a_resumed_fit_keeps_the_lowest_epoch_and_stops_as_one_never_stopped(
    tmp_path, monkeypatch, losses, kept, ran
):
    """A fit keeps its lowest validation loss, lower by less than --min-delta or not (epoch 2's
    0.9995 after 1.0), while patience counts from the last epoch lower by more (epoch 1's).
    Stopped after epoch 3 and resumed, it keeps the epoch, the head and the stop of a fit never
    stopped: the state carries early stopping's reference beside the lowest (resumed from
    0.9995 alone, epoch 4's 0.9987 would count for nothing: the second fit would stop at epoch
    6, not 9). A state written before the reference was (an earlier objrec's) resumes too, from
    its best."""
    from objrec.model import build_head
    from objrec.model_file import META_KEY
    from objrec.resume_state import (
        load_training_state,
        restore_training_state,
        write_training_state,
    )

    def new_head():
        torch.manual_seed(0)
        head = build_head(8, 3, config.hidden, config.dropout, config.heads)
        return head, torch.optim.Adam(head.parameters())

    config = TrainConfig(backbone="tiny_test", heads=2)
    whole = fit_on_losses(monkeypatch, *(made := new_head()), losses, 20)
    assert (whole.best_epoch, whole.epoch) == (kept, ran)
    head, optimizer, saver, _ = tiny_saver(tmp_path)
    head.load_state_dict(new_head()[0].state_dict())  # and the RNG as the whole fit had it
    fit_on_losses(monkeypatch, head, optimizer, losses[:3], 3, on_epoch_end=saver)
    saver.flush()
    resumed, adam = new_head()
    path = tmp_path / "last.safetensors"
    state = restore_training_state(load_training_state(path), resumed, adam)
    state = fit_on_losses(monkeypatch, resumed, adam, losses[3:], 20, state=state)
    assert (state.best_epoch, state.epoch) == (kept, ran)
    assert all(torch.equal(v, made[0].state_dict()[k]) for k, v in resumed.state_dict().items())
    saved = load_training_state(path)
    stopper = {k: v for k, v in saved.header["stopper"].items() if k != "reference"}
    header = json.dumps(saved.header | {"stopper": stopper})
    write_training_state(path, (saved.tensors, {META_KEY: header}))
    earlier = restore_training_state(load_training_state(path), *(older := new_head()))
    assert earlier.stopper.reference == earlier.stopper.best == 0.9995
    assert fit_on_losses(monkeypatch, *older, losses[3:], 20, state=earlier).epoch == 6


def test_a_model_file_is_no_training_state_to_resume(trained_run):
    """A run's model file given where its training state belongs (``last.safetensors`` copied
    over by hand) is refused in one sentence, not read as one (a KeyError on its epoch)."""
    from objrec.resume_state import load_training_state

    with pytest.raises(ObjrecError, match="is not a training state"):
        load_training_state(trained_run / BEST)


def flipped(path: Path, at: int) -> Path:
    """``path`` with one bit of its byte ``at`` flipped in place (negative: from its end)."""
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("where", ["a weight", "the header"])
def test_a_flipped_byte_of_a_model_is_refused_in_one_sentence_naming_it(trained_run, where):
    """safetensors checks a file's header, not its values: a model with one bit of a weight
    flipped (a bad copy, a failing disk) loaded, and answered wrong without a word; so did one
    with a class renamed or a digit of its temperature changed in its header, still JSON. The
    file holds its own SHA-256, checked as it is read."""
    from objrec.checkpoint import seal_at

    path = trained_run / BEST
    data = path.read_bytes()
    at = -(len(data) // 3) if where == "a weight" else data.index(b"blue")
    flipped(path, at)  # b"blue" -> b"clue"
    with pytest.raises(ObjrecError) as refused:
        load_model(trained_run)
    assert str(refused.value) == (
        f"{path} is damaged: its bytes no longer match the SHA-256 objrec recorded in it when it "
        "was written (a changed byte, a bad copy or disk), so its answers cannot be trusted: copy "
        "it again from where it came, or train the run again"
    )
    assert seal_at(data) is not None


@pytest.mark.parametrize("within", ["its tensors", "its header"])
def test_a_model_cut_short_is_said_to_be_cut_short_with_its_size(trained_run, within):
    """A model cut short (50 MB of 84.5 MB: a copy that stopped) was said as "its bytes no longer
    match the SHA-256 ... (a changed byte, a bad copy or disk)", or, cut within its header, as
    "not an objrec checkpoint (not a readable safetensors file)": its header says how long it
    is, so the sentence says which, and what to do."""
    path = trained_run / BEST
    data = path.read_bytes()
    header = 8 + int.from_bytes(data[:8], "little")
    kept = len(data) * 2 // 3 if within == "its tensors" else header // 2
    path.write_bytes(data[:kept])
    with pytest.raises(ObjrecError) as refused:
        load_model(trained_run)
    short = (
        f"it holds {kept:,} of the {len(data):,} bytes its header describes"
        if within == "its tensors"
        else f"it holds {kept:,} bytes, fewer than the {header:,} of its header alone"
    )
    assert str(refused.value) == (
        f"{path} is cut short: {short} (a copy or download that stopped, or a full disk), so its "
        "answers cannot be trusted: copy it again from where it came, or train the run again"
    )


@pytest.mark.slow  # a resume refused by the CLI (3 s)
def test_a_flipped_byte_of_a_training_state_is_refused_in_one_sentence_naming_it(
    tmp_path, split_dir, capsys
):
    """``last.safetensors`` held no digest: a resume read a changed byte of a weight or of Adam's
    moments as it was, and trained on from it without a word. It is sealed as a model file is,
    and a resume of a damaged one is refused in one sentence naming it and what to do."""
    from objrec.checkpoint import seal_at
    from objrec.cli import main
    from objrec.resume_state import load_training_state
    from objrec.run_files import trained_on

    run = tmp_path / "run"
    run.mkdir()
    _, _, saver, epoch = tiny_saver(run)
    epoch(1)
    saver.flush()
    path = run / "last.safetensors"
    assert load_training_state(path).progress.epoch == 1 and seal_at(path.read_bytes())
    flipped(path, -100)
    damaged = (
        f"{path} is damaged: its bytes no longer match the SHA-256 objrec recorded in it when it "
        "was written (a changed byte, a bad copy or disk), so its training cannot go on from it: "
        "start the run over with {}"
    )
    with pytest.raises(ObjrecError) as refused:
        load_training_state(path)
    assert str(refused.value) == damaged.format("`train(data, out=run, force=True)`")
    assert main(["train", str(split_dir), "--resume", str(run)]) == 1  # --resume ignores --force
    again = f"`objrec train {trained_on(path) or 'DATA'} --out {run} --force`"
    assert damaged.format(again) in " ".join(capsys.readouterr().err.split())


def test_a_shared_zip_given_as_the_run_is_said_to_be_one_not_damaged(tmp_path, trained_run):
    """``objrec predict our-model.zip photo.jpg`` (share --zip's file, not yet unzipped) said the
    zip "is damaged: its bytes no longer match the SHA-256 objrec recorded in it ... copy it
    again": the model it stores uncompressed holds the digest's mark, which was looked for in the
    whole zip as if it were a header. A file whose first bytes are no safetensors header has no
    digest to check; a zip is said to be one, to unzip."""
    import zipfile

    from objrec.checkpoint import seal_at

    shared = tmp_path / "our-model.zip"
    with zipfile.ZipFile(shared, "w", zipfile.ZIP_STORED) as archive:
        archive.write(trained_run / BEST, f"our-model/{BEST}")
    data = shared.read_bytes()
    assert data.find(b'"objrec_sha256":"') > 0 and seal_at(data) is None
    with pytest.raises(ObjrecError) as refused:
        load_model(shared)
    assert str(refused.value) == (
        f"{shared} is not an objrec checkpoint but a zip file: unzip it, and give the folder it "
        "holds"
    )


LOAD_AND_ANSWER = """
import sys, torch
from objrec.checkpoint import load_model
from objrec.inference import Recognizer
model, meta = load_model(sys.argv[1])
Recognizer(model, meta).answer_from_features([torch.zeros(2, meta.head.n_features)])
print(" ".join(name for name in ("torchvision", "torch._dynamo") if name in sys.modules))
"""


@pytest.mark.slow  # a new process, forked from one that imported torch
def test_a_run_loaded_and_answering_stored_features_imports_no_torch_dynamo(
    trained_once, preloaded_python
):
    """predict of photos the store holds (after evaluate) and evaluate answer from stored
    features without torchvision (and its torch._dynamo: inference.Recognizer._transform); the
    head built on the meta device (3c8853a) imported torch._dynamo all the same, through
    torch.stack's meta kernel: 1.2 to 2.3 s before predict's answer to one photo."""
    done = preloaded_python.run(LOAD_AND_ANSWER, trained_once)
    assert (done.returncode, done.stdout.strip()) == (0, ""), done.stderr + done.stdout


def test_a_model_read_carries_the_digest_of_the_bytes_read(trained_run, tmp_path):
    """``RunMeta.digest``: the model file's ``model_digest`` (``file_index.hash_file``'s value, so
    that records made either way compare), of the bytes the tensors came from, never saved into
    a checkpoint, and no part of what makes two metadata the same."""
    from objrec.checkpoint import model_digest

    model, meta = load_model(trained_run)
    assert meta.digest == read_checkpoint(trained_run / BEST)[1].digest == model_digest(trained_run)
    save_checkpoint(tmp_path / "again.safetensors", model, replace(meta, digest="0" * 32))
    again = read_checkpoint(tmp_path / "again.safetensors")[1]
    assert again.digest == model_digest(tmp_path / "again.safetensors") != "0" * 32
    assert again == meta


def test_a_training_state_is_checked_but_never_hashed_for_a_digest_no_record_names(
    tmp_path, monkeypatch
):
    """A model's load hashes its bytes twice, by definition: its own SHA-256's check (the 64
    digits read as zeros) and its content digest (read as written), apart from the header on
    (benchmarks/README.md, "load_hashes.py"). A training state is resumed from, never named in
    a record: its digest, one SHA-256 of 80 MB (the default head's) more at every resume, is not
    computed; its check still is."""
    from objrec import checkpoint
    from objrec.resume_state import load_training_state

    saved_head_state(tmp_path, monkeypatch, "cpu")
    digested, checked = [], []
    monkeypatch.setattr(checkpoint, "content_digest", lambda data: digested.append(data) or "d")
    check = checkpoint.require_intact
    monkeypatch.setattr(checkpoint, "require_intact", lambda *a: checked.append(a) or check(*a))
    load_training_state(tmp_path / "last")
    assert (len(digested), len(checked)) == (0, 1)
    checkpoint.read_model_state(tmp_path / "last")  # a model's read names it by its digest
    assert (len(digested), len(checked)) == (1, 2)


def test_a_model_holds_the_sha256_of_its_bytes_with_that_digest_read_as_zeros(trained_run):
    """What the recorded digest is, so that any tool can check it: the SHA-256 of the file with
    the 64 hex digits of its ``objrec_sha256`` metadata read as zeros."""
    import hashlib

    from objrec.checkpoint import SEAL_KEY, seal_at

    data = (trained_run / BEST).read_bytes()
    at = seal_at(data)
    mark = f'"{SEAL_KEY}":"'.encode()
    assert at is not None and data[at - len(mark) : at] == b'"objrec_sha256":"'
    recorded = data[at : at + 64].decode()
    assert hashlib.sha256(data[:at] + b"0" * 64 + data[at + 64 :]).hexdigest() == recorded


def test_a_model_written_before_its_digest_was_recorded_loads_as_before(tmp_path, trained_run):
    """A checkpoint of an objrec before 5 December 2026 has no digest, nor its objrec_version
    (recorded since after the seal): it loads as it did (a flipped byte of it goes unseen)."""
    state, meta = read_checkpoint(trained_run)
    path = tmp_path / "old.safetensors"
    header = {k: v for k, v in meta.to_json().items() if k != "objrec_version"}
    save_file(state, str(path), metadata={"objrec": json.dumps(header)})
    flipped(path, -100)
    _, loaded = load_model(path)
    assert loaded.classes == meta.classes


def test_a_model_whose_seal_is_gone_from_a_header_naming_its_objrec_is_refused(trained_run):
    """A model whose header lost its SHA-256 key (one changed byte of it) loaded silently as an
    old objrec's, unchecked, and ``check`` called it "written before objrec recorded a file's
    SHA-256", though its header names the objrec_version that wrote it, sealed.
    """
    from objrec import __version__
    from objrec.check_run import check_run
    from objrec.model_file import read_meta

    path = trained_run / BEST
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"objrec_sha256":"', b'"objrec_sha25X":"', 1))
    flipped(path, -100)
    damaged = (
        f"{path} was saved again by a tool that kept objrec's entry in its header but not "
        "`objrec_sha256`, or is damaged (a changed byte, a bad copy or disk): its header says "
        f"objrec {__version__} wrote it, which records a file's SHA-256 in it, and that SHA-256 "
        "is gone from it, so its answers cannot be trusted: copy it again from where it came, or "
        "train the run again"
    )
    for read in (load_model, read_meta):
        with pytest.raises(ObjrecError) as refused:
            read(trained_run)
        assert str(refused.value) == damaged
    checked = check_run(trained_run)
    assert [(p.kind, p.message) for p in checked.problems] == [("damaged", damaged)]


def test_one_model_saved_again_is_the_same_file(tmp_path, trained_run):
    """safetensors writes its metadata's entries in a random order: with the digest beside the
    metadata, one model saved twice made two files of two digests half the time (the digest that
    names the model an evaluation, or a kept threshold, was made with). Their keys are put in
    order."""
    model, meta = load_model(trained_run)
    saved = set()
    for n in range(8):
        save_checkpoint(tmp_path / f"{n}.safetensors", model, meta)
        saved.add((tmp_path / f"{n}.safetensors").read_bytes())
    assert len(saved) == 1


def test_a_loaded_model_takes_its_file_s_tensors_without_drawing_or_copying_weights(
    trained_run, monkeypatch
):
    """Loading a run's model built it with weights drawn at random, then copied the file's
    tensors over them (``load_state_dict``), for every predict, evaluate, serve and export: it is
    built on the meta device and takes the tensors read from the file as its own, as a train's
    bodies take their weights files' (07da5eb). The same model, state for state and answer for
    answer, as one built and then loaded."""
    from objrec import checkpoint
    from objrec.checkpoint import build_from_meta

    loaded: dict[str, torch.Tensor] = {}

    def recorded(path: Path) -> tuple[dict[str, torch.Tensor], RunMeta]:
        state, meta = read_checkpoint(path)
        loaded.update(state)
        return loaded, meta

    monkeypatch.setattr(checkpoint, "read_checkpoint", recorded)
    drawn = drawn_weights(monkeypatch)  # per random draw: on the meta device (no memory)
    model, meta = load_model(trained_run)
    monkeypatch.undo()
    assert drawn and all(drawn)
    for name, tensor in model.state_dict().items():
        assert tensor.data_ptr() == loaded[name].data_ptr(), name

    state, _ = read_checkpoint(trained_run)
    before = build_from_meta(meta)  # as it was loaded
    before.familiarity = checkpoint.familiarity_from_state(state)
    before.load_state_dict(state, strict=True)
    assert model.state_dict().keys() == before.state_dict().keys()
    for name, tensor in before.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(model(x), before.eval()(x))
        assert torch.equal(model.familiarity(model.body(x)), before.familiarity(before.body(x)))


@pytest.mark.parametrize("name", ["model.onnx", "model.zip", "model.bin"])
def test_a_file_the_refusal_names_is_refused_without_the_readers_traceback(tmp_path, name):
    """notebook63: `Recognizer.load("run2/model.onnx")` said the file is an export, after a
    chained traceback of safetensors' "header too large", of no use. Where the sentence says
    what the file is (an export, a zip) the error is raised alone; where it cannot, the
    reader's refusal stays chained under it."""
    import traceback
    import zipfile

    from objrec import Recognizer, load_model

    given = tmp_path / name
    if name.endswith(".zip"):
        with zipfile.ZipFile(given, "w") as shared:
            shared.writestr("run/model.safetensors", b"x")
    else:
        given.write_bytes(bytes(range(256)) * 8)
    for load in (load_model, Recognizer.load):
        with pytest.raises(ObjrecError, match="is not an objrec checkpoint") as refused:
            load(given)
        shown = "".join(traceback.format_exception(refused.value))
        assert ("SafetensorError" in shown) == name.endswith(".bin"), shown
