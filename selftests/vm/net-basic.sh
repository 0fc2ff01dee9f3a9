#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# net-basic.sh
#
# Description: pvkit_net against pvkit-netback on a TAP device, inside a
# network namespace this test creates and removes.  pvkit-hv, QEMU and the
# back-end run in that namespace, so the TAP is born there; its end gets
# 10.213.0.1/24, the guest's eth0 10.213.0.2/24, and no frame goes
# anywhere else.  Checks:
#   the netdev comes up with a carrier, ethtool -i names pvkit_net;
#   ping guest -> host and host -> guest;
#   PVKIT_NET_MB (default 256) MiB guest -> host and host -> guest over
#   TCP, the sha256 of what arrived equal to that of what was sent
#   (pvkit-netxfer makes and hashes the stream in the guest, Python on
#   the host);
#   the per-queue counters (ethtool -S) moved;
#   no BUG, WARNING or Oops, and pvkit_net unloads.
# Prints kselftest TAP; exit 0 pass, 1 fail, 4 skip.
# Env: PVKIT_NET_MB, PVKIT_NET_BOOT_TMO (default 600 s).
# pvkit-vm-timeout: 900

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=selftests/vm/lib.sh
. "$TOP/selftests/vm/lib.sh"
MB=${PVKIT_NET_MB:-256}
TMO=${PVKIT_NET_BOOT_TMO:-600}
HOST_IP=10.213.0.1
GUEST_IP=10.213.0.2

tap_need_guest || exit 4
if [ ! -x "$TOP/build/bin/pvkit-netback" ]; then
	echo "1..0 # SKIP pvkit-netback not built"
	exit 4
fi
if [ "$(id -u)" != 0 ] || ! command -v ip > /dev/null; then
	echo "1..0 # SKIP needs root and ip(8) for a network namespace"
	exit 4
fi

ns=pvkit-net-$$
tapdev=pvnt$$
tmp=$(mktemp -d /dev/shm/pvkit-net.XXXXXX)
log=$tmp/console.log
boot_pid=
srv_pid=
cleanup()
{
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
	[ -n "$boot_pid" ] && kill "$boot_pid" 2>/dev/null
	wait 2>/dev/null
	[ -n "${PVKIT_KEEP:-}" ] && cp "$log" /tmp/net-basic.log
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns" || { echo "1..0 # SKIP cannot create a network namespace"; exit 4; }
ip -n "$ns" link set lo up

seed=$$-$RANDOM
bytes=$((MB << 20))

# The host's receiver: one connection on port 5001, sha256 of the stream.
ip netns exec "$ns" python3 - "$tmp/g2h" <<'EOF' &
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5001))
s.listen(1)
s.settimeout(900)
c, _ = s.accept()
c.settimeout(60)
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
c.close()
open(sys.argv[1], "w").write("%s %d\n" % (h.hexdigest(), n))
EOF
srv_pid=$!

# shellcheck disable=SC2016 # expanded by the guest shell
cmd='
set -u
dev=
for d in /sys/class/net/*; do
	n=$(basename $d)
	[ $n = lo ] && continue
	drv=$(basename "$(readlink $d/device/driver 2>/dev/null)")
	[ "$drv" = pvkit_net ] && dev=$n
done
echo "PVKIT-NET-DEV: ${dev:-none}"
[ -n "$dev" ] || exit 1
ip link set lo up
ip addr add '$GUEST_IP'/24 dev $dev
ip link set $dev up
i=0; while [ "$(cat /sys/class/net/$dev/carrier 2>/dev/null)" != 1 ]; do
	i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
echo "PVKIT-NET-CARRIER: $(cat /sys/class/net/$dev/carrier 2>/dev/null)"
echo "PVKIT-NET-DRIVER: $(ethtool -i $dev | sed -n "s/^driver: //p")"
i=0; while ! ping -c 1 -W 1 '$HOST_IP' > /dev/null 2>&1; do
	i=$((i + 1)); [ $i -gt 20 ] && break
done
ping -c 3 -W 2 '$HOST_IP' > /dev/null 2>&1
echo "PVKIT-NET-PING: $?"
echo PVKIT-NET-READY
sleep 3
out=$(pvkit-netxfer send '$HOST_IP' 5001 '$seed' '$bytes' 2>/tmp/g2h.err)
echo "PVKIT-NET-SEND: $? $out"
sed "s/^/PVKIT-NET-XFER: /" /tmp/g2h.err
echo PVKIT-NET-RECV-LISTEN
out=$(pvkit-netxfer recv 5002 2>/tmp/h2g.err)
echo "PVKIT-NET-RECV: $? $out"
sed "s/^/PVKIT-NET-XFER: /" /tmp/h2g.err
ethtool -S $dev | sed "s/^ */PVKIT-NET-STAT: /"
ip link set $dev down
rmmod pvkit_net
echo "PVKIT-NET-RMMOD: $?"
dmesg | grep -E "pvkit|BUG:|WARNING:|Oops|Call Trace" | sed "s/^/PVKIT-DMESG: /"
'

ip netns exec "$ns" env PVKIT_BOOT=hv "$TOP/scripts/boot-guest.sh" \
	--timeout "$TMO" --log "$log" --cmd "$cmd" -- \
	--net "tap=$tapdev" > /dev/null 2>&1 &
boot_pid=$!

# The TAP appears when pvkit-netback starts: give the host end its address.
deadline=$((SECONDS + 60))
until ip -n "$ns" link show "$tapdev" > /dev/null 2>&1; do
	if [ $SECONDS -ge $deadline ] || ! kill -0 "$boot_pid" 2>/dev/null; then
		break
	fi
	sleep 0.2
done
ip -n "$ns" addr add "$HOST_IP/24" dev "$tapdev" 2>/dev/null
ip -n "$ns" link set "$tapdev" up 2>/dev/null

# console_wait MARKER: until the guest printed it (or the boot ended).
console_wait()
{
	local deadline=$((SECONDS + TMO))

	while ! tr -d '\r' 2>/dev/null < "$log" | grep -q "^$1"; do
		kill -0 "$boot_pid" 2>/dev/null || return 1
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

h_ping=1
if console_wait PVKIT-NET-READY; then
	ip netns exec "$ns" busybox ping -c 3 -W 2 "$GUEST_IP" > "$tmp/ping.out" 2>&1
	h_ping=$?
	[ $h_ping = 0 ] || sed 's/^/# host ping: /' "$tmp/ping.out"
fi
h2g_want=
if console_wait PVKIT-NET-RECV-LISTEN; then
	h2g_want=$(ip netns exec "$ns" python3 - "$GUEST_IP" "$seed" "$bytes" <<'EOF'
import hashlib, socket, sys, time
addr, seed, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
line = ("pvkit-net-%s\n" % seed).encode()
chunk = line * ((1 << 16) // len(line) + 2)
for _ in range(100):
    try:
        s = socket.create_connection((addr, 5002), timeout=5)
        break
    except OSError:
        time.sleep(0.1)
s.settimeout(60)
h, left, off = hashlib.sha256(), n, 0
while left:
    # the same bytes as the repeated line, whatever the chunking
    k = min(left, 1 << 16)
    start = off % len(line)
    b = chunk[start:start + k]
    s.sendall(b)
    h.update(b)
    left -= k
    off += k
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
print(h.hexdigest())
EOF
)
fi
wait "$boot_pid"
boot_rc=$?
boot_pid=
wait "$srv_pid" 2>/dev/null
srv_pid=

read -r g2h_got g2h_n < "$tmp/g2h" 2>/dev/null
read -r send_rc g2h_want _ <<< "$(tap_val PVKIT-NET-SEND)"
read -r recv_rc h2g_got h2g_n <<< "$(tap_val PVKIT-NET-RECV)"
stat_sum()	# stat_sum REGEX: sum of the ethtool -S counters matching
{
	tr -d '\r' < "$log" | sed -n 's/^PVKIT-NET-STAT: //p' |
		awk -F': ' -v re="$1" '$1 ~ re {s += $2} END {print s + 0}'
}

echo "1..9"
tap_check boot_ok "$boot_rc" "boot-guest exit $boot_rc"
tap_check netdev_bound "$([ "$(tap_val PVKIT-NET-DRIVER)" = pvkit_net ]; echo $?)" \
	"device '$(tap_val PVKIT-NET-DEV)', driver '$(tap_val PVKIT-NET-DRIVER)'"
tap_check carrier_up "$([ "$(tap_val PVKIT-NET-CARRIER)" = 1 ]; echo $?)"
tap_check ping_guest_to_host "$([ "$(tap_val PVKIT-NET-PING)" = 0 ]; echo $?)"
tap_check ping_host_to_guest "$h_ping"
tap_check tcp_guest_to_host_sha256 \
	"$([ "${send_rc:-1}" = 0 ] && [ -n "$g2h_want" ] && [ "$g2h_got" = "$g2h_want" ] && [ "$g2h_want" = "$h2g_want" ] && [ "${g2h_n:-0}" = "$bytes" ]; echo $?)" \
	"host got ${g2h_n:-0} bytes $g2h_got, guest sent $g2h_want (exit ${send_rc:-none}), the pattern is $h2g_want"
tap_check tcp_host_to_guest_sha256 \
	"$([ "${recv_rc:-1}" = 0 ] && [ -n "$h2g_want" ] && [ "$h2g_got" = "$h2g_want" ] && [ "${h2g_n:-0}" = "$bytes" ]; echo $?)" \
	"guest got ${h2g_n:-0} bytes $h2g_got (exit ${recv_rc:-none}), host sent $h2g_want"
tap_check queue_counters_moved \
	"$([ "$(stat_sum '^rx[0-9]+_bytes$')" -ge "$bytes" ] && [ "$(stat_sum '^tx[0-9]+_bytes$')" -ge "$bytes" ]; echo $?)" \
	"rx bytes $(stat_sum '^rx[0-9]+_bytes$'), tx bytes $(stat_sum '^tx[0-9]+_bytes$') (packets $(stat_sum '^rx[0-9]+_packets$') / $(stat_sum '^tx[0-9]+_packets$'))"
tap_check rmmod_clean \
	"$([ "$(tap_val PVKIT-NET-RMMOD)" = 0 ] && ! tr -d '\r' < "$log" | grep -q -E 'PVKIT-DMESG: .*(BUG:|WARNING:|Oops|Call Trace)'; echo $?)" \
	"rmmod exit '$(tap_val PVKIT-NET-RMMOD)'"
tap_finish
