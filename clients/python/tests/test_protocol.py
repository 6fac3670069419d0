"""The Python package's grammar against the protocol's rules (docs/protocol.md)."""

import random
import unittest

import labwire


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

    def test_any_key_can_be_encoded(self):
        self.assertEqual(labwire.encode("set_name", 1, name="cold finger"), 'set_name 1 name="cold finger"')
        self.assertEqual(labwire.encode_parts("x", [], {"tag": "a"}), "x tag=a")
        m = labwire.parse("status name=x")
        self.assertEqual((m.name, m.kwargs["name"], str(m)), ("status", "x", "status name=x"))

    def test_numbers_and_booleans(self):
        self.assertEqual(labwire.encode("set", value=5.0, on=True), "set value=5.0 on=1")
        with self.assertRaises(ValueError):
            labwire.encode("set", value=float("nan"))
