#!/usr/bin/env python3
"""The attacks of tests/system/isolation.sh that speak to an agent's port directly.

Run inside the orchestrator's namespace (`ip netns exec sfclab-NAME`) or a guest. Each mode
prints one word (or a number) for the shell to check; it never decides pass or fail itself.

The keyed-RPC modes speak the protocol of vnfs/lib/rpc.h with the standard library: the
guest's key is BLAKE2b-256 of its name keyed by the instance's key (crypto_generichash), MACs
are HMAC-SHA-512 truncated to 32 bytes (crypto_auth_hmacsha512256).
"""
import hashlib
import hmac
import json
import socket
import struct
import sys
import time


def guest_key(state_key_path, guest):
    master = open(state_key_path, 'rb').read()
    return hashlib.blake2b(guest.encode(), key=master, digest_size=32).digest()


def mac(key, challenge, counter, direction, data):
    msg = challenge + struct.pack('>Q', counter) + direction + data
    return hmac.new(key, msg, 'sha512').digest()[:32].hex().encode()


def connect(addr, timeout=3.0):
    host, port = addr.rsplit(':', 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def readline(s, limit=1 << 20):
    buf = b''
    while not buf.endswith(b'\n'):
        chunk = s.recv(1)
        if not chunk:
            return None
        buf += chunk
        if len(buf) > limit:
            return None
    return buf[:-1]


class Keyed:
    """An authenticated connection, as the orchestrator makes them."""

    def __init__(self, addr, key):
        self.s = connect(addr)
        self.key = key
        hello = readline(self.s)
        self.challenge = bytes.fromhex(hello.split()[1].decode())
        self.s.sendall(b'AUTH ' + mac(key, self.challenge, 0, b'H', b'') + b'\n')
        self.counter = 0
        self.id = 0

    def line(self, method, params=None):
        self.counter += 1
        self.id += 1
        req = {'jsonrpc': '2.0', 'id': self.id, 'method': method}
        if params is not None:
            req['params'] = params
        body = json.dumps(req).encode()
        return mac(self.key, self.challenge, self.counter, b'Q', body) + b' ' + body + b'\n'

    def call(self, method, params=None):
        self.s.sendall(self.line(method, params))
        return self.answer()

    def answer(self):
        resp = readline(self.s, 80 << 20)
        if resp is None:
            return None
        m, body = resp.split(b' ', 1)
        if m != mac(self.key, self.challenge, self.counter, b'R', body):
            return 'BADMAC'
        return json.loads(body)


def try_connect(addr, timeout):
    """'refused', 'timeout', 'unreachable' or 'connected'."""
    try:
        s = connect(addr, timeout)
    except ConnectionRefusedError:
        return 'refused'
    except socket.timeout:
        return 'timeout'
    except OSError:
        return 'unreachable'
    s.close()
    return 'connected'


def unsigned_call(addr, method, params):
    """A request without the key: 'dropped' unless the agent answers it."""
    try:
        s = connect(addr)
        readline(s)         # The challenge, which we cannot answer.
        req = {'jsonrpc': '2.0', 'id': 1, 'method': method, 'params': params}
        s.sendall(json.dumps(req).encode() + b'\n')
        resp = readline(s)
    except OSError:
        return 'dropped'
    return 'answered' if resp and b'result' in resp else 'dropped'


def main():
    mode = sys.argv[1]
    if mode == 'connect':                     # connect ADDR TIMEOUT
        print(try_connect(sys.argv[2], float(sys.argv[3])))
    elif mode == 'unsigned':                  # unsigned ADDR METHOD PARAMS
        print(unsigned_call(sys.argv[2], sys.argv[3], json.loads(sys.argv[4])))
    elif mode == 'wrong-key':                 # wrong-key ADDR KEYFILE OTHER-GUEST
        c = Keyed(sys.argv[2], guest_key(sys.argv[3], sys.argv[4]))
        try:
            r = c.call('ping')
        except OSError:
            r = None
        print('answered' if isinstance(r, dict) and 'result' in r else 'dropped')
    elif mode == 'replay':                    # replay ADDR KEYFILE GUEST
        key = guest_key(sys.argv[3], sys.argv[4])
        c = Keyed(sys.argv[2], key)
        line = c.line('roles')
        c.s.sendall(line)
        first = c.answer()
        results = ['answered' if isinstance(first, dict) and 'result' in first else 'dropped']
        for target in ('same', 'new'):
            try:
                if target == 'new':
                    c = Keyed(sys.argv[2], key)
                c.s.sendall(line)
                r = readline(c.s)
                results.append('answered' if r and b'result' in r else 'dropped')
            except OSError:
                results.append('dropped')
        print(' '.join(results))           # "answered dropped dropped" is right
    elif mode == 'flood':                     # flood ADDR CONNS MIB: lines with no newline
        conns, sent = [], 0
        for _ in range(int(sys.argv[3])):
            try:
                conns.append(connect(sys.argv[2]))
            except OSError:
                pass
        chunk = b'x' * (1 << 20)
        for s in conns:
            try:
                for _ in range(int(sys.argv[4])):
                    s.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass
        print(sent >> 20)
    elif mode == 'idle':                      # idle ADDR N SECONDS: N idle connections
        conns = []
        for _ in range(int(sys.argv[3])):
            try:
                conns.append(connect(sys.argv[2], 1.0))
            except OSError:
                pass
        time.sleep(float(sys.argv[4]))
        print(len(conns))
    elif mode == 'stall':                     # stall ADDR KEYFILE GUEST: stuck callers
        key = guest_key(sys.argv[3], sys.argv[4])
        # A role that runs for a long time, a wait on it without end in sight, a caller that
        # never reads its answers: then a ping must still come back at once.
        c = Keyed(sys.argv[2], key)
        r = c.call('start_role', {'role': 'echo', 'args': ['--port', '9']})
        role = r['result']['id']
        over = c.call('wait_role', {'id': role, 'timeout_ms': 10 ** 9})
        capped = 'error' in over
        w = Keyed(sys.argv[2], key)
        w.s.sendall(w.line('wait_role', {'id': role, 'timeout_ms': 3600000}))
        mute = Keyed(sys.argv[2], key)
        for _ in range(2000):
            try:
                mute.s.setblocking(False)
                mute.s.send(mute.line('roles'))
            except OSError:
                break
        t0 = time.monotonic()
        p = Keyed(sys.argv[2], key).call('ping')
        dt = time.monotonic() - t0
        c.call('stop_role', {'id': role})
        print('capped' if capped else 'uncapped',
              'answered' if p and 'result' in p else 'silent', '%.0f' % (dt * 1000))
    elif mode == 'fill-roles':                # fill-roles ADDR KEYFILE GUEST N
        c = Keyed(sys.argv[2], guest_key(sys.argv[3], sys.argv[4]))
        failed = 0
        for _ in range(int(sys.argv[5])):
            r = c.call('start_role', {'role': 'vnf', 'args': ['--no-such-option']})
            failed += 'error' in r
        r = c.call('start_role', {'role': 'echo', 'args': ['--port', '9']})
        ok = 'result' in r
        if ok:
            c.call('stop_role', {'id': r['result']['id']})
        print(failed, 'started' if ok else 'refused: ' + json.dumps(r))
    elif mode == 'ping':                      # ping ADDR KEYFILE GUEST
        r = Keyed(sys.argv[2], guest_key(sys.argv[3], sys.argv[4])).call('ping')
        print(json.dumps(r['result']))
    elif mode == 'stop-after-workload':      # stop-after-workload DB PID: SIGSTOP the runner
        import os
        import signal
        import sqlite3
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                db = sqlite3.connect(sys.argv[2], timeout=1)
                row = db.execute("select r.status from events e join runs r on r.id = e.run "
                                 "where e.kind = 'phase-end' and e.target = 'client[0]'").fetchone()
                db.close()
            except sqlite3.Error:
                row = None
            if row:
                os.kill(int(sys.argv[3]), signal.SIGSTOP)
                # What the history said when the runner stopped: still running, or already done.
                db = sqlite3.connect(sys.argv[2], timeout=1)
                print(db.execute("select status from runs").fetchone()[0])
                return
            time.sleep(0.002)
        print('never')
    elif mode == 'keyctl':                    # keyctl: the host root's user keyring?
        import ctypes
        import errno
        libc = ctypes.CDLL(None, use_errno=True)
        # keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0): 250 on x86_64.
        r = libc.syscall(250, 0, -4, 0)
        print('allowed' if r >= 0 else errno.errorcode.get(ctypes.get_errno(), '?'))
    else:
        sys.exit('unknown mode ' + mode)


main()
