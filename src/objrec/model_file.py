"""objrec's model and training-state files without PyTorch: the SHA-256 each holds of itself
(its seal: written, checked), its header's metadata, and what a run folder holds by them.

``check RUN`` reads a run with these alone (``check_run``): a file's bytes against their seal and
its metadata need no tensor, and PyTorch's import took most of that command's seconds.
``checkpoint`` reads the tensors beside them.
"""

from __future__ import annotations

import hashlib
import io
import json
import mmap
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from objrec.errors import ObjrecError
from objrec.file_index import DIGEST_CHARS, hash_file
from objrec.meta import (
    FORMAT_VERSION,
    READABLE_FORMATS,
    FinetuneProgress,
    Processes,
    RunMeta,
    TrainingProgress,
)
from objrec.outputs import is_export_sidecar
from objrec.run_files import (
    BEST,
    require_checkpoint_file,
)
from objrec.words import joined, plural

META_KEY = "objrec"
"""The ``__metadata__`` key of an objrec checkpoint's own metadata (a JSON object)."""


SEAL_KEY = "objrec_sha256"
"""The metadata key of a model file's own SHA-256 (:func:`save_checkpoint`): the digest of the
whole file with these 64 hex digits read as zeros, written in place of those zeros once the file
is written (:func:`seal`) and checked whenever it is read (:func:`require_intact`). A file from
an objrec before 5 December 2026 has none, and loads as it did."""
UNSEALED = b"0" * 64
_SEAL_MARK = f'"{SEAL_KEY}":"'.encode()

DAMAGED = (
    "{path} {why}, so its answers cannot be trusted: copy it again from where it came, or train "
    "the run again"
)
"""``{why}``: :data:`MISMATCHED`, :data:`CUT_SHORT` or :data:`SEAL_GONE`, each with its causes."""
STATE_DAMAGED = (
    "{path} {why}, so its training cannot go on from it: start the run over with "
    "`train(data, out=run, force=True)`"
)
"""A training state's :data:`DAMAGED`: its run is resumed from it, never answers with it. The
command is spelled out: one resuming it (`resume=True`) does not read `force=True`."""
MISMATCHED = (
    "is damaged: its bytes no longer match the SHA-256 objrec recorded in it when it was written "
    "(a changed byte, a bad copy or disk)"
)
CUT_SHORT = (
    "is cut short: it holds {size:,} of the {whole:,} bytes its header describes (a copy or "
    "download that stopped, or a full disk)"
)
"""A :data:`MISMATCHED` file shorter than its safetensors header says: which of the causes it is."""
HEADER_CUT_SHORT = (
    "is cut short: it holds {size:,} bytes, fewer than the {header:,} of its header alone (a "
    "copy or download that stopped, or a full disk)"
)
"""A file cut short within its safetensors header, which safetensors cannot read at all."""
SEAL_GONE = (
    "was saved again by a tool that kept objrec's entry in its header but not `objrec_sha256`, "
    "or is damaged (a changed byte, a bad copy or disk): its header says objrec {version} wrote "
    "it, which records a file's SHA-256 in it, and that SHA-256 is gone from it"
)
"""Not only damage: a file saved again by safetensors with objrec's metadata alone keeps every
tensor as it was."""


HEADER_LIMIT = 100_000_000
"""The longest header safetensors reads: a longer length is no safetensors file's."""


def seal_at(data: bytes) -> int | None:
    """Where the digest in the header of ``data`` (a safetensors file's first bytes, or all of
    them) begins; None in a file without one (an earlier objrec's), and in one that is no
    safetensors file: a zip of a run (``share --zip``) stores its model whole, digest and all."""
    length = int.from_bytes(data[:8], "little")
    if length > HEADER_LIMIT or data[8:9] != b"{":
        return None
    found = data.find(_SEAL_MARK, 8, 8 + length)
    return None if found < 0 else found + len(_SEAL_MARK)


def seal(f: BinaryIO) -> str:
    """Write the SHA-256 of the open file ``f``, read whole with its digest's placeholder
    (:data:`UNSEALED`), over that placeholder; its metadata's entries first put in key order
    (:func:`in_key_order`). Returns the SHA-256 (hex, whole) of the file as sealed, from the bytes
    read for the seal (:func:`whole_view`): a writer names its file by it (``summary.json``'s
    ``model_digest``, ``share``'s ``SHA256SUMS``) without reading it back. Two SHA-256 passes by
    definition: the file's own covers the seal's digits (``checkpoint.read_model_state``)."""
    head = f.read(8)
    head += in_key_order(f.read(int.from_bytes(head, "little")))
    at = seal_at(head)
    assert at is not None and head[at : at + 64] == UNSEALED, "no placeholder to seal"
    with whole_view(f) as whole, whole[len(head) :] as body:
        sealed = hashlib.sha256(head)
        sealed.update(body)
        head = head[:at] + sealed.hexdigest().encode() + head[at + 64 :]
        digest = hashlib.sha256(head)
        digest.update(body)
    f.seek(0)
    f.write(head)
    return digest.hexdigest()


@contextmanager
def whole_view(f: BinaryIO) -> Iterator[memoryview]:
    """The bytes of the open file ``f``, without a copy: its buffer (``io.BytesIO``), or the
    file mapped (read from the page cache as hashed, and again by a second pass at no cost: a
    97 MB model read back in 1 MiB chunks cost a read of it)."""
    if isinstance(f, io.BytesIO):
        with f.getbuffer() as view:
            yield view
        return
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped, memoryview(mapped) as view:
        yield view


_JSON = json.JSONDecoder()


def in_key_order(header: bytes) -> bytes:
    """A safetensors header, its ``__metadata__`` entries put in key order, each as written:
    safetensors writes them in a random order, so that one model saved twice made two files
    of two digests (:func:`model_digest`, which names the model an evaluation or a kept
    threshold was made with). The same bytes in another order: the header's length stays."""
    text = header.decode()
    start = text.find("{", text.find('"__metadata__":')) + 1
    if start <= 0:
        return header
    entries, at = [], start
    while text[at] == '"':
        key, after = _JSON.raw_decode(text, at)
        _, end = _JSON.raw_decode(text, after + 1)  # after the key's ':'
        entries.append((key, text[at:end]))
        at = end + (text[end] == ",")
    ordered = ",".join(entry for _, entry in sorted(entries))
    return (text[:start] + ordered + text[start + len(ordered) :]).encode()


class Damaged(ObjrecError):
    """A file whose bytes no longer match the SHA-256 objrec recorded in it (:data:`SEAL_KEY`):
    told apart from one that is no checkpoint at all by ``check`` of a run."""


def is_sealed(path: Path) -> bool:
    """Whether the safetensors file ``path`` records its own SHA-256 (only its header is read);
    False for one an earlier objrec wrote, and for what cannot be read."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            head += f.read(min(int.from_bytes(head, "little"), HEADER_LIMIT))
    except OSError:
        return False
    return len(head) > 8 and seal_at(head) is not None


def require_intact(path: Path, data: bytes, damaged: str = DAMAGED) -> None:
    """Refuse ``data``, the bytes of the checkpoint ``path``, when they no longer match the
    SHA-256 recorded in them (:data:`SEAL_KEY`), in the sentence ``damaged`` (of ``{path}``,
    ``{why}``). One without a digest passes as it is when an objrec before 5 December 2026 wrote
    it; one whose header names the objrec that wrote it (``objrec_version``, recorded since after
    the seal) lost its seal to a changed byte, and loaded as an old file, unchecked."""
    at = seal_at(data)
    if at is None:
        version = writer_version(data)
        if version is not None:
            raise Damaged(damaged.format(path=path, why=SEAL_GONE.format(version=version)))
        return
    view = memoryview(data)
    digest = hashlib.sha256(view[:at])
    digest.update(UNSEALED)
    digest.update(view[at + 64 :])
    if digest.hexdigest().encode() != view[at : at + 64]:
        raise Damaged(damaged.format(path=path, why=cut_short(data) or MISMATCHED))


def cut_short(data: bytes) -> str | None:
    """:data:`CUT_SHORT`, or :data:`HEADER_CUT_SHORT`, for ``data``, a safetensors file's bytes,
    when they are fewer than its header says; None otherwise."""
    if (short := header_short_of(data[:9], len(data))) is not None:
        return short
    whole = described_size(data)
    if whole is None or len(data) >= whole:
        return None
    return CUT_SHORT.format(size=len(data), whole=whole)


def described_size(data: bytes) -> int | None:
    """How many bytes the safetensors file whose first bytes are ``data`` is, by its header: the
    header's length, the header, and the tensors' bytes up to the last one's end. None where
    the header cannot be read (cut short in it, or no safetensors header)."""
    length = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(bytes(data[8 : 8 + length]))
        ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    return 8 + length + max(ends, default=0)


def writer_version(data: bytes) -> str | None:
    """The ``objrec_version`` the header of ``data`` (a safetensors file's bytes) names: every
    objrec that records it seals the file too. None where it names none, or is no objrec
    header (a zip of a run, a file of someone else's: refused further on, in their words)."""
    if data[8:9] != b"{" or int.from_bytes(data[:8], "little") > HEADER_LIMIT:
        return None
    try:
        header = json.loads(safetensors_metadata(data).get(META_KEY, "{}"))
    except (ValueError, AttributeError):  # AttributeError: a header that is no object
        return None
    version = header.get("objrec_version") if isinstance(header, dict) else None
    return version if isinstance(version, str) else None


def is_onnx_file(path: Path) -> bool:
    """Whether ``path`` looks like ``objrec export``'s output: by its suffix, or its sidecar
    (``outputs.is_export_sidecar``), given or beside it (an export's ``--out`` without a suffix,
    ``export`` and ``export.json``); a ``.safetensors`` file beside one is a checkpoint."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".onnx", ".safetensors"):
        return suffix == ".onnx"
    return is_export_sidecar(path) or is_export_sidecar(path.with_suffix(".json"))


@contextmanager
def named_in_errors(path: Path) -> Iterator[None]:
    """An ObjrecError in the block (a checkpoint's metadata refused) as a sentence naming
    ``path``, the checkpoint it came from: one run folder among several may hold the odd one."""
    try:
        yield
    except ObjrecError as exc:
        raise ObjrecError(f"cannot load the checkpoint {path}: {exc}", exc.values) from exc


def is_checkpoint(path: Path) -> bool:
    """True for a run folder holding a checkpoint, or a file whose safetensors header is objrec's
    (only the header is read); False for what cannot be read (a folder one may not enter)."""
    path = Path(path)
    try:
        if path.is_dir():
            return (path / BEST).is_file()
        with path.open("rb") as f:
            head = f.read(8)
            length = int.from_bytes(head, "little")
            return has_objrec_header(head + f.read(length) if length <= HEADER_LIMIT else b"")
    except OSError:
        return False


def has_objrec_header(data: bytes) -> bool:
    """Whether ``data``, a file's bytes (its first, at least to the end of its header), begin
    with a safetensors header that is objrec's: :func:`is_checkpoint` of bytes already read."""
    length = int.from_bytes(data[:8], "little")
    if not 0 < length <= HEADER_LIMIT:
        return False
    try:
        return META_KEY in (json.loads(data[8 : 8 + length]).get("__metadata__") or {})
    except (ValueError, AttributeError):  # AttributeError: a header that is no object
        return False


def model_digest(path: Path) -> str:
    """The content digest of a run folder's model file (or of a checkpoint file) as it is now:
    which model an evaluation was made with, whatever the files' times (a copied run's are the
    copy's). A command that loaded the model names it by ``RunMeta.digest`` instead, of the bytes
    it loaded."""
    path = Path(path)
    return hash_file(path / BEST if path.is_dir() else path)


def not_a_checkpoint(path: Path, damaged: str = DAMAGED) -> str:
    """The sentence for a file given as a model that safetensors cannot read, with what to give
    instead where it can tell what the file is: an export, or a zip (``share --zip``'s); one
    cut short within its header in the sentence ``damaged`` (of ``{path}``, ``{why}``)."""
    if (short := header_cut_short(path)) is not None:
        return damaged.format(path=path, why=short)
    if zipfile.is_zipfile(path):
        unzip = "unzip it, and give the folder it holds"
        return f"{path} is not an objrec checkpoint but a zip file: {unzip}"
    export = "; for an export, give the run folder it came from" * is_onnx_file(path)
    return f"{path} is not an objrec checkpoint (not a readable safetensors file){export}"


def refusal_cause(path: Path, exc: BaseException) -> BaseException | None:
    """What :func:`not_a_checkpoint`'s error for ``path`` is chained to (``raise ... from``):
    ``exc``, safetensors' or the system's refusal, where the sentence cannot say what the file
    is; None where it says (an export, a zip, a file cut short within its header): under an
    export's sentence, safetensors' "header too large" was a traceback more, of no use to the
    caller (notebook63)."""
    said = header_cut_short(path) is not None or zipfile.is_zipfile(path) or is_onnx_file(path)
    return None if said else exc


def header_cut_short(path: Path) -> str | None:
    """:data:`HEADER_CUT_SHORT` for a file whose first bytes begin a safetensors header longer
    than the file (a copy stopped within it); None for any other."""
    try:
        with open(path, "rb") as f:
            head, size = f.read(9), os.fstat(f.fileno()).st_size
    except OSError:
        return None
    return header_short_of(head, size)


def header_short_of(head: bytes, size: int) -> str | None:
    """:data:`HEADER_CUT_SHORT` for a file of ``size`` bytes whose first 9, ``head``, begin a
    safetensors header longer than the file; None for any other."""
    header = 8 + int.from_bytes(head[:8], "little")
    if head[8:9] != b"{" or header > 8 + HEADER_LIMIT or size >= header:
        return None
    return HEADER_CUT_SHORT.format(size=size, header=header)


def refuse_cut_short(path: Path) -> None:
    """Refuse the model ``path`` (a run folder, or a file) when it is shorter than its
    safetensors header says (:data:`CUT_SHORT`, in :data:`DAMAGED`'s sentence, as its load
    would), from its header and size alone: ``serve`` says it before FastAPI and PyTorch load.
    Any other damage is found as it loads, where its bytes are read whole."""
    path = require_checkpoint_file(path)
    try:
        head, size = file_header(path)
    except OSError:
        return  # said as it loads, in its words
    require_whole(path, head, size)


def file_header(path: Path) -> tuple[bytes, int]:
    """The first bytes of the file ``path``, as far as its safetensors header goes (its 8-byte
    length, then the JSON header; 9 bytes where the length is none a safetensors file has), and
    the file's size."""
    with open(path, "rb") as f:
        size, first = os.fstat(f.fileno()).st_size, f.read(8)
        length = int.from_bytes(first, "little")
        return first + (f.read(length) if length <= HEADER_LIMIT else f.read(1)), size


def require_whole(path: Path, head: bytes, size: int) -> None:
    """Refuse the checkpoint ``path`` of ``size`` bytes when its safetensors header ``head``
    (:func:`file_header`) says it is longer (:data:`CUT_SHORT`, in :data:`DAMAGED`'s
    sentence)."""
    short = header_short_of(head[:9], size)
    whole = described_size(head)
    if short is None and whole is not None and size < whole:
        short = CUT_SHORT.format(size=size, whole=whole)
    if short is not None:
        raise Damaged(DAMAGED.format(path=path, why=short))


def header_alone(path: Path) -> dict[str, Any]:
    """The objrec metadata of the checkpoint ``path`` (a run folder, or a file) from its header
    alone (:func:`file_header`: kilobytes, whatever its tensors' megabytes), refused as
    :func:`read_header` refuses a file that is no objrec checkpoint of a format this objrec reads,
    or one shorter than its header says; not checked against its seal, which takes the whole
    file: for a refusal that must come before anything else is done, the model read later."""
    path = require_checkpoint_file(path)
    try:
        head, size = file_header(path)
    except OSError as exc:
        raise ObjrecError(not_a_checkpoint(path)) from refusal_cause(path, exc)
    require_whole(path, head, size)
    try:
        metadata = safetensors_metadata(head)
    except (ValueError, AttributeError) as exc:  # AttributeError: a header no object
        raise ObjrecError(not_a_checkpoint(path)) from refusal_cause(path, exc)
    return objrec_header(path, metadata)


def content_digest(data: bytes) -> str:
    """:func:`model_digest` of a file's bytes already read: ``file_index.hash_file``'s value."""
    return hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]


def safetensors_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's bytes (already read by ``load``, which checks
    the header): an 8-byte little-endian length, then the JSON header."""
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + length]).get("__metadata__") or {}


def header_object(path: Path, text: str) -> dict[str, Any]:
    """The checkpoint's metadata: a JSON object, or the file is refused as no objrec checkpoint."""
    try:
        meta = json.loads(text)
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise ObjrecError(f"{path} is not an objrec checkpoint (its metadata is not a JSON object)")
    return meta


def objrec_header(path: Path, metadata: dict[str, str]) -> dict[str, Any]:
    """The objrec metadata among a safetensors file's ``metadata`` (``__metadata__``), refused
    in one sentence when the file is no objrec checkpoint or one of a format this objrec does not
    read."""
    if META_KEY not in metadata:
        raise ObjrecError(f"{path} is a safetensors file but not an objrec checkpoint")
    meta = header_object(path, metadata[META_KEY])
    version = meta.get("format_version")
    if version not in READABLE_FORMATS:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise ObjrecError(
            f"{path} has checkpoint format {version}; this objrec reads "
            + formats_read()
            + (
                ": upgrade objrec"
                if newer
                else ": retrain or convert it with the objrec that wrote it"
            )
        )
    return meta


def formats_read() -> str:
    """The checkpoint formats this objrec reads, in words: ``formats 1, 2 and 3`` (the refusal
    said "format 2" alone, where a format 1 file is read too)."""
    named = [str(v) for v in READABLE_FORMATS]
    return ("formats " if len(named) > 1 else "format ") + joined(named)


def read_header(path: Path, damaged: str = DAMAGED) -> tuple[dict[str, Any], bytes]:
    """The objrec metadata of the checkpoint ``path`` (a run folder, or a file) and its bytes,
    read whole once and checked against their seal (:func:`require_intact`, refusing them in the
    sentence ``damaged``), as ``checkpoint.read_state`` reads them, without the tensors: no
    PyTorch. Their content digest is the caller's to take, where it names the model."""
    path = require_checkpoint_file(path)
    data = checkpoint_bytes(path, damaged)
    return header_of(path, data, damaged), data


def checkpoint_bytes(path: Path, damaged: str = DAMAGED) -> bytes:
    """The bytes of the checkpoint file ``path``, read whole; one that cannot be read is refused
    in one sentence (:func:`not_a_checkpoint`)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ObjrecError(not_a_checkpoint(path, damaged)) from refusal_cause(path, exc)


def header_of(path: Path, data: bytes, damaged: str = DAMAGED) -> dict[str, Any]:
    """:func:`read_header`'s metadata of ``data``, the bytes of the checkpoint ``path`` read
    already (:func:`checkpoint_bytes`), checked against their seal."""
    try:
        require_intact(path, data, damaged)
        metadata = safetensors_metadata(data)
    except (ValueError, AttributeError) as exc:  # AttributeError: a header no object
        raise ObjrecError(not_a_checkpoint(path, damaged)) from refusal_cause(path, exc)
    return objrec_header(path, metadata)


def checkpoint_meta(path: Path, header: dict[str, Any], digest: str) -> RunMeta:
    """The :class:`RunMeta` of the checkpoint ``path``'s objrec ``header`` (its ``digest``, of
    the bytes read: the model every record of its use names), refused when it names other
    classes than its head outputs."""
    where = Path(path) / BEST if Path(path).is_dir() else path
    with named_in_errors(where):
        meta = replace(RunMeta.from_json(header, str(where)), digest=digest)
    if len(meta.classes) != meta.head.n_classes:
        raise ObjrecError(
            f"{where} is not a usable objrec checkpoint: it names "
            f"{plural(len(meta.classes), 'class')} for a head of "
            f"{plural(meta.head.n_classes, 'output')}"
        )
    return meta


def read_meta(path: Path) -> RunMeta:
    """The metadata of the model ``path`` (a run folder, or a file), its seal checked, without
    its tensors (:func:`read_header`)."""
    return read_meta_and_bytes(path)[0]


def read_meta_and_bytes(path: Path) -> tuple[RunMeta, bytes]:
    """:func:`read_meta`, with the file's bytes it was read from: for a caller that may load the
    model later from them (``checkpoint.tensors_of``), not from the file read again."""
    header, data = read_header(path)
    return checkpoint_meta(path, header, content_digest(data)), data


def training_progress(path: Path, header: dict[str, Any]) -> tuple[RunMeta, TrainingProgress]:
    """The run's metadata and where its training stood, from the objrec ``header`` of the
    training state ``path``; refused when it is no training state or does not say how its run
    was configured (it cannot be resumed)."""
    if header.get("kind") != "training_state":
        raise ObjrecError(f"{path} is not a training state (it cannot be resumed)")
    with named_in_errors(path):
        meta = RunMeta.from_json(header, str(path))
    if meta.train_config is None:
        raise ObjrecError(f"{path} does not say how its run was configured; it cannot be resumed")
    progress = TrainingProgress(
        header["epoch"],
        header["history"],
        header["stopper"],
        header["stopped_early"],
        header["optimizer"],
        Processes.from_json(header.get("processes")),
        FinetuneProgress.from_json(header.get("finetune")),
    )
    return meta, progress


def read_training_progress(path: Path) -> tuple[RunMeta, TrainingProgress]:
    """:func:`training_progress` of the training state ``path``, its seal checked
    (:data:`STATE_DAMAGED`), without its tensors."""
    header, _ = read_header(path, STATE_DAMAGED)
    return training_progress(path, header)
