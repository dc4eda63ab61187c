"""The model a server answers with, replaced when its checkpoint file is.

A retrain into the run folder a server serves (``train --force``) replaces ``model.safetensors``
in one step (written beside it, then renamed over it: ``checkpoint.atomic_save``). A server looks
at that file, and at the threshold ``evaluate --keep-threshold`` keeps beside it, every few
seconds (:data:`CHECK_EVERY`: one ``stat`` each), and loads the new model on a thread of its own
while the old one goes on answering; the new one answers once it has loaded and answered a first
image. A file still being written in place (``cp new.safetensors run/model.safetensors``) is
loaded once it has held still for one look; one that does not load (a model file is read whole
and checked against the SHA-256 it holds of itself: one cut short is refused), or whose model
fails on its first image, never replaces the model served: a warning says so, once for that file.
A checkpoint changed within a timestamp tick of the look before its model was loaded is hashed
at the next look (``file_index.Looked``, the racy rule ``share`` and the file index apply): a
rewrite of the same size in that tick, or one dating the file back (``cp -p``), leaves its
stamp as it was.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from objrec.file_index import Looked, file_stamp, reads_as

log = logging.getLogger(__name__)

events = logging.getLogger("objrec.serve.events")
"""What a running server did, one line each (a reload): INFO records, which ``objrec serve``
shows at its normal verbosity, with their time."""

MODEL_HEADER = "X-Objrec-Model"
"""The response header that says which model answered (:meth:`ServedModel.now`)."""

CHECK_EVERY = 2.0
"""Seconds between two looks at the served files: a replaced model is answered with within
about two looks and its loading (one ``stat`` of each file per look costs microseconds)."""

Stamp = tuple[tuple[int, int, int] | None, ...]
"""Each watched file's inode, size and modification time (ns); None for a file not there."""


def utc_text(seconds: float) -> str:
    """A time as ISO 8601 in UTC, to the second: ``2026-12-04T23:15:02Z``."""
    moment = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
    return moment.replace("+00:00", "Z")


@dataclass(frozen=True)
class Beside:
    """What a served model reads of files beside its own as it loads, read again into it when
    they change, without loading the model again: ``stamp()``, which version of them there is
    (a few ``stat`` calls: it is taken at every look), and ``read(recognizer)``, reading them
    into the model served (``serve``'s pairs of classes an evaluation of the run mixed up)."""

    stamp: Callable[[], Any]
    read: Callable[[Any], None]


class ServedModel:
    """The model (``recognizer``) a server answers with, loaded by ``load`` (which also has it
    answer a first image), and loaded again when ``files`` change (the first is the checkpoint);
    what it reads ``beside`` them read again into it when that changes. Each request reads
    :attr:`recognizer` once and answers with it, so a model replaced meanwhile never mixes into
    an answer; with several worker processes each has its own."""

    def __init__(
        self, load: Callable[[], Any], files: Sequence[Path], beside: Beside | None = None
    ) -> None:
        self.load, self.files, self.beside = load, [Path(f) for f in files], beside
        self.seen_at = time.time()  # the look, just before the stamps: a write after dates later
        self.beside_read = self.beside_stamp()  # before the load reads them, as the files'
        stamp = self.seen = self.stamps()  # before it loads: a write meanwhile is seen
        self.failed: Stamp | None = None
        self.stopped = threading.Event()  # the server has stopped: a load ending now is dropped
        self.loading = False
        # one attribute: a reload replaces the model, its files' stamp, its load time and the
        # look before it at once
        self.serving = (load(), stamp, utc_text(time.time()), self.seen_at)

    @property
    def recognizer(self) -> Any:
        return self.serving[0]

    @property
    def stamp(self) -> Stamp:
        return self.serving[1]

    @property
    def loaded_at(self) -> str:
        return self.serving[2]

    def now(self) -> tuple[Any, str, dict[str, Any]]:
        """The model served, its mark and what ``/info`` says of it (when this server process
        loaded it, ``loaded_at``, and when its checkpoint was written, ``checkpoint_modified``),
        read together: read one after the other, a reload between them would send an answer of
        the new model under the old one's mark, which the page would draw against the other
        model's unknown line, and ``/info`` would say the new model's times under the old mark,
        which the page would then keep."""
        recognizer, stamp, loaded_at, _ = self.serving
        info = {"loaded_at": loaded_at, "checkpoint_modified": self.checkpoint_time(stamp)}
        return recognizer, self.mark_of(stamp, digest_of(recognizer)), info

    @staticmethod
    def mark_of(stamp: Stamp, digest: str | None = None) -> str:
        """Which version of the files a model was loaded from (and its model's ``digest``: a
        rewrite that left the stamp as it was is another model), as 8 hex digits, the same in
        every worker process that loaded the same files: ``/predict`` and ``/info`` send it
        (:data:`MODEL_HEADER`), so that the page sees a reload and reads ``/info`` again."""
        return f"{zlib.crc32(repr((stamp, digest)).encode()):08x}"

    def stamps(self) -> Stamp:
        return tuple(file_stamp(f) for f in self.files)

    @staticmethod
    def checkpoint_time(stamp: Stamp) -> str | None:
        """When the checkpoint of ``stamp`` was last written (ISO 8601, UTC)."""
        return utc_text(stamp[0][2] / 1e9) if stamp[0] is not None else None

    def beside_stamp(self) -> Any:
        """The version of the files read :attr:`beside` the model's (None: none are)."""
        return self.beside.stamp() if self.beside is not None else None

    def check(self) -> bool:
        """One look at the files: the new model loaded when they changed since the model served
        was loaded and held still since the last look (a file written in place is loaded once
        whole), unless that version of them already failed; else what it reads :attr:`beside`
        them read again into the model served where that changed. True when it replaced the
        model."""
        if self.check_files():
            return True
        beside = self.beside_stamp()
        if beside != self.beside_read and self.beside is not None:
            self.beside.read(self.recognizer)
            self.beside_read = beside
        return False

    def check_files(self) -> bool:
        """:meth:`check`'s look at the model's own files. True when it replaced the model."""
        looked, stamp = time.time(), self.stamps()
        seen, self.seen, self.seen_at = self.seen, stamp, looked
        if stamp == self.failed:
            return False
        if stamp == self.stamp:
            return self.rewritten_in_its_tick(looked)
        return stamp == seen and self.reload(stamp)

    def rewritten_in_its_tick(self, looked: float) -> bool:
        """A look at ``looked`` that finds the files as the model served was loaded from: where
        the checkpoint's stamp vouched for it at the look before that load
        (``file_index.Looked.vouches``), nothing changed; else a rewrite of the same size in the
        tick it was changed in (or one dating it back) leaves the stamp as it was, so the file is
        hashed and its model loaded again where it is not the one served. Vouched for from a
        look a tick after the change on, unread. True when it replaced the model."""
        recognizer, stamp, loaded_at, before = self.serving
        digest = digest_of(recognizer)
        if digest is None or Looked(before, stamp[0]).vouches() or stamp[0] is None:
            return False
        if not reads_as(self.files[0], digest):
            return self.reload(stamp)
        if Looked(looked, stamp[0]).vouches():
            self.serving = (recognizer, stamp, loaded_at, looked)
        return False

    def stop(self) -> None:
        """The server stops: a model still loading is never served, nor said to be; the stop
        waits for its loading thread, which cannot be stopped midway, so it says so, once. That
        thread is not a daemon: Python's exit does not wait for a daemon thread, and OpenVINO's
        threads, torn down under it at exit, abort serve (SIGABRT)."""
        self.stopped.set()
        if self.loading:
            events.info("stopping once the model being loaded (%s) has loaded", self.files[0])

    def changed_words(self, stamp: Stamp) -> str:
        """What a reload to ``stamp`` read anew, for its line in the log: the checkpoint and when
        it was written; or, when only a file beside it changed (the kept threshold), the
        checkpoint with that file, and when it was written: after ``evaluate --keep-threshold``
        the checkpoint and its old time alone would read as though nothing had changed."""
        if stamp[0] != self.stamp[0]:
            return f"{self.files[0]} (written {self.checkpoint_time(stamp)})"
        beside = [(f, s) for f, s, t in zip(self.files, stamp, self.stamp, strict=True) if s != t]
        path, now = beside[0] if beside else (self.files[0], stamp[0])
        return f"{self.files[0]} with {path} " + (
            f"(written {utc_text(now[2] / 1e9)})" if now is not None else "(removed)"
        )

    def reload(self, stamp: Stamp) -> bool:
        """The model of the files as ``stamp`` found them loaded in place of the one served; a
        failure leaves the one served, with a warning. True when it replaced it."""
        started, looked, self.loading = time.perf_counter(), self.seen_at, True
        beside = self.beside_stamp()  # before the load reads them
        try:
            recognizer = self.load()
        except Exception as exc:  # any failure to load or to answer: the old model stays
            self.loading = False
            if self.stopped.is_set():
                return False
            self.failed = stamp
            log.warning(
                "%s changed, but its model could not be used (%s): still answering with the "
                "model loaded at %s",
                self.files[0],
                exc,
                self.loaded_at,
            )
            return False
        self.loading = False
        if self.stopped.is_set():  # never "answering with it now" once the server has stopped
            return False
        read = self.changed_words(stamp)
        self.serving, self.failed = (recognizer, stamp, utc_text(time.time()), looked), None
        self.beside_read = beside
        events.info(
            "reloaded %s in %.1f s: answering with it now (%d classes)",
            read,
            time.perf_counter() - started,
            len(recognizer.classes),
        )
        return True


def digest_of(recognizer: Any) -> str | None:
    """The content digest of the model file ``recognizer`` was loaded from, of the bytes read
    (``Recognizer.model_digest``); None where it does not say."""
    return getattr(recognizer, "model_digest", None)


async def keep_checking(served: ServedModel, every: float) -> None:
    """:meth:`ServedModel.check` every ``every`` seconds, on a thread of its own, so that the
    server answers while a new model loads, until cancelled. A look that fails (``check``
    answers a failure to load itself) is warned of, once while it fails alike, and the next look
    comes as due: an exception raised out of this task would end it unseen, and the server would
    never load a new model again."""
    said = None
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(served.check)
        except Exception as exc:
            if str(exc) != said:
                log.warning("could not look at the served model's files (%s): looking again", exc)
            said = str(exc)
        else:
            said = None


def checking_lifespan(
    served: ServedModel, every: float | None, answering: Executor | None = None
) -> Callable[[Any], Any]:
    """A FastAPI ``lifespan`` that checks ``served``'s files every ``every`` seconds while the
    app runs (in each worker process its own); None: never. As the app stops, its ``answering``
    threads are shut down: each kept its runtime's state (an OpenVINO infer request) alive, idle,
    after the app had gone (an app embedded in another, a test session's many)."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(keep_checking(served, every)) if every else None
        try:
            yield
        finally:
            served.stop()
            if task is not None:
                task.cancel()
            if answering is not None:
                answering.shutdown(wait=False)

    return lifespan
