"""The blocking client: one TCP connection to a daemon or the monitor.

    import labwire
    with labwire.connect("127.0.0.1", 7100) as mon:
        mon.call("send", "psu1", "set_voltage", ch=1, value=5.0)   # labwire.Error on error
        mon.wait("psu1.ch1_voltage>4.9", timeout=30)
        for update in mon.subscribe("status"):
            print(update.kwargs)
"""

import socket

from .protocol import PAYLOAD_KEY, Error, encode_parts, parse

__all__ = ["Connection", "connect", "EVENTS"]

#: Unsolicited lines: they arrive between replies once subscribed.
EVENTS = ("update", "log")
#: Unsolicited lines kept for .events before the oldest are dropped.
EVENT_BACKLOG = 1024


class Connection:
    """One connection. Every request gets exactly one reply; requests carry tags, so
    `update`/`log` lines that arrive meanwhile are kept in .events, never taken for
    replies. Payloads (`bytes=N` lines) come back as bytes in reply.payload."""

    def __init__(self, host="127.0.0.1", port=7100, timeout=10.0, token=None):
        self.timeout = timeout
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rb")
        self._next = 0
        self.events = []
        if token is not None:
            self.call("auth", token=token)

    # --- requests -------------------------------------------------------------------

    def request(self, name, /, *args, payload=None, **kwargs):
        """Send one request, return its reply (an `error` reply too)."""
        self._next += 1
        tag = "py%d" % self._next
        if payload is not None:
            kwargs = dict(kwargs, **{PAYLOAD_KEY: len(payload)})
        line = encode_parts(name, args, kwargs, tag)
        data = (line + "\n").encode("utf-8")
        self._sock.sendall(data + (bytes(payload) if payload is not None else b""))
        while True:
            message = self._read()
            if message["tag"] == tag:
                message["tag"] = None
                return message
            self._keep(message)

    def call(self, name, /, *args, **kwargs):
        """Like request, but an `error` reply raises labwire.Error."""
        reply = self.request(name, *args, **kwargs)
        if reply.is_error:
            raise Error(reply)
        return reply

    def send_line(self, line):
        """A request typed as a line (`send psu1 output ch=1 state=on`); its reply."""
        message = parse(line)
        return self.request(message["name"], *message["args"], **message["kwargs"])

    def wait(self, condition, timeout=60.0):
        """The monitor's `wait <client>.<key><op><number>`: returns the ok reply once the
        condition holds; labwire.Error (code "timeout") when it did not within timeout."""
        self._sock.settimeout(self.timeout + timeout)
        try:
            return self.call("wait", condition, timeout=timeout)
        finally:
            self._sock.settimeout(self.timeout)

    def subscribe(self, topic="status", timeout=None):
        """Subscribe to "status" or "log" and iterate over the events as they come
        (`update` or `log` Messages), forever, or until `timeout` seconds pass without
        one (then the iteration ends)."""
        self.call("subscribe", topic)
        return self._iterate(timeout)

    def _iterate(self, timeout):
        while self.events:
            yield self.events.pop(0)
        self._sock.settimeout(timeout)
        try:
            while True:
                try:
                    message = self._read()
                except socket.timeout:
                    return
                if message["tag"] is None and message["name"] in EVENTS:
                    yield message
        finally:
            self._sock.settimeout(self.timeout)

    # --- lines ----------------------------------------------------------------------

    def _read(self):
        raw = b"\n"
        while not raw.strip():  # blank lines are no messages
            raw = self._file.readline()
            if not raw:
                raise ConnectionError("connection closed")
        message = parse(raw.decode("utf-8"))
        length = message["kwargs"].pop(PAYLOAD_KEY, None)
        if length is not None:
            payload = self._file.read(int(length))
            if len(payload) != int(length):
                raise ConnectionError("connection closed inside a %s-byte payload" % length)
            message["payload"] = payload
        return message

    def _keep(self, message):
        self.events.append(message)
        del self.events[:-EVENT_BACKLOG]

    def close(self):
        self._file.close()
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(host="127.0.0.1", port=7100, **options):
    """A Connection (options: timeout, token)."""
    return Connection(host, port, **options)
