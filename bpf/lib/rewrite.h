/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* DNS answers rewritten (FL_ACT_REWRITE): error answers and truncated
 * answers. A cgroup_skb program cannot write packets, and tc programs do
 * not know the socket's cgroup, so the work is split: cgroup_skb egress
 * decides on the target's query and remembers the exchange
 * (fl_dns_remember); a tc ingress program finds the answer to it and
 * rewrites it in place (fl_dns_rewrite).
 *
 * The rewrite keeps the packet's length (no resize, no IP header change,
 * and TCP sequence numbers stay valid): id, question and opcode stay; the
 * experiment's header bits are set (an rcode, or TC), AA, TC and AD are
 * otherwise cleared; the answer and authority counts become 0, and
 * whatever followed the question (the original records) is covered by one
 * additional record of private-use type FL_DNS_FILLER_TYPE, owner the
 * root, TTL 0, that resolvers skip. The L4 checksum is fixed by the
 * difference of the bytes changed. */
#ifndef FL_BPF_REWRITE_H
#define FL_BPF_REWRITE_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "faultline/abi.h"
#include "maps.h"
#include "match.h"
#include "dns.h"

#define FL_ETH_HLEN 14
#define FL_IP_MF 0x2000
#define FL_IP_OFFSET 0x1fff
/* DNS header flags */
#define FL_DNS_QR 0x80
#define FL_DNS_OPCODE 0x78 /* of byte 2; 0 is QUERY, the only one picked */
#define FL_DNS_KEEP2 0xf9 /* QR, opcode, RD (AA and TC cleared) */
#define FL_DNS_KEEP3 0x90 /* RA, CD (Z and AD cleared; rcode replaced) */
/* An RR without its data: owner (1 byte, the root), type, class, TTL,
 * rdlength. */
#define FL_DNS_RR_FIXED 11

/* On egress, for a query an FL_ACT_REWRITE experiment injected: remember
 * the exchange so the answer can be found. ev is the parsed query (dns.h).
 * Global: verified once, only called on injection. */
__noinline int fl_dns_remember(struct __sk_buff *skb, const struct fl_event *ev, __u32 slot,
			       __u32 set)
{
	struct fl_dns_pending p = {};
	struct fl_dns_flow k = {};
	struct fl_dns_scratch *s;
	struct fl_experiment *e;
	__u64 until;

	if (!ev)
		return 0;
	slot &= FL_MAX_EXPERIMENTS - 1;
	s = fl_dns_question(ev);
	e = bpf_map_lookup_elem(&fl_config, &slot);
	if (!s || !e)
		return 0;
	k.family = ev->family;
	k.proto = ev->proto == FL_PROTO_TCP ? IPPROTO_TCP : IPPROTO_UDP;
	/* cgroup_skb data starts at the network header: the source address */
	if (ev->family == FL_FAMILY_V4) {
		if (bpf_skb_load_bytes(skb, offsetof(struct iphdr, saddr), &k.client[0], 4))
			return 0;
		k.server[0] = ev->raddr[0];
	} else {
		if (bpf_skb_load_bytes(skb, offsetof(struct ipv6hdr, saddr), k.client, 16))
			return 0;
		__builtin_memcpy(k.server, ev->raddr, sizeof(k.server));
	}
	k.cport = bpf_htons(ev->lport);
	k.sport = bpf_htons(ev->rport);
	k.id = s->id;
	p.expires = ev->now + fl_rcode_ttl;
	if (e->expires < p.expires)
		p.expires = e->expires;
	p.slot = slot;
	p.sk_cgroup = bpf_skb_cgroup_id(skb);
	p.name = s->name;
	p.qlen = s->qlen;
	/* Mark the querying socket: its answer is rewritten only if it is
	 * delivered to a socket so marked. */
	{
		struct bpf_sock *sk = skb->sk;
		__u64 *mark;

		if (!sk)
			return 0;
		sk = bpf_sk_fullsock(sk);
		if (!sk)
			return 0;
		mark = bpf_sk_storage_get(&fl_dns_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!mark)
			return 0;
		*mark = p.sk_cgroup;
	}
	p.qtype = s->qtype;
	p.set = (__u16)set;
	bpf_map_update_elem(&fl_dns_pending, &k, &p, BPF_ANY);
	/* A lost race leaves the other CPU's value, the same give or take a
	 * jiffy: the tc program looks at packets until then. */
	until = fl_rcode_until;
	if (until < p.expires)
		fl_rcode_until = p.expires;
	return 0;
}

/* Do the `len` bytes of the name at `off` (wire format, without the root
 * byte) hash to `want`, as dns.h hashed the query's? Read into the next
 * nesting level's scratch (this runs in softirq context, which can
 * interrupt a parse in process context on the same CPU). Global: verified
 * once; only for an answer that matched a pending exchange. */
__noinline int fl_dns_same_name(struct __sk_buff *skb, __u32 off, __u32 len, __u64 want)
{
	struct fl_dns_scratch *s;
	__u32 level, k;
	__u64 h = FL_DNS_HASH_INIT;
	int same = 0;

	if (len < 1 || len > FL_DNS_NAME_MAX)
		return 0;
	s = fl_dns_take(&level);
	if (!s)
		return 0;
	if (!bpf_skb_load_bytes(skb, off, s->buf, ((len - 1) & 0x1ff) + 1)) {
		for (k = 0; k < FL_DNS_NAME_MAX; k++) {
			if (k >= len)
				break;
			h = fl_dns_hash_step(h, s->buf[(len - 1 - k) & 0x1ff]);
		}
		same = h == want;
	}
	fl_dns_give(level);
	return same;
}

/* Is the socket the kernel delivers this answer to (looked up as the
 * stack will: UDP or TCP, by the answer's addresses and ports, in the
 * receiving device's namespace) one that a query was injected from, in
 * cgroup `cg` then (its fl_dns_sk mark)? tc programs cannot read a socket's
 * cgroup (bpf_sk_cgroup_id is cgroup_skb's), but can read its storage. */
static __always_inline int fl_dns_receiver_is(struct __sk_buff *skb, const struct fl_dns_flow *k, __u64 cg)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 len;
	__u64 id;

	if (k->family == FL_FAMILY_V4) {
		t.ipv4.saddr = k->server[0];
		t.ipv4.daddr = k->client[0];
		t.ipv4.sport = k->sport;
		t.ipv4.dport = k->cport;
		len = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, k->server, sizeof(t.ipv6.saddr));
		__builtin_memcpy(t.ipv6.daddr, k->client, sizeof(t.ipv6.daddr));
		t.ipv6.sport = k->sport;
		t.ipv6.dport = k->cport;
		len = sizeof(t.ipv6);
	}
	if (k->proto == IPPROTO_TCP)
		sk = bpf_sk_lookup_tcp(skb, &t, len, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_udp(skb, &t, len, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	{
		__u64 *v = bpf_sk_storage_get(&fl_dns_sk, sk, 0, 0);

		id = v ? *v : 0;
	}
	bpf_sk_release(sk);
	return id == cg;
}

/* `len` bytes at `off`: in place when in the linear part (a few ns), else
 * copied (bpf_skb_load_bytes, ~25 ns); NULL if the packet is shorter. */
static __always_inline const void *fl_tc_bytes(struct __sk_buff *skb, __u32 off, void *copy, __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (data + off + len <= data_end)
		return data + off;
	return bpf_skb_load_bytes(skb, off, copy, len) ? NULL : copy;
}

/* On ingress at tc (data starts at the Ethernet header): if this is the
 * answer to a remembered query, rewrite it. Global: verified once. */
__noinline int fl_dns_rewrite(struct __sk_buff *skb)
{
	__u8 hdr[FL_DNS_HLEN], nhdr[FL_DNS_HLEN];
	__u8 old[16] = {}, neu[16] = {};
	struct fl_dns_pending p, *pp;
	struct fl_dns_flow k = {};
	struct fl_experiment *e;
	struct fl_counters *c;
	__u32 l4, msg, msglen, csum_off, rr, left, start, n, i, slot;
	__u8 q[5];
	__u64 now;
	__s64 diff;

	/* Until the lookup, headers are read in place where possible: this
	 * part runs for every packet while a rewrite is pending. */
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr copy;
		const struct iphdr *ip = fl_tc_bytes(skb, FL_ETH_HLEN, &copy, sizeof(copy));

		if (!ip || (ip->frag_off & bpf_htons(FL_IP_MF | FL_IP_OFFSET)))
			return 0;
		k.family = FL_FAMILY_V4;
		k.proto = ip->protocol;
		k.client[0] = ip->daddr;
		k.server[0] = ip->saddr;
		l4 = FL_ETH_HLEN + (ip->ihl & 0xf) * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr copy;
		const struct ipv6hdr *ip6 = fl_tc_bytes(skb, FL_ETH_HLEN, &copy, sizeof(copy));

		if (!ip6)
			return 0;
		k.family = FL_FAMILY_V6;
		k.proto = ip6->nexthdr;
		__builtin_memcpy(k.client, &ip6->daddr, 16);
		__builtin_memcpy(k.server, &ip6->saddr, 16);
		l4 = FL_ETH_HLEN + sizeof(*ip6);
	} else {
		return 0;
	}
	if (k.proto == IPPROTO_UDP) {
		struct udphdr copy;
		const struct udphdr *u = fl_tc_bytes(skb, l4, &copy, sizeof(copy));

		if (!u)
			return 0;
		k.sport = u->source;
		k.cport = u->dest;
		msg = l4 + sizeof(*u);
		msglen = bpf_ntohs(u->len);
		if (msglen < sizeof(*u))
			return 0;
		msglen -= sizeof(*u);
		csum_off = l4 + offsetof(struct udphdr, check);
	} else if (k.proto == IPPROTO_TCP) {
		struct tcphdr copy;
		const struct tcphdr *t = fl_tc_bytes(skb, l4, &copy, sizeof(copy));
		__u16 lcopy;
		const __u16 *len;

		if (!t)
			return 0;
		k.sport = t->source;
		k.cport = t->dest;
		msg = l4 + t->doff * 4;
		len = fl_tc_bytes(skb, msg, &lcopy, sizeof(lcopy));
		if (!len)
			return 0;
		msg += 2;
		msglen = bpf_ntohs(*len);
		csum_off = l4 + offsetof(struct tcphdr, check);
	} else {
		return 0;
	}
	{
		const __u8 *h = fl_tc_bytes(skb, msg, hdr, sizeof(hdr));

		if (!h || !(h[2] & FL_DNS_QR) || (h[2] & FL_DNS_OPCODE))
			return 0;
		if (h != hdr)
			__builtin_memcpy(hdr, h, sizeof(hdr));
	}
	k.id = (__u16)(hdr[0] << 8 | hdr[1]);
	pp = bpf_map_lookup_elem(&fl_dns_pending, &k);
	if (!pp)
		return 0;
	p = *pp;
	now = bpf_jiffies64();
	slot = p.slot & (FL_MAX_EXPERIMENTS - 1);
	e = bpf_map_lookup_elem(&fl_config, &slot);
	c = bpf_map_lookup_elem(&fl_counters, &slot);
	/* The experiment's live deadline too: `faultline stop` ends it now. */
	if (!e || !c || now >= p.expires || now >= e->expires || e->action != FL_ACT_REWRITE) {
		bpf_map_delete_elem(&fl_dns_pending, &k);
		return 0;
	}
	/* The answer to the question asked: one question, of that length
	 * (its root byte where the query's was) and that type. */
	if (hdr[4] != 0 || hdr[5] != 1 || p.qlen < 5 || p.qlen > FL_DNS_NAME_MAX + 4 ||
	    msglen < FL_DNS_HLEN + p.qlen)
		return 0;
	if (bpf_skb_load_bytes(skb, msg + FL_DNS_HLEN + p.qlen - 5, q, sizeof(q)) || q[0] ||
	    (__u16)(q[1] << 8 | q[2]) != p.qtype)
		return 0;
	/* ... and that name (an id reused for another name of that length
	 * and type is another exchange). */
	if (!fl_dns_same_name(skb, msg + FL_DNS_HLEN, p.qlen - 5, p.name))
		return 0;
	/* The socket the answer is delivered to must be one the target
	 * queried from: with SO_REUSEPORT (or a connected socket) on the same
	 * address and port, another cgroup's socket can get an answer to the
	 * target's query id, and it must get it untouched. */
	if (!fl_dns_receiver_is(skb, &k, p.sk_cgroup))
		return 0;
	/* The answer: one per query (another message under this id and
	 * ports, checked above, left the exchange pending). */
	bpf_map_delete_elem(&fl_dns_pending, &k);
	/* Only an answer that succeeded is turned into an error: one that is
	 * an error or truncated already (the server's, or another session's
	 * rewrite: each session has its own program here) is left as it is,
	 * and not counted. */
	if ((hdr[3] & 0xf) || (hdr[2] & (FL_DNS_TC >> 8)))
		return 0;
	rr = FL_DNS_HLEN + p.qlen; /* where the question ends, in the message */
	left = msglen - rr;
	if (left && left < FL_DNS_RR_FIXED)
		return 0; /* not a well-formed answer: leave it */

	__builtin_memcpy(nhdr, hdr, sizeof(hdr));
	nhdr[2] = (hdr[2] & FL_DNS_KEEP2) | ((p.set >> 8) & FL_DNS_TC >> 8);
	nhdr[3] = (hdr[3] & FL_DNS_KEEP3) | (p.set & 0xf);
	for (i = 6; i < FL_DNS_HLEN; i++)
		nhdr[i] = 0;
	nhdr[11] = left ? 1 : 0; /* arcount: the filler record */
	diff = bpf_csum_diff((__be32 *)hdr, sizeof(hdr), (__be32 *)nhdr, sizeof(nhdr), 0);
	if (left) {
		/* The filler's fixed part, read and rewritten as 16 bytes from
		 * the even offset at or before it (checksums sum 16-bit words
		 * counted from the L4 header; msg is at an even distance from
		 * it: 8 for UDP, a multiple of 4 plus 2 for TCP). Bytes past the
		 * message or the segment stay 0 in both copies. */
		start = rr & ~1u;
		if (msg + start >= skb->len)
			return 0;
		n = msglen - start;
		if (n > skb->len - msg - start)
			n = skb->len - msg - start;
		if (n < FL_DNS_RR_FIXED + (rr - start))
			return 0; /* the record's fixed part is not in this segment */
		if (n > sizeof(old))
			n = sizeof(old);
		if (bpf_skb_load_bytes(skb, msg + start, old, ((n - 1) & 0xf) + 1))
			return 0;
		__builtin_memcpy(neu, old, sizeof(neu));
		{
			/* Through an opaque pointer: knowing neu's alignment,
			 * the compiler would turn neu + 1 into neu | 1, which
			 * the verifier refuses on a pointer. */
			__u8 *w = rr & 1 ? neu + 1 : neu;

			asm volatile("" : "+r"(w));
			w[0] = 0;				/* owner: the root */
			w[1] = FL_DNS_FILLER_TYPE >> 8;		/* type */
			w[2] = FL_DNS_FILLER_TYPE & 0xff;
			w[3] = 0;				/* class IN */
			w[4] = 1;
			w[5] = w[6] = w[7] = w[8] = 0;		/* TTL */
			w[9] = (__u8)((left - FL_DNS_RR_FIXED) >> 8); /* rdlength */
			w[10] = (__u8)(left - FL_DNS_RR_FIXED);
		}
		diff = bpf_csum_diff((__be32 *)old, sizeof(old), (__be32 *)neu, sizeof(neu), diff);
		if (bpf_skb_store_bytes(skb, msg + start, neu, ((n - 1) & 0xf) + 1, 0))
			return 0;
	}
	if (bpf_skb_store_bytes(skb, msg, nhdr, sizeof(nhdr), 0))
		return 0;
	/* Data and checksum change by opposite amounts: a CHECKSUM_COMPLETE
	 * sum stays right. IPv4 UDP without a checksum (0) keeps none. */
	bpf_l4_csum_replace(skb, csum_off, 0, diff, k.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0);
	c->injected++;
	return 0;
}

#endif /* FL_BPF_REWRITE_H */
