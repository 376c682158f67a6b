#!/usr/bin/env python3
"""Counts what a link did to a numbered UDP stream (run inside guests by tests/system/impair.sh).

  impair-udp.py recv PORT SECONDS      prints: received=N unique=N duplicates=N overtakers=N
  impair-udp.py send ADDR PORT COUNT INTERVAL_US

An overtaker is a packet that arrived before one sent earlier than it: with netem-style
reordering (a fraction sent without the delay) that is the reordered fraction."""
import socket
import struct
import sys
import time


def recv(port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:  # SO_RCVBUFFORCE (33): past rmem_max, as root
        s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("0.0.0.0", port))
    s.settimeout(0.2)
    order = []
    end = time.monotonic() + seconds
    idle_since = None
    while time.monotonic() < end:
        try:
            data = s.recv(2048)
        except socket.timeout:
            # Stop once the stream has been quiet for a second after it began.
            if order and idle_since and time.monotonic() - idle_since > 1.0:
                break
            idle_since = idle_since or time.monotonic()
            continue
        idle_since = None
        (seq,) = struct.unpack("!I", data[:4])
        if seq == 0xFFFFFFFF:
            continue
        order.append(seq)
    seen = set()
    dups = 0
    for q in order:
        if q in seen:
            dups += 1
        seen.add(q)
    # Overtakers: a later arrival carries a smaller sequence number.
    overtakers = 0
    suffix_min = float("inf")
    for q in reversed(order):
        if q > suffix_min:
            overtakers += 1
        suffix_min = min(suffix_min, q)
    print("received=%d unique=%d duplicates=%d overtakers=%d"
          % (len(order), len(seen), dups, overtakers))


def send(addr, port, count, interval_us):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pad = b"x" * 60
    t0 = time.monotonic()
    for i in range(count):
        target = t0 + i * interval_us / 1e6
        while True:
            now = time.monotonic()
            if now >= target:
                break
            if target - now > 0.001:
                time.sleep(target - now - 0.0005)
        s.sendto(struct.pack("!I", i) + pad, (addr, port))


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(int(sys.argv[2]), float(sys.argv[3]))
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
