#!/usr/bin/env bash
# README command 1: set up a fresh Debian 12 machine and run faultline's
# built-in experiment (10 ms on 1% and 1% loss on real traffic of one cgroup).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
exec build/faultline demo "$@"
