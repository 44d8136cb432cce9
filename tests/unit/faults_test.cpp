// SPDX-License-Identifier: Apache-2.0
// The fault-kind registry: every row parses, takes exactly the filters it
// lists, and is what --help and README's fault table show.
#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "faultline/error.hpp"
#include "faultline/faults.hpp"
#include "faultline/probe.hpp"
#include "faultline/spec.hpp"

using namespace faultline;

namespace {

// The shortest valid spec of a row: its usage with each placeholder filled.
std::string minimal(const FaultDef& d) {
    std::string s(d.usage);
    auto fill = [&](const std::string& ph, const std::string& v) {
        if (auto p = s.find(ph); p != std::string::npos)
            s.replace(p, ph.size(), v);
    };
    fill("=DUR", "=10ms");
    fill("=ERRNO", d.value == FaultValue::disk_errno ? "=EIO" : "=ECONNREFUSED");
    fill("dev=DEV", "dev=7:0");
    fill("@P%", "@1%");
    return s;
}

// A valid value for each filter, as a user would write it.
const std::map<FaultFilter, std::string> example = {
    {filter_proto, "proto=udp"},
    {filter_port, "port=53"},
    {filter_lport, "lport=1000-2000"},
    {filter_cidr, "cidr=10.0.0.0/8"},
    {filter_direction, "direction=egress"},
    {filter_per_flow, "per=flow"},
    {filter_limit, "limit=5"},
    {filter_jitter, "jitter=1ms"},
    {filter_ifaces, "dev=lo"},
    {filter_domain, "domain=example.com"},
    {filter_qtype, "qtype=AAAA"},
    {filter_server, "server=10.0.0.1"},
    {filter_per_name, "per=name"},
    {filter_min, "min=4K"},
    {filter_cache, "cache=dentry"},
    {filter_op, "op=write"},
    {filter_path, "path=/tmp"},
    {filter_files, "files=all"},
    {filter_blockdev, "dev=7:1"},
};

bool parses(const std::string& spec) {
    try {
        parse_fault(spec);
        return true;
    } catch (const Error&) {
        return false;
    }
}

} // namespace

TEST(Registry, EveryRowParsesFromItsUsageAndNamesItself) {
    std::set<std::string_view> names;
    for (const auto& d : fault_kinds()) {
        EXPECT_TRUE(names.insert(d.name).second) << "two rows named " << d.name;
        EXPECT_EQ(d.usage.substr(0, d.name.size()), d.name);
        EXPECT_FALSE(d.help.empty()) << d.name;
        EXPECT_FALSE(d.how.empty()) << d.name;
        EXPECT_FALSE(d.min_kernel.empty()) << d.name;
        EXPECT_NE(d.action, FL_ACT_NONE) << d.name;
        EXPECT_TRUE(d.filters & filter_limit) << d.name << ": every fault takes limit=";
        if (d.value == FaultValue::duration)
            EXPECT_GT(d.max_delay.count(), 0) << d.name << ": a delay needs its bound";
        if (d.held())
            EXPECT_EQ(d.action, FL_ACT_DELAY) << d.name;
        if (!d.shadow_probe.empty())
            EXPECT_NE(find_fault(d.shadow_probe), nullptr) << d.name << ": shadow probe row " << d.shadow_probe;
        const std::string spec = minimal(d);
        FaultSpec f = parse_fault(spec);
        EXPECT_EQ(f.def, &d) << spec;
        EXPECT_EQ(f.name(), d.name);
        EXPECT_EQ(f.ops, d.ops) << spec;
        EXPECT_EQ(find_fault(d.name), &d);
    }
}

TEST(Registry, EachRowTakesExactlyTheFiltersItLists) {
    ASSERT_EQ(example.size(), 19u) << "a filter without an example here is not tested";
    for (const auto& d : fault_kinds()) {
        for (const auto& [bit, kv] : example) {
            const std::string spec = minimal(d) + "," + kv;
            // A key shared by two meanings (dev=, per=) is taken if the row
            // has either meaning; the example of the other may then be
            // refused by the value's own check.
            const std::string key = kv.substr(0, kv.find('='));
            if (minimal(d).find("," + key + "=") != std::string::npos)
                continue; // the row needs it (disk.bio's dev=): minimal() has it, twice is refused

            bool other_meaning = false;
            for (const auto& fd : fault_filters())
                if (fd.key == key && fd.bit != bit && (d.filters & fd.bit))
                    other_meaning = true;
            if (d.filters & bit)
                EXPECT_TRUE(parses(spec)) << spec << " is refused, but the row lists " << key;
            else if (!other_meaning)
                EXPECT_FALSE(parses(spec)) << spec << " is accepted, but the row does not list " << key;
        }
    }
    // The refusal names the fault and lists what it takes.
    try {
        parse_fault("mem.slab@1%,port=53");
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("does not apply to mem.slab"), std::string::npos) << e.what();
        EXPECT_EQ(e.hint(), "mem.slab takes " + filters_of(*find_fault("mem.slab")));
        EXPECT_NE(e.hint().find("cache=NAME"), std::string::npos) << e.hint();
    }
}

TEST(Registry, HelpListsEveryFaultWithItsFilters) {
    const std::string help = faults_usage();
    for (const auto& d : fault_kinds()) {
        EXPECT_NE(help.find(std::string(d.usage)), std::string::npos) << d.name;
        for (const auto& f : fault_filters())
            if ((d.filters & f.bit) && !f.syntax.empty())
                EXPECT_NE(help.find(std::string(f.syntax)), std::string::npos) << d.name << ": " << f.syntax;
        EXPECT_NE(known_faults_help().find(std::string(d.usage)), std::string::npos) << d.name;
    }
}

// README's fault table ("| fault | effect |") names every row by its usage,
// and nothing else.
TEST(Registry, ReadmeFaultTableMatchesTheRegistry) {
    const char* env = getenv("FL_README"); // the VM matrix copies it elsewhere
    std::ifstream in(env ? env : FL_SOURCE_DIR "/README.md");
    ASSERT_TRUE(in) << "README.md not found";
    std::string line;
    bool in_table = false;
    std::set<std::string> listed;
    while (std::getline(in, line)) {
        if (line == "| fault | effect |") // the table's header
            in_table = true;
        else if (line.rfind("|", 0) != 0)
            in_table = false;
        if (!in_table || line.rfind("| `", 0) != 0)
            continue;
        // | `a@P%`, `b@P%` | effect |: every usage in the first cell
        std::string cell = line.substr(2, line.find(" |", 2) - 2);
        for (size_t p = cell.find('`'); p != std::string::npos; p = cell.find('`', p)) {
            size_t e = cell.find('`', p + 1);
            listed.insert(cell.substr(p + 1, e - p - 1));
            p = e + 1;
        }
    }
    ASSERT_FALSE(listed.empty()) << "no '| fault | effect |' table in README.md";
    std::set<std::string> rows;
    for (const auto& d : fault_kinds())
        rows.insert(std::string(d.usage));
    for (const auto& r : rows)
        EXPECT_TRUE(listed.count(r)) << "README's fault table lacks " << r;
    for (const auto& l : listed)
        EXPECT_TRUE(rows.count(l)) << "README's fault table lists " << l << ", which no registry row is";
}

// README's kernel-support table is kernels.conf's rows, per fault: each row
// says what its kernel lacks, and tools/vmtest/run.sh fails a kernel whose
// probe differs from its row, so the table cannot drift from what the
// kernels do. On a mismatch the expected table is printed, to paste.
TEST(Registry, ReadmeKernelTableIsTheMatrixRows) {
    const char* conf_env = getenv("FL_KERNELS_CONF");
    const char* readme_env = getenv("FL_README");
    std::ifstream conf(conf_env ? conf_env : FL_SOURCE_DIR "/tools/vmtest/kernels.conf");
    std::ifstream readme(readme_env ? readme_env : FL_SOURCE_DIR "/README.md");
    ASSERT_TRUE(conf) << "kernels.conf not found";
    ASSERT_TRUE(readme) << "README.md not found";
    std::vector<std::pair<std::string, std::string>> rows; // name, lacks
    for (std::string line; std::getline(conf, line);) {
        std::istringstream l(line);
        std::string name, source, lacks;
        if (!(l >> name >> source >> lacks) || name[0] == '#')
            continue;
        rows.emplace_back(name, lacks);
    }
    ASSERT_FALSE(rows.empty());
    std::vector<std::string> faults;
    for (const auto& d : fault_kinds())
        faults.emplace_back(d.name);
    faults.emplace_back(disk_fsync_row);
    std::string want = "| fault |";
    for (const auto& [name, lacks] : rows)
        want += " " + name + " |";
    want += "\n|---|";
    for (size_t i = 0; i < rows.size(); i++)
        want += "---|";
    want += "\n";
    for (const auto& f : faults) {
        want += "| `" + f + "` |";
        for (const auto& [name, lacks] : rows) {
            bool lacking = lacks == "*" || ("+" + lacks + "+").find("+" + f + "+") != std::string::npos;
            want += lacking ? " **no** |" : " yes |";
        }
        want += "\n";
    }
    std::string got, line;
    bool in = false;
    while (std::getline(readme, line)) {
        if (line == "<!-- kernel-table end -->")
            in = false;
        if (in)
            got += line + "\n";
        if (line == "<!-- kernel-table begin -->")
            in = true;
    }
    EXPECT_EQ(got, want) << "README's kernel table (between the kernel-table markers) should read:\n" << want;
}
