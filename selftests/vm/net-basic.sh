#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# net-basic.sh
#
# Description: pvkit_net against pvkit-netback on a TAP device, inside a
# network namespace this test creates and removes.  pvkit-hv, QEMU and the
# back-end run in that namespace, so the TAP is born there; its end gets
# 10.213.0.1/24, the guest's eth0 10.213.0.2/24, and no frame goes
# anywhere else.  One boot, two queue pairs, host MTU 9000.  Checks:
#   the netdev comes up with a carrier, ethtool -i names pvkit_net;
#   ping guest -> host and host -> guest;
#   TCP transfers both ways, the sha256 of what arrived equal to that of
#   what was sent (pvkit-netxfer in the guest, net_peer.py on the host):
#   PVKIT_NET_MB (default 256) MiB each way at MTU 1500 with offloads on;
#   32 MiB each way with checksum/TSO/SG offloads off; 32 MiB each way at
#   MTU 9000 (and an 8972-byte ping);
#   two 128 MiB transfers pinned to CPU 0 and CPU 1 while ethtool -L goes
#   2 -> 1 -> 2 pairs; both pairs' counters moved;
#   link down and up, ping again;
#   the host's TAP down and up: the guest's carrier follows (a config
#   change in place, ABI.md 6.2), the netdev stays, ping again;
#   pvkit-netback SIGKILLed during a 64 MiB transfer: it restarts, the
#   connection survives, the sha256 matches, the netdev stayed;
#   no BUG, WARNING or Oops, and pvkit_net unloads; then PVKIT_NET_CYCLES
#   (default 100; make soak: 1000) insmod / ping / rmmod cycles, with
#   unreclaimable slab, per-CPU and vmalloc memory flat after the fifth
#   (a leaked netdev with its rings is tens of kB a cycle).
# Prints kselftest TAP; exit 0 pass, 1 fail, 4 skip.
# Env: PVKIT_NET_MB, PVKIT_NET_CYCLES, PVKIT_NET_BOOT_TMO (default 600 s).
# pvkit-vm-timeout: 900

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=selftests/vm/lib.sh
. "$TOP/selftests/vm/lib.sh"
MB=${PVKIT_NET_MB:-256}
CYCLES=${PVKIT_NET_CYCLES:-100}
XDP_N=1000			# UDP frames per XDP program
WARM=$((CYCLES >= 10 ? 5 : 1))	# caches settle over the first cycles
TMO=${PVKIT_NET_BOOT_TMO:-600}
HOST_IP=10.213.0.1
GUEST_IP=10.213.0.2

net_start net-basic pvkit-net || exit 4
tapdev=pvnt$$
bytes=$((MB << 20))

# shellcheck disable=SC2016 # expanded by the guest shell
cmd="$(net_guest_prelude "$HOST_IP" "$GUEST_IP" "$seed")"'
ip link set $dev mtu 1500
xfer big '$bytes'
ethtool -K $dev tx off sg off tso off gso off > /dev/null 2>&1
echo "PVKIT-NET-OFFLOADS-OFF: $(ethtool -k $dev | grep -c ": off")"
xfer nooffload 33554432
ethtool -K $dev tx on sg on tso on gso on > /dev/null 2>&1
ip link set $dev mtu 9000
echo "PVKIT-NET-MTU: $(cat /sys/class/net/$dev/mtu)"
ping -c 2 -W 2 -s 8972 '$HOST_IP' > /dev/null 2>&1
echo "PVKIT-NET-PING9000: $?"
xfer jumbo 33554432
ip link set $dev mtu 1500
echo "PVKIT-NET-CHANNELS: $(ethtool -l $dev | grep -i combined | tail -1 | tr -dc 0-9)"
for c in 0 1; do
	( out=$(taskset -c $c pvkit-netxfer send '$HOST_IP' 5001 '$seed'-cpu$c 134217728 2>/dev/null)
	  echo "PVKIT-NET-SEND-cpu$c: $? $out" ) &
done
sleep 1
ethtool -L $dev combined 1; echo "PVKIT-NET-L1: $?"
sleep 1
ethtool -L $dev combined 2; echo "PVKIT-NET-L2: $?"
wait
ip link set $dev down
sleep 1
ip link set $dev up
i=0; while [ "$(cat /sys/class/net/$dev/carrier 2>/dev/null)" != 1 ]; do
	i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
ping -c 2 -W 2 '$HOST_IP' > /dev/null 2>&1
echo "PVKIT-NET-PING-AFTER-UPDOWN: $?"
# the host takes its end down and up: carrier follows, the netdev stays
carrier() {
	i=0; while [ "$(cat /sys/class/net/$dev/carrier 2>/dev/null)" != $1 ]; do
		i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
	done
	cat /sys/class/net/$dev/carrier 2>/dev/null
}
ifindex=$(cat /sys/class/net/$dev/ifindex)
echo "PVKIT-NET-HOSTLINK down"
echo "PVKIT-NET-HOSTDOWN-CARRIER: $(carrier 0)"
echo "PVKIT-NET-HOSTLINK up"
echo "PVKIT-NET-HOSTUP-CARRIER: $(carrier 1) $([ "$(cat /sys/class/net/$dev/ifindex)" = $ifindex ]; echo $?)"
i=0; while ! ping -c 1 -W 1 '$HOST_IP' > /dev/null 2>&1; do
	i=$((i + 1)); [ $i -gt 10 ] && break
done
echo "PVKIT-NET-PING-AFTER-HOSTLINK: $i"
killed_xfer restart 67108864
# native XDP: each program counts what the host sent; tx and redirect
# send it back (the host counts), drop keeps it
for p in drop tx redirect; do
	pvkit-xdp run $dev $p --expect '$XDP_N' --timeout 60 \
		--ready "PVKIT-NET-UDP $p '$XDP_N'" > /tmp/xdp.out
	echo "PVKIT-NET-XDP-$p: $? $(sed -n "s/^PVKIT-XDP: //p" /tmp/xdp.out)"
done
# attached and detached 16 times under TCP traffic both ways
pvkit-xdp flap $dev pass 16 250 > /tmp/flap.out 2>&1 &
xfer xdpflap 67108864
wait
echo "PVKIT-NET-XDP-FLAP: $(sed -n "s/^PVKIT-XDP: //p" /tmp/flap.out)"
sed "s/^/PVKIT-NET-XFER: /" /tmp/flap.out
# a frame must fit one rx buffer: no XDP above its MTU, no MTU above it
ip link set $dev mtu 9000
pvkit-xdp run $dev pass --timeout 1 > /dev/null 2>&1
echo "PVKIT-NET-XDP-MTU9000: $?"
ip link set $dev mtu 1500
pvkit-xdp run $dev pass --timeout 3 > /dev/null 2>&1 &
sleep 1
ip link set $dev mtu 9000 2> /dev/null
echo "PVKIT-NET-XDP-SETMTU: $? $(cat /sys/class/net/$dev/mtu)"
wait
ip link set $dev mtu 1500
ethtool -S $dev | sed "s/^ */PVKIT-NET-STAT: /"
ip link set $dev down
rmmod pvkit_net
echo "PVKIT-NET-RMMOD: $?"
# reload cycles, a ping through each new instance; memory after the
# warm-up and after the last
mem() { awk "/^(SUnreclaim|Percpu|VmallocUsed):/ {printf \"%s %s \", \$1, \$2}" /proc/meminfo; }
ok=0
for i in $(seq '$CYCLES'); do
	insmod /lib/modules/pvkit/pvkit_net.ko || break
	d=; j=0
	while [ -z "$d" ] && [ $j -lt 50 ]; do
		for n in /sys/class/net/*; do
			[ "$(basename "$(readlink $n/device/driver 2>/dev/null)")" = pvkit_net ] &&
				d=$(basename $n)
		done
		[ -n "$d" ] || { j=$((j + 1)); sleep 0.1; }
	done
	[ -n "$d" ] || break
	ip addr add '$GUEST_IP'/24 dev $d && ip link set $d up || break
	j=0; while ! ping -c 1 -W 1 '$HOST_IP' > /dev/null 2>&1; do
		j=$((j + 1)); [ $j -gt 10 ] && break
	done
	[ $j -gt 10 ] && break
	ip link set $d down
	rmmod pvkit_net || break
	ok=$i
	[ $i = '$WARM' ] && echo "PVKIT-NET-MEM0: $(mem)"
done
echo "PVKIT-NET-MEM1: $(mem)"
echo "PVKIT-NET-CYCLES: $ok"
dmesg | grep -E "pvkit|BUG:|WARNING:|Oops|Call Trace" | sed "s/^/PVKIT-DMESG: /"
'

# A persistent multi-queue TAP made here, so that it and its address
# outlive a back-end that is killed (pvkit-netback attaches to it).
ip -n "$ns" tuntap add dev "$tapdev" mode tap multi_queue vnet_hdr &&
	ip -n "$ns" link set "$tapdev" mtu 9000 &&
	ip -n "$ns" addr add "$HOST_IP/24" dev "$tapdev" &&
	ip -n "$ns" link set "$tapdev" up ||
	{ echo "1..0 # SKIP cannot create a TAP in the namespace"; exit 4; }

NET_PEER_TAP=$tapdev
net_boot "netbasic-$$" "tap=$tapdev,queues=2,mtu=9000" "$cmd"

stat_sum()	# stat_sum REGEX: sum of the ethtool -S counters matching
{
	tr -d '\r' < "$log" | sed -n 's/^PVKIT-NET-STAT: //p' |
		awk -F': ' -v re="$1" '$1 ~ re {s += $2} END {print s + 0}'
}
M32=33554432
M64=67108864
M128=134217728

echo "1..23"
net_check_link
g2h_ok big "$bytes"
tap_check "tcp_${MB}M_guest_to_host_sha256" $? "$(xfer_diag big)"
h2g_ok big "$bytes"
tap_check "tcp_${MB}M_host_to_guest_sha256" $? "$(xfer_diag big)"
g2h_ok nooffload $M32 && h2g_ok nooffload $M32
tap_check tcp_offloads_off_both_ways_sha256 $? \
	"$(xfer_diag nooffload); offloads off: $(tap_val PVKIT-NET-OFFLOADS-OFF)"
tap_check mtu_9000_ping_8972_bytes \
	"$([ "$(tap_val PVKIT-NET-MTU)" = 9000 ] && [ "$(tap_val PVKIT-NET-PING9000)" = 0 ]; echo $?)" \
	"mtu '$(tap_val PVKIT-NET-MTU)', ping exit '$(tap_val PVKIT-NET-PING9000)'"
g2h_ok jumbo $M32 && h2g_ok jumbo $M32
tap_check tcp_mtu_9000_both_ways_sha256 $? "$(xfer_diag jumbo)"
tap_check two_channels "$([ "$(tap_val PVKIT-NET-CHANNELS)" = 2 ]; echo $?)" \
	"combined '$(tap_val PVKIT-NET-CHANNELS)'"
g2h_ok cpu0 $M128 && g2h_ok cpu1 $M128 && [ "$(tap_val PVKIT-NET-L1)" = 0 ] &&
	[ "$(tap_val PVKIT-NET-L2)" = 0 ]
tap_check ethtool_L_2_1_2_under_traffic_sha256 $? \
	"$(xfer_diag cpu0); $(xfer_diag cpu1); -L 1 '$(tap_val PVKIT-NET-L1)', -L 2 '$(tap_val PVKIT-NET-L2)'"
tap_check both_pairs_carried_traffic \
	"$([ "$(stat_sum '^tx0_packets$')" -gt 0 ] && [ "$(stat_sum '^tx1_packets$')" -gt 0 ] && [ "$(stat_sum '^rx0_packets$')" -gt 0 ] && [ "$(stat_sum '^rx1_packets$')" -gt 0 ]; echo $?)" \
	"tx0 $(stat_sum '^tx0_packets$') tx1 $(stat_sum '^tx1_packets$') rx0 $(stat_sum '^rx0_packets$') rx1 $(stat_sum '^rx1_packets$')"
tap_check link_down_up_ping "$([ "$(tap_val PVKIT-NET-PING-AFTER-UPDOWN)" = 0 ]; echo $?)"
tap_check host_link_down_up_carrier_follows \
	"$([ "$(tap_val PVKIT-NET-HOSTDOWN-CARRIER)" = 0 ] && [ "$(tap_val PVKIT-NET-HOSTUP-CARRIER)" = "1 0" ] && [ "$(tap_val PVKIT-NET-PING-AFTER-HOSTLINK)" -le 10 ] && [ "$(peer link down)" = rc=0 ] && [ "$(peer link up)" = rc=0 ]; echo $?)" \
	"carrier with the TAP down '$(tap_val PVKIT-NET-HOSTDOWN-CARRIER)', up again and ifindex changed '$(tap_val PVKIT-NET-HOSTUP-CARRIER)', pings to get through '$(tap_val PVKIT-NET-PING-AFTER-HOSTLINK)', host '$(peer link down)'"
g2h_ok restart $M64 && [ -n "$(peer kill restart)" ] &&
	[ "$(tap_val PVKIT-NET-DEV-AFTER)" = 1 ]
tap_check backend_sigkill_mid_transfer_sha256 $? \
	"$(xfer_diag restart); killed pid '$(peer kill restart)', netdev there after: '$(tap_val PVKIT-NET-DEV-AFTER)'"
# peer_udp NAME: "sent back" as the host counted them
peer_udp()
{
	python3 -c '
import json, sys
try:
    v = json.load(open(sys.argv[1])).get("udp", {}).get(sys.argv[2])
except (OSError, ValueError):
    v = None
print(" ".join(str(x) for x in v) if v else "")
' "$tmp/peer.json" "$1"
}
# xdp_ok PROG BACK STAT: the program counted XDP_N test frames, the host
# got BACK of its XDP_N back and the ethtool counters STAT sum to XDP_N
xdp_ok()
{
	local rc m sent back

	read -r rc _ m _ <<< "$(tap_val "PVKIT-NET-XDP-$1")"
	read -r sent back <<< "$(peer_udp "$1")"
	[ "${rc:-1}" = 0 ] && [ "$m" = "matched=$XDP_N" ] &&
		[ "$sent" = "$XDP_N" ] && [ "$back" = "$2" ] &&
		[ "$(stat_sum "$3")" = "$XDP_N" ]
}
xdp_diag()
{
	echo "guest '$(tap_val "PVKIT-NET-XDP-$1")', host sent/back '$(peer_udp "$1")', $2 $(stat_sum "$2")"
}
xdp_ok drop 0 '^rx[0-9]+_xdp_drop$'
tap_check xdp_drop_counts_what_host_sent $? "$(xdp_diag drop '^rx[0-9]+_xdp_drop$')"
xdp_ok tx "$XDP_N" '^rx[0-9]+_xdp_tx$'
tap_check xdp_tx_reflects_what_host_sent $? "$(xdp_diag tx '^rx[0-9]+_xdp_tx$')"
xdp_ok redirect "$XDP_N" '^rx[0-9]+_xdp_redirect$' &&
	[ "$(stat_sum '^tx[0-9]+_xdp_xmit$')" -ge $((2 * XDP_N)) ]
tap_check xdp_redirect_into_itself_reflects $? \
	"$(xdp_diag redirect '^rx[0-9]+_xdp_redirect$'); xdp_xmit $(stat_sum '^tx[0-9]+_xdp_xmit$')"
fframes=$(tap_val PVKIT-NET-XDP-FLAP | sed -n 's/.*frames=\([0-9]*\).*/\1/p')
g2h_ok xdpflap $M64 && h2g_ok xdpflap $M64 && [ "${fframes:-0}" -gt 0 ]
tap_check xdp_attach_detach_16x_under_traffic_sha256 $? \
	"$(xfer_diag xdpflap); flap '$(tap_val PVKIT-NET-XDP-FLAP)'"
read -r setmtu_rc setmtu_now <<< "$(tap_val PVKIT-NET-XDP-SETMTU)"
tap_check xdp_mtu_limit "$([ "$(tap_val PVKIT-NET-XDP-MTU9000)" = 1 ] && [ "$setmtu_rc" != 0 ] && [ "$setmtu_now" = 1500 ]; echo $?)" \
	"attach at MTU 9000 exit '$(tap_val PVKIT-NET-XDP-MTU9000)', MTU 9000 while attached '$(tap_val PVKIT-NET-XDP-SETMTU)'"
tap_check rmmod_clean "$([ "$(tap_val PVKIT-NET-RMMOD)" = 0 ]; echo $?)" \
	"rmmod exit '$(tap_val PVKIT-NET-RMMOD)'"
memdelta() { tap_memdelta PVKIT-NET-MEM "$1"; }
# The bound: a leaked netdev with its rings is over 100 kB a cycle; the
# guest stack's own churn is not zero (virtio_net reloaded the same way in
# the same guest: +60..+156 kB SUnreclaim per 60 cycles, pvkit_net
# +92..+100 kB; docs/net.md), so 8 kB a cycle plus 256 kB of slack.
tap_check "reload_${CYCLES}_cycles_ping_no_leak" \
	"$([ "$(tap_val PVKIT-NET-CYCLES)" = "$CYCLES" ] && [ "$(memdelta SUnreclaim)" -lt $((256 + 8 * CYCLES)) ] && [ "$(memdelta Percpu)" -lt $((64 + 2 * CYCLES)) ] && [ "$(memdelta VmallocUsed)" -lt $((256 + 4 * CYCLES)) ]; echo $?)" \
	"cycles $(tap_val PVKIT-NET-CYCLES)/$CYCLES; from cycle $WARM: SUnreclaim +$(memdelta SUnreclaim) kB, Percpu +$(memdelta Percpu) kB, VmallocUsed +$(memdelta VmallocUsed) kB"
echo "# reload: $(tap_val PVKIT-NET-CYCLES) cycles; from cycle $WARM: SUnreclaim +$(memdelta SUnreclaim) kB, Percpu +$(memdelta Percpu) kB, VmallocUsed +$(memdelta VmallocUsed) kB"
tap_finish
