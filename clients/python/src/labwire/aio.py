"""The asyncio client: many requests in flight on one connection, matched by tag.

    import asyncio, labwire.aio
    async def main():
        async with await labwire.aio.connect("127.0.0.1", 7100) as mon:
            ids = await asyncio.gather(*(mon.call("send", c, "get_id") for c in ("psu1", "gauge1")))
            async for update in mon.subscribe("status"):
                print(update.kwargs)
    asyncio.run(main())
"""

import asyncio

from .protocol import PAYLOAD_KEY, Error, encode_parts, parse

__all__ = ["AsyncConnection", "connect"]

EVENTS = ("update", "log")
#: Unsolicited lines queued for subscribe(); newer ones are dropped when it is full.
EVENT_BACKLOG = 1024


class AsyncConnection:
    """One connection; create it with `await labwire.aio.connect(...)`."""

    def __init__(self, reader, writer, timeout):
        self.timeout = timeout
        self._reader = reader
        self._writer = writer
        self._next = 0
        self._waiting = {}
        self._events = asyncio.Queue(EVENT_BACKLOG)
        self.events_dropped = 0
        self._task = asyncio.ensure_future(self._read_loop())

    async def request(self, name, /, *args, payload=None, _within=None, **kwargs):
        """Send one request, return its reply (an `error` reply too). The reply must come
        within the connection's timeout (or `_within` seconds)."""
        self._next += 1
        tag = "py%d" % self._next
        if payload is not None:
            kwargs = dict(kwargs, **{PAYLOAD_KEY: len(payload)})
        line = (encode_parts(name, args, kwargs, tag) + "\n").encode("utf-8")
        future = asyncio.get_running_loop().create_future()
        self._waiting[tag] = future
        try:
            self._writer.write(line + (bytes(payload) if payload is not None else b""))
            await self._writer.drain()
            reply = await asyncio.wait_for(future, self.timeout if _within is None else _within)
        finally:
            self._waiting.pop(tag, None)
        reply["tag"] = None
        return reply

    async def call(self, name, /, *args, **kwargs):
        """Like request, but an `error` reply raises labwire.Error."""
        reply = await self.request(name, *args, **kwargs)
        if reply.is_error:
            raise Error(reply)
        return reply

    async def wait(self, condition, timeout=60.0):
        """The monitor's `wait`: the ok reply once the condition holds; labwire.Error
        (code "timeout") when it did not within timeout."""
        reply = await self.request("wait", condition, timeout=timeout,
                                   _within=self.timeout + timeout)
        if reply.is_error:
            raise Error(reply)
        return reply

    async def subscribe(self, topic="status"):
        """Subscribe to "status" or "log"; an async iterator over the events."""
        await self.call("subscribe", topic)
        while True:
            message = await self._events.get()
            if message is None:
                return
            yield message

    async def _read_loop(self):
        try:
            while True:
                raw = await self._reader.readline()
                if not raw:
                    break
                if not raw.strip():  # blank lines are no messages
                    continue
                message = parse(raw.decode("utf-8"))
                length = message["kwargs"].pop(PAYLOAD_KEY, None)
                if length is not None:
                    message["payload"] = await self._reader.readexactly(int(length))
                future = self._waiting.get(message["tag"]) if message["tag"] else None
                if future is not None and not future.done():
                    future.set_result(message)
                elif message["tag"] is None and message["name"] in EVENTS:
                    try:
                        self._events.put_nowait(message)
                    except asyncio.QueueFull:
                        self.events_dropped += 1
        except (ConnectionError, asyncio.IncompleteReadError, ValueError) as err:
            failure = err
        else:
            failure = ConnectionError("connection closed")
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(failure)
        try:
            self._events.put_nowait(None)
        except asyncio.QueueFull:
            pass

    async def close(self):
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except ConnectionError:
            pass
        self._task.cancel()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


async def connect(host="127.0.0.1", port=7100, timeout=10.0, token=None):
    """An AsyncConnection, authenticated when a token is given."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    connection = AsyncConnection(reader, writer, timeout)
    if token is not None:
        await connection.call("auth", token=token)
    return connection
