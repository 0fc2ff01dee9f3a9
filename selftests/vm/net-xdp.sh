#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# net-xdp.sh
#
# Description: pvkit_net against pvkit-netback's AF_XDP port
# (--net xdp=IFNAME), inside a network namespace this test creates and
# removes.  A veth pair lives there: the back-end's AF_XDP socket is bound
# to queue 0 of one end, the other end (the peer) is the host side of the
# link with 10.214.0.1/24; the guest's eth0 gets 10.214.0.2/24, and no
# frame goes anywhere else.  pvkit-hv, QEMU, the back-end and
# net_peer.py all run in the namespace.  Checks:
#   the netdev comes up with a carrier; no checksum or segmentation
#   offload is offered (AF_XDP carries no metadata) and max_mtu is capped;
#   ping guest -> host and host -> guest;
#   PVKIT_NET_MB (default 256) MiB each way over TCP, the sha256 of what
#   arrived equal to that of what was sent (pvkit-netxfer in the guest,
#   net_peer.py on the host);
#   pvkit-netback SIGKILLed during a 64 MiB transfer: pvkit-hv restarts
#   it, the new one replaces the XDP program left behind, the connection
#   survives, the sha256 matches, the netdev stayed; ping after;
#   no BUG, WARNING or Oops.
# Prints kselftest TAP; exit 0 pass, 1 fail, 4 skip.
# Env: PVKIT_NET_MB, PVKIT_NET_BOOT_TMO (default 600 s).
# pvkit-vm-timeout: 600

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=selftests/vm/lib.sh
. "$TOP/selftests/vm/lib.sh"
MB=${PVKIT_NET_MB:-256}
TMO=${PVKIT_NET_BOOT_TMO:-600}
HOST_IP=10.214.0.1
GUEST_IP=10.214.0.2

net_start net-xdp pvkit-xdp || exit 4
if ! command -v ethtool > /dev/null; then
	echo "1..0 # SKIP needs ethtool(8)"
	exit 4
fi
xsk_if=pvxa$$			# the AF_XDP socket's end
peer_if=pvxb$$			# the host end

# The veth pair, IPv6 off (the link carries only the test's traffic).  The
# peer computes its checksums and segments in software: AF_XDP hands the
# guest frames as they are on the wire, with no offload metadata, so a
# partial checksum or a 64 KiB TSO frame could not be delivered.
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1 &&
	ip -n "$ns" link add "$xsk_if" type veth peer name "$peer_if" &&
	ip netns exec "$ns" ethtool -K "$peer_if" tx off tso off gso off \
		> /dev/null 2>&1 &&
	ip -n "$ns" addr add "$HOST_IP/24" dev "$peer_if" &&
	ip -n "$ns" link set "$xsk_if" up &&
	ip -n "$ns" link set "$peer_if" up ||
	{ echo "1..0 # SKIP cannot create a veth pair in the namespace"; exit 4; }

bytes=$((MB << 20))

# shellcheck disable=SC2016 # expanded by the guest shell
cmd="$(net_guest_prelude "$HOST_IP" "$GUEST_IP" "$seed")"'
echo "PVKIT-NET-MTU: $(cat /sys/class/net/$dev/mtu)"
ip link set $dev mtu 9000 2> /dev/null
echo "PVKIT-NET-MTU9000: $? $(cat /sys/class/net/$dev/mtu)"
echo "PVKIT-NET-OFFLOADS: $(ethtool -k $dev | grep -E "^(tx-checksumming|tcp-segmentation-offload|rx-checksumming):" | tr -d "\n")"
s=$(date +%s)
xfer big '$bytes'
echo "PVKIT-NET-TIME-big: $(($(date +%s) - s))"
killed_xfer restart 67108864
ping -c 2 -W 2 '$HOST_IP' > /dev/null 2>&1
echo "PVKIT-NET-PING-AFTER: $?"
ethtool -S $dev | sed "s/^ */PVKIT-NET-STAT: /"
dmesg | grep -E "pvkit|BUG:|WARNING:|Oops|Call Trace" | sed "s/^/PVKIT-DMESG: /"
'

net_boot "netxdp-$$" "xdp=$xsk_if" "$cmd"
# the back-end detached its program when pvkit-hv stopped it
prog_left=$(ip -n "$ns" link show "$xsk_if" 2>/dev/null | grep -c "prog/xdp")

M64=67108864

echo "1..10"
net_check_link
offl=$(tap_val PVKIT-NET-OFFLOADS)
read -r mtu_rc mtu_now <<< "$(tap_val PVKIT-NET-MTU9000)"
tap_check no_offloads_mtu_capped \
	"$(! grep -q ": on" <<< "$offl" && [ -n "$offl" ] && [ "$(tap_val PVKIT-NET-MTU)" = 1500 ] && [ "${mtu_rc:-0}" != 0 ] && [ "$mtu_now" = 1500 ]; echo $?)" \
	"offloads '$offl', mtu '$(tap_val PVKIT-NET-MTU)', mtu 9000: '$(tap_val PVKIT-NET-MTU9000)'"
g2h_ok big "$bytes"
tap_check "tcp_${MB}M_guest_to_host_sha256" $? "$(xfer_diag big)"
h2g_ok big "$bytes"
tap_check "tcp_${MB}M_host_to_guest_sha256" $? "$(xfer_diag big)"
g2h_ok restart $M64 && [ -n "$(peer kill restart)" ] &&
	[ "$(tap_val PVKIT-NET-DEV-AFTER)" = 1 ] &&
	[ "$(tap_val PVKIT-NET-PING-AFTER)" = 0 ]
tap_check backend_sigkill_mid_transfer_sha256 $? \
	"$(xfer_diag restart); killed pid '$(peer kill restart)', netdev there after: '$(tap_val PVKIT-NET-DEV-AFTER)', ping after '$(tap_val PVKIT-NET-PING-AFTER)'"
tap_check xdp_program_detached_at_exit "$([ "$prog_left" = 0 ]; echo $?)" \
	"'ip link show $xsk_if' still lists an XDP program"
echo "# 2 x $MB MiB both ways in $(tap_val PVKIT-NET-TIME-big) s; $(tr -d '\r' < "$log" | grep -c PVKIT-NET-XFER) xfer lines"
tr -d '\r' < "$log" | sed -n 's/^PVKIT-NET-XFER: /# /p'
tap_finish
