// SPDX-License-Identifier: Apache-2.0
// Crafted packets for BPF_PROG_TEST_RUN: Ethernet + IPv4/IPv6 + TCP/UDP/ICMP,
// built fluently. Checksums are not filled in: the programs never read them.
#pragma once

#include <arpa/inet.h>
#include <cstdint>
#include <cstring>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <netinet/in.h>
#include <string>
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
        auto* eth = reinterpret_cast<ethhdr*>(p.data());
        eth->h_proto = htons(v6_ ? ETH_P_IPV6 : ETH_P_IP);
        std::memset(eth->h_dest, 0x02, ETH_ALEN);
        std::memset(eth->h_source, 0x04, ETH_ALEN);
        uint8_t* l3 = p.data() + sizeof(ethhdr);
        if (v6_) {
            auto* ip6 = reinterpret_cast<ipv6hdr*>(l3);
            ip6->version = 6;
            ip6->payload_len = htons(static_cast<uint16_t>(l4len + payload_));
            ip6->nexthdr = proto_;
            ip6->hop_limit = 64;
            std::memcpy(&ip6->saddr, src_, 16);
            std::memcpy(&ip6->daddr, dst_, 16);
        } else {
            auto* ip = reinterpret_cast<iphdr*>(l3);
            ip->version = 4;
            ip->ihl = 5;
            ip->tot_len = htons(static_cast<uint16_t>(l3len + l4len + payload_));
            ip->ttl = 64;
            ip->protocol = proto_;
            ip->frag_off = frag_ ? htons(100) : 0;
            std::memcpy(&ip->saddr, src_, 4);
            std::memcpy(&ip->daddr, dst_, 4);
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
        return p;
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
    uint8_t src_[16]{}, dst_[16]{};
    uint8_t proto_ = IPPROTO_UDP;
    uint16_t sport_ = 0, dport_ = 0;
    size_t payload_ = 0;
};

} // namespace faultline::test
