#!/usr/bin/env bash
# Builds the "fl-override" matrix kernel from Debian's own kernel source
# package: linux-source-6.1 with Debian's cloud-amd64 config, every module
# option off, and tools/vmtest/fl-override.config applied. One bzImage, no
# modules. About 15 minutes on 2 cores. Run as root (apt-get).
#
#   tools/vmtest/build-override-kernel.sh OUT_BZIMAGE
#
# tools/vmtest/run.sh calls it when the prebuilt image named in kernels.conf
# is absent, and caches the result under ~/.cache/faultline/vmtest.
set -euo pipefail
out=$(realpath -m "${1:?usage: $0 OUT_BZIMAGE}")
here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/fl-override.config
work=$(dirname "$out")/fl-override-src
export DEBIAN_FRONTEND=noninteractive
# Build tools (pahole for BTF, lz4 for Debian's image compression) and the
# newest linux-source-6.1/linux-config-6.1 the apt sources offer.
if ! dpkg-query -W linux-source-6.1 linux-config-6.1 dwarves lz4 bison flex bc libelf-dev libssl-dev >/dev/null 2>&1; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends build-essential bc bison flex libssl-dev libelf-dev dwarves \
    xz-utils lz4 cpio kmod linux-source-6.1 linux-config-6.1
fi
rm -rf "$work" && mkdir -p "$work"
tar -C "$work" -xf /usr/src/linux-source-6.1.tar.xz
cd "$work"/linux-source-6.1
xz -dc /usr/src/linux-config-6.1/config.amd64_none_cloud-amd64.xz >.config
sed -i -E 's/^(CONFIG_[A-Za-z0-9_]+)=m$/# \1 is not set/' .config
scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null
make -s olddefconfig
# Every line of the fragment must have survived olddefconfig (a lost one
# means an unmet dependency).
bad=0
while IFS= read -r line; do
  case $line in CONFIG_*=*) ;; *) continue ;; esac
  sym=${line%%=*} val=${line#*=}
  if [ "$val" = n ]; then
    if grep -q "^$sym=" .config; then echo "fl-override: $sym should be off" >&2; bad=1; fi
  else
    grep -qxF "$line" .config || { echo "fl-override: $line did not survive (have: $(grep "^$sym=" .config || echo unset))" >&2; bad=1; }
  fi
done <"$fragment"
[ "$bad" = 0 ] || exit 1
export KBUILD_BUILD_USER=fl KBUILD_BUILD_HOST=faultline
nice make -s -j"$(nproc)" bzImage
mkdir -p "$(dirname "$out")"
cp arch/x86/boot/bzImage "$out.tmp" && mv "$out.tmp" "$out"
cp .config "$out.config"
echo "fl-override: built $(make -s kernelrelease) -> $out"
cd / && rm -rf "$work"
