/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* DNS: parse the question of a DNS message (UDP, or TCP) and match it against an
 * experiment's domain= and qtype= filters. Only well-formed messages with
 * exactly one question and opcode QUERY can match; anything else (truncated,
 * compressed question name, names over 255 bytes, labels over 63, qdcount
 * != 1) is "not DNS" and passes untouched. */
#ifndef FL_BPF_DNS_H
#define FL_BPF_DNS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "faultline/abi.h"
#include "maps.h"
#include "match.h"

enum fl_dns_state {
	FL_DNS_UNPARSED = 0,
	FL_DNS_OK = 1,  /* the question is in fl_dns_scratch */
	FL_DNS_NOT = 2, /* not a well-formed DNS message of this direction */
};

/* A read the compiler cannot keep in a register from an earlier write: the
 * loops below keep their state in the map value on purpose (see there). */
#define FL_REREAD(x) (*(volatile __typeof__(x) *)&(x))

#define FL_UDP_HLEN 8
#define FL_DNS_HLEN 12

/* Takes the next nesting level's scratch (fl_dns_scratch), NULL if every
 * level is taken (deeper than softirq-in-process nesting can go); *level is
 * what fl_dns_give needs to give it back. */
static __always_inline struct fl_dns_scratch *fl_dns_take(__u32 *level)
{
	__u32 zero = 0, *nest = bpf_map_lookup_elem(&fl_dns_nest, &zero);
	struct fl_dns_scratch *s;

	if (!nest || *nest >= FL_DNS_NEST)
		return NULL;
	*level = *nest;
	s = bpf_map_lookup_elem(&fl_dns_scratch, level);
	if (s)
		*nest = *level + 1;
	return s;
}

static __always_inline void fl_dns_give(__u32 level)
{
	__u32 zero = 0, *nest = bpf_map_lookup_elem(&fl_dns_nest, &zero);

	if (nest)
		*nest = level;
}

/* Parse the question into fl_dns_scratch and set ev->dns. A query on
 * egress, an answer (QR set) on ingress; over UDP, or over TCP when the
 * segment starts a message (2-byte length, then the message). Global:
 * verified once; only called for targets that have a DNS experiment. */
__noinline int fl_dns_parse(struct __sk_buff *skb, struct fl_event *ev)
{
	struct fl_dns_scratch *s;
	__u32 off, n, i, k, end, level;
	__u8 hdr[FL_DNS_HLEN];

	if (!ev)
		return 0;
	ev->dns = FL_DNS_NOT;
	if (!ev->has_ports || !ev->l4off)
		return 0;
	off = ev->l4off & 0x3f;
	if (ev->proto == FL_PROTO_UDP) {
		off += FL_UDP_HLEN;
	} else if (ev->proto == FL_PROTO_TCP) {
		__u8 doff;

		/* data offset, in 32-bit words (5..15), then the length */
		if (bpf_skb_load_bytes(skb, off + 12, &doff, 1) || (doff >> 4) < 5)
			return 0;
		off += (doff >> 4) * 4 + 2;
	} else {
		return 0;
	}
	/* The header in place when it is in the linear part (most non-DNS
	 * packets are refused right here: ~3 ns instead of ~25 for a copy). */
	{
		void *data = (void *)(long)skb->data;
		void *data_end = (void *)(long)skb->data_end;

		if (data + off + sizeof(hdr) <= data_end)
			__builtin_memcpy(hdr, data + off, sizeof(hdr));
		else if (bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)))
			return 0;
	}
	/* flags: QR (answer) matches the direction, opcode 0 (QUERY) */
	if ((hdr[2] >> 7) != (ev->dir == FL_DIR_INGRESS) || ((hdr[2] >> 3) & 0xf))
		return 0;
	if (hdr[4] != 0 || hdr[5] != 1) /* qdcount == 1 */
		return 0;
	/* The next nesting level's scratch, given back by the entry program
	 * (fl_dns_release); none left: not parsed, so nothing matches. */
	s = fl_dns_take(&level);
	if (!s)
		return 0;
	ev->dns_level = (__u8)(level + 1);
	s->id = (__u16)(hdr[0] << 8 | hdr[1]);
	off += FL_DNS_HLEN;
	if (skb->len <= off)
		return 0;
	n = skb->len - off;
	if (n > FL_DNS_NAME_MAX + 4) /* the longest name, qtype, qclass */
		n = FL_DNS_NAME_MAX + 4;
	if (n < 1)
		return 0;
	/* n is 1..259 already; written so that 6.1's verifier, which does not
	 * learn n >= 1 from the test above, sees a size from 1 to 512 (buf). */
	if (bpf_skb_load_bytes(skb, off, s->buf, ((n - 1) & 0x1ff) + 1))
		return 0;

	/* Forward over the labels: where each starts, where the name ends. A
	 * name of 255 bytes has at most 127 labels. The end goes through the
	 * map value, and so does the position: whichever iteration breaks out,
	 * the verifier then goes on from one state (in registers, each exit's
	 * range of i differs, and the rest would be verified once per exit). */
	s->bounds[0] = s->bounds[1] = s->bounds[2] = s->bounds[3] = 0;
	s->end = 0xffff;
	s->j = 0;
	for (k = 0; k < 128; k++) {
		__u8 l;

		i = FL_REREAD(s->j);
		if (i >= n)
			return 0; /* runs past the packet */
		l = s->buf[i & 0x1ff];
		if (!l) {
			s->end = (__u16)i;
			break;
		}
		if (l > 63)
			return 0; /* a compression pointer or a reserved label type */
		s->bounds[(i >> 6) & 3] |= 1ULL << (i & 63);
		s->j = (__u16)(i + l + 1);
	}
	end = FL_REREAD(s->end); /* the root byte; the name is buf[0, end) */
	if (end + 1 > FL_DNS_NAME_MAX || end + 5 > n)
		return 0; /* no root byte, too long, or no room for qtype and qclass */
	s->qtype = (__u16)(s->buf[(end + 1) & 0x1ff] << 8 | s->buf[(end + 2) & 0x1ff]);
	s->qlen = (__u16)(end + 5);

	/* Backward: the hash of every suffix is a prefix of this walk (abi.h).
	 * The walk's state lives in the map value, not in registers: the
	 * verifier then sees one state per iteration instead of one per range
	 * of the name's length it has learnt (a million instructions). */
	s->h = FL_DNS_HASH_INIT;
	s->j = end;
	s->n_suffix = 0;
	for (k = 0; k < FL_DNS_NAME_MAX; k++) {
		__u32 j = FL_REREAD(s->j), c;

		if (!j)
			break;
		j--;
		s->j = (__u16)j;
		s->h = fl_dns_hash_step(FL_REREAD(s->h), s->buf[j & 0x1ff]);
		if (!j || !((s->bounds[(j >> 6) & 3] >> (j & 63)) & 1))
			continue;
		c = FL_REREAD(s->n_suffix);
		if (c < FL_DNS_MAX_SUFFIXES) {
			s->suffix[c & (FL_DNS_MAX_SUFFIXES - 1)] = s->h;
			s->n_suffix = c + 1;
		}
	}
	s->name = FL_REREAD(s->h);
	ev->dns = FL_DNS_OK;
	return 0;
}

/* The scratch holding ev's question, NULL if it has none. */
static __always_inline struct fl_dns_scratch *fl_dns_question(const struct fl_event *ev)
{
	__u32 level = ev->dns_level - 1;

	if (ev->dns != FL_DNS_OK || !ev->dns_level)
		return NULL;
	return bpf_map_lookup_elem(&fl_dns_scratch, &level);
}

/* Gives back the nesting level ev's parse took: every entry program that
 * may parse calls it before it returns. */
static __always_inline void fl_dns_release(const struct fl_event *ev)
{
	if (ev->dns_level)
		fl_dns_give(ev->dns_level - 1);
}

/* domain= and qtype= of a DNS experiment against the parsed question.
 * Global: verified once, and the packet fast path stays small. */
__noinline int fl_dns_match(const struct fl_experiment *e, const struct fl_event *ev)
{
	struct fl_dns_scratch *s;
	__u32 i, k;

	if (!e || !ev)
		return 0;
	s = fl_dns_question(ev);
	if (!s)
		return 0;
	if (e->qtype && e->qtype != s->qtype)
		return 0;
	if (!e->n_names)
		return 1;
	for (i = 0; i < FL_DNS_MAX_NAMES; i++) {
		if (i >= e->n_names)
			break;
		if (!(e->suffix_mask & (1u << i))) {
			if (s->name == e->dns_names[i])
				return 1;
			continue;
		}
		for (k = 0; k < FL_DNS_MAX_SUFFIXES; k++) {
			if (k >= s->n_suffix)
				break;
			if (s->suffix[k] == e->dns_names[i])
				return 1;
		}
	}
	return 0;
}

/* The sampling key of a DNS experiment, or 0 for a fresh draw: per=name,
 * the queried name; over TCP, the message (connection and id), so that
 * every retransmission of a segment gets the draw its first copy got (a
 * dropped answer stays lost, as it would with a dead server, instead of
 * arriving one retransmission timeout late). */
static __always_inline __u64 fl_dns_key(const struct fl_experiment *e, const struct fl_event *ev)
{
	struct fl_dns_scratch *s = fl_dns_question(ev);

	if (!s)
		return 0;
	if (e->sample == FL_SAMPLE_NAME)
		return s->name;
	if (ev->proto == FL_PROTO_TCP)
		return ((__u64)ev->lport << 48 | (__u64)ev->rport << 32 | (__u64)s->id << 16 | 1) ^
		       ((__u64)ev->raddr[0] << 8) ^ ev->raddr[3];
	return 0;
}

#endif /* FL_BPF_DNS_H */
