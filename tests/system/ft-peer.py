#!/usr/bin/env python3
"""Sends sealed peer messages (vnfs/sfc/ftstage.h) to an SFF's voting stage from inside a guest:
one sealed with the instance's key, the same again (a replay), one sealed with another key and one
with a flipped byte (forgeries). Usage: ft-peer.py IFACE DST_MAC KEYFILE TO FROM.
The tag is keyed BLAKE2b of 32 bytes (crypto_generichash)."""
import hashlib
import os
import socket
import struct
import sys

ETHERTYPE = 0x88B5
MAGIC = 0x4654504D
PEER_MSG = 2  # enum ft_event_kind: START, PACKET, PEER_MSG


def seal(key, frm, to, seq, payload):
    body = struct.pack(">IIIQB3xI", MAGIC, frm, to, seq, PEER_MSG, len(payload)) + payload
    return body + hashlib.blake2b(body, key=key, digest_size=32).digest()


def main():
    iface, dst, keyfile, to, frm = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4], 0), \
        int(sys.argv[5], 0)
    key = open(keyfile, "rb").read()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    src = s.getsockname()[4]
    eth = bytes.fromhex(dst.replace(":", "")) + src + struct.pack(">H", ETHERTYPE)
    good = seal(key, frm, to, 1, b"hello")
    flipped = bytearray(good)
    flipped[30] ^= 0x01
    for msg in (good, good, seal(os.urandom(32), frm, to, 2, b"forged"), bytes(flipped)):
        s.send(eth + msg)


if __name__ == "__main__":
    main()
