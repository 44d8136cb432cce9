// SPDX-License-Identifier: Apache-2.0
// The loader's two-choice index (userspace/lib/index.cpp) without a kernel:
// every write goes to a simulated map, which a "reader" checks after each
// single write, as the BPF fast path could read it at any moment.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "faultline/error.hpp"
#include "faultline/index.hpp"

using namespace faultline;

namespace {

using Key = std::pair<uint64_t, uint32_t>;

fl_index_entry entry(Key k, uint32_t slot) {
    fl_index_entry e{};
    e.cgroup_id = k.first;
    e.hook = k.second;
    e.v.n = 1;
    e.v.slots[0] = slot;
    return e;
}

// What the BPF program does: look at the key's two positions, nothing else.
const fl_index_entry* bpf_lookup(const std::vector<fl_index_entry>& map, Key k) {
    uint64_t h = fl_index_hash(k.first, k.second);
    for (int w : {0, 1}) {
        uint32_t mask = static_cast<uint32_t>(map.size()) - 1;
        uint32_t p1 = static_cast<uint32_t>(h) & mask, p2 = static_cast<uint32_t>(h >> 32) & mask;
        uint32_t p = !w ? p1 : p2 != p1 ? p2 : p1 ^ 1;
        if (map[p].cgroup_id == k.first && map[p].hook == k.second)
            return &map[p];
    }
    return nullptr;
}

struct Harness {
    explicit Harness(uint32_t size)
        : map(size), index([this](uint32_t p, const fl_index_entry& e) { on_write(p, e); }, size) {}

    void on_write(uint32_t p, const fl_index_entry& e) {
        map[p] = e;
        writes++;
        for (const auto& [k, slot] : live) {
            if (k == pending)
                continue; // being replaced: old or new value, both fine
            const fl_index_entry* got = bpf_lookup(map, k);
            ASSERT_NE(got, nullptr) << "entry " << k.first << "/" << k.second << " unreachable after write " << writes;
            ASSERT_EQ(got->v.slots[0], slot);
        }
    }
    void put(Key k, uint32_t slot) {
        pending = k;
        index.put(entry(k, slot));
        pending = {};
        live[k] = slot;
    }
    void erase(Key k) {
        live.erase(k);
        index.erase(k.first, k.second);
        EXPECT_EQ(bpf_lookup(map, k), nullptr);
    }

    std::vector<fl_index_entry> map;
    std::map<Key, uint32_t> live; // what must be readable at every moment
    uint64_t writes = 0;
    Key pending{};
    IndexTable index;
};

Key random_key(std::mt19937_64& rng) {
    return {rng() % 100000 + 1, static_cast<uint32_t>(rng() % 3) + 1};
}

} // namespace

TEST(IndexTable, EveryEntryStaysReadableThroughInsertionsWithMoves) {
    // 64 positions filled to 24 keys (load 0.375): collisions and chains of
    // moves happen in most rounds, and each single write is checked by the
    // reader.
    std::mt19937_64 rng(1);
    uint64_t moves = 0;
    for (int round = 0; round < 50; round++) {
        Harness h(64);
        std::set<Key> keys;
        while (keys.size() < 24)
            keys.insert(random_key(rng));
        uint32_t slot = 0;
        for (Key k : keys)
            h.put(k, slot++);
        ASSERT_FALSE(HasFatalFailure());
        for (Key k : keys)
            EXPECT_GE(h.index.find(k.first, k.second), 0);
        moves += h.writes - keys.size();
    }
    EXPECT_GT(moves, 50u) << "entries were hardly ever moved: the test does not exercise moves";
}

TEST(IndexTable, EraseAndReinsertKeepTheOthersReadable) {
    std::mt19937_64 rng(2);
    Harness h(256);
    std::vector<Key> keys;
    while (keys.size() < 100) {
        Key k = random_key(rng);
        if (h.index.find(k.first, k.second) >= 0)
            continue;
        h.put(k, static_cast<uint32_t>(keys.size()));
        keys.push_back(k);
    }
    for (size_t i = 0; i < keys.size(); i += 2)
        h.erase(keys[i]);
    for (size_t i = 0; i < keys.size(); i += 2)
        h.put(keys[i], 1000 + static_cast<uint32_t>(i));
    ASSERT_FALSE(HasFatalFailure());
    for (size_t i = 0; i < keys.size(); i++)
        EXPECT_EQ(bpf_lookup(h.map, keys[i])->v.slots[0], i % 2 ? i : 1000 + i);
}

TEST(IndexTable, ReplacingAnEntryUpdatesItInPlace) {
    Harness h(16);
    h.put({7, FL_HOOK_EGRESS}, 1);
    int at = h.index.find(7, FL_HOOK_EGRESS);
    h.put({7, FL_HOOK_EGRESS}, 2);
    EXPECT_EQ(h.index.find(7, FL_HOOK_EGRESS), at);
    EXPECT_EQ(h.index.at(static_cast<uint32_t>(at)).v.slots[0], 2u);
    h.put({7, FL_HOOK_INGRESS}, 3); // another hook is another key
    EXPECT_EQ(bpf_lookup(h.map, {7, FL_HOOK_EGRESS})->v.slots[0], 2u);
    EXPECT_EQ(bpf_lookup(h.map, {7, FL_HOOK_INGRESS})->v.slots[0], 3u);
}

TEST(IndexTable, AFullTableRefusesWithAReasonAndLosesNothing) {
    std::mt19937_64 rng(3);
    Harness h(16);
    size_t added = 0;
    for (;;) {
        Key k = random_key(rng);
        if (h.index.find(k.first, k.second) >= 0)
            continue;
        try {
            h.put(k, static_cast<uint32_t>(added));
            added++;
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::usage);
            EXPECT_NE(std::string(e.what()).find("no room in the experiment index"), std::string::npos);
            EXPECT_EQ(bpf_lookup(h.map, k), nullptr);
            break;
        }
        ASSERT_LE(added, 16u);
    }
    EXPECT_GE(added, 4u); // two choices fill well past one per bucket pair
    for (const auto& [k, slot] : h.live)
        EXPECT_EQ(bpf_lookup(h.map, k)->v.slots[0], slot);
}

TEST(IndexTable, FullSizeTableUsesTheKernelsPositions) {
    // The kernel's table: entries sit where fl_index_pos() says, and 2,048
    // targets (one per two experiment slots) fit.
    std::vector<fl_index_entry> map(FL_INDEX_ENTRIES);
    IndexTable t([&](uint32_t p, const fl_index_entry& e) { map[p] = e; });
    std::mt19937_64 rng(4);
    std::set<Key> keys;
    while (keys.size() < FL_MAX_EXPERIMENTS / 2)
        keys.insert({rng() % 1000000 + 1, FL_HOOK_EGRESS});
    for (Key k : keys)
        t.put(entry(k, 0));
    for (Key k : keys) {
        uint64_t hash = fl_index_hash(k.first, k.second);
        uint32_t p1 = fl_index_pos(hash, 0), p2 = fl_index_pos(hash, 1);
        EXPECT_TRUE((map[p1].cgroup_id == k.first && map[p1].hook == k.second) ||
                    (map[p2].cgroup_id == k.first && map[p2].hook == k.second));
    }
}
