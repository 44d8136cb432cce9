// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Where the per-packet time of fl_skb_egress goes: one cgroup_skb program per
 * building block a faultline-like path can use (helpers, map lookups, packet
 * reads, calls), each measured by fl_bench_testrun next to the real program.
 * Every block runs after the same cgroup-id helper call, so block cost = its
 * program minus flb_ancestor (flb_storage_get, which replaces that call and
 * the hash lookup, is compared with the empty program).
 *
 * The results are written to `flb_sink` so that the compiler keeps them.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "faultline/abi.h"

/* Depth of the target cgroup, set by the loader (as fl_levels is). */
volatile const __u32 flb_level = 0;
volatile __u64 flb_sink;

/* The index as a hash map (faultline's until the two-choice array). */
struct flb_index_key {
	__u64 cgroup_id;
	__u32 hook;
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FL_MAX_EXPERIMENTS);
	__type(key, struct flb_index_key);
	__type(value, struct fl_index_val);
} flb_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FL_MAX_EXPERIMENTS);
	__type(key, __u32);
	__type(value, struct fl_experiment);
} flb_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FL_MAX_EXPERIMENTS);
	__type(key, __u32);
	__type(value, struct fl_counters);
} flb_counters SEC(".maps");

/* faultline's index: the two-choice array of abi.h (array lookups are
 * inlined by the verifier). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FL_INDEX_ENTRIES);
	__type(key, __u32);
	__type(value, struct fl_index_entry);
} flb_dm SEC(".maps");

/* Per-(cgroup, attach type) storage: found from the program's run context,
 * no hashing. The test run gives the program a temporary one. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_STORAGE);
	__type(key, struct bpf_cgroup_storage_key);
	__type(value, struct fl_index_val);
} flb_storage SEC(".maps");

#define FLB_CG __u64 cg = bpf_skb_ancestor_cgroup_id(skb, flb_level)

static __always_inline void *flb_lookup(__u64 cg)
{
	struct flb_index_key k = { .cgroup_id = cg, .hook = FL_HOOK_EGRESS };

	return bpf_map_lookup_elem(&flb_index, &k);
}

SEC("cgroup_skb/egress")
int flb_empty(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/egress")
int flb_ancestor(struct __sk_buff *skb)
{
	FLB_CG;
	flb_sink = cg;
	return 1;
}

SEC("cgroup_skb/egress")
int flb_hash(struct __sk_buff *skb)
{
	FLB_CG;
	flb_sink = (__u64)flb_lookup(cg);
	return 1;
}

SEC("cgroup_skb/egress")
int flb_ktime(struct __sk_buff *skb)
{
	FLB_CG;
	flb_sink = cg + bpf_ktime_get_ns();
	return 1;
}

SEC("cgroup_skb/egress")
int flb_cookie(struct __sk_buff *skb)
{
	FLB_CG;
	flb_sink = cg + bpf_get_socket_cookie(skb);
	return 1;
}

/* fl_skb_parse(): the IPv4 header, then the ports. */
SEC("cgroup_skb/egress")
int flb_load(struct __sk_buff *skb)
{
	__u8 iph[20];
	__u16 ports[2] = {};

	FLB_CG;
	if (bpf_skb_load_bytes(skb, 0, iph, sizeof(iph)))
		return 1;
	bpf_skb_load_bytes(skb, (iph[0] & 0xf) * 4, ports, sizeof(ports));
	flb_sink = cg + iph[9] + ports[1];
	return 1;
}

/* fl_eval_slot(): config and counters by slot, three counter increments. */
SEC("cgroup_skb/egress")
int flb_arrays(struct __sk_buff *skb)
{
	__u32 slot = 0;
	struct fl_experiment *e;
	struct fl_counters *c;

	FLB_CG;
	e = bpf_map_lookup_elem(&flb_config, &slot);
	c = bpf_map_lookup_elem(&flb_counters, &slot);
	if (!e || !c)
		return 1;
	c->evaluated++;
	c->matched++;
	flb_sink = cg + e->threshold + c->evaluated;
	return 1;
}

/* A global function is verified on its own and called, never inlined, as
 * fl_eval_target() and fl_eval_slot() are. */
__noinline int flb_global_fn(__u64 x)
{
	return (int)(x >> 3);
}

SEC("cgroup_skb/egress")
int flb_call(struct __sk_buff *skb)
{
	FLB_CG;
	flb_sink = flb_global_fn(cg);
	return 1;
}

SEC("cgroup_skb/egress")
int flb_prandom(struct __sk_buff *skb)
{
	FLB_CG;
	flb_sink = cg + bpf_get_prandom_u32();
	return 1;
}

/* Alternatives. */
SEC("cgroup_skb/egress")
int flb_coarse(struct __sk_buff *skb)
{
	FLB_CG;
	flb_sink = cg + bpf_ktime_get_coarse_ns();
	return 1;
}

SEC("cgroup_skb/egress")
int flb_direct(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u8 *iph = data;
	__u16 *ports;

	FLB_CG;
	if (data + 20 > end)
		return 1;
	ports = data + (iph[0] & 0xf) * 4;
	if ((void *)(ports + 2) > end)
		return 1;
	flb_sink = cg + iph[9] + ports[1];
	return 1;
}

SEC("cgroup_skb/egress")
int flb_jiffies(struct __sk_buff *skb)
{
	FLB_CG;
	flb_sink = cg + bpf_jiffies64();
	return 1;
}

SEC("cgroup_skb/egress")
int flb_dmindex(struct __sk_buff *skb)
{
	struct fl_index_entry *d;
	__u32 k;

	FLB_CG;
	k = fl_index_pos(fl_index_hash(cg, FL_HOOK_EGRESS), 0);
	d = bpf_map_lookup_elem(&flb_dm, &k);
	flb_sink = d && d->cgroup_id == cg && d->hook == FL_HOOK_EGRESS ? d->v.n : 0;
	return 1;
}

SEC("cgroup_skb/egress")
int flb_storage_get(struct __sk_buff *skb)
{
	struct fl_index_val *v = bpf_get_local_storage(&flb_storage, 0);

	flb_sink = v->n;
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
