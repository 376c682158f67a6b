#!/usr/bin/env python3
"""The client and egress of tests/system/ftvnf.sh, run in the client guest's network namespace.

Sends COUNT numbered UDP packets (real Ethernet/IPv4/UDP frames, one of FLOWS inside flows
10.1.0.F:2000+F -> 198.51.100.1:53) at RATE per second to the FTvNF ID sequencer, framed as
`sfcd ft` datagrams (vnfs/ft/adapter.h: PACKET from endpoint SELF), and receives what the last
master forwards back to it (the chain's egress: id(8) then the translated frame). Writes a JSON
summary: sent, received (distinct), lost, duplicates, reordered, and per flow every translated
source (address:port) it saw, in order. Exit 0 when it could run, whatever it measured.
"""
import argparse, json, select, socket, struct, sys, time

FT_WIRE_VERSION, FT_EV_PACKET = 1, 1


def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(flow, seq):
    payload = struct.pack('!II', seq, flow) + b'ftvnf-test-payload'
    src, dst = bytes([10, 1, 0, flow + 1]), bytes([198, 51, 100, 1])
    udp = struct.pack('!HHHH', 2000 + flow, 53, 8 + len(payload), 0) + payload
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), seq & 0xffff, 0x4000, 64, 17, 0,
                     src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    eth = bytes.fromhex('020000000002') + bytes.fromhex('020000000001') + b'\x08\x00'
    return eth + ip + udp


def parse(data, id_len):
    """(seq, flow, 'ip:port') from an egress datagram, or None."""
    if len(data) < 12 + id_len + 14 + 20 + 8 + 8 or data[0] != FT_WIRE_VERSION or data[1] != FT_EV_PACKET:
        return None
    f = data[12 + id_len:]
    if f[12:14] != b'\x08\x00':
        return None
    ihl = (f[14] & 0xf) * 4
    ip = f[14:14 + ihl]
    udp = f[14 + ihl:]
    sport, = struct.unpack('!H', udp[0:2])
    seq, flow = struct.unpack('!II', udp[8:16])
    return seq, flow, '%s:%d' % (socket.inet_ntoa(ip[12:16]), sport)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bind', required=True)
    ap.add_argument('--self', type=int, required=True)
    ap.add_argument('--to', required=True, help='IP:PORT of the sequencer')
    ap.add_argument('--count', type=int, default=1000)
    ap.add_argument('--flows', type=int, default=8)
    ap.add_argument('--rate', type=float, default=500)
    ap.add_argument('--wait', type=float, default=5, help='seconds to wait for stragglers')
    ap.add_argument('--out', required=True)
    ap.add_argument('--no-id', action='store_true',
                    help='the chain adds no packet id (a baseline of `none` cores)')
    a = ap.parse_args()
    ip, port = a.bind.split(':')
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((ip, int(port)))
    tip, tport = a.to.split(':')
    dst = (tip, int(tport))
    got, dups, order = {}, 0, []
    sent_at, lat = {}, []
    flows = {}

    def receive(timeout):
        nonlocal dups
        r, _, _ = select.select([s], [], [], timeout)
        while r:
            data = s.recv(65536)
            now = time.monotonic()
            p = parse(data, 0 if a.no_id else 8)
            if p:
                seq, flow, src = p
                if seq in got:
                    dups += 1
                else:
                    got[seq] = src
                    if seq in sent_at:
                        lat.append((now - sent_at[seq]) * 1e6)
                    order.append(seq)
                    seen = flows.setdefault(str(flow), [])
                    if not seen or seen[-1] != src:
                        seen.append(src)
            r, _, _ = select.select([s], [], [], 0)

    start = time.monotonic()
    for seq in range(1, a.count + 1):
        f = frame((seq - 1) % a.flows, seq)
        hdr = struct.pack('!BBHII', FT_WIRE_VERSION, FT_EV_PACKET, 0, a.self, len(f))
        sent_at[seq] = time.monotonic()
        s.sendto(hdr + f, dst)
        due = start + seq / a.rate
        while True:
            left = due - time.monotonic()
            if left <= 0:
                break
            receive(left)
    deadline = time.monotonic() + a.wait
    while len(got) < a.count and time.monotonic() < deadline:
        receive(0.05)
    reordered = sum(1 for i in range(1, len(order)) if order[i] < order[i - 1])
    lat.sort()
    pct = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None
    out = {'sent': a.count, 'received': len(got), 'lost': a.count - len(got),
           'duplicates': dups, 'reordered': reordered, 'flows': flows,
           'lost_first': [q for q in range(1, a.count + 1) if q not in got][:20],
           'p50_us': pct(0.5), 'p99_us': pct(0.99)}
    with open(a.out, 'w') as fp:
        json.dump(out, fp)
    print('sent %d received %d lost %d duplicates %d reordered %d, one-way p50 %s us p99 %s us%s' %
          (a.count, len(got), a.count - len(got), dups, reordered, out['p50_us'], out['p99_us'],
           ' (lost: %s)' % out['lost_first'] if out['lost_first'] else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
