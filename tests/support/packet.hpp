// SPDX-License-Identifier: Apache-2.0
// Crafted packets for BPF_PROG_TEST_RUN: Ethernet + IPv4/IPv6 + TCP/UDP/ICMP,
// built fluently. The L4 checksum is filled in on request (checksum()), for
// the programs that rewrite packets; the others never read it.
#pragma once

#include <arpa/inet.h>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace faultline::test {

class PacketBuilder {
  public:
    PacketBuilder& v4(const std::string& src, const std::string& dst) {
        v6_ = false;
        inet_pton(AF_INET, src.c_str(), src_);
        inet_pton(AF_INET, dst.c_str(), dst_);
        return *this;
    }
    PacketBuilder& v6(const std::string& src, const std::string& dst) {
        v6_ = true;
        inet_pton(AF_INET6, src.c_str(), src_);
        inet_pton(AF_INET6, dst.c_str(), dst_);
        return *this;
    }
    PacketBuilder& tcp(uint16_t sport, uint16_t dport) { return l4(IPPROTO_TCP, sport, dport); }
    PacketBuilder& udp(uint16_t sport, uint16_t dport) { return l4(IPPROTO_UDP, sport, dport); }
    PacketBuilder& icmp() { return l4(static_cast<uint8_t>(v6_ ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP}), 0, 0); }
    PacketBuilder& payload(size_t n) {
        payload_ = n;
        data_.clear();
        return *this;
    }
    // The L4 payload's bytes (e.g. a DNS message).
    PacketBuilder& payload(std::vector<uint8_t> bytes) {
        payload_ = bytes.size();
        data_ = std::move(bytes);
        return *this;
    }
    // Fill in the TCP/UDP checksum (pseudo-header included).
    PacketBuilder& checksum() {
        csum_ = true;
        return *this;
    }
    // IPv4 only: a non-first fragment (no L4 header in it).
    PacketBuilder& later_fragment() {
        frag_ = true;
        return *this;
    }

    std::vector<uint8_t> build() const {
        size_t l4len = proto_ == IPPROTO_TCP ? 20 : 8;
        size_t l3len = v6_ ? sizeof(ipv6hdr) : sizeof(iphdr);
        std::vector<uint8_t> p(sizeof(ethhdr) + l3len + l4len + payload_, 0);
        // Headers built aligned and copied in: the packet's IP header sits
        // at offset 14, where an iphdr may not be accessed (UBSan).
        ethhdr eth{};
        eth.h_proto = htons(v6_ ? ETH_P_IPV6 : ETH_P_IP);
        std::memset(eth.h_dest, 0x02, ETH_ALEN);
        std::memset(eth.h_source, 0x04, ETH_ALEN);
        std::memcpy(p.data(), &eth, sizeof eth);
        uint8_t* l3 = p.data() + sizeof(ethhdr);
        if (v6_) {
            ipv6hdr ip6{};
            ip6.version = 6;
            ip6.payload_len = htons(static_cast<uint16_t>(l4len + payload_));
            ip6.nexthdr = proto_;
            ip6.hop_limit = 64;
            std::memcpy(&ip6.saddr, src_, 16);
            std::memcpy(&ip6.daddr, dst_, 16);
            std::memcpy(l3, &ip6, sizeof ip6);
        } else {
            iphdr ip{};
            ip.version = 4;
            ip.ihl = 5;
            ip.tot_len = htons(static_cast<uint16_t>(l3len + l4len + payload_));
            ip.ttl = 64;
            ip.protocol = proto_;
            ip.frag_off = frag_ ? htons(100) : 0;
            std::memcpy(&ip.saddr, src_, 4);
            std::memcpy(&ip.daddr, dst_, 4);
            std::memcpy(l3, &ip, sizeof ip);
        }
        uint8_t* l4 = l3 + l3len;
        uint16_t sp = htons(sport_), dp = htons(dport_);
        if (proto_ == IPPROTO_TCP || proto_ == IPPROTO_UDP) {
            std::memcpy(l4, &sp, 2);
            std::memcpy(l4 + 2, &dp, 2);
        }
        if (proto_ == IPPROTO_TCP)
            l4[12] = 5 << 4; // data offset
        if (proto_ == IPPROTO_UDP) {
            uint16_t len = htons(static_cast<uint16_t>(8 + payload_));
            std::memcpy(l4 + 4, &len, 2);
        }
        if (!data_.empty())
            std::memcpy(l4 + l4len, data_.data(), data_.size());
        if (csum_ && (proto_ == IPPROTO_TCP || proto_ == IPPROTO_UDP)) {
            size_t at = sizeof(ethhdr) + l3len + (proto_ == IPPROTO_TCP ? 16 : 6);
            uint16_t c = static_cast<uint16_t>(~l4_sum(p));
            if (c == 0 && proto_ == IPPROTO_UDP)
                c = 0xffff; // 0 means "no checksum" in UDP
            c = htons(c);
            std::memcpy(p.data() + at, &c, 2);
        }
        return p;
    }

    // The folded ones'-complement sum of a built packet's TCP/UDP segment
    // and its pseudo-header, checksum field included: 0xffff iff the
    // checksum is right (RFC 1071).
    static uint16_t l4_sum(const std::vector<uint8_t>& p) {
        const uint8_t* l3 = p.data() + sizeof(ethhdr);
        bool v6 = (l3[0] >> 4) == 6;
        size_t l3len = v6 ? sizeof(ipv6hdr) : (l3[0] & 0xf) * 4u;
        size_t len = p.size() - sizeof(ethhdr) - l3len;
        uint8_t proto = v6 ? l3[6] : l3[9];
        uint32_t sum = 0;
        auto add = [&](const uint8_t* b, size_t n) {
            for (size_t i = 0; i < n; i += 2)
                sum += static_cast<uint32_t>(b[i] << 8 | (i + 1 < n ? b[i + 1] : 0));
        };
        if (v6)
            add(l3 + 8, 32); // source, destination
        else
            add(l3 + 12, 8);
        sum += proto + static_cast<uint32_t>(len);
        add(l3 + l3len, len);
        while (sum >> 16)
            sum = (sum & 0xffff) + (sum >> 16);
        return static_cast<uint16_t>(sum);
    }

  private:
    PacketBuilder& l4(uint8_t proto, uint16_t sport, uint16_t dport) {
        proto_ = proto;
        sport_ = sport;
        dport_ = dport;
        return *this;
    }
    bool v6_ = false;
    bool frag_ = false;
    bool csum_ = false;
    uint8_t src_[16]{}, dst_[16]{};
    uint8_t proto_ = IPPROTO_UDP;
    uint16_t sport_ = 0, dport_ = 0;
    size_t payload_ = 0;
    std::vector<uint8_t> data_;
};

// A DNS message with one question (RFC 1035 4.1), as a resolver sends it
// (query) or a server answers it (answer: QR set, one A record).
class DnsMessage {
  public:
    DnsMessage& name(const std::string& n) {
        qname_.clear();
        size_t start = 0;
        while (start < n.size()) {
            size_t dot = n.find('.', start);
            if (dot == std::string::npos)
                dot = n.size();
            qname_.push_back(static_cast<uint8_t>(dot - start));
            qname_.insert(qname_.end(), n.begin() + static_cast<long>(start), n.begin() + static_cast<long>(dot));
            start = dot + 1;
        }
        qname_.push_back(0);
        return *this;
    }
    // The question's name exactly as given (malformed names).
    DnsMessage& raw_name(std::vector<uint8_t> wire) {
        qname_ = std::move(wire);
        return *this;
    }
    DnsMessage& qtype(uint16_t t) {
        qtype_ = t;
        return *this;
    }
    DnsMessage& answer(bool a = true) {
        answer_ = a;
        return *this;
    }
    DnsMessage& qdcount(uint16_t n) {
        qdcount_ = n;
        return *this;
    }
    DnsMessage& opcode(uint8_t op) {
        opcode_ = op;
        return *this;
    }
    DnsMessage& id(uint16_t v) {
        id_ = v;
        return *this;
    }
    // An answer without records (a name with no data of that type).
    DnsMessage& no_records() {
        records_ = false;
        return *this;
    }
    std::vector<uint8_t> build() const {
        std::vector<uint8_t> m = {static_cast<uint8_t>(id_ >> 8),
                                  static_cast<uint8_t>(id_),
                                  static_cast<uint8_t>((answer_ ? 0x80 : 0) | (opcode_ << 3) | 0x01),
                                  static_cast<uint8_t>(answer_ ? 0x80 : 0),
                                  static_cast<uint8_t>(qdcount_ >> 8),
                                  static_cast<uint8_t>(qdcount_),
                                  0,
                                  static_cast<uint8_t>(answer_ && records_ ? 1 : 0),
                                  0,
                                  0,
                                  0,
                                  0};
        for (uint8_t b : qname_) // (a range insert trips GCC 12's -Wstringop-overread)
            m.push_back(b);
        m.insert(m.end(), {static_cast<uint8_t>(qtype_ >> 8), static_cast<uint8_t>(qtype_), 0, 1});
        if (answer_ && records_) // NAME (pointer to the question), A IN, TTL 60, 198.51.100.7
            m.insert(m.end(), {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7});
        return m;
    }

  private:
    std::vector<uint8_t> qname_;
    uint16_t qtype_ = 1, qdcount_ = 1, id_ = 0x1234;
    bool records_ = true;
    uint8_t opcode_ = 0;
    bool answer_ = false;
};

// The DNS exchange of the BPF tests and the rewrite fuzzer: a client at
// 198.18.0.1 / 2001:db8::1 port 40000 and a server at 198.18.0.53 /
// 2001:db8::53 port 53, over UDP or TCP (the message after its 2-byte
// length), v4 or v6; the checksum filled in.
inline std::vector<uint8_t> dns_framed(const std::vector<uint8_t>& m) {
    std::vector<uint8_t> out{static_cast<uint8_t>(m.size() >> 8), static_cast<uint8_t>(m.size())};
    out.insert(out.end(), m.begin(), m.end());
    return out;
}
inline constexpr uint16_t dns_client_port = 40000;
inline std::vector<uint8_t> dns_packet(const std::vector<uint8_t>& msg, bool v6, bool tcp, bool query) {
    const char* c = v6 ? "2001:db8::1" : "198.18.0.1";
    const char* s = v6 ? "2001:db8::53" : "198.18.0.53";
    PacketBuilder b;
    if (v6)
        query ? b.v6(c, s) : b.v6(s, c);
    else
        query ? b.v4(c, s) : b.v4(s, c);
    const uint16_t sport = query ? dns_client_port : 53, dport = query ? 53 : dns_client_port;
    if (tcp)
        b.tcp(sport, dport).payload(dns_framed(msg));
    else
        b.udp(sport, dport).payload(msg);
    return b.checksum().build();
}
// Where the DNS message starts in such a packet.
inline size_t dns_msg_offset(bool v6, bool tcp) {
    return 14 + (v6 ? 40 : 20) + (tcp ? 22 : 8);
}
// A socket bound at the exchange's client address (not this machine's:
// FREEBIND), where the kernel delivers its answers (a TCP one listens);
// -1 with errno on failure.
inline int dns_client_socket(bool v6, bool tcp) {
    int fd = socket(v6 ? AF_INET6 : AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    const int one = 1;
    sockaddr_storage ss{};
    socklen_t len;
    if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(dns_client_port);
        inet_pton(AF_INET6, "2001:db8::1", &a->sin6_addr);
        len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(dns_client_port);
        inet_pton(AF_INET, "198.18.0.1", &a->sin_addr);
        len = sizeof *a;
    }
    if (setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_FREEBIND : IP_FREEBIND, &one, sizeof one) != 0 ||
        bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || (tcp && listen(fd, 1) != 0)) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

} // namespace faultline::test
