#!/usr/bin/env python3
"""Reads a role's control socket: `stats` counters, or FTC's `ftc_state` with each group's
store decoded (vnfs/lib/state.h export format) into the Monitor's counters and SimpleNAT's
mappings. Prints JSON."""
import base64, json, socket, struct, sys

def call(sock, method):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode() + b"\n")
    return json.loads(s.makefile().readline())["result"]

def records(b):
    if b[:4] != b"SFST":
        raise ValueError("not a state export")
    n = struct.unpack(">I", b[24:28])[0]
    o, out = 28, {}
    for _ in range(n):
        op, _, kl, vl = struct.unpack(">BBHI", b[o:o + 8])
        o += 8
        k, v = b[o:o + kl], b[o + kl:o + kl + vl]
        o += kl + vl
        if op == 1:
            out[k] = v
    return out

sock, what = sys.argv[1], sys.argv[2]
if what == "stats":
    print(json.dumps(call(sock, "stats")["counters"]))
else:
    r = call(sock, "ftc_state")
    groups = []
    for g in r["groups"]:
        rec = records(base64.b64decode(g["state"]))
        u64 = lambda k: struct.unpack(">Q", rec[k])[0] if k in rec else 0
        flows = [list(struct.unpack(">QQ", v)) for k, v in rec.items() if k.startswith(b"Mf")]
        # FTC's own Monitor (vnfs/ft/ftc/mbox.c) keeps a flow's records per sharing group of
        # the head's threads (a flow here: one of them) and no all-packets total (one record
        # every transaction would lock): its total is the sum of the shared counters, its
        # bytes the records'. nf_monitor's are "mon.packets" and "mon.bytes".
        slots = sum(struct.unpack(">Q", v)[0] for k, v in rec.items() if k.startswith(b"Ms"))
        packets = u64(b"mon.packets") if b"mon.packets" in rec else slots
        nbytes = u64(b"mon.bytes") if b"mon.bytes" in rec else sum(f[1] for f in flows)
        # SimpleNAT's records (vnfs/fn/txnat.h): "So" proto ip port -> external port, "Si"
        # proto port -> ip port, "Sn" the shared cursor. Addresses dotted, ports host order.
        ip = lambda b: ".".join(str(x) for x in b)
        nat_out = [[k[2], ip(k[3:7]), struct.unpack(">H", k[7:9])[0], struct.unpack(">H", v)[0]]
                   for k, v in rec.items() if k.startswith(b"So") and len(k) == 9]
        nat_in = [[k[2], struct.unpack(">H", k[3:5])[0], ip(v[0:4]), struct.unpack(">H", v[4:6])[0]]
                  for k, v in rec.items() if k.startswith(b"Si") and len(k) == 5]
        groups.append({"group": g["group"], "epoch": g["epoch"], "digest": g["digest"],
                       "packets": packets, "bytes": nbytes, "flows": flows,
                       "nat": {"out": sorted(nat_out), "in": sorted(nat_in),
                               "cursor": u64(b"Sn")}})
    print(json.dumps({"ready": r["ready"], "groups": groups}))
