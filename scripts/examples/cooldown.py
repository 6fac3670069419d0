#!/usr/bin/env python3
"""Cool a Cryo-con loop to a temperature with a ramp and wait until it has settled.

    scripts/examples/cooldown.py --client cryo --loop 1 --to -100 --rate 5 --range hi

Everything goes through the monitor: `send` for the settings, `wait` for the approach and
the hold. The target is in degrees Celsius; the daemon's unit (`--unit k|c`) is read from
its status and the target converted. "Settled" means within --band kelvin of the target
for --hold seconds without a break.
"""

import argparse
import os
import sys
import threading

# The package in this repository (clients/python), installed or not.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python", "src"))
import labwire  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--monitor", default="127.0.0.1:7100")
parser.add_argument("--client", default="cryo")
parser.add_argument("--loop", type=int, default=1)
parser.add_argument("--to", type=float, default=-100.0, help="target [degrees C]")
parser.add_argument("--rate", type=float, default=5.0, help="ramp rate [K/min]")
parser.add_argument("--range", help="heater range (hi, mid, low); default: leave it")
parser.add_argument("--band", type=float, default=0.1, help="settled within this [K]")
parser.add_argument("--hold", type=float, default=60.0, help="for this long [s]")
parser.add_argument("--timeout", type=float, default=4 * 3600, help="give up after [s]")
options = parser.parse_args()

host, port = options.monitor.rsplit(":", 1)
port = int(port)


def connect(longest_wait=0.0):
    # The socket must outlast the longest `wait` sent on it.
    return labwire.connect(host, port, timeout=longest_wait + 30.0)


def log(monitor, level, text):
    print(text)
    monitor.call("log", level, "cooldown: " + text)


with connect() as monitor:
    client, n = options.client, options.loop
    status = monitor.call("send", client, "get_status")["kwargs"]
    unit = status.get("unit", "K")
    target = options.to if unit == "C" else round(options.to + 273.15, 6)
    source = status.get("loop%d_source" % n, "a")
    temperature = "%s.temp_%s" % (client, source)

    try:
        monitor.call("send", client, "set_type", loop=n, type="rampp")
        monitor.call("send", client, "set_ramp", loop=n, rate=options.rate)
        if options.range:
            monitor.call("send", client, "set_range", loop=n, range=options.range)
        monitor.call("send", client, "set_setpoint", loop=n, value=target)
        monitor.call("send", client, "control", state="on")
    except labwire.Error as error:
        log(monitor, "error", "settings refused: %s" % error)
        sys.exit("cooldown: %s" % error)
    log(monitor, "info", "loop %d ramping to %g %s at %g K/min" % (n, target, unit, options.rate))

low, high = target - options.band, target + options.band


def leaves_band(condition, seconds, left):
    """Runs `wait <condition>` on a connection of its own; notes if it came true."""
    with connect(seconds) as waiter:
        try:
            waiter.call("wait", condition, timeout=seconds)
            left.set()
        except labwire.Error as error:
            if error.code != "timeout":
                raise


remaining = options.timeout
with connect(options.timeout) as monitor:
    while True:
        # Approach: into the band from above (cooling), then from below if it overshot.
        for condition in ("%s<=%r" % (temperature, high), "%s>=%r" % (temperature, low)):
            try:
                monitor.call("wait", condition, timeout=max(1, int(remaining)))
            except labwire.Error as error:
                log(monitor, "error", "not settled in time: %s" % error)
                sys.exit("cooldown: %s" % error)
        # Hold: two waits, one per edge of the band; both timing out means it held.
        left = threading.Event()
        edges = ["%s<%r" % (temperature, low), "%s>%r" % (temperature, high)]
        waits = [
            threading.Thread(target=leaves_band, args=(edge, options.hold, left))
            for edge in edges
        ]
        for thread in waits:
            thread.start()
        for thread in waits:
            thread.join()
        if not left.is_set():
            log(monitor, "info", "settled at %g %s (within %g K for %g s)"
                % (target, unit, options.band, options.hold))
            break
        remaining -= options.hold
        if remaining <= 0:
            log(monitor, "error", "left the band again and again; giving up")
            sys.exit("cooldown: not settled")
        log(monitor, "info", "left the %g K band; waiting again" % options.band)
