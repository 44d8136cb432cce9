// SPDX-License-Identifier: Apache-2.0
// Files faultline writes where its user says (--journal, --stats-json, a
// report's plot). faultline runs as root, often in directories others can
// write (/tmp): it never writes through a symlink or into an existing file.
// An existing regular file at the path is replaced (its name unlinked, a
// new file made with O_EXCL), anything else there is refused; under sudo
// the new file belongs to the invoking user (SUDO_UID, SUDO_GID).
#pragma once

#include <string>
#include <string_view>

namespace faultline {

// An open output file: the fd, closed on destruction.
class OutputFile {
  public:
    // Throws Error(usage) naming `what` ("--stats-json") and the path.
    OutputFile(const std::string& path, std::string_view what);
    ~OutputFile();
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;

    // The whole of text, or Error(system) naming the file.
    void write(std::string_view text);
    const std::string& path() const { return path_; }

  private:
    std::string path_;
    std::string what_;
    int fd_ = -1;
};

// OutputFile(path, what).write(text).
void write_output(const std::string& path, std::string_view what, std::string_view text);

// Files faultline reads where its user says (an experiment file, a
// journal): the whole of a regular file of at most max_bytes (a larger
// one is refused after max_bytes + 1 are read). Anything else is refused without reading
// or blocking: a FIFO (it would wait for a writer), a device (/dev/zero
// never ends), a directory. Throws Error(usage) naming `what` and the path.
std::string read_input(const std::string& path, size_t max_bytes, std::string_view what, std::string_view hint);

} // namespace faultline
