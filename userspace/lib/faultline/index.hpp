// SPDX-License-Identifier: Apache-2.0
// The loader's side of fl_index, the two-choice (cuckoo) table the BPF fast
// path reads with at most two array lookups (see abi.h). Pure logic: every
// change of an entry goes through `write`, which mirrors it into the map.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "faultline/abi.h"

namespace faultline {

class IndexTable {
  public:
    using Write = std::function<void(uint32_t pos, const fl_index_entry& e)>;

    explicit IndexTable(Write write, uint32_t size = FL_INDEX_ENTRIES);

    // Position of (cgroup, hook), or -1.
    int find(uint64_t cgroup_id, uint32_t hook) const;
    // Insert or replace e (e.cgroup_id != 0). A new key may move other
    // entries to their other position first, each written there before its
    // old position is overwritten, so a concurrent reader finds every entry
    // at every moment. Throws Error (usage) when no chain of moves frees a
    // position; the table is then unchanged apart from such moves.
    void put(const fl_index_entry& e);
    void erase(uint64_t cgroup_id, uint32_t hook);

    const fl_index_entry& at(uint32_t pos) const { return table_[pos]; }
    uint32_t size() const { return static_cast<uint32_t>(table_.size()); }

  private:
    uint32_t pos(uint64_t cgroup_id, uint32_t hook, int which) const;
    void write(uint32_t pos, const fl_index_entry& e);

    Write write_;
    std::vector<fl_index_entry> table_;
};

} // namespace faultline
