// SPDX-License-Identifier: Apache-2.0
#include "faultline/index.hpp"

#include <fmt/format.h>

#include "faultline/error.hpp"

namespace faultline {

IndexTable::IndexTable(Write write, uint32_t size) : write_(std::move(write)), table_(size) {
    if (size < 2 || (size & (size - 1)) != 0 || size > FL_INDEX_ENTRIES)
        throw Error(ErrorKind::usage, fmt::format("index size {} is not a power of two <= {}", size, FL_INDEX_ENTRIES));
}

// fl_index_pos() for a table of size() entries (the kernel's is
// FL_INDEX_ENTRIES; smaller tables exist for tests).
uint32_t IndexTable::pos(uint64_t cgroup_id, uint32_t hook, int which) const {
    uint64_t h = fl_index_hash(cgroup_id, hook);
    if (table_.size() == FL_INDEX_ENTRIES)
        return fl_index_pos(h, which);
    uint32_t mask = size() - 1;
    uint32_t p1 = static_cast<uint32_t>(h) & mask, p2 = static_cast<uint32_t>(h >> 32) & mask;
    return !which ? p1 : p2 != p1 ? p2 : p1 ^ 1;
}

void IndexTable::write(uint32_t p, const fl_index_entry& e) {
    write_(p, e);
    table_[p] = e;
}

int IndexTable::find(uint64_t cgroup_id, uint32_t hook) const {
    for (int w : {0, 1}) {
        uint32_t p = pos(cgroup_id, hook, w);
        if (table_[p].cgroup_id == cgroup_id && table_[p].hook == hook)
            return static_cast<int>(p);
    }
    return -1;
}

void IndexTable::erase(uint64_t cgroup_id, uint32_t hook) {
    if (int p = find(cgroup_id, hook); p >= 0)
        write(static_cast<uint32_t>(p), fl_index_entry{});
}

// Breadth-first search for the shortest chain of entries that can each
// move to their other position, ending at a free one; then the moves, from
// the free end backwards.
void IndexTable::put(const fl_index_entry& e) {
    if (e.cgroup_id == 0)
        throw Error(ErrorKind::usage, "an index entry needs a cgroup id");
    if (int p = find(e.cgroup_id, e.hook); p >= 0) {
        write(static_cast<uint32_t>(p), e);
        return;
    }
    struct Node {
        uint32_t pos;
        int parent;
    };
    std::vector<Node> nodes;
    std::vector<bool> seen(table_.size());
    for (int w : {0, 1}) {
        uint32_t p = pos(e.cgroup_id, e.hook, w);
        if (table_[p].cgroup_id == 0) {
            write(p, e);
            return;
        }
        if (!seen[p])
            nodes.push_back({p, -1});
        seen[p] = true;
    }
    for (size_t i = 0; i < nodes.size(); i++) {
        const fl_index_entry& occupant = table_[nodes[i].pos];
        uint32_t p0 = pos(occupant.cgroup_id, occupant.hook, 0);
        uint32_t next = nodes[i].pos == p0 ? pos(occupant.cgroup_id, occupant.hook, 1) : p0;
        if (seen[next])
            continue;
        seen[next] = true;
        nodes.push_back({next, static_cast<int>(i)});
        if (table_[next].cgroup_id != 0)
            continue;
        // Free: each entry on the chain moves one step towards it.
        size_t at = nodes.size() - 1;
        while (nodes[at].parent >= 0) {
            auto from = static_cast<size_t>(nodes[at].parent);
            write(nodes[at].pos, table_[nodes[from].pos]);
            at = from;
        }
        write(nodes[at].pos, e); // the chain's start: one of e's positions
        return;
    }
    throw Error(ErrorKind::usage,
                fmt::format("no room in the experiment index for cgroup id {} ({} entries)", e.cgroup_id, size()),
                "target fewer cgroups with one faultline instance");
}

} // namespace faultline
