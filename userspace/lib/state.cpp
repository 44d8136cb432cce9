// SPDX-License-Identifier: Apache-2.0
#include "faultline/state.hpp"

#include <cerrno>
#include <csignal>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "faultline/bpf.hpp"
#include "faultline/cgroup.hpp"
#include "faultline/error.hpp"
#include "faultline/qdisc.hpp"

namespace faultline {
namespace {

using nlohmann::json;

json to_json(const SessionRecord& r) {
    json ex = json::array();
    for (const auto& e : r.experiments)
        ex.push_back({{"id", e.id}, {"spec", e.spec}, {"slot", e.slot}});
    json tc = json::array();
    for (const auto& f : r.tc_filters)
        tc.push_back(
            {{"dev", f.dev}, {"handle", f.handle}, {"priority", f.priority}, {"created_clsact", f.created_clsact}});
    return {{"id", r.id},
            {"pid", r.pid},
            {"pid_start", r.pid_start},
            {"cgroup", r.cgroup},
            {"cgroup_id", r.cgroup_id},
            {"config_map_id", r.config_map_id},
            {"counters_map_id", r.counters_map_id},
            {"started_unix", r.started_unix},
            {"ends_unix", r.ends_unix},
            {"experiments", ex},
            {"fq_devices", r.fq_devices},
            {"netns", r.netns},
            {"netns_ino", r.netns_ino},
            {"created_cgroup", r.created_cgroup},
            {"tc_filters", tc}};
}

SessionRecord from_json(const json& j) {
    SessionRecord r;
    r.id = j.at("id");
    r.pid = j.at("pid");
    r.pid_start = j.at("pid_start");
    r.cgroup = j.at("cgroup");
    r.cgroup_id = j.at("cgroup_id");
    r.config_map_id = j.at("config_map_id");
    r.counters_map_id = j.at("counters_map_id");
    r.started_unix = j.at("started_unix");
    r.ends_unix = j.at("ends_unix");
    for (const auto& e : j.at("experiments"))
        r.experiments.push_back({e.at("id"), e.at("spec"), e.at("slot")});
    r.fq_devices = j.at("fq_devices").get<std::vector<std::string>>();
    r.netns = j.value("netns", "");
    r.netns_ino = j.at("netns_ino");
    r.created_cgroup = j.at("created_cgroup");
    if (j.contains("tc_filters"))
        for (const auto& f : j.at("tc_filters"))
            r.tc_filters.push_back({f.at("dev"), f.at("handle"), f.at("priority"), f.at("created_clsact")});
    return r;
}

} // namespace

std::string state_dir() {
    if (const char* d = getenv("FAULTLINE_STATE_DIR"); d && *d)
        return d;
    return "/run/faultline";
}

void write_record(const SessionRecord& r) {
    std::string dir = state_dir();
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw_errno("create " + dir, errno);
    std::string tmp = fmt::format("{}/.{}.tmp", dir, r.id);
    {
        std::ofstream out(tmp);
        out << to_json(r).dump(2) << "\n";
        if (!out)
            throw_errno("write " + tmp, errno);
    }
    if (rename(tmp.c_str(), fmt::format("{}/{}.json", dir, r.id).c_str()))
        throw_errno("publish session record", errno);
}

void remove_record(const std::string& id) {
    unlink(fmt::format("{}/{}.json", state_dir(), id).c_str());
}

std::vector<SessionRecord> list_records() {
    std::vector<SessionRecord> out;
    DIR* d = opendir(state_dir().c_str());
    if (!d)
        return out;
    while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name.size() < 6 || name[0] == '.' || name.substr(name.size() - 5) != ".json")
            continue;
        try {
            std::ifstream in(state_dir() + "/" + name);
            out.push_back(from_json(json::parse(in)));
        } catch (const std::exception&) {
            // A half-written or foreign file: not ours to interpret.
        }
    }
    closedir(d);
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.started_unix < b.started_unix; });
    return out;
}

uint64_t process_start_time(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string s;
    std::getline(in, s);
    auto rp = s.rfind(')');
    if (rp == std::string::npos)
        return 0;
    std::istringstream rest(s.substr(rp + 2));
    std::string field;
    // fields after comm: state(3) ... starttime is field 22 overall
    for (int i = 3; i <= 22; i++) {
        if (!(rest >> field))
            return 0;
    }
    return std::stoull(field);
}

bool record_alive(const SessionRecord& r) {
    if (r.pid <= 0 || (kill(r.pid, 0) != 0 && errno == ESRCH))
        return false;
    return process_start_time(r.pid) == r.pid_start;
}

std::vector<std::string> reap_stale_sessions() {
    std::vector<std::string> cleaned;
    for (const auto& r : list_records()) {
        if (record_alive(r))
            continue;
        // The programs went with the process (links die with their fds);
        // what can survive it are qdiscs, clsact filters (kernels without
        // tcx; inert, as nothing tells them to rewrite, but removed) and
        // the exec cgroup. Only in the very namespace it used (a path can
        // be reused).
        if (r.netns_ino && r.netns_ino == netns_ino(r.netns)) {
            for (const auto& dev : r.fq_devices) {
                try {
                    remove_root_fq(dev, r.netns);
                } catch (const Error&) {
                }
            }
            for (const auto& f : r.tc_filters) {
                try {
                    bpf::remove_tc_filter({.dev = f.dev,
                                           .netns = r.netns,
                                           .handle = f.handle,
                                           .priority = f.priority,
                                           .created_clsact = f.created_clsact});
                } catch (const Error&) {
                }
            }
        }
        if (!r.created_cgroup.empty())
            remove_cgroup(r.created_cgroup);
        remove_record(r.id);
        cleaned.push_back(r.id);
    }
    return cleaned;
}

std::string new_session_id() {
    std::random_device rd;
    return fmt::format("{:08x}", rd());
}

} // namespace faultline
