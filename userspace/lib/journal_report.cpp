// SPDX-License-Identifier: Apache-2.0
#include "faultline/journal_report.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "faultline/error.hpp"
#include "faultline/json_number.hpp"
#include "faultline/output.hpp"
#include "faultline/spec.hpp"

namespace faultline {
namespace {

using json = nlohmann::json;

// "net.drop@5%,proto=udp" -> "net.drop,proto=udp": one fault across the
// percentages a ramp gives it.
std::string without_percent(const std::string& spec) {
    size_t at = spec.find('@');
    if (at == std::string::npos)
        return spec;
    size_t end = spec.find(',', at);
    return spec.substr(0, at) + (end == std::string::npos ? "" : spec.substr(end));
}

struct Point {
    double t, v;
};

struct Series {
    std::string name;
    std::vector<Point> pts;
};

double pct(const std::vector<double>& v, double q) {
    if (v.empty())
        return 0;
    std::vector<double> s = v;
    std::sort(s.begin(), s.end());
    auto i = static_cast<size_t>(std::ceil(q * static_cast<double>(s.size()))) - 1;
    return s[std::min(i, s.size() - 1)];
}

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
        case '<':
            o += "&lt;";
            break;
        case '>':
            o += "&gt;";
            break;
        case '&':
            o += "&amp;";
            break;
        case '"':
            o += "&quot;";
            break;
        default:
            o += c;
        }
    }
    return o;
}

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};

// One panel: step lines (percentages) or points (latency), shared time axis.
std::string panel(double y0, double h, double tmax, const std::string& title, const std::vector<Series>& series,
                  bool steps, const std::vector<Point>& red = {}) {
    const double x0 = 70, w = 820;
    double vmax = 0;
    for (const auto& s : series)
        for (const auto& p : s.pts)
            vmax = std::max(vmax, p.v);
    for (const auto& p : red)
        vmax = std::max(vmax, p.v);
    vmax = vmax > 0 ? vmax * 1.1 : 1;
    auto X = [&](double t) { return x0 + w * (tmax > 0 ? t / tmax : 0); };
    auto Y = [&](double v) { return y0 + h - h * v / vmax; };
    std::string o = fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"13\" font-weight=\"bold\">{}</text>\n", x0, y0 - 6,
                                esc(title));
    o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n", x0, y0, w,
                     h);
    for (int i = 0; i <= 4; i++) {
        double v = vmax * i / 4;
        o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"10\" text-anchor=\"end\">{:.3g}</text>\n", x0 - 4,
                         Y(v) + 3, v);
    }
    int ci = 0;
    for (const auto& s : series) {
        if (s.pts.empty())
            continue;
        const char* c = kColors[ci++ % 6];
        std::string d;
        for (size_t i = 0; i < s.pts.size(); i++) {
            const auto& p = s.pts[i];
            if (steps && i > 0)
                d += fmt::format(" L{:.1f},{:.1f}", X(p.t), Y(s.pts[i - 1].v));
            d += fmt::format("{}{:.1f},{:.1f}", i ? " L" : "M", X(p.t), Y(p.v));
        }
        if (steps)
            d += fmt::format(" L{:.1f},{:.1f}", X(tmax), Y(s.pts.back().v));
        if (steps || s.pts.size() > 1)
            o += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", d, c);
        if (!steps)
            for (const auto& p : s.pts)
                o += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2\" fill=\"{}\"/>\n", X(p.t), Y(p.v), c);
        o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"10\" fill=\"{}\">{}</text>\n", x0 + w + 6,
                         y0 + 12 + 12 * (ci - 1), c, esc(s.name));
    }
    for (const auto& p : red)
        o += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"#d62728\"/>\n", X(p.t), Y(p.v));
    return o;
}

} // namespace

JournalReport report_journal(const std::string& path) {
    // A week-long run sampling every second writes a few hundred MB.
    constexpr size_t max_journal_bytes = size_t{1} << 30;
    return report_journal_text(read_input(path, max_journal_bytes, "journal",
                                          "give the .jsonl file `faultline run` wrote (its last line names it)"),
                               path);
}

JournalReport report_journal_text(const std::string& text, const std::string& path) {
    std::istringstream in(text);
    json start, end;
    std::vector<json> step_ev;
    std::map<std::string, Series> configured; // by slot key
    std::map<std::string, Series> rate;       // injections/s by experiment id
    struct Acc {
        uint64_t matched = 0, injected = 0;
    };
    // step -> (spec, deltas) in the order the percentages came
    std::map<std::string, std::vector<std::pair<std::string, Acc>>> by_step_spec;
    std::map<std::string, std::pair<double, json>> last; // id -> (t, counters)
    std::vector<double> lat_ok, lat_all;
    std::vector<Point> lat_pts, fail_pts;
    int probes = 0, failed = 0, max_row = 0, row = 0;
    std::string cur_step;
    std::vector<std::string> cur_faults;
    double t_end = 0;
    auto read_event = [&](json& e) {
        std::string ev = e.value("event", "");
        double t = e.value("t", 0.0);
        t_end = std::max(t_end, t);
        // The fields the text and the plot use later are read here, so a
        // wrong type is reported with its line.
        if (ev == "start") {
            for (const char* k : {"title", "hypothesis", "file", "kernel", "ts"})
                (void)e.value(k, "");
            (void)e.value("planned_s", 0.0);
            (void)e.value("shadow", false);
            start = e;
        } else if (ev == "step") {
            (void)e.value("duration_s", 0.0);
            if (!e.contains("faults") || !e["faults"].is_array())
                throw Error(ErrorKind::usage, "a step line without its list of faults");
            step_ev.push_back(e);
            cur_step = e.value("name", "");
            cur_faults.clear();
            for (const auto& f : e["faults"])
                cur_faults.push_back(f.get<std::string>());
            // Each fault's configured percentage from this step on; faults
            // of earlier steps drop to 0.
            for (auto& [k, s] : configured)
                s.pts.push_back({t, 0});
            for (const auto& f : cur_faults) {
                auto p = parse_fault(f);
                std::string key = without_percent(f);
                configured[key].name = key;
                configured[key].pts.push_back({t, p.percent});
            }
        } else if (ev == "percent") {
            std::string f = e.value("fault", "");
            std::string key = without_percent(f);
            configured[key].name = key;
            configured[key].pts.push_back({t, e.value("percent", 0.0)});
        } else if (ev == "probe") {
            probes++;
            double l = e.value("latency_ms", 0.0);
            lat_all.push_back(l);
            if (e.value("ok", false)) {
                row = 0;
                lat_ok.push_back(l);
                lat_pts.push_back({t, l});
            } else {
                failed++;
                max_row = std::max(max_row, ++row);
                fail_pts.push_back({t, l});
            }
        } else if (ev == "counters") {
            for (const auto& x : e["experiments"]) {
                std::string id = x.value("id", "");
                uint64_t m = json_integer(x, "matched", uint64_t{0}), inj = json_integer(x, "injected", uint64_t{0});
                uint64_t pm = 0, pi = 0;
                double pt = -1;
                if (auto it = last.find(id); it != last.end()) {
                    pt = it->second.first;
                    pm = json_integer(it->second.second, "matched", uint64_t{0});
                    pi = json_integer(it->second.second, "injected", uint64_t{0});
                } else {
                    // The session began at its step's start.
                    pt = step_ev.empty() ? 0 : step_ev.back().value("t", 0.0);
                }
                auto& v = by_step_spec[cur_step];
                std::string spec = x.value("spec", "");
                (void)parse_fault(spec); // the text names its configured percentage
                auto ai = std::find_if(v.begin(), v.end(), [&](auto& p) { return p.first == spec; });
                if (ai == v.end()) {
                    v.push_back({spec, Acc{}});
                    ai = v.end() - 1;
                }
                auto& acc = ai->second;
                acc.matched += m - pm;
                acc.injected += inj - pi;
                if (t > pt) {
                    rate[id].name = without_percent(x.value("spec", ""));
                    rate[id].pts.push_back({t, static_cast<double>(inj - pi) / (t - pt)});
                }
                last[id] = {t, x};
            }
        } else if (ev == "abort" || ev == "finish") {
            (void)e.value("reason", "");
            end = e;
        }
    };
    const std::string not_ours = "a journal is what `faultline run` wrote (its last line names the file); this one "
                                 "was edited, or is something else";
    bool cut_short = false;
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        n++;
        if (line.empty())
            continue;
        json e;
        try {
            e = json::parse(line);
        } catch (const json::exception& ex) {
            // A loader killed in the middle of a write leaves a last line
            // without its newline: the journal is what came before it.
            if (in.eof() && !start.is_null()) {
                cut_short = true;
                break;
            }
            throw Error(ErrorKind::usage, fmt::format("{}:{}: not a journal line: {}", path, n, ex.what()), not_ours);
        }
        if (!e.is_object())
            throw Error(ErrorKind::usage, fmt::format("{}:{}: not a journal line (not a JSON object)", path, n),
                        not_ours);
        try {
            read_event(e);
        } catch (const json::exception& ex) {
            throw Error(ErrorKind::usage, fmt::format("{}:{}: a field of the wrong type: {}", path, n, ex.what()),
                        not_ours);
        } catch (const Error& ex) {
            throw Error(ErrorKind::usage, fmt::format("{}:{}: {}", path, n, ex.what()), not_ours);
        }
    }
    if (start.is_null())
        throw Error(ErrorKind::usage, fmt::format("{}: no start event: not a faultline journal", path), not_ours);
    JournalReport r;
    // A killed run has no end line: end stays null.
    bool aborted = !end.is_null() && end.value("event", "") == "abort";
    std::string reason = end.is_null() ? std::string() : end.value("reason", "");
    if (end.is_null())
        r.verdict = "inconclusive";
    else if (!aborted)
        r.verdict = "held";
    else if (reason.rfind("steady state lost", 0) == 0)
        r.verdict = "rejected";
    else
        r.verdict = "inconclusive";

    std::string& o = r.text;
    o += fmt::format("experiment: {}\n", start.value("title", ""));
    if (!start.value("hypothesis", std::string()).empty())
        o += fmt::format("hypothesis: {}\n", start.value("hypothesis", ""));
    o += fmt::format("file: {}  kernel: {}  started: {}\n", start.value("file", ""), start.value("kernel", ""),
                     start.value("ts", ""));
    if (start.value("shadow", false))
        o += "shadow run: nothing was injected; `injected` counts the events that would have been\n";
    o += fmt::format("ran {:.1f} s of {:.1f} s planned; ", t_end, start.value("planned_s", 0.0));
    if (end.is_null())
        o += "the journal ends without a finish or abort line (faultline was killed?)\n";
    if (cut_short)
        o += fmt::format("its line {} is cut short (written when the loader died): this report is of the lines "
                         "before it\n",
                         n);
    else if (aborted)
        o += fmt::format("aborted at {:.1f} s: {}\n", end.value("t", 0.0), reason);
    else
        o += "finished\n";
    for (const auto& s : step_ev) {
        std::string name = s.value("name", "");
        o +=
            fmt::format("{} (from {:.1f} s, {:.0f} s planned):\n", name, s.value("t", 0.0), s.value("duration_s", 0.0));
        auto it = by_step_spec.find(name);
        if (it == by_step_spec.end() || it->second.empty()) {
            o += s["faults"].empty() ? "  no faults\n" : "  no counters recorded\n";
            continue;
        }
        for (const auto& [spec, acc] : it->second) {
            auto f = parse_fault(spec);
            double achieved =
                acc.matched ? 100.0 * static_cast<double>(acc.injected) / static_cast<double>(acc.matched) : 0;
            o += fmt::format("  {}: configured {}, achieved {:.3f}% ({} injected of {} matched)\n", spec,
                             format_percent(f.percent), achieved, acc.injected, acc.matched);
        }
    }
    if (start.contains("steady_state")) {
        o += fmt::format("steady state: {} probes, {} failed (at most {} in a row)", probes, failed, max_row);
        if (!lat_ok.empty())
            o += fmt::format("; latency of healthy probes p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms",
                             pct(lat_ok, 0.5), pct(lat_ok, 0.99), pct(lat_ok, 1.0));
        o += "\n";
    } else {
        o += "steady state: no probe configured\n";
    }
    o += fmt::format("hypothesis: {}\n", r.verdict == "held" ? "held (the run finished with the steady state intact)"
                                         : r.verdict == "rejected"
                                             ? "rejected (the steady state broke: " + reason + ")"
                                             : "inconclusive (" + (reason.empty() ? "no end recorded" : reason) + ")");

    // The plot.
    double tmax = std::max(t_end, start.value("planned_s", 0.0));
    if (tmax <= 0)
        tmax = 1;
    std::vector<Series> cfg, rt;
    for (auto& [k, s] : configured)
        cfg.push_back(s);
    for (auto& [k, s] : rate)
        rt.push_back(s);
    Series lat{"healthy probe", lat_pts};
    std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1100\" height=\"620\" "
                      "font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    svg += fmt::format("<text x=\"70\" y=\"22\" font-size=\"15\">{} — {}</text>\n", esc(start.value("title", "")),
                       esc(r.verdict));
    svg += panel(50, 140, tmax, "configured percentage (%)", cfg, true);
    svg += panel(240, 140, tmax, "injections per second", rt, false);
    svg += panel(430, 140, tmax, "probe latency (ms); red: failed", {lat}, false, fail_pts);
    for (int i = 0; i <= 5; i++) {
        double t = tmax * i / 5;
        svg += fmt::format("<text x=\"{:.1f}\" y=\"590\" font-size=\"10\" text-anchor=\"middle\">{:.0f} s</text>\n",
                           70 + 820 * t / tmax, t);
    }
    if (aborted)
        svg += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"40\" y2=\"575\" stroke=\"#d62728\" "
                           "stroke-dasharray=\"4\"/>\n",
                           70 + 820 * end.value("t", 0.0) / tmax);
    svg += "</svg>\n";
    r.svg = std::move(svg);
    return r;
}

} // namespace faultline
