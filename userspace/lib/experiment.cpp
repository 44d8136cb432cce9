// SPDX-License-Identifier: Apache-2.0
#include "faultline/experiment.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "faultline/error.hpp"
#include "faultline/output.hpp"

namespace faultline {
namespace {

constexpr const char* file_hint = "see `faultline run --help` and examples/ for the file's fields";

// Larger is no experiment (the examples are under 2 kB); a bound also keeps
// a wrong path (a log, an image) from being parsed for minutes.
constexpr size_t max_file_bytes = 1 << 20;

// How many YAML documents the text holds (0 to 3: more are not counted).
// Not YAML::LoadAll: yaml-cpp 0.7 reads a stray `,` at the top level as an
// empty document without consuming it, so LoadAll(",") makes empty
// documents until memory runs out (found by tests/fuzz). Here a document
// that starts where the one before it started is that case: refused.
class DocumentCounter : public YAML::EventHandler {
  public:
    void OnDocumentStart(const YAML::Mark& m) override { start = m; }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
    YAML::Mark start = YAML::Mark::null_mark();
};

int count_documents(const std::string& text, const std::string& name) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentCounter h;
    int docs = 0;
    YAML::Mark last = YAML::Mark::null_mark();
    while (docs < 3 && parser.HandleNextDocument(h)) { // a third shows a stuck second
        if (docs > 0 && h.start.pos == last.pos) {
            const size_t at = static_cast<size_t>(std::max(0, h.start.pos));
            throw Error(ErrorKind::usage,
                        fmt::format("{}:{}: not valid YAML: `{}` where a document should start", name, h.start.line + 1,
                                    at < text.size() ? text.substr(at, 1) : "?"),
                        "a `,` separates items only inside [ ] or { }");
        }
        last = h.start;
        docs++;
    }
    return docs;
}

// Offset of the first byte that is not UTF-8, or npos.
size_t invalid_utf8(std::string_view t) {
    for (size_t i = 0; i < t.size();) {
        auto c = static_cast<unsigned char>(t[i]);
        size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (n == 0 || i + n > t.size())
            return i;
        for (size_t k = 1; k < n; k++)
            if ((static_cast<unsigned char>(t[i + k]) >> 6) != 0x2)
                return i;
        i += n;
    }
    return std::string_view::npos;
}

class Reader {
  public:
    explicit Reader(std::string file) : file_(std::move(file)) {}

    [[noreturn]] void fail(const YAML::Node& at, const std::string& field, const std::string& what,
                           const std::string& hint = file_hint) const {
        auto m = at.Mark();
        std::string where = m.is_null() ? file_ : fmt::format("{}:{}", file_, m.line + 1);
        throw Error(ErrorKind::usage, fmt::format("{}: {}: {}", where, field, what), hint);
    }

    // A mapping's key: a name. YAML also allows a list, a mapping or
    // nothing as a key (`? [a]: x`, `? : x`): no field is called that.
    std::string key(const YAML::Node& k, const std::string& field) const {
        if (!k.IsScalar())
            fail(k, field.empty() ? "key" : field + " key", "is not a name (it is a list, a mapping or nothing)",
                 "write each field as `name: value`");
        return k.as<std::string>();
    }

    // Only the listed keys; a typo is an error, not a silently ignored line.
    void keys(const YAML::Node& map, const std::string& field, std::set<std::string> allowed) const {
        if (!map.IsMap())
            fail(map, field, "must be a mapping (key: value lines)");
        for (const auto& kv : map) {
            auto k = key(kv.first, field);
            if (!allowed.count(k)) {
                std::string list;
                for (const auto& a : allowed)
                    list += (list.empty() ? "" : ", ") + a;
                fail(kv.first, field.empty() ? k : field + "." + k, "unknown field", "known fields here: " + list);
            }
        }
    }

    // A key given twice anywhere (YAML says keys are unique; the parser
    // keeps one silently).
    void unique_keys(const YAML::Node& n, const std::string& field) const {
        if (n.IsSequence())
            for (size_t i = 0; i < n.size(); i++)
                unique_keys(n[i], fmt::format("{}[{}]", field, i));
        if (!n.IsMap())
            return;
        std::map<std::string, int> seen;
        for (const auto& kv : n) {
            std::string k = key(kv.first, field);
            std::string path = field.empty() ? k : field + "." + k;
            auto [it, fresh] = seen.emplace(k, kv.first.Mark().line + 1);
            if (!fresh)
                fail(kv.first, path, fmt::format("is given twice (first on line {})", it->second),
                     "give each field once");
            unique_keys(kv.second, path);
        }
    }

    std::string str(const YAML::Node& n, const std::string& field) const {
        if (!n.IsScalar())
            fail(n, field, "must be a single value");
        return n.as<std::string>();
    }

    // Wraps the grammar's own errors with the position.
    template <typename F> auto parsed(const YAML::Node& n, const std::string& field, F&& f) const {
        try {
            return f(str(n, field));
        } catch (const Error& e) {
            fail(n, field, e.what(), e.hint());
        }
    }

    Nanos duration(const YAML::Node& n, const std::string& field) const {
        Nanos d = parsed(n, field, [&](const std::string& s) { return parse_duration(s, field); });
        if (d.count() <= 0 || d > max_duration)
            fail(n, field, fmt::format("{} is out of range", str(n, field)), "a duration from 1ms to 168h");
        return d;
    }

    std::vector<std::string> argv(const YAML::Node& n, const std::string& field) const {
        if (n.IsScalar()) {
            auto s = n.as<std::string>();
            if (s.empty())
                fail(n, field, "is empty");
            return {"/bin/sh", "-c", s};
        }
        if (!n.IsSequence() || n.size() == 0)
            fail(n, field, "must be a command: a string (run by /bin/sh -c) or a non-empty list of words");
        std::vector<std::string> out;
        for (size_t i = 0; i < n.size(); i++)
            out.push_back(str(n[i], fmt::format("{}[{}]", field, i)));
        return out;
    }

  private:
    std::string file_;
};

Ramp parse_ramp(const Reader& r, const YAML::Node& n, const std::string& field) {
    r.keys(n, field, {"fault", "from", "to", "steps", "over"});
    for (const char* k : {"fault", "from", "to", "over"})
        if (!n[k])
            r.fail(n, field, fmt::format("needs `{}`", k));
    Ramp ramp;
    ramp.from = r.parsed(n["from"], field + ".from", [](const std::string& s) { return parse_percent(s); });
    ramp.to = r.parsed(n["to"], field + ".to", [](const std::string& s) { return parse_percent(s); });
    ramp.over = r.duration(n["over"], field + ".over");
    if (n["steps"]) {
        ramp.steps = r.parsed(n["steps"], field + ".steps", [](const std::string& s) {
            size_t used = 0;
            int v = -1;
            try {
                v = std::stoi(s, &used);
            } catch (const std::exception&) {
            }
            if (used != s.size() || v < 2 || v > 1000)
                throw Error(ErrorKind::usage, fmt::format("`{}` is not a number of steps from 2 to 1000", s),
                            "steps: N splits the ramp into N equal steps, from 2 to 1000");
            return v;
        });
    }
    std::string spec = r.str(n["fault"], field + ".fault");
    if (spec.find('@') != std::string::npos)
        r.fail(n["fault"], field + ".fault", "a ramped fault has no @PERCENT: `from` and `to` set it",
               "e.g. fault: net.drop,proto=udp  from: 1%  to: 5%");
    // The grammar wants KIND.ACTION[=V]@P%[,filters]: put `from` in.
    size_t comma = spec.find(',');
    std::string full = spec.substr(0, comma) + "@" + format_percent(ramp.from) +
                       (comma == std::string::npos ? "" : spec.substr(comma));
    ramp.fault = r.parsed(n["fault"], field + ".fault", [&](const std::string&) { return parse_fault(full); });
    return ramp;
}

SteadyState parse_steady(const Reader& r, const YAML::Node& n) {
    r.keys(n, "steady_state", {"command", "http", "interval", "timeout", "max_failures"});
    SteadyState s;
    if (n["command"] && n["http"])
        r.fail(n, "steady_state", "give either `command` or `http`, not both");
    if (n["command"])
        s.command = r.argv(n["command"], "steady_state.command");
    else if (n["http"]) {
        s.http = r.str(n["http"], "steady_state.http");
        static const std::vector<std::string> loopback = {"http://127.", "http://localhost:", "http://localhost/",
                                                          "http://[::1]"};
        bool ok = false;
        for (const auto& p : loopback)
            ok = ok || s.http.rfind(p, 0) == 0;
        if (!ok)
            r.fail(n["http"], "steady_state.http", fmt::format("`{}` is not an http:// URL on loopback", s.http),
                   "the probe only talks to this machine: http://127.0.0.1:PORT/PATH or http://[::1]:PORT/PATH");
    } else
        r.fail(n, "steady_state", "needs `command` or `http`");
    if (n["interval"])
        s.interval = r.duration(n["interval"], "steady_state.interval");
    if (n["timeout"])
        s.timeout = r.duration(n["timeout"], "steady_state.timeout");
    if (s.timeout > s.interval)
        r.fail(n, "steady_state.timeout", "is longer than the interval", "a probe must finish before the next one");
    if (n["max_failures"]) {
        s.max_failures = r.parsed(n["max_failures"], "steady_state.max_failures", [](const std::string& v) {
            size_t used = 0;
            int x = -1;
            try {
                x = std::stoi(v, &used);
            } catch (const std::exception&) {
            }
            if (used != v.size() || x < 1 || x > 1000000)
                throw Error(ErrorKind::usage, fmt::format("`{}` is not a count from 1", v),
                            "a whole number from 1, in decimal");
            return x;
        });
    }
    return s;
}

} // namespace

Nanos Experiment::planned_duration() const {
    Nanos total{0};
    for (const auto& s : steps)
        total += s.duration;
    return total;
}

namespace {
// Every fault of every step, the ramps' included, each once by key(fault).
template <class Key> auto each_fault_once(const Experiment& x, Key key) {
    std::vector<decltype(key(std::declval<const FaultSpec&>()))> out;
    auto add = [&](const FaultSpec& f) {
        if (std::find(out.begin(), out.end(), key(f)) == out.end())
            out.push_back(key(f));
    };
    for (const auto& s : x.steps) {
        for (const auto& f : s.faults)
            add(f);
        if (s.ramp)
            add(s.ramp->fault);
    }
    return out;
}
} // namespace

std::vector<std::string> Experiment::probe_names(bool shadow) const {
    return each_fault_once(*this, [shadow](const FaultSpec& f) { return std::string(f.def->probe_name(shadow)); });
}

std::vector<std::string> Experiment::fault_names() const {
    return each_fault_once(*this, [](const FaultSpec& f) { return f.name(); });
}

Experiment parse_experiment(const std::string& text, const std::string& name) {
    Reader r(name);
    if (text.size() > max_file_bytes)
        throw Error(
            ErrorKind::usage,
            fmt::format("{}: is larger than {} bytes, the most an experiment file may be", name, max_file_bytes),
            "is this the experiment file? (the examples/ are under 2 kB)");
    if (size_t bad = invalid_utf8(text); bad != std::string_view::npos)
        throw Error(ErrorKind::usage,
                    fmt::format("{}:{}: a byte that is not UTF-8 (0x{:02x})", name,
                                1 + std::count(text.begin(), text.begin() + static_cast<long>(bad), '\n'),
                                static_cast<unsigned char>(text[bad])),
                    "save the file as UTF-8 (the journal and report carry its text)");
    YAML::Node root;
    try {
        if (count_documents(text, name) > 1)
            throw Error(ErrorKind::usage, fmt::format("{}: holds more than one YAML document", name),
                        "one experiment per file: remove the `---` lines");
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw Error(ErrorKind::usage, fmt::format("{}:{}: not valid YAML: {}", name, e.mark.line + 1, e.msg),
                    file_hint);
    }
    if (!root.IsMap())
        throw Error(ErrorKind::usage,
                    fmt::format("{}: not an experiment (expected `title:`, `target:`, `steps:` ...)", name), file_hint);
    r.unique_keys(root, "");
    r.keys(root, "",
           {"title", "hypothesis", "target", "netns", "seed", "user", "allow_host_wide", "force", "steps",
            "steady_state", "limits"});
    Experiment x;
    x.file = name;
    for (const char* k : {"title", "target", "steps"})
        if (!root[k])
            r.fail(root, k, "is missing");
    x.title = r.str(root["title"], "title");
    if (x.title.empty())
        r.fail(root["title"], "title", "is empty", "say what the experiment is, in a few words");
    if (root["hypothesis"])
        x.hypothesis = r.str(root["hypothesis"], "hypothesis");

    const YAML::Node t = root["target"];
    r.keys(t, "target", {"cgroup", "exec"});
    if (t["cgroup"] && t["exec"])
        r.fail(t, "target", "give either `cgroup` or `exec`, not both");
    if (t["cgroup"]) {
        x.cgroup = r.str(t["cgroup"], "target.cgroup");
        if (x.cgroup.empty())
            r.fail(t["cgroup"], "target.cgroup", "is empty", "a cgroup v2 directory, e.g. /sys/fs/cgroup/api");
    } else if (t["exec"])
        x.exec = r.argv(t["exec"], "target.exec");
    else
        r.fail(t, "target", "needs `cgroup: PATH` or `exec: COMMAND`");
    if (root["netns"])
        x.netns = r.str(root["netns"], "netns");
    if (root["netns"] && x.netns.empty())
        r.fail(root["netns"], "netns", "is empty", "a name (ip netns) or a path (/proc/PID/ns/net); or leave it out");
    if (root["seed"])
        x.seed = r.parsed(root["seed"], "seed", [](const std::string& s) { return parse_seed(s); });
    if (root["user"]) {
        x.user = r.str(root["user"], "user");
        if (x.user.empty())
            r.fail(root["user"], "user", "is empty", "leave user: out for the user who ran sudo, or name one");
    }
    auto boolean = [](const std::string& s) {
        if (s == "true")
            return true;
        if (s == "false")
            return false;
        throw Error(ErrorKind::usage, fmt::format("`{}` is not true or false", s), "write true or false");
    };
    if (root["allow_host_wide"])
        x.allow_host_wide = r.parsed(root["allow_host_wide"], "allow_host_wide", boolean);
    if (root["force"])
        x.force = r.parsed(root["force"], "force", boolean);

    const YAML::Node steps = root["steps"];
    if (!steps.IsSequence() || steps.size() == 0)
        r.fail(steps, "steps", "must be a non-empty list");
    for (size_t i = 0; i < steps.size(); i++) {
        const YAML::Node s = steps[i];
        std::string field = fmt::format("steps[{}]", i);
        r.keys(s, field, {"name", "faults", "ramp", "duration"});
        Step step;
        step.name = s["name"] ? r.str(s["name"], field + ".name") : fmt::format("step {}", i + 1);
        if (s["faults"]) {
            const YAML::Node fs = s["faults"];
            if (fs.IsScalar())
                step.faults.push_back(
                    r.parsed(fs, field + ".faults", [](const std::string& v) { return parse_fault(v); }));
            else if (fs.IsSequence())
                for (size_t j = 0; j < fs.size(); j++) {
                    std::string f = fmt::format("{}.faults[{}]", field, j);
                    std::string v = r.str(fs[j], f);
                    // [net.drop@1%,proto=udp] is two items to YAML.
                    if (fs.Style() == YAML::EmitterStyle::Flow && v.find('@') == std::string::npos &&
                        v.find('=') != std::string::npos && v.find('.') == std::string::npos)
                        r.fail(fs[j], f, fmt::format("`{}` is not a fault: in a [a, b] list a comma ends the item", v),
                               "write one fault per line (`- net.drop@1%,proto=udp`) or quote it");
                    step.faults.push_back(r.parsed(fs[j], f, [](const std::string& t) { return parse_fault(t); }));
                }
            else
                r.fail(fs, field + ".faults", "must be a fault spec or a list of them");
        }
        if (s["ramp"]) {
            step.ramp = parse_ramp(r, s["ramp"], field + ".ramp");
            if (s["duration"])
                r.fail(s["duration"], field + ".duration", "a ramp step lasts `ramp.over`; remove `duration`");
            step.duration = step.ramp->over;
        } else if (s["duration"]) {
            step.duration = r.duration(s["duration"], field + ".duration");
        } else {
            r.fail(s, field, "needs `duration` (or a `ramp` with `over`)");
        }
        if (step.faults.size() + (step.ramp ? 1 : 0) > FL_MAX_PER_TARGET)
            r.fail(s, field, fmt::format("has more than {} faults", FL_MAX_PER_TARGET));
        x.steps.push_back(std::move(step));
    }
    if (root["steady_state"])
        x.steady_state = parse_steady(r, root["steady_state"]);
    if (root["limits"]) {
        const YAML::Node l = root["limits"];
        r.keys(l, "limits", {"max_injections", "max_duration"});
        if (l["max_injections"])
            x.limits.max_injections = r.parsed(l["max_injections"], "limits.max_injections", [](const std::string& s) {
                size_t used = 0;
                uint64_t v = 0;
                try {
                    v = std::stoull(s, &used);
                } catch (const std::exception&) {
                }
                if (used != s.size() || v == 0 || s[0] == '-')
                    throw Error(ErrorKind::usage, fmt::format("`{}` is not a count from 1", s),
                                "a whole number from 1, in decimal");
                return v;
            });
        if (l["max_duration"])
            x.limits.max_duration = r.duration(l["max_duration"], "limits.max_duration");
    }
    if (x.planned_duration() > max_duration)
        r.fail(steps, "steps", "add up to more than 168h");
    return x;
}

Experiment load_experiment(const std::string& path) {
    std::string text =
        read_input(path, max_file_bytes, "experiment file", "give the path of a YAML experiment file (see examples/)");
    return parse_experiment(text, path);
}

} // namespace faultline
