#!/usr/bin/env python3
"""partition: the partition layout of shared/keys.h, recomputed here so that
a test checks the worker against an independent implementation, and a
direct submit into a job's partition (the hash fields job.c writes, then a
push that publishes the queue's wake channel when it made the list
non-empty: what submit.lua does).

  partition.py tag ID P             the hash tag of ID's partition: "{n}"
  partition.py part ID P            ID's partition number (0..P-1)
  partition.py ptag J P             the hash tag of partition J of P
  partition.py tags P ID...         "ID tag partition" lines
  partition.py slots MONITOR_LOG    checks that every script call (EVALSHA,
                                    EVAL) and BLMOVE in a MONITOR log names
                                    keys of one slot: what a cluster demands
  partition.py submit HOST PORT PREFIX P PIPELINE STAGE[@QUEUE],... INPUT ID...
                                    writes each job (queue: the first stage's),
                                    prints "ID <ms since the epoch>" once pushed
"""
import re
import socket
import sys
import time


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def slot_of_tag_text(text):
    return crc16(text.encode()) % 16384


_tags = {}


def slot_tag(slot):
    if not _tags:
        n = 0
        while len(_tags) < 16384:
            s = slot_of_tag_text(str(n))
            _tags.setdefault(s, "{%d}" % n)
            n += 1
    return _tags[slot]


def part_slot(p, j):
    return ((2 * j + 1) * 16384) // (2 * p)


def part_of(job_id, p):
    if p <= 1:
        return 0
    h = 2166136261
    for b in job_id.encode():
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h % p


def key_slot(key):
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return crc16(key.encode("latin-1")) % 16384


ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')


def unquote(text):
    return re.sub(r'\\x([0-9a-f]{2})|\\(.)',
                  lambda m: chr(int(m.group(1), 16)) if m.group(1) else m.group(2), text)


def check_slots(path):
    calls, bad = 0, []
    with open(path, encoding="latin-1") as f:
        for line in f:
            args = [unquote(a) for a in ARG.findall(line)]
            if not args:
                continue
            cmd = args[0].upper()
            if cmd in ("EVALSHA", "EVAL") and len(args) >= 3:
                keys = args[3:3 + int(args[2])]
            elif cmd == "BLMOVE":
                keys = args[1:3]
            else:
                continue
            calls += 1
            if len({key_slot(k) for k in keys}) > 1:
                bad.append(line.strip()[:300])
    print("%d calls checked, %d name keys of several slots" % (calls, len(bad)))
    for line in bad[:10]:
        print("  " + line)
    return 1 if bad or calls == 0 else 0


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class RedisError(str):
    pass


class Conn:
    """One connection that follows a cluster's MOVED redirections."""

    def __init__(self, host, port):
        self.connect(host, port)

    def connect(self, host, port):
        self.sock = socket.create_connection((host, int(port)))
        self.f = self.sock.makefile("rb")

    def call(self, *args):
        for _ in range(5):
            self.sock.sendall(resp(*args))
            r = read_reply(self.f)
            if isinstance(r, RedisError) and r.startswith("MOVED "):
                host, port = r.split()[2].rsplit(":", 1)
                self.sock.close()
                self.connect(host, port)
                continue
            if isinstance(r, RedisError):
                raise SystemExit("redis: " + r)
            return r
        raise SystemExit("redis: too many redirections")


def read_reply(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b":"):
        return rest
    if kind == b"-":
        return RedisError(rest.decode())
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        return [read_reply(f) for _ in range(int(rest))]
    raise SystemExit("redis: bad reply %r" % line)


PUSH = ("if redis.call('LPUSH', KEYS[1], ARGV[1]) == 1 then "
        "redis.call('PUBLISH', ARGV[2], '1') end return 1")


def submit(host, port, prefix, p, pipeline, stages, inp, ids):
    stages = [s.split("@") for s in stages.split(",")]
    queue = stages[0][1]
    routed = len({s[1] for s in stages}) > 1
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    conn = Conn(host, port)
    for job_id in ids:
        tag = slot_tag(part_slot(p, part_of(job_id, p)))
        fields = ["id", job_id, "pipeline", pipeline, "queue", queue, "state", "queued",
                  "attempt", "0", "max_attempts", "3", "input", inp, "stage", "0",
                  "stage_count", str(len(stages)), "progress", "0", "overall_progress", "0",
                  "created_at", now, "updated_at", now, "result_ttl_s", "3600", "resume", "1"]
        for k, (name, q) in enumerate(stages, 1):
            fields += ["stage.%d.name" % k, name, "stage.%d.state" % k, "pending"]
            if routed:
                fields += ["stage.%d.queue" % k, q]
        conn.call("HSET", "%s:%s:job:%s" % (prefix, tag, job_id), *fields)
        conn.call("EVAL", PUSH, 1, "%s:%s:queue:%s" % (prefix, tag, queue), job_id,
                  "%s:wake:%s" % (prefix, queue))
        print("%s %d" % (job_id, time.time() * 1000)) # when it was pushed (ms)
    conn.sock.close()


def main(argv):
    cmd = argv[1]
    if cmd == "tag":
        print(slot_tag(part_slot(int(argv[3]), part_of(argv[2], int(argv[3])))))
    elif cmd == "part":
        print(part_of(argv[2], int(argv[3])))
    elif cmd == "slots":
        sys.exit(check_slots(argv[2]))
    elif cmd == "tags":
        p = int(argv[2])
        for job_id in argv[3:]:
            j = part_of(job_id, p)
            print(job_id, slot_tag(part_slot(p, j)), j)
    elif cmd == "ptag":
        print(slot_tag(part_slot(int(argv[3]), int(argv[2]))))
    elif cmd == "submit":
        submit(argv[2], argv[3], argv[4], int(argv[5]), argv[6], argv[7], argv[8], argv[9:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
