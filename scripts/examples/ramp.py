#!/usr/bin/env python3
"""Ramp a power supply channel through the monitor, logging each step.

    scripts/examples/ramp.py --client psu1 --channel 1 --to 5 --step 0.5
"""

import argparse
import os
import sys
import time

# The package in this repository (clients/python), installed or not.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python", "src"))
import labwire  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--monitor", default="127.0.0.1:7100")
parser.add_argument("--client", default="psu1")
parser.add_argument("--channel", type=int, default=1)
parser.add_argument("--to", type=float, default=5.0, help="final voltage [V]")
parser.add_argument("--step", type=float, default=0.5, help="voltage step [V]")
parser.add_argument("--dwell", type=float, default=1.0, help="seconds per step")
options = parser.parse_args()

host, port = options.monitor.rsplit(":", 1)
with labwire.connect(host, int(port)) as monitor:
    monitor.call("send", options.client, "output", ch=options.channel, state="on")
    steps = max(1, round(options.to / options.step))
    for i in range(1, steps + 1):
        volts = round(options.to * i / steps, 6)
        try:
            monitor.call("send", options.client, "set_voltage", ch=options.channel, value=volts)
        except labwire.Error as error:
            monitor.call("log", "error", "ramp stopped at %g V: %s" % (volts, error))
            sys.exit("ramp stopped: %s" % error)
        monitor.call("log", "info", "%s ch%d at %g V" % (options.client, options.channel, volts))
        time.sleep(options.dwell)
