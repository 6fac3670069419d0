"""Live daemons and the monitor for the tests: the real binaries (LABWIRE_BIN_DIR, by
default the repository's target/debug) simulating their devices on ephemeral loopback
ports, each with its own state file, stopped at the end."""

import os
import pathlib
import socket
import subprocess
import time

import pytest

import labwire

REPO = pathlib.Path(__file__).resolve().parents[3]
BIN_DIR = pathlib.Path(os.environ.get("LABWIRE_BIN_DIR", REPO / "target" / "debug"))


def start(binary, *args):
    """A labwire server; (process, port) once it printed `listening <addr>`."""
    path = BIN_DIR / binary
    if not path.exists():
        pytest.fail("%s is missing: run `cargo build --workspace --bins` first" % path)
    process = subprocess.Popen(
        [str(path), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    first = process.stdout.readline()
    if not first.startswith("listening "):
        process.kill()
        pytest.fail("%s did not start: %r" % (binary, first))
    return process, int(first.split()[1].rsplit(":", 1)[1])


def stop(process):
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """{"gauge": port, "psu": port, "monitor": port}, with the monitor connected to both."""
    tmp = tmp_path_factory.mktemp("lab")
    gauge, gauge_port = start("labwire-gauge", "--simulate", "--listen", "127.0.0.1:0",
                              "--state-file", str(tmp / "gauge.state"))
    psu, psu_port = start("labwire-psu", "--simulate", "--listen", "127.0.0.1:0",
                          "--state-file", str(tmp / "psu.state"))
    config = tmp / "monitor.ini"
    config.write_text(
        "poll_interval = 0.2\ndb = %s\n[gauge1]\nhost = 127.0.0.1\nport = %d\n"
        "[psu1]\nhost = 127.0.0.1\nport = %d\n" % (tmp / "history.sqlite", gauge_port, psu_port)
    )
    monitor, monitor_port = start("labwire-monitor", "--config", str(config),
                                  "--port", "0", "--http-port", "0")
    ports = {"gauge": gauge_port, "psu": psu_port, "monitor": monitor_port}
    try:
        deadline = time.monotonic() + 20
        with labwire.connect("127.0.0.1", monitor_port) as mon:
            while mon.call("clients").kwargs != {"gauge1": "1", "psu1": "1"}:
                assert time.monotonic() < deadline, "the monitor did not connect its clients"
                time.sleep(0.1)
        yield ports
    finally:
        for process in (monitor, psu, gauge):
            stop(process)


@pytest.fixture
def frame_server():
    """A server that answers `get_frame` as a camera daemon does (docs/protocol.md,
    binary payloads): `frame format=fits ... bytes=N` and N bytes of a FITS file. No
    labwire daemon sends payloads yet; this stands in for the camera one."""
    header = "".join(card.ljust(80) for card in [
        "SIMPLE  =                    T", "BITPIX  =                   16", "NAXIS   =                    2",
        "NAXIS1  =                    4", "NAXIS2  =                    2", "END"])
    fits = header.ljust(2880).encode("ascii") + bytes(range(16)).ljust(2880, b"\0")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    import threading

    def serve():
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as lines:
            for raw in lines:
                request = labwire.parse(raw.decode())
                tag = request.tag
                if request.name == "get_frame":
                    line = labwire.encode_parts("frame", [], {"format": "fits", "width": 4, "height": 2,
                                                                "bytes": len(fits)}, tag)
                    conn.sendall(line.encode() + b"\n" + fits + b"\n")
                    conn.sendall(labwire.encode_parts("update", [], {"frames": 1}).encode() + b"\n")
                else:
                    conn.sendall(labwire.encode_parts("ok", [request.name], {}, tag).encode() + b"\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], fits
    listener.close()
