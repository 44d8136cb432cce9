#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Per-syscall cost of the disk-fault hooks (fmod_ret on security_file_open /
# security_file_permission) for file I/O, where the running kernel can attach
# them (the Debian kernels of the VM matrix: `tools/vmtest/run.sh --bench`).
# A closed loop of pread/pwrite (fl_bench_fileio) of 1 byte and 4 KiB on a
# tmpfs file, in a cgroup of its own, under four cases, rotated round by
# round:
#   base        nothing attached
#   empty       an fmod_ret program that returns 0 on security_file_permission
#               (fl_bench_hold --empty-fmod-ret): the BPF trampoline's own
#               cost, the floor any fmod_ret-based injector pays
#   fl-other    faultline attached, disk.eio@100% on another cgroup (the
#               process pays the hook and the cgroup lookup, nothing more)
#   fl-target   faultline attached, disk.eio@100% on the process's own
#               cgroup with path= a directory its file is not under (it
#               pays the event, the filters and the path walk, never a fault)
#   fiu         libfiu's fiu-run -x (POSIX wrappers preloaded), no fail
#               point enabled
# Reported: median ns per call of each case, and the median over rounds of
# the ratio to the base of the same round (paired: drift cancels).
# Then disk.delay: 1-byte preads held DUR (1, 10, 50 ms) at 100 %, the
# achieved added time per call and the system CPU time per call (the wait
# is on the caller's CPU), against unheld preads measured just before.
#
# usage: tools/bench/disk.sh FAULTLINE FL_BENCH_FILEIO [FL_BENCH_HOLD]   (as root)
# Knobs: FLB_DISK_ROUNDS=9 FLB_DISK_SECONDS=0.6
set -euo pipefail
FL=$1
BENCH=$2
HOLD=${3:-}
ROUNDS=${FLB_DISK_ROUNDS:-9}
SECONDS_PER=${FLB_DISK_SECONDS:-0.6}
TAG=flb-disk-$$
CG=/sys/fs/cgroup
WORK=$(mktemp -d "/tmp/$TAG.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rmdir "$CG/$TAG-other" "$CG/$TAG-self" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir "$CG/$TAG-other" "$CG/$TAG-self" "$WORK/elsewhere"
head -c 4096 /dev/zero >"$WORK/data"
have_fiu=0
command -v fiu-run >/dev/null && have_fiu=1

# faultline inject in the background, up (its "session" line) before return
start_fl() { # CGROUP FAULT
    "$FL" inject --cgroup "$1" --fault "$2" --quiet >"$WORK/fl.out" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        grep -q session "$WORK/fl.out" && return 0
        sleep 0.1
    done
    echo "disk.sh: faultline did not start: $(cat "$WORK/fl.out")" >&2
    exit 1
}
start_empty() {
    "$HOLD" --empty-fmod-ret security_file_permission --seconds 3600 >"$WORK/hold.out" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        grep -q ready "$WORK/hold.out" && return 0
        sleep 0.1
    done
    echo "disk.sh: fl_bench_hold did not start: $(cat "$WORK/hold.out")" >&2
    exit 1
}
stop_fl() {
    kill -INT "${pids[-1]}"
    wait "${pids[-1]}" || true
    unset 'pids[-1]'
}
measure() { # OP SIZE [wrapper...]: ns per call, run in the self cgroup
    local op=$1 size=$2
    shift 2
    bash -c 'echo $$ >'"$CG/$TAG-self"'/cgroup.procs; exec "$@"' _ "$@" "$BENCH" "$op" "$size" "$SECONDS_PER" "$WORK/data"
}

cases=(base)
[ -n "$HOLD" ] && cases+=(empty)
cases+=(fl-other fl-target)
((have_fiu)) && cases+=(fiu)
loads=("read 1" "read 4096" "write 1" "write 4096")
declare -A ns
for r in $(seq "$ROUNDS"); do
    # rotate the order of cases from round to round
    for i in "${!cases[@]}"; do
        c=${cases[$(((i + r) % ${#cases[@]}))]}
        case $c in
        empty) start_empty ;;
        fl-other) start_fl "$CG/$TAG-other" "disk.eio@100%" ;;
        fl-target) start_fl "$CG/$TAG-self" "disk.eio@100%,path=$WORK/elsewhere" ;;
        esac
        for l in "${loads[@]}"; do
            # shellcheck disable=SC2086
            if [ "$c" = fiu ]; then v=$(measure $l fiu-run -x); else v=$(measure $l); fi
            ns[$c/$l/$r]=${v%% *}
        done
        case $c in fl-* | empty) stop_fl ;; esac
        echo "disk.sh: round $r $c done" >&2
    done
done

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
echo "| load | case | median ns/call | paired ratio to base (median of $ROUNDS rounds) |"
echo "|---|---|---:|---:|"
for l in "${loads[@]}"; do
    for c in "${cases[@]}"; do
        m=$(for r in $(seq "$ROUNDS"); do echo "${ns[$c/$l/$r]}"; done | median)
        q=$(for r in $(seq "$ROUNDS"); do awk -v a="${ns[$c/$l/$r]}" -v b="${ns[base/$l/$r]}" 'BEGIN {printf "%.4f\n", a/b}'; done | median)
        printf '| %s B | %s | %.1f | %.3f× |\n' "${l/ / }" "$c" "$m" "$q"
    done
done
((have_fiu)) || echo "(fiu-run not installed: no fiu case)"

echo
echo "| disk.delay (1-byte pread, 100 %) | ns/call | added ns/call | system CPU ns/call | CPU ÷ added |"
echo "|---|---:|---:|---:|---:|"
base=$(measure read 1)
printf '| none | %.0f | — | %.0f | — |\n' ${base}
for d in 1ms 10ms 50ms; do
    start_fl "$CG/$TAG-self" "disk.delay=$d@100%,op=read,path=$WORK"
    v=$(FLB_BATCH=1 measure read 1)
    stop_fl
    read -r t c <<<"$v"
    read -r bt bc <<<"$base"
    awk -v d="$d" -v t="$t" -v c="$c" -v bt="$bt" -v bc="$bc" \
        'BEGIN { printf "| %s | %.0f | %.0f | %.0f | %.3f |\n", d, t, t - bt, c - bc, (c - bc) / (t - bt) }'
done
