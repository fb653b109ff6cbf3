"""Which of a range of local ports are taken: `scripts/run_pretraining_multiworker.sh` asks
before it starts N workers on PORT .. PORT+N-1, so that a port in use is named at once instead
of a worker failing later (tests find free ranges with it too).

    python -m bert_tf.distribute.ports FIRST COUNT    # prints the ports in use, space-separated
"""

import socket
import sys


def busy_ports(first, count):
    """The ports of first .. first+count-1 that cannot be bound on every interface, as
    TensorFlow's gRPC servers bind them (a port only waiting out a closed connection is free,
    as it is for them: SO_REUSEADDR)."""
    busy = []
    for port in range(first, first + count):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("", port))
            except OSError:
                busy.append(port)
    return busy


def main(argv):
    first, count = (int(value) for value in argv[1:3])
    print(" ".join(str(port) for port in busy_ports(first, count)))


if __name__ == "__main__":
    main(sys.argv)
