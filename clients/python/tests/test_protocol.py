"""The Python client against the protocol's rules and a live daemon, when one is given.

Run: python3 -m unittest discover -s scripts/tests
"""

import os
import random
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import labwire  # noqa: E402


class Grammar(unittest.TestCase):
    def test_examples_from_the_spec(self):
        self.assertEqual(labwire.parse('x key="a b"')["kwargs"], {"key": "a b"})
        self.assertEqual(labwire.parse('x "k=v"')["args"], ["k=v"])
        self.assertEqual(labwire.parse("x k=a=b")["kwargs"], {"k": "a=b"})
        self.assertEqual(labwire.parse("x k=")["kwargs"], {"k": ""})
        m = labwire.parse("@t7 status a=1")
        self.assertEqual((m["tag"], m["name"]), ("t7", "status"))
        self.assertEqual(labwire.parse(r'x k"x"=v')["args"], ["kx=v"])
        self.assertEqual(labwire.parse("wait a.b<=-1")["args"], ["a.b<=-1"])

    def test_errors(self):
        for line in ['x "open', "x 'open", "x end\\", "k=v x", "@t"]:
            with self.assertRaises(ValueError, msg=line):
                labwire.parse(line)

    def test_round_trip(self):
        rng = random.Random(7)
        alphabet = "ab =\"'\\\t\n\r\0é☃,.<>"
        for _ in range(3000):
            args = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(0, 3))]
            kwargs = {"k%d" % i: "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for i in range(rng.randint(0, 3))}
            line = labwire.encode("cmd", *args, tag="t1", **kwargs)
            self.assertNotIn("\n", line)
            parsed = labwire.parse(line)
            self.assertEqual((parsed["args"], parsed["kwargs"]), (args, kwargs), line)

    def test_numbers_and_booleans(self):
        self.assertEqual(labwire.encode("set", value=5.0, on=True), "set value=5.0 on=1")
        with self.assertRaises(ValueError):
            labwire.encode("set", value=float("nan"))


@unittest.skipUnless(os.environ.get("LABWIRE_GAUGE_BIN"), "set LABWIRE_GAUGE_BIN to test against a daemon")
class LiveDaemon(unittest.TestCase):
    def test_get_status_and_errors(self):
        daemon = subprocess.Popen(
            [os.environ["LABWIRE_GAUGE_BIN"], "--simulate", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            host, port = daemon.stdout.readline().split()[1].rsplit(":", 1)
            with labwire.connect(host, int(port)) as gauge:
                self.assertEqual(gauge.call("get_id")["kwargs"]["type"], "gauge")
                self.assertIn("hw_connected", gauge.call("get_status")["kwargs"])
                with self.assertRaises(labwire.Error) as caught:
                    gauge.call("set_unit", unit="furlongs")
                self.assertEqual(caught.exception.code, "bad_argument")
                self.assertEqual(gauge.call("set_unit", "torr")["kwargs"], {"unit": "torr"})
        finally:
            daemon.terminate()
            daemon.wait(10)


if __name__ == "__main__":
    unittest.main()
