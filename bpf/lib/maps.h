/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps and global state shared by every faultline program. */
#ifndef FL_BPF_MAPS_H
#define FL_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "faultline/abi.h"

/* Experiment configuration by slot. Written by the loader only. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FL_MAX_EXPERIMENTS);
	__type(key, __u32);
	__type(value, struct fl_experiment);
} fl_config SEC(".maps");

/* Counters by slot; per-CPU so the fast path never contends. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FL_MAX_EXPERIMENTS);
	__type(key, __u32);
	__type(value, struct fl_counters);
} fl_counters SEC(".maps");

/* Slots `faultline stop` has stopped: written only by `stop`, never by the
 * loader, so a loader that rewrites the config (renewal, a ramp) cannot
 * bring a stopped experiment back. Read only for events about to be
 * injected. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FL_MAX_EXPERIMENTS);
	__type(key, __u32);
	__type(value, __u32);
} fl_stopped SEC(".maps");

/* Devices whose root qdisc honours departure times (sch_fq), by network
 * namespace and ifindex: the fq faultline installed or found for its delays.
 * A delay on a packet that leaves by any other device is counted as not
 * held (fl_counters.not_held), not as injected. Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FL_MAX_HELD_DEVS);
	__type(key, struct fl_dev_key);
	__type(value, __u8);
} fl_held SEC(".maps");

/* The last device a delay of each slot could not be held on: what the
 * loader's warning names. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FL_MAX_EXPERIMENTS);
	__type(key, __u32);
	__type(value, struct fl_dev_key);
} fl_not_held_at SEC(".maps");

/* (target cgroup, hook) -> experiment slots, a two-choice table (abi.h):
 * at most two inlined array lookups per targeted cgroup depth (bench: 2 ns,
 * a hash-map lookup 32 ns), whatever the number of experiments elsewhere. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FL_INDEX_ENTRIES);
	__type(key, __u32);
	__type(value, struct fl_index_entry);
} fl_index SEC(".maps");

/* Last earliest-departure time per socket with a delay experiment, so that a
 * packet never leaves before one sent earlier on the same socket (fq keeps
 * EDT packets of a flow in time order, so without this jitter reorders). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FL_MAX_FLOWS);
	__type(key, __u64);
	__type(value, __u64);
} fl_flow_edt SEC(".maps");

/* The question of the DNS message at hand (dns.h), per CPU: too large for
 * the stack, and filled at most once per packet. */
struct fl_dns_scratch {
	/* the question's name and its type and class: up to 255 + 4 bytes are
	 * read; the size is a power of two so that masked offsets stay inside */
	__u8 buf[512];
	__u64 bounds[4]; /* bit i set: a label starts at buf[i] */
	/* fl_dns_hash of each proper suffix of the name (the name without its
	 * first 1, 2, ... labels), shortest first, at most FL_DNS_MAX_SUFFIXES */
	__u64 suffix[FL_DNS_MAX_SUFFIXES];
	__u64 name;	/* fl_dns_hash of the whole name */
	__u32 n_suffix;
	__u16 qtype;
	__u16 end;	/* parse state: offset of the name's root byte in buf, */
	__u16 j;	/* the backward walk's position */
	__u16 id;	/* the message id */
	__u16 qlen;	/* bytes of the question: name, qtype, qclass */
	__u16 pad;
	__u64 h;	/* and its hash so far */
};

/* One scratch per nesting level: a program parsing a question in process
 * context can be interrupted by a softirq whose program parses another on
 * the same CPU (at most that: softirqs do not nest). fl_dns_nest is the
 * level in use; a parse takes the next one and its entry program gives it
 * back on exit (fl_dns_release), so a nested run never writes the scratch
 * an interrupted one is reading. */
#define FL_DNS_NEST 4
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FL_DNS_NEST);
	__type(key, __u32);
	__type(value, struct fl_dns_scratch);
} fl_dns_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fl_dns_nest SEC(".maps");

/* Answers to rewrite (FL_KIND_DNS_RCODE), by exchange (abi.h). LRU: an
 * answer that never comes is forgotten; entries also carry a deadline. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FL_DNS_MAX_PENDING);
	__type(key, struct fl_dns_flow);
	__type(value, struct fl_dns_pending);
} fl_dns_pending SEC(".maps");

/* Sockets a DNS_RCODE experiment injected a query from, with their cgroup
 * id then: an answer is rewritten only if the socket it is delivered to is
 * one of them (rewrite.h). Freed with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} fl_dns_sk SEC(".maps");

/* Jiffies until which the tc ingress program looks at packets at all: the
 * latest deadline of a pending rewrite (so it costs one inlined jiffies read
 * and a compare when no rewrite is pending). And how long a rewrite waits
 * for its answer, in jiffies (written by the loader). */
volatile __u64 fl_rcode_until;
volatile __u64 fl_rcode_ttl;

/* Bit i set: some experiment targets a cgroup at depth i (root = 0). Written
 * by the loader through the mmap'ed .bss. */
volatile __u32 fl_levels;

/* Sequence numbers for seeded per-event draws, and injections used against
 * an experiment's limit. Shared (not per-CPU): atomics, only touched by
 * experiments that ask for them. */
__u64 fl_seq[FL_MAX_EXPERIMENTS];
__u64 fl_used[FL_MAX_EXPERIMENTS];

/* Written by fl_clock (run by the loader through BPF_PROG_TEST_RUN). */
struct fl_clock_sample fl_clock_now;

/* path= filters of disk experiments: the inodes of the named files and
 * directories, per slot (file.h walks a file's path up to them). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FL_MAX_PATHS);
	__type(key, struct fl_path_key);
	__type(value, __u8);
} fl_paths SEC(".maps");

#endif /* FL_BPF_MAPS_H */
