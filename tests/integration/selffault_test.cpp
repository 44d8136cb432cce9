// SPDX-License-Identifier: Apache-2.0
// Faults injected into faultline itself (issue 12): its own system calls
// fail the way a full disk, a kernel short of memory, a process limit or a
// locked-down kernel makes them fail (fl_seccomp: a seccomp filter that
// returns the errno). Each time faultline must end on its own, promptly,
// with an exit code and a message that say what happened (never "your
// kernel lacks this feature" for a transient shortage), and leave nothing
// behind (the fixture's snapshot: cgroups, records, BPF programs and
// links, qdiscs, sentinels).
//
// Found by these cases: a sentinel that could not report it had started
// and a loader that waited for it waited for each other forever (`inject`
// hung, SIGTERM blocked); every bpf() ENOMEM was reported as the fault
// being unavailable on the kernel (exit 3); an EPERM from a locked-down
// kernel came with the advice "needs Linux 5.12 or newer".
#include <gtest/gtest.h>

#include <cerrno>

#include "../support/require.hpp"
#include "../support/target_sibling.hpp"

using namespace faultline;
using namespace faultline::test;
using namespace std::chrono_literals;

namespace {

const std::string seccomp_tool = env_or("FL_SECCOMP_BIN", FL_SECCOMP_BIN);

class SelfFault : public TargetAndSibling {
  protected:
    // The session each case starts (and the next one that must run) is a
    // net.drop: on a kernel without it every case would end in exit 3.
    void SetUp() override {
        TargetAndSibling::SetUp();
        if (!IsSkipped())
            REQUIRE_FAULT("net.drop");
    }
    struct Outcome {
        int status;
        std::string out;
        std::chrono::milliseconds took;
    };
    // `faultline inject` of a drop on the target for 1 s, its CALLS failing
    // with ERR (where `cond`, "ARG ge|eq VALUE", holds). 20 s is the bound
    // of a loader that must end by itself: a hang is killed at 20 s and
    // shows as status 137.
    Outcome inject_with(const std::string& calls, int err, const std::string& cond = "") {
        std::vector<std::string> argv{seccomp_tool, calls, std::to_string(err)};
        std::istringstream c(cond);
        for (std::string w; c >> w;)
            argv.push_back(w);
        for (const std::string& a :
             {std::string("--"), fl, std::string("inject"), std::string("--cgroup"), target_->path(),
              std::string("--fault"), std::string("net.drop@10%"), std::string("--for"), std::string("1s")})
            argv.push_back(a);
        auto start = std::chrono::steady_clock::now();
        Proc p(argv, "", true);
        int st = p.wait(20s);
        return {st, p.out(),
                std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)};
    }
    // The same command without a filter runs: the failure left nothing
    // half-applied that would refuse or disturb the next session.
    void next_session_runs() {
        Proc p({fl, "inject", "--cgroup", target_->path(), "--fault", "net.drop@10%", "--for", "1s", "--quiet"}, "",
               true);
        EXPECT_EQ(p.wait(20s), 0) << "the session after the failure: " << p.out();
    }
};

TEST_F(SelfFault, WritesFailingWithEnospcEndTheLoaderWithAReason) {
    // Every write(2) to a file (descriptor >= 3: not the terminal) fails,
    // as on a full disk: the first is the sentinel's "started" byte.
    auto o = inject_with("write", ENOSPC, "0 ge 3");
    EXPECT_EQ(o.status, 1) << "exit 137 is a hang killed at 20 s: " << o.out;
    EXPECT_NE(o.out.find("No space left on device"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("error: the sentinel did not start"), std::string::npos) << o.out;
    next_session_runs();
}

TEST_F(SelfFault, AKernelShortOfMemoryIsNotReportedAsAMissingFeature) {
    auto o = inject_with("bpf", ENOMEM);
    EXPECT_EQ(o.status, 1) << "exit 3 tells the user the kernel lacks the feature: " << o.out;
    EXPECT_NE(o.out.find("could not load"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("Cannot allocate memory"), std::string::npos) << o.out;
    EXPECT_EQ(o.out.find("not available"), std::string::npos) << o.out;
    next_session_runs();
}

TEST_F(SelfFault, AKernelThatRefusesRootIsNotCalledAnOldKernel) {
    // EPERM from bpf() as root: lockdown, an LSM, a sandbox, or a kernel
    // that refuses the program type (this sandbox's, for fmod_ret). The
    // fault is unavailable here (exit 3), with that reason and no advice to
    // upgrade the kernel.
    auto o = inject_with("bpf", EPERM);
    EXPECT_EQ(o.status, 3) << o.out;
    EXPECT_NE(o.out.find("Operation not permitted"), std::string::npos) << o.out;
    EXPECT_EQ(o.out.find("or newer"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("lockdown"), std::string::npos) << o.out;
    next_session_runs();
}

TEST_F(SelfFault, AProcessLimitEndsTheLoaderBeforeItChangesAnything) {
    // fork() fails as at RLIMIT_NPROC or a full pids controller: no
    // sentinel, so no session may start.
    auto o = inject_with("clone,clone3", EAGAIN);
    EXPECT_EQ(o.status, 1) << o.out;
    EXPECT_NE(o.out.find("start the sentinel"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("Resource temporarily unavailable"), std::string::npos) << o.out;
    next_session_runs();
}

TEST_F(SelfFault, AStateDirectoryThatCannotBeMadeEndsTheLoaderWithItsName) {
    auto o = inject_with("mkdir,mkdirat", ENOSPC);
    EXPECT_EQ(o.status, 1) << o.out;
    EXPECT_NE(o.out.find("No space left on device"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("/run/faultline"), std::string::npos) << o.out;
    next_session_runs();
}

} // namespace
