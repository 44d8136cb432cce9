#!/usr/bin/env bash
# Fails if any C++ file differs from .clang-format (BPF C keeps kernel style
# and is checked by clang -Wall -Werror instead).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files 'userspace/*.cpp' 'userspace/*.hpp' 'tests/*.cpp' 'tests/*.hpp' 'tools/*.cpp' 'tools/*.hpp')
clang-format --dry-run -Werror $files
echo "format: $(echo "$files" | wc -w) files ok"
