"""How ``serve`` stops on SIGTERM or Ctrl-C (:class:`StoppingServer`): it answers the requests
under way for :data:`STOP_DEADLINE` seconds at most, then cuts off those left (each answered 503
in JSON by ``serve.guards.AnswerCutByStop``) and shuts down as usual; a second Ctrl-C cuts them
off at once."""

from __future__ import annotations

import asyncio
import signal
import socket
from types import FrameType

import uvicorn

STOP_DEADLINE = 5
"""Seconds a server stopped by SIGTERM or Ctrl-C waits for the requests under way before it
cuts them off and ends: one client that sent half an upload and waited kept it from stopping
until that client left, and systemd or ``docker stop`` (10 s) then killed it, with no last
line. Uploads already received are answered well within it (64 waiting: 1.6 s)."""


class StoppingServer(uvicorn.Server):
    """uvicorn's server, whose stop cuts off the requests still under way :data:`STOP_DEADLINE`
    seconds after it began, or at once on a second Ctrl-C, then shuts down as usual (the app's
    lifespan ended, its uploads counted). uvicorn's own second Ctrl-C skipped the lifespan's end
    and ended the requests as ``asyncio.run`` does, each with a ``CancelledError`` traceback
    (60 lines) in the log and uvicorn's plain-text 500 to its client. A third Ctrl-C is
    uvicorn's: stop now, whatever is left."""

    loop: asyncio.AbstractEventLoop | None = None
    cutting = False

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().call_later(STOP_DEADLINE, self.cut_off)
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """A signal (from the main thread, between two steps of the event loop): a second
        Ctrl-C cuts off the requests under way, a first stop or a third Ctrl-C is uvicorn's."""
        if self.should_exit and sig == signal.SIGINT and not self.cutting and self.loop:
            self.loop.call_soon_threadsafe(self.cut_off)
            self.cutting = True
            return
        super().handle_exit(sig, frame)

    def cut_off(self) -> None:
        """The requests still under way cancelled: each is answered 503 as it ends."""
        self.cutting = True
        for task in list(self.server_state.tasks):
            task.cancel()
