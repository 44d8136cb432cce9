// SPDX-License-Identifier: Apache-2.0
// The bad-input catalogue of experiment files (issue 12): every field of a
// good file given every wrong type and bad value, and whole files that are
// no experiment (BOM, tabs, duplicate keys, aliases, deep nesting, 50 MB,
// several documents, NUL, non-UTF-8). Each must be refused with
// Error(usage) naming the file, on one line, with a hint.
// What it found (fixed): a key given twice kept one silently (yaml-cpp),
// a second document was ignored, a byte that is not UTF-8 went into the
// journal (nlohmann::json throws on it mid-run), a 50 MB file was parsed
// (now at most 1 MiB), empty title/cgroup/netns were taken, booleans and
// counts were refused without a hint, and a message quoted a 1 MB value.
#include <gtest/gtest.h>

#include <chrono>
#include <fmt/format.h>
#include <string>
#include <vector>

#include "faultline/error.hpp"
#include "faultline/experiment.hpp"

using namespace faultline;

namespace {

// A good file with one field left as {} to fill.
struct Field {
    std::string path, doc;
};

const std::string head = "title: t\ntarget:\n  cgroup: /x\n";
const std::string one_step = "steps:\n  - faults: net.drop@1%\n    duration: 1s\n";

std::vector<Field> fields() {
    return {
        {"title", "title: {}\ntarget:\n  cgroup: /x\n" + one_step},
        {"hypothesis", head + "hypothesis: {}\n" + one_step},
        {"target.cgroup", "title: t\ntarget:\n  cgroup: {}\n" + one_step},
        {"target.exec", "title: t\ntarget:\n  exec: {}\n" + one_step},
        {"netns", head + "netns: {}\n" + one_step},
        {"seed", head + "seed: {}\n" + one_step},
        {"force", head + "force: {}\n" + one_step},
        {"allow_host_wide", head + "allow_host_wide: {}\n" + one_step},
        {"user", head + "user: {}\n" + one_step},
        {"steps", head + "steps: {}\n"},
        {"steps[0]", head + "steps:\n  - {}\n"},
        {"steps[0].name", head + "steps:\n  - name: {}\n    faults: net.drop@1%\n    duration: 1s\n"},
        {"steps[0].faults", head + "steps:\n  - faults: {}\n    duration: 1s\n"},
        {"steps[0].duration", head + "steps:\n  - faults: net.drop@1%\n    duration: {}\n"},
        {"ramp", head + "steps:\n  - ramp: {}\n"},
        {"ramp.fault", head + "steps:\n  - ramp: {{fault: {}, from: 1%, to: 2%, over: 2s}}\n"},
        {"ramp.from", head + "steps:\n  - ramp: {{fault: net.drop, from: {}, to: 2%, over: 2s}}\n"},
        {"ramp.to", head + "steps:\n  - ramp: {{fault: net.drop, from: 1%, to: {}, over: 2s}}\n"},
        {"ramp.steps", head + "steps:\n  - ramp: {{fault: net.drop, from: 1%, to: 2%, over: 2s, steps: {}}}\n"},
        {"ramp.over", head + "steps:\n  - ramp: {{fault: net.drop, from: 1%, to: 2%, over: {}}}\n"},
        {"steady_state", head + one_step + "steady_state: {}\n"},
        {"steady_state.http", head + one_step + "steady_state:\n  http: {}\n"},
        {"steady_state.command", head + one_step + "steady_state:\n  command: {}\n"},
        {"steady_state.interval", head + one_step + "steady_state:\n  command: 'true'\n  interval: {}\n"},
        {"steady_state.timeout", head + one_step + "steady_state:\n  command: 'true'\n  timeout: {}\n"},
        {"steady_state.max_failures", head + one_step + "steady_state:\n  command: 'true'\n  max_failures: {}\n"},
        {"limits", head + one_step + "limits: {}\n"},
        {"limits.max_injections", head + one_step + "limits:\n  max_injections: {}\n"},
        {"limits.max_duration", head + one_step + "limits:\n  max_duration: {}\n"},
    };
}

// Wrong in every field: other types, null, the empty string, an undefined
// alias, a tag, a 100 kB value.
const std::vector<std::string> wrong_types = {
    "[1, 2]", "{a: 1}", "~", "''", "*nowhere", "!!binary aGk=", "[]", "{}", std::string(100000, 'x'),
};

// Bad as numbers, durations, percentages, booleans.
const std::vector<std::string> bad_scalars = {
    "-5", "99999999999999999999999", "nan", ".inf", "1e999", "0x", "maybe", "5 s", "-1%", "0"};

// Fields a number, duration, percentage, boolean or name goes in (a
// string field takes any scalar: title: -5 is a title).
bool scalar_typed(const std::string& path) {
    for (const char* s : {"title", "hypothesis", "steps[0].name", "target.exec", "steady_state.command",
                          "target.cgroup", "netns", "user"})
        if (path == s)
            return false;
    return true;
}

// What a field takes of wrong_types by design: any scalar is text (a tag
// changes nothing, a 100 kB title is a title), an empty hypothesis or step
// name is allowed, a command may be a list of words, a step may have no
// faults (a baseline), limits may be empty.
bool valid_here(const std::string& path, const std::string& v) {
    bool text = !scalar_typed(path);
    if (text && (v == "!!binary aGk=" || v.size() > 1000))
        return true;
    if (v == "''" && (path == "hypothesis" || path == "steps[0].name"))
        return true;
    if (v == "[1, 2]" && (path == "target.exec" || path == "steady_state.command"))
        return true;
    if (v == "[]" && path == "steps[0].faults")
        return true;
    if (v == "{}" && path == "limits")
        return true;
    return false;
}

std::string fill(const std::string& doc, const std::string& value) {
    return fmt::format(fmt::runtime(doc), value);
}

struct Case {
    std::string why, text;
};

std::vector<Case> catalogue() {
    std::vector<Case> cases;
    for (const auto& f : fields()) {
        for (const auto& v : wrong_types)
            if (!valid_here(f.path, v))
                cases.push_back({f.path + " = " + v.substr(0, 20), fill(f.doc, v)});
        if (scalar_typed(f.path))
            for (const auto& v : bad_scalars)
                if (!(v == "0" && (f.path == "seed" || f.path == "target.cgroup" || f.path == "netns" ||
                                   f.path == "user" || f.path == "steady_state.max_failures")))
                    cases.push_back({f.path + " = " + v, fill(f.doc, v)});
    }
    const std::string good = head + one_step;
    const std::vector<Case> whole = {
        {"empty", ""},
        {"only a comment", "# nothing\n"},
        {"a scalar", "42\n"},
        {"a list", "- a\n- b\n"},
        {"BOM then garbage", "\xef\xbb\xbf{"},
        {"tab indentation", "title: t\ntarget:\n\tcgroup: /x\n" + one_step},
        {"duplicate key", good + "title: u\n"},
        {"duplicate nested key", "title: t\ntarget:\n  cgroup: /x\n  cgroup: /y\n" + one_step},
        {"two documents", good + "---\n" + good},
        {"a NUL", good + std::string("hypothesis: a\0b\n", 17)},
        {"not UTF-8", good + "hypothesis: \xff\xfe\n"},
        {"unclosed flow", "title: [t\n"},
        {"deep nesting", "title: t\nx: " + std::string(100000, '[') + "\n"},
        {"alias bomb",
         "title: t\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
             head.substr(9) + one_step},
        {"an alias for a field", "t: &t x\ntitle: *t\ntarget: {cgroup: /x}\n" + one_step},
        {"50 MB", good + "hypothesis: " + std::string(50 << 20, 'h') + "\n"},
        {"unknown top-level field", good + "colour: red\n"},
        {"a merge key", good + "<<: {x: 1}\n"},
        // yaml-cpp's LoadAll made empty documents from these until memory
        // ran out (tests/fuzz found the first)
        {"a stray comma", ","},
        {"a stray comma and more", ", " + good},
        {"a comma after a document", "---\ntitle: t\n...\n,\n"},
        {"an empty list item then a comma", "- ,\n"},
        // a key that is no name reached yaml-cpp's as<string>() (tests/fuzz)
        {"a null key", " ? :  :  ? :"},
        {"a list as a key", good + "? [a, b]\n: x\n"},
        {"a mapping as a key in a step", head + "steps:\n  - ? {a: 1}\n    : x\n"},
    };
    cases.insert(cases.end(), whole.begin(), whole.end());
    return cases;
}

TEST(FileCatalogue, TheGoodFilesItBuildsOnAreAccepted) {
    EXPECT_NO_THROW(parse_experiment(head + one_step, "x.yaml"));
}

TEST(FileCatalogue, EveryBadFileIsRefusedNamingTheFileOnOneLineWithAHint) {
    auto cases = catalogue();
    EXPECT_GE(cases.size(), 300u);
    size_t refused = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& c : cases) {
        try {
            parse_experiment(c.text, "x.yaml");
            ADD_FAILURE() << "accepted: " << c.why;
        } catch (const Error& e) {
            std::string what = e.what();
            bool ok = e.kind() == ErrorKind::usage && what.rfind("x.yaml", 0) == 0 &&
                      what.find('\n') == std::string::npos && what.find('\0') == std::string::npos &&
                      what.size() < 1000 && !e.hint().empty();
            EXPECT_TRUE(ok) << c.why << " -> " << what.substr(0, 300) << " / hint: " << e.hint();
            refused += ok;
        } catch (const std::exception& e) {
            ADD_FAILURE() << c.why << ": threw a non-faultline exception: " << e.what();
        }
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "file catalogue: " << cases.size() << " bad files, " << refused << " refused as they should be, in "
              << ms << " ms\n";
}

} // namespace
