#!/usr/bin/env python3
"""Helpers the inject system test runs inside guests (stdlib only):
  dns-server IP       answers every A query with IP (port 53), until killed
  dns-ask SERVER NAME prints the A records of the answer (one query, 1 s timeout)
  udp-echo-ask IP     sends b"sfclab-inject-payload" to IP:7, prints "same" or "altered"
  udp-echo-series IP N  N numbered echo requests to IP:7, one at a time; prints
                      "sent N received R stale S": S answers carried an earlier request's number
  agent CALL ADDR METHOD [JSON]  one JSON-RPC call to an agent (ADDR host:port), prints result
"""
import json, socket, struct, sys

def ask(msg, to):
    """Up to 3 tries of 1 s each: a loaded machine can be slow, a fault makes all 3 fail."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    for _ in range(3):
        s.sendto(msg, to)
        try:
            return s.recv(4096)
        except socket.timeout:
            pass
    return None

def dns_server(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 53))
    addr = socket.inet_aton(ip)
    while True:
        q, peer = s.recvfrom(4096)
        if len(q) < 12:
            continue
        qid = q[:2]
        end = 12
        while end < len(q) and q[end]:
            end += 1 + q[end]
        question = q[12:end + 5]
        hdr = qid + struct.pack("!HHHHH", 0x8580, 1, 1, 0, 0)
        rr = struct.pack("!HHHIH", 0xc00c, 1, 1, 60, 4) + addr
        s.sendto(hdr + question + rr, peer)

def dns_ask(server, name):
    q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack("!HH", 1, 1)
    a = ask(q, (server, 53))
    if a is None:
        print("timeout")
        return
    an = struct.unpack("!H", a[6:8])[0]
    ofs = 12
    while a[ofs]:
        ofs += 1 + a[ofs]
    ofs += 5
    for _ in range(an):
        ofs += 2 if a[ofs] & 0xc0 == 0xc0 else 0
        typ, cls, ttl, rdlen = struct.unpack("!HHIH", a[ofs:ofs + 10])
        ofs += 10
        if typ == 1:
            print(socket.inet_ntoa(a[ofs:ofs + 4]))
        ofs += rdlen

def udp_echo_ask(ip):
    msg = b"sfclab-inject-payload"
    a = ask(msg, (ip, 7))
    print("timeout" if a is None else "same" if a == msg else "altered")

def udp_echo_series(ip, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    received = stale = 0
    for i in range(n):
        s.sendto(b"sfclab-series-%06d" % i, (ip, 7))
        s.settimeout(1)
        # Everything that arrives within 100 ms of the answer: a replayed frame follows it.
        try:
            while True:
                a = s.recv(4096)
                received += 1
                if a.startswith(b"sfclab-series-") and int(a[14:20]) < i:
                    stale += 1
                s.settimeout(0.1)
        except (socket.timeout, ValueError):
            pass
    print("sent %d received %d stale %d" % (n, received, stale))

def agent(addr, method, params):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    req = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params:
        req["params"] = json.loads(params)
    s.sendall(json.dumps(req).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    print(json.dumps(json.loads(buf).get("result")))

cmd = sys.argv[1]
if cmd == "dns-server":
    dns_server(sys.argv[2])
elif cmd == "dns-ask":
    dns_ask(sys.argv[2], sys.argv[3])
elif cmd == "udp-echo-ask":
    udp_echo_ask(sys.argv[2])
elif cmd == "udp-echo-series":
    udp_echo_series(sys.argv[2], int(sys.argv[3]))
elif cmd == "agent":
    agent(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
