#!/usr/bin/env bash
# The VM kernel matrix: boots each kernel of kernels.conf under QEMU (TCG,
# 2 vCPUs, no KVM), runs faultline's unit, BPF and integration suites inside,
# and reports pass/fail/skip per test and per kernel. Run as root after a
# build (tools/build.sh).
#
#   tools/vmtest/run.sh [--only NAME[,NAME...]] [--filter GTEST_FILTER]
#   tools/vmtest/run.sh --bench disk [--only NAME]
#
# Each row of kernels.conf says what its kernel lacks: a kernel whose probe
# differs from its row fails. Kernels boot FL_VM_JOBS at a time (default 2
# on 2 or more CPUs: a VM keeps about one CPU busy on average, its tests
# wait on timers and networks much of the time); the kernel a build: row
# builds is built first.
#
# Each row also names its suite: all, function (all but the tests listed in
# distribution_tests below) or a gtest filter; --filter replaces it.
#
# --bench disk runs tools/bench/disk.sh (the per-syscall cost of the disk
# hooks) in each VM instead of the suites; its table goes to
# NAME/bench.md and to stdout.
#
# Artifacts in ${BUILD_DIR:-build}/vmtest/NAME/: console.log, probe.json,
# results.txt (STATUS TEST [REASON]). Exit status 1 if any test failed or any
# kernel could not be fetched or booted.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$repo" && realpath -m "${BUILD_DIR:-build}")
work=$build/vmtest
# Kernel packages and built kernels, keyed by what made them (exact package
# names; the build script and its config), outside the clone: a second
# clone on this machine reuses them. FL_VM_CACHE moves it.
cache=${FL_VM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/faultline/vmtest}
only="" filter="" bench=""
while [ $# -gt 0 ]; do
  case $1 in
    --only) only=$2; shift 2 ;;
    --filter) filter=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    *) echo "usage: $0 [--only NAME,...] [--filter GTEST_FILTER] [--bench disk]" >&2; exit 2 ;;
  esac
done
case $bench in "" | disk) ;; *) echo "vmtest: unknown benchmark '$bench' (disk)" >&2; exit 2 ;; esac
for t in faultline tests/unit_tests tests/bpf_tests tests/integration_tests tests/fl_traffic \
  ${bench:+tools/bench/fl_bench_fileio tools/bench/fl_bench_hold}; do
  [ -x "$build/$t" ] || { echo "vmtest: $build/$t missing: build first (tools/build.sh)" >&2; exit 2; }
done
for c in qemu-system-x86_64 busybox cpio dpkg-deb xz depmod jq; do
  command -v $c >/dev/null || { echo "vmtest: $c missing (tools/install-deps.sh installs it)" >&2; exit 2; }
done
mkdir -p "$cache"

# --- the common initramfs: busybox, bash as /bin/sh (busybox's sh would run
# its own ip/tc applets), iproute2, bpftool, setpriv, the test binaries with
# their shared libraries.
root=$work/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,fl,modules}
cp "$(command -v busybox)" "$root/bin/busybox"
for a in mount umount mkdir sleep cat echo poweroff ls grep sed awk head tail wc uname tr rm sync insmod cut timeout; do
  ln -sf busybox "$root/bin/$a"
done
copy() { # FILE DEST: a binary and every shared library it loads
  cp -L "$1" "$root$2"
  local lib
  for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
copy /bin/bash /bin/bash
ln -sf bash "$root/bin/sh"
copy /usr/bin/ip /usr/bin/ip
copy /usr/sbin/tc /usr/sbin/tc
copy /usr/sbin/bpftool /usr/sbin/bpftool
copy /usr/bin/setpriv /usr/bin/setpriv
copy /usr/bin/find /usr/bin/find
copy /usr/bin/unshare /usr/bin/unshare # time namespaces (the clock tests)
# an ext4 image on a loop device (disk.bio on a mounted file system)
copy "$(command -v mke2fs)" /usr/sbin/mke2fs
copy "$(command -v losetup)" /usr/sbin/losetup
# the DNS tests' server and client; dnsmasq looks its user and group up
copy "$(command -v dnsmasq)" /usr/sbin/dnsmasq
copy "$(command -v dig)" /usr/bin/dig
mkdir -p "$root/etc"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
: >"$root/etc/resolv.conf" # ip netns exec bind-mounts /etc/netns/NS/resolv.conf here
# keeps the cgroup-BPF static keys on for the whole run (see keys.bpf.c)
clang -O2 -g -target bpf -Wall -Werror -I"/usr/include/$(gcc -print-multiarch)" -c "$repo/tools/vmtest/keys.bpf.c" -o "$root/fl/keys.bpf.o"
# libfiu's fiu-run (a bash script under env, and its preload libraries): the
# disk tests show what it misses
if command -v fiu-run >/dev/null; then
  cp "$(command -v fiu-run)" "$root/usr/bin/fiu-run"
  ln -sf /bin/busybox "$root/usr/bin/env"
  for so in /usr/lib/fiu/*.so; do
    mkdir -p "$root/usr/lib/fiu" && copy "$so" "$so"
  done
fi
for t in tests/unit_tests tests/bpf_tests tests/integration_tests tests/fl_traffic tests/fl_fileio \
  tests/fl_fileio_static tests/fl_seccomp; do
  copy "$build/$t" "/fl/$(basename "$t")"
done
# faultline itself: the statically linked build where there is one (what an
# initramfs-only machine would run), else the dynamic one with its libraries.
static=$(cd "$repo" && realpath -m "${STATIC_BUILD_DIR:-build-static}")/faultline
if [ -x "$static" ] && ! [ "$static" -ot "$build/faultline" ]; then
  cp "$static" "$root/fl/faultline"
  echo "vmtest: faultline binary: static ($static)"
else
  copy "$build/faultline" /fl/faultline
  echo "vmtest: faultline binary: dynamic ($build/faultline; no up-to-date static build at $static)"
fi
cp -r "$repo/examples" "$root/fl/examples" # the unit suite checks every example file
cp "$repo/README.md" "$root/fl/README.md"   # ... and README's tables against the registry
cp "$repo/tools/vmtest/kernels.conf" "$root/fl/kernels.conf" # ... and the matrix
if [ -n "$bench" ]; then
  mkdir -p "$root/fl/bench"
  copy "$build/tools/bench/fl_bench_fileio" /fl/bench/fl_bench_fileio
  copy "$build/tools/bench/fl_bench_hold" /fl/bench/fl_bench_hold
  cp "$repo/tools/bench/disk.sh" "$root/fl/bench/disk.sh"
  for a in seq sort mktemp rmdir; do ln -sf busybox "$root/bin/$a"; done
fi
cp "$repo/tools/vmtest/init" "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/common.cpio.gz"

# --- per kernel
# Debian's archive: the machine's apt sources, or a suite of its own
# (deb:PACKAGE@SUITE: bullseye, sid ...) through a private list, fetched
# once per cache, that leaves the machine's sources alone. A
# kernel in several packages (sid: image and modules) is PACKAGE,PACKAGE.
apt_for() { # SUITE -> apt options on stdout ("" for the machine's own)
  local suite=$1 d
  [ -n "$suite" ] || return 0
  d=$cache/apt-$suite
  if [ ! -f "$d/updated" ]; then
    mkdir -p "$d/lists/partial" "$d/archives/partial"
    {
      echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main"
      case $suite in sid | unstable) ;; *)
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $suite-security main" ;;
      esac
    } >"$d/sources.list"
    apt-get -q -o Dir::Etc::sourcelist="$d/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$d/lists" \
      -o Dir::Cache="$d" update >&2 && touch "$d/updated"
  fi
  echo "-o Dir::Etc::sourcelist=$d/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$d/lists -o Dir::Cache=$d"
}
fetch_deb() { # PACKAGE[,PACKAGE...][@SUITE] -> extracted directory on stdout
  local pkgs=${1%@*} suite="" opts dir pkg
  [ "$pkgs" = "$1" ] || suite=${1#*@}
  opts=$(apt_for "$suite") || return 1
  dir=$cache/${pkgs%%,*}
  if [ ! -d "$dir" ]; then
    rm -rf "$dir.tmp"
    for pkg in ${pkgs//,/ }; do
      # shellcheck disable=SC2086
      if ! apt-cache $opts show "$pkg" >/dev/null 2>&1; then
        [ -n "$suite" ] || apt-get update -q >&2 || true # the machine's lists may be stale: refresh once
        # shellcheck disable=SC2086
        if ! apt-cache $opts show "$pkg" >/dev/null 2>&1; then
          echo "vmtest: the pinned package $pkg${suite:+ ($suite)} is not in the archive (superseded?): move the pin in kernels.conf" >&2
          return 1
        fi
      fi
      # shellcheck disable=SC2086
      (cd "$cache" && apt-get $opts download -q "$pkg" >&2) || return 1
      dpkg-deb -x "$cache/${pkg}"_*.deb "$dir.tmp" || return 1
    done
    # merged /usr (sid): modules in usr/lib/modules, found by depmod and
    # the rest as lib/modules
    [ -e "$dir.tmp/lib" ] || ln -s usr/lib "$dir.tmp/lib"
    # The package has no modules.dep (depmod runs at install time).
    depmod -b "$dir.tmp" "$(basename "$(echo "$dir.tmp"/lib/modules/*)")" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}

# modules the suites need on modular kernels, dependencies first
modules_cpio() { # EXTRACTED_DIR OUT
  local moddir out=$2 m
  moddir=$(echo "$1"/lib/modules/*)
  local mr=$out.root
  rm -rf "$mr" && mkdir -p "$mr/modules"
  : >"$mr/modules/load.list"
  declare -A seen=()
  add() {
    local path=$1 dep
    [ -n "${seen[$path]:-}" ] && return
    seen[$path]=1
    for dep in $(awk -F: -v p="$path" '$1 == p { print $2 }' "$moddir/modules.dep"); do add "$dep"; done
    local name
    name=$(basename "$path"); name=${name%.xz}; name=${name%.zst}
    case $path in
      *.xz) xz -dc "$moddir/$path" >"$mr/modules/$name" ;;
      *.zst) zstd -qdc "$moddir/$path" >"$mr/modules/$name" ;;
      *) cp "$moddir/$path" "$mr/modules/$name" ;;
    esac
    echo "$name" >>"$mr/modules/load.list"
  }
  for m in veth sch_fq sch_netem sch_ingress cls_bpf; do
    local p
    p=$(awk -F: -v m="/$m.ko" 'index($1, m) { print $1; exit }' "$moddir/modules.dep")
    [ -n "$p" ] && add "$p"
  done
  (cd "$mr" && find modules | cpio -o -H newc --quiet | gzip -1) >"$out"
  rm -rf "$mr"
}

# The kernel image of a row (fetched, or built and cached) and its initrd.
prepare() { # NAME SOURCE -> "KERNEL" on stdout, initrd in $work/NAME/initrd.gz
  local name=$1 source=$2 out=$work/$1 dir kernel="" alt f key
  case $source in
    deb:*)
      if dir=$(fetch_deb "${source#deb:}"); then
        kernel=$(find "$dir/boot" "$dir/usr/lib/modules" -name 'vmlinuz*' 2>/dev/null | head -n 1)
        modules_cpio "$dir" "$out/modules.cpio.gz"
        cat "$work/common.cpio.gz" "$out/modules.cpio.gz" >"$out/initrd.gz"
      fi ;;
    *)
      # file:PATH[|build:SCRIPT]: a prebuilt bzImage, else built by SCRIPT
      # (cached, keyed by the script and its config fragment).
      for alt in ${source//|/ }; do
        f=${alt#*:}
        [ "${f:0:1}" = / ] || f=$repo/$f
        case $alt in
          file:*) [ -f "$f" ] && kernel=$f ;;
          build:*)
            key=$(cat "$f" "$(dirname "$f")"/*.config | sha256sum | cut -c1-12)
            kernel=$cache/$name-$key/vmlinuz
            if [ ! -f "$kernel" ]; then
              echo "vmtest: $name: building the kernel with $alt (about 15 min on 2 cores)" >&2
              "$f" "$kernel" >"$out/build.log" 2>&1 || { tail -n 20 "$out/build.log" >&2; kernel=""; }
            fi ;;
        esac
        [ -n "$kernel" ] && break
      done
      [ -n "$kernel" ] && cp "$work/common.cpio.gz" "$out/initrd.gz" ;;
  esac
  echo "$kernel"
}

# One kernel: boot, run, report into $work/NAME/summary.txt; 1 there in
# $work/NAME/failed if anything failed.
run_kernel() { # NAME KERNEL LACKS SUITE EXTRAS...
  local name=$1 kernel=$2 lacks=$3 suite=${filter:+filter}
  suite=${suite:-$4}
  local row_filter
  row_filter=$(suite_filter "$4")
  shift 4
  local extras="$*" out=$work/$name start secs kver p f s mttcg bad_rc t
  local summary=$out/summary.txt
  : >"$summary"
  start=$(date +%s)
  # Multi-threaded TCG: 2 host threads. It mis-emulates live kernel code
  # patching when the other vCPU runs the patched site (keys.bpf.c): init
  # keeps the static keys our attaches would flip on for the whole run. A
  # stress loop (faultline probe during a UDP flood) crashed 6.12 within a
  # second and hung 6.1 without that, and ran 120 s clean with it, as with
  # FL_VM_ACCEL=tcg,thread=single (one host thread; slower, and its vCPU
  # time slices skew the latency tests).
  # softlockup_panic: a hang ends the run with a trace instead of the timeout.
  case ${FL_VM_ACCEL:-tcg} in *thread=single*) mttcg= ;; *) mttcg=fl.mttcg=1 ;; esac
  timeout "${FL_VM_TIMEOUT:-1800}" qemu-system-x86_64 -accel ${FL_VM_ACCEL:-tcg} -cpu max -m 2048 -smp 2 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$out/initrd.gz" \
    -append "console=ttyS0 quiet panic=-1 softlockup_panic=1 $extras $mttcg fl.lacks=$lacks fl.filter=$row_filter ${bench:+fl.bench=$bench} ${FL_VM_DEBUG:+fl.debug=$FL_VM_DEBUG} ${FL_VM_REPEAT:+fl.repeat=$FL_VM_REPEAT} ${FL_SOAK_SECONDS:+fl.soak=$FL_SOAK_SECONDS} ${FL_SEED:+fl.seed=$FL_SEED}" </dev/null 2>&1 |
    tr -d '\r' | sed -u 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g' >"$out/console.log" || true
  secs=$(( $(date +%s) - start ))
  sed -n '/FL-VM: probe-begin/,/FL-VM: probe-end/p' "$out/console.log" | sed '1d;$d' >"$out/probe.json"
  # STATUS TEST [REASON]; the reason of a skip is the line after "Skipped".
  awk '
    /: Skipped$/ { getline reason; next_reason = reason; next }
    /^\[       OK \] .* \([0-9]+ ms\)$/ { print "PASS", $4 }
    /^\[  FAILED  \] .* \([0-9]+ ms\)$/ { sub(/,$/, "", $4); print "FAIL", $4 }
    /^\[  SKIPPED \] .* \([0-9]+ ms\)$/ { print "SKIP", $4, "-", next_reason; next_reason = "" }
  ' "$out/console.log" >"$out/results.txt"
  kver=$(sed -n 's/.*FL-VM: kernel //p' "$out/console.log")
  p=$(grep -c '^PASS' "$out/results.txt" || true)
  f=$(grep -c '^FAIL' "$out/results.txt" || true)
  s=$(grep -c '^SKIP' "$out/results.txt" || true)
  if ! grep -q '^FL-VM: done' "$out/console.log"; then
    echo "$name BOOT-OR-RUN-FAILED kernel=${kver:-?} after ${secs}s (see $out/console.log)" >>"$summary"
    # what was running, the kernel's oops from its first line (if any), the end
    grep -E '^(\[ RUN      \]|FL-VM: suite-begin)' "$out/console.log" | tail -n 1 | sed 's/^/    last started: /' >>"$summary"
    local oops
    oops=$(grep -nE '(BUG:|Oops|cut here|general protection|Kernel panic|WARNING:|watchdog:)' "$out/console.log" | head -n 1 | cut -d: -f1)
    if [ -n "$oops" ]; then
      sed -n "$((oops > 3 ? oops - 3 : 1)),$((oops + 45))p" "$out/console.log" | sed 's/^/    | /' >>"$summary"
      echo "    | ..." >>"$summary"
    fi
    tail -n 15 "$out/console.log" | sed 's/^/    | /' >>"$summary"
    echo 1 >"$out/failed"
    return
  fi
  if [ -n "$bench" ]; then
    sed -n '/FL-VM: bench-begin/,/FL-VM: bench-end/p' "$out/console.log" | sed '1d;$d' | grep '^[|(]' >"$out/bench.md" || true
    echo "$name kernel=$kver bench=$bench wall=${secs}s ($out/bench.md)" >>"$summary"
    cat "$out/bench.md" >>"$summary"
    grep -q '^| read' "$out/bench.md" || { grep 'disk.sh' "$out/console.log" | tail -n 5 >>"$summary"; echo 1 >"$out/failed"; }
    return
  fi
  echo "$name kernel=$kver suite=$suite passed=$p failed=$f skipped=$s wall=${secs}s" >>"$summary"
  # A suite that crashed or could not start has no FAILED line to show for it.
  bad_rc=$(sed -n 's/^FL-VM: suite-end \([a-z_]*\) rc=\([1-9][0-9]*\)$/\1 exited \2/p' "$out/console.log")
  if [ -n "$bad_rc" ] && [ "$f" -eq 0 ]; then
    echo "    FAIL suite: $bad_rc" >>"$summary"
    f=1
  fi
  # what faultline's probe said there, one line per fault, against the row
  if jq -e '.faults' "$out/probe.json" >/dev/null 2>&1; then
    jq -r --arg lacks "+$lacks+" '.faults[] |
      (.fault as $n | $lacks == "+*+" or ($lacks | contains("+" + $n + "+"))) as $lacking |
      "    probe: \(.fault) " + (if .available then "yes (\(.mechanism))" else "no (\(.reason))" end) +
      (if .available == $lacking then
         (if .available then "  MISMATCH: kernels.conf says this kernel lacks it" else "  MISMATCH: kernels.conf promises it" end)
       else "" end)' "$out/probe.json" >>"$summary"
    # a row that names a fault the probe does not know is a typo
    if [ "$lacks" != - ] && [ "$lacks" != '*' ]; then
      local -a listed
      IFS=+ read -ra listed <<<"$lacks"
      for t in "${listed[@]}"; do
        jq -e --arg t "$t" 'any(.faults[]; .fault == $t)' "$out/probe.json" >/dev/null ||
          echo "    probe: $t  MISMATCH: kernels.conf lists it, faultline's probe has no such row" >>"$summary"
      done
    fi
    if grep -q 'MISMATCH' "$summary"; then
      echo "    FAIL probe: this kernel's faults differ from its row in kernels.conf" >>"$summary"
      f=1
    fi
  else
    echo "    probe: no valid JSON in $out/probe.json" >>"$summary"
    f=1
  fi
  { grep -E '^(FAIL|SKIP)' "$out/results.txt" || true; } | sed 's/^/    /' >>"$summary"
  # What each failed test printed (its assertions, figures), at most 40
  # lines of it: CI keeps this summary, not the console log.
  for t in $(sed -n 's/^FAIL //p' "$out/results.txt"); do
    echo "    --- $t printed:" >>"$summary"
    awk -v t="$t" '
      $0 == "[ RUN      ] " t { on = 1; n = 0; next }
      on && index($0, "[  FAILED  ] " t) == 1 { on = 0; for (i = (n > 40 ? n - 39 : 1); i <= n; i++) print buf[i] }
      on { buf[++n] = $0 }
    ' "$out/console.log" | sed 's/^/    | /' >>"$summary"
  done
  [ "$f" -eq 0 ] || echo 1 >"$out/failed"
}

# The tests a 'function' row leaves out: they measure distributions (a rate
# within its binomial interval, latency percentiles at 1 %) or loader-side
# behaviour (a schedule, an HTTP endpoint, a crash at every step, sessions
# that come and go beside each other, its own system calls failing), which the
# kernel does not change and emulated timing only makes noisy. They run on
# this machine's kernel and on every 'all' row. What the kernel does change
# -- that each fault's hook fires, acts, spares the sibling and goes with
# a killed loader -- every row's function tests check.
distribution_tests=Dns.DropRateIsWithinTheBinomialIntervalAndEqualsTheCounter
distribution_tests+=:Dns.ErrorAnswerRateIsWithinTheBinomialIntervalAndEqualsTheCounter
distribution_tests+=:Flows/NetDelay.AddsTheConfiguredLatencyToInjectedPackets/*_1pct
distribution_tests+=:Net.ExecDropsOnePercentOfTheTargetsUdpAndNoneOfTheSiblings
distribution_tests+=:Run.RampRaisesThePercentageOnScheduleAndTheJournalHasEveryStep
distribution_tests+=:Run.AFailingProbeAbortsWithinOneIntervalAndTheProbeTimeout
distribution_tests+=:Run.MetricsEndpointServesLiveCounters
distribution_tests+=:SafetyKill.AKilledLoaderLeavesNothingBehindAtAnyStep
distribution_tests+=:Concurrency.*
distribution_tests+=:SelfFault.*
# Left out of the VM rows, 'all' included, for now (issue 12's note): under
# TCG it failed twice in eight runs -- a `faultline stop ID` that did not
# find a live session while others started (readdir racing renames;
# stop now reads the record by name), and an mmap load that matched
# nothing in a session's 4.7 s (not understood). It runs on this machine's
# kernel, and on a row with --filter.
host_only_tests=Concurrency.EightSessionsOnOneTargetEachInjectAtTheirRateWhileStatusReads
suite_filter() { # SUITE -> the gtest filter of a row
  if [ -n "$filter" ]; then echo "$filter"; return; fi
  case $1 in
    all) echo "*-$host_only_tests" ;;
    function) echo "*-$distribution_tests" ;;
    *) echo "$1" ;;
  esac
}

# The rows to run, in order; images prepared one at a time (downloads, the
# override kernel's build: CPU-bound, best alone), VMs FL_VM_JOBS at a time.
jobs=${FL_VM_JOBS:-$(( $(nproc) >= 2 ? 2 : 1 ))}
summary=$work/summary.txt
: >"$summary"
names=()
while read -r name source lacks suite extras; do
  [ -n "$name" ] || continue
  if [ -n "$only" ] && ! grep -qw -- "$name" <<<"${only//,/ }"; then continue; fi
  names+=("$name")
  out=$work/$name
  rm -rf "$out" && mkdir -p "$out"
  # one clone at a time fetches or builds into the shared cache
  kernel=$( { flock 9; prepare "$name" "$source"; } 9>"$cache/.lock")
  if [ -z "$kernel" ] || [ ! -f "$kernel" ]; then
    echo "$name FETCH-FAILED ($source)" >"$out/summary.txt"
    echo 1 >"$out/failed"
    continue
  fi
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  echo "vmtest: $name: booting $kernel" >&2
  # shellcheck disable=SC2086
  run_kernel "$name" "$kernel" "$lacks" "$suite" $extras &
done < <(grep -v '^\s*#' "$repo/tools/vmtest/kernels.conf")
wait
failed=0
for name in "${names[@]}"; do
  cat "$work/$name/summary.txt" | tee -a "$summary"
  [ -f "$work/$name/failed" ] && failed=1
done
exit $failed
