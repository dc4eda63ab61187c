"""Whose turn it is to be answered by ``serve``: a few uploads at once, a bounded line of others
waiting in the event loop, and none whose client has gone.

Uploads waited in the answering threads' executor, whose queue has no bound and never looks at
the connection: 12 clients that gave up after 2 s were all decoded and answered 9 s later, and
logged as answered (review48b MEDIUM 3). Waiting here costs a coroutine, not a decode.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.exceptions import HTTPException

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


class ClientGone(Exception):
    """The client of an upload closed its connection before the upload's turn: nobody would read
    the answer, so it is not made."""


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
