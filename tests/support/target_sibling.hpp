// SPDX-License-Identifier: Apache-2.0
// A target cgroup and a sibling cgroup, and a faultline session on the
// target: the fixture of the task-context faults (mem.*, disk.*), whose
// tests run real programs in both cgroups.
#pragma once

#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "faultline/cgroup.hpp"
#include "integration.hpp"
#include "lab.hpp"

namespace faultline::test {

using namespace std::chrono_literals;

// "key value key value ..." from one line of a load tool's output.
inline std::map<std::string, long> fields(const std::string& line) {
    std::map<std::string, long> m;
    std::istringstream in(line);
    std::string k;
    long v;
    while (in >> k >> v)
        m[k] = v;
    return m;
}

class TargetAndSibling : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0)
            GTEST_SKIP() << "needs root (cgroups, BPF)";
        before_ = faultline_objects();
        const std::string t = std::to_string(getpid());
        root_ = cgroup2_mount();
        target_ = std::make_unique<ScratchCgroup>(root_, "faultline-it-target-" + t);
        sibling_ = std::make_unique<ScratchCgroup>(root_, "faultline-it-sibling-" + t);
        stats_ = "/tmp/faultline-it-task-stats-" + t + ".json";
    }
    void TearDown() override {
        target_.reset();
        sibling_.reset();
        std::remove(stats_.c_str());
        if (geteuid() == 0)
            EXPECT_EQ(new_leftovers(before_), "") << "left behind";
    }

    // `faultline inject` on the target, up and running.
    std::unique_ptr<Proc> inject(const std::string& fault, const std::vector<std::string>& extra = {}) {
        std::vector<std::string> argv{fl,    "inject",  "--cgroup",     target_->path(), "--fault",
                                      fault, "--quiet", "--stats-json", stats_};
        argv.insert(argv.end(), extra.begin(), extra.end());
        auto p = std::make_unique<Proc>(argv, "", true);
        EXPECT_TRUE(p->wait_for("session", 10s)) << p->out();
        return p;
    }
    // Ends it (SIGINT); its one experiment's counters.
    nlohmann::json stop(std::unique_ptr<Proc>& p) {
        kill(p->pid(), SIGINT);
        EXPECT_EQ(p->wait(10s), 0) << p->out();
        return read_json(stats_)["experiments"][0];
    }
    // A program run to completion in a cgroup; the fields of its output.
    std::map<std::string, long> run(const std::string& cgroup, const std::vector<std::string>& argv) {
        Proc p(argv, cgroup, true);
        EXPECT_EQ(p.wait(120s), 0) << p.out();
        return fields(p.out());
    }

    std::string root_, stats_;
    std::set<std::string> before_;
    std::unique_ptr<ScratchCgroup> target_, sibling_;
};

} // namespace faultline::test
