/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Pure matching logic: an event against an experiment's filters. */
#ifndef FL_BPF_MATCH_H
#define FL_BPF_MATCH_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include "faultline/abi.h"

/* What a hook saw, in one hook-independent shape. */
struct fl_event {
	__u64 now;      /* bpf_jiffies64(): for deadlines */
	__u64 flow_key; /* socket cookie: the unit of per-flow sampling (if cookie) */
	__u32 raddr[4]; /* remote address, network order (v4: [0]) */
	__u16 rport;    /* remote port, host order (0 if none) */
	__u16 lport;    /* local port, host order (0 if none) */
	__u8 family;    /* FL_FAMILY_V4 / FL_FAMILY_V6 */
	__u8 proto;     /* one enum fl_proto_bits; FL_PROTO_ANY: headers not
			 * parsed, as no experiment at hand filters on them */
	__u8 dir;       /* one enum fl_dir_bits, 0 for connect */
	__u8 has_ports;
	__u8 cookie;    /* flow_key has been read */
	__u8 parsed;    /* the packet's headers have been parsed */
	__u8 dns;       /* enum fl_dns_state: the DNS question (dns.h) */
	__u8 l4off;     /* offset of the TCP/UDP header, 0 if none (parsed) */
	__u64 pages;    /* memory hook: pages the request would add */
	__u64 file;     /* file hooks: the struct file's address */
	__u8 op;        /* file hooks: one enum fl_op_bits */
	__u32 dev;      /* bio hook: the bio's block device (dev_t) */
	__u8 held;      /* egress, enum fl_held: can a delay be held? */
	__u8 dns_level; /* 1 + the fl_dns_scratch entry holding the question, 0: none */
	struct fl_dev_key out; /* egress: the device the packet leaves by (if held) */
};

enum fl_held {
	FL_HELD_UNKNOWN = 0, /* not looked up (no delay experiment at hand) */
	FL_HELD_YES = 1,     /* the device's root qdisc is an fq faultline knows */
	FL_HELD_NO = 2,
};

static __always_inline int fl_match_addr(const struct fl_experiment *e,
					 const struct fl_event *ev)
{
	if (e->family == FL_FAMILY_ANY)
		return 1;
	if (e->family != ev->family)
		return 0;
	if ((ev->raddr[0] & e->rmask[0]) != e->raddr[0])
		return 0;
	if (e->family == FL_FAMILY_V4)
		return 1;
	return (ev->raddr[1] & e->rmask[1]) == e->raddr[1] &&
	       (ev->raddr[2] & e->rmask[2]) == e->raddr[2] &&
	       (ev->raddr[3] & e->rmask[3]) == e->raddr[3];
}

static __always_inline int fl_match(const struct fl_experiment *e,
				    const struct fl_event *ev)
{
	if (!(e->proto_mask & ev->proto))
		return 0;
	if (ev->dir && !(e->dir_mask & ev->dir))
		return 0;
	/* A port filter (anything narrower than 0-65535) excludes port-less
	 * protocols such as ICMP. */
	if (e->rport_lo != 0 || e->rport_hi != 0xffff) {
		if (!ev->has_ports || ev->rport < e->rport_lo || ev->rport > e->rport_hi)
			return 0;
	}
	if (e->lport_lo != 0 || e->lport_hi != 0xffff) {
		if (!ev->has_ports || ev->lport < e->lport_lo || ev->lport > e->lport_hi)
			return 0;
	}
	return fl_match_addr(e, ev);
}

#endif /* FL_BPF_MATCH_H */
