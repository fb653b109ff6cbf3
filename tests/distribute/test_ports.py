"""bert_tf.distribute.ports: the ports in use are named, free ones are not, and the command
line prints them as the multiworker launcher reads them."""

import socket
import subprocess
import sys

from conftest import ROOT, free_port_range
from bert_tf.distribute.ports import busy_ports


def test_a_listening_port_is_busy_and_its_neighbours_are_not():
    first = free_port_range(3)
    with socket.socket() as taken:
        taken.bind(("", first + 1))
        taken.listen()
        assert busy_ports(first, 3) == [first + 1]
        printed = subprocess.run([sys.executable, "-m", "bert_tf.distribute.ports", str(first), "3"],
                                 capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert (printed.returncode, printed.stdout) == (0, f"{first + 1}\n")
    assert busy_ports(first, 3) == []
