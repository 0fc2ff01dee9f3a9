# SPDX-License-Identifier: GPL-2.0
#
# Shared by selftests/vm/run.sh and the host-orchestrated VM tests:
# boot one guest, run guest selftests in it, judge their kselftest TAP
# and the guest kernel log.  Source it; TOP must be set.
#
#   vm_run_tests LABEL LOGDIR ENV TESTS... -- ENGINE-ARGS...
#
# runs each /selftests/TEST in one guest boot, under "timeout
# ${PVKIT_TEST_TIMEOUT:-300}" and with the shell words ENV (e.g.
# "PVKIT_MEMMAP_HIGH=1") in its environment, then dmesg.  A test with no
# END marker (guest crashed or hung) fails; any BUG/WARNING/Oops/panic/
# GPF/Call Trace or unexpected taint in the console log or dmesg counts
# as one more failure ("LABEL/kernel-log").  With no TESTS, one "boot"
# test checks that the image boots and the pvkit modules load.
# Prints one "PASS|FAIL|SKIP vm/LABEL/TEST (...)" line per test and adds
# to the globals vm_pass, vm_fail, vm_skip.  Console log: LOGDIR/console.log.
# Env: PVKIT_TEST_TIMEOUT (per test), PVKIT_VM_TIMEOUT (whole boot).

vm_pass=${vm_pass:-0}
vm_fail=${vm_fail:-0}
vm_skip=${vm_skip:-0}

# vm_log_findings LOG: kernel-log problems in LOG (console + dmesg), if any.
vm_log_findings()
{
	local log=$1 findings taints tmask

	findings=$(grep -a -n -E 'BUG:|WARNING:|Oops|Kernel panic|general protection|Call Trace' "$log" | sort -u -t: -k2)
	# Expected taint: O (out-of-tree, 4096) and E (unsigned, 8192).
	taints=$(grep -a -n -E 'taint' "$log" |
		grep -v -E 'loading out-of-tree module taints kernel|module verification failed|PVKIT-TAINT' |
		grep -E 'taints kernel|tainting kernel|Tainted:' | grep -v -E 'Tainted: G +(O|E|OE)? +[0-9]' )
	tmask=$(sed -n 's/^PVKIT-TAINT: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
	if [ -n "$tmask" ] && [ $(( tmask & ~(4096 | 8192) )) -ne 0 ]; then
		taints+=$'\n'"kernel taint mask $tmask has flags other than O/E"
	fi
	[ -n "$findings" ] && echo "$findings"
	[ -n "$taints" ] && echo "$taints"
	return 0
}

vm_run_tests()
{
	local label=$1 logdir=$2 env=$3 tmo=${PVKIT_TEST_TIMEOUT:-300}
	local tests=() engine=() guest_cmd log n ntests vm_tmo start boot_rc
	local out end totals nok nnok detail t_fail t_err t_pass t_skip rc
	local result findings

	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		tests+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	engine=("$@")
	log=$logdir/console.log
	mkdir -p "$logdir"

	guest_cmd='
echo "PVKIT-UNAME: $(uname -r)"
lsmod
'
	if [ ${#tests[@]} -eq 0 ]; then
		guest_cmd+='
echo "PVKIT-TEST-BEGIN boot"
rc=0
for m in $(grep -v "^#" /etc/pvkit/modules); do
	if [ -d "/sys/module/$m" ]; then
		echo "ok - module $m loaded"
	else
		echo "not ok - module $m not loaded"; rc=1
	fi
done
echo "PVKIT-TEST-END boot $rc"
'
	else
		guest_cmd+="
for n in ${tests[*]}; do
	t=/selftests/\$n
	[ -x \"\$t\" ] || continue
	echo \"PVKIT-TEST-BEGIN \$n\"
	$env timeout $tmo \"\$t\" < /dev/null
	rc=\$?
	echo \"PVKIT-TEST-END \$n \$rc\"
done
"
	fi
	guest_cmd+='
echo "PVKIT-TAINT: $(cat /proc/sys/kernel/tainted)"
echo "PVKIT-DMESG-BEGIN"
dmesg
echo "PVKIT-DMESG-END"
'

	ntests=${#tests[@]}
	[ "$ntests" -gt 0 ] || ntests=1
	vm_tmo=${PVKIT_VM_TIMEOUT:-$((ntests * tmo + 180))}

	echo "check-vm: booting guest${label:+ $label} ($ntests test(s), timeout ${vm_tmo}s)"
	start=$SECONDS
	"$TOP/scripts/boot-guest.sh" --cmd "$guest_cmd" --timeout "$vm_tmo" \
		--log "$log" ${engine[@]+-- "${engine[@]}"} > /dev/null
	boot_rc=$?
	echo "check-vm: guest${label:+ $label} finished in $((SECONDS - start))s (boot-guest exit $boot_rc)"
	tr -d '\r' < "$log" > "$log.txt"

	[ ${#tests[@]} -gt 0 ] || tests=(boot)
	for n in "${tests[@]}"; do
		out=$logdir/$n.tap
		awk -v n="$n" '
			$0 == "PVKIT-TEST-BEGIN " n { on = 1; next }
			on && index($0, "PVKIT-TEST-END " n " ") == 1 { print; exit }
			on { print }' "$log.txt" > "$out"
		end=$(grep -a "^PVKIT-TEST-END $n " "$out" | tail -n 1)
		totals=$(grep -a '^# Totals:' "$out" | tail -n 1)
		nok=$(grep -a -c '^ok ' "$out")
		nnok=$(grep -a -c '^not ok ' "$out")
		if [ -n "$totals" ]; then
			detail=${totals#\# Totals: }
			t_fail=$(sed -n 's/.* fail:\([0-9]*\).*/\1/p' <<< "$totals")
			t_err=$(sed -n 's/.*error:\([0-9]*\).*/\1/p' <<< "$totals")
			t_fail=$(( ${t_fail:-0} + ${t_err:-0} ))
			t_pass=$(sed -n 's/.*pass:\([0-9]*\).*/\1/p' <<< "$totals")
			t_skip=$(sed -n 's/.* skip:\([0-9]*\).*/\1/p' <<< "$totals")
		else
			detail="ok:$nok not-ok:$nnok"
			t_fail=$nnok
			t_pass=$nok
			t_skip=0
		fi

		if [ -z "$end" ]; then
			result=FAIL
			detail="no END marker (guest crashed or timed out)"
		else
			rc=${end##* }
			# the 6.1 harness exits 0 when every case skipped
			if [ "$rc" = 4 ] || { [ "$rc" = 0 ] && [ "$t_fail" -eq 0 ] &&
			     [ "${t_pass:-0}" -eq 0 ] && [ "${t_skip:-0}" -gt 0 ]; }; then
				result=SKIP
			elif [ "$rc" != 0 ] || [ "$t_fail" -ne 0 ]; then
				result=FAIL
				detail="exit $rc, $detail"
			else
				result=PASS
			fi
		fi
		printf '%-4s vm/%s%s (%s)\n' "$result" "${label:+$label/}" "$n" "$detail"
		case $result in
		PASS)	vm_pass=$((vm_pass + 1)) ;;
		SKIP)	vm_skip=$((vm_skip + 1)) ;;
		FAIL)	vm_fail=$((vm_fail + 1))
			echo "---- $out (last 40 lines) ----"
			tail -n 40 "$out"
			echo "----" ;;
		esac
	done

	findings=$(vm_log_findings "$log.txt")
	if [ -n "$findings" ]; then
		echo "FAIL vm/${label:+$label/}kernel-log: problems in the guest kernel log:"
		echo "$findings"
		vm_fail=$((vm_fail + 1))
	fi
}

# --- TAP helpers for host-orchestrated tests that print "PVKIT-KEY: v"
# lines on the guest console ($log).  tap_check NAME STATUS [DIAG]
# prints one result; tap_finish judges the guest kernel log lines the
# test echoed as "PVKIT-DMESG: ...", dumps the console tail on failure,
# prints the totals and returns the verdict.
tap_n=0
tap_fail=0
tap_failed=""

tap_val()	# tap_val KEY: the last value the guest printed for KEY
{
	tr -d '\r' < "$log" | sed -n "s/^$1: //p" | tail -n 1
}

# tap_memdelta MARK KEY: growth (kB) of /proc/meminfo KEY between the
# guest's "MARK0: KEY: n ..." and "MARK1: ..." lines (reload-leak tests)
tap_memdelta()
{
	local a b

	a=$(tap_val "${1}0" | tr ' ' '\n' | grep -A1 "^$2:" | tail -1)
	b=$(tap_val "${1}1" | tr ' ' '\n' | grep -A1 "^$2:" | tail -1)
	echo $((${b:-0} - ${a:-0}))
}

tap_check()
{
	tap_n=$((tap_n + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $tap_n $1"
	else
		echo "not ok $tap_n $1"
		[ -n "${3:-}" ] && echo "# $3"
		tap_fail=$((tap_fail + 1))
		tap_failed+="# not ok $tap_n $1${3:+: $3}"$'\n'
	fi
}

tap_finish()
{
	if tr -d '\r' < "$log" | grep -q -E 'PVKIT-DMESG: .*(BUG:|WARNING:|Oops|Call Trace)'; then
		echo "# guest kernel log has a BUG/WARNING/Oops"
		tap_fail=$((tap_fail + 1))
		tap_failed+="# guest kernel log has a BUG/WARNING/Oops"$'\n'
	fi
	# The console tail with repeated lines folded (a reload loop logs
	# the same line a hundred times), then the failures again: a CI log
	# that keeps only the last lines still says what failed and why.
	if [ $tap_fail -ne 0 ]; then
		echo "# ---- console (last 60 distinct lines)"
		tr -d '\r' < "$log" | sed 's/^\[ *[0-9.]*\] //; s/^\(PVKIT-DMESG: \)\[ *[0-9.]*\] /\1/' |
			uniq -c | tail -n 60 |
			sed 's/^ *1 /# /; s/^ *\([0-9][0-9]*\) \(.*\)/# \2  [x\1]/'
		echo "# ---- failed"
		printf '%s' "$tap_failed"
	fi
	echo "# Totals: pass:$((tap_n - tap_fail)) fail:$tap_fail xfail:0 xpass:0 skip:0 error:0"
	[ $tap_fail -eq 0 ]
}

# --- a guest booted under pvkit-hv with a host peer following its console
# (balloon-basic, clock-basic).  vm_peer_setup TAG makes $tmp (in
# /dev/shm) with the console log $log, removed on exit together with the
# guest and the peer still running; PVKIT_KEEP=1 keeps the log as
# /tmp/<test>.log.
vm_peer_setup()
{
	tmp=$(mktemp -d "/dev/shm/pvkit-$1.XXXXXX")
	log=$tmp/console.log
	boot_pid=
	peer_pid=
	trap vm_peer_cleanup EXIT
}

vm_peer_cleanup()
{
	[ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null
	[ -n "$boot_pid" ] && kill "$boot_pid" 2>/dev/null
	wait 2>/dev/null
	[ -n "${PVKIT_KEEP:-}" ] && cp "$log" "/tmp/$(basename "$0" .sh).log"
	rm -rf "$tmp"
}

# vm_peer_boot PEER NAME TIMEOUT CMD [ENGINE-ARGS...]: start
# selftests/vm/PEER (arguments LOG OUT NAME PVKIT; its results in
# $tmp/peer.json), boot the guest NAME running CMD, and once it is gone
# give the peer 10 s to write its results.  Sets boot_rc.
vm_peer_boot()
{
	local peer=$1 name=$2 tmo=$3 cmd=$4

	shift 4
	python3 "$TOP/selftests/vm/$peer" "$log" "$tmp/peer.json" "$name" \
		"$TOP/build/bin/pvkit" &
	peer_pid=$!
	PVKIT_BOOT=hv "$TOP/scripts/boot-guest.sh" --timeout "$tmo" --log "$log" \
		--cmd "$cmd" -- --name "$name" "$@" > /dev/null 2>&1 &
	boot_pid=$!
	wait "$boot_pid"
	boot_rc=$?
	boot_pid=
	for _ in $(seq 100); do
		kill -0 "$peer_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$peer_pid" 2>/dev/null
	wait "$peer_pid" 2>/dev/null
	peer_pid=
}

# tap_need_guest: print the kselftest SKIP and return 1 if pvkit-hv or
# the guest kernel is not built.
tap_need_guest()
{
	echo "TAP version 13"
	if [ ! -x "$TOP/build/bin/pvkit-hv" ] || [ ! -f "$TOP/build/kernel/vmlinuz" ]; then
		echo "1..0 # SKIP pvkit-hv or kernel missing: run 'make guest'"
		return 1
	fi
}

# --- network tests (net-basic.sh, net-xdp.sh): the guest's pvkit-netxfer
# against selftests/vm/net_peer.py on the host end.

# net_start TEST NS_PREFIX: the start of a network test.  Returns 1 after
# the kselftest SKIP line without a built guest, pvkit-netback, root or
# ip(8); else sets tmp (under /dev/shm), log, NET_PEER_JSON, seed,
# ns=NS_PREFIX-$$ (created, lo up) and an EXIT trap that stops the peer
# and the guest and removes the namespace and tmp (PVKIT_KEEP=1 keeps the
# console log as /tmp/TEST.log).
net_start()
{
	tap_need_guest || return 1
	if [ ! -x "$TOP/build/bin/pvkit-netback" ]; then
		echo "1..0 # SKIP pvkit-netback not built"
		return 1
	fi
	if [ "$(id -u)" != 0 ] || ! command -v ip > /dev/null; then
		echo "1..0 # SKIP needs root and ip(8) for a network namespace"
		return 1
	fi
	net_test=$1
	ns=$2-$$
	tmp=$(mktemp -d "/dev/shm/$2.XXXXXX")
	log=$tmp/console.log
	NET_PEER_JSON=$tmp/peer.json
	seed=$$-$RANDOM
	boot_pid=
	srv_pid=
	trap net_cleanup EXIT
	if ! ip netns add "$ns"; then
		echo "1..0 # SKIP cannot create a network namespace"
		return 1
	fi
	ip -n "$ns" link set lo up
}

net_cleanup()
{
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
	[ -n "$boot_pid" ] && kill "$boot_pid" 2>/dev/null
	wait 2>/dev/null
	[ -n "${PVKIT_KEEP:-}" ] && cp "$log" "/tmp/$net_test.log"
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}

# net_boot NAME NETSPEC CMD: in $ns, net_peer.py (guest $GUEST_IP; the
# host end $NET_PEER_TAP, if set, for PVKIT-NET-HOSTLINK) and
# the guest under pvkit-hv (--name NAME --net NETSPEC, boot timeout $TMO)
# running CMD; returns once the guest is done and the peer stopped, with
# the boot's exit status in boot_rc.
net_boot()
{
	ip netns exec "$ns" python3 "$TOP/selftests/vm/net_peer.py" "$log" \
		"$NET_PEER_JSON" "$seed" "$GUEST_IP" "$1" \
		"$TOP/build/bin/pvkit" ${NET_PEER_TAP:+"$NET_PEER_TAP"} &
	srv_pid=$!
	ip netns exec "$ns" env PVKIT_BOOT=hv "$TOP/scripts/boot-guest.sh" \
		--timeout "$TMO" --log "$log" --cmd "$3" -- --name "$1" \
		--net "$2" > /dev/null 2>&1 &
	boot_pid=$!
	wait "$boot_pid"
	boot_rc=$?
	boot_pid=
	# the peer ends at PVKIT-EXIT; give it a moment, then stop it
	for _ in $(seq 50); do
		kill -0 "$srv_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$srv_pid" 2>/dev/null
	wait "$srv_pid" 2>/dev/null
	srv_pid=
}
#
# net_guest_prelude HOST_IP GUEST_IP SEED: the start of the guest command:
# finds the pvkit_net device ($dev), gives it GUEST_IP/24, waits for the
# carrier, pings HOST_IP (PVKIT-NET-DEV, -CARRIER, -DRIVER, -PING), says
# PVKIT-NET-READY (net_peer.py pings back) and defines
# "xfer NAME BYTES": BYTES guest -> host, then host -> guest, and
# "killed_xfer NAME BYTES": guest -> host across a back-end SIGKILL.
net_guest_prelude()
{
	local host=$1 guest=$2 seed=$3

	# shellcheck disable=SC2016 # expanded by the guest shell
	printf '%s\n' 'set -u
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
ip addr add '"$guest"'/24 dev $dev
ip link set $dev up
i=0; while [ "$(cat /sys/class/net/$dev/carrier 2>/dev/null)" != 1 ]; do
	i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
echo "PVKIT-NET-CARRIER: $(cat /sys/class/net/$dev/carrier 2>/dev/null)"
echo "PVKIT-NET-DRIVER: $(ethtool -i $dev | sed -n "s/^driver: //p")"
i=0; while ! ping -c 1 -W 1 '"$host"' > /dev/null 2>&1; do
	i=$((i + 1)); [ $i -gt 20 ] && break
done
ping -c 3 -W 2 '"$host"' > /dev/null 2>&1
echo "PVKIT-NET-PING: $?"
echo PVKIT-NET-READY
sleep 4
# xfer NAME BYTES: guest -> host, then host -> guest
xfer() {
	out=$(pvkit-netxfer send '"$host"' 5001 '"$seed"'-$1 $2 2>/tmp/x.err)
	echo "PVKIT-NET-SEND-$1: $? $out"
	sed "s/^/PVKIT-NET-XFER: /" /tmp/x.err
	echo "PVKIT-NET-H2G $1 $2"
	out=$(pvkit-netxfer recv 5002 2>/tmp/x.err)
	echo "PVKIT-NET-RECV-$1: $? $out"
	sed "s/^/PVKIT-NET-XFER: /" /tmp/x.err
}
# killed_xfer NAME BYTES: guest -> host while net_peer.py SIGKILLs the
# back-end 1 s in; then whether the netdev is still there
killed_xfer() {
	echo "PVKIT-NET-KILL $1"
	out=$(pvkit-netxfer send '"$host"' 5001 '"$seed"'-$1 $2 2>/tmp/x.err)
	echo "PVKIT-NET-SEND-$1: $? $out"
	sed "s/^/PVKIT-NET-XFER: /" /tmp/x.err
	echo "PVKIT-NET-DEV-AFTER: $(ls /sys/class/net | grep -c "^$dev$")"
}'
}

# The host's side, read from net_peer.py's results in $NET_PEER_JSON.
# peer FIELD NAME: what the host saw or sent ("g2h"/"h2g" NAME), "ping",
# "kill" NAME
peer()
{
	python3 -c '
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(0)
k = sys.argv[2]
if k == "ping":
    print(r.get("ping"))
elif k == "kill":
    print(r.get("kills", {}).get(sys.argv[3], ""))
elif k == "link":
    print(r.get("link", {}).get(sys.argv[3], ""))
else:
    v = r.get(k, {}).get(sys.argv[3])
    print(" ".join(str(x) for x in v) if v else "")
' "$NET_PEER_JSON" "$@"
}
# g2h_ok NAME BYTES: the host received what the guest says it sent
g2h_ok()
{
	local rc sha n got gn match

	read -r rc sha n <<< "$(tap_val "PVKIT-NET-SEND-$1")"
	read -r got gn match <<< "$(peer g2h "$1")"
	[ "${rc:-1}" = 0 ] && [ -n "$sha" ] && [ "$sha" = "$got" ] &&
		[ "$n" = "$2" ] && [ "$gn" = "$2" ] && [ "$match" = True ]
}
# h2g_ok NAME BYTES: the guest received what the host sent
h2g_ok()
{
	local rc sha n sent sn

	read -r rc sha n <<< "$(tap_val "PVKIT-NET-RECV-$1")"
	read -r sent sn <<< "$(peer h2g "$1")"
	[ "${rc:-1}" = 0 ] && [ -n "$sha" ] && [ "$sha" = "$sent" ] &&
		[ "$n" = "$2" ] && [ "$sn" = "$2" ]
}
xfer_diag()
{
	echo "$1: guest send '$(tap_val "PVKIT-NET-SEND-$1")' recv '$(tap_val "PVKIT-NET-RECV-$1")'; host got '$(peer g2h "$1")' sent '$(peer h2g "$1")'"
}

# net_check_link: the first five results of a network test: the boot,
# the pvkit_net netdev, its carrier, ping guest -> host and host -> guest.
net_check_link()
{
	tap_check boot_ok "$boot_rc" "boot-guest exit $boot_rc"
	tap_check netdev_bound "$([ "$(tap_val PVKIT-NET-DRIVER)" = pvkit_net ]; echo $?)" \
		"device '$(tap_val PVKIT-NET-DEV)', driver '$(tap_val PVKIT-NET-DRIVER)'"
	tap_check carrier_up "$([ "$(tap_val PVKIT-NET-CARRIER)" = 1 ]; echo $?)"
	tap_check ping_guest_to_host "$([ "$(tap_val PVKIT-NET-PING)" = 0 ]; echo $?)"
	tap_check ping_host_to_guest "$([ "$(peer ping)" = 0 ]; echo $?)" \
		"host ping exit '$(peer ping)'"
}
