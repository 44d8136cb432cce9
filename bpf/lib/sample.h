/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Sampling: does this event fall inside the experiment's percentage? */
#ifndef FL_BPF_SAMPLE_H
#define FL_BPF_SAMPLE_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include "faultline/abi.h"
#include "maps.h"

/* splitmix64 finalizer: a full-avalanche 64-bit mix, so that consecutive
 * sequence numbers or cookies give independent-looking draws. */
static __always_inline __u32 fl_mix32(__u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (__u32)(x >> 32);
}

static __always_inline __u32 fl_draw(const struct fl_experiment *e, __u32 slot,
				     __u64 flow_key, int keyed)
{
	if (keyed) /* per flow, per name, per TCP message: the key decides */
		return fl_mix32(e->seed ^ (flow_key * 0x9e3779b97f4a7c15ULL) ^ slot);
	if (e->flags & FL_F_SEEDED) {
		__u64 n = __sync_fetch_and_add(&fl_seq[slot & (FL_MAX_EXPERIMENTS - 1)], 1);

		return fl_mix32(e->seed + (n + 1) * 0x9e3779b97f4a7c15ULL);
	}
	return bpf_get_prandom_u32();
}

/* Threshold form (draw < p * 2^32) avoids modulo bias; 0 and 2^32 are exact
 * 0 % and 100 %. */
static __always_inline int fl_sampled(const struct fl_experiment *e, __u32 slot,
				      __u64 flow_key, int keyed)
{
	if (e->threshold >= FL_THRESHOLD_ALWAYS)
		return 1;
	if (e->threshold == 0)
		return 0;
	return (__u64)fl_draw(e, slot, flow_key, keyed) < e->threshold;
}

/* Take one injection from the experiment's limit; 0 once it is used up. */
static __always_inline int fl_take_budget(const struct fl_experiment *e, __u32 slot)
{
	if (!e->limit)
		return 1;
	return __sync_fetch_and_add(&fl_used[slot & (FL_MAX_EXPERIMENTS - 1)], 1) < e->limit;
}

#endif /* FL_BPF_SAMPLE_H */
