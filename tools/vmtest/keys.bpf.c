// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test-harness only, never part of faultline: programs that do nothing,
 * attached by the VM's init to a cgroup no test uses, for the whole run.
 *
 * Why: attaching the first cgroup_skb or connect program flips a static key
 * (cgroup_bpf_enabled_key), which patches live kernel code (text_poke_bp);
 * detaching the last flips it back. QEMU's multi-threaded TCG mis-emulates
 * that patching when the other vCPU runs the patched site at that moment
 * (the int3 placed during the patch is still executed after the patch is
 * done): "Oops: int3" in ip_finish_output or sk_filter_trim_cap on 6.12, a
 * soft lockup of both vCPUs on 6.1. With these programs attached, the keys
 * stay on and the tests' attaches only count them up and down.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("cgroup_skb/ingress")
int keep_ingress(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/egress")
int keep_egress(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup/connect4")
int keep_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/connect6")
int keep_connect6(struct bpf_sock_addr *ctx)
{
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
