#!/usr/bin/env bash
# Checks that a faultline binary carries the hardening CMakeLists.txt asks
# for: full RELRO (BIND_NOW), PIE (a dynamic build), the stack protector and
# fortified libc calls. Usage: tools/check-hardening.sh BINARY [static]
set -euo pipefail
bin=${1:?usage: $0 BINARY [static]}
kind=${2:-dynamic}
fail=0
check() { # WHAT CONDITION-COMMAND...
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then echo "hardening: $what: yes"; else echo "hardening: $what: NO" >&2; fail=1; fi
}
if [ "$kind" = dynamic ]; then # a static binary has no dynamic linking to protect
  check "full RELRO (GNU_RELRO + BIND_NOW)" sh -c "readelf -lW '$bin' | grep -q GNU_RELRO && readelf -dW '$bin' | grep -qE 'BIND_NOW|FLAGS.*NOW'"
  check "PIE" sh -c "readelf -hW '$bin' | grep -q 'Type:.*DYN'"
fi
check "stack protector" sh -c "nm -D '$bin' 2>/dev/null | grep -q __stack_chk_fail || nm '$bin' | grep -q __stack_chk_fail"
check "fortified libc calls" sh -c "(nm -D '$bin' 2>/dev/null; nm '$bin' 2>/dev/null) | grep -qE '__[a-z_]+_chk'"
exit $fail
