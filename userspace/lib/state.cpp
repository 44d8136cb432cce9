// SPDX-License-Identifier: Apache-2.0
#include "faultline/state.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "faultline/bpf.hpp"
#include "faultline/cgroup.hpp"
#include "faultline/crashpoint.hpp"
#include "faultline/error.hpp"
#include "faultline/json_number.hpp"
#include "faultline/qdisc.hpp"
#include "faultline/sentinel.hpp"

namespace faultline {
namespace {

using nlohmann::json;

constexpr off_t max_record_size = 64 * 1024;

json to_json(const SessionRecord& r) {
    json ex = json::array();
    for (const auto& e : r.experiments)
        ex.push_back({{"id", e.id}, {"spec", e.spec}, {"slot", e.slot}});
    json tc = json::array();
    for (const auto& f : r.tc_filters)
        tc.push_back({{"dev", f.dev},
                      {"handle", f.handle},
                      {"priority", f.priority},
                      {"created_clsact", f.created_clsact},
                      {"prog_id", f.prog_id}});
    return {{"id", r.id},
            {"pid", r.pid},
            {"pid_start", r.pid_start},
            {"cgroup", r.cgroup},
            {"cgroup_id", r.cgroup_id},
            {"config_map_id", r.config_map_id},
            {"counters_map_id", r.counters_map_id},
            {"stopped_map_id", r.stopped_map_id},
            {"started_unix", r.started_unix},
            {"ends_unix", r.ends_unix},
            {"experiments", ex},
            {"fq_devices", r.fq_devices},
            {"netns", r.netns},
            {"netns_ino", r.netns_ino},
            {"created_cgroup", r.created_cgroup},
            {"created_cgroup_ino", r.created_cgroup_ino},
            {"tc_filters", tc}};
}

bool valid_id(const std::string& id) {
    return id.size() == 8 &&
           std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A device name as the kernel allows it (IFNAMSIZ, no '/', no space).
bool valid_ifname(const std::string& d) {
    return !d.empty() && d.size() < 16 && d != "." && d != ".." &&
           std::none_of(d.begin(), d.end(), [](char c) { return c == '/' || c == ' ' || c == ':' || c < 33; });
}

// Types are checked by nlohmann's get<> (throws on a mismatch), integers
// by json_integer (a float or a value out of range is refused).
SessionRecord from_json(const json& j) {
    SessionRecord r;
    r.id = j.at("id").get<std::string>();
    if (!valid_id(r.id))
        throw std::runtime_error("bad id");
    r.pid = json_integer<pid_t>(j.at("pid"), "pid");
    r.pid_start = json_integer<uint64_t>(j.at("pid_start"), "pid_start");
    r.cgroup = j.at("cgroup").get<std::string>();
    r.cgroup_id = json_integer<uint64_t>(j.at("cgroup_id"), "cgroup_id");
    r.config_map_id = json_integer<uint32_t>(j.at("config_map_id"), "config_map_id");
    r.counters_map_id = json_integer<uint32_t>(j.at("counters_map_id"), "counters_map_id");
    r.stopped_map_id =
        json_integer<uint32_t>(j, "stopped_map_id", uint32_t{0}); // absent in records of older builds: no stop flag
    r.started_unix = json_integer<int64_t>(j.at("started_unix"), "started_unix");
    r.ends_unix = json_integer<int64_t>(j.at("ends_unix"), "ends_unix");
    for (const auto& e : j.at("experiments"))
        r.experiments.push_back({e.at("id").get<std::string>(), e.at("spec").get<std::string>(),
                                 json_integer<uint32_t>(e.at("slot"), "slot")});
    r.fq_devices = j.at("fq_devices").get<std::vector<std::string>>();
    r.netns = j.value("netns", "");
    r.netns_ino = json_integer<uint64_t>(j.at("netns_ino"), "netns_ino");
    r.created_cgroup = j.at("created_cgroup").get<std::string>();
    r.created_cgroup_ino = json_integer<uint64_t>(j, "created_cgroup_ino", uint64_t{0});
    if (j.contains("tc_filters"))
        for (const auto& f : j.at("tc_filters"))
            r.tc_filters.push_back({f.at("dev").get<std::string>(), json_integer<uint32_t>(f.at("handle"), "handle"),
                                    json_integer<uint32_t>(f.at("priority"), "priority"),
                                    f.at("created_clsact").get<bool>(),
                                    json_integer<uint32_t>(f, "prog_id", uint32_t{0})});
    if (r.pid <= 0 || r.experiments.size() > FL_MAX_PER_TARGET)
        throw std::runtime_error("bad pid or experiments");
    for (const auto& e : r.experiments)
        if (e.slot >= FL_MAX_PER_TARGET)
            throw std::runtime_error("bad slot");
    for (const auto& d : r.fq_devices)
        if (!valid_ifname(d))
            throw std::runtime_error("bad device");
    for (const auto& f : r.tc_filters)
        if (!valid_ifname(f.dev))
            throw std::runtime_error("bad device");
    if (!r.netns.empty() && r.netns.rfind("/run/netns/", 0) != 0 && r.netns.rfind("/proc/", 0) != 0)
        throw std::runtime_error("bad netns");
    return r;
}

std::string record_path(const std::string& dir, const std::string& id) {
    return fmt::format("{}/{}.json", dir, id);
}

// Reads a record without following a symlink or blocking on a FIFO, and
// only if it is a regular file of root's, closed to others, of sane size.
std::optional<SessionRecord> read_record(int dirfd, const std::string& name, std::string* why) {
    int fd = openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        *why = fmt::format("cannot open: {}", strerror(e));
        errno = e; // ENOENT: gone since the caller listed it
        return std::nullopt;
    }
    struct stat st {};
    std::string text;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077) != 0 ||
        st.st_size > max_record_size) {
        *why = "not a regular file of root's, mode 0600, of at most 64 KiB";
        close(fd);
        return std::nullopt;
    }
    text.resize(static_cast<size_t>(st.st_size));
    ssize_t n = read(fd, text.data(), text.size());
    close(fd);
    if (n != st.st_size) {
        *why = "short read";
        return std::nullopt;
    }
    try {
        SessionRecord r = parse_record(text);
        if (name != r.id + ".json") {
            *why = "its id is not its name";
            return std::nullopt;
        }
        return r;
    } catch (const std::exception& e) {
        *why = fmt::format("not a faultline record ({})", e.what());
        return std::nullopt;
    }
}

// The cgroup a record may remove: faultline-KIND-PID (PID the record's),
// inside the v2 hierarchy, not a symlink, and the recorded inode if known.
bool removable_cgroup(const SessionRecord& r, std::string* why) {
    static const std::regex name("faultline-(exec|run|demo|probe)-([0-9]+)");
    const std::string& p = r.created_cgroup;
    std::string root = cgroup2_mount();
    std::smatch m;
    std::string base = p.substr(p.rfind('/') + 1);
    if (p.rfind(root + "/", 0) != 0 || p.find("/../") != std::string::npos || p.find("/./") != std::string::npos ||
        !std::regex_match(base, m, name) || m[2] != std::to_string(r.pid)) {
        *why = fmt::format("{} is not a faultline cgroup of pid {}", p, r.pid);
        return false;
    }
    struct stat st {};
    if (lstat(p.c_str(), &st) != 0)
        return false; // gone already: nothing to do
    if (!S_ISDIR(st.st_mode) || (r.created_cgroup_ino && st.st_ino != r.created_cgroup_ino)) {
        *why = fmt::format("{} is not the cgroup the record made (inode {})", p, r.created_cgroup_ino);
        return false;
    }
    return true;
}

} // namespace

SessionRecord parse_record(std::string_view text) {
    return from_json(json::parse(text));
}

std::string record_text(const SessionRecord& r) {
    return to_json(r).dump(2) + "\n";
}

std::string state_dir() {
    static const std::string dir = "/run/faultline";
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw_errno("create " + dir, errno);
    struct stat st {};
    if (lstat(dir.c_str(), &st) != 0)
        throw_errno("stat " + dir, errno);
    if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0)
        throw Error(ErrorKind::system, fmt::format("{} is not a directory owned by root that only root can write", dir),
                    fmt::format("faultline keeps its session records there; remove it (rm -r {}) or fix its owner "
                                "and mode (chown root: {}; chmod 0700 {})",
                                dir, dir, dir));
    return dir;
}

void write_record(const SessionRecord& r) {
    if (!valid_id(r.id))
        throw Error(ErrorKind::system, fmt::format("bad session id '{}'", r.id));
    std::string dir = state_dir();
    // The writer's pid is in the name: its sentinel, or gc, removes the
    // file of a writer killed between open and rename.
    std::string tmp = fmt::format("{}/.{}.{}.tmp", dir, r.id, getpid());
    std::string text = record_text(r);
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        throw_errno("write " + tmp, errno);
    ssize_t n = write(fd, text.data(), text.size());
    int err = errno;
    if (close(fd) != 0 && n >= 0)
        err = errno, n = -1;
    if (n != static_cast<ssize_t>(text.size())) {
        unlink(tmp.c_str());
        throw_errno("write " + tmp, n < 0 ? err : ENOSPC);
    }
    if (rename(tmp.c_str(), record_path(dir, r.id).c_str())) {
        err = errno;
        unlink(tmp.c_str());
        throw_errno("publish session record", err);
    }
}

void remove_record(const std::string& id) {
    if (valid_id(id))
        unlink(record_path(state_dir(), id).c_str());
}

std::vector<SessionRecord> list_records(std::vector<std::string>* rejected) {
    std::vector<SessionRecord> out;
    std::string dir;
    try {
        dir = state_dir();
    } catch (const Error&) {
        return out;
    }
    DIR* d = opendir(dir.c_str());
    if (!d)
        return out;
    while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name.size() < 6 || name[0] == '.' || name.substr(name.size() - 5) != ".json")
            continue;
        std::string why;
        errno = 0;
        if (auto r = read_record(dirfd(d), name, &why))
            out.push_back(std::move(*r));
        else if (errno == ENOENT)
            continue; // its session ended between the listing and the read: nothing to say
        else if (rejected)
            rejected->push_back(fmt::format("{}/{}: {}", dir, name, why));
    }
    closedir(d);
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.started_unix < b.started_unix; });
    return out;
}

std::optional<SessionRecord> find_record(const std::string& id) {
    if (!valid_id(id))
        return std::nullopt;
    int dfd = open(state_dir().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return std::nullopt;
    std::string why;
    auto r = read_record(dfd, id + ".json", &why);
    close(dfd);
    return r;
}

uint64_t process_start_time(pid_t pid) {
    auto st = proc_stat(pid);
    return st ? st->starttime : 0;
}

bool process_alive(pid_t pid, uint64_t start_time) {
    auto st = pid > 0 ? proc_stat(pid) : std::nullopt;
    // A zombie has closed its files: its links and pipes are gone.
    return st && st->starttime == start_time && st->state != 'Z' && st->state != 'X';
}

bool record_alive(const SessionRecord& r) {
    return process_alive(r.pid, r.pid_start);
}

// The lock is flock on the state directory itself (no lock file to leave
// behind). flock locks belong to an open file: one per process, taken once
// however deeply StateLocks nest (a reaper that calls another reaper).
static int g_lock_fd = -1;
static int g_lock_depth = 0;

StateLock::StateLock() {
    if (g_lock_depth > 0 && g_lock_fd >= 0) {
        g_lock_depth++;
        fd_ = g_lock_fd;
        return;
    }
    std::string path = state_dir();
    int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        throw_errno("open " + path, errno);
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int err = errno;
            close(fd);
            throw_errno("lock " + path, err);
        }
    }
    fd_ = g_lock_fd = fd;
    g_lock_depth = 1;
}

StateLock::~StateLock() {
    if (--g_lock_depth == 0) {
        close(g_lock_fd); // releases the lock
        g_lock_fd = -1;
    }
}

bool fq_in_use_by_others(const std::string& dev, uint64_t netns_ino, const std::string& except_id) {
    for (const auto& o : list_records()) {
        if (o.id == except_id || o.netns_ino != netns_ino || !record_alive(o))
            continue;
        if (std::find(o.fq_devices.begin(), o.fq_devices.end(), dev) != o.fq_devices.end())
            return true;
    }
    return false;
}

std::vector<std::string> reap_record(const SessionRecord& r) {
    std::vector<std::string> done;
    // The programs went with the process (links die with their fds); what
    // can survive it are fq qdiscs, clsact filters (kernels without tcx;
    // inert, as nothing tells them to rewrite, but removed) and cgroups.
    // Only in the very namespace it used (a path can be reused).
    if (r.netns_ino && r.netns_ino == netns_ino(r.netns)) {
        for (const auto& dev : r.fq_devices) {
            if (fq_in_use_by_others(dev, r.netns_ino, r.id))
                continue;
            try {
                if (remove_root_fq(dev, r.netns))
                    done.push_back(fmt::format("fq qdisc on {}{}", dev, r.netns.empty() ? "" : " in " + r.netns));
            } catch (const Error&) {
            }
        }
        for (const auto& f : r.tc_filters) {
            try {
                bpf::remove_tc_filter({.dev = f.dev,
                                       .netns = r.netns,
                                       .handle = f.handle,
                                       .priority = f.priority,
                                       .created_clsact = f.created_clsact,
                                       .prog_id = f.prog_id});
                done.push_back(fmt::format("tc filter on {}{}", f.dev, r.netns.empty() ? "" : " in " + r.netns));
            } catch (const Error&) {
            }
        }
    }
    if (!r.created_cgroup.empty()) {
        std::string why;
        if (removable_cgroup(r, &why)) {
            if (remove_cgroup(r.created_cgroup))
                done.push_back("cgroup " + r.created_cgroup + " and its processes");
            else
                return done; // keep the record: the next reaper tries again
        }
    }
    remove_record(r.id);
    done.push_back("record " + r.id);
    return done;
}

std::vector<std::string> reap_stale_sessions() {
    std::vector<std::string> done;
    StateLock lock;
    for (const auto& r : list_records()) {
        if (record_alive(r))
            continue;
        for (auto& d : reap_record(r))
            done.push_back(std::move(d));
    }
    // Temporary files of writers that died between open and rename. A
    // zombie is dead too: a sentinel reaps as soon as its loader is one,
    // before the loader's parent has waited for it (kill(pid, 0) would
    // still find it, and the file would stay behind).
    std::string dir = state_dir();
    if (DIR* d = opendir(dir.c_str())) {
        static const std::regex tmp(R"(\.[0-9a-f]{8}\.([0-9]+)\.tmp)");
        while (dirent* e = readdir(d)) {
            std::smatch m;
            std::string name = e->d_name;
            if (!std::regex_match(name, m, tmp))
                continue;
            auto st = proc_stat(std::stoi(m[1]));
            if (!st || st->state == 'Z' || st->state == 'X') {
                unlinkat(dirfd(d), name.c_str(), 0);
                done.push_back(dir + "/" + name);
            }
        }
        closedir(d);
    }
    return done;
}

std::string new_session_id() {
    std::random_device rd;
    return fmt::format("{:08x}", rd());
}

OwnedCgroup::OwnedCgroup(const std::string& parent, const std::string& kind) {
    ensure_sentinel(); // before the first side effect
    std::string name = fmt::format("faultline-{}-{}", kind, getpid());
    rec_.id = new_session_id();
    rec_.pid = getpid();
    rec_.pid_start = process_start_time(rec_.pid);
    rec_.started_unix = time(nullptr);
    std::string p = parent;
    while (p.size() > 1 && p.back() == '/')
        p.pop_back();
    rec_.created_cgroup = p + "/" + name;
    write_record(rec_); // the intent, before mkdir
    crashpoint("cgroup-recorded");
    try {
        cg_.emplace(p, name);
    } catch (...) {
        remove_record(rec_.id);
        throw;
    }
    crashpoint("cgroup-made");
    rec_.created_cgroup = cg_->path();
    rec_.created_cgroup_ino = cg_->ref().id;
    write_record(rec_);
}

OwnedCgroup::~OwnedCgroup() {
    std::string path = cg_->path();
    cg_.reset(); // kills what is left in it, then rmdir
    crashpoint("cgroup-removed");
    if (access(path.c_str(), F_OK) != 0)
        try {
            remove_record(rec_.id);
        } catch (...) {
        }
}

} // namespace faultline
