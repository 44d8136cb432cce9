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
/* Entries of the fl_index array: two per experiment slot, so that the
 * two-choice (cuckoo) table is at most half full. Power of two. */
#define FL_INDEX_ENTRIES (2 * FL_MAX_EXPERIMENTS)
/* Flows whose last departure time is remembered to keep jitter in order. */
#define FL_MAX_FLOWS 65536

/* DNS: names one experiment filters on (domain=), and suffixes of a queried
 * name remembered for suffix filters (the rightmost ones). */
#define FL_DNS_MAX_NAMES 4
#define FL_DNS_MAX_SUFFIXES 8
/* A DNS name in wire format is at most 255 bytes (RFC 1035 3.1). */
#define FL_DNS_NAME_MAX 255

/* Answers to rewrite (FL_ACT_REWRITE) awaited at once, and the type of
 * the one additional record that carries the original answer's records in a
 * rewritten answer (private use, RFC 6895 3.1). */
#define FL_DNS_MAX_PENDING 16384
#define FL_DNS_FILLER_TYPE 65280

/* Probability scale: inject iff a uniform u32 draw < threshold. */
#define FL_THRESHOLD_ALWAYS (1ULL << 32)

/* What an experiment does to an event it injects on (experiment.action).
 * The fault kinds users name (net.drop, disk.eio ...) are the loader's: the
 * programs see only an action and the match bits below, so a new kind that
 * reuses them needs no change here or in bpf/. */
enum fl_action {
	FL_ACT_NONE = 0,
	FL_ACT_DROP = 1,    /* drop the packet (egress; on ingress: the answer) */
	FL_ACT_DELAY = 2,   /* delay_ns +/- jitter_ns: a packet's earliest
			     * departure time (held by sch_fq), or the time a
			     * file operation's thread waits on its CPU */
	FL_ACT_ERR = 3,     /* the call fails with -err */
	FL_ACT_REWRITE = 4, /* DNS: the answer to the query is rewritten where it
			     * arrives (tc ingress); err = the header bits to set
			     * (bytes 2-3 of the message: rcode, FL_DNS_TC) */
};

/* What an experiment checks beyond the packet filters (experiment.match). */
enum fl_match_bits {
	FL_M_DNS = 1 << 0,   /* the DNS question: dns_names, qtype; per=name */
	FL_M_PAGES = 1 << 1, /* memory: requests of at least min_pages */
	FL_M_FILE = 1 << 2,  /* files: ops, any_file, path= (fl_paths) */
	FL_M_BIO = 1 << 3,   /* block I/O: ops, dev */
	FL_M_CACHE = 1 << 4, /* slab: the kmem cache's name hashes to cache */
	FL_M_HELD = 1 << 5,  /* a packet delay, held by sch_fq: injected only
			      * where the packet leaves by a device of fl_held
			      * (ignored with FL_F_SHADOW, which holds nothing) */
};

/* The header bit of a truncated DNS answer (in FL_ACT_REWRITE's err). */
#define FL_DNS_TC 0x0200

/* The longest a disk.delay holds one call (delay + jitter): the wait runs
 * in the kernel, on the caller's CPU, without sleeping. */
#define FL_DISK_MAX_DELAY_NS (50ULL * 1000 * 1000)

/* Where an experiment is evaluated; key component of the index map. */
enum fl_hook {
	FL_HOOK_EGRESS = 1,  /* cgroup_skb/egress */
	FL_HOOK_INGRESS = 2, /* cgroup_skb/ingress */
	FL_HOOK_CONNECT = 3, /* cgroup/connect4, cgroup/connect6 */
	FL_HOOK_MEM = 4,     /* fmod_ret/security_vm_enough_memory_mm */
	FL_HOOK_FILE = 5,    /* fmod_ret/security_file_open, _file_permission,
			      * __x64_sys_fsync, __x64_sys_fdatasync */
	FL_HOOK_SLAB = 6,    /* fmod_ret/should_failslab */
	FL_HOOK_BIO = 7,     /* fmod_ret/should_fail_bio: by the bio's cgroup */
};

/* File and block operations (experiment.ops of FL_M_FILE and FL_M_BIO, event.op). */
enum fl_op_bits {
	FL_OP_OPEN = 1 << 0,  /* open(2) and friends, exec: security_file_open */
	FL_OP_READ = 1 << 1,  /* read, pread, readv, splice, sendfile source ... */
	FL_OP_WRITE = 1 << 2, /* write, pwrite, writev, fallocate, copy_file_range ... */
	FL_OP_FSYNC = 1 << 3, /* fsync, fdatasync (where system calls take error injection) */
};

/* Directory or file inodes of path= filters: key of fl_paths. dev is the
 * kernel's dev_t (MAJOR << 20 | MINOR), as in super_block.s_dev. */
struct fl_path_key {
	__u32 slot;
	__u32 dev;
	__u64 ino;
};
/* Path components walked from a file up to its filesystem roots. */
#define FL_PATH_DEPTH 32
#define FL_MAX_PATHS 8192

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
	FL_SAMPLE_NAME = 2,  /* DNS: one draw per queried name, sticky */
};

enum fl_flags {
	FL_F_SEEDED = 1 << 0, /* per-event draws from (seed, sequence number) */
	FL_F_SHADOW = 1 << 1, /* count-only: `injected` counts what would have been */
};

/* Address family of the remote CIDR filter; 0 = no address filter. */
enum fl_family {
	FL_FAMILY_ANY = 0,
	FL_FAMILY_V4 = 4,
	FL_FAMILY_V6 = 6,
};

/* One experiment: value of the fl_config array, indexed by slot. */
struct fl_experiment {
	__u64 cgroup_id;  /* target cgroup v2 id; checked against the index hit */
	__u64 expires;    /* deadline in jiffies (bpf_jiffies64()); 0 = disabled */
	__u64 threshold;  /* inject iff draw < threshold, 0..FL_THRESHOLD_ALWAYS */
	__u64 limit;      /* max injections over the experiment, 0 = unlimited */
	__u64 seed;       /* mixed into flow and seeded draws */
	__u64 delay_ns;   /* FL_ACT_DELAY: added delay */
	__u64 jitter_ns;  /* FL_ACT_DELAY: uniform +/- jitter */
	__u8 action;      /* enum fl_action */
	__u8 match;       /* enum fl_match_bits */
	__u16 pad2;
	__s32 err;        /* FL_ACT_ERR: positive errno; FL_ACT_REWRITE: header bits */
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
	/* FL_M_DNS: only well-formed DNS messages with one question match. */
	__u64 dns_names[FL_DNS_MAX_NAMES]; /* fl_dns_hash of each domain= */
	__u16 qtype;      /* question type to match, 0 = any */
	__u8 n_names;     /* domain= filters in dns_names, 0 = any name */
	__u8 suffix_mask; /* bit i: dns_names[i] matches names strictly under it */
	/* FL_M_FILE: operations (enum fl_op_bits), every file type or
	 * regular files only, path= filters in fl_paths (0 = any file) */
	__u8 ops;
	__u8 any_file;
	__u16 n_paths;
	/* FL_M_PAGES: only requests of at least this many pages */
	__u64 min_pages;
	/* FL_M_BIO: only bios of this block device (the kernel's dev_t,
	 * MAJOR << 20 | MINOR; a partition is its own device) */
	__u32 dev;
	__u32 pad1;
	/* FL_M_CACHE: only allocations from the kmem cache whose name
	 * hashes to this (fl_name_hash) */
	__u64 cache;
};

/* Per-CPU counters, fl_counters array indexed by slot. */
struct fl_counters {
	__u64 evaluated; /* events seen for the experiment's target cgroup */
	__u64 matched;   /* ... that passed its filters while it was live */
	__u64 injected;  /* ... on which the fault was applied */
	__u64 expired;   /* ... that arrived after its deadline (not injected) */
	__u64 not_held;  /* delays: would have been injected, but the packet
			  * leaves by a device whose root qdisc ignores
			  * departure times (no fq): not injected, not delayed */
};

/* A network device as the kernel names it across namespaces: the inode
 * number of its network namespace (ns.inum) and its ifindex there. Key of
 * fl_held (devices whose root qdisc is an fq, which honours the departure
 * times a delay sets), value of fl_not_held_at (the last device a delay of a
 * slot could not be held on). */
struct fl_dev_key {
	__u32 netns;
	__u32 ifindex;
};
#define FL_MAX_HELD_DEVS 256

enum fl_index_flags {
	FL_IDX_COOKIE = 1 << 0,  /* some experiment samples per flow: read the cookie */
	FL_IDX_HEADERS = 1 << 1, /* some experiment filters on protocol, ports or
				  * address: parse the packet's headers */
	FL_IDX_DNS = 1 << 2,     /* some experiment is a DNS fault: parse the
				  * question of UDP and TCP packets */
	FL_IDX_HOLD = 1 << 3,    /* some experiment delays packets: find the
				  * device they leave by (fl_held) */
};

/* The experiments of one target cgroup at one hook. */
struct fl_index_val {
	__u32 n;
	__u32 flags; /* enum fl_index_flags, derived by the loader from the configs */
	__u32 slots[FL_MAX_PER_TARGET];
};

/* One entry of the fl_index array; cgroup_id 0 = empty (no cgroup has id 0).
 * An entry for (cgroup, hook) sits at one of two positions,
 * fl_index_pos(h, 0) or fl_index_pos(h, 1) with h = fl_index_hash(...): the
 * fast path does at most two inlined array lookups, never a hash-map lookup.
 * The loader places entries (cuckoo insertion, moving an entry to its other
 * position before its old one is overwritten, so a reader always finds it). */
struct fl_index_entry {
	__u64 cgroup_id;
	__u32 hook; /* enum fl_hook */
	struct fl_index_val v;
	__u32 pad;
};

static inline __u64 fl_index_hash(__u64 cgroup_id, __u32 hook)
{
	__u64 x = (cgroup_id << 2) ^ hook;

	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ULL;
	x ^= x >> 29;
	return x;
}

static inline __u32 fl_index_pos(__u64 h, int which)
{
	__u32 p1 = (__u32)h & (FL_INDEX_ENTRIES - 1);
	__u32 p2 = (__u32)(h >> 32) & (FL_INDEX_ENTRIES - 1);

	if (!which)
		return p1;
	return p2 != p1 ? p2 : p1 ^ 1;
}

/* One reading of both kernel clocks (the fl_clock program), from which the
 * loader converts CLOCK_MONOTONIC deadlines to jiffies. */
struct fl_clock_sample {
	__u64 ns_before; /* bpf_ktime_get_ns(), i.e. CLOCK_MONOTONIC */
	__u64 jiffies;   /* bpf_jiffies64(), read between the two */
	__u64 ns_after;
};

/* A DNS exchange whose answer must be rewritten: written by cgroup_skb
 * egress when it injects FL_ACT_REWRITE on a query, consumed by the tc
 * ingress program on the answer. Addresses and ports in network order. */
struct fl_dns_flow {
	__u32 client[4]; /* the target's address (v4: [0]) */
	__u32 server[4]; /* the resolver's */
	__u16 cport, sport;
	__u16 id;        /* the DNS message id */
	__u8 proto;      /* IPPROTO_UDP or IPPROTO_TCP */
	__u8 family;     /* FL_FAMILY_V4 / FL_FAMILY_V6 */
};

struct fl_dns_pending {
	__u64 expires; /* jiffies: the experiment's deadline or the TTL, the sooner */
	__u64 sk_cgroup; /* cgroup v2 id of the querying socket: the answer is
			  * rewritten only for a receiving socket of the same */
	__u64 name;    /* fl_dns_hash of the question's name: the answer's must
			* hash the same */
	__u32 slot;    /* the experiment: counters, and its live deadline */
	__u16 qlen;    /* bytes of the question (name, qtype, qclass) */
	__u16 qtype;
	__u16 set;     /* header bits to set (experiment.err of FL_ACT_REWRITE) */
	__u8 pad[6];
};

/* Names are hashed in DNS wire format (length-prefixed labels, no root
 * byte), ASCII letters lowered, walking from the last byte to the first:
 * the hash of every suffix of a name is then a prefix of one walk, so the
 * BPF side gets all suffix hashes of a queried name in a single pass.
 * FNV-1a 64-bit steps. */
#define FL_DNS_HASH_INIT 0xcbf29ce484222325ULL
static inline __u64 fl_dns_hash_step(__u64 h, __u8 c)
{
	if (c >= 'A' && c <= 'Z')
		c += 'a' - 'A';
	return (h ^ c) * 0x100000001b3ULL;
}

/* A kernel object's name (a kmem cache's): FNV-1a 64 over its bytes, up to
 * the first NUL or FL_NAME_MAX of them; never 0 (0 means "no filter"). */
#define FL_NAME_MAX 32
static inline __u64 fl_name_hash_step(__u64 h, __u8 c)
{
	return (h ^ c) * 0x100000001b3ULL;
}

#ifdef __cplusplus
static_assert(sizeof(struct fl_experiment) == 176, "fl_experiment layout");
static_assert(sizeof(struct fl_counters) == 40, "fl_counters layout");
static_assert(sizeof(struct fl_dns_flow) == 40, "fl_dns_flow layout");
static_assert(sizeof(struct fl_dns_pending) == 40, "fl_dns_pending layout");
static_assert(sizeof(struct fl_path_key) == 16, "fl_path_key layout");
static_assert(sizeof(struct fl_dev_key) == 8, "fl_dev_key layout");
static_assert(sizeof(struct fl_index_val) == 8 + 4 * FL_MAX_PER_TARGET, "fl_index_val layout");
static_assert(sizeof(struct fl_index_entry) == 16 + sizeof(struct fl_index_val), "fl_index_entry layout");
#else
_Static_assert(sizeof(struct fl_experiment) == 176, "fl_experiment layout");
_Static_assert(sizeof(struct fl_counters) == 40, "fl_counters layout");
_Static_assert(sizeof(struct fl_dns_flow) == 40, "fl_dns_flow layout");
_Static_assert(sizeof(struct fl_dns_pending) == 40, "fl_dns_pending layout");
_Static_assert(sizeof(struct fl_path_key) == 16, "fl_path_key layout");
_Static_assert(sizeof(struct fl_dev_key) == 8, "fl_dev_key layout");
_Static_assert(sizeof(struct fl_index_val) == 8 + 4 * FL_MAX_PER_TARGET, "fl_index_val layout");
_Static_assert(sizeof(struct fl_index_entry) == 16 + sizeof(struct fl_index_val), "fl_index_entry layout");
#endif

#endif /* FAULTLINE_ABI_H */
