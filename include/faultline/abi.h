/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * faultline ABI: the one definition of everything that crosses the
 * kernel/user boundary. Included by the BPF programs (bpf/) and by the C++
 * loader (userspace/). Fixed-width types and explicit padding only; the
 * layout is pinned by the static asserts at the end of this file.
 */
#ifndef FAULTLINE_ABI_H
#define FAULTLINE_ABI_H

#include <linux/types.h>

/* Experiment slots per loaded instance (size of the config/counter arrays). */
#define FL_MAX_EXPERIMENTS 4096
/* Experiments attached to one (target cgroup, hook) pair. */
#define FL_MAX_PER_TARGET 16
/* Cgroup v2 depths that can be targeted (bit i of fl_levels = level i). */
#define FL_MAX_LEVELS 16
/* Flows whose last departure time is remembered to keep jitter in order. */
#define FL_MAX_FLOWS 65536

/* Probability scale: inject iff a uniform u32 draw < threshold. */
#define FL_THRESHOLD_ALWAYS (1ULL << 32)

enum fl_kind {
	FL_KIND_NONE = 0,
	FL_KIND_NET_DROP = 1,    /* drop the packet */
	FL_KIND_NET_DELAY = 2,   /* hold the packet: earliest departure time */
	FL_KIND_NET_CONNECT = 3, /* connect() fails with experiment.err */
};

/* Where an experiment is evaluated; key component of the index map. */
enum fl_hook {
	FL_HOOK_EGRESS = 1,  /* cgroup_skb/egress */
	FL_HOOK_INGRESS = 2, /* cgroup_skb/ingress */
	FL_HOOK_CONNECT = 3, /* cgroup/connect4, cgroup/connect6 */
};

enum fl_dir_bits {
	FL_DIR_EGRESS = 1 << 0,
	FL_DIR_INGRESS = 1 << 1,
};

enum fl_proto_bits {
	FL_PROTO_TCP = 1 << 0,
	FL_PROTO_UDP = 1 << 1,
	FL_PROTO_ICMP = 1 << 2, /* ICMP and ICMPv6 */
	FL_PROTO_OTHER = 1 << 3,
	FL_PROTO_ANY = 0x0f,
};

enum fl_sample {
	FL_SAMPLE_EVENT = 0, /* a fresh draw for every packet / call */
	FL_SAMPLE_FLOW = 1,  /* one draw per socket, sticky */
};

enum fl_flags {
	FL_F_SEEDED = 1 << 0, /* per-event draws from (seed, sequence number) */
};

/* Address family of the remote CIDR filter; 0 = no address filter. */
enum fl_family {
	FL_FAMILY_ANY = 0,
	FL_FAMILY_V4 = 4,
	FL_FAMILY_V6 = 6,
};

/* One experiment: value of the fl_config array, indexed by slot. */
struct fl_experiment {
	__u64 cgroup_id;  /* target cgroup v2 id (informational in BPF) */
	__u64 expires_ns; /* bpf_ktime_get_ns() deadline; 0 = disabled */
	__u64 threshold;  /* inject iff draw < threshold, 0..FL_THRESHOLD_ALWAYS */
	__u64 limit;      /* max injections over the experiment, 0 = unlimited */
	__u64 seed;       /* mixed into flow and seeded draws */
	__u64 delay_ns;   /* FL_KIND_NET_DELAY: added delay */
	__u64 jitter_ns;  /* FL_KIND_NET_DELAY: uniform +/- jitter */
	__u32 kind;       /* enum fl_kind */
	__s32 err;        /* FL_KIND_NET_CONNECT: positive errno */
	__u8 sample;      /* enum fl_sample */
	__u8 flags;       /* enum fl_flags */
	__u8 proto_mask;  /* enum fl_proto_bits, FL_PROTO_ANY for all */
	__u8 dir_mask;    /* enum fl_dir_bits */
	__u8 family;      /* enum fl_family of raddr/rmask */
	__u8 pad0[3];
	__u16 rport_lo, rport_hi; /* remote port range, host order, inclusive */
	__u16 lport_lo, lport_hi; /* local port range, host order, inclusive */
	__u32 raddr[4];   /* remote network, network byte order (v4: [0]) */
	__u32 rmask[4];   /* remote netmask, network byte order */
};

/* Per-CPU counters, fl_counters array indexed by slot. */
struct fl_counters {
	__u64 evaluated; /* events seen for the experiment's target cgroup */
	__u64 matched;   /* ... that passed its filters while it was live */
	__u64 injected;  /* ... on which the fault was applied */
	__u64 expired;   /* ... that arrived after its deadline (not injected) */
};

/* Key of the fl_index hash: experiments of one target cgroup at one hook. */
struct fl_index_key {
	__u64 cgroup_id;
	__u32 hook; /* enum fl_hook */
	__u32 pad;
};

struct fl_index_val {
	__u32 n;
	__u32 slots[FL_MAX_PER_TARGET];
};

#ifdef __cplusplus
static_assert(sizeof(struct fl_experiment) == 112, "fl_experiment layout");
static_assert(sizeof(struct fl_counters) == 32, "fl_counters layout");
static_assert(sizeof(struct fl_index_key) == 16, "fl_index_key layout");
static_assert(sizeof(struct fl_index_val) == 4 + 4 * FL_MAX_PER_TARGET, "fl_index_val layout");
#else
_Static_assert(sizeof(struct fl_experiment) == 112, "fl_experiment layout");
_Static_assert(sizeof(struct fl_counters) == 32, "fl_counters layout");
_Static_assert(sizeof(struct fl_index_key) == 16, "fl_index_key layout");
_Static_assert(sizeof(struct fl_index_val) == 4 + 4 * FL_MAX_PER_TARGET, "fl_index_val layout");
#endif

#endif /* FAULTLINE_ABI_H */
