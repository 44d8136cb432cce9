// SPDX-License-Identifier: Apache-2.0
// Session records (/run/faultline/ID.json), which `status`, `stop`, `gc` and
// the sentinel read: any text is a record or a std::exception (the reader
// skips it and names it), never a crash; a record reads back to itself.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "faultline/abi.h"
#include "faultline/state.hpp"
#include "fuzz_common.hpp"

using namespace faultline;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    SessionRecord r;
    try {
        r = parse_record(text);
    } catch (const std::exception&) {
        return 0; // read_record turns it into "not a faultline record (...)"
    }
    fuzz::check(r.pid > 0 && r.id.size() == 8, "a record with a bad id or pid was accepted");
    fuzz::check(r.experiments.size() <= FL_MAX_PER_TARGET, "more experiments than slots");
    for (const auto& e : r.experiments)
        fuzz::check(e.slot < FL_MAX_PER_TARGET, "a slot out of range was accepted");
    for (const auto& d : r.fq_devices)
        fuzz::check(!d.empty() && d.size() < 16 && d.find('/') == std::string::npos, "a bad device name: " + d);
    const std::string once = record_text(r);
    std::string twice;
    try {
        twice = record_text(parse_record(once));
    } catch (const std::exception& e) {
        fuzz::finding(std::string("a record does not read back: ") + e.what());
    }
    fuzz::check(once == twice, "a record reads back as another");
    return 0;
}
