#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# faultline benchmark, one command:
#   part 1  per-packet cost of the egress program by BPF_PROG_TEST_RUN,
#           above an empty program measured in the same run (fl_bench_testrun);
#   part 2  throughput over a veth pair between two network namespaces made
#           here: iperf3 TCP, and 64-byte UDP send() rate, with no program,
#           faultline idle, faultline 1% drop and the same drop as an nftables
#           rule; and DNS queries/s of a closed-loop resolver load (dnsmasq
#           in the server namespace) with no program and with dns.nxdomain
#           at 0% and 1% on the client. Cases alternate round by round;
#           medians and ratios to the no-program baseline of the same run are
#           reported.
#
# usage: sudo tools/bench/run.sh [BUILD_DIR]      (default BUILD_DIR: ./build)
# Results (markdown) go to stdout, progress to stderr. Knobs (environment):
#   FLB_TESTRUN_ROUNDS=15  FLB_TCP_ROUNDS=5 FLB_TCP_SECONDS=4
#   FLB_UDP_ROUNDS=8 FLB_UDP_SECONDS=1 FLB_DNS_ROUNDS=6 FLB_DNS_SECONDS=2
#   (0 rounds skips that part)
#   FLB_CLIENT_CPU=0 FLB_SERVER_CPU=1    (pinning; empty = not pinned)
# Everything it makes (namespaces, veth, cgroups, nft table, background
# processes) is removed on exit, also on failure or Ctrl-C.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$(realpath -m "${1:-$REPO/build}")
BIN=$BUILD/tools/bench
TESTRUN_ROUNDS=${FLB_TESTRUN_ROUNDS:-15}
# Single-stream TCP over veth varies by ±10% from run to run here: more,
# shorter rounds give a steadier median than few long ones.
TCP_ROUNDS=${FLB_TCP_ROUNDS:-5}
TCP_SECONDS=${FLB_TCP_SECONDS:-4}
UDP_ROUNDS=${FLB_UDP_ROUNDS:-8}
UDP_SECONDS=${FLB_UDP_SECONDS:-1}
DNS_ROUNDS=${FLB_DNS_ROUNDS:-6}
DNS_SECONDS=${FLB_DNS_SECONDS:-2}
# Sender and receiver each on their own core: unpinned, the scheduler
# sometimes stacks them on one core and the rate halves for that round.
if (($(nproc) >= 2)); then
    CLIENT_CPU=${FLB_CLIENT_CPU-0}
    SERVER_CPU=${FLB_SERVER_CPU-1}
else
    CLIENT_CPU=${FLB_CLIENT_CPU-}
    SERVER_CPU=${FLB_SERVER_CPU-}
fi

# Names carry our pid: a second run (or a leftover of a killed one) never
# collides with this one, and cleanup only ever touches what this run made.
TAG=flb-$$
NS_C=$TAG-c # client namespace
NS_S=$TAG-s # server namespace
ADDR_C=198.18.0.1
ADDR_S=198.18.0.2 # RFC 2544 benchmarking range only
UDP_PORT=9000
NFT_TABLE=flb_bench

log() { printf 'run.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# ---------------------------------------------------------------- cleanup
BG_PIDS=()
TMP=""
CG=""
CG_ROOT=""
TESTRUN_PID=""
TESTRUN_CG="" # the scratch cgroups fl_bench_testrun makes (it removes them itself unless killed)
MECH_PID=""

# SIGTERM, then SIGKILL after 5 s; always reaped.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

remove_cgroup_tree() {
    local top=$1 d
    [[ -n $top && -d $top ]] || return 0
    # Deepest first; whatever is still inside (a client of ours) is killed.
    while IFS= read -r d; do
        if [[ -w $d/cgroup.kill ]]; then
            echo 1 >"$d/cgroup.kill" 2>/dev/null || true
        fi
        for _ in $(seq 50); do
            rmdir "$d" 2>/dev/null && break
            sleep 0.1
        done
    done < <(find "$top" -depth -mindepth 0 -type d)
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM HUP
    [[ -n $TESTRUN_PID ]] && stop_pid "$TESTRUN_PID"
    [[ -n $MECH_PID ]] && stop_pid "$MECH_PID"
    for pid in "${BG_PIDS[@]}"; do
        stop_pid "$pid"
    done
    # The nft table lives in the client namespace and goes with it; the veth
    # pair goes with its namespaces.
    ip netns del "$NS_C" 2>/dev/null
    ip netns del "$NS_S" 2>/dev/null
    remove_cgroup_tree "$CG"
    remove_cgroup_tree "$TESTRUN_CG"
    [[ -n $TMP ]] && rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---------------------------------------------------------------- setup
[[ $EUID -eq 0 ]] || die "run as root (BPF programs, cgroups, namespaces): sudo $0 $*"

missing=()
command -v iperf3 >/dev/null || missing+=(iperf3)
command -v nft >/dev/null || missing+=(nftables)
command -v jq >/dev/null || missing+=(jq)
command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2 || die "cannot install ${missing[*]}"
fi

if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    log "configuring $BUILD"
    cmake -S "$REPO" -B "$BUILD" -G Ninja >&2
fi
log "building (faultline, benchmark tools)"
cmake --build "$BUILD" --target fl_bench >&2 || die "build failed"
FAULTLINE=$BUILD/faultline

TMP=$(mktemp -d /tmp/flb.XXXXXX)
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
CG_ROOT=$("$BIN/fl_bench_hold" --cgroup2-mount)

# ---------------------------------------------------------------- part 1
part1_rc=0
: >"$TMP/part1.md"
if ((TESTRUN_ROUNDS > 0)); then
    log "part 1: BPF_PROG_TEST_RUN ($TESTRUN_ROUNDS rounds)"
    # Backgrounded so that a signal reaches the trap (which stops it) at once.
    "$BIN/fl_bench_testrun" --rounds "$TESTRUN_ROUNDS" --json "$TMP/testrun.json" >"$TMP/part1.md" &
    TESTRUN_PID=$!
    TESTRUN_CG=$CG_ROOT/faultline-bench-$TESTRUN_PID
    wait "$TESTRUN_PID" || part1_rc=$?
    TESTRUN_PID=""
    ((part1_rc <= 1)) || die "fl_bench_testrun failed"
fi

# ---------------------------------------------------------------- part 2
log "part 2: namespaces $NS_C/$NS_S, veth, cgroups"
CG=$CG_ROOT/faultline-bench-sh-$$
CG_CLIENT=$CG/client # the target: the load generator runs here
CG_OTHER=$CG/other   # a sibling that is never used: "experiment on another cgroup"
mkdir "$CG" "$CG_CLIENT" "$CG_OTHER"
CG_CLIENT_REL=${CG_CLIENT#"$CG_ROOT"/}
CG_CLIENT_LEVEL=$(awk -F/ '{print NF}' <<<"$CG_CLIENT_REL")

ip netns add "$NS_C"
ip netns add "$NS_S"
ip link add flb-c0 netns "$NS_C" type veth peer name flb-s0 netns "$NS_S"
ip -n "$NS_C" addr add "$ADDR_C/30" dev flb-c0
ip -n "$NS_S" addr add "$ADDR_S/30" dev flb-s0
for ns in "$NS_C" "$NS_S"; do
    ip -n "$ns" link set lo up
done
ip -n "$NS_C" link set flb-c0 up
ip -n "$NS_S" link set flb-s0 up

# Command prefixes that pin to a CPU (empty: not pinned).
PIN_C=()
PIN_S=()
[[ -n $CLIENT_CPU ]] && PIN_C=(taskset -c "$CLIENT_CPU")
[[ -n $SERVER_CPU ]] && PIN_S=(taskset -c "$SERVER_CPU")

# Servers, bounded in time whatever happens to this script.
timeout 900 "${PIN_S[@]}" ip netns exec "$NS_S" iperf3 -s -B "$ADDR_S" >"$TMP/iperf3-server.log" 2>&1 &
BG_PIDS+=($!)
timeout 900 "${PIN_S[@]}" ip netns exec "$NS_S" "$BIN/fl_bench_udp" sink --bind "$ADDR_S" --port "$UDP_PORT" --seconds 890 \
    >"$TMP/udp-sink.log" 2>&1 &
BG_PIDS+=($!)
for ((i = 0; i < 50; i++)); do
    ip netns exec "$NS_S" ss -ltn | grep -q ":5201 " && break
    sleep 0.1
done
ip netns exec "$NS_S" ss -ltn | grep -q ":5201 " || die "iperf3 server did not start: $(cat "$TMP/iperf3-server.log")"

# Runs a command inside a cgroup (moves the shell, then execs).
in_cgroup() {
    local cg=$1
    shift
    sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}

# --- the mechanisms under test: case_on NAME sets one up, case_off NAME
# removes it again.
MECH_OUT=""
NFT_BASE_TX=0
DROP="-"
EVAL_RATE="" # packets per second the faultline program evaluated (fl_idle)
ON_AT=0

veth_tx_packets() {
    ip -n "$NS_C" -j -s link show flb-c0 | jq '.[0].stats64.tx.packets'
}

# Waits up to 10 s for a pattern in a background process's output file.
wait_for() {
    local file=$1 pattern=$2 pid=$3 i
    for ((i = 0; i < 100; i++)); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    die "not ready ($pattern): $(cat "$file" 2>/dev/null)"
}

start_bg() { # OUT ERR CMD... ; sets MECH_PID (stopped by case_off or cleanup)
    local out=$1 err=$2
    shift 2
    "$@" >"$out" 2>"$err" &
    MECH_PID=$!
}

case_on() {
    MECH_OUT=$TMP/mech.out
    ON_AT=$(date +%s.%N)
    case $1 in
    base) ;;
    fl_idle | fl_drop)
        local pct=0
        [[ $1 == fl_drop ]] && pct=1
        # The real CLI, as a user would run it.
        start_bg "$MECH_OUT" "$TMP/mech.err" \
            "$FAULTLINE" inject --cgroup "$CG_CLIENT" --fault "net.drop@${pct}%" --for 10m --quiet --json
        wait_for "$TMP/mech.err" "session .* on" "$MECH_PID"
        ;;
    dns_idle | dns_1pct)
        local pct=0
        [[ $1 == dns_1pct ]] && pct=1
        start_bg "$MECH_OUT" "$TMP/mech.err" "$FAULTLINE" inject --cgroup "$CG_CLIENT" --netns "$NS_C" \
            --fault "dns.nxdomain@${pct}%,domain=*.example.com" --for 10m --quiet --json
        wait_for "$TMP/mech.err" "session .* on" "$MECH_PID"
        ;;
    empty)
        start_bg "$MECH_OUT" "$TMP/mech.err" "$BIN/fl_bench_hold" --attach "$CG_CLIENT" --empty --seconds 600
        wait_for "$MECH_OUT" "^ready" "$MECH_PID"
        ;;
    fl_other)
        # Attached to the client's parent, experiment on the client's
        # sibling: the program runs for every client packet and misses.
        start_bg "$MECH_OUT" "$TMP/mech.err" \
            "$BIN/fl_bench_hold" --attach "$CG" --target "$CG_OTHER" --percent 0 --seconds 600
        wait_for "$MECH_OUT" "^ready" "$MECH_PID"
        ;;
    nft_drop)
        # `socket cgroupv2` resolves the path under /sys/fs/cgroup, which is
        # v1 on hybrid hosts: load the rule from a private mount namespace
        # where cgroup2 is mounted there. The rule keeps the numeric id.
        cat >"$TMP/rule.nft" <<EOF
table inet $NFT_TABLE {
    chain out {
        type filter hook output priority 0; policy accept;
        socket cgroupv2 level $CG_CLIENT_LEVEL "$CG_CLIENT_REL" numgen random mod 1000000 < 10000 counter drop
    }
}
EOF
        ip netns exec "$NS_C" unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && nft -f "$0"' "$TMP/rule.nft" ||
            die "cannot insert the nftables rule"
        NFT_BASE_TX=$(veth_tx_packets)
        ;;
    *) die "unknown case $1" ;;
    esac
}

# Tears the mechanism down; sets DROP to the achieved drop percentage ("-"
# where nothing is dropped). $2: the sender's JSON for UDP, or "".
# Not run in a $(...) subshell: it must reap the background process.
case_off() {
    local name=$1 udp_json=${2:-}
    DROP="-"
    EVAL_RATE=""
    case $name in
    base) ;;
    dns_idle | dns_1pct)
        stop_pid "$MECH_PID"
        MECH_PID=""
        # answers rewritten per query that matched
        DROP=$(jq -r '.experiments[0] | if .matched > 0 then 100 * .injected / .matched else 0 end' "$MECH_OUT")
        ;;
    empty | fl_idle | fl_drop | fl_other)
        stop_pid "$MECH_PID"
        MECH_PID=""
        if [[ $name == fl_idle ]]; then
            # How many skbs the program saw per second: with the part 1 cost
            # per skb, the CPU share the throughput figure should reflect.
            EVAL_RATE=$(jq -r --argjson t "$(date +%s.%N)" --argjson t0 "$ON_AT" \
                '.experiments[0].evaluated / ($t - $t0)' "$MECH_OUT")
        fi
        if [[ $name == fl_drop ]]; then
            DROP=$(jq -r '.experiments[0] | if .matched > 0 then 100 * .injected / .matched else 0 end' "$MECH_OUT")
        fi
        ;;
    nft_drop)
        local dropped tx
        dropped=$(ip netns exec "$NS_C" nft -j list table inet "$NFT_TABLE" |
            jq '[.nftables[] | .rule? // empty | .expr[] | .counter? // empty | .packets] | add')
        tx=$(($(veth_tx_packets) - NFT_BASE_TX))
        ip netns exec "$NS_C" nft delete table inet "$NFT_TABLE"
        if [[ -n $udp_json ]]; then
            # Each drop is one send() failing with EPERM.
            DROP=$(jq -r '(.errors.EPERM // 0) * 100 / .calls' <<<"$udp_json")
        else
            # veth passes GSO skbs whole: its tx count is in the rule's unit.
            DROP=$(awk -v d="$dropped" -v t="$tx" 'BEGIN { print (d + t) ? 100 * d / (d + t) : 0 }')
        fi
        ;;
    esac
}

# The empty-program case only serves the per-packet analysis of the UDP
# table; TCP skips it to stay within the time budget.
TCP_CASES=(base fl_idle fl_other fl_drop nft_drop)
UDP_CASES=(base empty fl_idle fl_other fl_drop nft_drop)
declare -A LABEL=(
    [base]="no program (baseline)"
    [empty]="empty cgroup_skb program attached (the hook's own cost)"
    [fl_idle]="faultline, experiment at 0% on the client's cgroup"
    [fl_other]="faultline, experiment on another cgroup (program runs, index miss)"
    [fl_drop]="faultline, 1% drop on the client's cgroup"
    [nft_drop]="nftables rule, 1% drop on the client's cgroup"
    [dns_idle]="faultline dns.nxdomain@0% for *.example.com on the client's cgroup (every query parsed and drawn; tc program attached, idle)"
    [dns_1pct]="faultline dns.nxdomain@1% (same; 1% of answers rewritten, so the tc program parses every answer)"
)
DNS_CASES=(base dns_idle dns_1pct)
declare -A TCP UDP DNSQ DROP_TCP DROP_UDP DROP_DNS # name -> space-separated per-round values
TCP_EVAL_RATES=""

run_tcp() { # prints Gbit/s
    in_cgroup "$CG_CLIENT" "${PIN_C[@]}" ip netns exec "$NS_C" timeout $((TCP_SECONDS + 30)) \
        iperf3 -c "$ADDR_S" -t "$TCP_SECONDS" -O 1 -J >"$TMP/tcp.json" 2>"$TMP/tcp.err" ||
        die "iperf3 failed: $(jq -r '.error // empty' "$TMP/tcp.json" 2>/dev/null) $(cat "$TMP/tcp.err")"
    jq '.end.sum_received.bits_per_second / 1e9' "$TMP/tcp.json"
}

run_udp() { # prints the sender's JSON
    in_cgroup "$CG_CLIENT" "${PIN_C[@]}" ip netns exec "$NS_C" timeout $((UDP_SECONDS + 30)) \
        "$BIN/fl_bench_udp" send --to "$ADDR_S" --port "$UDP_PORT" --size 64 --seconds "$UDP_SECONDS"
}

n=${#TCP_CASES[@]}
for ((r = 0; r < TCP_ROUNDS; r++)); do
    for ((i = 0; i < n; i++)); do
        c=${TCP_CASES[$(((i + r) % n))]} # rotated: no case always runs first
        log "TCP round $((r + 1))/$TCP_ROUNDS: $c"
        case_on "$c"
        v=$(run_tcp)
        case_off "$c"
        [[ -z $EVAL_RATE ]] || TCP_EVAL_RATES+="$EVAL_RATE "
        TCP[$c]+="$v "
        DROP_TCP[$c]+="$DROP "
    done
done
n=${#UDP_CASES[@]}
for ((r = 0; r < UDP_ROUNDS; r++)); do
    for ((i = 0; i < n; i++)); do
        c=${UDP_CASES[$(((i + r) % n))]}
        log "UDP round $((r + 1))/$UDP_ROUNDS: $c"
        case_on "$c"
        j=$(run_udp)
        case_off "$c" "$j"
        UDP[$c]+="$(jq '.pps / 1000' <<<"$j") "
        DROP_UDP[$c]+="$DROP "
    done
done
if ((DNS_ROUNDS > 0)); then
    # dnsmasq answers www.example.com itself (no upstream, no cache, no
    # log): the load measures the path, not a recursion.
    timeout 900 "${PIN_S[@]}" ip netns exec "$NS_S" dnsmasq -k --no-resolv --no-hosts --bind-interfaces \
        --listen-address="$ADDR_S" --address=/example.com/198.51.100.7 --pid-file= --user=root --group=root \
        --cache-size=0 --log-facility="$TMP/dnsmasq.log" &
    BG_PIDS+=($!)
    for ((i = 0; i < 50; i++)); do
        ip netns exec "$NS_S" ss -lun | grep -q "$ADDR_S:53 " && break
        sleep 0.1
    done
    ip netns exec "$NS_S" ss -lun | grep -q "$ADDR_S:53 " || die "dnsmasq did not start: $(cat "$TMP/dnsmasq.log")"
    n=${#DNS_CASES[@]}
    for ((r = 0; r < DNS_ROUNDS; r++)); do
        for ((i = 0; i < n; i++)); do
            c=${DNS_CASES[$(((i + r) % n))]}
            log "DNS round $((r + 1))/$DNS_ROUNDS: $c"
            case_on "$c"
            j=$(in_cgroup "$CG_CLIENT" "${PIN_C[@]}" ip netns exec "$NS_C" timeout $((DNS_SECONDS + 30)) \
                "$BIN/fl_bench_udp" dns --to "$ADDR_S" --name www.example.com --window 32 --seconds "$DNS_SECONDS")
            case_off "$c"
            [[ $(jq '.lost' <<<"$j") == 0 ]] || log "DNS round $((r + 1)) $c: $(jq -c . <<<"$j")"
            DNSQ[$c]+="$(jq '.qps / 1000' <<<"$j") "
            DROP_DNS[$c]+="$DROP "
        done
    done
fi

# ---------------------------------------------------------------- report
# Median of whitespace-separated numbers; "-" entries (not applicable) skipped.
median() { tr ' ' '\n' | grep -v -e '^$' -e '^-$' | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "-") print "-"; else printf f, v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b) ? a : b }'; }
rounds_list() { local v out=""; for v in $1; do out+="$(fmt "$v" "$2") "; done; echo "${out% }"; }

cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
# Read-only git: GIT_OPTIONAL_LOCKS=0 keeps status from refreshing the index.
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(GIT_OPTIONAL_LOCKS=0 git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    commit+=" + uncommitted changes"
fi
echo "## faultline benchmark"
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ) · kernel $(uname -r) · $cpu × $(nproc) · commit $commit · \`${0#"$REPO"/} $*\`"
echo
# Anything else running shares the two cores with the load generator.
LOAD_END=$(cut -d' ' -f1 /proc/loadavg)
echo "Load average (1 min) at start $LOAD_START, at end $LOAD_END (this benchmark itself keeps about one core busy)."
echo
cat "$TMP/part1.md"
((part1_rc == 0)) || echo "**Part 1 sanity checks failed (see above): its figures are not trustworthy.**"
[[ -z $CLIENT_CPU ]] || echo "Part 2: load generator pinned to CPU $CLIENT_CPU, servers to CPU $SERVER_CPU."
echo

verdict() { if "$@"; then echo "**met**"; else echo "**missed**"; fi; }
# Median over rounds of case/reference, round by round: drift on a shared
# machine hits both sides of each ratio alike.
paired() {
    local -a a b
    local i out=""
    read -r -a a <<<"$1"
    read -r -a b <<<"$2"
    for i in "${!a[@]}"; do
        out+="$(awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN { print x / y }') "
    done
    fmt "$(median <<<"$out")" %.3f
}

# How much a case's rounds vary: half their interquartile range, in percent
# of the median (robust to one disturbed round). A verdict whose margin is
# smaller than the larger spread of the two sides compared is not resolved.
spread() { tr ' ' '\n' | grep -v -e '^$' -e '^-$' | sort -g | awk -v m="$1" '{ v[NR] = $1 } END {
    k = int((NR + 3) / 4); printf "%.1f", 100 * (v[NR + 1 - k] - v[k]) / 2 / m }'; }

# table TITLE UNIT FORMAT CASES-ARRAY VALUES-ARRAY DROPS-ARRAY
# For a packet rate (kpps) it adds the time per packet above the baseline.
table() {
    local title=$1 unit=$2 f=$3
    local -n cases=$4 vals=$5 drops=$6
    local -A med
    local c x vs_nft goal result extra="" noise
    for c in "${cases[@]}"; do
        med[$c]=$(median <<<"${vals[$c]}")
    done
    echo "### $title"
    echo
    if [[ $unit == kpps ]]; then
        echo "| case | median $unit | per round | spread | × baseline | paired × | ns/packet vs. baseline | achieved drop | goal | result |"
        echo "|---|---:|---|---:|---:|---:|---:|---:|---|---|"
    else
        echo "| case | median $unit | per round | spread | × baseline | paired × | achieved drop | goal | result |"
        echo "|---|---:|---|---:|---:|---:|---:|---|---|"
    fi
    local -A sp
    for c in "${cases[@]}"; do
        sp[$c]=$(spread "${med[$c]}" <<<"${vals[$c]}")
    done
    for c in "${cases[@]}"; do
        [[ $unit != kpps ]] || extra="$(awk -v a="${med[$c]}" -v b="${med[base]}" \
            'BEGIN { printf "%+.0f", 1e6 / a - 1e6 / b }') | "
        x=$(ratio "${med[$c]}" "${med[base]}")
        goal="" result=""
        if [[ $c == fl_idle || $c == fl_other ]]; then
            goal="≥ 0.99× baseline"
            result=$(verdict ge "$x" 0.99)
            noise=$(max "${sp[base]}" "${sp[$c]}")
            if awk -v x="$x" -v n="$noise" 'BEGIN { d = 100 * (x - 0.99); exit !((d < 0 ? -d : d) < n) }'; then
                result+=" (rounds spread ±${noise}%: not resolved)"
            fi
        elif [[ $c == fl_drop ]]; then
            goal="≥ nftables rule (same 1%)"
            vs_nft=$(ratio "${med[fl_drop]}" "${med[nft_drop]}")
            result="${vs_nft}× nft (paired $(paired "${vals[fl_drop]}" "${vals[nft_drop]}")×)"
            noise=$(max "${sp[fl_drop]}" "${sp[nft_drop]}")
            if awk -v x="$vs_nft" -v n="$noise" 'BEGIN { d = 100 * (x - 1); exit !((d < 0 ? -d : d) < n) }'; then
                result+=" **tie** (rounds spread ±${noise}%)"
            else
                result+=" $(verdict ge "${med[fl_drop]}" "${med[nft_drop]}")"
            fi
        fi
        echo "| ${LABEL[$c]} | $(fmt "${med[$c]}" "$f") | $(rounds_list "${vals[$c]}" "$f") | ±${sp[$c]}% | $x |" \
            "$(paired "${vals[$c]}" "${vals[base]}") | $extra$(fmt "$(median <<<"${drops[$c]}")" %.2f%%) | $goal | $result |"
    done
    echo
}

if ((TCP_ROUNDS > 0)); then
    table "TCP throughput: iperf3 over veth between two namespaces ($TCP_ROUNDS rounds × ${TCP_SECONDS} s, first second omitted)" \
        Gbit/s %.2f TCP_CASES TCP DROP_TCP
    # TCP hands GSO super-packets to the egress hook: few, large skbs.
    rate=$(median <<<"$TCP_EVAL_RATES")
    gbps=$(median <<<"${TCP[fl_idle]}")
    b_ns=$(jq -r '.cases[] | select(.key == "idle_target") | .above_floor_ns' "$TMP/testrun.json" 2>/dev/null || true)
    # The in-place cost per packet (hook included) from the UDP table.
    u_ns=""
    if ((UDP_ROUNDS > 0)); then
        u_ns=$(awk -v a="$(median <<<"${UDP[fl_idle]}")" -v b="$(median <<<"${UDP[base]}")" \
            'BEGIN { printf "%.0f", 1e6 / a - 1e6 / b }')
    fi
    awk -v r="$rate" -v g="$gbps" -v b="$b_ns" -v u="$u_ns" 'BEGIN {
        printf "In the 0%% case the program ran for %.0f egress skbs/s (about %.0f KB each)", r, g * 1e9 / 8 / r / 1024
        if (b != "") printf "; at +%.0f ns each (part 1, case b) that is %.2f%% of one core", b, r * b / 1e7
        if (u != "") printf ", at the in-place +%.0f ns of the UDP table (hook included) %.2f%%", u, r * u / 1e7
        print ".\n" }'
fi
if ((UDP_ROUNDS > 0)); then
    table "UDP, 64-byte datagrams: send() calls per second of one sender ($UDP_ROUNDS rounds × ${UDP_SECONDS} s)" \
        kpps %.1f UDP_CASES UDP DROP_UDP
fi
if ((DNS_ROUNDS > 0)); then
    table "DNS: answers per second of a closed-loop resolver load (32 queries in flight, dnsmasq; $DNS_ROUNDS rounds × ${DNS_SECONDS} s; 'achieved drop' = answers rewritten)" \
        kqps %.1f DNS_CASES DNSQ DROP_DNS
fi
log "done; cleaning up"
