#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""dgram-reader.py SOCKET OUT: bind an AF_UNIX datagram socket at SOCKET (a path) and append
every datagram received to OUT as one line, until SIGTERM. The syslog(3) reader at /dev/log
and the $NOTIFY_SOCKET of the service manager, for test-logging.sh: the real protocols,
received by a real socket."""
import os
import signal
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path + ".tmp")
os.rename(path + ".tmp", path)  # the socket appears bound, never half made
with open(out, "ab", buffering=0) as f:
    while True:
        data = s.recv(65536)
        f.write(data.replace(b"\n", b"\\n") + b"\n")
