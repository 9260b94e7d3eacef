"""`FakeMagentoServer`: serves a `FakeMagento` over HTTP/1.1 on a local port.

The protocol is `h11`'s (the sans-I/O HTTP/1.1 state machine httpx itself is built on);
this module is the thin asyncio adapter around it: one task per connection, keep-alive,
requests on one connection answered in order. The server runs its own event loop in a
daemon thread, so a synchronous test, an ``async`` test and the demo can all use it::

    with FakeMagentoServer(FakeMagento()) as server:
        ...  # point the driver at server.base_url
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Self

import h11

from drivers.magento2.fake_store.app import FakeMagento, Response

__all__ = ["FakeMagentoServer"]

_MAX_BODY = 64 * 1024 * 1024


class FakeMagentoServer:
    def __init__(self, store: FakeMagento, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = store
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` (the store's REST API is below ``/rest``)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="fake-magento", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._startup_error is not None:
            raise self._startup_error
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, self.port, backlog=256)
            )
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_BODY)
        try:
            while True:
                request, body = await self._read_request(conn, reader)
                if request is None:
                    return
                response = await self._answer(request, body)
                writer.write(self._encode(conn, response))
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, h11.RemoteProtocolError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            # The server is stopping. Ending normally keeps Python 3.11's stream callback
            # from logging the cancellation as an error.
            return
        finally:
            writer.close()

    @staticmethod
    async def _read_request(
        conn: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[h11.Request | None, bytes]:
        request: h11.Request | None = None
        chunks: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return request, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None, b""

    async def _answer(self, request: h11.Request, body: bytes) -> Response:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers}
        host = headers.get("host", f"{self.host}:{self.port}")
        url = f"http://{host}{request.target.decode('latin-1')}"
        return await self.store.handle(request.method.decode("ascii"), url, headers, body)

    @staticmethod
    def _encode(conn: h11.Connection, response: Response) -> bytes:
        headers = [(k, v) for k, v in response.headers.items()]
        headers.append(("Content-Length", str(len(response.body))))
        out = conn.send(h11.Response(status_code=response.status, headers=headers)) or b""
        out += conn.send(h11.Data(data=response.body)) or b""
        out += conn.send(h11.EndOfMessage()) or b""
        return out
