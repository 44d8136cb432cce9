// SPDX-License-Identifier: Apache-2.0
// Experiment files: what is accepted, and that every bad file is refused
// with a message naming the file, the line and the field.
#include <gtest/gtest.h>

#include "faultline/error.hpp"
#include "faultline/experiment.hpp"

using namespace faultline;
using namespace std::chrono_literals;

namespace {

const char* kGood = R"(title: Ramp loss on the API
hypothesis: p99 stays under 200 ms
target:
  cgroup: /sys/fs/cgroup/api
netns: blue
seed: 42
steps:
  - name: baseline
    faults: []
    duration: 5s
  - faults:
      - net.delay=10ms@1%,port=443
      - net.drop@0.5%
    duration: 30s
  - ramp:
      fault: net.drop,proto=udp
      from: 1%
      to: 5%
      steps: 5
      over: 50s
steady_state:
  http: http://127.0.0.1:8080/health
  interval: 2s
  timeout: 1s
  max_failures: 4
limits:
  max_injections: 1000
  max_duration: 2m
)";

// The message of the error parsing `text` throws (or "" if it parses).
std::string error_of(const std::string& text) {
    try {
        parse_experiment(text, "x.yaml");
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        return e.what();
    }
    return "";
}

} // namespace

TEST(ExperimentFile, AGoodFileIsReadCompletely) {
    Experiment x = parse_experiment(kGood, "good.yaml");
    EXPECT_EQ(x.title, "Ramp loss on the API");
    EXPECT_EQ(x.hypothesis, "p99 stays under 200 ms");
    EXPECT_EQ(x.cgroup, "/sys/fs/cgroup/api");
    EXPECT_EQ(x.netns, "blue");
    EXPECT_EQ(x.seed, 42u);
    ASSERT_EQ(x.steps.size(), 3u);
    EXPECT_EQ(x.steps[0].name, "baseline");
    EXPECT_TRUE(x.steps[0].faults.empty());
    EXPECT_EQ(x.steps[1].name, "step 2");
    ASSERT_EQ(x.steps[1].faults.size(), 2u);
    EXPECT_EQ(x.steps[1].faults[0].name(), "net.delay");
    EXPECT_EQ(x.steps[1].duration, 30s);
    ASSERT_TRUE(x.steps[2].ramp);
    const Ramp& r = *x.steps[2].ramp;
    EXPECT_EQ(r.fault.text, "net.drop@1%,proto=udp");
    EXPECT_EQ(r.fault.proto_mask, FL_PROTO_UDP);
    EXPECT_DOUBLE_EQ(r.percent_at(0), 1);
    EXPECT_DOUBLE_EQ(r.percent_at(2), 3);
    EXPECT_DOUBLE_EQ(r.percent_at(4), 5);
    EXPECT_EQ(x.steps[2].duration, 50s);
    EXPECT_EQ(x.planned_duration(), 85s);
    EXPECT_EQ(x.steps[1].faults[0].rport.lo, 443);
    ASSERT_TRUE(x.steady_state);
    EXPECT_EQ(x.steady_state->http, "http://127.0.0.1:8080/health");
    EXPECT_EQ(x.steady_state->interval, 2s);
    EXPECT_EQ(x.steady_state->max_failures, 4);
    EXPECT_EQ(x.limits.max_injections, 1000u);
    EXPECT_EQ(x.limits.max_duration, 120s);
}

TEST(ExperimentFile, ForceAndAllowHostWideAreSaidInTheFile) {
    const std::string steps = "steps: [{faults: net.drop@1%, duration: 1s}]\n";
    Experiment x = parse_experiment("title: t\ntarget: {cgroup: /x}\n" + steps, "x.yaml");
    EXPECT_FALSE(x.force);
    EXPECT_FALSE(x.allow_host_wide);
    x = parse_experiment("title: t\ntarget: {cgroup: /x}\nforce: true\nallow_host_wide: true\n" + steps, "x.yaml");
    EXPECT_TRUE(x.force);
    EXPECT_TRUE(x.allow_host_wide);
}

TEST(ExperimentFile, CommandsAreListsOrShellStrings) {
    Experiment x = parse_experiment("title: t\ntarget: {exec: [sleep, '5']}\nsteps: [{faults: net.drop@1%, "
                                    "duration: 1s}]\nsteady_state: {command: 'curl -f localhost'}\n",
                                    "c.yaml");
    EXPECT_EQ(x.exec, (std::vector<std::string>{"sleep", "5"}));
    EXPECT_EQ(x.steady_state->command, (std::vector<std::string>{"/bin/sh", "-c", "curl -f localhost"}));
}

TEST(ExperimentFile, EachBadFileNamesTheLineAndTheField) {
    struct Case {
        std::string text, expect;
    };
    const std::string head = "title: t\ntarget:\n  cgroup: /x\n";
    const Case cases[] = {
        {"title: [unclosed\n", ": not valid YAML"},
        // In a flow list the comma of a filter splits the spec.
        {head + "steps:\n  - faults: [net.drop@1%,proto=udp]\n    duration: 1s\n",
         "x.yaml:5: steps[0].faults[1]: `proto=udp` is not a fault"},
        {"- a\n- b\n", "x.yaml: not an experiment"},
        {"target: {cgroup: /x}\nsteps: []\n", "x.yaml:1: title: is missing"},
        {head + "steps:\n  - faults: net.drop@120%\n    duration: 1s\n", "x.yaml:5: steps[0].faults: "},
        {head + "steps:\n  - faults: [net.drop@1%, net.nope@1%]\n    duration: 1s\n", "x.yaml:5: steps[0].faults[1]: "},
        {head + "steps:\n  - faults: net.drop@1%\n    duration: -3s\n", "x.yaml:6: steps[0].duration: "},
        {head + "steps:\n  - faults: net.drop@1%\n", "x.yaml:5: steps[0]: needs `duration`"},
        {head + "force: maybe\nsteps:\n  - {faults: net.drop@1%, duration: 1s}\n",
         "x.yaml:4: force: `maybe` is not true or false"},
        {head + "steps:\n  - faults: net.drop@1%\n    duraton: 1s\n", "x.yaml:6: steps[0].duraton: unknown field"},
        {head + "steps:\n  - ramp: {fault: net.drop@1%, from: 1%, to: 2%, over: 2s}\n",
         "x.yaml:5: steps[0].ramp.fault: a ramped fault has no @PERCENT"},
        {head + "steps:\n  - ramp: {fault: net.drop, from: 1%, to: 200%, over: 2s}\n", "steps[0].ramp.to: "},
        {head + "steps:\n  - ramp: {fault: net.drop, from: 1%, to: 2%, over: 2s, steps: 1}\n",
         "steps[0].ramp.steps: `1` is not a number of steps"},
        {head + "steps:\n  - ramp: {fault: net.drop, from: 1%, over: 2s}\n", "steps[0].ramp: needs `to`"},
        {head + "steps: []\n", "x.yaml:4: steps: must be a non-empty list"},
        {"title: t\ntarget: {}\nsteps: [{faults: net.drop@1%, duration: 1s}]\n", "x.yaml:2: target: needs"},
        {"title: t\ntarget: {cgroup: /x, exec: ls}\nsteps: [{faults: net.drop@1%, duration: 1s}]\n",
         "target: give either"},
        {head + "steps: [{faults: net.drop@1%, duration: 1s}]\nsteady_state: {http: 'http://example.com/'}\n",
         "x.yaml:5: steady_state.http: `http://example.com/` is not an http:// URL on loopback"},
        {head + "steps: [{faults: net.drop@1%, duration: 1s}]\nsteady_state: {command: ls, interval: 1s, timeout: "
                "2s}\n",
         "steady_state.timeout: is longer than the interval"},
        {head + "steps: [{faults: net.drop@1%, duration: 1s}]\nlimits: {max_injections: -5}\n",
         "limits.max_injections: `-5` is not a count"},
        {head + "steps: [{faults: net.drop@1%, duration: 1s}]\nextra: 1\n", "x.yaml:5: extra: unknown field"},
    };
    for (const auto& c : cases) {
        std::string msg = error_of(c.text);
        EXPECT_NE(msg.find(c.expect), std::string::npos) << "file:\n" << c.text << "message: " << msg;
    }
}

TEST(ExperimentFile, AMissingFileIsAUsageError) {
    try {
        load_experiment("/nonexistent/x.yaml");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_NE(std::string(e.what()).find("/nonexistent/x.yaml"), std::string::npos);
    }
}

TEST(ExperimentFile, EveryShippedExampleIsValid) {
    // examples/ is documentation users run: it must never rot.
    const char* env = getenv("FL_EXAMPLES_DIR"); // the VM matrix copies them elsewhere
    const std::string dir = env && *env ? env : std::string(FL_SOURCE_DIR) + "/examples";
    int n = 0;
    for (const char* name : {"http-loss-ramp.yaml", "http-latency.yaml", "http-disconnect.yaml", "connect-refused.yaml",
                             "dns-blackhole.yaml"}) {
        SCOPED_TRACE(name);
        Experiment x = load_experiment(dir + "/" + name);
        EXPECT_FALSE(x.title.empty());
        EXPECT_TRUE(x.steady_state.has_value());
        n++;
    }
    EXPECT_EQ(n, 5);
}

TEST(ExperimentFile, ASeedWithALeadingZeroIsDecimal) {
    // YAML 1.2 reads 010 as ten; the loader read it as octal eight before.
    std::string text = kGood;
    text.replace(text.find("seed: 42"), 8, "seed: 010");
    EXPECT_EQ(parse_experiment(text, "x.yaml").seed, 10u);
    text.replace(text.find("seed: 010"), 9, "seed: 0x10");
    EXPECT_EQ(parse_experiment(text, "x.yaml").seed, 16u);
    text.replace(text.find("seed: 0x10"), 10, "seed: -1");
    EXPECT_NE(error_of(text).find("seed '-1' is not an unsigned number"), std::string::npos) << error_of(text);
}
