"""The package against live daemons and the monitor (see conftest.py): the blocking and
the asyncio client, wait, subscribe as an iterator, binary payloads (the monitor's
stored log among them), tokens, and the framework's send_message_wait_reply."""

import asyncio
import subprocess

import pytest

import labwire
import labwire.aio

from conftest import start, stop


def test_blocking_client_against_a_daemon(lab):
    with labwire.connect("127.0.0.1", lab["gauge"]) as gauge:
        assert gauge.call("get_id").kwargs["type"] == "gauge"
        assert "hw_connected" in gauge.call("get_status").kwargs
        with pytest.raises(labwire.Error) as caught:
            gauge.call("set_unit", unit="furlongs")
        assert caught.value.code == "bad_argument"
        assert gauge.call("set_unit", "torr")["kwargs"] == {"unit": "torr"}
        reply = gauge.request("bogus")
        assert reply.is_error and reply.kwargs["code"] == "unknown_command"


def test_the_monitor_relays_waits_and_streams(lab):
    with labwire.connect("127.0.0.1", lab["monitor"]) as mon:
        reply = mon.call("send", "psu1", "set_name", ch=1, name="cold finger")
        assert str(reply) == 'ok set_name ch=1 name="cold finger"'
        mon.call("send", "psu1", "set_voltage", ch=2, value=1.5)
        assert mon.wait("psu1.ch2_voltage_set>=1.5", timeout=5).kwargs == {"psu1.ch2_voltage_set": "1.5"}
        with pytest.raises(labwire.Error) as caught:
            mon.wait("psu1.ch2_voltage_set>100", timeout=0.3)
        assert caught.value.code == "timeout"
        seen = []
        for update in mon.subscribe("status", timeout=10):
            assert update.name == "update"
            seen.extend(k for k in update.kwargs if k.startswith("gauge1."))
            if "gauge1.pressure" in seen:
                break
        assert "gauge1.pressure" in seen


def test_asyncio_client_pipelines_and_subscribes(lab):
    async def main():
        mon = await labwire.aio.connect("127.0.0.1", lab["monitor"])
        async with mon:
            replies = await asyncio.gather(*(mon.call("send", c, "get_id") for c in ["psu1", "gauge1"] * 5))
            assert [r.kwargs["type"] for r in replies] == ["psu", "gauge"] * 5
            with pytest.raises(labwire.Error):
                await mon.call("send", "psu9", "get_id")
            await mon.call("send", "psu1", "set_voltage", ch=3, value=2.25)
            reply = await mon.wait("psu1.ch3_voltage_set==2.25", timeout=5)
            assert reply.kwargs == {"psu1.ch3_voltage_set": "2.25"}
            logs = mon.subscribe("log")
            first = asyncio.ensure_future(logs.__anext__())
            await asyncio.sleep(0.2)
            with labwire.connect("127.0.0.1", lab["monitor"]) as other:
                other.call("log", "info", "from asyncio test")
            line = await asyncio.wait_for(first, 10)
            while line.kwargs.get("message") != "from asyncio test":
                line = await asyncio.wait_for(logs.__anext__(), 10)
            assert line.kwargs["source"] == "script"

    asyncio.run(main())


def test_the_monitors_stored_log_is_a_json_payload(lab):
    import json
    import time

    with labwire.connect("127.0.0.1", lab["monitor"]) as mon:
        mon.call("log", "warning", "python stored this")
        deadline = time.monotonic() + 15
        while True:  # the monitor commits every two seconds
            page = mon.call("logs", source="script", text="PYTHON STORED", limit=5)
            lines = json.loads(page.payload)["logs"]
            if lines or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [(l["level"], l["message"]) for l in lines] == [("warning", "python stored this")]
        assert page.kwargs["n"] == "1" and page.kwargs["more"] == "0"
        with pytest.raises(labwire.Error) as caught:
            mon.call("logs", level="loud")
        assert caught.value.code == "bad_argument"


def test_binary_payloads_arrive_as_bytes(frame_server):
    port, fits = frame_server
    with labwire.connect("127.0.0.1", port) as camera:
        frame = camera.call("get_frame")
        assert frame.name == "frame" and frame.kwargs["format"] == "fits"
        assert "bytes" not in frame.kwargs
        assert frame.payload == fits and frame.payload.startswith(b"SIMPLE  =")
        assert camera.call("get_id").name == "ok"


def test_asyncio_payloads(frame_server):
    port, fits = frame_server

    async def main():
        async with await labwire.aio.connect("127.0.0.1", port) as camera:
            frame = await camera.call("get_frame")
            assert frame.payload == fits

    asyncio.run(main())


def test_send_message_wait_reply_as_the_framework_scripts_use_it(lab):
    status = labwire.send_message_wait_reply("get_status", replies=["status"], port=lab["monitor"])
    assert status.kwargs["psu1"] == "1" and "gauge1.pressure" in status.kwargs
    reply = labwire.send_message_wait_reply("send gauge1 set_unit unit=mbar", port=lab["monitor"])
    assert (reply.name, reply.args, reply.kwargs) == ("ok", ["set_unit"], {"unit": "mbar"})
    refused = labwire.send_message_wait_reply("send gauge1 set_unit unit=psi", port=lab["monitor"])
    assert refused.name == "error" and refused.kwargs["code"] == "bad_argument"


def test_tokens(tmp_path):
    token = tmp_path / "gauge.token"
    token.write_text("s3cret\n")
    gauge, port = start("labwire-gauge", "--simulate", "--listen", "127.0.0.1:0",
                        "--state-file", str(tmp_path / "g.state"), "--token-file", str(token))
    try:
        with labwire.connect("127.0.0.1", port) as anonymous:
            with pytest.raises(labwire.Error) as caught:
                anonymous.call("get_status")
            assert caught.value.code == "forbidden"
        with labwire.connect("127.0.0.1", port, token="s3cret") as trusted:
            assert trusted.call("get_status").kwargs["hw_connected"] in ("0", "1")
        with pytest.raises(labwire.Error):
            labwire.connect("127.0.0.1", port, token="wrong")
    finally:
        stop(gauge)


def test_the_examples_still_run(lab):
    """scripts/examples import the package from the repository."""
    from conftest import REPO
    ramp = subprocess.run(
        ["python3", str(REPO / "scripts/examples/ramp.py"), "--monitor", "127.0.0.1:%d" % lab["monitor"],
         "--to", "1", "--step", "0.5", "--dwell", "0"],
        capture_output=True, text=True, timeout=60)
    assert ramp.returncode == 0, ramp.stdout + ramp.stderr
