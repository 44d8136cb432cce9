// SPDX-License-Identifier: Apache-2.0
#include "faultline/output.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "faultline/error.hpp"

namespace faultline {
namespace {

// SUDO_UID / SUDO_GID as ids, if faultline runs as root under sudo.
bool invoking_user(uid_t* uid, gid_t* gid) {
    const char* u = getenv("SUDO_UID");
    const char* g = getenv("SUDO_GID");
    if (geteuid() != 0 || !u || !g || !*u || !*g)
        return false;
    char *ue = nullptr, *ge = nullptr;
    unsigned long uv = strtoul(u, &ue, 10), gv = strtoul(g, &ge, 10);
    if (*ue || *ge || uv == 0)
        return false;
    *uid = static_cast<uid_t>(uv);
    *gid = static_cast<gid_t>(gv);
    return true;
}

} // namespace

OutputFile::OutputFile(const std::string& path, std::string_view what) : path_(path), what_(what) {
    const std::string hint = fmt::format("give {} a path where a new file can be made", what_);
    for (int attempt = 0; attempt < 2 && fd_ < 0; attempt++) {
        fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd_ >= 0)
            break;
        int err = errno;
        struct stat st {};
        if (err != EEXIST || attempt > 0)
            throw Error(ErrorKind::usage, fmt::format("{} {}: cannot create it: {}", what_, path, strerror(err)), hint);
        if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
            throw Error(ErrorKind::usage,
                        fmt::format("{} {}: something other than a regular file is there ({}): faultline does not "
                                    "write through it",
                                    what_, path, S_ISLNK(st.st_mode) ? "a symlink" : "not a file"),
                        hint);
        // A regular file: replaced, not truncated (it may be a hard link to
        // a file elsewhere).
        if (unlink(path.c_str()) != 0 && errno != ENOENT)
            throw Error(ErrorKind::usage,
                        fmt::format("{} {}: cannot replace the file there: {}", what_, path, strerror(errno)), hint);
    }
    uid_t uid;
    gid_t gid;
    if (invoking_user(&uid, &gid) && fchown(fd_, uid, gid) != 0) {
        // root that cannot chown (a root-squashed mount): the file stays root's
    }
}

OutputFile::~OutputFile() {
    if (fd_ >= 0)
        close(fd_);
}

void OutputFile::write(std::string_view text) {
    while (!text.empty()) {
        ssize_t n = ::write(fd_, text.data(), text.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw_errno(fmt::format("write {} {}", what_, path_), n < 0 ? errno : ENOSPC);
        text.remove_prefix(static_cast<size_t>(n));
    }
}

void write_output(const std::string& path, std::string_view what, std::string_view text) {
    OutputFile(path, what).write(text);
}

std::string read_input(const std::string& path, size_t max_bytes, std::string_view what, std::string_view hint) {
    // O_NONBLOCK: opening a FIFO does not wait for a writer.
    int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        throw Error(ErrorKind::usage, fmt::format("cannot read {} {}: {}", what, path, strerror(errno)),
                    std::string(hint));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        const char* kind = S_ISDIR(st.st_mode)                          ? "a directory"
                           : S_ISFIFO(st.st_mode)                       ? "a FIFO"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                           : S_ISSOCK(st.st_mode)                       ? "a socket"
                                                                        : "not a regular file";
        throw Error(ErrorKind::usage, fmt::format("{} {} is {}, not a file", what, path, kind), std::string(hint));
    }
    std::string text;
    char buf[65536];
    for (;;) {
        size_t want = std::min(sizeof buf, max_bytes + 1 - text.size());
        if (want == 0)
            break;
        ssize_t n = read(fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            throw Error(ErrorKind::usage, fmt::format("cannot read {} {}: {}", what, path, strerror(err)),
                        std::string(hint));
        }
        if (n == 0)
            break;
        text.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    if (text.size() > max_bytes)
        throw Error(ErrorKind::usage, fmt::format("{} {} is larger than {} bytes", what, path, max_bytes),
                    std::string(hint));
    return text;
}

} // namespace faultline
