// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "faultline/cgroup.hpp"
#include "faultline/error.hpp"

using namespace faultline;

namespace {

// A mountinfo file with the given lines, removed at the end of the test.
struct TempFile {
    explicit TempFile(const std::string& text) {
        int fd = mkstemp(path);
        EXPECT_GE(fd, 0);
        close(fd);
        std::ofstream(path) << text;
    }
    ~TempFile() { std::remove(path); }
    char path[32] = "/tmp/fl-mountinfo-XXXXXX";
};

} // namespace

TEST(Cgroup2Mount, FindsUnifiedHierarchyOnHybridHost) {
    TempFile f("25 30 0:22 / /sys/fs/cgroup rw,relatime shared:9 - tmpfs tmpfs rw,mode=755\n"
               "26 25 0:23 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw\n"
               "27 25 0:24 / /sys/fs/cgroup/cpu rw,relatime shared:11 - cgroup cgroup rw,cpu\n");
    EXPECT_EQ(cgroup2_mount(f.path), "/sys/fs/cgroup/unified");
}

TEST(Cgroup2Mount, UnescapesSpacesAndSkipsBindMountsOfSubtrees) {
    TempFile f("40 30 0:23 /sub /mnt/sub rw - cgroup2 cgroup2 rw\n"
               "41 30 0:23 / /mnt/my\\040cg rw - cgroup2 cgroup2 rw\n");
    EXPECT_EQ(cgroup2_mount(f.path), "/mnt/my cg");
}

TEST(Cgroup2Mount, NoneMountedIsUnsupported) {
    TempFile f("25 30 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n");
    try {
        cgroup2_mount(f.path);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::unsupported);
        EXPECT_FALSE(e.hint().empty());
    }
}

TEST(ResolveCgroup, RejectsPathsThatAreNotCgroupV2Directories) {
    for (const char* p : {"/tmp", "/nonexistent/faultline", "/etc/passwd", ""}) {
        try {
            resolve_cgroup(p);
            FAIL() << p << " accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::usage) << p;
            EXPECT_FALSE(e.hint().empty()) << p;
        }
    }
}
