// SPDX-License-Identifier: GPL-2.0-only
/*
 * XDP programs for the pvkit_net tests (selftests/guest/pvkit-xdp.c loads
 * them).  Each acts on the test's frames only -- IPv4 UDP, no IP options,
 * to port TEST_PORT -- and passes everything else, so ARP, ping and the
 * TCP transfers keep working while a program is attached.
 *
 *   xdp_pass      count every frame (counts[1]) and test frame (counts[0]),
 *                 XDP_PASS all: the stack still sees everything
 *   xdp_drop      count and XDP_DROP the test frames
 *   xdp_tx        count, swap source and destination (Ethernet, IP, UDP)
 *                 and XDP_TX them: the sender gets its datagram back
 *   xdp_redirect  the same, sent out through the devmap entry 0 (the
 *                 device itself: its ndo_xdp_xmit)
 *
 * Swapping the addresses and ports leaves both checksums valid: they are
 * one's-complement sums, and the swap only reorders the summed words.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define TEST_PORT	9	/* "discard": nothing in the guest listens */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} out SEC(".maps");

static __always_inline void count(__u32 key)
{
	__u64 *c = bpf_map_lookup_elem(&counts, &key);

	if (c)
		(*c)++;
}

/* The test frame's headers, or NULL for any other frame. */
static __always_inline struct udphdr *test_frame(struct xdp_md *ctx,
						 struct ethhdr **eth,
						 struct iphdr **ip)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct udphdr *udp;

	*eth = data;
	*ip = data + sizeof(**eth);
	udp = data + sizeof(**eth) + sizeof(**ip);
	if ((void *)(udp + 1) > end)
		return NULL;
	if ((*eth)->h_proto != bpf_htons(ETH_P_IP) || (*ip)->ihl != 5 ||
	    (*ip)->protocol != IPPROTO_UDP ||
	    udp->dest != bpf_htons(TEST_PORT))
		return NULL;
	return udp;
}

static __always_inline void swap_bytes(__u8 *a, __u8 *b, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		__u8 t = a[i];

		a[i] = b[i];
		b[i] = t;
	}
}

static __always_inline void reflect(struct ethhdr *eth, struct iphdr *ip,
				    struct udphdr *udp)
{
	__u32 a = ip->saddr;
	__u16 p = udp->source;

	swap_bytes(eth->h_source, eth->h_dest, ETH_ALEN);
	ip->saddr = ip->daddr;
	ip->daddr = a;
	udp->source = udp->dest;
	udp->dest = p;
}

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	struct ethhdr *eth;
	struct iphdr *ip;

	count(1);
	if (test_frame(ctx, &eth, &ip))
		count(0);
	return XDP_PASS;
}

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	struct ethhdr *eth;
	struct iphdr *ip;

	count(1);
	if (!test_frame(ctx, &eth, &ip))
		return XDP_PASS;
	count(0);
	return XDP_DROP;
}

/* count a test frame and send it back: XDP_TX or through the devmap */
static __always_inline int bounce(struct xdp_md *ctx, int redirect)
{
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *udp;

	count(1);
	udp = test_frame(ctx, &eth, &ip);
	if (!udp)
		return XDP_PASS;
	count(0);
	reflect(eth, ip, udp);
	return redirect ? bpf_redirect_map(&out, 0, XDP_DROP) : XDP_TX;
}

SEC("xdp")
int xdp_tx(struct xdp_md *ctx)
{
	return bounce(ctx, 0);
}

SEC("xdp")
int xdp_redirect(struct xdp_md *ctx)
{
	return bounce(ctx, 1);
}

char _license[] SEC("license") = "GPL";
