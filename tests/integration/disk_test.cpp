// SPDX-License-Identifier: Apache-2.0
// Disk faults end to end, as root: real programs (fl_fileio dynamic and
// static, raw syscalls, bash, cat) in a target cgroup and a sibling cgroup,
// on files in a scratch directory, and libfiu's fiu-run beside faultline.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sys/mount.h>
#include <sys/stat.h>

#include "../support/stats.hpp"
#include "../support/target_sibling.hpp"

using namespace faultline;
using namespace faultline::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

class Disk : public TargetAndSibling {
  protected:
    void SetUp() override {
        TargetAndSibling::SetUp();
        if (IsSkipped())
            return;
        base_ = fs::path("/tmp") / ("faultline-it-disk-" + std::to_string(getpid()));
        fs::remove_all(base_);
        in_ = base_ / "in";
        out_ = base_ / "out";
        fs::create_directories(in_ / "sub");
        fs::create_directories(out_);
        for (const auto& f : {in_ / "sub" / "data", in_ / "other", out_ / "data"})
            std::ofstream(f) << "faultline disk test data\n";
    }
    void TearDown() override {
        for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) // before their directories go
            EXPECT_EQ(::umount2(it->c_str(), MNT_DETACH), 0) << *it << ": " << strerror(errno);
        if (!base_.empty())
            fs::remove_all(base_);
        TargetAndSibling::TearDown();
    }
    // mount(2) onto dir (created), unmounted by TearDown
    bool mount_at(const char* source, const char* type, unsigned long flags, const fs::path& dir) {
        fs::create_directories(dir);
        if (::mount(source, dir.c_str(), type, flags, nullptr) != 0)
            return false;
        mounts_.push_back(dir);
        return true;
    }
    std::map<std::string, long> io(const std::string& cgroup, const std::string& op, long n, const fs::path& p,
                                   const std::string& bin = fileio, bool raw = false) {
        std::vector<std::string> argv{bin, op, std::to_string(n), p.string(), "1"};
        if (raw)
            argv.push_back("raw");
        return run(cgroup, argv);
    }

    fs::path base_, in_, out_;
    std::vector<fs::path> mounts_;
};

} // namespace

TEST_F(Disk, FaultsAreRefusedWithAReasonWhereTheKernelCannot) {
    if (support("disk.eio").available)
        GTEST_SKIP() << "this kernel can fail file operations: the refusal path does not apply (the disk tests run)";
    for (const std::string f : {"disk.eio@1%", "disk.errno=EACCES@1%,op=open", "disk.full@1%"}) {
        auto r = sh(fl + " exec --fault " + f + " -- true 2>&1");
        EXPECT_EQ(r.status, 3) << f << ": " << r.out;
        // named as asked (disk.errno shares disk.eio's mechanism, not its name)
        EXPECT_NE(r.out.find(f.substr(0, f.find_first_of("@=")) + " is not available"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("fmod_ret on security_file"), std::string::npos) << r.out; // what was tried
    }
}

// path= is matched on the path the program opened, walking up through mount
// points: a file on a file system mounted below path=, and a file reached
// through a bind mount below path=, are under it; the bind-mounted file
// opened by its own name, outside path=, is not (same inode, other path).
TEST_F(Disk, PathMatchesAcrossMountPointsAsTheProgramNamesTheFile) {
    REQUIRE_FAULT("disk.eio");
    const fs::path mnt = in_ / "mnt", bind = in_ / "bind";
    ASSERT_TRUE(mount_at("faultline-it", "tmpfs", 0, mnt)) << strerror(errno);
    ASSERT_TRUE(mount_at(out_.c_str(), nullptr, MS_BIND, bind)) << strerror(errno);
    fs::create_directories(mnt / "deep");
    std::ofstream(mnt / "deep" / "data") << "on a tmpfs mounted under path=\n";
    {
        auto inj = inject("disk.eio@100%,op=read,path=" + in_.string());
        auto on_mount = io(target_->path(), "read", 100, mnt / "deep" / "data");
        auto via_bind = io(target_->path(), "read", 100, bind / "data");
        auto own_name = io(target_->path(), "read", 100, out_ / "data");
        auto c = stop(inj);
        EXPECT_EQ(on_mount["EIO"], 100) << "the walk did not cross the tmpfs's mount point";
        EXPECT_EQ(via_bind["EIO"], 100) << "the walk did not cross the bind mount's mount point";
        EXPECT_EQ(own_name["ok"], 100) << "a file outside path= failed";
        EXPECT_EQ(c["injected"].get<long>(), 200);
    }
    { // path= naming the mount point itself: the mounted file system's root
        auto inj = inject("disk.eio@100%,op=read,path=" + mnt.string());
        auto on_mount = io(target_->path(), "read", 100, mnt / "deep" / "data");
        auto beside = io(target_->path(), "read", 100, in_ / "sub" / "data");
        auto c = stop(inj);
        EXPECT_EQ(on_mount["EIO"], 100);
        EXPECT_EQ(beside["ok"], 100) << "a file beside the mount point failed";
        EXPECT_EQ(c["injected"].get<long>(), 100);
    }
}

TEST_F(Disk, ReadsFailAtTheRateOnlyUnderThePathAndOnlyForTheTarget) {
    REQUIRE_FAULT("disk.eio");
    auto inj = inject("disk.eio@5%,op=read,path=" + in_.string());
    // 10^4 preads of a file two levels under path=: one draw each. The
    // binomial check (stats.hpp, alpha 1e-6) accepts about 415..590.
    const long n = 10000;
    auto under = io(target_->path(), "read", n, in_ / "sub" / "data");
    auto outside = io(target_->path(), "read", 2000, out_ / "data");
    auto writes = io(target_->path(), "write", 2000, in_ / "other"); // op=read only
    auto sib = io(sibling_->path(), "read", 2000, in_ / "sub" / "data");
    auto c = stop(inj);
    EXPECT_EQ(under["calls"], n);
    EXPECT_EQ(under["ok"] + under["EIO"], n) << "an errno other than EIO";
    expect_binomial(static_cast<uint64_t>(under["EIO"]), static_cast<uint64_t>(n), 0.05);
    EXPECT_EQ(c["injected"].get<long>(), under["EIO"]) << "a read failed other than by faultline";
    EXPECT_EQ(c["matched"].get<long>(), n) << "only the reads under path= qualify";
    EXPECT_EQ(outside["ok"], 2000) << "a read outside path= failed";
    EXPECT_EQ(writes["ok"], 2000) << "a write failed under op=read";
    EXPECT_EQ(sib["ok"], 2000) << "the sibling's reads failed";
}

TEST_F(Disk, FullFailsWritesWithEnospcAndNothingElse) {
    REQUIRE_FAULT("disk.full");
    ASSERT_EQ(mkfifo((in_ / "fifo").c_str(), 0600), 0);
    auto inj = inject("disk.full@100%,path=" + in_.string());
    EXPECT_EQ(io(target_->path(), "write", 200, in_ / "other")["ENOSPC"], 200);
    EXPECT_EQ(io(target_->path(), "write", 200, in_ / "new-file")["ENOSPC"], 200); // created, then full
    EXPECT_EQ(io(target_->path(), "fallocate", 50, in_ / "other")["ENOSPC"], 50);
    EXPECT_EQ(io(target_->path(), "read", 200, in_ / "other")["ok"], 200);
    EXPECT_EQ(io(target_->path(), "open", 200, in_ / "other")["ok"], 200);
    EXPECT_EQ(io(target_->path(), "write", 200, out_ / "data")["ok"], 200) << "outside path=";
    EXPECT_EQ(io(sibling_->path(), "write", 200, in_ / "other")["ok"], 200) << "the sibling";
    // Not regular files: a FIFO under path=, the program's stdout (a pipe).
    const std::string fifo = (in_ / "fifo").string();
    Proc sh_in_target({"bash", "-c", "echo through-the-fifo >" + fifo + " & read l <" + fifo + "; echo \"$l\""},
                      target_->path(), true);
    EXPECT_EQ(sh_in_target.wait(30s), 0) << sh_in_target.out();
    EXPECT_NE(sh_in_target.out().find("through-the-fifo"), std::string::npos) << sh_in_target.out();
    // And bash's own redirection to a regular file under path= fails as a
    // full disk does.
    Proc redirect({"bash", "-c", "echo x >>" + (in_ / "other").string()}, target_->path(), true);
    EXPECT_NE(redirect.wait(30s), 0);
    EXPECT_NE(redirect.out().find("No space left on device"), std::string::npos) << redirect.out();
    auto c = stop(inj);
    EXPECT_EQ(c["injected"].get<long>(), 200 + 200 + 50 + 1);
}

TEST_F(Disk, FilesAllFailsAFifoToo) {
    REQUIRE_FAULT("disk.full");
    ASSERT_EQ(mkfifo((in_ / "fifo").c_str(), 0600), 0);
    auto inj = inject("disk.full@100%,files=all,path=" + in_.string());
    const std::string fifo = (in_ / "fifo").string();
    // The reader gets EOF when the failed writer closes its end.
    Proc p({"bash", "-c", "echo x >" + fifo + " & cat " + fifo + " >/dev/null; wait $!"}, target_->path(), true);
    EXPECT_NE(p.wait(30s), 0) << p.out();
    EXPECT_NE(p.out().find("No space left on device"), std::string::npos) << p.out();
    stop(inj);
}

TEST_F(Disk, OpenFailsWithTheErrnoForOneFileOnly) {
    REQUIRE_FAULT("disk.errno");
    const fs::path secret = in_ / "sub" / "data";
    auto inj = inject("disk.errno=EACCES@100%,op=open,path=" + secret.string());
    EXPECT_EQ(io(target_->path(), "open", 100, secret)["EACCES"], 100);
    EXPECT_EQ(io(target_->path(), "open", 100, in_ / "other")["ok"], 100) << "a file beside it";
    EXPECT_EQ(io(target_->path(), "read", 100, in_ / "other")["ok"], 100);
    Proc cat({"cat", secret.string()}, target_->path(), true);
    EXPECT_NE(cat.wait(30s), 0);
    EXPECT_NE(cat.out().find("Permission denied"), std::string::npos) << cat.out();
    EXPECT_EQ(io(sibling_->path(), "open", 100, secret)["ok"], 100) << "the sibling";
    auto c = stop(inj);
    EXPECT_EQ(c["injected"].get<long>(), 101);
}

// fl_fileio counts the calls that took at least FL_FILEIO_SLOW_US.
struct SlowCalls {
    explicit SlowCalls(const char* us) { setenv("FL_FILEIO_SLOW_US", us, 1); }
    ~SlowCalls() { unsetenv("FL_FILEIO_SLOW_US"); }
};

TEST_F(Disk, DelayHoldsCallsAtTheRateOnlyWhereAsked) {
    REQUIRE_FAULT("disk.delay");
    auto inj = inject("disk.delay=20ms@10%,op=read,path=" + in_.string());
    // A held call waits until a deadline on the kernel's clock, so it takes
    // 20 ms or more by construction: the held calls are among the slow ones.
    // Other calls are slow only if the (emulated) machine stalls: a few.
    SlowCalls slow("19000");
    const long n = 1000;
    auto under = io(target_->path(), "read", n, in_ / "sub" / "data");
    auto writes = io(target_->path(), "write", 300, in_ / "other"); // op=read only
    auto outside = io(target_->path(), "read", 300, out_ / "data");
    auto sib = io(sibling_->path(), "read", 300, in_ / "sub" / "data");
    auto c = stop(inj);
    const long injected = c["injected"].get<long>();
    // 10^3 draws at 10 %: the binomial check (alpha 1e-6) accepts ~55..150.
    expect_binomial(static_cast<uint64_t>(injected), static_cast<uint64_t>(n), 0.10);
    EXPECT_EQ(under["ok"], n) << "a delay never fails the call";
    EXPECT_GE(under["slow"], injected) << "a held call returned before its 20 ms";
    EXPECT_LE(under["slow"] - injected, 5) << "more slow calls than faultline held";
    EXPECT_LE(writes["slow"], 3);
    EXPECT_LE(outside["slow"], 3);
    EXPECT_LE(sib["slow"], 3);
}

TEST_F(Disk, DelayWaitsOnTheCallersCpu) {
    REQUIRE_FAULT("disk.delay");
    auto inj = inject("disk.delay=20ms@100%,op=read,path=" + in_.string());
    SlowCalls slow("19000");
    // 25 calls held 20 ms each: BPF cannot sleep in the hook, so the thread
    // waits in the kernel, on its CPU: ~0.5 s of system time (what
    // BENCHMARKS.md and the README say a delay costs).
    auto r = io(target_->path(), "read", 25, in_ / "other");
    auto c = stop(inj);
    EXPECT_EQ(r["slow"], 25);
    EXPECT_EQ(c["injected"].get<long>(), 25);
    EXPECT_GE(r["stime_us"], 25 * 20000 * 8 / 10) << "the wait was not on the CPU";
}

TEST_F(Disk, FsyncFailsWhereSystemCallsTakeErrorInjection) {
    REQUIRE_FAULT(disk_fsync_row);
    auto inj = inject("disk.eio@100%,op=fsync,path=" + in_.string());
    // fsync and fdatasync alternate, through the C library and raw.
    EXPECT_EQ(io(target_->path(), "fsync", 100, in_ / "other")["EIO"], 100);
    EXPECT_EQ(io(target_->path(), "fsync", 100, in_ / "other", fileio_static, true)["EIO"], 100);
    EXPECT_EQ(io(target_->path(), "write", 100, in_ / "other")["ok"], 100) << "op=fsync only";
    EXPECT_EQ(io(target_->path(), "fsync", 100, out_ / "data")["ok"], 100) << "outside path=";
    EXPECT_EQ(io(sibling_->path(), "fsync", 100, in_ / "other")["ok"], 100) << "the sibling";
    auto c = stop(inj);
    EXPECT_EQ(c["injected"].get<long>(), 200);
}

TEST_F(Disk, FsyncIsRefusedWithAReasonWhereSystemCallsTakeNoErrorInjection) {
    if (support(disk_fsync_row).available)
        GTEST_SKIP() << "this kernel can fail fsync: the refusal path does not apply";
    auto r = sh(fl + " exec --fault disk.eio@1%,op=read+fsync -- true 2>&1");
    EXPECT_EQ(r.status, 3) << r.out;
    EXPECT_NE(r.out.find("is not available"), std::string::npos) << r.out;
    // Where the other operations work, the refusal names fsync's mechanism.
    if (support("disk.eio").available)
        EXPECT_NE(r.out.find("__x64_sys_fsync"), std::string::npos) << r.out;
}

// libfiu's fiu-run preloads wrappers of the C library's functions: a static
// binary, a raw syscall(2) and a fortified call (__pread_chk: fl_fileio is
// built unfortified for this) never pass through them. faultline fails the
// kernel's operation, whatever the program is built with.
TEST_F(Disk, StaticBinariesAndRawSyscallsEscapeLibfiuButNotFaultline) {
    REQUIRE_FAULT("disk.eio");
    if (sh("command -v fiu-run").status != 0)
        GTEST_SKIP() << "fiu-run (Debian package fiu-utils) is not installed";
    const fs::path data = in_ / "sub" / "data";
    auto fiu = [&](const std::string& bin, bool raw) {
        std::vector<std::string> argv{"fiu-run", "-x",          "-c", "enable name=posix/io/rw/pread", bin, "read",
                                      "100",     data.string(), "1"};
        if (raw)
            argv.push_back("raw");
        return run(sibling_->path(), argv);
    };
    EXPECT_EQ(fiu(fileio, false)["ok"], 0) << "libfiu fails the dynamic program's pread()";
    EXPECT_EQ(fiu(fileio_static, false)["ok"], 100) << "libfiu cannot reach a static binary";
    EXPECT_EQ(fiu(fileio, true)["ok"], 100) << "libfiu cannot reach a raw syscall";
    auto inj = inject("disk.eio@100%,op=read,path=" + in_.string());
    EXPECT_EQ(io(target_->path(), "read", 100, data, fileio)["EIO"], 100);
    EXPECT_EQ(io(target_->path(), "read", 100, data, fileio_static)["EIO"], 100);
    EXPECT_EQ(io(target_->path(), "read", 100, data, fileio, true)["EIO"], 100);
    auto c = stop(inj);
    EXPECT_EQ(c["injected"].get<long>(), 300);
}

TEST_F(Disk, AKilledLoaderLeavesNoFaultBehind) {
    REQUIRE_FAULT("disk.eio");
    auto inj = inject("disk.eio@100%,path=" + in_.string()); // every op
    EXPECT_EQ(io(target_->path(), "open", 10, in_ / "other")["EIO"], 10);
    kill(inj->pid(), SIGKILL);
    inj->wait(5s);
    EXPECT_EQ(io(target_->path(), "open", 10, in_ / "other")["ok"], 10);
    EXPECT_EQ(io(target_->path(), "read", 10, in_ / "other")["ok"], 10);
    EXPECT_EQ(io(target_->path(), "write", 10, in_ / "other")["ok"], 10);
    EXPECT_EQ(sh(fl + " status").status, 0);
}

// exec's faults are live before the command starts by default (an open
// fault then fails the command's own exec, and faultline says so); with
// --after they start once it runs: its first open succeeds, one made after
// the delay fails, and bash (the VM's sh too) started unharmed.
TEST_F(Disk, ExecAfterStartsTheFaultsOnceTheCommandRuns) {
    REQUIRE_FAULT("disk.eio");
    const std::string file = (in_ / "other").string();
    const std::string fault = "disk.eio@100%,op=open,path=" + file;
    auto r = sh(fl + " exec --fault " + fault + " -- bash -c 'read x < " + file + " && echo early-ok' 2>&1");
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_EQ(r.out.find("early-ok"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("note: disk.eio is live before the command starts"), std::string::npos) << r.out;
    // Opens at ~0 s and ~2.5 s, the faults from 1 s: 1 s of margin either side.
    r = sh(fl + " exec --after 1s --fault " + fault + " -- bash -c 'read x < " + file +
           " && echo early-ok; sleep 2.5; read y < " + file + " || echo late-failed' 2>&1");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("early-ok"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("late-failed"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("faults start 1s after the command"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("injected 1 (100"), std::string::npos) << r.out;
    EXPECT_EQ(sh(fl + " exec --after -1s --fault " + fault + " -- true 2>&1").status, 2);
}

TEST_F(Disk, AMissingPathIsRefusedBeforeAnythingIsAttached) {
    REQUIRE_FAULT("disk.eio"); // elsewhere, that is the refusal
    auto r = sh(fl + " exec --fault disk.eio@1%,path=" + (base_ / "nope").string() + " -- true 2>&1");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("No such file or directory"), std::string::npos) << r.out;
}

// disk.bio: block I/O of the target fails where the block layer submits it.
// The VM's fl-override kernel has null_blk built in (/dev/nullb0, no
// backing memory); a bio is the target's when the io controller charges it
// to the target's cgroup, so the controller is turned on below the root.
class DiskBio : public TargetAndSibling {
  protected:
    void SetUp() override {
        TargetAndSibling::SetUp();
        if (IsSkipped())
            return;
        // cgroups made before the controller is on lack it: make them again
        const std::string st = root_ + "/cgroup.subtree_control";
        std::ifstream in(st);
        std::string line;
        std::getline(in, line);
        if (line.find("io") == std::string::npos) {
            target_.reset();
            sibling_.reset();
            enabled_io_ = sh("echo +io > " + st).status == 0;
            const std::string t = std::to_string(getpid());
            target_ = std::make_unique<ScratchCgroup>(root_, "faultline-it-target-" + t);
            sibling_ = std::make_unique<ScratchCgroup>(root_, "faultline-it-sibling-" + t);
        }
    }
    void TearDown() override {
        TargetAndSibling::TearDown(); // removes the cgroups first
        if (enabled_io_)
            sh("echo -io > " + root_ + "/cgroup.subtree_control");
    }
    bool enabled_io_ = false;
};

TEST_F(DiskBio, BlockReadsOfTheTargetFailAtTheRate) {
    REQUIRE_FAULT("disk.bio");
    if (access("/dev/nullb0", R_OK) != 0)
        GTEST_SKIP() << "no /dev/nullb0 (null_blk) to submit bios to";
    auto inj = inject("disk.bio@5%,op=read,dev=/dev/nullb0");
    setenv("FL_FILEIO_DIRECT", "1", 1);
    // 4000 direct reads of 4 KiB: one bio each, one draw each. The binomial
    // check (alpha 1e-6) accepts about 150..255 at 5 %.
    const long n = 4000;
    Proc t({fileio, "read", std::to_string(n), "/dev/nullb0", "4096"}, target_->path(), true);
    Proc s({fileio, "read", "1000", "/dev/nullb0", "4096"}, sibling_->path(), true);
    EXPECT_EQ(t.wait(120s), 0) << t.out();
    EXPECT_EQ(s.wait(120s), 0) << s.out();
    Proc w({fileio, "write", "200", "/dev/nullb0", "4096"}, target_->path(), true); // op=read only
    EXPECT_EQ(w.wait(120s), 0) << w.out();
    unsetenv("FL_FILEIO_DIRECT");
    auto c = stop(inj);
    auto tf = fields(t.out()), sf = fields(s.out()), wf = fields(w.out());
    EXPECT_EQ(tf["ok"] + tf["EIO"], n) << t.out();
    expect_binomial(static_cast<uint64_t>(tf["EIO"]), static_cast<uint64_t>(n), 0.05);
    EXPECT_EQ(c["injected"].get<long>(), tf["EIO"]) << "a read failed other than by faultline";
    EXPECT_EQ(sf["ok"], 1000) << "the sibling's reads failed";
    EXPECT_EQ(wf["ok"], 200) << "a write failed under op=read";
}

// disk.bio on the device of a mounted ext4 whose errors make it read-only
// for everyone (errors=remount-ro, Debian's default for /): refused unless
// --force; forced, the target's direct reads of a file fail at the rate,
// the file system stays read-write, and a sibling reads and writes it as
// before. Every injection is a failed read of the target's (readahead
// bios, whose failure nobody sees, are not failed, nor counted). (Known gap:
// with the metadata skip of fl_fail_bio disabled this test still passed
// once: the target's `ls -lR` after drop_caches issued no metadata bio that
// the fault saw. So it shows that a forced fault leaves the mount alone in
// this use, not that the skip is what protects it.)
TEST_F(DiskBio, AForcedFaultOnAMountedExt4FailsTheTargetsReadsAndTheFileSystemStaysWritable) {
    REQUIRE_FAULT("disk.bio");
    if (sh("command -v mke2fs && command -v losetup").status != 0)
        GTEST_SKIP() << "needs mke2fs and losetup (e2fsprogs, util-linux)";
    const std::string t = std::to_string(getpid());
    const std::string img = "/tmp/faultline-it-ext4-" + t + ".img", dir = "/tmp/faultline-it-ext4-" + t;
    auto r = sh("mke2fs -q -F -t ext4 " + img + " 64M && mkdir -p " + dir + " && losetup -f --show " + img);
    ASSERT_EQ(r.status, 0) << r.out;
    // losetup's answer is the last line (mke2fs may say it creates the file)
    const size_t at = r.out.rfind("/dev/loop");
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string loop = r.out.substr(at, r.out.find('\n', at) - at);
    struct Cleanup {
        std::string cmd;
        ~Cleanup() { sh(cmd); }
    } cleanup{"umount " + dir + " 2>/dev/null; losetup -d " + loop + "; rm -rf " + img + " " + dir};
    ASSERT_EQ(sh("mount -t ext4 -o errors=remount-ro " + loop + " " + dir).status, 0);
    const std::string data = dir + "/data";
    EXPECT_EQ(run(sibling_->path(), {fileio, "write", "4", data, "4096"})["ok"], 4);
    sh("sync");

    r = sh(fl + " inject --cgroup " + target_->path() + " --fault disk.bio@50%,op=read,dev=" + loop + " --for 1s 2>&1");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("backs a mounted file system"), std::string::npos) << r.out;

    auto inj = inject("disk.bio@50%,op=read,dev=" + loop, {"--force"});
    // Cold caches: the target's first calls read the inode table and
    // directory blocks from the device (metadata bios).
    ASSERT_EQ(sh("sync && echo 3 > /proc/sys/vm/drop_caches").status, 0);
    Proc ls({"ls", "-lR", dir}, target_->path(), true);
    EXPECT_EQ(ls.wait(30s), 0) << ls.out();
    setenv("FL_FILEIO_DIRECT", "1", 1);
    auto tf = run(target_->path(), {fileio, "read", "400", data, "4096"});
    auto sr = run(sibling_->path(), {fileio, "read", "200", data, "4096"});
    auto sw = run(sibling_->path(), {fileio, "write", "50", dir + "/sibling", "4096"});
    unsetenv("FL_FILEIO_DIRECT");
    auto c = stop(inj);
    // 400 direct reads at 50 %: one bio, one draw each; the binomial check
    // (alpha 1e-6) accepts about 150..250.
    EXPECT_EQ(tf["ok"] + tf["EIO"], 400);
    expect_binomial(static_cast<uint64_t>(tf["EIO"]), 400, 0.5);
    EXPECT_EQ(c["injected"].get<long>(), tf["EIO"]);
    EXPECT_EQ(sr["ok"], 200) << "the sibling's reads failed";
    EXPECT_EQ(sw["ok"], 50) << "the sibling's writes failed";
    std::ifstream mounts("/proc/mounts");
    std::string line, opts;
    while (std::getline(mounts, line))
        if (line.find(" " + dir + " ") != std::string::npos)
            opts = line;
    EXPECT_NE(opts.find(" ext4 rw,"), std::string::npos) << "remounted read-only? " << opts;
    EXPECT_EQ(run(sibling_->path(), {fileio, "write", "4", dir + "/after", "4096"})["ok"], 4);
}

TEST_F(Disk, BioIsRefusedWithAReasonWhereTheKernelCannot) {
    if (support("disk.bio").available)
        GTEST_SKIP() << "this kernel can fail bios: the refusal path does not apply";
    auto r = sh(fl + " exec --fault disk.bio@1%,dev=1:3 -- true 2>&1");
    EXPECT_EQ(r.status, 3) << r.out;
    EXPECT_NE(r.out.find("disk.bio is not available"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("should_fail_bio"), std::string::npos) << r.out;
}

TEST_F(Disk, BioNeedsTheIoControllerOnTheTarget) {
    REQUIRE_FAULT("disk.bio");
    std::ifstream in(target_->path() + "/cgroup.controllers");
    std::string controllers((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (controllers.find("io") != std::string::npos)
        GTEST_SKIP() << "the io controller is on for the scratch cgroups here: the refusal does not apply";
    auto r = sh(fl + " inject --cgroup " + target_->path() + " --fault disk.bio@1%,dev=1:3 --for 1s 2>&1");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("io controller is not enabled"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("+io"), std::string::npos) << r.out; // the hint
}
