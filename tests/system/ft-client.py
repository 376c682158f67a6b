#!/usr/bin/env python3
"""Client and checker of tests/system/ft-voter.sh (runs inside the client guest).

send:  sends requests FIRST..FIRST+COUNT-1 (demo layout: req_id, client, origin, body; framed
       by the adapter's wire header as PACKET from endpoint SELF) from BIND to every target, then
       re-sends those the voter has not delivered yet (read from its deliver file), in bounded
       rounds: UDP may lose, and the voter drops the repeats of a finished request.
check: reads the voter's deliver file and checks that each request of the range was delivered
       exactly once with the body the client sent (or, with --none, never).
Exit 0 when the check holds, 1 otherwise."""
import argparse
import socket
import struct
import sys
import time

WIRE = struct.Struct('>BBHII')      # version, kind, flags, from, len
DEMO = struct.Struct('>QII')        # req_id, client, origin
PACKET = 1


def body_of(req):
    return (b'request %d of the ft voter test ' % req) * (1 + req % 3)


def addr(s):
    host, port = s.rsplit(':', 1)
    return host, int(port)


def read_delivered(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                word, length, hexdata = line.split()
                data = bytes.fromhex(hexdata)
                if word != 'deliver' or int(length) != len(data) or len(data) < DEMO.size:
                    raise ValueError('malformed deliver line: %r' % line)
                req, _client, _origin = DEMO.unpack_from(data)
                out.setdefault(req, []).append(data[DEMO.size:])
    except FileNotFoundError:
        pass
    return out


def send(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(addr(args.bind))
    targets = [addr(t.split('=', 1)[1]) for t in args.to]
    pending = set(range(args.first, args.first + args.count))
    rounds = 0
    deadline = time.monotonic() + args.timeout
    while pending and rounds < args.rounds and time.monotonic() < deadline:
        rounds += 1
        for req in sorted(pending):
            payload = DEMO.pack(req, args.self, args.self) + body_of(req)
            msg = WIRE.pack(1, PACKET, 0, args.self, len(payload)) + payload
            for t in targets:
                sock.sendto(msg, t)
            time.sleep(0.001)
        # Wait for the voter (bounded), then retry what it has not delivered.
        wait_until = min(deadline, time.monotonic() + args.wait)
        while time.monotonic() < wait_until:
            pending -= set(read_delivered(args.out))
            if not pending or args.no_retry:
                break
            time.sleep(0.05)
        if args.no_retry:
            break
    print('sent %d requests in %d round(s), %d not delivered' % (args.count, rounds, len(pending)))
    return 0


def check(args):
    got = read_delivered(args.out)
    bad = 0
    for req in range(args.first, args.first + args.count):
        copies = got.get(req, [])
        if args.none:
            if copies:
                print('request %d delivered %d time(s), expected never' % (req, len(copies)))
                bad += 1
        elif len(copies) != 1:
            print('request %d delivered %d time(s), expected once' % (req, len(copies)))
            bad += 1
        elif copies[0] != body_of(req):
            print('request %d delivered a wrong value: %r' % (req, copies[0][:40]))
            bad += 1
    print('checked requests %d..%d: %d bad' % (args.first, args.first + args.count - 1, bad))
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument('mode', choices=['send', 'check'])
    p.add_argument('--bind', default='0.0.0.0:7000')
    p.add_argument('--self', type=int, default=0)
    p.add_argument('--to', action='append', default=[])
    p.add_argument('--first', type=int, default=1)
    p.add_argument('--count', type=int, default=20)
    p.add_argument('--out', required=True)
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--wait', type=float, default=2.0)
    p.add_argument('--timeout', type=float, default=20.0)
    p.add_argument('--no-retry', action='store_true')
    p.add_argument('--none', action='store_true')
    args = p.parse_args()
    return send(args) if args.mode == 'send' else check(args)


if __name__ == '__main__':
    sys.exit(main())
