// SPDX-License-Identifier: GPL-3.0-only
/*
 * rtpbolt's XDP program: the AF_XDP data plane's steering stage, the XDP
 * counterpart of xt_RTPENGINE's table lookup. A UDP packet whose destination
 * (address, port) is in `flows` is redirected to the AF_XDP socket of the
 * queue it arrived on; everything else (ARP, ICMP, signalling, IP fragments,
 * UDP to ports we do not relay, packets of queues without a socket) goes to
 * the kernel unchanged with XDP_PASS.
 *
 * The key layout is shared with dataplane/src/backend/xdp/program.rs
 * (XdpFlowKey); change both together.
 *
 * The license section says "GPL": the kernel's marker for GPL-compatible
 * programs (its list has no "GPL-3.0"), which the redirect helpers require.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define FAMILY_V4 4
#define FAMILY_V6 6

/* The flow table's match key: our local address and UDP port. */
struct flow_key {
	__u8 family;     /* FAMILY_V4 or FAMILY_V6 */
	__u8 pad;        /* always zero */
	__be16 port;     /* network byte order, as on the wire */
	__u8 addr[16];   /* IPv4 in the first four bytes, the rest zero */
};

/* Index into `stats`. */
enum {
	STAT_REDIRECTED = 0, /* a hit handed to bpf_redirect_map */
	STAT_PASSED = 1,     /* everything else */
	STAT_MAX = 2,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 18);
	__type(key, struct flow_key);
	__type(value, __u32); /* flags, reserved: zero */
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

#define ETH_P_8021Q_BE bpf_htons(0x8100)
#define ETH_P_8021AD_BE bpf_htons(0x88A8)
#define ETH_P_IP_BE bpf_htons(0x0800)
#define ETH_P_IPV6_BE bpf_htons(0x86DD)
#define IP_MF_OFFSET bpf_htons(0x3fff)
#define IPV6_FRAGMENT 44

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

static __always_inline int count(__u32 stat, int action)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &stat);

	if (n)
		*n += 1;
	return action;
}

SEC("xdp")
int rtpbolt_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct flow_key key = {};
	struct udphdr *udp;
	__be16 proto;
	void *l3;

	if ((void *)(eth + 1) > end)
		return count(STAT_PASSED, XDP_PASS);
	proto = eth->h_proto;
	l3 = eth + 1;
	/* One 802.1Q tag, as the frame path parses; QinQ is the kernel's. */
	if (proto == ETH_P_8021Q_BE) {
		struct vlan_hdr *vlan = l3;

		if ((void *)(vlan + 1) > end)
			return count(STAT_PASSED, XDP_PASS);
		proto = vlan->proto;
		l3 = vlan + 1;
	}

	if (proto == ETH_P_IP_BE) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
			return count(STAT_PASSED, XDP_PASS);
		/* Fragments (first or later) are reassembled by the kernel. */
		if (ip->protocol != IPPROTO_UDP || (ip->frag_off & IP_MF_OFFSET))
			return count(STAT_PASSED, XDP_PASS);
		udp = l3 + ip->ihl * 4;
		key.family = FAMILY_V4;
		__builtin_memcpy(key.addr, &ip->daddr, 4);
	} else if (proto == ETH_P_IPV6_BE) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end || ip6->version != 6)
			return count(STAT_PASSED, XDP_PASS);
		/* Extension headers (fragments among them) are the kernel's. */
		if (ip6->nexthdr != IPPROTO_UDP)
			return count(STAT_PASSED, XDP_PASS);
		udp = (void *)(ip6 + 1);
		key.family = FAMILY_V6;
		__builtin_memcpy(key.addr, &ip6->daddr, 16);
	} else {
		return count(STAT_PASSED, XDP_PASS);
	}

	if ((void *)(udp + 1) > end)
		return count(STAT_PASSED, XDP_PASS);
	key.port = udp->dest;
	if (!bpf_map_lookup_elem(&flows, &key))
		return count(STAT_PASSED, XDP_PASS);
	/* No socket on this queue: XDP_PASS, the control plane relays it. */
	return count(STAT_REDIRECTED,
		     bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS));
}

char LICENSE[] SEC("license") = "GPL";
