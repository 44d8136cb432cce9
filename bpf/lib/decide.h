/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Decide what to do with one event: find the experiments of every targeted
 * ancestor cgroup, count, sample, and fold the outcome into a verdict. */
#ifndef FL_BPF_DECIDE_H
#define FL_BPF_DECIDE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "faultline/abi.h"
#include "maps.h"
#include "dns.h"
#include "match.h"
#include "sample.h"
#include "file.h"

_Static_assert((FL_MAX_EXPERIMENTS & (FL_MAX_EXPERIMENTS - 1)) == 0,
	       "slot masks need a power of two");
_Static_assert((FL_INDEX_ENTRIES & (FL_INDEX_ENTRIES - 1)) == 0,
	       "index positions need a power of two");

struct fl_verdict {
	__u64 delay_ns; /* largest delay injected */
	__u32 drop;     /* a drop was injected */
	__s32 err;      /* errno a connect must fail with */
	__u32 hold;     /* a delay experiment matched: keep the flow in order */
	__u32 rewrite;  /* FL_ACT_REWRITE injected: the header bits to set */
	__u32 rslot;    /* ... for the experiment in this slot */
	__u32 pad;
};

/* The name of a kmem cache (ev->file of a slab event: should_failslab's
 * struct kmem_cache), hashed as the loader hashed cache= (abi.h). Global:
 * verified once; only for mem.slab experiments with a cache= filter. */
struct kmem_cache___fl {
	const char *name;
} __attribute__((preserve_access_index));

__noinline __u64 fl_cache_name_hash(__u64 cache)
{
	char name[FL_NAME_MAX] = {};
	const char *p = BPF_CORE_READ((struct kmem_cache___fl *)cache, name);
	__u64 h = FL_DNS_HASH_INIT;
	int i;

	if (!p || bpf_probe_read_kernel_str(name, sizeof(name), p) < 0)
		return 0;
	for (i = 0; i < FL_NAME_MAX; i++) {
		if (!name[i])
			break;
		h = fl_name_hash_step(h, (__u8)name[i]);
	}
	return h;
}

/* One experiment of target cgroup cg on one event. Inlined: the first
 * experiment of a target is evaluated without any BPF-to-BPF call (a call
 * costs ~9 ns here, see BENCHMARKS.md). ev->flow_key must be set when the
 * experiment samples per flow (FL_IDX_COOKIE on its index entry). */
static __always_inline void fl_eval_slot(__u32 slot, __u64 cg, const struct fl_event *ev,
					 struct fl_verdict *v)
{
	struct fl_experiment *e;
	struct fl_counters *c;
	__u32 *stopped;
	int held_delay;

	e = bpf_map_lookup_elem(&fl_config, &slot);
	c = bpf_map_lookup_elem(&fl_counters, &slot);
	/* The config names its target: an index entry read while the loader
	 * was rewriting it can never apply another cgroup's experiment. */
	if (!e || !c || e->cgroup_id != cg)
		return;
	c->evaluated++;
	if (ev->now >= e->expires) {
		/* The in-kernel deadline: a dead or stuck loader cannot keep a
		 * fault alive past it. */
		c->expired++;
		return;
	}
	if (!fl_match(e, ev))
		return;
	if ((e->match & FL_M_DNS) && !fl_dns_match(e, ev))
		return;
	if ((e->match & FL_M_PAGES) && ev->pages < e->min_pages)
		return;
	if ((e->match & FL_M_FILE) && !fl_file_match(e, slot, ev))
		return;
	if ((e->match & FL_M_BIO) && (!(e->ops & ev->op) || e->dev != ev->dev))
		return;
	if ((e->match & FL_M_CACHE) && fl_cache_name_hash(ev->file) != e->cache)
		return;
	c->matched++;
	/* A packet delay is real only where the packet leaves by a device
	 * whose root qdisc honours departure times (fq): elsewhere it is not
	 * held, and not counted as injected. A shadow delay holds nothing. */
	held_delay = (e->match & FL_M_HELD) && !(e->flags & FL_F_SHADOW);
	if (held_delay && ev->held == FL_HELD_YES)
		v->hold = 1;
	{
		__u64 key = ev->flow_key;
		int keyed = e->sample != FL_SAMPLE_EVENT;

		if (e->match & FL_M_DNS) {
			key = fl_dns_key(e, ev);
			keyed = key != 0;
		}
		if (!fl_sampled(e, slot, key, keyed))
			return;
	}
	/* `faultline stop` is final: its flag is never written by the loader
	 * (which may rewrite the config meanwhile). */
	stopped = bpf_map_lookup_elem(&fl_stopped, &slot);
	if (stopped && *stopped)
		return;
	if (held_delay && ev->held != FL_HELD_YES) {
		/* A stack copy: kernels before 6.3 take no PTR_TO_MEM (ev, an
		 * argument of a global function) as a map value. */
		struct fl_dev_key out = ev->out;

		c->not_held++;
		bpf_map_update_elem(&fl_not_held_at, &slot, &out, BPF_ANY);
		return;
	}
	if (!fl_take_budget(e, slot))
		return;
	if (e->action == FL_ACT_REWRITE && !(e->flags & FL_F_SHADOW)) {
		/* Counted as injected where the answer is rewritten (tc
		 * ingress): an answer that never comes is not an injection. */
		v->rewrite = (__u32)e->err;
		v->rslot = slot;
		return;
	}
	c->injected++;
	if (e->flags & FL_F_SHADOW)
		return; /* counted, never applied */

	switch (e->action) {
	case FL_ACT_DROP:
		v->drop = 1;
		break;
	case FL_ACT_ERR:
		v->err = e->err;
		break;
	case FL_ACT_DELAY: {
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
}

/* The experiments of one target cgroup at one hook, or NULL: the two
 * positions of the two-choice index (abi.h). */
static __always_inline const struct fl_index_entry *fl_target(__u64 cg, __u32 hook)
{
	__u64 h = fl_index_hash(cg, hook);
	__u32 k = fl_index_pos(h, 0);
	const struct fl_index_entry *ie = bpf_map_lookup_elem(&fl_index, &k);

	if (ie && ie->cgroup_id == cg && ie->hook == hook)
		return ie;
	k = fl_index_pos(h, 1);
	ie = bpf_map_lookup_elem(&fl_index, &k);
	if (ie && ie->cgroup_id == cg && ie->hook == hook)
		return ie;
	return NULL;
}

/* The slow paths below are global (non-static) functions: each is verified
 * once, independently of its callers, which keeps the loops over levels x
 * experiments far below the verifier's complexity limit (the body of
 * fl_eval_slot inlined into such loops made loading take 0.7 s here).
 * Pointer args of global functions may be NULL. */
__noinline int fl_eval_slot_g(__u32 slot, __u64 cg, const struct fl_event *ev, struct fl_verdict *v)
{
	if (ev && v)
		fl_eval_slot(slot, cg, ev, v);
	return 0;
}

/* Experiments `from`.. of an index entry. */
__noinline int fl_eval_from(const struct fl_index_entry *ie, __u32 from, __u64 cg,
			    const struct fl_event *ev, struct fl_verdict *v)
{
	__u32 i, n;

	if (!ie || !ev || !v)
		return 0;
	n = ie->v.n;
	for (i = 0; i < FL_MAX_PER_TARGET; i++) {
		if (i >= n || v->drop || v->err)
			break;
		if (i >= from)
			fl_eval_slot_g(ie->v.slots[i], cg, ev, v);
	}
	return 0;
}

/* Every experiment of the entry found for cgroup cg: the first one inline
 * (the common case, one experiment per target, makes no BPF-to-BPF call:
 * ~9 ns each here, see BENCHMARKS.md), the others through fl_eval_from. */
static __always_inline void fl_eval_entry(const struct fl_index_entry *ie, __u64 cg,
					  const struct fl_event *ev, struct fl_verdict *v)
{
	__u32 n = ie->v.n;

	if (n < 1)
		return;
	fl_eval_slot(ie->v.slots[0], cg, ev, v);
	if (n > 1 && !v->drop && !v->err)
		fl_eval_from(ie, 1, cg, ev, v);
}

#endif /* FL_BPF_DECIDE_H */
