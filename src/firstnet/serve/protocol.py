"""uvicorn's HTTP protocol with a deadline to receive each request.

uvicorn closes idle keep-alive connections, but a client that sends part of the headers, part of a
body, or nothing after connecting holds its socket (and a slot of --max-connections) for as long as
it likes. Here a timer starts when a connection opens and when a request begins; if the whole
request has not arrived when it fires, the connection is closed. Answering is not bounded by it: the
timer stops once the request is in.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

RECEIPT_SECONDS = 10.0  # default deadline: a 1 MB body over a slow link of 100 kB/s still fits


def with_deadline(seconds: float) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn.Config(http=...) for a receipt deadline of `seconds`."""

    class DeadlineProtocol(HttpToolsProtocol):
        deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self.arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.arm()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self.disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self.disarm()
            super().connection_lost(exc)

        def arm(self) -> None:
            self.disarm()
            self.deadline = self.loop.call_later(seconds, self.expire)

        def disarm(self) -> None:
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def expire(self) -> None:
            self.deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return DeadlineProtocol
