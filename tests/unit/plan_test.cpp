// SPDX-License-Identifier: Apache-2.0
// The session plan against fake machines: every fault kind on every kernel
// row of the VM matrix (tools/vmtest/kernels.conf says what each lacks), and
// each decision the plan makes about devices, files and options. No root,
// no kernel: what Session then carries out is tested by the integration
// suites on real kernels.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <fstream>
#include <map>
#include <sstream>

#include "faultline/error.hpp"
#include "faultline/faults.hpp"
#include "faultline/plan.hpp"
#include "faultline/spec.hpp"

using namespace faultline;
using bpf::Program;

namespace {

class FakeEnvironment final : public Environment {
  public:
    std::string row = "fake";
    std::set<std::string> lacks; // probe rows this kernel lacks
    bool lacks_all = false;
    bool host = false;
    std::vector<std::string> devices{"eth0", "lo", "wg0"};
    std::set<std::string> ethernet{"eth0", "lo"};
    std::map<std::string, std::string> routes{{"10.0.0.0/8", "eth0"}};
    std::set<std::string> target_controllers{"cpu", "io", "memory"};
    std::map<std::string, FileId> files{{"/data", {.dev = (8u << 20) | 1, .ino = 42}},
                                        {"/logs", {.dev = (8u << 20) | 2, .ino = 7}}};
    std::map<std::string, std::pair<unsigned, unsigned>> block{{"/dev/nullb0", {251, 0}}, {"/dev/sda", {8, 0}}};
    std::map<std::string, std::string> mounts{{"8:0", "/"}};
    std::map<std::string, Cache> caches{{"dentry", Cache::listed}, {"ext4_inode_cache", Cache::merged}};

    std::string kernel() const override { return row; }
    FaultSupport support(const std::string& r) const override {
        bool no = lacks_all || lacks.count(r);
        return {.fault = r,
                .available = !no,
                .mechanism = "fake mechanism",
                .min_kernel = "9.9",
                .reason = no ? "the row lacks it" : ""};
    }
    bool host_netns(const std::string&) const override { return host; }
    std::vector<std::string> up_devices(const std::string&) const override { return devices; }
    std::string route_device(const Cidr& to, const std::string&) const override {
        auto it = routes.find(to.text);
        return it == routes.end() ? "" : it->second;
    }
    bool ethernet_framing(const std::string& dev, const std::string&) const override {
        if (std::find(devices.begin(), devices.end(), dev) == devices.end())
            throw Error(ErrorKind::usage, "no device " + dev);
        return ethernet.count(dev) != 0;
    }
    std::set<std::string> controllers(const std::string&) const override { return target_controllers; }
    FileId file_id(const std::string& path) const override {
        auto it = files.find(path);
        return it == files.end() ? FileId{.err = ENOENT} : it->second;
    }
    std::optional<std::pair<unsigned, unsigned>> block_device(const std::string& path) const override {
        auto it = block.find(path);
        return it == block.end() ? std::nullopt : std::optional(it->second);
    }
    std::string mounted_on(unsigned maj, unsigned min) const override {
        auto it = mounts.find(fmt::format("{}:{}", maj, min));
        return it == mounts.end() ? "" : it->second;
    }
    Cache slab_cache(const std::string& name) const override {
        auto it = caches.find(name);
        return it == caches.end() ? Cache::none : it->second;
    }
};

SessionOptions options(std::vector<std::string> specs) {
    SessionOptions o{.target = {.path = "/sys/fs/cgroup/svc", .id = 1234, .level = 1}};
    for (const auto& s : specs)
        o.faults.push_back(parse_fault(s));
    return o;
}

// A spec of each kind, with what it needs to be whole.
std::string example(const FaultDef& def) {
    std::string s(def.name);
    switch (def.value) {
    case FaultValue::none:
        break;
    case FaultValue::duration:
        s += "=10ms";
        break;
    case FaultValue::connect_errno:
        s += "=ECONNREFUSED";
        break;
    case FaultValue::disk_errno:
        s += "=EIO";
        break;
    }
    s += "@5%";
    if (def.filters & filter_path)
        s += ",path=/data";
    if (def.needs_blockdev)
        s += ",dev=/dev/nullb0";
    return s;
}

struct Row {
    std::string name;
    std::set<std::string> lacks;
    bool lacks_all = false;
};

// The matrix as tools/vmtest/kernels.conf gives it.
std::vector<Row> matrix() {
    const char* env = getenv("FL_KERNELS_CONF"); // the VM matrix copies it elsewhere
    std::ifstream in(env ? std::string(env) : std::string(FL_SOURCE_DIR) + "/tools/vmtest/kernels.conf");
    std::vector<Row> rows;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#')
            continue;
        std::istringstream l(line);
        std::string name, source, lacks;
        l >> name >> source >> lacks;
        Row r{.name = name, .lacks_all = lacks == "*"};
        if (lacks != "-" && lacks != "*")
            for (size_t at = 0; at <= lacks.size();) {
                size_t plus = std::min(lacks.find('+', at), lacks.size());
                r.lacks.insert(lacks.substr(at, plus - at));
                at = plus + 1;
            }
        rows.push_back(r);
    }
    return rows;
}

std::set<Program> programs_of(std::initializer_list<Program> l) {
    return std::set<Program>(l);
}

} // namespace

TEST(Plan, MatrixHasItsRows) {
    auto rows = matrix();
    ASSERT_GE(rows.size(), 5u) << "kernels.conf not read";
    for (const char* want : {"fl-override-6.1", "debian-11-5.10", "debian-6.12"})
        EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [&](const Row& r) { return r.name == want; })) << want;
}

// Every kind on every kernel row: refused with the probe's reason where the
// row lacks it (before any device or file is looked at), else planned with
// exactly the programs, devices and filters its hook needs.
TEST(Plan, EveryKindOnEveryKernelRow) {
    int planned = 0, refused = 0;
    for (const auto& row : matrix()) {
        for (const auto& def : fault_kinds()) {
            SCOPED_TRACE(row.name + " " + std::string(def.name));
            FakeEnvironment env;
            env.row = row.name;
            env.lacks = row.lacks;
            env.lacks_all = row.lacks_all;
            // Filters of a refused fault are not looked at: a missing file
            // must not be what is reported.
            const bool lacked = row.lacks_all || row.lacks.count(std::string(def.name));
            if (lacked)
                env.files.clear();
            auto o = options({example(def)});
            if (lacked) {
                try {
                    (void)plan_session(o, env);
                    ADD_FAILURE() << "planned a fault the kernel lacks";
                } catch (const Error& e) {
                    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
                    EXPECT_NE(
                        std::string(e.what()).find(std::string(def.name) + " is not available on kernel " + row.name),
                        std::string::npos)
                        << e.what();
                    EXPECT_NE(e.hint().find("needs Linux 9.9"), std::string::npos) << e.hint();
                }
                refused++;
                continue;
            }
            SessionPlan p = plan_session(o, env);
            planned++;
            const FaultSpec& f = o.faults[0];
            std::set<Program> want;
            switch (def.hook) {
            case FaultHook::packet:
                if (f.dir_mask & FL_DIR_EGRESS)
                    want.insert(Program::skb_egress);
                if (f.dir_mask & FL_DIR_INGRESS)
                    want.insert(Program::skb_ingress);
                if (def.action == FL_ACT_REWRITE)
                    want.insert(Program::tc_ingress);
                break;
            case FaultHook::connect:
                want = programs_of({Program::connect4, Program::connect6});
                break;
            case FaultHook::mem:
                want = programs_of({Program::vm_enough});
                break;
            case FaultHook::slab:
                want = programs_of({Program::failslab});
                break;
            case FaultHook::bio:
                want = programs_of({Program::fail_bio});
                break;
            case FaultHook::file:
                if (f.ops & FL_OP_OPEN)
                    want.insert(Program::file_open);
                if (f.ops & (FL_OP_READ | FL_OP_WRITE))
                    want.insert(Program::file_perm);
                break;
            }
            EXPECT_FALSE(want.empty());
            EXPECT_EQ(p.programs, want);
            // A container's namespace: every device of it gets fq for a delay.
            EXPECT_EQ(p.fq_devices, def.held() ? env.devices : std::vector<std::string>{});
            if (def.held())
                EXPECT_EQ(p.hold, f.delay + f.jitter);
            // Rewrites on the Ethernet-framed devices; the other one noted.
            const std::vector<std::string> rewritten =
                def.action == FL_ACT_REWRITE ? std::vector<std::string>{"eth0", "lo"} : std::vector<std::string>{};
            EXPECT_EQ(p.tc_devices, rewritten);
            EXPECT_EQ(p.notes.size(), def.action == FL_ACT_REWRITE ? 1u : 0u);
            if (def.filters & filter_path) {
                ASSERT_EQ(p.paths.size(), 1u);
                EXPECT_EQ(p.paths[0].ino, 42u);
                EXPECT_EQ(p.paths[0].dev, (8u << 20) | 1);
            } else {
                EXPECT_TRUE(p.paths.empty());
            }
            ASSERT_EQ(p.bio_devices.size(), 1u);
            EXPECT_EQ(p.bio_devices[0], def.needs_blockdev ? 251u << 20 : 0u);
            ASSERT_EQ(p.caches.size(), 1u);
            EXPECT_EQ(p.caches[0], 0u);
        }
    }
    // Every row refuses or plans every kind; 5.10 refuses them all.
    EXPECT_EQ(planned + refused, static_cast<int>(matrix().size() * fault_kinds().size()));
    EXPECT_GT(planned, 0);
    EXPECT_GE(refused, static_cast<int>(fault_kinds().size()));
}

TEST(Plan, FsyncNeedsItsOwnProbeRow) {
    FakeEnvironment env;
    auto o = options({"disk.eio@5%,path=/data,op=fsync"});
    auto p = plan_session(o, env);
    EXPECT_EQ(p.programs, programs_of({Program::fsync, Program::fdatasync}));
    env.lacks = {disk_fsync_row};
    try {
        (void)plan_session(o, env);
        ADD_FAILURE() << "op=fsync planned where the row lacks it";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::unsupported);
        EXPECT_NE(std::string(e.what()).find(disk_fsync_row), std::string::npos) << e.what();
    }
}

TEST(Plan, DelayInTheHostNamespaceGoesOnlyWhereTold) {
    FakeEnvironment env;
    env.host = true;
    // Neither dev= nor cidr=: refused, fq on every host device would hit
    // every tenant.
    try {
        (void)plan_session(options({"net.delay=10ms@5%"}), env);
        ADD_FAILURE();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_NE(std::string(e.what()).find("only on devices you name"), std::string::npos) << e.what();
    }
    auto p = plan_session(options({"net.delay=10ms@5%,dev=lo"}), env);
    EXPECT_EQ(p.fq_devices, std::vector<std::string>{"lo"});
    EXPECT_TRUE(p.notes.empty());
    // cidr=: the routing table's device, and a note that says so.
    p = plan_session(options({"net.delay=10ms@5%,cidr=10.0.0.0/8", "net.delay=20ms@1%,jitter=5ms,dev=wg0"}), env);
    EXPECT_EQ(p.fq_devices, (std::vector<std::string>{"eth0", "wg0"}));
    EXPECT_EQ(p.hold, std::chrono::milliseconds(25));
    ASSERT_EQ(p.notes.size(), 1u);
    EXPECT_NE(p.notes[0].find("sch_fq on eth0, the device the routing table sends 10.0.0.0/8 by"), std::string::npos)
        << p.notes[0];
    try {
        (void)plan_session(options({"net.delay=10ms@5%,cidr=192.0.2.0/24"}), env);
        ADD_FAILURE();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_NE(std::string(e.what()).find("no route to 192.0.2.0/24"), std::string::npos) << e.what();
    }
    // Count-only: nothing is held, no qdisc is touched.
    auto o = options({"net.delay=10ms@5%"});
    o.shadow = true;
    p = plan_session(o, env);
    EXPECT_TRUE(p.fq_devices.empty());
    EXPECT_EQ(p.programs, programs_of({Program::skb_egress}));
}

TEST(Plan, RewriteOnADeviceWithoutEthernetFramingIsRefused) {
    FakeEnvironment env;
    auto p = plan_session(options({"dns.nxdomain@5%,dev=eth0"}), env);
    EXPECT_EQ(p.tc_devices, std::vector<std::string>{"eth0"});
    try {
        (void)plan_session(options({"dns.nxdomain@5%,dev=wg0"}), env);
        ADD_FAILURE();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::unsupported);
        EXPECT_NE(std::string(e.what()).find("device wg0 has no Ethernet framing"), std::string::npos) << e.what();
    }
    auto o = options({"dns.nxdomain@5%"});
    o.shadow = true; // count-only: no rewrite, no tc program
    p = plan_session(o, env);
    EXPECT_TRUE(p.tc_devices.empty());
    EXPECT_EQ(p.programs.count(Program::tc_ingress), 0u);
}

TEST(Plan, BlockDevicesAndTheIoController) {
    FakeEnvironment env;
    auto p = plan_session(options({"disk.bio@5%,dev=251:3"}), env);
    EXPECT_EQ(p.bio_devices[0], (251u << 20) | 3);
    auto refused = [&](const SessionOptions& o, const std::string& what) {
        try {
            (void)plan_session(o, env);
            ADD_FAILURE() << "planned: " << what;
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::usage);
            EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
            EXPECT_FALSE(e.hint().empty());
        }
    };
    refused(options({"disk.bio@5%,dev=/dev/sda"}), "backs a mounted file system (/)");
    auto forced = options({"disk.bio@5%,dev=/dev/sda"});
    forced.force = true;
    EXPECT_EQ(plan_session(forced, env).bio_devices[0], 8u << 20);
    refused(options({"disk.bio@5%,dev=/dev/null"}), "is not a block device");
    refused(options({"disk.bio@5%,dev=5000:1"}), "is not MAJOR:MINOR");
    env.target_controllers = {"memory"};
    refused(options({"disk.bio@5%,dev=/dev/nullb0"}), "the io controller is not enabled for /sys/fs/cgroup/svc");
}

TEST(Plan, SlabCachesAndPaths) {
    FakeEnvironment env;
    auto p = plan_session(options({"mem.slab@2%,cache=dentry", "disk.eio@5%,path=/data,path=/logs"}), env);
    EXPECT_NE(p.caches[0], 0u);
    EXPECT_EQ(p.caches[1], 0u);
    ASSERT_EQ(p.paths.size(), 2u);
    EXPECT_EQ(p.paths[1].slot, 1u);
    EXPECT_EQ(p.paths[1].ino, 7u);
    for (auto [spec, what] : std::vector<std::pair<std::string, std::string>>{
             {"mem.slab@2%,cache=ext4_inode_cache", "is merged into another one"},
             {"mem.slab@2%,cache=nosuch", "no kmem cache named nosuch"},
             {"disk.eio@5%,path=/nosuch", "path=/nosuch: No such file or directory"}}) {
        try {
            (void)plan_session(options({spec}), env);
            ADD_FAILURE() << spec;
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::usage);
            EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
        }
    }
}

TEST(Plan, OptionsNoSessionMayHave) {
    FakeEnvironment env;
    auto o = options({});
    EXPECT_THROW((void)plan_session(o, env), Error);
    o = options({"net.drop@1%"});
    o.target.level = FL_MAX_LEVELS;
    EXPECT_THROW((void)plan_session(o, env), Error);
    o = options({"net.drop@1%"});
    o.duration = Nanos(0);
    EXPECT_THROW((void)plan_session(o, env), Error);
    o = options({});
    for (unsigned i = 0; i <= FL_MAX_PER_TARGET; i++)
        o.faults.push_back(parse_fault("net.drop@1%"));
    EXPECT_THROW((void)plan_session(o, env), Error);
}

TEST(Plan, DescribeSaysWhatIsAttachedAndChanged) {
    FakeEnvironment env;
    env.host = true;
    auto o = options({"net.delay=10ms@5%,cidr=10.0.0.0/8", "dns.servfail@1%,dev=lo", "disk.eio@5%,path=/data"});
    std::string d = describe_plan(plan_session(o, env), o);
    for (const char* want : {"attach cgroup_skb/egress to cgroup /sys/fs/cgroup/svc", "root qdisc of eth0: sch_fq",
                             "attach tc ingress to lo: rewrites", "disk.eio: path filter on inode 42 of device 8:1",
                             "note: net.delay: sch_fq on eth0"})
        EXPECT_NE(d.find(want), std::string::npos) << want << "\n" << d;
}
