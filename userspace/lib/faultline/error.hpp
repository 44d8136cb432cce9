// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <stdexcept>
#include <string>

namespace faultline {

// Why an operation failed; the CLI maps each to an exit code.
enum class ErrorKind {
    usage,       // bad input: spec, path, option
    unsupported, // the running kernel lacks a mechanism
    permission,  // not root / missing capability
    system,      // a syscall or libbpf call failed unexpectedly
};

// A message that quotes what it was given stays one readable line whatever
// that was: control characters are written as \n, \t, \xNN, and beyond
// 400 bytes the middle is cut and the cut said (a 1 MB value).
std::string shorten_message(std::string message);

// The one error type of the library: a message that says what failed, with
// context, and a hint that says what to do about it. The message is kept
// one readable line whatever it quotes (shorten_message).
class Error : public std::runtime_error {
  public:
    Error(ErrorKind kind, std::string message, std::string hint = {})
        : std::runtime_error(shorten_message(std::move(message))), kind_(kind), hint_(std::move(hint)) {}

    ErrorKind kind() const noexcept { return kind_; }
    const std::string& hint() const noexcept { return hint_; }

  private:
    ErrorKind kind_;
    std::string hint_;
};

// Throws ErrorKind::system with strerror(err) appended.
[[noreturn]] void throw_errno(const std::string& what, int err, std::string hint = {});

} // namespace faultline
