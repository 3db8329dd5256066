"""uvicorn's HTTP protocol with the limits that keep a slot for every client that asks something.

uvicorn bounds neither the head of a request nor the time a client may hold a connection. Here:

- Receipt: a timer starts when a connection opens and when a request begins; if the whole request
  has not arrived when it fires, the connection is closed. Answering is not bounded by it.
- Head: the request line and headers may take `MAX_HEAD_BYTES` and hold `MAX_HEADERS` fields;
  beyond, a 431. The bytes are counted before the parser sees them: httptools joins the pieces of a
  header by copying, so a header line of 91 MB cost it seconds of the event loop.
- Pipelining: at most `MAX_PIPELINED` requests may wait behind the one being answered; one more
  closes the connection (browsers do not pipeline).
- Lifetime: a connection is closed `lifetime` seconds after it opened, at once if no answer is due,
  else after its answer, which gets one receipt deadline more to be written.
- Slots: a connection waits on its client while the server has no whole request of it to answer:
  before its first request, between requests, while one arrives, and while an answer waits for the
  client to read it. When a request's head arrives and `max_connections` are open, the connections
  that have waited longest on their clients are closed to make room; one whose request is being
  answered never is. So idle or slow connections cannot shut out a page load or /healthz: the
  client that asks something gets a slot. A new connection beyond twice `max_connections` makes room
  the same way, so that idle sockets do not pile up.
"""

from __future__ import annotations

import asyncio
import heapq
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

RECEIPT_SECONDS = 10.0  # default deadline: a 1 MB body over a slow link of 100 kB/s still fits
LIFETIME_SECONDS = 60.0  # default lifetime of a connection
MAX_CONNECTIONS = 256  # default
MAX_HEAD_BYTES = 65_536  # request line and headers; browsers send about 1 kB, cookies included
MAX_HEADERS = 100
MAX_PIPELINED = 16


class Refused(Exception):
    """Raised in a parser callback to stop parsing; the protocol's `refusal` says what to answer."""


def with_limits(
    receipt: float = RECEIPT_SECONDS,
    lifetime: float = LIFETIME_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn.Config(http=...): a receipt deadline of `receipt` seconds,
    connections closed after `lifetime` seconds, room made among `max_connections` (give uvicorn
    `limit_concurrency=max_connections + 1`: it counts the connection that asks). uvicorn is
    imported here, not with the defaults that `firstnet serve --help` shows."""
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

    class LimitedProtocol(HttpToolsProtocol):
        deadline: asyncio.TimerHandle | None = None
        retirement: asyncio.TimerHandle | None = None
        head_left: int | None = MAX_HEAD_BYTES  # None while no head is being received
        refusal: tuple[int, str] | None = None
        waiting_since = 0.0

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self.waiting_since = self.loop.time()
            self.retirement = self.loop.call_later(lifetime, self.retire)
            self.arm()
            self.make_room(2 * max_connections)

        def data_received(self, data: bytes) -> None:
            while data and not self.transport.is_closing():
                if self.head_left is None:
                    super().data_received(data)
                    return
                piece, data = data[: self.head_left], data[self.head_left :]
                self.head_left -= len(piece)  # the parser's callbacks may reset it
                super().data_received(piece)
                if self.head_left == 0:  # the head is at its limit and not over
                    message = f"the request line and headers are over {MAX_HEAD_BYTES:,} bytes"
                    self.refuse(431, message)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.arm()

        def on_header(self, name: bytes, value: bytes) -> None:
            if len(self.headers) >= MAX_HEADERS:
                self.refusal = (431, f"more than {MAX_HEADERS} header fields")
                raise Refused
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self.head_left = None
            if len(self.pipeline) >= MAX_PIPELINED:
                self.refusal = (400, f"more than {MAX_PIPELINED} requests sent ahead of answers")
                raise Refused
            self.make_room(max_connections)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self.disarm()
            self.head_left = MAX_HEAD_BYTES

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self.waiting_since = self.loop.time()

        def pause_writing(self) -> None:
            super().pause_writing()
            self.waiting_since = self.loop.time()

        def connection_lost(self, exc: Exception | None) -> None:
            self.disarm()
            if self.retirement is not None:
                self.retirement.cancel()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            """uvicorn's answer to a request the parser refused, here JSON like the app's errors."""
            self.refuse(*(self.refusal or (400, msg)))

        def refuse(self, status: int, message: str) -> None:
            """Answer `status` with a JSON error and close; only close when an earlier request's
            answer is still due (this one would overtake it)."""
            if self.transport.is_closing():
                return
            if not self.pipeline and (self.cycle is None or self.cycle.response_complete):
                body = json.dumps({"error": message}).encode()
                head = [STATUS_LINE[status]]
                for name, value in self.server_state.default_headers:
                    head += [name, b": ", value, b"\r\n"]
                head += [
                    b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body),
                    b"connection: close\r\n\r\n",
                ]
                self.transport.write(b"".join(head) + body)
            self.transport.close()

        def waiting_on_client(self) -> bool:
            """Whether the server waits for the client: for a request, the rest of one, or to read
            an answer."""
            if self.flow.write_paused:
                return True
            if self.pipeline:
                return False
            return self.cycle is None or self.cycle.response_complete or self.cycle.more_body

        def make_room(self, most: int) -> None:
            """Close the connections that have waited longest on their clients until at most `most`
            are open, this one included; connections with a request in hand are kept."""
            excess = len(self.connections) - most
            if excess <= 0:
                return
            waiting = [
                other
                for other in self.connections
                if isinstance(other, LimitedProtocol)
                and other is not self
                and other.waiting_on_client()
            ]
            for other in heapq.nsmallest(excess, waiting, key=lambda other: other.waiting_since):
                self.connections.discard(other)
                other.transport.abort()  # what it has not read goes too

        def retire(self) -> None:
            """The lifetime is over: uvicorn's shutdown closes now if no answer is due, else after
            the answer; one receipt deadline later the connection goes anyway."""
            self.shutdown()
            self.retirement = self.loop.call_later(receipt, self.transport.abort)

        def arm(self) -> None:
            self.disarm()
            self.deadline = self.loop.call_later(receipt, self.expire)

        def disarm(self) -> None:
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def expire(self) -> None:
            self.deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return LimitedProtocol
