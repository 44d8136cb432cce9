// SPDX-License-Identifier: Apache-2.0
// The soak (issue 12): one `faultline run` for FL_SOAK_SECONDS that cycles
// 1 -> 5 % ramps over every fault the kernel supports (a new session, so a
// new BPF object, every step), against steady TCP connects, DNS, UDP, file
// opens and allocations in the target, with a Prometheus scraper and a slow
// client on its metrics endpoint. It must hold:
//  - faultline's RSS and open descriptors stay flat (within 5 %, and 1 fd,
//    of their level after the first step);
//  - its BPF maps stay bounded (never more than two sessions' worth);
//  - every ramp window's injections pass the binomial check at its rate;
//  - every scrape is answered (the slow client holds up no one);
//  - the kernel log gets no WARNING, BUG, soft lockup or RCU stall.
// Not in the test command (it skips without FL_SOAK_SECONDS): tools/soak.sh
// runs it here or in a VM, and prints the figures.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <netinet/in.h>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>

#include "../support/integration.hpp"
#include "../support/lab.hpp"
#include "../support/require.hpp"
#include "../support/stats.hpp"
#include "faultline/cgroup.hpp"

using namespace faultline;
using namespace faultline::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

long rss_kb(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmRSS:", 0) == 0)
            return std::atol(line.c_str() + 6);
    return -1;
}

long fd_count(pid_t pid) {
    DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
    if (!d)
        return -1;
    long n = 0;
    while (dirent* e = readdir(d))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

// One GET /metrics on 127.0.0.1:port within 5 s; true if a 200 came back.
bool scrape(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        std::string req = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n", out;
        if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
            char buf[4096];
            auto end = Clock::now() + 5s;
            while (Clock::now() < end) {
                pollfd p{fd, POLLIN, 0};
                if (poll(&p, 1, 100) != 1)
                    continue;
                ssize_t n = recv(fd, buf, sizeof buf, 0);
                if (n <= 0)
                    break;
                out.append(buf, static_cast<size_t>(n));
            }
        }
        ok = out.rfind("HTTP/1.", 0) == 0 && out.find(" 200 ") == 8;
    }
    close(fd);
    return ok;
}

// Still running (not reaped here: Proc::wait reaps it).
bool running(pid_t pid) {
    siginfo_t info{};
    return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

long median(std::vector<long> v) {
    if (v.empty())
        return -1;
    std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
    return v[v.size() / 2];
}

// The kernel log's records after sequence number `after` (all: -1), from
// /dev/kmsg ("PRIO,SEQ,TS,FLAGS;MESSAGE"); *last gets the newest sequence
// number. Throws if the log cannot be read: a soak that cannot look must
// not pass.
std::vector<std::string> kernel_log(long long after, long long* last) {
    int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        throw std::runtime_error(std::string("cannot read the kernel log: /dev/kmsg: ") + strerror(errno));
    std::vector<std::string> out;
    char buf[8192];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n < 0 && errno == EPIPE)
            continue; // records overwritten while reading: go on with the next
        if (n <= 0)
            break;
        buf[n] = 0;
        long long seq = 0;
        if (sscanf(buf, "%*d,%lld,", &seq) != 1)
            continue;
        *last = seq;
        if (seq > after)
            if (const char* m = strchr(buf, ';'))
                out.emplace_back(m + 1, strcspn(m + 1, "\n"));
    }
    close(fd);
    return out;
}

// The lines that say the kernel went wrong.
std::vector<std::string> kernel_trouble(const std::vector<std::string>& log) {
    std::vector<std::string> bad;
    for (const auto& line : log)
        for (const char* w : {"WARNING:", "BUG:", "soft lockup", "detected stall", "rcu: INFO", "Call Trace",
                              "general protection", "Oops"})
            if (line.find(w) != std::string::npos) {
                bad.push_back(line);
                break;
            }
    return bad;
}

struct Window {
    std::string fault;
    double percent;
    uint64_t matched, injected;
};

// The ramp windows of a run's journal: each "percent" event closes the
// window before it with the counters snapshot taken just before it (the
// runner snapshots before it changes the percentage), and a step's last
// counters close its last window.
std::vector<Window> windows(const std::string& journal) {
    std::vector<Window> out;
    std::ifstream in(journal);
    bool open = false;
    Window cur{};
    uint64_t m = 0, i = 0, m0 = 0, i0 = 0;
    auto close_window = [&] {
        if (open)
            out.push_back({cur.fault, cur.percent, m - m0, i - i0});
        open = false;
        m0 = m;
        i0 = i;
    };
    for (std::string line; std::getline(in, line);) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded())
            continue;
        const std::string ev = j.value("event", "");
        if (ev == "step" || ev == "finish" || ev == "abort") {
            close_window();
            m = i = m0 = i0 = 0;
        } else if (ev == "counters" && !j["experiments"].empty()) {
            m = j["experiments"].back()["matched"].get<uint64_t>();
            i = j["experiments"].back()["injected"].get<uint64_t>();
        } else if (ev == "percent") {
            close_window();
            cur.fault = j.value("fault", "");
            cur.percent = j["percent"].get<double>();
            open = true;
        }
    }
    return out;
}

class Soak : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0)
            GTEST_SKIP() << "needs root (network namespaces, cgroups, BPF)";
        seconds_ = env_long("FL_SOAK_SECONDS", 0);
        if (seconds_ <= 0)
            GTEST_SKIP() << "a long run, not part of the test command: tools/soak.sh [SECONDS] (FL_SOAK_SECONDS)";
        before_ = faultline_objects();
        tag_ = std::to_string(getpid());
        target_ = std::make_unique<ScratchCgroup>(cgroup2_mount(), "faultline-it-target-" + tag_);
    }
    void TearDown() override {
        target_.reset();
        lab_.reset();
        for (const auto& f : files_)
            std::remove(f.c_str());
        if (geteuid() == 0 && seconds_ > 0)
            EXPECT_EQ(new_leftovers(before_), "") << "left behind";
    }
    std::string file(const std::string& name) {
        files_.push_back("/tmp/faultline-it-soak-" + tag_ + "-" + name);
        return files_.back();
    }

    long seconds_ = 0;
    std::string tag_;
    std::set<std::string> before_;
    std::unique_ptr<ScratchCgroup> target_;
    std::unique_ptr<NetLab> lab_;
    std::vector<std::string> files_;
};

} // namespace

TEST_F(Soak, RampsOverEveryFaultKeepFaultlineFlatAndEachWindowAtItsRate) {
    const bool vm = getenv("FL_VM") != nullptr;
    lab_ = std::make_unique<NetLab>();
    ASSERT_TRUE(lab_->ok());
    const long step_s = env_long("FL_SOAK_STEP_SECONDS", 30);
    const std::string path = file("open");
    std::ofstream(path) << "x";

    // One ramp per fault the kernel has, in turn, until the time is up.
    std::vector<std::string> faults;
    for (const std::string& f :
         {std::string("net.connect=ECONNREFUSED,cidr=198.18.0.2/32,port=9"),
          std::string("dns.nxdomain,domain=*.svc.test"), std::string("dns.drop,domain=*.svc.test"),
          std::string("net.drop,proto=udp,port=9000"), std::string("net.delay=2ms,proto=udp,port=9000"),
          std::string("disk.eio,op=open,path=" + path), std::string("mem.enomem,min=1MiB")})
        if (support(f.substr(0, f.find_first_of("=,"))).available)
            faults.push_back(f);
    ASSERT_FALSE(faults.empty());
    const long steps = std::max(1L, seconds_ / step_s);
    const std::string yaml = file("soak.yaml"), journal = file("journal.jsonl");
    {
        std::ofstream y(yaml);
        y << "title: soak\ntarget: {cgroup: " << target_->path() << "}\nnetns: " << lab_->a << "\nsteps:\n";
        for (long s = 0; s < steps; s++)
            y << "  - name: soak " << s << "\n    ramp: {fault: '" << faults[static_cast<size_t>(s) % faults.size()]
              << "', from: 1%, to: 5%, steps: 5, over: " << step_s << "s}\n";
    }
    std::cout << "soak: " << seconds_ << " s, " << steps << " ramp steps of " << step_s << " s over " << faults.size()
              << " faults\n";

    // The target's load, for the whole run (SIGTERM ends it).
    const long load_ms = (seconds_ + 300) * 1000;
    auto server = std::make_unique<Proc>(
        lab_->in(lab_->b, {"dnsmasq", "-k", "--log-facility=/dev/null", "--no-resolv", "--no-hosts",
                           "--bind-interfaces", "--listen-address=198.18.0.2", "--address=/svc.test/198.51.100.7",
                           "--pid-file=", "--user=root", "--group=root", "--cache-size=0"}),
        "", true);
    auto receiver = std::make_unique<Proc>(
        lab_->in(lab_->b, {traffic, "udp-recv", "9000", "3000", std::to_string(load_ms + 5000)}));
    ASSERT_TRUE(receiver->wait_for("ready", 5s));
    std::vector<std::unique_ptr<Proc>> load;
    auto in_target = [&](std::vector<std::string> argv) {
        load.push_back(std::make_unique<Proc>(argv, target_->path(), true));
    };
    const long pps = vm ? 100 : 300;
    in_target(lab_->in(lab_->a, {traffic, "connect-for", "198.18.0.2", "9", std::to_string(load_ms), "200"}));
    in_target(lab_->in(lab_->a, {traffic, "udp-send", "198.18.0.2", "9000", std::to_string(pps * load_ms / 1000), "1",
                                 std::to_string(pps)}));
    in_target({"env", "FL_FILEIO_FOR_MS=" + std::to_string(load_ms), "FL_FILEIO_GAP_US=2000", fileio, "open",
               "1000000000", path});
    in_target({traffic, "mmap-for", std::to_string(load_ms), std::to_string(2 << 20), "2000"});

    long long klog_seq = -1;
    kernel_log(-1, &klog_seq);
    // A marker the check must find: the log is read, not just opened.
    const std::string marker = "faultline-soak-" + tag_ + " begins";
    std::ofstream("/dev/kmsg") << marker << "\n";
    const int port = 19000 + static_cast<int>(getpid() % 1000);
    Proc run({fl, "run", "--journal", journal, "--metrics", "127.0.0.1:" + std::to_string(port), yaml}, "", true);
    ASSERT_TRUE(run.wait_for("soak 0", 60s)) << run.out();

    // Beside it: a scraper every second, a client that sends a byte every
    // 1.5 s and never ends its request, and a sampler every 5 s.
    std::atomic<bool> done{false};
    std::atomic<long> scrapes{0}, scrapes_failed{0};
    // DNS: one flood a minute (a flood's ids are 16 bits), one after another.
    std::atomic<pid_t> flood_pid{0};
    std::thread dns([&] {
        while (!done) {
            Proc p(lab_->in(lab_->a, {traffic, "dns-flood", "198.18.0.2", "53", std::to_string(pps * 60),
                                      std::to_string(pps), "q.svc.test", "2000"}),
                   target_->path(), true);
            flood_pid = p.pid();
            p.wait(std::chrono::seconds(300));
            flood_pid = 0;
        }
    });
    std::thread scraper([&] {
        while (!done) {
            scrapes++;
            scrapes_failed += !scrape(port);
            std::this_thread::sleep_for(1s);
        }
    });
    std::thread slow([&] {
        while (!done) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(static_cast<uint16_t>(port));
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0)
                for (const char* c = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX: aaaaaaaaaaaaaaaaaaaa"; *c && !done;
                     c++) {
                    if (send(fd, c, 1, MSG_NOSIGNAL) != 1)
                        break; // cut by the server's deadline: again
                    std::this_thread::sleep_for(1500ms);
                }
            close(fd);
            std::this_thread::sleep_for(100ms);
        }
    });
    struct Sample {
        long t_s, rss_kb, fds, maps;
    };
    std::vector<Sample> samples;
    const auto t0 = Clock::now();
    while (running(run.pid()) && Clock::now() - t0 < std::chrono::seconds(seconds_ + steps * 30 + 120)) {
        long r = rss_kb(run.pid()), f = fd_count(run.pid());
        long maps = std::atol(sh("bpftool map list 2>/dev/null | grep -c ' name fl_'").out.c_str());
        if (r > 0 && f > 0)
            samples.push_back(
                {std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t0).count(), r, f, maps});
        for (int i = 0; i < 50 && running(run.pid()); i++)
            std::this_thread::sleep_for(100ms);
    }
    const int status = run.wait(120s);
    done = true;
    kill(flood_pid, SIGTERM);
    dns.join();
    scraper.join();
    slow.join();
    for (auto& p : load) {
        kill(p->pid(), SIGTERM);
        p->wait(60s);
    }
    receiver.reset();
    server.reset();
    EXPECT_EQ(status, 0) << run.out().substr(run.out().size() > 4000 ? run.out().size() - 4000 : 0);

    // Flat: the level after the first step against the last tenth of the run.
    ASSERT_GE(samples.size(), 10u) << "too few samples";
    std::vector<long> rss_base, rss_end, fd_base, fd_end;
    long maps_max = 0;
    std::vector<long> maps_all;
    for (const auto& s : samples) {
        if (s.t_s >= step_s && s.t_s < step_s + std::max(60L, seconds_ / 10)) {
            rss_base.push_back(s.rss_kb);
            fd_base.push_back(s.fds);
        }
        if (s.t_s >= samples.back().t_s - std::max(60L, seconds_ / 10)) {
            rss_end.push_back(s.rss_kb);
            fd_end.push_back(s.fds);
        }
        maps_max = std::max(maps_max, s.maps);
        maps_all.push_back(s.maps);
    }
    const long rb = median(rss_base), re = median(rss_end), fb = median(fd_base), fe = median(fd_end);
    long rss_min = 1L << 40, rss_max = 0;
    for (const auto& s : samples) {
        rss_min = std::min(rss_min, s.rss_kb);
        rss_max = std::max(rss_max, s.rss_kb);
    }
    // The curves, at twelve points of the run (the note and README quote them).
    for (size_t k = 0; k < 12; k++) {
        const auto& s = samples[k * (samples.size() - 1) / 11];
        std::cout << "soak: curve t=" << s.t_s << " s rss=" << s.rss_kb << " kB fds=" << s.fds << " maps=" << s.maps
                  << "\n";
    }
    std::cout << "soak: " << samples.size() << " samples; RSS kB after step 1 " << rb << ", at the end " << re
              << " (min " << rss_min << ", max " << rss_max << "); fds " << fb << " -> " << fe
              << "; fl_ maps: typically " << median(maps_all) << ", at most " << maps_max << "\n";
    EXPECT_LE(std::abs(re - rb), rb / 20) << "RSS grew or shrank by more than 5 %";
    EXPECT_LE(std::abs(fe - fb), std::max(1L, fb / 20)) << "open descriptors changed";
    // A step's session and the next one's overlap for a moment.
    EXPECT_LE(maps_max, 2 * median(maps_all)) << "more BPF maps than two sessions' worth";

    // Every window at its rate.
    auto ws = windows(journal);
    uint64_t matched = 0, injected = 0, empty = 0;
    for (const auto& w : ws) {
        matched += w.matched;
        injected += w.injected;
        empty += w.matched == 0;
        if (w.matched > 0) {
            SCOPED_TRACE(w.fault + " at " + std::to_string(w.percent) + "%");
            expect_binomial(w.injected, w.matched, w.percent / 100);
        }
    }
    std::cout << "soak: " << ws.size() << " ramp windows (" << empty << " without events), " << matched
              << " events matched, " << injected << " injected\n";
    EXPECT_GE(ws.size(), static_cast<size_t>(steps * 5 - 5)) << "the journal lacks windows";
    EXPECT_LT(empty, ws.size() / 4 + 1) << "too many windows saw no event";

    // The metrics endpoint served everyone throughout.
    std::cout << "soak: " << scrapes << " scrapes, " << scrapes_failed << " failed\n";
    EXPECT_GT(scrapes, seconds_ / 2);
    EXPECT_EQ(scrapes_failed, 0) << "a scrape went unanswered";

    // The kernel log: nothing new that says the kernel went wrong.
    long long ignored = 0;
    auto klog = kernel_log(klog_seq, &ignored);
    EXPECT_NE(std::find(klog.begin(), klog.end(), marker), klog.end()) << "the kernel log was not read";
    auto trouble = kernel_trouble(klog);
    std::cout << "soak: kernel log: " << klog.size() << " new records, " << trouble.size()
              << " WARNING/BUG/lockup/stall lines\n";
    for (const auto& t : trouble)
        ADD_FAILURE() << "kernel log: " << t;
}
