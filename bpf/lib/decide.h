/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Decide what to do with one event: walk the experiments of every targeted
 * ancestor cgroup, count, sample, and fold the outcome into a verdict. */
#ifndef FL_BPF_DECIDE_H
#define FL_BPF_DECIDE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "faultline/abi.h"
#include "maps.h"
#include "match.h"
#include "sample.h"

_Static_assert((FL_MAX_EXPERIMENTS & (FL_MAX_EXPERIMENTS - 1)) == 0,
	       "slot masks need a power of two");

struct fl_verdict {
	__u64 delay_ns; /* largest delay injected */
	__u32 drop;     /* a drop was injected */
	__s32 err;      /* errno a connect must fail with */
	__u32 hold;     /* a delay experiment matched: keep the flow in order */
	__u32 pad;
};

/* Global (non-static) subprograms are verified once, independently of the
 * caller: keeps the loops over levels x experiments far below the verifier's
 * complexity limit (static subprograms were re-verified per path and hit the
 * 1M-instruction limit). Pointer args of global functions may be NULL. */
__noinline int fl_eval_slot(__u32 slot, const struct fl_event *ev,
			    struct fl_verdict *v)
{
	struct fl_experiment *e;
	struct fl_counters *c;

	if (!ev || !v)
		return 0;
	e = bpf_map_lookup_elem(&fl_config, &slot);
	c = bpf_map_lookup_elem(&fl_counters, &slot);
	if (!e || !c)
		return 0;
	c->evaluated++;
	if (ev->now >= e->expires_ns) {
		/* The in-kernel deadline: a dead or stuck loader cannot keep a
		 * fault alive past it. */
		c->expired++;
		return 0;
	}
	if (!fl_match(e, ev))
		return 0;
	c->matched++;
	if (e->kind == FL_KIND_NET_DELAY)
		v->hold = 1;
	if (!fl_sampled(e, slot, ev->flow_key) || !fl_take_budget(e, slot))
		return 0;
	c->injected++;

	switch (e->kind) {
	case FL_KIND_NET_DROP:
		v->drop = 1;
		break;
	case FL_KIND_NET_CONNECT:
		v->err = e->err;
		break;
	case FL_KIND_NET_DELAY: {
		__u64 d = e->delay_ns;

		if (e->jitter_ns) {
			/* uniform in [delay - jitter, delay + jitter] */
			__u64 span = 2 * e->jitter_ns + 1;

			d = d - e->jitter_ns + bpf_get_prandom_u32() % span;
		}
		if (d > v->delay_ns)
			v->delay_ns = d;
		break;
	}
	default:
		break;
	}
	return 1;
}

/* The experiments of one target cgroup at one hook, or NULL. */
static __always_inline struct fl_index_val *fl_target(__u64 cgroup_id, __u32 hook)
{
	struct fl_index_key k = { .cgroup_id = cgroup_id, .hook = hook };

	return bpf_map_lookup_elem(&fl_index, &k);
}

/* Evaluate the experiments listed in iv (a value of fl_index). */
__noinline int fl_eval_target(const struct fl_index_val *iv, const struct fl_event *ev,
			      struct fl_verdict *v)
{
	__u32 i, n;

	if (!iv || !ev || !v)
		return 0;
	n = iv->n;
	for (i = 0; i < FL_MAX_PER_TARGET; i++) {
		if (i >= n || v->drop || v->err)
			break;
		fl_eval_slot(iv->slots[i], ev, v);
	}
	return 1;
}

#endif /* FL_BPF_DECIDE_H */
