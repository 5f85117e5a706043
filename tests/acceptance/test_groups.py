"""Consumer groups (classic protocol) with real clients (the four clients' group steps are in
test_smoke.py): committed offsets surviving a restart (they live in __consumer_offsets); the
group admin APIs (list, describe, delete)."""
import subprocess
import sys
import threading
import time

import pytest

import kb

#: The first rebalance of an empty group waits this long by default (3000 ms); tests use 0
#: as Kafka's quickstart users often do, so that joins answer at once.
GROUP_PROPS = {"group.initial.rebalance.delay.ms": 0}
PARTITIONS = 3


def group_server(kb_servers, **props):
    return kb_servers(props={**GROUP_PROPS, **props}).start().wait_ready()


def consumer_conf(bootstrap, group, **kw):
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 1000, "client.id": "kb-acceptance-groups",
            "log.connection.close": False}
    conf.update(kw)
    return conf


def produce(bootstrap, topic, n, tag):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "log.connection.close": False})
    errors = []
    for i in range(n):
        p.produce(topic, key=b"k%03d" % (i % 17), value=b"%s:%06d" % (tag.encode(), i),
                  on_delivery=lambda err, msg: err and errors.append(err))
    assert p.flush(60) == 0, "produce did not finish"
    assert not errors, errors[:3]


def consume(bootstrap, topic, group, want, timeout=60.0):
    """Subscribe in `group`, read until `want` records arrived (or the deadline), commit
    synchronously, close. Returns the records as (partition, offset, value)."""
    from confluent_kafka import Consumer
    c = Consumer(consumer_conf(bootstrap, group))
    out = []
    try:
        c.subscribe([topic])
        deadline = kb.Deadline(timeout)
        while len(out) < want and not deadline.expired():
            for m in c.consume(num_messages=500, timeout=0.5):
                assert not m.error(), m.error()
                out.append((m.partition(), m.offset(), m.value()))
        if out:
            c.commit(asynchronous=False)
    finally:
        c.close()
    return out


def committed(bootstrap, topic, group):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer(consumer_conf(bootstrap, group))
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=30)
        assert not [tp.error for tp in tps if tp.error], tps
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def high_watermarks(bootstrap, topic):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer(consumer_conf(bootstrap, "kb-hwm-probe"))
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)[1]
                for p in range(PARTITIONS)}
    finally:
        c.close()


def test_committed_offsets_survive_restart(kb_servers):
    srv = group_server(kb_servers)
    topic = kb.unique_topic("grp-restart")
    group = topic + "-grp"
    kb.create_topic(srv.bootstrap, topic, PARTITIONS)
    produce(srv.bootstrap, topic, 300, "a")
    first = consume(srv.bootstrap, topic, group, 300)
    assert len(first) == 300, "first member read %d/300" % len(first)
    ends = high_watermarks(srv.bootstrap, topic)
    assert committed(srv.bootstrap, topic, group) == ends

    srv.stop()
    srv.start().wait_ready()
    # After the restart the coordinator reloads __consumer_offsets.
    got = kb.wait_for(lambda: committed(srv.bootstrap, topic, group), 60,
                      "committed offsets after restart")
    assert got == ends, "committed after restart %s != before %s" % (got, ends)

    # A new member resumes where the group left off: it sees only the new records.
    produce(srv.bootstrap, topic, 120, "b")
    second = consume(srv.bootstrap, topic, group, 120)
    values = sorted(v for _, _, v in second)
    assert len(second) == 120 and all(v.startswith(b"b:") for v in values), \
        "after restart the group read %d records, %d old ones" % (
            len(second), sum(1 for v in values if not v.startswith(b"b:")))
    for p, off, _ in second:
        assert off >= ends[p], "partition %d re-read offset %d (< committed %d)" % (p, off, ends[p])


def test_committed_offsets_survive_sigkill(kb_servers):
    srv = group_server(kb_servers)
    topic = kb.unique_topic("grp-kill")
    group = topic + "-grp"
    kb.create_topic(srv.bootstrap, topic, PARTITIONS)
    produce(srv.bootstrap, topic, 90, "a")
    assert len(consume(srv.bootstrap, topic, group, 90)) == 90
    ends = high_watermarks(srv.bootstrap, topic)
    srv.kill()
    srv.start().wait_ready()
    got = kb.wait_for(lambda: committed(srv.bootstrap, topic, group), 60,
                      "committed offsets after SIGKILL")
    assert got == ends


def test_group_admin_list_describe_delete(kb_servers):
    from confluent_kafka.admin import AdminClient
    srv = group_server(kb_servers)
    topic = kb.unique_topic("grp-admin")
    group = topic + "-grp"
    kb.create_topic(srv.bootstrap, topic, PARTITIONS)
    produce(srv.bootstrap, topic, 30, "a")
    assert len(consume(srv.bootstrap, topic, group, 30)) == 30

    admin = AdminClient(kb.admin_conf(srv.bootstrap))
    listed = admin.list_consumer_groups(request_timeout=30).result(timeout=30)
    ids = {g.group_id: g for g in listed.valid}
    assert group in ids, "list_consumer_groups: %s" % sorted(ids)
    desc = admin.describe_consumer_groups([group], request_timeout=30)[group].result(timeout=30)
    assert desc.group_id == group and len(desc.members) == 0, desc
    assert str(desc.state).upper().endswith("EMPTY"), desc.state

    admin.delete_consumer_groups([group], request_timeout=30)[group].result(timeout=30)
    listed = admin.list_consumer_groups(request_timeout=30).result(timeout=30)
    assert group not in {g.group_id for g in listed.valid}
    # The tombstones stick across a restart.
    srv.stop()
    srv.start().wait_ready()
    got = kb.wait_for(lambda: committed(srv.bootstrap, topic, group), 60,
                      "committed offsets after restart")
    assert got == {p: -1001 for p in range(PARTITIONS)}, got


def test_two_members_share_partitions(kb_servers):
    """Two kafka-python members of one group split the partitions and read every record once."""
    from kafka import KafkaConsumer
    srv = group_server(kb_servers)
    topic = kb.unique_topic("grp-two")
    group = topic + "-grp"
    kb.create_topic(srv.bootstrap, topic, PARTITIONS)
    produce(srv.bootstrap, topic, 200, "a")

    def member():
        c = KafkaConsumer(bootstrap_servers=[srv.bootstrap], group_id=group,
                          enable_auto_commit=False, auto_offset_reset="earliest",
                          session_timeout_ms=10000, heartbeat_interval_ms=500,
                          request_timeout_ms=30000)
        # Subscribe only once the topic's partitions are known. Otherwise the leader assigns
        # nothing in the first generation and rebalances when its metadata arrives; in that
        # path kafka-python 3.0.12's leader sometimes receives its SyncGroup answer (logged
        # at DEBUG, with the right assignment) and never applies it or heartbeats again, so
        # its session expires. The server's answers are right in every such run.
        kb.wait_for(lambda: c.partitions_for_topic(topic), 30, "partitions of %s" % topic)
        c.subscribe([topic])
        return c

    # Each member polls in its own thread, as real consumers do: polled in turns from one
    # thread, a member whose JoinGroup waits for the other member's rejoin blocks that other
    # member's poll, and its session expires (Kafka behaves the same).
    a, b = member(), member()
    seen = {}
    assigned = {}
    lock = threading.Lock()
    stop = threading.Event()

    def run(name, c):
        while not stop.is_set():
            records = c.poll(timeout_ms=200)
            with lock:
                assigned[name] = {tp.partition for tp in c.assignment()}
                for tp, recs in records.items():
                    for r in recs:
                        seen[(tp.partition, r.offset)] = seen.get((tp.partition, r.offset), 0) + 1

    threads = [threading.Thread(target=run, args=(n, c), daemon=True)
               for n, c in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    try:
        deadline = kb.Deadline(60)
        while not deadline.expired():
            with lock:
                pa, pb = assigned.get("a", set()), assigned.get("b", set())
                if len(seen) >= 200 and pa and pb and not (pa & pb) \
                        and pa | pb == set(range(PARTITIONS)):
                    break
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert len(seen) == 200, "read %d distinct records" % len(seen)
        pa, pb = assigned.get("a", set()), assigned.get("b", set())
        assert pa and pb and not (pa & pb) and pa | pb == set(range(PARTITIONS)), (pa, pb)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        a.close()
        b.close()


#: The member killed by test_killed_member_is_replaced, run with the venv's python in its own
#: process so that SIGKILL takes it down without a LeaveGroup. It consumes, commits
#: synchronously what it consumed and prints one JSON line per event on stdout; it exits by
#: itself after its lifetime or when its parent is gone.
_MEMBER_SCRIPT = r"""
import json, os, sys, time
from confluent_kafka import Consumer, KafkaException

bootstrap, topic, group, session_ms, lifetime = sys.argv[1:6]
parent = os.getppid()


def emit(**event):
    print(json.dumps(event), flush=True)


c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
              "auto.offset.reset": "earliest", "session.timeout.ms": int(session_ms),
              "heartbeat.interval.ms": 1000, "client.id": "kb-acceptance-doomed",
              "log.connection.close": False})
c.subscribe([topic])
assigned = None
end = time.monotonic() + float(lifetime)
while time.monotonic() < end and os.getppid() == parent:
    msgs = c.consume(num_messages=500, timeout=0.2)
    now = sorted(tp.partition for tp in c.assignment())
    if now != assigned:
        assigned = now
        emit(event="assigned", partitions=now)
    recs = []
    for m in msgs:
        if m.error():
            emit(event="error", error=str(m.error()))
        else:
            recs.append([m.partition(), m.offset()])
    if recs:
        emit(event="consumed", records=recs)
        try:
            done = c.commit(asynchronous=False)
            # librdkafka lists partitions with nothing new to commit at offset -1001.
            emit(event="committed",
                 offsets={tp.partition: tp.offset for tp in done if tp.offset >= 0})
        except KafkaException as e:
            emit(event="commit_failed", error=str(e))
c.close()
"""


class _Survivor:
    """The test-process member: confluent-kafka in its own thread (a member blocked in a
    rebalance must not stall the other's poll), committing synchronously what it consumed.
    Keeps every record it read and the time its assignment last changed."""

    def __init__(self, bootstrap, topic, group, session_ms):
        from confluent_kafka import Consumer
        self.consumer = Consumer(consumer_conf(bootstrap, group, **{
            "session.timeout.ms": session_ms, "client.id": "kb-acceptance-survivor"}))
        self.topic = topic
        self.lock = threading.Lock()
        self.reads = []            # (partition, offset, monotonic time)
        self.assigned = set()
        self.assigned_at = None    # monotonic time of the last assignment change
        self.commit_errors = []
        self.errors = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="group-survivor", daemon=True)

    def _run(self):
        from confluent_kafka import KafkaException
        c = self.consumer
        try:
            c.subscribe([self.topic])
            while not self.stop.is_set():
                msgs = c.consume(num_messages=500, timeout=0.2)
                now = {tp.partition for tp in c.assignment()}
                t = time.monotonic()
                with self.lock:
                    if now != self.assigned:
                        self.assigned, self.assigned_at = now, t
                    for m in msgs:
                        if m.error():
                            self.errors.append(str(m.error()))
                        else:
                            self.reads.append((m.partition(), m.offset(), t))
                if any(not m.error() for m in msgs):
                    try:
                        c.commit(asynchronous=False)
                    except KafkaException as e:
                        with self.lock:
                            self.commit_errors.append(str(e))
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            with self.lock:
                self.errors.append(repr(e))

    def snapshot(self):
        with self.lock:
            return set(self.assigned), self.assigned_at, list(self.reads)

    def close(self):
        self.stop.set()
        self.thread.join(30)
        self.consumer.close()


class _Member:
    """The child-process member's stdout, parsed by a reader thread."""

    def __init__(self, script, bootstrap, topic, group, session_ms, lifetime_s):
        import json
        self.proc = subprocess.Popen(
            [sys.executable, str(script), bootstrap, topic, group, str(session_ms),
             str(lifetime_s)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors="replace")
        kb._LIVE.add(self.proc)
        self.lock = threading.Lock()
        self.assigned = set()
        self.reads = []            # (partition, offset)
        self.committed = {}        # partition -> offset of the last successful sync commit
        self.other = []            # errors, failed commits, lines that are not events

        def reader():
            for line in self.proc.stdout:
                try:
                    ev = json.loads(line)
                except ValueError:
                    ev = {"event": "output", "line": line.rstrip()}
                with self.lock:
                    if ev["event"] == "assigned":
                        self.assigned = set(ev["partitions"])
                    elif ev["event"] == "consumed":
                        self.reads.extend(tuple(r) for r in ev["records"])
                    elif ev["event"] == "committed":
                        self.committed.update({int(p): o for p, o in ev["offsets"].items()})
                    else:
                        self.other.append(ev)

        self.reader = threading.Thread(target=reader, name="group-member-stdout", daemon=True)
        self.reader.start()

    def snapshot(self):
        with self.lock:
            return set(self.assigned), list(self.reads), dict(self.committed)

    def check_alive(self):
        if self.proc.poll() is not None:
            raise kb.Abort("the member process %s; its output: %s"
                           % (kb.describe_exit(self.proc.returncode), self.other))

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)
        kb._LIVE.discard(self.proc)
        self.reader.join(10)


def test_killed_member_is_replaced(kb_servers, tmp_path):
    """Two members split the partitions (one in a child process, one here); the child is
    SIGKILLed (no LeaveGroup). Within the session timeout plus a rebalance the survivor owns
    every partition, reads the dead member's partitions from exactly its committed offsets,
    and every record of the topic is read by someone."""
    session_ms = 6000
    # After the session expires the survivor learns of the rebalance on its next heartbeat
    # (1 s), rejoins and syncs; 10 s bounds that plus a loaded 2-core machine.
    takeover_bound_s = session_ms / 1000 + 10
    srv = group_server(kb_servers)
    topic = kb.unique_topic("grp-kill-member")
    group = topic + "-grp"
    kb.create_topic(srv.bootstrap, topic, PARTITIONS)
    script = tmp_path / "group_member.py"
    script.write_text(_MEMBER_SCRIPT)
    all_parts = set(range(PARTITIONS))

    survivor = _Survivor(srv.bootstrap, topic, group, session_ms)
    survivor.thread.start()
    member = _Member(script, srv.bootstrap, topic, group, session_ms, lifetime_s=240)

    def wait(cond, timeout, what):
        """kb.wait_for, its failure message extended by both members' state."""
        try:
            return kb.wait_for(cond, timeout, what)
        except AssertionError as e:
            s_assigned, _, s_reads = survivor.snapshot()
            m_assigned, m_reads, m_committed = member.snapshot()
            with survivor.lock, member.lock:
                raise AssertionError(
                    "%s\nsurvivor: assigned %s, %d reads, errors %s, failed commits %s\n"
                    "member (%s): assigned %s, %d reads, committed %s, other output %s" % (
                        e, sorted(s_assigned), len(s_reads), survivor.errors[:5],
                        survivor.commit_errors[:5], kb.describe_exit(member.proc.poll()),
                        sorted(m_assigned), len(m_reads), m_committed, member.other[:10])
                ) from None

    try:
        def split():
            member.check_alive()
            mine, _, _ = survivor.snapshot()
            theirs, _, _ = member.snapshot()
            return mine and theirs and not (mine & theirs) and mine | theirs == all_parts \
                and (mine, theirs)
        mine, theirs = wait(split, 60, "both members assigned, partitions split")

        produce(srv.bootstrap, topic, 150, "a")
        ends = high_watermarks(srv.bootstrap, topic)

        def all_consumed_and_committed():
            member.check_alive()
            _, _, s_reads = survivor.snapshot()
            _, m_reads, m_committed = member.snapshot()
            got = {(p, o) for p, o, _ in s_reads} | set(m_reads)
            want = {(p, o) for p in all_parts for o in range(ends[p])}
            return got == want and all(m_committed.get(p) == ends[p] for p in theirs)
        wait(all_consumed_and_committed, 60,
             "both members to read %s and the child to commit its part" % ends)
        now_mine, _, _ = survivor.snapshot()
        now_theirs, _, dead_committed = member.snapshot()
        assert (now_mine, now_theirs) == (mine, theirs), "a rebalance before the kill"
        # What the group coordinator holds is what the member said it committed.
        at_broker = committed(srv.bootstrap, topic, group)
        assert {p: at_broker[p] for p in theirs} == {p: dead_committed[p] for p in theirs}, \
            (at_broker, dead_committed)

        member.kill()
        killed_at = time.monotonic()
        # More records for everyone while the dead member still owns its partitions.
        produce(srv.bootstrap, topic, 150, "b")
        ends2 = high_watermarks(srv.bootstrap, topic)
        assert all(ends2[p] > ends[p] for p in theirs), (ends, ends2)

        def taken_over():
            assigned, at, _ = survivor.snapshot()
            return assigned == all_parts and at
        assigned_at = wait(taken_over, takeover_bound_s + 20,
                           "the survivor to own every partition")
        takeover_s = assigned_at - killed_at
        print("takeover %.2fs after SIGKILL (session.timeout.ms=%d)" % (takeover_s, session_ms))
        assert takeover_s < takeover_bound_s, \
            "takeover took %.1fs, bound %.1fs" % (takeover_s, takeover_bound_s)

        want = {(p, o) for p in all_parts for o in range(ends2[p])}

        def everything_read():
            _, _, s_reads = survivor.snapshot()
            return want <= {(p, o) for p, o, _ in s_reads} | set(member.snapshot()[1])
        wait(everything_read, 60, "every record up to %s read by a member" % ends2)
        _, _, s_reads = survivor.snapshot()
        for p in sorted(theirs):
            offs = sorted(o for q, o, _ in s_reads if q == p)
            assert offs and offs[0] == dead_committed[p], \
                "partition %d: the survivor started at %s, the dead member committed %d" % (
                    p, offs[:1], dead_committed[p])
            assert offs == list(range(dead_committed[p], ends2[p])), \
                "partition %d: the survivor read offsets %s..., want %d..%d once each" % (
                    p, offs[:10], dead_committed[p], ends2[p] - 1)
        with survivor.lock:
            assert not survivor.errors, survivor.errors
    finally:
        if member.proc.poll() is None:
            member.kill()
        survivor.close()


# ---------------------------------------------------------------------------------------------
# the oldest versions, by hand (no client library sends them any more)
# ---------------------------------------------------------------------------------------------
class _Raw:
    """Non-flexible request/response framing (request header v1, response header v0)."""

    def __init__(self, host, port):
        import socket
        self.sock = socket.create_connection((host, port), timeout=30)
        self.corr = 0

    def call(self, api_key, version, body: bytes) -> "_Reader":
        import struct
        self.corr += 1
        client = b"kb-raw"
        frame = struct.pack(">hhih", api_key, version, self.corr, len(client)) + client + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        (size,) = struct.unpack(">i", kb._recv_exact(self.sock, 4))
        r = _Reader(kb._recv_exact(self.sock, size))
        assert r.i32() == self.corr
        return r

    def close(self):
        self.sock.close()


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def _take(self, fmt):
        import struct
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def i16(self):
        return self._take(">h")

    def i32(self):
        return self._take(">i")

    def i64(self):
        return self._take(">q")

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        v = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return v

    def bytes_(self):
        n = self.i32()
        v = self.data[self.pos:self.pos + max(n, 0)]
        self.pos += max(n, 0)
        return v

    def done(self):
        assert self.pos == len(self.data), "%d bytes left over" % (len(self.data) - self.pos)


def _s(v: str) -> bytes:
    import struct
    b = v.encode()
    return struct.pack(">h", len(b)) + b


def _b(v: bytes) -> bytes:
    import struct
    return struct.pack(">i", len(v)) + v


def _i16(v):
    import struct
    return struct.pack(">h", v)


def _i32(v):
    import struct
    return struct.pack(">i", v)


def _i64(v):
    import struct
    return struct.pack(">q", v)


def test_oldest_versions_by_hand(kb_servers):
    """FindCoordinator v0, JoinGroup v0 (no KIP-394 round trip), SyncGroup v0, Heartbeat v0,
    OffsetCommit v2, OffsetFetch v1, ListGroups v0, DescribeGroups v0, LeaveGroup v0."""
    srv = group_server(kb_servers)
    topic = kb.unique_topic("grp-raw")
    kb.create_topic(srv.bootstrap, topic, 1)
    group = topic + "-grp"
    raw = _Raw("127.0.0.1", srv.port)
    try:
        def find():
            r = raw.call(10, 0, _s(group))
            err, node, host, port = r.i16(), r.i32(), r.string(), r.i32()
            r.done()
            return (err, node, host, port) if err == 0 else None
        err, node, host, port = kb.wait_for(find, 60, "FindCoordinator v0")
        assert (node, port) == (1, srv.port), (node, host, port)

        r = raw.call(11, 0, _s(group) + _i32(10000) + _s("") + _s("consumer")
                     + _i32(1) + _s("range") + _b(b"sub"))
        err, gen, proto, leader, member = r.i16(), r.i32(), r.string(), r.string(), r.string()
        members = [(r.string(), r.bytes_()) for _ in range(r.i32())]
        r.done()
        assert err == 0 and gen == 1 and proto == "range" and leader == member, (err, gen)
        assert members == [(member, b"sub")]

        r = raw.call(14, 0, _s(group) + _i32(gen) + _s(member) + _i32(1) + _s(member)
                     + _b(b"assigned"))
        assert (r.i16(), r.bytes_()) == (0, b"assigned")
        r.done()

        r = raw.call(12, 0, _s(group) + _i32(gen) + _s(member))
        assert r.i16() == 0
        r = raw.call(12, 0, _s(group) + _i32(gen + 5) + _s(member))
        assert r.i16() == 22  # ILLEGAL_GENERATION

        r = raw.call(8, 2, _s(group) + _i32(gen) + _s(member) + _i64(-1) + _i32(2)
                     + _s(topic) + _i32(1) + _i32(0) + _i64(7) + _s("meta")
                     + _s("no-such-topic") + _i32(1) + _i32(0) + _i64(1) + _s(""))
        got = {}
        for _ in range(r.i32()):
            name = r.string()
            for _ in range(r.i32()):
                partition = r.i32()
                got[(name, partition)] = r.i16()
        r.done()
        assert got == {(topic, 0): 0, ("no-such-topic", 0): 3}, got

        r = raw.call(9, 1, _s(group) + _i32(1) + _s(topic) + _i32(2) + _i32(0) + _i32(1))
        rows = []
        for _ in range(r.i32()):
            name = r.string()
            for _ in range(r.i32()):
                rows.append((name, r.i32(), r.i64(), r.string(), r.i16()))
        r.done()
        assert rows == [(topic, 0, 7, "meta", 0), (topic, 1, -1, "", 0)], rows

        r = raw.call(16, 0, b"")
        assert r.i16() == 0
        listed = [(r.string(), r.string()) for _ in range(r.i32())]
        r.done()
        assert (group, "consumer") in listed, listed

        r = raw.call(15, 0, _i32(1) + _s(group))
        assert r.i32() == 1
        err, gid, state, ptype, pdata = r.i16(), r.string(), r.string(), r.string(), r.string()
        dm = [(r.string(), r.string(), r.string(), r.bytes_(), r.bytes_())
              for _ in range(r.i32())]
        r.done()
        assert (err, gid, state, ptype, pdata) == (0, group, "Stable", "consumer", "range")
        assert [(m[0], m[3], m[4]) for m in dm] == [(member, b"sub", b"assigned")], dm
        # The request header's client id and the peer address, as Kafka shows them.
        assert [(m[1], m[2]) for m in dm] == [("kb-raw", "/127.0.0.1")], dm

        r = raw.call(13, 0, _s(group) + _s(member))
        assert r.i16() == 0
        r = raw.call(13, 0, _s(group) + _s(member))
        assert r.i16() == 25  # UNKNOWN_MEMBER_ID
        r = raw.call(12, 0, _s(group) + _i32(gen) + _s(member))
        assert r.i16() == 25
    finally:
        raw.close()


def _join_v0(raw, group, session_ms=10000):
    """JoinGroup v0 as a lone new member (no KIP-394 round trip at v0); with the test
    servers' initial delay 0 it completes at once. Returns (generation, member id)."""
    r = raw.call(11, 0, _s(group) + _i32(session_ms) + _s("") + _s("consumer")
                 + _i32(1) + _s("range") + _b(b"sub"))
    err, gen, _proto, _leader, member = r.i16(), r.i32(), r.string(), r.string(), r.string()
    for _ in range(r.i32()):
        r.string(), r.bytes_()
    r.done()
    assert err == 0, "JoinGroup v0 error %d" % err
    return gen, member


def _describe_v0(raw, group):
    """DescribeGroups v0 of one group: (error, state, protocol type, protocol, members as
    (member id, client id, client host, metadata, assignment))."""
    r = raw.call(15, 0, _i32(1) + _s(group))
    assert r.i32() == 1
    err, _gid, state, ptype, pdata = r.i16(), r.string(), r.string(), r.string(), r.string()
    members = [(r.string(), r.string(), r.string(), r.bytes_(), r.bytes_())
               for _ in range(r.i32())]
    r.done()
    return err, state, ptype, pdata, members


def _find_v0(raw, group):
    def find():
        r = raw.call(10, 0, _s(group))
        err, _node, _host, _port = r.i16(), r.i32(), r.string(), r.i32()
        r.done()
        return err == 0
    kb.wait_for(find, 60, "FindCoordinator v0 for %s" % group)


def test_groups_come_back_after_sigkill(kb_servers):
    """GroupMetadataValue in __consumer_offsets: after a SIGKILL and restart, a group that had
    emptied comes back Empty with its protocol type and generation (the next join starts the
    generation after it), and a Stable group comes back with its member, which keeps its
    generation by heartbeating until it stops and its session expires (Kafka
    `onGroupLoaded`)."""
    srv = group_server(kb_servers)
    empty, stable = kb.unique_topic("grp-empty"), kb.unique_topic("grp-stable")
    raw = _Raw("127.0.0.1", srv.port)
    try:
        _find_v0(raw, empty)
        gen, member = _join_v0(raw, empty)
        r = raw.call(14, 0, _s(empty) + _i32(gen) + _s(member) + _i32(1) + _s(member) + _b(b"a"))
        assert r.i16() == 0
        r = raw.call(13, 0, _s(empty) + _s(member))
        assert r.i16() == 0
        # Generation 1 joined, generation 2 is the empty one.
        assert _describe_v0(raw, empty)[:3] == (0, "Empty", "consumer")

        gen_s, member_s = _join_v0(raw, stable, session_ms=6000)
        r = raw.call(14, 0, _s(stable) + _i32(gen_s) + _s(member_s) + _i32(1) + _s(member_s)
                     + _b(b"assigned"))
        assert r.i16() == 0
    finally:
        raw.close()

    srv.kill()
    srv.start().wait_ready()
    raw = _Raw("127.0.0.1", srv.port)
    try:
        _find_v0(raw, empty)
        err, state, ptype, _, members = _describe_v0(raw, empty)
        assert (err, state, ptype, members) == (0, "Empty", "consumer", []), (err, state, ptype)
        listed = raw.call(16, 0, b"")
        assert listed.i16() == 0
        names = [(listed.string(), listed.string()) for _ in range(listed.i32())]
        assert (empty, "consumer") in names and (stable, "consumer") in names, names
        gen_after, m2 = _join_v0(raw, empty)
        assert gen_after == 3, "after the restart the group joined generation %d, expected 3 " \
            "(1 joined, 2 emptied)" % gen_after
        raw.call(13, 0, _s(empty) + _s(m2))

        err, state, _, _, members = _describe_v0(raw, stable)
        assert (err, state) == (0, "Stable"), (err, state)
        assert [(m[0], m[1], m[2], m[4]) for m in members] == \
            [(member_s, "kb-raw", "/127.0.0.1", b"assigned")], members
        r = raw.call(12, 0, _s(stable) + _i32(gen_s) + _s(member_s))
        assert r.i16() == 0, "the loaded member's heartbeat at its generation"
        # It stops heartbeating: its 6 s session expires and the group empties.
        kb.wait_for(lambda: _describe_v0(raw, stable)[1] == "Empty", 30,
                    "the loaded member's session to expire")
    finally:
        raw.close()


def test_describe_shows_client_id_and_host(kb_servers):
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient
    srv = group_server(kb_servers)
    topic = kb.unique_topic("grp-client")
    group = topic + "-grp"
    kb.create_topic(srv.bootstrap, topic, 1)
    c = Consumer(consumer_conf(srv.bootstrap, group, **{"client.id": "kb-describe-me"}))
    try:
        c.subscribe([topic])
        deadline = kb.Deadline(60)
        while not c.assignment() and not deadline.expired():
            c.poll(0.2)
        assert c.assignment(), "the consumer got no assignment"
        admin = AdminClient(kb.admin_conf(srv.bootstrap))
        desc = admin.describe_consumer_groups([group], request_timeout=30)[group] \
            .result(timeout=30)
        assert len(desc.members) == 1, desc
        m = desc.members[0]
        assert m.client_id == "kb-describe-me", m.client_id
        assert m.host == "/127.0.0.1", m.host
        assert m.member_id.startswith("kb-describe-me-"), \
            "Kafka's member ids are client id + '-' + UUID: %s" % m.member_id
    finally:
        c.close()


def test_offset_delete_with_kafka_python_admin(kb_servers):
    """OffsetDelete (API 47): refused per partition while a member subscribes to the topic
    (GROUP_SUBSCRIBED_TO_TOPIC), allowed once the group is Empty; the deletion survives a
    restart (tombstones)."""
    from confluent_kafka import Consumer
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.errors import GroupIdNotFoundError, GroupSubscribedToTopicError, NoError
    srv = group_server(kb_servers)
    topic = kb.unique_topic("grp-offdel")
    group = topic + "-grp"
    kb.create_topic(srv.bootstrap, topic, PARTITIONS)
    produce(srv.bootstrap, topic, 60, "a")
    admin = KafkaAdminClient(bootstrap_servers=[srv.bootstrap], request_timeout_ms=30000)
    try:
        with pytest.raises(GroupIdNotFoundError):
            admin.delete_group_offsets("kb-no-such-group", [TopicPartition(topic, 0)])

        c = Consumer(consumer_conf(srv.bootstrap, group))
        try:
            c.subscribe([topic])
            got = 0
            deadline = kb.Deadline(60)
            while got < 60 and not deadline.expired():
                got += len([m for m in c.consume(num_messages=100, timeout=0.5)
                            if not m.error()])
            c.commit(asynchronous=False)
            res = admin.delete_group_offsets(group, [TopicPartition(topic, 0)])
            assert res == {TopicPartition(topic, 0): GroupSubscribedToTopicError}, res
        finally:
            c.close()
        before = committed(srv.bootstrap, topic, group)
        assert all(v >= 0 for v in before.values()), before

        res = admin.delete_group_offsets(group, [TopicPartition(topic, 0)])
        assert res == {TopicPartition(topic, 0): NoError}, res
        after = committed(srv.bootstrap, topic, group)
        assert after == {**before, 0: -1001}, after
    finally:
        admin.close()
    srv.stop()
    srv.start().wait_ready()
    got = kb.wait_for(lambda: committed(srv.bootstrap, topic, group), 60,
                      "committed offsets after restart")
    assert got == {**before, 0: -1001}, got
