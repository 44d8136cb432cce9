// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>
#include <linux/capability.h>

#include "faultline/caps.hpp"

using namespace faultline;

namespace {

uint64_t bit(int cap) {
    return uint64_t{1} << cap;
}

std::string names(const std::vector<Capability>& v) {
    std::string s;
    for (const auto& c : v)
        s += std::string(s.empty() ? "" : ",") + c.name;
    return s;
}

} // namespace

TEST(Caps, MissingListsEveryNeededCapabilityNotInTheMaskInOrder) {
    auto need = attach_capabilities();
    ASSERT_GE(need.size(), 3u);
    uint64_t all = 0;
    for (const auto& c : need)
        all |= bit(c.number);
    EXPECT_EQ(names(missing_capabilities(all, need)), "");
    EXPECT_EQ(names(missing_capabilities(~uint64_t{0}, need)), "");
    EXPECT_EQ(missing_capabilities(0, need).size(), need.size());
    EXPECT_EQ(names(missing_capabilities(all & ~bit(CAP_NET_ADMIN), need)), "CAP_NET_ADMIN");
    EXPECT_EQ(names(missing_capabilities(bit(CAP_NET_ADMIN), std::span(need).first(3))),
              "CAP_SYS_ADMIN,CAP_DAC_OVERRIDE");
    // CAP_BPF and CAP_PERFMON alone do not do: the probes need CAP_SYS_ADMIN.
    EXPECT_EQ(names(missing_capabilities(all & ~bit(CAP_SYS_ADMIN), need)), "CAP_SYS_ADMIN");
}

TEST(Caps, CommandsAsAnotherUserNeedToSwitchToItAndStopThem) {
    auto need = run_as_capabilities();
    EXPECT_EQ(names(missing_capabilities(0, need)), "CAP_SETUID,CAP_SETGID,CAP_KILL");
    EXPECT_EQ(names(missing_capabilities(bit(CAP_SETUID) | bit(CAP_SETGID), need)), "CAP_KILL");
}

TEST(Caps, EveryCapabilitySaysWhyItIsNeeded) {
    for (auto set : {attach_capabilities(), admin_capabilities(), run_as_capabilities()})
        for (const auto& c : set) {
            EXPECT_GE(c.number, 0);
            EXPECT_LE(c.number, CAP_LAST_CAP);
            EXPECT_EQ(std::string(c.name).rfind("CAP_", 0), 0u) << c.name;
            EXPECT_GT(std::string(c.why).size(), 10u) << c.name;
        }
}
