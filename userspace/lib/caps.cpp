// SPDX-License-Identifier: Apache-2.0
#include "faultline/caps.hpp"

#include <cerrno>
#include <cstdio>
#include <fmt/format.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "faultline/error.hpp"

namespace faultline {

namespace {

// CAP_SYS_ADMIN also stands for CAP_BPF and CAP_PERFMON (bpf_capable(),
// perfmon_capable()) and is needed on its own to create the scratch
// network namespaces of the probes and to enter a --netns. Measured on
// 6.18 as root, dropping one capability at a time from the bounding set:
// without CAP_SYS_ADMIN the probes fail and a fault is reported as missing
// from the kernel; without CAP_DAC_OVERRIDE `exec` cannot create its
// cgroup (the cgroup2 root is not writable by its owner).
constexpr Capability sys_admin{CAP_SYS_ADMIN, "CAP_SYS_ADMIN",
                               "load and attach BPF programs (it covers CAP_BPF and CAP_PERFMON), create the "
                               "probes' network namespaces, enter --netns"};
constexpr Capability net_admin{CAP_NET_ADMIN, "CAP_NET_ADMIN",
                               "add and remove the fq and clsact qdiscs of delays and DNS rewrites"};
constexpr Capability dac_override{CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE",
                                  "create cgroups under the cgroup2 root and move processes into them"};
constexpr Capability sys_resource{CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE",
                                  "raise RLIMIT_MEMLOCK for BPF maps (kernels before 5.11 charge them to it)"};
constexpr Capability setuid_cap{CAP_SETUID, "CAP_SETUID", "run the commands it starts as their user"};
constexpr Capability setgid_cap{CAP_SETGID, "CAP_SETGID", "run the commands it starts with their user's groups"};
constexpr Capability kill_cap{CAP_KILL, "CAP_KILL", "stop the commands it started, which run as another user"};

constexpr Capability attach_new[] = {sys_admin, net_admin, dac_override};
constexpr Capability attach_old[] = {sys_admin, net_admin, dac_override, sys_resource};
constexpr Capability run_as_other[] = {setuid_cap, setgid_cap, kill_cap};

// Whether BPF maps are charged to RLIMIT_MEMLOCK: before Linux 5.11 (memcg
// accounting). An unparsable release counts as old (asks for more).
bool memlock_charged() {
    utsname u{};
    if (uname(&u) != 0)
        return true;
    int major = 0, minor = 0;
    if (sscanf(u.release, "%d.%d", &major, &minor) != 2)
        return true;
    return major < 5 || (major == 5 && minor < 11);
}

} // namespace

std::span<const Capability> attach_capabilities() {
    static const bool old = memlock_charged();
    if (old)
        return attach_old;
    return attach_new;
}

// status, stop and gc read and remove what attaching made: the same set
// (no BPF map of an older kernel is created, so no memlock).
std::span<const Capability> admin_capabilities() {
    return attach_new;
}

std::span<const Capability> run_as_capabilities() {
    return run_as_other;
}

std::vector<Capability> missing_capabilities(uint64_t effective, std::span<const Capability> needed) {
    std::vector<Capability> out;
    for (const auto& c : needed)
        if (c.number < 0 || c.number > 63 || !(effective & (uint64_t{1} << c.number)))
            out.push_back(c);
    return out;
}

uint64_t effective_capabilities() {
    __user_cap_header_struct hdr{.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (syscall(SYS_capget, &hdr, data) != 0)
        throw_errno("read this process's capabilities (capget)", errno);
    return uint64_t{data[0].effective} | (uint64_t{data[1].effective} << 32);
}

void require_capabilities(std::span<const Capability> needed) {
    auto missing = missing_capabilities(effective_capabilities(), needed);
    if (missing.empty())
        return;
    std::string names, why;
    for (const auto& c : missing) {
        names += (names.empty() ? "" : ", ") + std::string(c.name);
        why += fmt::format("\n  {}: {}", c.name, c.why);
    }
    throw Error(ErrorKind::permission, fmt::format("faultline lacks {}:{}", names, why),
                geteuid() == 0 ? "this root has a reduced capability set (a container's, or a bounding set): run "
                                 "faultline where root has these capabilities"
                               : "run faultline as root (sudo faultline ...), or give it these capabilities");
}

} // namespace faultline
