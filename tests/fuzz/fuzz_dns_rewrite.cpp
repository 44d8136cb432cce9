// SPDX-License-Identifier: Apache-2.0
// The BPF DNS error-answer path (dns.nxdomain) on fuzzed exchanges, through
// BPF_PROG_TEST_RUN: the cgroup_skb egress program picks the target's
// query, the tc ingress program rewrites its answer. Structure-aware: the
// input is a recipe (IPv4 or IPv6, UDP or TCP, the query's name, id and
// type, then edits of the answer message: bytes overwritten, cut, grown,
// the name's case mixed), so that what libFuzzer mutates is always a
// packet the kernel's parser would see on the wire.
//
// Checked against a plain C++ reference of what the rewrite promises:
//  - the query is picked iff its name is strictly under svc.test (case
//    aside);
//  - the answer is rewritten iff it answers that query (QR, opcode QUERY,
//    its id and ports, one question: the same name, case aside, and type), it was
//    delivered to a socket the target queried from, it succeeded (NOERROR,
//    not truncated) and its records are absent or at least one record's
//    fixed part long;
//  - a rewritten answer keeps its length, id, question, opcode and RD, is
//    NXDOMAIN with no answer or authority records, covers what followed the
//    question with one filler record, and its L4 checksum is valid;
//  - every other packet, and every byte the rewrite does not own, is left
//    byte for byte as it was; a second copy of an answer is never rewritten.
// Needs root and a kernel with the tc ingress program (dns.nxdomain): where
// either is missing it says why and exits 79, which tools/fuzz.sh reports
// as skipped.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "../support/packet.hpp"
#include "faultline/bpf.hpp"
#include "faultline/cgroup.hpp"
#include "faultline/error.hpp"
#include "faultline/probe.hpp"
#include "faultline/session.hpp"
#include "faultline/spec.hpp"
#include "fuzz_common.hpp"

using namespace faultline;
using faultline::test::dns_packet;
using faultline::test::DnsMessage;
using faultline::test::PacketBuilder;

namespace {

constexpr uint32_t pass = 1;

struct World {
    std::string home;
    std::unique_ptr<ScratchCgroup> target;
    std::unique_ptr<bpf::Object> obj;
    int receivers[2][2] = {{-1, -1}, {-1, -1}}; // [v6][tcp]
    int sk_map = -1, pending_map = -1;
};
World* w = nullptr;
// What the inputs exercised, printed at exit: both sides of each decision.
uint64_t n_inputs = 0, n_picked = 0, n_answers = 0, n_rewritten = 0;

[[noreturn]] void skip(const std::string& why) {
    fprintf(stderr, "fuzz_dns_rewrite: SKIPPED: %s\n", why.c_str());
    exit(79); // not libFuzzer's own codes (77: a finding, 70: a timeout)
}

void leave() {
    if (!w)
        return;
    fprintf(stderr, "fuzz_dns_rewrite: %llu inputs: %llu queries picked, %llu answers to them, %llu rewritten\n",
            static_cast<unsigned long long>(n_inputs), static_cast<unsigned long long>(n_picked),
            static_cast<unsigned long long>(n_answers), static_cast<unsigned long long>(n_rewritten));
    cgroup_move(w->home, getpid());
    for (auto& r : w->receivers)
        for (int fd : r)
            if (fd >= 0)
                close(fd);
    w->obj.reset();
    w->target.reset();
}

// The client's sockets (v4/v6 x UDP/TCP) the answers are delivered to.
int receiver(bool v6, bool tcp) {
    int fd = faultline::test::dns_client_socket(v6, tcp);
    if (fd < 0)
        skip(std::string("cannot bind the client's socket: ") + strerror(errno));
    return fd;
}

void mark(bool on) {
    const uint64_t cg = on ? w->target->ref().id : 0;
    for (auto& r : w->receivers)
        for (int fd : r)
            fuzz::check(bpf_map_update_elem(w->sk_map, &fd, &cg, BPF_ANY) == 0, "mark a receiving socket");
}

// Every pending exchange forgotten: each input starts from none.
void forget_pending() {
    std::vector<uint8_t> next(sizeof(fl_dns_flow));
    while (bpf_map_get_next_key(w->pending_map, nullptr, next.data()) == 0)
        bpf_map_delete_elem(w->pending_map, next.data());
}

size_t pending_count() {
    std::vector<uint8_t> key(sizeof(fl_dns_flow)), next(sizeof(fl_dns_flow));
    size_t n = 0;
    for (void* k = nullptr; bpf_map_get_next_key(w->pending_map, k, next.data()) == 0; k = key.data()) {
        key = next;
        n++;
    }
    return n;
}

// The recipe's bytes, read front to back; zeros once used up.
struct Reader {
    const uint8_t* p;
    size_t n;
    uint8_t byte() {
        if (!n)
            return 0;
        n--;
        return *p++;
    }
    uint16_t u16() { return static_cast<uint16_t>(byte() << 8 | byte()); }
};

uint8_t fold(uint8_t c) {
    return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + 'a' - 'A') : c;
}

// Is the wire-format name `q` (labels, root byte) strictly under svc.test?
bool picked_by_domain(const std::vector<uint8_t>& q) {
    static const uint8_t tail[] = {3, 's', 'v', 'c', 4, 't', 'e', 's', 't', 0};
    if (q.size() <= sizeof tail)
        return false;
    for (size_t i = 0; i < sizeof tail; i++)
        if (fold(q[q.size() - sizeof tail + i]) != tail[i])
            return false;
    return true;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    if (geteuid() != 0)
        skip("needs root (loads BPF programs, binds the client's sockets)");
    std::string root;
    try { // what this machine lacks (a refusal is not a finding)
        root = cgroup2_mount();
        const FaultSupport& s = probe_fault("dns.nxdomain");
        if (!s.available)
            skip("dns.nxdomain is not available on this kernel: " + s.reason);
    } catch (const Error& e) {
        skip(e.what());
    }
    w = new World;
    w->home = root + cgroup_of(getpid());
    w->target = std::make_unique<ScratchCgroup>(root, "faultline-fuzz-" + std::to_string(getpid()));
    w->obj = bpf::Object::load({bpf::Program::skb_egress, bpf::Program::skb_ingress, bpf::Program::tc_ingress});
    w->obj->set_answer_wait(3600'000'000'000ull);
    // A test run's skb belongs to a socket of the caller's cgroup: this
    // process is the target.
    cgroup_move(w->target->path(), getpid());
    atexit(leave);
    FaultSpec f = parse_fault("dns.nxdomain@100%,domain=*.svc.test");
    fl_experiment e = make_experiment(f, w->target->ref(), 1, 0);
    e.expires = w->obj->deadline_jiffies(monotonic_ns() + 30ull * 86400 * 1'000'000'000);
    w->obj->set_experiment(0, e);
    fl_index_val v{};
    v.n = 1;
    v.slots[0] = 0;
    w->obj->set_index(w->target->ref().id, FL_HOOK_EGRESS, v);
    w->obj->set_levels(1u << w->target->ref().level);
    w->sk_map = w->obj->map_fd("fl_dns_sk");
    w->pending_map = w->obj->map_fd("fl_dns_pending");
    fuzz::check(w->sk_map >= 0 && w->pending_map >= 0, "the object has no fl_dns_sk or fl_dns_pending map");
    for (bool v6 : {false, true})
        for (bool tcp : {false, true})
            w->receivers[v6][tcp] = receiver(v6, tcp);
    mark(true);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Reader in{data, size};
    const uint8_t flags = in.byte();
    const bool v6 = flags & 1, tcp = flags & 2, records = flags & 4, marked = !(flags & 8);
    const uint16_t id = in.u16();
    const uint16_t qtype = (flags & 16) ? in.u16() : 1;

    // The query's name: 1-3 labels of 1-20 bytes from a DNS alphabet, then
    // a suffix: under svc.test or not.
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    std::string name;
    for (int l = 0, labels = 1 + in.byte() % 3; l < labels; l++) {
        int len = 1 + in.byte() % 20;
        for (int i = 0; i < len; i++)
            name += alphabet[in.byte() % (sizeof alphabet - 1)];
        name += '.';
    }
    static const char* suffixes[] = {"svc.test", "SVC.Test", "svc.test.evil", "xsvc.test", "other.test", "test"};
    name += suffixes[in.byte() % 6];
    const auto query = DnsMessage().name(name).qtype(qtype).id(id).build();
    const std::vector<uint8_t> qname(query.begin() + 12, query.end() - 4);

    forget_pending();
    mark(marked);
    fuzz::check(w->obj->test_run(bpf::Program::skb_egress, dns_packet(query, v6, tcp, true)).retval == pass,
                "the query did not leave");
    const bool picked = pending_count() == 1;
    fuzz::check(picked == picked_by_domain(qname), "query " + name + ": picked " + std::to_string(picked) +
                                                       ", the reference says " +
                                                       std::to_string(picked_by_domain(qname)));

    // The answer, then the recipe's edits of it.
    auto m = records ? DnsMessage().name(name).qtype(qtype).id(id).answer().build()
                     : DnsMessage().name(name).qtype(qtype).id(id).answer().no_records().build();
    for (int edits = in.byte() % 5; edits > 0 && in.n; edits--) {
        const uint8_t op = in.byte();
        switch (op % 5) {
        case 0: // a byte overwritten, anywhere (header included)
        case 1: {
            size_t at = in.u16() % (m.size() + 1);
            if (at < m.size())
                m[at] = in.byte();
            break;
        }
        case 2: // cut
            m.resize(in.u16() % (m.size() + 1));
            break;
        case 3: { // grown (records, or garbage after them)
            size_t more = in.byte();
            uint8_t fill = in.byte();
            m.resize(m.size() + more, fill);
            break;
        }
        default: // the question's name, its case flipped at one letter
            if (m.size() > 12) {
                size_t at = 12 + in.byte() % (m.size() - 12);
                if (isalpha(m[at]))
                    m[at] ^= 0x20;
            }
            break;
        }
    }
    const auto ans = dns_packet(m, v6, tcp, false);
    const size_t msg = faultline::test::dns_msg_offset(v6, tcp);
    const size_t csum = 14 + (v6 ? 40 : 20) + (tcp ? 16 : 6);

    // The reference: is this the answer to the picked query, and may it be
    // rewritten?
    const size_t qlen = qname.size() + 4; // the question: name, type, class
    bool same_question = m.size() >= 12 + qlen;
    for (size_t i = 0; same_question && i < qname.size(); i++)
        same_question = fold(m[12 + i]) == fold(qname[i]);
    same_question =
        same_question && m[12 + qname.size() + 0] == (qtype >> 8) && m[12 + qname.size() + 1] == (qtype & 0xff);
    const bool answers = picked && m.size() >= 12 && (m[2] & 0x80) && !(m[2] & 0x78) && m[0] == (id >> 8) &&
                         m[1] == (id & 0xff) && m[4] == 0 && m[5] == 1 && same_question;
    const size_t left = answers ? m.size() - 12 - qlen : 0;
    const bool rewrite = answers && marked && !(m[3] & 0xf) && !(m[2] & 0x02) && (left == 0 || left >= 11);

    n_inputs++;
    n_picked += picked;
    n_answers += answers;
    n_rewritten += rewrite;
    auto r = w->obj->test_run(bpf::Program::tc_ingress, ans);
    fuzz::check(r.packet.size() == ans.size(), "the answer's length changed");
    if (!rewrite) {
        fuzz::check(r.packet == ans, "an answer the reference leaves alone was changed (query " + name + ")");
    } else {
        fuzz::check(r.packet != ans, "an answer the reference rewrites was left alone (query " + name + ")");
        const uint8_t* o = ans.data();
        const uint8_t* n = r.packet.data();
        for (size_t i = 0; i < msg; i++)
            if (i != csum && i != csum + 1)
                fuzz::check(n[i] == o[i], "a header byte before the message changed at " + std::to_string(i));
        fuzz::check(PacketBuilder::l4_sum(r.packet) == 0xffff, "the rewritten answer's checksum is wrong");
        const uint8_t* nm = n + msg;
        const uint8_t* om = o + msg;
        fuzz::check(nm[0] == om[0] && nm[1] == om[1], "the id changed");
        fuzz::check((nm[2] & 0xf9) == (om[2] & 0xf9) && !(nm[2] & 0x06), "QR, opcode or RD changed, or AA/TC set");
        fuzz::check((nm[3] & 0xf) == 3, "not NXDOMAIN");
        fuzz::check(nm[4] == 0 && nm[5] == 1 && !nm[6] && !nm[7] && !nm[8] && !nm[9] && !nm[10],
                    "record counts other than one question");
        fuzz::check(nm[11] == (left ? 1 : 0), "the additional count is not the filler's");
        fuzz::check(std::memcmp(nm + 12, om + 12, qlen) == 0, "the question changed");
        if (left) {
            const uint8_t* f = nm + 12 + qlen;
            const size_t rdlength = left - 11;
            fuzz::check(f[0] == 0 && f[3] == 0 && f[4] == 1 && !f[5] && !f[6] && !f[7] && !f[8] &&
                            f[9] == (rdlength >> 8) && f[10] == (rdlength & 0xff),
                        "the filler record is not one root-owned class IN record over what follows");
            fuzz::check(std::memcmp(f + 11, om + 12 + qlen + 11, left - 11) == 0,
                        "bytes after the filler's fixed part changed");
        }
        // One answer per query: a second copy passes as it is.
        fuzz::check(w->obj->test_run(bpf::Program::tc_ingress, ans).packet == ans, "a second copy was rewritten");
    }
    mark(true);
    return 0;
}
