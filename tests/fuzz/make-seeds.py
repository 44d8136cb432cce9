#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Writes the fuzz targets' seed corpora into tests/fuzz/corpus/TARGET/:
# fault specs quoted in the unit tests and README, the shipped examples, a
# journal of a real `faultline run` (seed-journal.jsonl), records of each
# shape, metrics requests. Seeds are named seed-*; inputs that once crashed
# a target are kept beside them as crash-* (regression inputs).
import hashlib
import json
import pathlib
import re

root = pathlib.Path(__file__).resolve().parents[2]
corpus = root / "tests/fuzz/corpus"


def put(target, data):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)


# Fault specs: every string literal that starts like KIND.ACTION.
spec = re.compile(r'"((?:net|dns|disk|mem)\.[a-z_]+[^"\\]*)"')
sources = list((root / "tests/unit").glob("*.cpp")) + [root / "README.md"]
specs = set()
for src in sources:
    specs.update(m.group(1) for m in spec.finditer(src.read_text()))
for s in sorted(specs):
    put("grammar", s)

for y in sorted((root / "examples").glob("*.yaml")):
    put("experiment", y.read_text())

journal = (root / "tests/fuzz/seed-journal.jsonl").read_text()
put("journal", journal)
lines = journal.splitlines(keepends=True)
put("journal", "".join(lines[: len(lines) // 2]))  # a killed run
put("journal", "".join(lines[:-1])[:-40])  # a last line cut by the kill

record = {
    "id": "0a1b2c3d", "pid": 4242, "pid_start": 123456, "cgroup": "/sys/fs/cgroup/api",
    "cgroup_id": 9876, "config_map_id": 11, "counters_map_id": 12, "stopped_map_id": 13,
    "started_unix": 1764800000, "ends_unix": 1764800060,
    "experiments": [{"id": "0a1b2c3d.0", "spec": "net.drop@1%", "slot": 0}],
    "fq_devices": ["eth0"], "netns": "/run/netns/lab", "netns_ino": 4026532000,
    "created_cgroup": "/sys/fs/cgroup/faultline-exec-4242", "created_cgroup_ino": 777,
    "tc_filters": [{"dev": "veth0", "handle": 1, "priority": 49152, "created_clsact": True, "prog_id": 55}],
}
put("record", json.dumps(record, indent=2) + "\n")
bare = {k: v for k, v in record.items() if k not in ("stopped_map_id", "netns", "created_cgroup_ino", "tc_filters")}
put("record", json.dumps(bare))  # a record of an older build
put("record", json.dumps(dict(record, experiments=[], created_cgroup="")))  # a cgroup-only record

for req in [
    "GET /metrics HTTP/1.1\r\nHost: localhost:9464\r\n\r\n",
    "GET /metrics HTTP/1.0\r\n\r\n",
    "GET /metrics?x=1 HTTP/1.1\r\nHost: [::1]:9464\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "POST /metrics HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0\r\n\r\n",
    "GET /metrics HTTP/2.0\r\nHost: localhost\r\n\r\n",
]:
    put("metrics_request", req)

put("index", bytes([3, 0, 1, 0, 2, 0, 3, 0, 4, 0x80, 1, 0, 5, 0, 6, 0x81, 2]))
put("index", bytes([0] + [x for k in range(40) for x in (k & 1, k)]))  # fill a 2-entry table

# DNS error-answer recipes (fuzz_dns_rewrite): flags (bit 0 IPv6, 1 TCP,
# 2 records, 3 an unmarked receiver, 4 a qtype follows), id, [qtype],
# labels, then each label's length and bytes, the suffix, edits.
for flags in range(32):
    qtype = b"\x00\x1c" if flags & 16 else b""
    # one label "db" (alphabet indexes 3, 1), suffix svc.test: picked
    put("dns_rewrite", bytes([flags, 0x12, 0x34]) + qtype + bytes([0, 1, 3, 1, 0, 0]))
# not picked (other.test), a case-mixed suffix, each kind of edit
put("dns_rewrite", bytes([4, 0, 1, 0, 1, 3, 1, 4, 0]))
put("dns_rewrite", bytes([4, 0, 1, 0, 1, 3, 1, 1, 0]))
for op in range(5):
    put("dns_rewrite", bytes([4, 0, 1, 1, 2, 3, 1, 0, 0, 0, 0, 1, op, 0, 3, 0x85, 7]))
