#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Description: pvkit_net against a hostile host ('make check-net-hostile').

hostile_host.py's fake pvkit-hv (imported, not copied) with a network
device: net.0, two queue pairs (rx, tx, rx, tx, control; ABI.md 10).
The host is the whole link: it is 10.99.0.1 (MAC 02:99:00:00:00:01),
answers ARP requests and ICMP echo requests it reads off the tx rings
(each checked byte for byte: lengths, IP and ICMP checksums, the ping
pattern) on rx ring 0, and answers the control commands.  The guest is
10.99.0.2.

Each scenario forges one thing the host writes to pvkit_net: the config
(clamped or refused), an rx response (length, merge count, id, offload
header, index), a tx completion (id, duplicate, status) or a control
answer (status, id, none).  The forgery is triggered by the guest's
"ping -s 1111": the host writes it to the rx ring before (or instead of)
the echo reply.  The expected outcome stands next to each scenario: the
counter that moves (rx_errors: a response that breaks the rules of a
buffer; rx_dropped: a bad frame; tx_errors), or the device broken
(carrier off, "device broken" logged, ip link still works); always no
BUG/WARNING/Oops and a clean rmmod, and the next scenario's traffic
works.

usage: hostile_net.py [--only N[,N...]] [--list] [--log FILE]
"""

import collections
import struct
import sys

import hostile_host as hh
from hostile_host import Scenario, Dev, S_CONNECTED, M64

DEV_NET = 3
F_CSUM, F_GUEST_CSUM = 1 << 0, 1 << 1
F_HOST_TSO4, F_HOST_TSO6, F_HOST_USO = 1 << 2, 1 << 3, 1 << 4
F_GUEST_TSO4, F_GUEST_TSO6, F_GUEST_USO = 1 << 5, 1 << 6, 1 << 7
F_MTU, F_STATUS, F_CTRL_RX, F_MQ = 1 << 8, 1 << 9, 1 << 10, 1 << 11
F_CTRL_OFFLOADS, F_TX_INDIRECT = 1 << 12, 1 << 13
F_DEFAULT = (F_CSUM | F_GUEST_CSUM | F_HOST_TSO4 | F_HOST_TSO6 |
             F_GUEST_TSO4 | F_GUEST_TSO6 | F_MTU | F_STATUS | F_CTRL_RX |
             F_MQ | F_CTRL_OFFLOADS | F_TX_INDIRECT)
HDR_NEEDS_CSUM, HDR_DATA_VALID = 1, 2
GSO_NONE, GSO_TCPV4, GSO_ECN = 0, 1, 0x80
CTRL_QUEUE_PAIRS, CTRL_RX_MODE, CTRL_MAC_TABLE = 1, 2, 3
CTRL_S_OK, CTRL_S_INVAL, CTRL_S_ERR = 0, 1, 3
TX_S_OK, TX_S_INVAL = 0, 1
RX_S_INVAL = 1

# Rings: pair i's rx at NET_BASE + 0x6000 i (4 KiB), its tx 4 KiB later
# (20 KiB), the control ring after the last pair; queue q kicks and is
# signalled on channel 2 + q (8 vectors: two pairs at most).
NET_BASE = 0x10000
RX_SLOTS, TX_SLOTS, CTRL_SLOTS = 64, 64, 8
RX_REQ, RX_RSP, TX_REQ, TX_RSP, CTRL_REQ, CTRL_RSP = 24, 32, 256, 16, 64, 16
M32 = 0xffffffff

GUEST_MAC = bytes.fromhex("027000000002")
PEER_MAC = bytes.fromhex("029900000001")
PEER_IP, GUEST_IP = bytes([10, 99, 0, 1]), bytes([10, 99, 0, 2])
PATTERN = 0xa5            # ping -p a5
TRIGGER = 1111            # ping -s 1111: the host forges now
BAD_ID = 0xdead00000000fff0     # tag 0xfff0: beyond every ring's depth


def net_queues(pairs):
    qs = []
    for i in range(pairs):
        base = NET_BASE + 0x6000 * i
        qs.append((base, RX_SLOTS, RX_REQ, RX_RSP, 2 + 2 * i, 2 + 2 * i))
        qs.append((base + 0x1000, TX_SLOTS, TX_REQ, TX_RSP, 3 + 2 * i,
                   3 + 2 * i))
    qs.append((NET_BASE + 0x6000 * pairs, CTRL_SLOTS, CTRL_REQ, CTRL_RSP,
               2 + 2 * pairs, 2 + 2 * pairs))
    return qs


def net_dev(features=F_DEFAULT, mac=GUEST_MAC, status=1, pairs=2, mtu=1500,
            max_mtu=1500, config_size=128, layout=2):
    """net.0 with @layout pairs of rings; the config says @pairs."""
    cfg = mac + struct.pack("<HHHHHII", status, pairs, mtu, max_mtu, 0, 0, 0)
    return Dev(DEV_NET, 0, features=features, config_size=config_size,
               config=cfg.ljust(128, b"\0"), queues=net_queues(layout))


def csum(b):
    if len(b) & 1:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def hdr(flags=0, gso=GSO_NONE, hdr_len=0, gso_size=0, start=0, off=0):
    return struct.pack("<BBHHHHHI", flags, gso, hdr_len, gso_size, start,
                       off, 0, 0)


def udp_frame(dst=GUEST_MAC, size=60):
    """A well-formed UDP datagram from the peer to the guest (port 9):
    were it passed up, rx_packets would count it."""
    pay = bytes(size - 42)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(pay), 1, 0, 64, 17,
                     0, PEER_IP, GUEST_IP)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", 9, 9, 8 + len(pay), 0) + pay
    return dst + PEER_MAC + b"\x08\x00" + ip + udp


class NetConn(hh.RingConn):
    """A connected net.0: per queue the private indices, per rx ring the
    buffers posted and not answered yet (id, gpa, len), oldest first."""

    def __init__(self, d):
        super().__init__(d)
        n = len(d.queues)
        self.pairs = (n - 1) // 2
        self.posted = [collections.deque() for _ in range(n)]
        self.backlog = []           # frames for rx ring 0 without buffers


class NetHost(hh.Host):
    """Host with a network device (type 3) on top of the test and block
    devices; scenario.mode["net"] says what it forges."""

    def setup(self, n):
        super().setup(n)
        self.net = self.mode.get("net", {})
        self.seen = collections.Counter()   # echo, arp, bad, ctrl<cmd>
        self.triggered = False
        self.update_verdict()

    # ---- host-side checks, read by the guest after rmmod
    def update_verdict(self):
        v = 0
        if self.seen["bad"]:
            v |= 1                  # a tx frame was not what was sent
        if self.seen["echo"] < self.net.get("echo", 0):
            v |= 2                  # fewer echo requests than wanted
        for cmd in self.net.get("want_ctrl", ()):
            if not self.seen["ctrl%d" % cmd]:
                v |= 4              # an expected command never came
        self.w32(hh.CTL_VERDICT, v)

    def note(self, msg):
        print("hostile-net: %s: %s" % (self.cur.name, msg), flush=True)

    def ring_state(self, d):
        return NetConn(d) if d.type == DEV_NET else super().ring_state(d)

    # ---- rx helpers for the forgeries (rx ring 0)
    def take(self, c):
        if not c.posted[0]:
            self.note("no rx buffer posted to forge with")
            self.seen["bad"] += 1
            return (BAD_ID, 0, 0)
        return c.posted[0].popleft()

    def rx_rsp(self, d, c, bid, ln, nbufs, h=None, status=0):
        self.rsp(d, c, 0, struct.pack("<Q16sIHBB", bid & M64, h or hdr(),
                                      ln, nbufs, status, 0))

    def deliver(self, d, c, frame, h=None, split=None):
        """@frame in posted buffers (@split: the first pieces' sizes);
        False if too few are posted (nothing written then)."""
        pieces, pos = [], 0
        for n in (split or []):
            pieces.append(frame[pos:pos + n])
            pos += n
        bufs = list(c.posted[0])
        while pos < len(frame) or not pieces:
            if len(pieces) >= len(bufs):
                return False
            n = bufs[len(pieces)][2]
            pieces.append(frame[pos:pos + n])
            pos += n
        if len(pieces) > len(bufs):
            return False
        for i, p in enumerate(pieces):
            bid, gpa, ln = self.take(c)
            self.ram[gpa:gpa + len(p)] = p
            self.rx_rsp(d, c, bid, len(p), len(pieces) if not i else 0,
                        h if not i else None)
        return True

    def send_frame(self, d, c, frame):
        if c.backlog or not self.deliver(d, c, frame):
            c.backlog.append(frame)

    # ---- the fake peer
    def on_frame(self, d, c, f):
        """A frame the guest sent: check it, answer ARP and echo; returns
        what to answer the tx request with (None: the default)."""
        if len(f) < 14:
            return self.bad("a %d-byte frame" % len(f))
        etype = struct.unpack_from("!H", f, 12)[0]
        if etype == 0x0806:
            return self.on_arp(d, c, f)
        if etype != 0x0800 or len(f) < 34 or f[30:34] != PEER_IP or \
                struct.unpack_from("!H", f, 20)[0] & 0x3fff:
            return None             # IPv6, multicast, not for us, fragments
        ihl = (f[14] & 15) * 4
        tot = struct.unpack_from("!H", f, 16)[0]
        if f[14] >> 4 != 4 or ihl < 20 or csum(f[14:14 + ihl]) or \
                tot != len(f) - 14:
            return self.bad("IPv4 header (length %d, frame %d)" %
                            (tot, len(f)))
        if f[23] != 1 or f[14 + ihl] != 8:
            return None
        icmp = f[14 + ihl:]
        if csum(icmp) or any(x != PATTERN for x in icmp[12:]):
            return self.bad("ICMP echo of %d bytes: checksum or pattern" %
                            len(icmp))
        self.seen["echo"] += 1
        reply = bytearray(f[6:12] + PEER_MAC + f[12:])
        reply[26:30], reply[30:34] = f[30:34], f[26:30]
        reply[34] = 0
        reply[36:38] = b"\0\0"
        reply[36:38] = struct.pack("!H", csum(bytes(reply[34:])))
        if len(icmp) - 8 == TRIGGER and not self.triggered:
            self.triggered = True
            return self.forge(d, c, bytes(reply))
        self.send_frame(d, c, bytes(reply))
        return None

    def on_arp(self, d, c, f):
        if len(f) < 42:
            return self.bad("short ARP")
        ht, pt, hl, pl, op = struct.unpack_from("!HHBBH", f, 14)
        if (ht, pt, hl, pl) != (1, 0x800, 6, 4) or f[22:28] != f[6:12]:
            return self.bad("ARP fields")
        if op == 1 and f[38:42] == PEER_IP:
            self.seen["arp"] += 1
            self.send_frame(d, c, f[6:12] + PEER_MAC + b"\x08\x06" +
                      struct.pack("!HHBBH", 1, 0x800, 6, 4, 2) + PEER_MAC +
                      PEER_IP + f[22:28] + f[28:32])
        return None

    def bad(self, what):
        self.seen["bad"] += 1
        self.note("tx frame refused: " + what)
        return None

    def forge(self, d, c, reply):
        """The trigger: the scenario's forgery, then (unless it says
        otherwise) the echo reply; the tx status to answer with."""
        fn = self.net.get("rx")
        send_reply = fn(self, d, c, reply) if fn else True
        if send_reply:
            self.send_frame(d, c, reply)
        return self.net.get("tx")

    # ---- queues
    def serve_tx(self, d, c, q):
        for r in self.reqs(d, c, q):
            rid, h, ln, nsegs, flags, _, ind = struct.unpack_from(
                "<Q16sIHBBQ", r)
            segs = []
            if flags & 1:
                segs = [struct.unpack_from("<QI", self.ram, ind + 16 * i)
                        for i in range(min(nsegs, 64))]
            else:
                segs = [struct.unpack_from("<QI", r, 48 + 16 * i)
                        for i in range(min(nsegs, 13))]
            f = bytearray()
            for gpa, n in segs:
                if gpa + n > hh.RAM_SIZE:
                    break
                f += self.ram[gpa:gpa + n]
            hf, _, _, _, cs, co = struct.unpack_from("<BBHHHH", h)
            forged = None
            if len(f) != ln:
                self.bad("tx request of %d bytes in segments of %d" %
                         (ln, len(f)))
            else:
                if hf & HDR_NEEDS_CSUM and cs + co + 2 <= ln:
                    f[cs + co:cs + co + 2] = struct.pack(
                        "!H", csum(bytes(f[cs:])))
                forged = self.on_frame(d, c, bytes(f))
            if forged is None:
                self.rsp(d, c, q, struct.pack("<QB", rid, TX_S_OK))
            elif forged == "bad_id":
                self.rsp(d, c, q, struct.pack("<QB", BAD_ID, TX_S_OK))
            elif forged == "dup":
                self.rsp(d, c, q, struct.pack("<QB", rid, TX_S_OK))
                self.rsp(d, c, q, struct.pack("<QB", rid, TX_S_OK))
            else:
                self.rsp(d, c, q, struct.pack("<QB", rid, forged))
        self.publish_q(d, c, q)

    def serve_ctrl(self, d, c, q):
        for r in self.reqs(d, c, q):
            rid, cmd, a0 = struct.unpack_from("<QB7xQ", r)
            self.seen["ctrl%d" % cmd] += 1
            how = self.net.get("ctrl", {}).get(cmd, CTRL_S_OK)
            if cmd == CTRL_QUEUE_PAIRS and not 1 <= a0 <= c.pairs:
                how = CTRL_S_INVAL
            if how == "never":
                continue
            if how == "bad_id":
                rid, how = BAD_ID, CTRL_S_OK
            self.rsp(d, c, q, struct.pack("<QB", rid, how))
        self.publish_q(d, c, q)

    def serve_other(self, slot, d, c):
        if d.type != DEV_NET:
            return False
        if d.state != S_CONNECTED:
            return True
        for q in range(2 * c.pairs):
            if q & 1:
                self.serve_tx(d, c, q)
                continue
            for r in self.reqs(d, c, q):
                c.posted[q].append(struct.unpack_from("<QQI", r))
        while c.backlog and self.deliver(d, c, c.backlog[0]):
            c.backlog.pop(0)
        if self.net.get("bad_index") and self.triggered:
            self.net = dict(self.net, bad_index=0)
            self.publish_q(d, c, 0, extra=RX_SLOTS + 1)
        self.publish_q(d, c, 0)
        self.serve_ctrl(d, c, 2 * c.pairs)
        self.update_verdict()
        return True


# ---- the forgeries, run at the trigger (rx ring 0); True: then reply
def rx_one(ln, nbufs, status=0):
    """One response for the oldest posted buffer, a UDP frame in it."""
    def f(h, d, c, reply):
        bid, gpa, _ = h.take(c)
        h.ram[gpa:gpa + 60] = udp_frame()
        h.rx_rsp(d, c, bid, ln, nbufs, status=status)
        return True
    return f


def rx_hdr(**kw):
    """A UDP frame whose offload header says @kw."""
    def f(h, d, c, reply):
        h.deliver(d, c, udp_frame(), hdr(**kw))
        return True
    return f


def rx_split(frame_len, split, nbufs=None):
    """The echo reply (or a frame of @frame_len bytes) in pieces."""
    def f(h, d, c, reply):
        fr = reply if frame_len is None else udp_frame()[:frame_len]
        h.deliver(d, c, fr, None, split)
        return frame_len is not None
    return f


def rx_ids(kind):
    def f(h, d, c, reply):
        bid, gpa, _ = h.take(c)
        h.ram[gpa:gpa + 60] = udp_frame()
        if kind == "unknown":
            bid = BAD_ID
        elif kind == "stale":
            bid ^= 1 << 40                  # a live tag, another request
        h.rx_rsp(d, c, bid, 60, 1)
        if kind == "dup":
            h.rx_rsp(d, c, bid, 60, 1)
        return False
    return f


def rx_merge_cut(h, d, c, reply):
    """A frame of 8 buffers cut after 4 by the start of the next."""
    for i in range(4):
        bid, gpa, ln = h.take(c)
        h.ram[gpa:gpa + 60] = udp_frame()
        h.rx_rsp(d, c, bid, ln, 8 if not i else 0)
    h.deliver(d, c, udp_frame())
    return True


def rx_merge_many(h, d, c, reply):
    """30 buffers of 4096 bytes: more than an skb has fragments."""
    h.deliver(d, c, udp_frame() + bytes(29 * 4096 + 100))
    return True


def rx_nothing(h, d, c, reply):
    return False


# ---- the guest's side: shell run once net.0 is probed
NET_WAIT = r"""
b=/sys/bus/pvkit/devices/net.0
i=0; e=""
while [ -z "$e" ]; do
	e=$(ls $b/net 2>/dev/null); i=$((i + 1)); [ $i -gt 100 ] && exit 10
	sleep 0.1
done
s=/sys/class/net/$e
want() {
	v=$(cat $1 2>/dev/null)
	[ "$v" = "$2" ] && return 0
	echo "hostile: $1 is '$v', want '$2'"; return 1
}
up() { ip addr add 10.99.0.2/24 dev $e && ip link set $e up; }
# pingok [COUNT [SIZE [WAIT]]]: replies came
pingok() {
	ping -c ${1:-1} -W ${3:-5} -p a5 ${2:+-s $2} 10.99.0.1 >/dev/null
}
cnt() { cat $s/statistics/$1; }
carrier_is() {
	i=0; while [ "$(cat $s/carrier 2>/dev/null)" != $1 ]; do
		i=$((i + 1)); [ $i -gt 50 ] && return 1; sleep 0.1
	done
}
"""
NO_NET = "sleep 0.5; [ -z \"$(ls /sys/bus/pvkit/devices/net.0/net " \
    "2>/dev/null)\" ]"

# The control: ARP, 2 + 1 pings, 4 queues, the counters.
NET_GOOD = NET_WAIT + """
want $s/mtu 1500 || exit 20
[ "$(ls $s/queues | tr '\\n' ' ')" = "rx-0 rx-1 tx-0 tx-1 " ] || exit 21
up || exit 22
carrier_is 1 || exit 23
pingok 2 || exit 24
pingok 1 1111 || exit 25
[ $(cnt rx_packets) -ge 4 ] || exit 26
[ $(cnt tx_packets) -ge 4 ] || exit 27
[ $(cnt rx_dropped) = 0 ] && [ $(cnt rx_errors) = 0 ] || exit 28
ethtool -S $e | grep -q 'rx0_packets: [1-9]' || exit 29
ip link set $e down || exit 30
"""


def net_drop(counter, delta=1, extra=""):
    """Forged rx at the trigger: @counter grows by @delta, the other of
    rx_dropped/rx_errors stays, the echo reply behind it arrives, the
    link stays up and keeps working."""
    other = "rx_errors" if counter == "rx_dropped" else "rx_dropped"
    return NET_WAIT + """
up || exit 20
pingok 2 || exit 21
c0=$(cnt %s); o0=$(cnt %s)
pingok 1 1111 || exit 22
c1=$(cnt %s); o1=$(cnt %s)
[ $((c1 - c0)) = %d ] || { echo "hostile: %s +$((c1 - c0)), want +%d"; exit 23; }
[ $o1 = $o0 ] || { echo "hostile: %s moved"; exit 24; }
pingok 1 || exit 25
want $s/carrier 1 || exit 26
%s
ip link set $e down || exit 27
""" % (counter, other, counter, other, delta, counter, delta, other, extra)


# The device breaks: the trigger's reply never comes, carrier goes off,
# nothing passes any more, ip link still works.
NET_BROKEN = NET_WAIT + """
up || exit 20
pingok 2 || exit 21
pingok 1 1111 2 && exit 22
carrier_is 0 || exit 23
pingok 1 "" 1 && exit 24
ip link set $e down && ip link set $e up && ip link show $e >/dev/null ||
	exit 25
ip link set $e down
"""

# tx refused (INVAL): the frame is dropped and counted, the link goes on.
NET_TX_INVAL = NET_WAIT + """
up || exit 20
pingok 2 || exit 21
t0=$(cnt tx_errors)
pingok 1 1111 2 && exit 22
[ $(($(cnt tx_errors) - t0)) = 1 ] || exit 23
pingok 1 || exit 24
ip link set $e down
"""


def mtu_check(mtu, lo, hi):
    """The netdev's MTU, and its bounds probed with ip link."""
    return NET_WAIT + """
want $s/mtu %d || exit 40
ip link set $e mtu %d 2>/dev/null && exit 41
ip link set $e mtu %d 2>/dev/null && exit 42
for m in %d %d %d; do ip link set $e mtu $m || exit 43; done
""" % (mtu, hi + 1, lo - 1, hi, lo, mtu)


def net(name, action, log=None, modules="pvkit_net", **net_mode):
    """A net.0 scenario; @net_mode: the host's forgeries and checks
    (rx, tx, ctrl, bad_index, echo: pings it must see, want_ctrl)."""
    devs = net_mode.pop("devs", None) or [net_dev()]
    return Scenario(name, "net.0", log, devs=devs, modules=modules,
                    action=action, connects=0 if action == NO_NET else 1,
                    mode=dict(net=net_mode))


NOT_ACKED = F_DEFAULT & ~(F_GUEST_TSO4 | F_GUEST_TSO6 | F_CTRL_OFFLOADS)

NET_SCENARIOS = [
    net("good: ARP and 3 pings both ways, byte for byte; 2 queue pairs",
        NET_GOOD, echo=3),
    # ---- config
    net("config: 16 bytes: refused", NO_NET, "config too short: 16 bytes",
        devs=[net_dev(config_size=16)]),
    net("config: 0 queue pairs: refused", NO_NET, "0 queue pairs in 5",
        devs=[net_dev(pairs=0)]),
    net("config: 9 queue pairs (ABI max 8): refused", NO_NET,
        "9 queue pairs in 5", devs=[net_dev(pairs=9)]),
    net("config: MTU 0, max_mtu 0: clamped to 68/68, pings", mtu_check(
        68, 68, 68) + "up && pingok 2 20 || exit 44\n", echo=2,
        devs=[net_dev(mtu=0, max_mtu=0)]),
    net("config: MTU 9000 > max_mtu 1500: MTU 1500", mtu_check(
        1500, 68, 1500) + "up && pingok 1 || exit 44\n", echo=1,
        devs=[net_dev(mtu=9000)]),
    net("config: MTU and max_mtu 65535: clamped to 65521", mtu_check(
        65521, 68, 65521) + "up && pingok 1 || exit 44\n", echo=1,
        devs=[net_dev(mtu=65535, max_mtu=65535)]),
    net("config: MTU 9000 without F_MTU: ignored, 1500/1500", mtu_check(
        1500, 68, 1500), devs=[net_dev(features=F_DEFAULT & ~F_MTU,
                                       mtu=9000, max_mtu=9000)]),
    net("config: status 0xfffe (unknown bits, link down): no carrier",
        NET_WAIT + "ip link set $e up || exit 40\n"
        "sleep 0.5; want $s/carrier 0 || exit 41\n"
        "ip link set $e down\n", devs=[net_dev(status=0xfffe)]),
    net("config: status 0xffff, unknown feature bit 40, 2 pairs without "
        "MQ: one pair, bit 40 not acked, pings", NET_WAIT +
        "[ \"$(ls $s/queues | tr '\\n' ' ')\" = 'rx-0 tx-0 ' ] || exit 40\n"
        "[ $(($(cat $b/acked_features) >> 40)) = 0 ] || exit 41\n"
        "up && pingok 2 || exit 42\n", echo=2,
        devs=[net_dev(status=0xffff, features=(F_DEFAULT & ~F_MQ) |
                      1 << 40)]),
    net("config: GUEST_TSO4/6 without GUEST_CSUM, multicast MAC: GSO not "
        "acked, a random MAC", NET_WAIT +
        "[ $(($(cat $b/acked_features) & 0x62)) = 0 ] || exit 40\n"
        "[ \"$(cat $s/address)\" != 03:70:00:00:00:02 ] || exit 41\n"
        "up && pingok 1 || exit 42\n", "unusable: a random one", echo=1,
        devs=[net_dev(features=F_DEFAULT & ~F_GUEST_CSUM,
                      mac=bytes.fromhex("037000000002"))]),
    # ---- rx responses
    net("rx: len 4097 in a 4096-byte buffer: rx_errors +1",
        net_drop("rx_errors"), "rx: bad response", rx=rx_one(4097, 1)),
    net("rx: len 0: rx_dropped +1", net_drop("rx_dropped"), rx=rx_one(0, 1)),
    net("rx: echo reply merged from 6 + 92 bytes (Ethernet header split): "
        "delivered", net_drop("rx_dropped", 0), echo=4,
        rx=rx_split(None, [6])),
    net("rx: a 10-byte frame in 6 + 4 bytes: rx_dropped +1",
        net_drop("rx_dropped"), rx=rx_split(10, [6, 4])),
    net("rx: num_buffers 65: rx_errors +1", net_drop("rx_errors"),
        rx=rx_one(100, 65)),
    net("rx: num_buffers 8, the next frame starts after 4: rx_errors +1",
        net_drop("rx_errors"), rx=rx_merge_cut),
    net("rx: num_buffers 30 (more than an skb holds): rx_dropped +1",
        net_drop("rx_dropped"), rx=rx_merge_many),
    net("rx: a continuation (num_buffers 0) without a frame start: "
        "rx_errors +1", net_drop("rx_errors"), rx=rx_one(60, 0)),
    net("rx: status 7: rx_errors +1", net_drop("rx_errors"),
        rx=rx_one(60, 1, status=7)),
    net("rx: status INVAL, len 0 (a refused buffer): reused, no counter",
        net_drop("rx_errors", 0), rx=rx_one(0, 0, status=RX_S_INVAL)),
    net("rx: NEEDS_CSUM with csum_start + csum_offset past the frame: "
        "rx_dropped +1", net_drop("rx_dropped"),
        rx=rx_hdr(flags=HDR_NEEDS_CSUM, start=58, off=6)),
    net("rx: GSO TCPv4 not acked: rx_dropped +1", net_drop("rx_dropped"),
        rx=rx_hdr(flags=HDR_NEEDS_CSUM, gso=GSO_TCPV4, hdr_len=54,
                  gso_size=1000, start=34, off=16),
        devs=[net_dev(features=NOT_ACKED)]),
    net("rx: GSO TCPv4 with gso_size 0: rx_dropped +1",
        net_drop("rx_dropped"),
        rx=rx_hdr(flags=HDR_NEEDS_CSUM, gso=GSO_TCPV4, hdr_len=54,
                  gso_size=0, start=34, off=16)),
    net("rx: DATA_VALID without GUEST_CSUM: rx_dropped +1",
        net_drop("rx_dropped"), rx=rx_hdr(flags=HDR_DATA_VALID),
        devs=[net_dev(features=F_DEFAULT & ~F_GUEST_CSUM)]),
    net("rx: unknown header flag 0x80, GSO_ECN without GSO: "
        "rx_dropped +2", net_drop("rx_dropped", 2),
        rx=lambda h, d, c, r: rx_hdr(flags=0x80)(h, d, c, r) and
        rx_hdr(gso=GSO_ECN)(h, d, c, r)),
    net("rx: response id never issued: broken", NET_BROKEN,
        "not in flight (duplicate or never issued)", rx=rx_ids("unknown")),
    net("good after a broken device", NET_GOOD, echo=3),
    net("rx: the same id answered twice: broken", NET_BROKEN,
        "not in flight (duplicate or never issued)", rx=rx_ids("dup")),
    net("rx: a posted buffer's tag with another sequence: broken",
        NET_BROKEN, "stale response id", rx=rx_ids("stale")),
    net("rx: rsp_prod 65 ahead of what was posted: broken", NET_BROKEN,
        "response index beyond the requests in flight", rx=rx_nothing,
        bad_index=1),
    # ---- tx completions
    net("tx: a completion with an unknown id: broken", NET_BROKEN,
        "not in flight (duplicate or never issued)", rx=rx_nothing,
        tx="bad_id"),
    # (more responses than requests, or an id no longer in flight: which
    # check sees it first depends on what else the guest has in flight)
    net("tx: a frame completed twice: broken", NET_BROKEN,
        "device broken: queue", rx=rx_nothing, tx="dup"),
    net("tx: status 7: broken", NET_BROKEN, "unknown tx status 7",
        rx=rx_nothing, tx=7),
    net("tx: status INVAL: tx_errors +1, link goes on", NET_TX_INVAL,
        "host refused a frame (status 1)", rx=rx_nothing, tx=TX_S_INVAL),
    # ---- control
    net("ctrl: RX_MODE answered ERR, MAC_TABLE INVAL: warned, pings",
        NET_WAIT + "up && pingok 2 || exit 40\n", "host refused rx mode",
        echo=2, ctrl={CTRL_RX_MODE: CTRL_S_ERR,
                      CTRL_MAC_TABLE: CTRL_S_INVAL}),
    net("ctrl: RX_MODE answered with status 9: warned, pings",
        NET_WAIT + "up && pingok 2 || exit 40\n", "host refused rx mode",
        echo=2, ctrl={CTRL_RX_MODE: 9}),
    net("ctrl: an answer with an unknown id: broken", NET_WAIT +
        "up; carrier_is 0 || exit 40\npingok 1 \"\" 1 && exit 41\n"
        "ip link set $e down || exit 42\n",
        "not in flight (duplicate or never issued)",
        ctrl={CTRL_RX_MODE: "bad_id"}),
    net("ctrl: QUEUE_PAIRS 1 (max_queue_pairs=1) answered: one pair, "
        "pings", NET_WAIT +
        "[ \"$(ls $s/queues | tr '\\n' ' ')\" = 'rx-0 tx-0 ' ] || exit 40\n"
        "up && pingok 2 || exit 41\n",
        modules="pvkit_net:max_queue_pairs=1", echo=2,
        want_ctrl=(CTRL_QUEUE_PAIRS,)),
    net("ctrl: QUEUE_PAIRS refused (INVAL): not bound", NO_NET,
        "host refused 1 queue pairs: -22",
        modules="pvkit_net:max_queue_pairs=1",
        ctrl={CTRL_QUEUE_PAIRS: CTRL_S_INVAL}),
    net("ctrl: QUEUE_PAIRS never answered: broken after 5 s, not bound",
        NO_NET, "network device call on queue 4 unanswered",
        modules="pvkit_net:max_queue_pairs=1",
        ctrl={CTRL_QUEUE_PAIRS: "never"}),
    net("good at the end", NET_GOOD, echo=3),
]


if __name__ == "__main__":
    sys.exit(hh.main(__doc__, NET_SCENARIOS, NetHost, "net-hostile"))
