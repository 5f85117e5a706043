#!/usr/bin/env python3
"""kraftbridge's real-client smoke test: the same steps with four independent Kafka clients.

    smoke_clients.py --bootstrap HOST:PORT [--clients kcat,kafka-python,confluent-kafka,aiokafka]
                     [--idempotent] [--cluster-id ID] [--messages N] [--partitions N]
                     [--timeout SECONDS]

Clients, each on its own topic and consumer group, all at once (one thread each):
  kcat             the system's kcat binary (its own librdkafka), run as a subprocess
  kafka-python     the pure-Python client (3.x)
  confluent-kafka  the librdkafka wheel
  aiokafka         the asyncio client: it opens with ApiVersions v0 and speaks old,
                   non-flexible request versions (0.14: Metadata v5, Produce v7, Fetch v11,
                   FindCoordinator v1, JoinGroup v5, SyncGroup v3, OffsetCommit v3,
                   CreateTopics v3, DeleteTopics v3)

Steps per client, in order:
  bootstrap         connect, negotiate versions, Metadata lists a broker
  create_topic      CreateTopics with --partitions partitions; wait until the client's own
                    metadata shows every partition with a leader
  produce           --messages keyed records, acks=all (idempotent with --idempotent)
  consume_group     subscribe in a fresh group and read them; verify count, no duplicates,
                    offsets 0,1,2,... and produce order per partition, one partition per key,
                    the delivery reports' partition/offset; commit synchronously, and (where
                    the client can read them) the committed offsets are the end offsets
  commit_resume     produce 1/10 as many again; a new member of the same group reads exactly
                    the new records, each partition from its committed offset
  list_topics       the topic is listed with its partition count
  describe_cluster  brokers with host and port, the controller among them, the cluster id
                    (with --cluster-id, where the client exposes it)
  delete_topic      DeleteTopics; wait until the client's metadata no longer lists it
kcat has no admin API: its create_topic and delete_topic steps use confluent-kafka's
AdminClient (their detail says so); its list and describe steps are `kcat -L -J`; it cannot
read committed offsets, so its commit shows in commit_resume only.

Output: one JSON object per line and step, {"client", "step", "ok", "ms", "detail"}, on
stdout. A step that cannot run because an earlier one failed is reported with ok false.
Exit status: 0 when every step of every client is ok, 1 otherwise, 2 when --timeout fired
(the steps not finished by then are reported, ok false).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kb import Deadline, seq_of, wait_for  # noqa: E402 - the helpers beside this script

STEPS = ("bootstrap", "create_topic", "produce", "consume_group", "commit_resume",
         "list_topics", "describe_cluster", "delete_topic")
CLIENTS = ("kcat", "kafka-python", "confluent-kafka", "aiokafka")
#: A step is not run when one of these earlier steps failed.
NEEDS = {
    "create_topic": ("bootstrap",),
    "produce": ("create_topic",),
    "consume_group": ("produce",),
    "commit_resume": ("consume_group",),
    "list_topics": ("create_topic",),
    "describe_cluster": ("bootstrap",),
    "delete_topic": ("create_topic",),
}
#: Upper bound of one step (the global --timeout bounds the whole run).
STEP_TIMEOUT_S = 120.0


class StepError(Exception):
    """A step's check failed; the message is the step's detail."""


def check(cond, msg):
    if not cond:
        raise StepError(msg)


# ---------------------------------------------------------------------------------------------
# records and their checks (the same for every client)
# ---------------------------------------------------------------------------------------------
def make_records(client: str, first: int, count: int) -> list[tuple[int, bytes, bytes]]:
    """[(seq, key, value)]: 23 keys, values numbered so that order can be checked."""
    return [(s, b"key-%02d" % (s % 23), b"%s:%07d" % (client.encode(), s))
            for s in range(first, first + count)]


def check_read(records, sent, acked, start_offsets, what):
    """records [(partition, offset, key, value)] read in a group; sent [(seq, key, value)];
    acked {seq: (partition, offset)} or None; start_offsets {partition: first offset} (0 for
    a fresh topic, the committed offset on resume). Returns a one-line summary."""
    seqs = [seq_of(v) for _, _, _, v in records]
    check(len(records) == len(sent),
          "%s: read %d records, produced %d" % (what, len(records), len(sent)))
    check(sorted(seqs) == [s for s, _, _ in sent],
          "%s: the records read are not the ones produced (duplicates or foreign records: "
          "first seqs %s)" % (what, sorted(seqs)[:5]))
    keys = {s: k for s, k, _ in sent}
    by_part: dict[int, list[tuple[int, int]]] = {}
    key_part: dict[bytes, int] = {}
    for p, off, k, v in records:
        s = seq_of(v)
        if k != keys[s]:
            raise StepError("%s: record %d has key %r, produced with %r" % (what, s, k, keys[s]))
        if key_part.setdefault(k, p) != p:
            raise StepError("%s: key %r in partitions %d and %d" % (what, k, key_part[k], p))
        by_part.setdefault(p, []).append((off, s))
    for p, lst in by_part.items():
        offs = [o for o, _ in lst]
        first = start_offsets.get(p, 0)
        check(offs == list(range(first, first + len(offs))),
              "%s: partition %d offsets %s... are not %d,%d,... in order"
              % (what, p, offs[:5], first, first + 1))
        ss = [s for _, s in lst]
        check(ss == sorted(ss), "%s: partition %d not in produce order" % (what, p))
    if acked is not None:
        wrong = [s for p, off, _, v in records for s in [seq_of(v)] if acked.get(s) != (p, off)]
        if wrong:
            raise StepError("%s: %d records not where their delivery report put them, e.g. "
                            "seq %d acked at %s"
                            % (what, len(wrong), wrong[0], acked.get(wrong[0])))
    return "%d records in %d partitions %s" % (
        len(records), len(by_part), {p: len(v) for p, v in sorted(by_part.items())})


def end_offsets(records) -> dict[int, int]:
    ends: dict[int, int] = {}
    for p, off, _, _ in records:
        ends[p] = max(ends.get(p, 0), off + 1)
    return ends


# ---------------------------------------------------------------------------------------------
# the clients: each gives the same operations; the checks are the runner's
# ---------------------------------------------------------------------------------------------
class Client:
    """Operations a step needs. `deadline` bounds each call; metadata is returned as
    {"brokers": {id: (host, port)}, "controller": id or None, "cluster_id": str or None,
    "topics": {name: [leader of partition 0, 1, ...]}}."""

    name = ""

    def __init__(self, args):
        self.args = args
        self.bootstrap_servers = args.bootstrap

    def version(self) -> str:
        raise NotImplementedError

    def metadata(self, deadline: Deadline) -> dict:
        raise NotImplementedError

    def cluster(self, deadline: Deadline) -> dict:
        """Metadata for describe_cluster (by default the same Metadata request)."""
        return self.metadata(deadline)

    def create_topic(self, topic: str, partitions: int, deadline: Deadline) -> str:
        raise NotImplementedError

    def delete_topic(self, topic: str, deadline: Deadline) -> str:
        raise NotImplementedError

    def produce(self, topic, records, idempotent, deadline):
        """Returns {seq: (partition, offset)} from the delivery reports, or None when the
        client reports no offsets."""
        raise NotImplementedError

    def consume(self, topic, group, partitions, want, deadline):
        """Subscribe in `group`, read `want` records, commit synchronously, leave. Returns
        (records [(partition, offset, key, value)], committed {partition: offset} or None)."""
        raise NotImplementedError


def confluent_admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap, "client.id": "kb-smoke-admin",
                        "log.connection.close": False})


def confluent_create_topic(bootstrap, topic, partitions, deadline):
    from confluent_kafka.admin import NewTopic
    admin = confluent_admin(bootstrap)  # held until the answer: a dropped client aborts it
    fs = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)],
        operation_timeout=min(30.0, deadline.left()), request_timeout=deadline.left())
    fs[topic].result(timeout=deadline.left())


def confluent_delete_topic(bootstrap, topic, deadline):
    admin = confluent_admin(bootstrap)  # held until the answer (see confluent_create_topic)
    fs = admin.delete_topics(
        [topic], operation_timeout=min(30.0, deadline.left()), request_timeout=deadline.left())
    fs[topic].result(timeout=deadline.left())


class ConfluentKafka(Client):
    name = "confluent-kafka"

    def version(self):
        import confluent_kafka
        v = confluent_kafka.version()  # a string, or (string, int) in older releases
        return "confluent-kafka %s, librdkafka %s" % (v[0] if isinstance(v, tuple) else v,
                                                      confluent_kafka.libversion()[0])

    def metadata(self, deadline):
        md = confluent_admin(self.bootstrap_servers).list_topics(timeout=deadline.left())
        return {"brokers": {b.id: (b.host, b.port) for b in md.brokers.values()},
                "controller": None, "cluster_id": md.cluster_id,
                "topics": {n: [t.partitions[p].leader for p in sorted(t.partitions)]
                           for n, t in md.topics.items() if t.error is None}}

    def cluster(self, deadline):
        # DescribeCluster (API 60), which this client has: controller and cluster id.
        admin = confluent_admin(self.bootstrap_servers)  # held until the answer
        d = admin.describe_cluster(request_timeout=deadline.left()).result(
            timeout=deadline.left())
        return {"brokers": {n.id: (n.host, n.port) for n in d.nodes},
                "controller": d.controller.id if d.controller else None,
                "cluster_id": d.cluster_id, "topics": {}}

    def create_topic(self, topic, partitions, deadline):
        confluent_create_topic(self.bootstrap_servers, topic, partitions, deadline)
        return "CreateTopics"

    def delete_topic(self, topic, deadline):
        confluent_delete_topic(self.bootstrap_servers, topic, deadline)
        return "DeleteTopics"

    def produce(self, topic, records, idempotent, deadline):
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": self.bootstrap_servers, "client.id": "kb-smoke",
                      "acks": "all", "enable.idempotence": idempotent, "linger.ms": 5,
                      "message.timeout.ms": int(deadline.left() * 1000) or 1,
                      "log.connection.close": False})
        acked, errors = {}, []

        def report(err, msg):
            if err is not None:
                errors.append(str(err))
            else:
                acked[seq_of(msg.value())] = (msg.partition(), msg.offset())

        for _, k, v in records:
            while True:
                try:
                    p.produce(topic, key=k, value=v, on_delivery=report)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
        left = p.flush(deadline.left())
        check(left == 0 and not errors, "%d not delivered, errors %s" % (left, errors[:3]))
        return acked

    def consume(self, topic, group, partitions, want, deadline):
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.bootstrap_servers, "group.id": group,
                      "client.id": "kb-smoke", "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "log.connection.close": False})
        out = []
        try:
            c.subscribe([topic])
            while len(out) < want and not deadline.expired():
                for m in c.consume(num_messages=want - len(out), timeout=0.5):
                    check(m.error() is None, "consume error: %s" % m.error())
                    out.append((m.partition(), m.offset(), m.key(), m.value()))
            if out:
                c.commit(asynchronous=False)
            tps = c.committed([TopicPartition(topic, p) for p in range(partitions)],
                              timeout=max(1.0, deadline.left()))
            check(not [tp.error for tp in tps if tp.error], "committed(): %s" % tps)
            return out, {tp.partition: tp.offset for tp in tps if tp.offset >= 0}
        finally:
            c.close()


class KafkaPython(Client):
    name = "kafka-python"

    def version(self):
        import kafka
        return "kafka-python %s" % kafka.__version__

    def _admin(self, deadline):
        from kafka import KafkaAdminClient
        return KafkaAdminClient(bootstrap_servers=[self.bootstrap_servers],
                                client_id="kb-smoke-admin",
                                request_timeout_ms=max(1000, int(deadline.left() * 1000)))

    def metadata(self, deadline):
        admin = self._admin(deadline)
        try:
            c = admin.describe_cluster()
            topics = admin.describe_topics()
        finally:
            admin.close()
        return {"brokers": {b["broker_id"]: (b["host"], b["port"]) for b in c["brokers"]},
                "controller": c.get("controller_id"), "cluster_id": c.get("cluster_id"),
                "topics": {t["name"]: [p["leader_id"] for p in sorted(
                    t["partitions"], key=lambda p: p["partition_index"])]
                    for t in topics if t["error_code"] == 0}}

    def create_topic(self, topic, partitions, deadline):
        admin = self._admin(deadline)
        try:
            admin.create_topics({topic: {"num_partitions": partitions,
                                         "replication_factor": 1}})
        finally:
            admin.close()
        return "CreateTopics"

    def delete_topic(self, topic, deadline):
        admin = self._admin(deadline)
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()
        return "DeleteTopics"

    def produce(self, topic, records, idempotent, deadline):
        from kafka import KafkaProducer
        p = KafkaProducer(bootstrap_servers=[self.bootstrap_servers], client_id="kb-smoke",
                          acks="all", enable_idempotence=idempotent, linger_ms=5)
        try:
            futures = [(s, p.send(topic, key=k, value=v)) for s, k, v in records]
            p.flush(timeout=deadline.left())
            acked = {}
            for s, f in futures:
                md = f.get(timeout=max(0.1, deadline.left()))
                acked[s] = (md.partition, md.offset)
            return acked
        finally:
            p.close(timeout=5)

    def consume(self, topic, group, partitions, want, deadline):
        from kafka import KafkaConsumer, TopicPartition
        c = KafkaConsumer(bootstrap_servers=[self.bootstrap_servers], group_id=group,
                          client_id="kb-smoke", enable_auto_commit=False,
                          auto_offset_reset="earliest")
        out = []
        try:
            c.subscribe([topic])
            while len(out) < want and not deadline.expired():
                for _, recs in c.poll(timeout_ms=500).items():
                    out.extend((r.partition, r.offset, r.key, r.value) for r in recs)
            if out:
                c.commit()
            committed = {}
            for p in range(partitions):
                off = c.committed(TopicPartition(topic, p))
                if off is not None:
                    committed[p] = off
            return out, committed
        finally:
            c.close()


class AioKafka(Client):
    """aiokafka's API is asyncio: each operation runs in its own event loop in the client's
    thread."""

    name = "aiokafka"

    def version(self):
        import aiokafka
        return "aiokafka %s" % aiokafka.__version__

    def _run(self, coro, deadline):
        async def bounded():
            return await asyncio.wait_for(coro, timeout=max(0.1, deadline.left()))
        return asyncio.run(bounded())

    def _admin(self):
        from aiokafka.admin import AIOKafkaAdminClient
        return AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers,
                                   client_id="kb-smoke-admin")

    def metadata(self, deadline):
        async def go():
            admin = self._admin()
            await admin.start()
            try:
                return await admin.describe_cluster(), await admin.describe_topics()
            finally:
                await admin.close()
        c, topics = self._run(go(), deadline)
        return {"brokers": {b["node_id"]: (b["host"], b["port"]) for b in c["brokers"]},
                "controller": c.get("controller_id"), "cluster_id": c.get("cluster_id"),
                "topics": {t["topic"]: [p["leader"] for p in sorted(
                    t["partitions"], key=lambda p: p["partition"])]
                    for t in topics if t["error_code"] == 0}}

    def _admin_call(self, call, deadline):
        """Runs `call(admin)` (CreateTopics or DeleteTopics) and checks its per-topic errors."""
        async def go():
            admin = self._admin()
            await admin.start()
            try:
                return await call(admin)
            finally:
                await admin.close()
        resp = self._run(go(), deadline)
        errors = [e for e in resp.to_object().get("topic_errors",
                                                  resp.to_object().get("topic_error_codes", []))
                  if e["error_code"] != 0]
        check(not errors, "%s v%d: %s" % (type(resp).__name__, resp.API_VERSION, errors))
        return "%s v%d" % (type(resp).__name__.replace("Response", "").rstrip("_v0123456789"),
                           resp.API_VERSION)

    def create_topic(self, topic, partitions, deadline):
        from aiokafka.admin import NewTopic
        return self._admin_call(lambda a: a.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)]), deadline)

    def delete_topic(self, topic, deadline):
        return self._admin_call(lambda a: a.delete_topics([topic]), deadline)

    def produce(self, topic, records, idempotent, deadline):
        from aiokafka import AIOKafkaProducer

        async def go():
            p = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, client_id="kb-smoke",
                                 acks="all", enable_idempotence=idempotent, linger_ms=5)
            await p.start()
            try:
                futures = [(s, await p.send(topic, value=v, key=k)) for s, k, v in records]
                return {s: ((md := await f).partition, md.offset) for s, f in futures}
            finally:
                await p.stop()
        return self._run(go(), deadline)

    def consume(self, topic, group, partitions, want, deadline):
        from aiokafka import AIOKafkaConsumer, TopicPartition

        async def go():
            c = AIOKafkaConsumer(topic, bootstrap_servers=self.bootstrap_servers,
                                 group_id=group, client_id="kb-smoke",
                                 enable_auto_commit=False, auto_offset_reset="earliest")
            await c.start()
            out = []
            try:
                while len(out) < want:
                    for _, recs in (await c.getmany(timeout_ms=500)).items():
                        out.extend((r.partition, r.offset, r.key, r.value) for r in recs)
                if out:
                    await c.commit()
                committed = {}
                for p in range(partitions):
                    off = await c.committed(TopicPartition(topic, p))
                    if off is not None:
                        committed[p] = off
                return out, committed
            finally:
                await c.stop()
        return self._run(go(), deadline)


class Kcat(Client):
    name = "kcat"

    def __init__(self, args):
        super().__init__(args)
        self.bin = shutil.which(args.kcat)
        check(self.bin is not None, "kcat binary %r not found on PATH" % args.kcat)

    def _kcat(self, argv, deadline, stdin=None):
        try:
            r = subprocess.run([self.bin, "-b", self.bootstrap_servers, *argv], input=stdin,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=max(0.1, deadline.left()))
        except subprocess.TimeoutExpired:
            raise StepError("kcat %s did not finish in time" % " ".join(argv)) from None
        check(r.returncode == 0, "kcat %s exited %d: %s" % (
            " ".join(argv), r.returncode, r.stderr.decode(errors="replace").strip()[-400:]))
        return r.stdout

    def version(self):
        out = subprocess.run([self.bin, "-V"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=10).stdout.decode(errors="replace")
        line = next((ln for ln in out.splitlines() if ln.startswith("Version")), "?")
        return "kcat " + line.strip()

    def metadata(self, deadline):
        md = json.loads(self._kcat(["-L", "-J"], deadline))
        return {"brokers": {b["id"]: tuple(b["name"].rsplit(":", 1)) for b in md["brokers"]},
                "controller": md.get("controllerid"), "cluster_id": None,
                "topics": {t["topic"]: [p["leader"] for p in sorted(
                    t["partitions"], key=lambda p: p["partition"])]
                    for t in md["topics"] if not t.get("error")}}

    def create_topic(self, topic, partitions, deadline):
        confluent_create_topic(self.bootstrap_servers, topic, partitions, deadline)
        return "CreateTopics through confluent-kafka's AdminClient (kcat has no admin API)"

    def delete_topic(self, topic, deadline):
        confluent_delete_topic(self.bootstrap_servers, topic, deadline)
        return "DeleteTopics through confluent-kafka's AdminClient (kcat has no admin API)"

    def produce(self, topic, records, idempotent, deadline):
        lines = b"".join(b"%s\t%s\n" % (k, v) for _, k, v in records)
        self._kcat(["-P", "-t", topic, "-K", "\t", "-X", "acks=all",
                    "-X", "enable.idempotence=%s" % str(idempotent).lower()],
                   deadline, stdin=lines)
        return None  # kcat -P reports no offsets

    def consume(self, topic, group, partitions, want, deadline):
        # -G: a balanced consumer in `group`; -e: leave at the end of every partition, which
        # commits (librdkafka's auto commit, and a final commit on close).
        out = self._kcat(["-G", group, "-J", "-e", "-q", "-X", "auto.offset.reset=earliest",
                          topic], deadline)
        recs = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [(r["partition"], r["offset"], (r.get("key") or "").encode(),
                 (r.get("payload") or "").encode()) for r in recs], None


CLIENT_CLASSES = {c.name: c for c in (Kcat, KafkaPython, ConfluentKafka, AioKafka)}


# ---------------------------------------------------------------------------------------------
# the steps
# ---------------------------------------------------------------------------------------------
class Run:
    """One client's run of the steps; emits one JSON line per step."""

    def __init__(self, client_name: str, args, emit):
        self.name = client_name
        self.args = args
        self.emit = emit
        self.run_id = uuid.uuid4().hex[:8]
        self.topic = "smoke-%s-%s" % (client_name, self.run_id)
        self.group = self.topic + "-group"
        self.client: Client | None = None
        self.failed: set[str] = set()
        self.done: set[str] = set()
        self.sent: list = []
        self.acked: dict | None = None
        self.committed: dict[int, int] = {}

    def all_steps(self):
        for step in STEPS:
            blocked = [s for s in NEEDS.get(step, ()) if s in self.failed]
            if blocked:
                self.failed.add(step)
                self.report(step, False, 0, "not run: %s failed" % blocked[0])
                continue
            t0 = time.monotonic()
            try:
                detail = getattr(self, "step_" + step)(Deadline(STEP_TIMEOUT_S))
                ok = True
            except StepError as e:
                ok, detail = False, str(e)
            except Exception as e:  # noqa: BLE001 - a client library's error fails the step
                ok = False
                where = traceback.extract_tb(e.__traceback__)[-1]
                detail = "%s: %s (at %s:%d)" % (type(e).__name__, e,
                                                os.path.basename(where.filename), where.lineno)
            if not ok:
                self.failed.add(step)
            self.report(step, ok, (time.monotonic() - t0) * 1000, detail)

    def report(self, step, ok, ms, detail):
        self.done.add(step)
        self.emit({"client": self.name, "step": step, "ok": ok, "ms": round(ms, 1),
                   "detail": detail})

    def wait_topic(self, deadline, present: bool):
        def state():
            leaders = self.client.metadata(deadline)["topics"].get(self.topic)
            if not present:
                return leaders is None
            return (leaders is not None and len(leaders) == self.args.partitions
                    and all(lead >= 0 for lead in leaders))
        wait_for(state, deadline.left(), "topic %s %s in %s's metadata" % (
            self.topic, "with led partitions" if present else "to be gone", self.name),
            interval=0.2)

    def step_bootstrap(self, deadline):
        self.client = CLIENT_CLASSES[self.name](self.args)
        md = self.client.metadata(deadline)
        check(md["brokers"], "Metadata lists no broker")
        return "%s; brokers %s" % (self.client.version(), sorted(md["brokers"]))

    def step_create_topic(self, deadline):
        how = self.client.create_topic(self.topic, self.args.partitions, deadline)
        self.wait_topic(deadline, present=True)
        return "%s: %s, %d partitions, all led" % (how, self.topic, self.args.partitions)

    def step_produce(self, deadline):
        self.sent = make_records(self.name, 0, self.args.messages)
        self.acked = self.client.produce(self.topic, self.sent, self.args.idempotent, deadline)
        if self.acked is not None:
            check(len(self.acked) == len(self.sent),
                  "%d of %d acknowledged" % (len(self.acked), len(self.sent)))
        return "%d keyed records, acks=all, idempotence %s; %s" % (
            len(self.sent), "on" if self.args.idempotent else "off",
            "every delivery acknowledged" if self.acked is not None
            else "kcat -P exited 0 (it reports no offsets)")

    def step_consume_group(self, deadline):
        records, committed = self.client.consume(self.topic, self.group, self.args.partitions,
                                                 len(self.sent), deadline)
        summary = check_read(records, self.sent, self.acked, {}, "group read")
        ends = end_offsets(records)
        if committed is not None:
            check(committed == ends, "committed offsets %s, end offsets %s" % (committed, ends))
        self.committed = ends
        return "%s; committed %s%s" % (summary, dict(sorted(ends.items())),
                                       "" if committed is not None
                                       else " (kcat: checked by commit_resume)")

    def step_commit_resume(self, deadline):
        more = make_records(self.name, len(self.sent), max(1, len(self.sent) // 10))
        acked = self.client.produce(self.topic, more, self.args.idempotent, deadline)
        records, _ = self.client.consume(self.topic, self.group, self.args.partitions,
                                         len(more), deadline)
        summary = check_read(records, more, acked, self.committed, "resumed read")
        return "a new member of %s resumed at %s: %s" % (
            self.group, dict(sorted(self.committed.items())), summary)

    def step_list_topics(self, deadline):
        topics = self.client.metadata(deadline)["topics"]
        leaders = topics.get(self.topic)
        check(leaders is not None, "%s not among the %d topics listed" % (self.topic,
                                                                         len(topics)))
        check(len(leaders) == self.args.partitions, "%s has %d partitions, created with %d"
              % (self.topic, len(leaders), self.args.partitions))
        return "%d topics listed, %s with %d partitions" % (len(topics), self.topic,
                                                           len(leaders))

    def step_describe_cluster(self, deadline):
        c = self.client.cluster(deadline)
        brokers = c["brokers"]
        check(brokers and all(h and int(p) > 0 for h, p in brokers.values()),
              "brokers %s" % brokers)
        if c["controller"] is not None:
            check(c["controller"] in brokers, "controller %s is not among the brokers %s"
                  % (c["controller"], sorted(brokers)))
        if self.args.cluster_id and c["cluster_id"] is not None:
            check(c["cluster_id"] == self.args.cluster_id, "cluster id %r, expected %r"
                  % (c["cluster_id"], self.args.cluster_id))
        return "brokers %s, controller %s, cluster id %s" % (
            {b: "%s:%s" % hp for b, hp in sorted(brokers.items())}, c["controller"],
            c["cluster_id"] if c["cluster_id"] is not None else "(not exposed)")

    def step_delete_topic(self, deadline):
        how = self.client.delete_topic(self.topic, deadline)
        self.wait_topic(deadline, present=False)
        return "%s: %s gone from the metadata" % (how, self.topic)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True, help="HOST:PORT of the broker")
    ap.add_argument("--clients", default=",".join(CLIENTS),
                    help="comma-separated subset of %s" % ",".join(CLIENTS))
    ap.add_argument("--idempotent", action="store_true", help="idempotent producers")
    ap.add_argument("--cluster-id", help="the cluster id describe_cluster must report")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0, help="limit for the whole run")
    ap.add_argument("--kcat", default=os.environ.get("KB_KCAT", "kcat"))
    args = ap.parse_args(argv)
    clients = [c for c in args.clients.split(",") if c]
    unknown = [c for c in clients if c not in CLIENT_CLASSES]
    if unknown or not clients:
        ap.error("unknown client(s) %s; choose from %s" % (unknown, ",".join(CLIENTS)))

    lock = threading.Lock()
    all_ok = [True]

    def emit(obj):
        with lock:
            all_ok[0] = all_ok[0] and obj["ok"]
            print(json.dumps(obj), flush=True)

    runs = [Run(c, args, emit) for c in clients]
    threads = [threading.Thread(target=r.all_steps, name=r.name, daemon=True) for r in runs]
    for t in threads:
        t.start()
    deadline = Deadline(args.timeout)
    for t in threads:
        t.join(deadline.left())
    if any(t.is_alive() for t in threads):
        with lock:
            for r in runs:
                for step in STEPS:
                    if step not in r.done:
                        print(json.dumps({"client": r.name, "step": step, "ok": False,
                                          "ms": 0, "detail": "not finished within --timeout "
                                          "%.0fs" % args.timeout}), flush=True)
            sys.stdout.flush()
            os._exit(2)  # the hung client threads cannot be stopped otherwise
    return 0 if all_ok[0] else 1


if __name__ == "__main__":
    sys.exit(main())
