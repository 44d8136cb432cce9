// SPDX-License-Identifier: Apache-2.0
// The two-choice index (IndexTable) against a model: a sequence of puts and
// erases over a small key space (so chains of moves and a full table
// happen) must leave the table holding exactly the model's entries, each
// at one of its two positions; and after every single write the loader
// mirrors into the map, a reader of the map (the BPF fast path, which
// looks at the two positions only) finds every entry that was in the table
// before and after the operation. A refused put (no chain frees a place)
// loses nothing.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "faultline/error.hpp"
#include "faultline/index.hpp"
#include "fuzz_common.hpp"

using namespace faultline;

namespace {

using Key = std::pair<uint64_t, uint32_t>;

// The positions the BPF side reads, for a table of `size` entries (the
// formula of fl_index_pos, written again here so the model does not share
// the loader's code).
uint32_t position(const Key& k, uint32_t size, int which) {
    const uint64_t h = fl_index_hash(k.first, k.second);
    const uint32_t p1 = static_cast<uint32_t>(h) & (size - 1), p2 = static_cast<uint32_t>(h >> 32) & (size - 1);
    return !which ? p1 : p2 != p1 ? p2 : p1 ^ 1;
}

// What a reader of the map finds for k: the entry at either position.
const fl_index_entry* read(const std::vector<fl_index_entry>& map, const Key& k) {
    for (int w : {0, 1}) {
        const fl_index_entry& e = map[position(k, static_cast<uint32_t>(map.size()), w)];
        if (e.cgroup_id == k.first && e.hook == k.second)
            return &e;
    }
    return nullptr;
}

struct Bytes {
    const uint8_t* p;
    size_t n;
    bool empty() const { return n == 0; }
    uint8_t next() {
        if (!n)
            return 0;
        n--;
        return *p++;
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Bytes in{data, size};
    const uint32_t table_size = 2u << (in.next() % 7); // 2 .. 128 entries
    std::vector<fl_index_entry> map(table_size);
    std::map<Key, uint32_t> model; // key -> a tag carried in v.n
    // Entries a reader must find after each write of the current operation.
    std::map<Key, uint32_t> must_find;
    IndexTable t(
        [&](uint32_t pos, const fl_index_entry& e) {
            fuzz::check(pos < table_size, "a write outside the map");
            map[pos] = e;
            for (const auto& [k, tag] : must_find) {
                const fl_index_entry* got = read(map, k);
                fuzz::check(got != nullptr, "a reader lost an entry during a move");
                fuzz::check(got->v.n == tag, "a reader found an entry's old or foreign value");
            }
        },
        table_size);
    uint32_t tag = 0;
    while (!in.empty()) {
        const uint8_t op = in.next(), key = in.next();
        const Key k{1 + key % 48, op & 1 ? 1u : 2u};
        if (op & 0x80) {
            model.erase(k);
            must_find = model;
            t.erase(k.first, k.second);
        } else {
            fl_index_entry e{};
            e.cgroup_id = k.first;
            e.hook = k.second;
            e.v.n = ++tag;
            must_find = model;
            must_find.erase(k); // its own value changes: old or new is fine mid-way
            try {
                t.put(e);
                model[k] = tag;
            } catch (const Error& err) {
                fuzz::check_refusal(err, ErrorKind::usage);
            }
        }
        must_find.clear();
        size_t used = 0;
        for (uint32_t p = 0; p < table_size; p++) {
            fuzz::check(std::memcmp(&map[p], &t.at(p), sizeof map[p]) == 0, "the map differs from the table");
            used += map[p].cgroup_id != 0;
        }
        fuzz::check(used == model.size(), "the table holds entries the model does not");
        for (const auto& [mk, mtag] : model) {
            const fl_index_entry* got = read(map, mk);
            fuzz::check(got && got->v.n == mtag, "an entry of the model is not where a reader looks");
            fuzz::check(t.find(mk.first, mk.second) >= 0, "find() misses an entry");
        }
    }
    return 0;
}
