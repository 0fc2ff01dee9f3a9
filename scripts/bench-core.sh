#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# bench-core.sh [-n COUNT]: pvkit core latencies ('make bench-core').
#
# Boots the guest once under pvkit-hv and runs pvkit-bench in it:
# hypercall (ECHO) round trips and test-device ping-pong round trips in irq
# and poll mode, COUNT of each (default 20000) after a warm-up.  Writes
# build/bench/core.json (the guest tool's JSON plus the host setup) and
# build/bench/core.md (a markdown table), and prints the table.
#
# Env: PVKIT_BOOT (default hv), PVKIT_BENCH_TIMEOUT (default 900 s).

set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"

count=20000
while [ $# -gt 0 ]; do
	case "$1" in
	-n)	count=$2; shift 2 ;;
	*)	echo "usage: $0 [-n COUNT]" >&2; exit 2 ;;
	esac
done

out=build/bench
mkdir -p "$out"
log=$out/core-console.log
export PVKIT_BOOT=${PVKIT_BOOT:-hv}

cmd="if dmesg | grep -q 'Hypervisor detected: KVM'; then
	echo PVKIT-ACCEL: kvm
else
	echo PVKIT-ACCEL: tcg
fi
echo PVKIT-BENCH-JSON-BEGIN
pvkit-bench -n $count -w 1000
rc=\$?
echo PVKIT-BENCH-JSON-END
exit \$rc"

echo "bench-core: booting the guest ($PVKIT_BOOT), $count round trips each"
rc=0
scripts/boot-guest.sh --cmd "$cmd" --timeout "${PVKIT_BENCH_TIMEOUT:-900}" \
	--log "$log" > /dev/null || rc=$?
if [ $rc -ne 0 ]; then
	echo "bench-core: guest run failed (exit $rc), console: $log" >&2
	tail -n 30 "$log" >&2
	exit 1
fi

tr -d '\r' < "$log" |
	sed -n '/^PVKIT-BENCH-JSON-BEGIN$/,/^PVKIT-BENCH-JSON-END$/p' |
	sed '1d;$d' > "$out/core-guest.json"

accel=$(tr -d '\r' < "$log" | sed -n 's/^PVKIT-ACCEL: //p' | tail -n 1)
python3 - "$out/core-guest.json" "$out/core.json" "$out/core.md" \
	"${accel:-unknown}" <<'EOF'
import json
import os
import platform
import sys

src, out_json, out_md, accel = sys.argv[1:5]
with open(src) as f:
    guest = json.load(f)

cpu = "unknown"
try:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
except OSError:
    pass

result = {
    "benchmark": "core",
    "host": {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
             "engine": "qemu", "accel": accel,
             "boot": os.environ.get("PVKIT_BOOT", "hv")},
    "guest": guest,
}
with open(out_json, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")

rows = [
    ("hypercall (ECHO)", "hypercall", "sleeps"),
    ("event channel ping-pong, irq", "pingpong_irq", "irqs"),
    ("event channel ping-pong, poll", "pingpong_poll", "irqs"),
]


def us(ns):
    return "%.1f" % (ns / 1000.0)


lines = [
    "| round trip | count | min µs | median µs | p99 µs | max µs | mean µs | ok | irqs/sleeps |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for label, key, extra in rows:
    r = guest[key]
    lines.append("| %s | %d | %s | %s | %s | %s | %s | %d | %d |" % (
        label, r["count"], us(r["min_ns"]), us(r["p50_ns"]),
        us(r["p99_ns"]), us(r["max_ns"]), us(r["mean_ns"]),
        r["completed"], r.get(extra, 0)))
lines.append("")
lines.append("Host: %s, %d CPUs; guest %d vCPUs under QEMU/%s." % (
    cpu, os.cpu_count(), guest.get("guest_cpus", 0), accel))
with open(out_md, "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
echo "bench-core: wrote $out/core.json and $out/core.md"
