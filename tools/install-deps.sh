#!/usr/bin/env bash
# Installs everything faultline needs to build, test and benchmark, from
# Debian 12's packages. Idempotent; run as root.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config clang llvm libclang-rt-dev
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libnl-3-dev libnl-route-3-dev
  libcli11-dev libfmt-dev nlohmann-json3-dev libyaml-cpp-dev
  libgtest-dev googletest libbenchmark-dev
  clang-format iproute2 util-linux e2fsprogs iperf3 nftables
  qemu-system-x86 busybox-static cpio kmod xz-utils jq
  dnsmasq-base bind9-dnsutils
  fiu-utils # the disk tests compare with libfiu's fiu-run
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
