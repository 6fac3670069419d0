"""A small labwire client for Python scripts (standard library only).

    import labwire
    with labwire.connect("127.0.0.1", 7100) as mon:
        print(mon.call("get_status")["kwargs"])
        mon.call("send", "psu1", "set_voltage", ch=1, value=5.0)   # raises labwire.Error on error
        mon.call("wait", "gauge1.pressure<1e-5", timeout=600)

It follows the wire grammar of shared/PROTOCOL.md (the Rust crate `labwire-protocol` is
the reference implementation; tests/test_labwire.py checks this module against its rules).
"""

import socket

__all__ = ["connect", "Connection", "Error", "encode", "parse"]

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}
_UNESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r", "0": "\0"}


class Error(Exception):
    """An `error` reply: .code is the protocol's error code, .reply the parsed reply."""

    def __init__(self, reply):
        self.reply = reply
        self.code = reply["kwargs"].get("code", "")
        super().__init__("%s: %s" % (self.code, reply["kwargs"].get("message", "")))


def _is_name(text):
    return bool(text) and all(c in _NAME_CHARS for c in text)


def _value(value, positional):
    if isinstance(value, bool):
        text = "1" if value else "0"
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("nan and inf are not numbers on the wire")
        text = repr(value)
    else:
        text = str(value)
    bare = text and not any(
        c.isspace() or not c.isprintable() or c in "\"'\\" or (positional and c == "=")
        for c in text
    )
    if bare:
        return text
    return '"' + "".join(_ESCAPES.get(c, c) for c in text) + '"'


def encode(name, *args, tag=None, **kwargs):
    """One request line (without terminator)."""
    if not _is_name(name):
        raise ValueError("bad command name %r" % name)
    parts = ["@" + tag] if tag else []
    parts.append(name)
    parts.extend(_value(a, True) for a in args)
    for key, value in kwargs.items():
        if not _is_name(key):
            raise ValueError("bad key %r" % key)
        parts.append(key + "=" + _value(value, False))
    return " ".join(parts)


def _tokens(line):
    """Yield (pieces, bare_prefix) per token: its text and whether its first piece is bare."""
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return
        pieces = []  # (text, bare)
        while i < n and line[i] not in " \t":
            c = line[i]
            if c == '"':
                i += 1
                text = []
                while True:
                    if i >= n:
                        raise ValueError("unclosed double quote")
                    c = line[i]
                    if c == '"':
                        i += 1
                        break
                    if c == "\\":
                        if i + 1 >= n or line[i + 1] not in _UNESCAPES:
                            raise ValueError("bad escape in double quotes")
                        text.append(_UNESCAPES[line[i + 1]])
                        i += 2
                    else:
                        text.append(c)
                        i += 1
                pieces.append(("".join(text), False))
            elif c == "'":
                end = line.find("'", i + 1)
                if end < 0:
                    raise ValueError("unclosed single quote")
                pieces.append((line[i + 1:end], False))
                i = end + 1
            elif c == "\\":
                if i + 1 >= n:
                    raise ValueError("dangling backslash")
                pieces.append((line[i + 1], False))
                i += 2
            else:
                start = i
                while i < n and line[i] not in " \t\"'\\":
                    i += 1
                pieces.append((line[start:i], True))
        yield pieces


def parse(line):
    """A line as {"tag", "name", "args", "kwargs"} (kwargs keep their order)."""
    tokens = list(_tokens(line.strip(" \t\r\n")))
    if not tokens:
        raise ValueError("empty line")
    tag = None
    first = "".join(t for t, _ in tokens[0])
    if first.startswith("@"):
        tag = first[1:]
        tokens = tokens[1:]
        if not tokens:
            raise ValueError("a tag must be followed by a command name")
    name_pieces = tokens[0]
    name = "".join(t for t, _ in name_pieces)
    if not all(bare for _, bare in name_pieces) or not _is_name(name):
        raise ValueError("bad command name %r" % name)
    args, kwargs = [], {}
    for pieces in tokens[1:]:
        head, bare = pieces[0]
        at = head.find("=") if bare else -1
        if at > 0 and _is_name(head[:at]):
            kwargs[head[:at]] = head[at + 1:] + "".join(t for t, _ in pieces[1:])
        else:
            args.append("".join(t for t, _ in pieces))
    return {"tag": tag, "name": name, "args": args, "kwargs": kwargs}


class Connection:
    """One connection to a daemon or the monitor. Every request gets exactly one reply."""

    def __init__(self, host="127.0.0.1", port=7100, timeout=10.0, token=None):
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rb")
        self._next = 0
        self.events = []  # update/log lines that arrived between replies
        if token is not None:
            self.call("auth", token=token)

    def call(self, name, *args, **kwargs):
        """Send one request and return its parsed reply; an error reply raises Error."""
        self._next += 1
        tag = "py%d" % self._next
        self._sock.sendall((encode(name, *args, tag=tag, **kwargs) + "\n").encode("utf-8"))
        while True:
            raw = self._file.readline()
            if not raw:
                raise ConnectionError("connection closed")
            reply = parse(raw.decode("utf-8"))
            length = reply["kwargs"].get("bytes")
            if length is not None:
                reply["payload"] = self._file.read(int(length))
            if reply["tag"] == tag:
                if reply["name"] == "error":
                    raise Error(reply)
                return reply
            self.events.append(reply)

    def close(self):
        self._file.close()
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(host="127.0.0.1", port=7100, **options):
    return Connection(host, port, **options)
