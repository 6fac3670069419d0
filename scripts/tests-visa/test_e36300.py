"""The simulated E36300 through pyvisa-py, an independent VISA client: over VXI-11 (found
through the simulator's portmapper, and at the core channel's port directly) and over
the raw SCPI socket, one instrument behind both.

Run (scripts/test does, in the venv it installs):
    LABWIRE_SIM_BIN=target/debug/labwire-sim target/venv/bin/python \
        -m unittest discover -s scripts/tests-visa

pyvisa-py asks the portmapper on port 111 only; the simulator's runs on a free port, so
the test points pyvisa-py's portmapper client at it (its module constant PMAP_PORT). The
rest of pyvisa-py runs unchanged.
"""

import os
import subprocess
import unittest

import pyvisa
from pyvisa_py.protocols import rpc

SIM = os.environ.get("LABWIRE_SIM_BIN", "target/debug/labwire-sim")
IDN = "Keysight Technologies,E36313A,MY59000001,1.0.4-1.0.4-1.00"


def start_simulator():
    """labwire-sim e36313a with VXI-11 on free ports; returns (process, socket port,
    portmapper port, core channel port) from the lines it announces."""
    sim = subprocess.Popen(
        [SIM, "e36313a", "--listen", "127.0.0.1:0", "--vxi11", "--portmapper-port", "0",
         "--log-level", "warn"],
        stdout=subprocess.PIPE, text=True)
    portmapper = core = None
    for line in sim.stdout:
        if " vxi11 portmapper on " in line:
            # labwire-sim E36313A vxi11 portmapper on ADDR (core channel ADDR)
            words = line.replace("(", " ").replace(")", " ").split()
            portmapper = int(words[words.index("on") + 1].rsplit(":", 1)[1])
            core = int(words[words.index("channel") + 1].rsplit(":", 1)[1])
        if " listening on " in line:
            socket = int(line.split()[-1].rsplit(":", 1)[1])
            return sim, socket, portmapper, core
    raise RuntimeError("labwire-sim did not announce its ports")


class E36300OverVisa(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim, cls.socket_port, cls.portmapper_port, cls.core_port = start_simulator()
        rpc.PMAP_PORT = cls.portmapper_port
        cls.rm = pyvisa.ResourceManager("@py")

    @classmethod
    def tearDownClass(cls):
        cls.rm.close()
        cls.sim.terminate()
        code = cls.sim.wait(10)
        if code != 0:
            raise AssertionError(f"labwire-sim exited with {code} on SIGTERM")

    def open(self, resource, **options):
        instrument = self.rm.open_resource(resource, timeout=2000, **options)
        self.addCleanup(instrument.close)
        return instrument

    def vxi11(self):
        # pyvisa's defaults: CR LF written, reads end on VXI-11's END.
        return self.open("TCPIP::127.0.0.1::inst0::INSTR")

    def socket(self):
        return self.open(f"TCPIP::127.0.0.1::{self.socket_port}::SOCKET",
                         read_termination="\n", write_termination="\n")

    def test_identify_over_each_transport(self):
        self.assertEqual(self.vxi11().query("*IDN?").strip(), IDN)
        self.assertEqual(self.socket().query("*IDN?"), IDN)
        direct = self.open(f"TCPIP::127.0.0.1,{self.core_port}::inst0::INSTR")
        self.assertEqual(direct.query("*IDN?").strip(), IDN)

    def test_one_instrument_behind_both(self):
        psu = self.vxi11()
        # PSUDaemon's lines, pymeasure's spelling, QCoDeS's number format.
        psu.write("volt 12.5, (@2)")
        psu.write("CURR 0.25,(@2)")
        psu.write("OUTPut 1, (@2)")
        socket = self.socket()
        self.assertEqual(socket.query("VOLT? (@2);CURR? (@2);:OUTP? (@2)"),
                         "+1.25000000E+01;+2.50000000E-01;1")
        # 12.5 V into the simulator's 10 ohm load wants 1.25 A: the 0.25 A limit holds
        # (readings scatter by a few counts, as on the real supply).
        self.assertAlmostEqual(float(psu.query("MEAS:CURR? (@2)")), 0.25, delta=0.001)
        self.assertEqual(int(psu.query("STAT:QUES:INST:ISUM2:COND?")), 1, "CC")
        socket.write("OUTP OFF,(@2)")
        self.assertEqual(psu.query("OUTP? (@2)").strip(), "0")
        self.assertEqual(psu.query("SYST:ERR?").strip(), '+0,"No error"')

    def test_an_unanswered_query_times_out_and_the_link_goes_on(self):
        psu = self.vxi11()
        psu.timeout = 300
        with self.assertRaises(pyvisa.errors.VisaIOError) as raised:
            psu.query("NOPE?")
        self.assertEqual(raised.exception.error_code, pyvisa.constants.StatusCode.error_timeout)
        psu.timeout = 2000
        self.assertEqual(psu.query("SYST:ERR?").strip(), '-113,"Undefined header"')

    def test_device_clear_status_byte_and_lock(self):
        psu = self.vxi11()
        psu.write("*IDN?")
        self.assertTrue(psu.read_stb() & 0x10, "MAV: an answer is waiting")
        psu.clear()
        self.assertEqual(psu.read_stb() & 0x10, 0, "device clear dropped it")
        psu.lock_excl()
        self.assertEqual(psu.query("*OPC?").strip(), "1")
        psu.unlock()

    def test_a_message_longer_than_one_write_is_chunked(self):
        psu = self.vxi11()
        long = "*CLS;" + ";".join(["*OPC"] * 1500)
        psu.write(long)
        # Longer than the instrument's input buffer: dropped with -363, link fine.
        self.assertEqual(psu.query("SYST:ERR?").strip(), '-363,"Input buffer overrun"')
        self.assertEqual(psu.query("*OPC?").strip(), "1")


if __name__ == "__main__":
    unittest.main()
