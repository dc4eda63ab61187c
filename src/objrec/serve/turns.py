"""Whose turn it is to be answered by ``serve``: a few uploads at once, a bounded line of others
waiting in the event loop, none whose client has gone, and no more work for one whose client
leaves during its turn.

Uploads do not wait in the answering threads' executor, whose queue has no bound and never looks
at the connection: there, 12 clients that gave up after 2 s would all be decoded and answered 9 s
later, and logged as answered. Waiting here costs a coroutine, not a decode. A client that leaves
during its upload's own turn has its image's work stopped, and is not logged as answered
(:func:`while_connected`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import Receive

MOST_WAITING = 64
"""Uploads ``/predict`` keeps waiting for a turn (their bodies received, on disk above 1 MiB);
one more is answered 503 at once, with ``Retry-After``: 64 photos of a second each are a minute's
work for 4 threads."""
RETRY_AFTER = 5
"""Seconds a client refused for a full line is told to wait (``Retry-After``)."""
BUSY = (
    "the server is busy: {waiting} uploads are waiting for their turn; send it again in a few "
    "seconds"
)


class ClientLeft(Exception):
    """The client of an upload closed its connection before its answer was sent: ``done`` says
    how far the answer had come (:data:`LEFT`): where its work stopped or, ``answered``, that it
    was made all the same (nothing stops the model midway), for nobody."""

    def __init__(self, done: str) -> None:
        super().__init__(LEFT[done])
        self.done = done


class ClientGone(ClientLeft):
    """The client of an upload closed its connection before the upload's turn: nobody would read
    the answer, so it is not made."""

    def __init__(self) -> None:
        super().__init__("waiting")


LEFT = {
    "sending": "not answered: its client closed the connection while sending it",
    "waiting": "not answered: its client had closed the connection before its turn",
    "read": "not answered: its client closed the connection before its image was decoded",
    "decoded": "not answered: its client closed the connection while its image was decoded, so "
    "the model did not run",
    "answered": "answered for nobody: its client closed the connection while the model ran",
}
"""The log's words for an upload whose client left, by how far its answer had come."""


def stop_if_left(left: threading.Event | None, done: str) -> None:
    """Where the work of an upload can stop: :class:`ClientLeft` once ``left`` is set (its
    client has closed the connection: :func:`while_connected`), ``done`` being what was done."""
    if left is not None and left.is_set():
        raise ClientLeft(done)


class AnsweringThreads(Executor):
    """An app's answering threads, ``at_once`` of them (``objrec-answer_N``), made at the first
    job and shut down with the app's lifespan or its failed start (:meth:`shutdown`): each keeps
    its runtime's state (an OpenVINO infer request) while idle, which a pool that outlived its
    app kept for good (3 apps started and stopped: 3 idle threads). An app started again (a
    test client's second ``with``) makes them again at its first job."""

    def __init__(self, at_once: int) -> None:
        self.at_once = at_once
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """``fn(*args, **kwargs)`` run on one of the threads, made now if none are."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.at_once, thread_name_prefix="objrec-answer")
            return self._pool.submit(fn, *args, **kwargs)

    @contextmanager
    def shut_down_on_failure(self) -> Iterator[None]:
        """The threads shut down (without waiting) where the block raises: an app that failed
        to start (its model did not load or answer) has no lifespan to end them."""
        try:
            yield
        except BaseException:
            self.shutdown(wait=False)
            raise

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """The threads told to end once their jobs are done (``wait``: waited for)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)


async def while_connected(receive: Receive, threads: Executor, work: Callable[..., Any]) -> Any:
    """What ``work(left=...)`` returns, run on one of ``threads``, with ``left`` set as soon as
    the upload's client closes its connection (ASGI's ``http.disconnect``, which ``receive``
    gives once the request's body has been read), so that the work stops at its next
    :func:`stop_if_left`. :class:`ClientLeft` ("answered") when the client left after the
    last of them: the answer was made, but nobody will receive it (not to be logged as answered)."""
    left = threading.Event()
    watching = asyncio.ensure_future(until_disconnected(receive, left))
    try:
        result = await asyncio.wrap_future(threads.submit(work, left=left))
    finally:
        watching.cancel()
    stop_if_left(left, "answered")
    return result


async def until_disconnected(receive: Receive, left: threading.Event) -> None:
    """Set ``left`` once the client has closed the connection."""
    while (await receive())["type"] != "http.disconnect":
        continue
    left.set()


class Turns:
    """``at_once`` uploads answered at once, up to ``most_waiting`` others waiting for a turn."""

    def __init__(self, at_once: int, most_waiting: int = MOST_WAITING) -> None:
        self.at_once, self.most_waiting = at_once, most_waiting
        self.waiting = 0
        self._free: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @asynccontextmanager
    async def turn(
        self, gone: Callable[[], Awaitable[bool]], busy: dict[str, str] | None = None
    ) -> AsyncIterator[None]:
        """The block runs in the upload's turn; refused (503, headers ``busy``) when too many
        wait already; :class:`ClientGone` when ``gone()`` (``Request.is_disconnected``) says, at
        its turn, that its client has closed the connection."""
        free = self._semaphore()
        if free.locked() and self.waiting >= self.most_waiting:
            raise HTTPException(503, BUSY.format(waiting=self.waiting), busy)
        self.waiting += 1
        try:
            await free.acquire()
        finally:
            self.waiting -= 1
        try:
            if await gone():
                raise ClientGone
            yield
        finally:
            free.release()

    def _semaphore(self) -> asyncio.Semaphore:
        """The turns' semaphore, made in the running event loop at its first use (an app
        served by several event loops in turn, as tests do, gets one in each)."""
        loop = asyncio.get_running_loop()
        if self._free is None or self._loop is not loop:
            self._free, self._loop = asyncio.Semaphore(self.at_once), loop
        return self._free
