// SPDX-License-Identifier: Apache-2.0
// Files written where the user says (--journal, --stats-json, --plot), as
// root, in directories others may write: never through a symlink, never
// into another file by way of a hard link, owned by the sudo user.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "faultline/error.hpp"
#include "faultline/output.hpp"

using namespace faultline;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

class Output : public ::testing::Test {
  protected:
    void SetUp() override {
        char t[] = "/tmp/faultline-unit-output-XXXXXX";
        ASSERT_NE(mkdtemp(t), nullptr);
        dir_ = t;
    }
    void TearDown() override {
        for (const char* f : {"out", "victim", "link", "sub"}) {
            unlink((dir_ + "/" + f).c_str());
            rmdir((dir_ + "/" + f).c_str());
        }
        rmdir(dir_.c_str());
    }
    std::string refusal(const std::string& path) {
        try {
            OutputFile f(path, "--stats-json");
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::usage);
            return e.what();
        }
        return "";
    }
    std::string dir_;
};

TEST_F(Output, ANewFileGetsTheText) {
    mode_t old = umask(022);
    write_output(dir_ + "/out", "--plot", "hello\n");
    umask(old);
    EXPECT_EQ(slurp(dir_ + "/out"), "hello\n");
    struct stat st {};
    ASSERT_EQ(stat((dir_ + "/out").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(Output, AnExistingFileIsReplacedNotWrittenThrough) {
    // out is a hard link to victim: truncating out would truncate victim.
    std::ofstream(dir_ + "/victim") << "keep me\n";
    ASSERT_EQ(link((dir_ + "/victim").c_str(), (dir_ + "/out").c_str()), 0);
    write_output(dir_ + "/out", "--stats-json", "{}\n");
    EXPECT_EQ(slurp(dir_ + "/out"), "{}\n");
    EXPECT_EQ(slurp(dir_ + "/victim"), "keep me\n");
}

TEST_F(Output, ASymlinkIsRefusedAndItsTargetUntouched) {
    std::ofstream(dir_ + "/victim") << "keep me\n";
    ASSERT_EQ(symlink((dir_ + "/victim").c_str(), (dir_ + "/link").c_str()), 0);
    auto why = refusal(dir_ + "/link");
    EXPECT_NE(why.find("a symlink"), std::string::npos) << why;
    EXPECT_EQ(slurp(dir_ + "/victim"), "keep me\n");
    // a dangling one too: O_CREAT would have made its target
    ASSERT_EQ(unlink((dir_ + "/victim").c_str()), 0);
    EXPECT_NE(refusal(dir_ + "/link").find("a symlink"), std::string::npos);
    EXPECT_NE(access((dir_ + "/victim").c_str(), F_OK), 0) << "the symlink's target was created";
}

TEST_F(Output, WhatCannotBeMadeIsRefusedWithThePath) {
    ASSERT_EQ(mkdir((dir_ + "/sub").c_str(), 0755), 0);
    EXPECT_NE(refusal(dir_ + "/sub").find("not a file"), std::string::npos);
    auto why = refusal(dir_ + "/nodir/out");
    EXPECT_NE(why.find("--stats-json " + dir_ + "/nodir/out: cannot create it"), std::string::npos) << why;
}

TEST_F(Output, UnderSudoTheFileIsTheInvokingUsers) {
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root (as faultline runs)";
    setenv("SUDO_UID", "65534", 1);
    setenv("SUDO_GID", "65533", 1);
    write_output(dir_ + "/out", "--journal", "x\n");
    unsetenv("SUDO_UID");
    unsetenv("SUDO_GID");
    struct stat st {};
    ASSERT_EQ(stat((dir_ + "/out").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 65534u);
    EXPECT_EQ(st.st_gid, 65533u);
}

TEST_F(Output, AnInputFileIsReadWholeUpToItsLimitAndNoFurther) {
    std::ofstream(dir_ + "/out") << std::string(100, 'a');
    EXPECT_EQ(read_input(dir_ + "/out", 100, "journal", "hint").size(), 100u);
    try {
        read_input(dir_ + "/out", 99, "journal", "hint");
        FAIL() << "a file one byte over the limit was read";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_NE(std::string(e.what()).find("journal " + dir_ + "/out is larger than 99 bytes"), std::string::npos)
            << e.what();
    }
}

} // namespace
