// SPDX-License-Identifier: Apache-2.0
// `faultline report` on every journal a run can leave: finished, killed (no
// end line), killed in the middle of a write (a cut last line), and on
// files that are not journals, which it refuses naming the line.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "faultline/error.hpp"
#include "faultline/journal_report.hpp"

using namespace faultline;

namespace {

class JournalFile : public ::testing::Test {
  protected:
    void TearDown() override { std::remove(path_.c_str()); }
    // The file holds exactly TEXT (no newline added).
    const std::string& write(const std::string& text) {
        std::ofstream(path_, std::ios::trunc) << text;
        return path_;
    }
    // What report_journal refuses the file with (empty: it did not).
    std::string refusal(const std::string& text) {
        try {
            report_journal(write(text));
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::usage) << e.what();
            return e.what();
        }
        return "";
    }
    std::string path_ = "/tmp/faultline-unit-journal-" + std::to_string(getpid()) + ".jsonl";
};

// A run's first lines, as runner.cpp writes them: start, one step at 5 %,
// two counter samples (100 injected of 2000 matched in the step).
const std::string kHead =
    R"({"event":"start","t":0,"title":"loss","file":"x.yaml","kernel":"6.1","ts":"2026-12-03T00:00:00Z","planned_s":60})"
    "\n"
    R"({"event":"step","t":0.1,"index":0,"name":"five","duration_s":60,"faults":["net.drop@5%,proto=udp"]})"
    "\n"
    R"({"event":"counters","t":1.1,"session":"s1","experiments":[{"id":"e1","spec":"net.drop@5%,proto=udp","matched":1000,"injected":50}]})"
    "\n"
    R"({"event":"counters","t":2.1,"session":"s1","experiments":[{"id":"e1","spec":"net.drop@5%,proto=udp","matched":2000,"injected":100}]})"
    "\n";

TEST_F(JournalFile, AFinishedRunHeldItsHypothesis) {
    auto r = report_journal(write(kHead + R"({"event":"finish","t":60,"injected":100})" + "\n"));
    EXPECT_EQ(r.verdict, "held");
    EXPECT_NE(r.text.find("achieved 5.000% (100 injected of 2000 matched)"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("finished"), std::string::npos) << r.text;
}

TEST_F(JournalFile, AKilledRunIsSummarizedAsInconclusive) {
    // No finish or abort line: what SIGKILL leaves. Before the fix this
    // failed with a raw JSON type error (value() on the missing end line).
    auto r = report_journal(write(kHead));
    EXPECT_EQ(r.verdict, "inconclusive");
    EXPECT_NE(r.text.find("faultline was killed?"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("(100 injected of 2000 matched)"), std::string::npos) << r.text;
    EXPECT_NE(r.svg.find("</svg>"), std::string::npos);
}

TEST_F(JournalFile, ALastLineCutByTheKillIsLeftOutAndSaid) {
    auto r = report_journal(write(kHead + R"({"event":"counters","t":3.1,"session":"s1","experi)"));
    EXPECT_EQ(r.verdict, "inconclusive");
    EXPECT_NE(r.text.find("line 5 is cut short"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("(100 injected of 2000 matched)"), std::string::npos) << r.text;
}

TEST_F(JournalFile, WhatIsNotAJournalIsRefusedWithItsLine) {
    EXPECT_NE(refusal("").find("no start event"), std::string::npos);
    EXPECT_NE(refusal("hello\n").find(":1: not a journal line"), std::string::npos);
    // garbage in the middle is not a cut last line
    EXPECT_NE(refusal(kHead + "{oops\n" + R"({"event":"finish","t":60})" + "\n").find(":5: not a journal line"),
              std::string::npos);
    EXPECT_NE(refusal("[1,2]\n").find(":1: not a journal line (not a JSON object)"), std::string::npos);
    EXPECT_NE(refusal(R"({"event":"start","title":5})"
                      "\n")
                  .find(":1: a field of the wrong type"),
              std::string::npos);
    EXPECT_NE(refusal(R"({"event":7})"
                      "\n")
                  .find(":1: a field of the wrong type"),
              std::string::npos);
    EXPECT_NE(refusal(kHead + R"({"event":"step","t":5,"name":"x"})" + "\n").find(":5: a step line without"),
              std::string::npos);
    EXPECT_NE(
        refusal(kHead + R"({"event":"counters","t":5,"experiments":[{"id":"e1","spec":"net.nothing@5%"}]})" + "\n")
            .find(":5: "),
        std::string::npos);
    EXPECT_NE(refusal(kHead + R"({"event":"counters","t":5,"experiments":[3]})" + "\n").find(":5: a field"),
              std::string::npos);
    EXPECT_NE(refusal(kHead + R"({"event":"finish","t":"late"})" + "\n").find(":5: a field"), std::string::npos);
}

// The journal part of the bad-input catalogue (issue 12): the finished
// journal cut at every byte (what a kill or a full disk leaves), and every
// field of every line given every wrong type. Each is summarized or refused
// with Error(usage) naming the file and its line: never another exception.
TEST_F(JournalFile, EveryCutAndEveryWrongTypeIsSummarizedOrRefusedByLine) {
    const std::string full = kHead + R"({"event":"finish","t":60,"injected":100})" + "\n";
    size_t cases = 0, summarized = 0, refused = 0;
    auto check = [&](const std::string& text, const std::string& what) {
        cases++;
        try {
            report_journal(write(text));
            summarized++;
        } catch (const Error& e) {
            std::string m = e.what();
            EXPECT_EQ(e.kind(), ErrorKind::usage) << what << ": " << m;
            EXPECT_EQ(m.rfind(path_, 0), 0u) << what << ": " << m;
            EXPECT_EQ(m.find('\n'), std::string::npos) << what << ": " << m;
            EXPECT_FALSE(e.hint().empty()) << what << ": " << m;
            refused++;
        } catch (const std::exception& e) {
            ADD_FAILURE() << what << ": threw a non-faultline exception: " << e.what();
        }
    };
    for (size_t n = 0; n <= full.size(); n++)
        check(full.substr(0, n), "cut at byte " + std::to_string(n));
    std::vector<std::string> lines;
    std::istringstream in(full);
    for (std::string l; std::getline(in, l);)
        lines.push_back(l);
    const std::vector<nlohmann::json> wrong = {nullptr,
                                               true,
                                               -1,
                                               1e308,
                                               -1e308,
                                               1.5,
                                               "text",
                                               nlohmann::json::array(),
                                               nlohmann::json::object(),
                                               std::string(100000, 'x')};
    for (size_t i = 0; i < lines.size(); i++) {
        auto line = nlohmann::json::parse(lines[i]);
        // Every field, and every field of the objects in an array field.
        std::vector<nlohmann::json::json_pointer> fields;
        for (auto& [k, v] : line.items()) {
            fields.emplace_back("/" + k);
            if (v.is_array())
                for (size_t j = 0; j < v.size(); j++)
                    if (v[j].is_object())
                        for (auto& [k2, v2] : v[j].items())
                            fields.emplace_back("/" + k + "/" + std::to_string(j) + "/" + k2);
        }
        for (const auto& f : fields)
            for (const auto& w : wrong) {
                if (line[f] == w)
                    continue;
                auto bad = line;
                bad[f] = w;
                std::string text;
                for (size_t k = 0; k < lines.size(); k++)
                    text += (k == i ? bad.dump() : lines[k]) + "\n";
                check(text, "line " + std::to_string(i + 1) + " " + f.to_string() + " = " + w.dump().substr(0, 20));
            }
    }
    EXPECT_GE(cases, 300u);
    std::cout << "journal catalogue: " << cases << " journals, " << summarized << " summarized, " << refused
              << " refused by line\n";
}

} // namespace
