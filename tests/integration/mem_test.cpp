// SPDX-License-Identifier: Apache-2.0
// Memory faults end to end, as root: real programs (fl_traffic's raw mmap
// and malloc loops, bash) in a target cgroup and a sibling cgroup.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "../support/stats.hpp"
#include "../support/target_sibling.hpp"

using namespace faultline;
using namespace faultline::test;
using namespace std::chrono_literals;

namespace {

class Mem : public TargetAndSibling {};

} // namespace

TEST_F(Mem, EnomemIsRefusedWithAReasonWhereTheKernelCannot) {
    if (support("mem.enomem").available)
        GTEST_SKIP() << "this kernel can fail allocations: the refusal path does not apply (the mem tests run)";
    auto r = sh(fl + " exec --fault mem.enomem@1% -- true 2>&1");
    EXPECT_EQ(r.status, 3) << r.out;
    EXPECT_NE(r.out.find("mem.enomem is not available"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("fmod_ret"), std::string::npos) << r.out; // what was tried
}

TEST_F(Mem, LargeMappingsFailAtTheRateSmallOnesAndTheSiblingNever) {
    REQUIRE_FAULT("mem.enomem");
    auto inj = inject("mem.enomem@5%,min=1MiB");
    // 10^4 raw mmap(2) calls of 2 MiB: one draw each. The binomial check
    // (stats.hpp, alpha 1e-6) accepts about 415..590 failures at 5 %.
    const long n = 10000;
    auto big = run(target_->path(), {traffic, "mmap", std::to_string(n), std::to_string(2 << 20)});
    // Below min=: never.
    auto small = run(target_->path(), {traffic, "mmap", "2000", std::to_string(512 << 10)});
    auto sib = run(sibling_->path(), {traffic, "mmap", "2000", std::to_string(2 << 20)});
    auto c = stop(inj);
    EXPECT_EQ(big["calls"], n);
    EXPECT_EQ(big["other"], 0);
    expect_binomial(static_cast<uint64_t>(big["enomem"]), static_cast<uint64_t>(n), 0.05);
    EXPECT_EQ(c["injected"].get<long>(), big["enomem"]) << "a mapping failed other than by faultline";
    EXPECT_EQ(c["matched"].get<long>(), n); // only the large calls qualify
    EXPECT_EQ(small["enomem"], 0);
    EXPECT_EQ(small["ok"], 2000);
    EXPECT_EQ(sib["enomem"], 0) << "the sibling's mappings failed";
    EXPECT_EQ(sib["ok"], 2000);
}

TEST_F(Mem, MallocOfLargeBlocksReturnsNullAndProgramsStillStart) {
    REQUIRE_FAULT("mem.enomem");
    auto inj = inject("mem.enomem@100%"); // default min=1MiB
    auto big = run(target_->path(), {traffic, "malloc", "50", std::to_string(4 << 20)});
    EXPECT_EQ(big["null"], 50) << "malloc(4 MiB) must return NULL with errno ENOMEM";
    EXPECT_EQ(big["other"], 0);
    auto small = run(target_->path(), {traffic, "malloc", "1000", std::to_string(64 << 10)});
    EXPECT_EQ(small["ok"], 1000) << "small blocks come from the heap in steps below min=";
    // At 100 % with the default min=, programs start and run in the target:
    // the dynamic loader, stacks and the heap grow in steps below it.
    for (const std::vector<std::string>& argv :
         {std::vector<std::string>{
              "bash", "-c", "a=(); for i in {1..1000}; do a+=(\"$i\"); done; x=$(echo ${#a[@]}); test $x = 1000"},
          std::vector<std::string>{fl, "--version"}}) {
        Proc p(argv, target_->path(), true);
        EXPECT_EQ(p.wait(30s), 0) << argv[0] << ": " << p.out();
    }
    auto sib = run(sibling_->path(), {traffic, "malloc", "50", std::to_string(4 << 20)});
    EXPECT_EQ(sib["ok"], 50);
    auto c = stop(inj);
    EXPECT_GE(c["injected"].get<long>(), 50);
}

TEST_F(Mem, AKilledLoaderLeavesNoFaultBehind) {
    REQUIRE_FAULT("mem.enomem");
    auto inj = inject("mem.enomem@100%");
    EXPECT_EQ(run(target_->path(), {traffic, "mmap", "10", std::to_string(2 << 20)})["enomem"], 10);
    kill(inj->pid(), SIGKILL);
    inj->wait(5s);
    EXPECT_EQ(run(target_->path(), {traffic, "mmap", "10", std::to_string(2 << 20)})["ok"], 10);
    EXPECT_EQ(sh(fl + " status").status, 0);
}

TEST_F(Mem, SlabIsRefusedWithAReasonWhereTheKernelCannot) {
    if (support("mem.slab").available)
        GTEST_SKIP() << "this kernel can fail slab allocations: the refusal path does not apply";
    auto r = sh(fl + " exec --fault mem.slab@1% -- true 2>&1");
    EXPECT_EQ(r.status, 3) << r.out;
    EXPECT_NE(r.out.find("mem.slab is not available"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("should_failslab"), std::string::npos) << r.out; // what was tried
}

TEST_F(Mem, SlabFailsTheTargetsKernelAllocationsOnly) {
    REQUIRE_FAULT("mem.slab");
    if (getenv("FL_VM_MTTCG"))
        GTEST_SKIP() << "QEMU multi-threaded TCG: live-patching should_failslab, which the other vCPU runs on "
                        "every slab allocation, hung a vCPU in a CI run (a QEMU bug, README); runs under "
                        "FL_VM_ACCEL=tcg,thread=single tools/vmtest/run.sh --only fl-override-6.1 --filter 'Mem.Slab*'";
    // Every system call allocates: the program starts before the fault is
    // armed (so that its exec and loader are spared) and waits for a gate
    // file; then 2000 opens, each of which allocates a struct file and a
    // name buffer from the slab.
    const std::string gate = "/tmp/faultline-it-slab-gate-" + std::to_string(getpid());
    const std::string file = "/tmp/faultline-it-slab-file-" + std::to_string(getpid());
    std::remove(gate.c_str());
    { std::ofstream(file) << "x"; }
    setenv("FL_FILEIO_GATE", gate.c_str(), 1);
    Proc target({fileio, "open", "2000", file}, target_->path(), true);
    Proc sibling({fileio, "open", "2000", file}, sibling_->path(), true);
    unsetenv("FL_FILEIO_GATE");
    auto inj = inject("mem.slab@2%");
    { std::ofstream(gate) << "go"; }
    EXPECT_EQ(target.wait(120s), 0) << target.out();
    EXPECT_EQ(sibling.wait(120s), 0) << sibling.out();
    auto c = stop(inj);
    std::remove(gate.c_str());
    std::remove(file.c_str());
    auto t = fields(target.out()), s = fields(sibling.out());
    EXPECT_EQ(t["calls"], 2000);
    EXPECT_GT(t["ENOMEM"], 0) << target.out();
    EXPECT_EQ(t["ok"] + t["ENOMEM"], 2000) << "an open failed other than with ENOMEM: " << target.out();
    // Several allocations per open, and the loop's own calls: at least one
    // injection per failed open.
    EXPECT_GE(c["injected"].get<long>(), t["ENOMEM"]);
    EXPECT_EQ(s["ok"], 2000) << "the sibling's opens failed: " << sibling.out();
}

// cache=: only allocations from that kmem cache fail. Each socket() takes
// an inode from sock_inode_cache (a cache with a constructor: never merged
// with another): with cache=sock_inode_cache at 100% every socket the
// target opens fails; with cache=TCP (TCP sockets', which a UDP socket never
// uses) none does and nothing is injected. A name the kernel has no cache
// for is refused.
TEST_F(Mem, SlabCacheFilterFailsThatCachesAllocationsOnly) {
    REQUIRE_FAULT("mem.slab");
    if (getenv("FL_VM_MTTCG"))
        GTEST_SKIP() << "QEMU multi-threaded TCG (see SlabFailsTheTargetsKernelAllocationsOnly); runs under "
                        "FL_VM_ACCEL=tcg,thread=single tools/vmtest/run.sh --only fl-override-6.1 --filter 'Mem.Slab*'";
    for (const auto& [cache, fails] :
         {std::pair{std::string("sock_inode_cache"), true}, std::pair{std::string("TCP"), false}}) {
        SCOPED_TRACE(cache);
        auto inj = inject("mem.slab@100%,cache=" + cache);
        Proc target({traffic, "udp-connect-every", "127.0.0.1", "9", "500", "50"}, target_->path(), true);
        EXPECT_EQ(target.wait(60s), 0) << target.out();
        auto c = stop(inj);
        long ok = 0, failed = 0;
        std::istringstream in(target.out());
        for (std::string at, ms, res; in >> at >> ms >> res;)
            (res == "ok" ? ok : failed)++;
        EXPECT_GE(ok + failed, 5) << target.out();
        if (fails) {
            EXPECT_EQ(ok, 0) << target.out();
            EXPECT_GE(c["injected"].get<long>(), failed);
        } else {
            EXPECT_EQ(failed, 0) << target.out();
            EXPECT_EQ(c["injected"].get<long>(), 0);
        }
    }
    auto r = sh(fl + " exec --fault mem.slab@1%,cache=no_such_cache -- true 2>&1");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("no kmem cache named no_such_cache"), std::string::npos) << r.out;
}
