// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * faultline entry programs. Thin: build an fl_event, let decide.h walk the
 * experiments, apply the verdict. All are attached to target cgroups, so they
 * only ever run for sockets of a target cgroup or its descendants.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "faultline/abi.h"
#include "lib/decide.h"
#include "lib/rewrite.h"

/* cgroup_skb return codes (include/linux/bpf-cgroup.h, commit e7a3160d092a):
 * egress 2 = drop with congestion notification: UDP sendto() still succeeds
 * and TCP sees a local drop and retransmits, never an error. */
#define FL_SKB_PASS 1
#define FL_SKB_DROP_EGRESS 2
#define FL_SKB_DROP_INGRESS 0

static __always_inline __u8 fl_proto_bit(__u8 l4)
{
	switch (l4) {
	case IPPROTO_TCP:
		return FL_PROTO_TCP;
	case IPPROTO_UDP:
		return FL_PROTO_UDP;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return FL_PROTO_ICMP;
	default:
		return FL_PROTO_OTHER;
	}
}

/* A header of `len` bytes at `off`: a pointer into the packet when it is in
 * the linear part of the skb (direct packet access, read-only in
 * cgroup_skb, nothing copied), otherwise into `copy`, filled by
 * bpf_skb_load_bytes() (~25 ns a call, measured in tools/bench); NULL if
 * the packet is shorter. */
static __always_inline const void *fl_skb_header(struct __sk_buff *skb, __u32 off, void *copy,
						 __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (data + off + len <= data_end)
		return data + off;
	return bpf_skb_load_bytes(skb, off, copy, len) ? NULL : copy;
}

/* Fill ev from the packet (cgroup_skb data starts at the network header).
 * Unparsable packets get proto OTHER and no ports: they can only match
 * experiments without protocol or port filters. */
static __always_inline void fl_skb_parse(struct __sk_buff *skb, struct fl_event *ev,
					 __u8 dir)
{
	__u32 l4off = 0;
	__u8 l4 = 255;

	ev->parsed = 1;
	ev->proto = FL_PROTO_OTHER;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr copy;
		const struct iphdr *iph = fl_skb_header(skb, 0, &copy, sizeof(copy));

		if (!iph)
			return;
		ev->family = FL_FAMILY_V4;
		ev->raddr[0] = dir == FL_DIR_EGRESS ? iph->daddr : iph->saddr;
		l4 = iph->protocol;
		l4off = iph->ihl * 4;
		/* Only the first fragment carries the ports. */
		if (iph->frag_off & bpf_htons(FL_IP_OFFSET))
			l4off = 0;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr copy;
		const struct ipv6hdr *ip6h = fl_skb_header(skb, 0, &copy, sizeof(copy));
		const struct in6_addr *a;

		if (!ip6h)
			return;
		ev->family = FL_FAMILY_V6;
		a = dir == FL_DIR_EGRESS ? &ip6h->daddr : &ip6h->saddr;
		__builtin_memcpy(ev->raddr, a, sizeof(ev->raddr));
		/* Extension headers are not walked: such packets count as
		 * OTHER. */
		l4 = ip6h->nexthdr;
		l4off = sizeof(*ip6h);
	} else {
		return;
	}
	ev->proto = fl_proto_bit(l4);
	if ((ev->proto == FL_PROTO_TCP || ev->proto == FL_PROTO_UDP) && l4off) {
		__u16 copy[2];
		/* & 0x3f bounds the offset for the verifier: IPv4 options end
		 * by byte 60, the IPv6 header at 40. */
		const __u16 *ports = fl_skb_header(skb, l4off & 0x3f, copy, sizeof(copy));

		if (ports) {
			__u16 sport = bpf_ntohs(ports[0]), dport = bpf_ntohs(ports[1]);

			ev->has_ports = 1;
			ev->l4off = (__u8)(l4off & 0x3f);
			ev->lport = dir == FL_DIR_EGRESS ? sport : dport;
			ev->rport = dir == FL_DIR_EGRESS ? dport : sport;
		}
	}
}

/* The socket cookie, read once and only when something needs it (per-flow
 * sampling, the per-flow departure order of delays): 8 ns a read. */
static __always_inline void fl_need_cookie(void *ctx, struct fl_event *ev)
{
	if (!ev->cookie) {
		ev->flow_key = bpf_get_socket_cookie(ctx);
		ev->cookie = 1;
	}
}

/* The device a packet leaves by, as the kernel names it across network
 * namespaces: its namespace's inode number and its ifindex. cgroup_skb sees
 * only ifindex; the namespace is read from the kernel's sk_buff (the
 * program's context is one: ctx accesses are rewritten to it) through
 * skb->dev->nd_net, with CO-RE offsets. Only for events some delay
 * experiment may hold (FL_IDX_HOLD): verified once, called at most once per
 * packet. */
struct ns_common___fl {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net___fl {
	struct ns_common___fl ns;
} __attribute__((preserve_access_index));

struct net_device___fl {
	struct {
		struct net___fl *net;
	} nd_net;
} __attribute__((preserve_access_index));

struct sk_buff___fl {
	struct net_device___fl *dev;
} __attribute__((preserve_access_index));

__noinline int fl_skb_where(struct __sk_buff *skb, struct fl_event *ev)
{
	struct sk_buff___fl *kskb = (struct sk_buff___fl *)skb;
	struct fl_dev_key k = {};

	if (!ev)
		return 0;
	k.ifindex = skb->ifindex;
	k.netns = BPF_CORE_READ(kskb, dev, nd_net.net, ns.inum);
	ev->out = k;
	ev->held = bpf_map_lookup_elem(&fl_held, &k) ? FL_HELD_YES : FL_HELD_NO;
	return 0;
}

/* Targeted depths after the first hit (nested targets): verified once as a
 * global function, so the fast path stays small. */
__noinline int fl_skb_decide_rest(struct __sk_buff *skb, __u32 hook, __u32 levels,
				  struct fl_event *ev, struct fl_verdict *v)
{
	int l;

	if (!ev || !v)
		return 0;
	for (l = 0; l < FL_MAX_LEVELS; l++) {
		const struct fl_index_entry *ie;
		__u64 cg;

		if (!(levels >> l) || v->drop)
			break;
		if (!(levels & (1u << l)))
			continue;
		cg = bpf_skb_ancestor_cgroup_id(skb, l);
		if (!cg)
			break;
		ie = fl_target(cg, hook);
		if (!ie)
			continue;
		if ((ie->v.flags & FL_IDX_HEADERS) && !ev->parsed)
			fl_skb_parse(skb, ev, ev->dir);
		if ((ie->v.flags & FL_IDX_DNS) && !ev->dns)
			fl_dns_parse(skb, ev);
		if (ie->v.flags & FL_IDX_COOKIE)
			fl_need_cookie(skb, ev);
		if ((ie->v.flags & FL_IDX_HOLD) && !ev->held)
			fl_skb_where(skb, ev);
		fl_eval_from(ie, 0, cg, ev, v);
	}
	return 0;
}

/* Run every targeted ancestor's experiments for this packet: find the first
 * (shallowest) target with experiments at this hook, parse the packet,
 * evaluate, then any deeper targets. */
static __always_inline void fl_skb_decide(struct __sk_buff *skb, __u32 hook, __u8 dir,
					  struct fl_event *ev, struct fl_verdict *v)
{
	const struct fl_index_entry *ie = NULL;
	__u32 levels = fl_levels, deeper = 0;
	__u64 cg = 0;
	int l;

	for (l = 0; l < FL_MAX_LEVELS; l++) {
		if (!(levels >> l))
			return; /* no targeted depth left */
		if (!(levels & (1u << l)))
			continue;
		cg = bpf_skb_ancestor_cgroup_id(skb, l);
		if (!cg)
			return; /* the socket's cgroup is shallower than l */
		ie = fl_target(cg, hook);
		if (ie) {
			deeper = levels & ~((2u << l) - 1);
			break;
		}
	}
	/* Nothing below reads l: the verifier then checks this part once,
	 * not once per depth the loop can leave at. */
	if (!ie)
		return;
	/* Deadlines only need jiffy resolution: bpf_jiffies64() is inlined
	 * by the verifier (bench: 1 ns, the coarse clock 18, the fine one
	 * 37). The loader converts deadlines to jiffies (bpf.cpp). */
	ev->now = bpf_jiffies64();
	ev->dir = dir;
	/* Headers only for experiments that filter on them (bench: parsing
	 * in place costs ~3 ns); otherwise the event matches any protocol. */
	ev->proto = FL_PROTO_ANY;
	if (ie->v.flags & FL_IDX_HEADERS)
		fl_skb_parse(skb, ev, dir);
	if (ie->v.flags & FL_IDX_DNS)
		fl_dns_parse(skb, ev);
	if (ie->v.flags & FL_IDX_COOKIE)
		fl_need_cookie(skb, ev);
	if (ie->v.flags & FL_IDX_HOLD)
		fl_skb_where(skb, ev);
	fl_eval_entry(ie, cg, ev, v);
	if (deeper && !v->drop)
		fl_skb_decide_rest(skb, hook, deeper, ev, v);
}

/* Earliest departure time, honoured by sch_fq. TCP has already set
 * skb->tstamp (its own pacing); never move a packet earlier. Only for
 * packets a delay experiment matched: a global function, verified once. */
__noinline int fl_skb_hold(struct __sk_buff *skb, struct fl_event *ev, __u64 delay_ns)
{
	__u64 now, t, key, *last;

	if (!ev)
		return 0;
	now = bpf_ktime_get_ns(); /* fine clock: this is a departure time */
	t = skb->tstamp > now ? skb->tstamp : now;
	t += delay_ns;
	fl_need_cookie(skb, ev);
	/* A stack copy: kernels before 6.3 take no PTR_TO_MEM (ev, an
	 * argument of a global function) as a map key. */
	key = ev->flow_key;
	last = bpf_map_lookup_elem(&fl_flow_edt, &key);
	if (last && *last > t)
		t = *last;
	if (delay_ns || last) {
		if (t != skb->tstamp)
			skb->tstamp = t;
		bpf_map_update_elem(&fl_flow_edt, &key, &t, BPF_ANY);
	}
	return 0;
}

SEC("cgroup_skb/egress")
int fl_skb_egress(struct __sk_buff *skb)
{
	struct fl_verdict v = {};
	struct fl_event ev = {};

	fl_skb_decide(skb, FL_HOOK_EGRESS, FL_DIR_EGRESS, &ev, &v);
	if (!v.drop && v.hold)
		fl_skb_hold(skb, &ev, v.delay_ns);
	if (!v.drop && v.rewrite)
		fl_dns_remember(skb, &ev, v.rslot, v.rewrite);
	fl_dns_release(&ev);
	return v.drop ? FL_SKB_DROP_EGRESS : FL_SKB_PASS;
}

SEC("cgroup_skb/ingress")
int fl_skb_ingress(struct __sk_buff *skb)
{
	struct fl_verdict v = {};
	struct fl_event ev = {};

	fl_skb_decide(skb, FL_HOOK_INGRESS, FL_DIR_INGRESS, &ev, &v);
	fl_dns_release(&ev);
	return v.drop ? FL_SKB_DROP_INGRESS : FL_SKB_PASS;
}

static __always_inline int fl_connect(struct bpf_sock_addr *ctx, struct fl_event *ev)
{
	struct fl_verdict v = {};
	__u32 levels = fl_levels;
	int l;

	/* A program before this one (another session's, or anyone's) has
	 * failed the call already: it fails anyway, so this one neither
	 * matches nor injects it (two sessions on one target would both
	 * count a failure the application sees once). */
	if (bpf_get_retval() < 0)
		return 1;
	ev->now = bpf_jiffies64();
	ev->rport = bpf_ntohs((__u16)ctx->user_port);
	ev->has_ports = 1;
	ev->proto = fl_proto_bit((__u8)ctx->protocol);

	/* The connecting task's cgroup: sock_addr hooks run in its context.
	 * connect() is rare next to packets: one global function for all
	 * experiments, the cookie read up front. */
	ev->flow_key = bpf_get_socket_cookie(ctx);
	ev->cookie = 1;
	for (l = 0; l < FL_MAX_LEVELS; l++) {
		const struct fl_index_entry *ie;
		__u64 cg;

		if (!(levels >> l))
			break;
		if (!(levels & (1u << l)))
			continue;
		cg = bpf_get_current_ancestor_cgroup_id(l);
		if (!cg)
			break;
		ie = fl_target(cg, FL_HOOK_CONNECT);
		if (!ie)
			continue;
		fl_eval_from(ie, 0, cg, ev, &v);
		if (v.err)
			break;
	}
	if (!v.err)
		return 1;
	/* bpf_set_retval (5.18, commit b44123b4a3dc) picks the errno;
	 * returning 0 alone would always give EPERM. Newer verifiers (7.x)
	 * check that it is an errno, in [-4095, 0], on the whole 64-bit
	 * register; the helper is declared with an int, which the compiler
	 * passes zero-extended: bounded here and passed as a 64-bit value. */
	{
		__s64 ret = -(__s64)v.err;

		/* opaque: the compiler would test v.err instead, and the
		 * verifier would not see the bound on ret */
		asm volatile("" : "+r"(ret));
		if (ret < -4095 || ret > -1)
			ret = -1; /* EPERM */
		((long (*)(__s64))bpf_set_retval)(ret);
	}
	return 0;
}

SEC("cgroup/connect4")
int fl_connect4(struct bpf_sock_addr *ctx)
{
	struct fl_event ev = {};

	ev.family = FL_FAMILY_V4;
	ev.raddr[0] = ctx->user_ip4;
	return fl_connect(ctx, &ev);
}

SEC("cgroup/connect6")
int fl_connect6(struct bpf_sock_addr *ctx)
{
	struct fl_event ev = {};

	ev.family = FL_FAMILY_V6;
	ev.raddr[0] = ctx->user_ip6[0];
	ev.raddr[1] = ctx->user_ip6[1];
	ev.raddr[2] = ctx->user_ip6[2];
	ev.raddr[3] = ctx->user_ip6[3];
	return fl_connect(ctx, &ev);
}

/* disk.delay: the calling thread waits on its CPU until the deadline (BPF
 * cannot sleep in these hooks): bpf_loop ends at the deadline or after
 * 2^23 iterations, whichever comes first; the loader caps the delay at
 * FL_DISK_MAX_DELAY_NS. */
struct fl_wait {
	__u64 until;
};

static long fl_wait_step(__u32 i, void *ctx)
{
	struct fl_wait *w = ctx;

	return bpf_ktime_get_ns() >= w->until;
}

/* The hooks below run in the calling task's context: its cgroup (and
 * every targeted ancestor) picks the experiments. They run for every task
 * of the machine, so the path of a task that is no target is kept to the
 * cgroup lookups (fl_task_err); the event is built, and the struct file
 * read (as a plain value, for file.h's walk), only for a target
 * (fl_task_eval_g, verified once). Both return the errno to fail the call
 * with, 0 to let it be. */
__noinline int fl_task_eval_g(__u32 hook, __u32 first, __u32 op, __u64 pages, __u64 file)
{
	struct fl_event ev = {};
	struct fl_verdict v = {};
	__u32 levels = fl_levels;
	int l;

	ev.now = bpf_jiffies64();
	ev.proto = FL_PROTO_ANY;
	ev.op = op;
	ev.pages = pages;
	ev.file = file;
	for (l = 0; l < FL_MAX_LEVELS; l++) {
		const struct fl_index_entry *ie;
		__u64 cg;

		if (!(levels >> l))
			break;
		if (l < (int)first || !(levels & (1u << l)))
			continue;
		cg = bpf_get_current_ancestor_cgroup_id(l);
		if (!cg)
			break;
		ie = fl_target(cg, hook);
		if (!ie)
			continue;
		fl_eval_from(ie, 0, cg, &ev, &v);
		if (v.err)
			break;
	}
	if (!v.err && v.delay_ns) {
		struct fl_wait w = {.until = bpf_ktime_get_ns() + v.delay_ns};

		bpf_loop(1 << 23, fl_wait_step, &w, 0);
	}
	return v.err;
}

/* ctx[argi]: the struct file of a file hook (argi < 0: none; FL_ARG_REGS_FD:
 * ctx[0] is the pt_regs of a system call whose first argument is an fd). */
#define FL_ARG_REGS_FD (-2)

static __always_inline int fl_task_err(__u32 hook, __u32 op, __u64 pages,
				       unsigned long long *ctx, int argi)
{
	__u32 levels = fl_levels;
	int l;

	for (l = 0; l < FL_MAX_LEVELS; l++) {
		__u64 cg, file = 0;

		if (!(levels >> l))
			break;
		if (!(levels & (1u << l)))
			continue;
		cg = bpf_get_current_ancestor_cgroup_id(l);
		if (!cg)
			break;
		if (!fl_target(cg, hook))
			continue;
		if (argi >= 0 || argi == FL_ARG_REGS_FD)
			bpf_probe_read_kernel(&file, sizeof(file), &ctx[argi >= 0 ? argi : 0]);
		if (argi == FL_ARG_REGS_FD)
			file = fl_fd_file(file);
		return fl_task_eval_g(hook, l, op, pages, file);
	}
	return 0;
}

/* mem.enomem: security_vm_enough_memory_mm() is where the kernel accounts
 * the growth of a private writable address space (mmap, brk, mremap, and the
 * mappings copied by fork or made writable by mprotect): failing it fails
 * the call with ENOMEM, as a full machine would under strict overcommit.
 * fmod_ret (not the BPF LSM hook, whose result only drops the admin reserve). */
struct mm_struct;

SEC("fmod_ret/security_vm_enough_memory_mm")
int BPF_PROG(fl_vm_enough, struct mm_struct *mm, long pages, int ret)
{
	if (ret)
		return ret; /* refused already */
	return -fl_task_err(FL_HOOK_MEM, 0, pages > 0 ? (__u64)pages : 0, ctx, -1);
}

/* mem.slab: should_failslab() is the kernel's own fault-injection point of
 * every slab allocation (kmalloc, kmem_cache_alloc); -ENOMEM there makes the
 * allocation return NULL, and the system call that needed it fail (ENOMEM,
 * mostly). fmod_ret on it needs it in the error-injection list
 * (CONFIG_FUNCTION_ERROR_INJECTION, not in Debian's kernels). Only
 * allocations that may sleep (__GFP_DIRECT_RECLAIM: process context, so the
 * current task's cgroup is the one that asked) and may fail (no
 * __GFP_NOFAIL). */
struct kmem_cache;

#define FL_GFP_DIRECT_RECLAIM 0x400u
#define FL_GFP_NOFAIL 0x8000u

SEC("fmod_ret/should_failslab")
int BPF_PROG(fl_failslab, struct kmem_cache *cache, unsigned int gfp, int ret)
{
	if (ret || !(gfp & FL_GFP_DIRECT_RECLAIM) || (gfp & FL_GFP_NOFAIL))
		return ret;
	return -fl_task_err(FL_HOOK_SLAB, 0, 0, ctx, 0); /* ev.file: the cache */
}

/* disk.*: security_file_open() runs for every open of a file (open, openat,
 * exec, the dynamic loader's libraries) once the file exists (O_CREAT has
 * created it); security_file_permission() for every read and write through
 * rw_verify_area (read, pread, readv, write, pwrite, writev, splice,
 * sendfile, copy_file_range) and for fallocate. Not covered: I/O through a
 * shared mapping, fsync, truncate. An error returned here fails the system
 * call before any byte moves. */
struct file;

#define FL_MAY_WRITE 0x2
#define FL_MAY_READ 0x4

SEC("fmod_ret/security_file_open")
int BPF_PROG(fl_file_open, struct file *file, int ret)
{
	if (ret)
		return ret;
	return -fl_task_err(FL_HOOK_FILE, FL_OP_OPEN, 0, ctx, 0);
}

SEC("fmod_ret/security_file_permission")
int BPF_PROG(fl_file_perm, struct file *file, int mask, int ret)
{
	__u32 op = mask & FL_MAY_WRITE ? FL_OP_WRITE : mask & FL_MAY_READ ? FL_OP_READ : 0;

	if (ret || !op)
		return ret;
	return -fl_task_err(FL_HOOK_FILE, op, 0, ctx, 0);
}

/* op=fsync: no security hook runs for fsync(2) and fdatasync(2). Where the
 * kernel takes error injection into system calls
 * (CONFIG_FUNCTION_ERROR_INJECTION: SYSCALL_DEFINE marks each one), fmod_ret
 * on the system calls themselves (x86-64 names): the error is returned
 * before anything is flushed. ctx[1] is the return value so far; the
 * programs return long, as the system calls do. */
static __always_inline long fl_sync_err(unsigned long long *ctx)
{
	long ret = (long)ctx[1];

	if (ret)
		return ret;
	return -(long)fl_task_err(FL_HOOK_FILE, FL_OP_FSYNC, 0, ctx, FL_ARG_REGS_FD);
}

SEC("fmod_ret/__x64_sys_fsync")
long fl_fsync(unsigned long long *ctx)
{
	return fl_sync_err(ctx);
}

SEC("fmod_ret/__x64_sys_fdatasync")
long fl_fdatasync(unsigned long long *ctx)
{
	return fl_sync_err(ctx);
}

/* disk.bio: should_fail_bio() is the block layer's fault-injection point,
 * called as each bio is submitted (submit_bio_noacct); failing it ends the
 * bio with BLK_STS_IOERR, which the reader or writer sees as EIO. The bio
 * is attributed by its blkcg, the cgroup the io controller charges it to
 * (the issuer's for reads and direct I/O; for buffered writes the cgroup
 * that dirtied the pages, at writeback), not by the task that happens to
 * submit it. Needs should_fail_bio in the error-injection list. */
struct kernfs_node___fl {
	__u64 id;
} __attribute__((preserve_access_index));

struct cgroup___fl;

struct cgroup_subsys_state___fl {
	struct cgroup___fl *cgroup;
	struct cgroup_subsys_state___fl *parent;
} __attribute__((preserve_access_index));

struct cgroup___fl {
	struct cgroup_subsys_state___fl self;
	int level;
	struct kernfs_node___fl *kn;
} __attribute__((preserve_access_index));

struct blkcg___fl {
	struct cgroup_subsys_state___fl css;
} __attribute__((preserve_access_index));

struct blkcg_gq___fl {
	struct blkcg___fl *blkcg;
} __attribute__((preserve_access_index));

struct block_device___fl {
	unsigned int bd_dev; /* dev_t */
} __attribute__((preserve_access_index));

struct bio___fl {
	unsigned int bi_opf;
	struct block_device___fl *bi_bdev; /* 5.12+ */
	struct blkcg_gq___fl *bi_blkg;
} __attribute__((preserve_access_index));

/* Request flags whose bios are never failed: file-system metadata and
 * priority reads (an error there makes ext4 remount read-only for everyone),
 * cache flushes and forced-unit-access writes (journal commits), and
 * readahead (its failure is silent: the kernel reads again when the data is
 * needed, so nothing would be injected but a count). Their bit
 * positions move between kernels: read from the kernel's BTF (CO-RE enum
 * value relocations), names as in include/linux/blk_types.h. */
enum req_flag_bits___fl {
	__REQ_META = 1,
	__REQ_PRIO = 2,
	__REQ_FUA = 3,
	__REQ_PREFLUSH = 4,
	__REQ_RAHEAD = 5,
};

#define FL_REQ_OP_MASK 0xffu
#define FL_REQ_OP_READ 0u
#define FL_REQ_OP_WRITE 1u

struct bio;

SEC("fmod_ret/should_fail_bio")
int BPF_PROG(fl_fail_bio, struct bio *bio_arg, int ret)
{
	struct bio___fl *bio = (struct bio___fl *)bio_arg;
	struct fl_event ev = {};
	struct fl_verdict v = {};
	struct cgroup___fl *c;
	__u32 levels = fl_levels, op, opf, skip = 0;
	int i;

	if (ret || !levels)
		return ret;
	opf = BPF_CORE_READ(bio, bi_opf);
	if (bpf_core_enum_value_exists(enum req_flag_bits___fl, __REQ_META))
		skip |= 1u << bpf_core_enum_value(enum req_flag_bits___fl, __REQ_META);
	if (bpf_core_enum_value_exists(enum req_flag_bits___fl, __REQ_PRIO))
		skip |= 1u << bpf_core_enum_value(enum req_flag_bits___fl, __REQ_PRIO);
	if (bpf_core_enum_value_exists(enum req_flag_bits___fl, __REQ_FUA))
		skip |= 1u << bpf_core_enum_value(enum req_flag_bits___fl, __REQ_FUA);
	if (bpf_core_enum_value_exists(enum req_flag_bits___fl, __REQ_PREFLUSH))
		skip |= 1u << bpf_core_enum_value(enum req_flag_bits___fl, __REQ_PREFLUSH);
	if (bpf_core_enum_value_exists(enum req_flag_bits___fl, __REQ_RAHEAD))
		skip |= 1u << bpf_core_enum_value(enum req_flag_bits___fl, __REQ_RAHEAD);
	if (opf & skip)
		return 0;
	/* Without bi_bdev (before 5.12) no bio names its device: none matches. */
	if (!bpf_core_field_exists(bio->bi_bdev))
		return 0;
	ev.dev = BPF_CORE_READ(bio, bi_bdev, bd_dev);
	op = opf & FL_REQ_OP_MASK;
	if (op == FL_REQ_OP_READ)
		ev.op = FL_OP_READ;
	else if (op == FL_REQ_OP_WRITE)
		ev.op = FL_OP_WRITE;
	else
		return 0; /* flush, discard, zone commands ... */
	c = BPF_CORE_READ(bio, bi_blkg, blkcg, css.cgroup);
	ev.now = bpf_jiffies64();
	ev.proto = FL_PROTO_ANY;
	/* from the bio's cgroup up: each targeted depth's cgroup */
	for (i = 0; i < FL_MAX_LEVELS && c; i++) {
		const struct fl_index_entry *ie;
		int level = BPF_CORE_READ(c, level);

		if (level >= 0 && level < FL_MAX_LEVELS && (levels & (1u << level))) {
			__u64 cg = BPF_CORE_READ(c, kn, id);

			ie = fl_target(cg, FL_HOOK_BIO);
			if (ie) {
				fl_eval_from(ie, 0, cg, &ev, &v);
				if (v.err)
					break;
			}
		}
		c = BPF_CORE_READ(c, self.parent, cgroup);
	}
	return v.err ? -v.err : 0;
}

/* Answers to rewrite (rewrite.h). Attached to the devices of the target's
 * network namespace while a dns.nxdomain/servfail/refused experiment runs
 * (tcx on 6.6+, clsact before). Returns "next"/unspecified: never ends the
 * device's other programs or filters. Costs one inlined jiffies read and a
 * compare while no rewrite is pending. */
#define FL_TC_NEXT -1

SEC("tc")
int fl_tc_ingress(struct __sk_buff *skb)
{
	if (bpf_jiffies64() < fl_rcode_until)
		fl_dns_rewrite(skb);
	return FL_TC_NEXT;
}

/* Both kernel clocks at one instant, for the loader's deadline conversion.
 * Never attached: run through BPF_PROG_TEST_RUN. */
SEC("cgroup_skb/egress")
int fl_clock(struct __sk_buff *skb)
{
	fl_clock_now.ns_before = bpf_ktime_get_ns();
	fl_clock_now.jiffies = bpf_jiffies64();
	fl_clock_now.ns_after = bpf_ktime_get_ns();
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
