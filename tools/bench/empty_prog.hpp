// SPDX-License-Identifier: Apache-2.0
// The cheapest cgroup_skb egress program there is (r0 = 1; exit): the floor
// every faultline figure is quoted above, in BPF_PROG_TEST_RUN (what remains
// is the test-run loop) and attached to a cgroup (what remains is the
// kernel's cgroup-BPF hook itself).
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <linux/bpf.h>
#include <string>
#include <unistd.h>

#include "faultline/error.hpp"

namespace faultline::bench {

// tc: the same program as a tc (sched_cls) one, the floor of the tc cases.
inline int load_empty_program(bool tc = false) {
    bpf_insn insns[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 1},
        {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
    };
    LIBBPF_OPTS(bpf_prog_load_opts, opts,
                .expected_attach_type = tc ? BPF_CGROUP_INET_INGRESS : BPF_CGROUP_INET_EGRESS);
    if (tc)
        opts.expected_attach_type = static_cast<bpf_attach_type>(0);
    int fd =
        bpf_prog_load(tc ? BPF_PROG_TYPE_SCHED_CLS : BPF_PROG_TYPE_CGROUP_SKB, "flb_empty", "GPL", insns, 2, &opts);
    if (fd < 0)
        throw_errno("load the empty cgroup_skb program", errno);
    return fd;
}

// An fmod_ret program that returns 0 (the function runs as if nothing were
// attached) on kernel function `func`, attached: the floor of the
// task-context faults (disk.*, mem.*), i.e. what the kernel's BPF
// trampoline itself costs. Returns the link fd (the program is held by it).
inline int attach_empty_fmod_ret(const char* func) {
    int btf_id = libbpf_find_vmlinux_btf_id(func, BPF_MODIFY_RETURN);
    if (btf_id < 0)
        throw_errno(std::string("find ") + func + " in the kernel's BTF", -btf_id);
    bpf_insn insns[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
        {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
    };
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_MODIFY_RETURN,
                .attach_btf_id = static_cast<__u32>(btf_id));
    int prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "flb_empty_ret", "GPL", insns, 2, &opts);
    if (prog < 0)
        throw_errno(std::string("load the empty fmod_ret program on ") + func, errno);
    int link = bpf_link_create(prog, 0, BPF_MODIFY_RETURN, nullptr);
    int err = errno;
    close(prog);
    if (link < 0)
        throw_errno(std::string("attach the empty fmod_ret program to ") + func, err);
    return link;
}

} // namespace faultline::bench
