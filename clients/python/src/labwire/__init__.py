"""labwire for Python: clients for the labwire daemons and monitor (standard library only).

    import labwire
    with labwire.connect("127.0.0.1", 7100) as mon:             # the monitor
        print(mon.call("get_status").kwargs)
        mon.call("send", "psu1", "set_voltage", ch=1, value=5.0)  # labwire.Error on error
        mon.wait("gauge1.pressure<1e-5", timeout=600)

- labwire.Connection / labwire.connect: the blocking client (protocol.py, client.py).
- labwire.aio: the asyncio client.
- labwire.send_message_wait_reply: the helper the CCDLab framework's scripts use.
- labwire.parse / labwire.encode: the line grammar (docs/protocol.md).
"""

from .client import Connection, connect
from .protocol import Error, Message, encode, encode_parts, parse

__all__ = [
    "Connection", "connect", "Error", "Message", "encode", "encode_parts", "parse",
    "send_message_wait_reply",
]
__version__ = "0.1.0"


def send_message_wait_reply(message, replies=None, host="localhost", port=7100, timeout=10.0):
    """Send one line (`'send psu1 output ch=1 state=on'`) on a connection of its own and
    return the reply, as a Message with .name, .args and .kwargs (as the framework's
    Command). With `replies` (names such as ["status"]), lines are read until one of those
    names comes; an `error` reply is returned too, not raised, as the framework did."""
    with Connection(host, port, timeout=timeout) as connection:
        request = parse(message)
        if request["name"] == "wait":
            wait = request["kwargs"].get("timeout", "60")
            connection._sock.settimeout(timeout + float(wait))
        reply = connection.request(request["name"], *request["args"], **request["kwargs"])
        if not replies or reply["name"] in replies:
            return reply
        for event in connection._iterate(timeout):
            if event["name"] in replies:
                return event
        return None
