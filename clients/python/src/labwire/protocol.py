"""The line protocol (docs/protocol.md): one encoder, one parser, the Message type.

The Rust crate `labwire-protocol` is the reference implementation; tests/test_protocol.py
checks this module against the same rules (round trip, quoting, the `=` rule).
"""

__all__ = ["Message", "Error", "encode", "encode_parts", "parse", "PAYLOAD_KEY"]

#: The keyword announcing a binary payload of N bytes after the line.
PAYLOAD_KEY = "bytes"


class Message(dict):
    """One line: a dict with "tag", "name", "args", "kwargs" (and "payload", bytes, when
    the line carried one), readable as attributes too (`reply.kwargs["unit"]`), as the
    framework's `Command` objects were."""

    def __init__(self, name, args=None, kwargs=None, tag=None, payload=None):
        super().__init__(tag=tag, name=name, args=list(args or []), kwargs=dict(kwargs or {}))
        if payload is not None:
            self["payload"] = payload

    def __getattr__(self, key):
        if key == "payload":
            return self.get("payload")
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    @property
    def is_error(self):
        return self["name"] == "error"

    def __str__(self):
        return encode_parts(self["name"], self["args"], self["kwargs"], self["tag"])


class Error(Exception):
    """An `error` reply: .code is the protocol's error code, .reply the Message."""

    def __init__(self, reply):
        self.reply = reply
        self.code = reply["kwargs"].get("code", "")
        self.message = reply["kwargs"].get("message", "")
        super().__init__("%s: %s" % (self.code, self.message))


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}
_UNESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r", "0": "\0"}


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


def encode(name, /, *args, tag=None, **kwargs):
    """One line (without terminator): encode("set_name", 1, name="cold finger")."""
    return encode_parts(name, args, kwargs, tag)


def encode_parts(name, args=(), kwargs=None, tag=None):
    """One line from its parts; any key may be used (even "name" or "tag")."""
    kwargs = kwargs or {}
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
    """A line as a Message: tag, name, args, kwargs (in their order). ValueError if malformed."""
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
    return Message(tag=tag, name=name, args=args, kwargs=kwargs)
