#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The host end of selftests/vm/net-basic.sh, run inside its namespace.

Follows the guest's console log and acts on its markers:
  PVKIT-NET-READY            ping the guest (3 echo requests, busybox ping)
  PVKIT-NET-H2G NAME BYTES   connect to the guest's port 5002 and send
                             BYTES of "pvkit-net-SEED-NAME\\n" repeated
  PVKIT-NET-KILL NAME        after 1 s, SIGKILL the VM's pvkit-netback
                             (pvkit stat), once per NAME
  PVKIT-NET-UDP NAME N       send N datagrams to the guest's UDP port 9
                             (an XDP program's test frames) and count the
                             ones that come back reflected
  PVKIT-NET-HOSTLINK STATE   ip link set TAP STATE (down or up), once
                             per STATE
  PVKIT-EXIT                 write the results and stop
and accepts every connection on port 5001 (guest -> host transfers; the
stream's first line names it), hashing what arrives.  Results: one JSON
object {"ping": rc, "g2h": {NAME: [sha, bytes]}, "h2g": {NAME: [sha,
bytes]}, "kills": {NAME: pid}, "udp": {NAME: [sent, back]}} in OUT.  Every wait is bounded.

usage: net_peer.py LOG OUT SEED GUEST_IP VM_NAME PVKIT [TAP]
"""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

LOG, OUT, SEED, GUEST, VM, PVKIT = sys.argv[1:7]
TAP = sys.argv[7] if len(sys.argv) > 7 else None
res = {"ping": None, "g2h": {}, "h2g": {}, "kills": {}, "udp": {},
       "link": {}}
lock = threading.Lock()


def pattern_sha(name, n):
    line = ("pvkit-net-%s-%s\n" % (SEED, name)).encode()
    h = hashlib.sha256()
    chunk = line * ((1 << 16) // len(line) + 2)
    off = 0
    while off < n:
        k = min(n - off, 1 << 16)
        start = off % len(line)
        h.update(chunk[start:start + k])
        off += k
    return h.hexdigest()


def serve_g2h():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 5001))
    s.listen(8)
    while True:
        c, _ = s.accept()
        threading.Thread(target=recv_one, args=(c,), daemon=True).start()


def recv_one(c):
    c.settimeout(120)
    h, n, first = hashlib.sha256(), 0, b""
    try:
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            if len(first) < 128:
                first += b[:128]
            h.update(b)
            n += len(b)
    except OSError:
        pass
    c.close()
    # the first line is "pvkit-net-SEED-NAME"
    name = first.split(b"\n")[0].decode(errors="replace")
    name = name[len("pvkit-net-%s-" % SEED):]
    with lock:
        res["g2h"][name] = [h.hexdigest(), n]


def send_h2g(name, n):
    line = ("pvkit-net-%s-%s\n" % (SEED, name)).encode()
    chunk = line * ((1 << 16) // len(line) + 2)
    s = None
    for _ in range(100):
        try:
            s = socket.create_connection((GUEST, 5002), timeout=5)
            break
        except OSError:
            time.sleep(0.1)
    if s is None:
        return
    s.settimeout(120)
    h, off = hashlib.sha256(), 0
    try:
        while off < n:
            k = min(n - off, 1 << 16)
            start = off % len(line)
            b = chunk[start:start + k]
            s.sendall(b)
            h.update(b)
            off += k
        s.shutdown(socket.SHUT_WR)
        s.recv(1)
    except OSError:
        pass
    s.close()
    with lock:
        res["h2g"][name] = [h.hexdigest(), off]


def send_udp(name, n):
    """N paced datagrams to GUEST:9; count distinct valid reflections.

    Paced (2 ms apart) so that a count short of N means the guest's XDP
    lost or miscounted frames, not that a queue overflowed.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    s.setblocking(False)
    want = {("pvkit-xdp-%s-%d" % (name, i)).encode() for i in range(n)}
    back = set()

    def drain():
        while True:
            try:
                b, addr = s.recvfrom(256)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if addr == (GUEST, 9) and b in want:
                back.add(b)

    for i in range(n):
        try:
            s.sendto(("pvkit-xdp-%s-%d" % (name, i)).encode(), (GUEST, 9))
        except OSError:
            pass
        time.sleep(0.002)
        drain()
    end = time.monotonic() + 3
    while time.monotonic() < end and len(back) < n:
        time.sleep(0.05)
        drain()
    s.close()
    with lock:
        res["udp"][name] = [n, len(back)]


def kill_backend(name):
    time.sleep(1.0)
    try:
        st = json.loads(subprocess.run([PVKIT, "stat", VM, "--json"],
                                       capture_output=True,
                                       timeout=10).stdout)
        for d in st.get("devices", []):
            pid = d.get("backend", {}).get("pid", 0)
            if d.get("type") == "net" and pid > 0:
                os.kill(pid, signal.SIGKILL)
                with lock:
                    res["kills"][name] = pid
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass


def main():
    threading.Thread(target=serve_g2h, daemon=True).start()
    seen = 0
    deadline = time.monotonic() + 1200
    done = False
    while not done and time.monotonic() < deadline:
        try:
            with open(LOG, errors="replace") as f:
                lines = f.read().replace("\r", "").splitlines()
        except OSError:
            lines = []
        for line in lines[seen:]:
            w = line.split()
            if not w:
                continue
            if w[0] == "PVKIT-NET-READY":
                r = subprocess.run(["busybox", "ping", "-c", "3", "-W", "2",
                                    GUEST], capture_output=True)
                res["ping"] = r.returncode
            elif w[0] == "PVKIT-NET-H2G" and len(w) == 3:
                threading.Thread(target=send_h2g, args=(w[1], int(w[2])),
                                 daemon=True).start()
            elif w[0] == "PVKIT-NET-KILL" and len(w) == 2 and \
                    w[1] not in res["kills"]:
                threading.Thread(target=kill_backend, args=(w[1],),
                                 daemon=True).start()
            elif w[0] == "PVKIT-NET-UDP" and len(w) == 3 and \
                    w[1] not in res["udp"]:
                threading.Thread(target=send_udp, args=(w[1], int(w[2])),
                                 daemon=True).start()
            elif w[0] == "PVKIT-NET-HOSTLINK" and len(w) == 2 and TAP \
                    and w[1] in ("down", "up") and w[1] not in res["link"]:
                r = subprocess.run(["ip", "link", "set", TAP, w[1]],
                                   capture_output=True, timeout=10)
                res["link"][w[1]] = "rc=%d" % r.returncode
            elif w[0].startswith("PVKIT-EXIT"):
                done = True
        seen = len(lines)
        time.sleep(0.1)
    time.sleep(0.5)
    with lock:
        for name, (sha, n) in res["g2h"].items():
            res["g2h"][name] = [sha, n, pattern_sha(name, n) == sha]
        with open(OUT, "w") as f:
            json.dump(res, f)


if __name__ == "__main__":
    main()
