// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-netback's XDP program for xdp=IFNAME (port-xdp.c): every frame
 * received on a queue whose AF_XDP socket is in the map goes to that
 * socket; the rest (other queues, or no socket: a back-end restarting)
 * goes on to the host stack.  Built with clang -target bpf and linked
 * into pvkit-netback (backends/build.mk); the back-end sizes the map to
 * its queue + 1 and sets pvkit_owner before loading.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} pvkit_xsks SEC(".maps");

/*
 * The pid of the back-end that loaded us, set before loading: the next
 * back-end on this interface reads it (.rodata) to tell a program left by
 * a dead back-end, which it replaces, from a live one's, which it must
 * not cut off.
 */
const volatile __u32 pvkit_owner = 0;

SEC("xdp")
int pvkit_xsk(struct xdp_md *ctx)
{
	if (!pvkit_owner)	/* never: keeps .rodata bound to us */
		return XDP_PASS;
	return bpf_redirect_map(&pvkit_xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
