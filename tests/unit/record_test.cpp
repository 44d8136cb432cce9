// SPDX-License-Identifier: Apache-2.0
// Session records (/run/faultline/ID.json) as text: a record reads back to
// itself; a field of the wrong type, a float or a value out of its range is
// refused, never truncated or wrapped (a map id of -1 read as 4294967295
// would make `stop` write into another session's map).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "faultline/state.hpp"

using namespace faultline;

namespace {

nlohmann::json good() {
    return nlohmann::json::parse(R"({"id":"0a1b2c3d","pid":4242,"pid_start":123456,"cgroup":"/sys/fs/cgroup/api",
        "cgroup_id":9876,"config_map_id":11,"counters_map_id":12,"stopped_map_id":13,"started_unix":1764800000,
        "ends_unix":1764800060,"experiments":[{"id":"0a1b2c3d.0","spec":"net.drop@1%","slot":0}],
        "fq_devices":["eth0"],"netns":"/run/netns/lab","netns_ino":4026532000,"created_cgroup":"",
        "created_cgroup_ino":0,"tc_filters":[{"dev":"veth0","handle":1,"priority":49152,"created_clsact":true,
        "prog_id":55}]})");
}

TEST(Record, AGoodRecordReadsBackToItself) {
    const SessionRecord r = parse_record(good().dump());
    EXPECT_EQ(r.config_map_id, 11u);
    EXPECT_EQ(r.tc_filters.at(0).prog_id, 55u);
    EXPECT_EQ(record_text(parse_record(record_text(r))), record_text(r));
}

TEST(Record, AnIntegerFieldTakesOnlyIntegersThatFit) {
    const std::pair<const char*, nlohmann::json> cases[] = {
        {"/pid", -1},
        {"/pid", 1.9},
        {"/pid", 4294967296},
        {"/config_map_id", -1},
        {"/config_map_id", 1e300},
        {"/counters_map_id", 4294967296},
        {"/stopped_map_id", -5},
        {"/cgroup_id", -1},
        {"/cgroup_id", 1e300},
        {"/pid_start", 2.5},
        {"/started_unix", 1e300},
        {"/experiments/0/slot", -1},
        {"/experiments/0/slot", 0.5},
        {"/tc_filters/0/handle", -1},
        {"/tc_filters/0/prog_id", 1e20},
        {"/netns_ino", -2},
        {"/created_cgroup_ino", 3.5},
    };
    for (const auto& [field, value] : cases) {
        auto j = good();
        j[nlohmann::json::json_pointer(field)] = value;
        EXPECT_THROW(parse_record(j.dump()), std::exception) << field << " = " << value.dump();
    }
}

} // namespace
