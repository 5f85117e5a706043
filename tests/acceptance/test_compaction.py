"""Log compaction with a real server and real clients: a `cleanup.policy=compact` topic written
with repeated keys and tombstones is compacted by the background cleaner to the latest value per
key; tombstones disappear after `delete.retention.ms`; keyless records are refused; the
compacted log reads the same after a restart."""
from __future__ import annotations

import kb

KEYS = 50
ROUNDS = 20
TOMBSTONED = 10
FILLER = 300
#: Small segments so most of the log is outside the (never cleaned) active segment.
TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.bytes": "4096",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "2000",
}
SERVER_PROPS = {"log.cleaner.backoff.ms": 200}
INVALID_RECORD = 87


def _create_compacted_topic(bootstrap: str, topic: str):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient(kb.admin_conf(bootstrap))
    fs = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                       config=TOPIC_CONFIG)], operation_timeout=30)
    fs[topic].result(timeout=60)
    kb.wait_for(lambda: admin.list_topics(topic=topic, timeout=5).topics[topic].error is None,
                60, "topic %s in Metadata" % topic)


def _produce(bootstrap: str, topic: str, records):
    from confluent_kafka import Producer
    # Small batches: a batch larger than segment.bytes is refused (RECORD_LIST_TOO_LARGE).
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "batch.num.messages": 10, "batch.size": 2000,
                  "log.connection.close": False})
    errors = []
    for key, value in records:
        p.produce(topic, key=key, value=value,
                  on_delivery=lambda err, msg: err and errors.append(err))
        p.poll(0)
    assert p.flush(60) == 0, "produce did not finish"
    assert not errors, errors[:3]


def _keyless_produce_error(bootstrap: str, topic: str):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "retries": 0,
                  "log.connection.close": False})
    errors = []
    p.produce(topic, key=None, value=b"no key",
              on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(30) == 0, "keyless produce got no answer"
    return errors[0]


def _expected():
    """The latest value of every key as written by the test, tombstoned keys absent."""
    latest = {}
    for r in range(ROUNDS):
        for k in range(KEYS):
            latest[b"k%02d" % k] = b"v%02d-%02d" % (k, r)
    for k in range(TOMBSTONED):
        del latest[b"k%02d" % k]
    for i in range(FILLER):
        latest[b"f%d" % (i % 5)] = b"filler-%04d" % i
    return latest


def _check_compacted(records, expected):
    """The records of a fully compacted topic (from offset 0): offsets strictly increase, each
    written key at most once outside the active segment's tail, and the last value seen per key
    is the latest written. Returns a list of problems (empty = fine)."""
    problems = []
    offsets = [off for _, off, _, _ in records]
    if any(b <= a for a, b in zip(offsets, offsets[1:])):
        problems.append("offsets not strictly increasing: %s" % offsets[:20])
    seen = {}
    for _, off, key, value in records:
        seen[key] = value
    if seen != expected:
        problems.append("latest values differ: extra %s, missing %s" % (
            sorted(set(seen) - set(expected))[:5], sorted(set(expected) - set(seen))[:5]))
    k_records = [key for _, _, key, _ in records if key.startswith(b"k")]
    if len(k_records) != len(set(k_records)):
        problems.append("%d k-records for %d keys: not compacted yet"
                        % (len(k_records), len(set(k_records))))
    if any(key.startswith(b"k") and int(key[1:]) < TOMBSTONED for key in k_records):
        problems.append("tombstoned keys still present")
    return problems


def test_compacted_topic_keeps_the_latest_value_per_key(kb_servers):
    server = kb_servers(props=SERVER_PROPS).start().wait_ready()
    topic = kb.unique_topic("compacted")
    _create_compacted_topic(server.bootstrap, topic)

    writes = [(b"k%02d" % k, b"v%02d-%02d" % (k, r)) for r in range(ROUNDS) for k in range(KEYS)]
    writes += [(b"k%02d" % k, None) for k in range(TOMBSTONED)]
    # Later writes of other keys push the tombstones out of the active segment.
    writes += [(b"f%d" % (i % 5), b"filler-%04d" % i) for i in range(FILLER)]
    _produce(server.bootstrap, topic, writes)
    total = len(writes)

    err = _keyless_produce_error(server.bootstrap, topic)
    assert err is not None and err.code() == INVALID_RECORD, \
        "a keyless record on a compacted topic must fail with INVALID_RECORD, got %r" % err

    expected = _expected()

    def compacted():
        records = kb.kafka_python_read_all(server.bootstrap, topic, 1, timeout=30)
        problems = _check_compacted(records, expected)
        return records if not problems else None

    records = kb.wait_for(compacted, 90, "the cleaner to compact %s and drop its tombstones"
                          % topic, interval=0.5)
    assert len(records) < total / 4, "only %d of %d records expected to survive" % (
        len(records), total)
    assert records[-1][1] == total - 1, "the last record keeps its offset"
    checkpoint = (server.data_dir / "cleaner-offset-checkpoint").read_text().split("\n")
    assert any(line.startswith("%s 0 " % topic) for line in checkpoint), checkpoint

    server.stop()
    server.start().wait_ready()
    again = kb.kafka_python_read_all(server.bootstrap, topic, 1, timeout=60)
    assert again == records, "the compacted log reads the same after a restart"
    assert not _check_compacted(again, expected)


def _committed(bootstrap: str, topic: str, group: str):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False, "log.connection.close": False})
    try:
        (tp,) = c.committed([TopicPartition(topic, 0)], timeout=30)
        assert tp.error is None, tp
        return tp.offset
    finally:
        c.close()


def test_compacted_consumer_offsets_reload_after_restart(kb_servers):
    """`__consumer_offsets` is compacted too; the coordinator's reload from offset 0 reads the
    compacted log (with gaps) and finds the latest commit."""
    commits = 300
    server = kb_servers(props={**SERVER_PROPS, "offsets.topic.num.partitions": 1,
                               "offsets.topic.segment.bytes": 2048,
                               "group.initial.rebalance.delay.ms": 0}).start().wait_ready()
    topic = kb.unique_topic("commits")
    group = topic + "-grp"
    kb.create_topic(server.bootstrap, topic, 1)
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": server.bootstrap, "group.id": group,
                  "enable.auto.commit": False, "log.connection.close": False})
    try:
        for i in range(1, commits + 1):
            c.commit(offsets=[TopicPartition(topic, 0, i)], asynchronous=False)
    finally:
        c.close()
    assert _committed(server.bootstrap, topic, group) == commits

    offsets_dir = server.data_dir / "__consumer_offsets-0"

    # A pass may run while the commits are still arriving and clean only the segments that
    # were full then; wait for the passes after the last commit to bring the size down.
    def compacted():
        lines = (server.data_dir / "cleaner-offset-checkpoint").read_text().splitlines()
        size = sum(f.stat().st_size for f in offsets_dir.glob("*.log"))
        checkpointed = any(line.startswith("__consumer_offsets 0 ") for line in lines)
        if not checkpointed or size >= commits * 60:
            raise AssertionError("%d bytes left for %d commits of one key, checkpointed: %s"
                                 % (size, commits, checkpointed))
        return True
    kb.wait_for(compacted, 60, "the cleaner to compact __consumer_offsets-0")

    server.stop()
    server.start().wait_ready()
    got = kb.wait_for(lambda: _committed(server.bootstrap, topic, group), 60,
                      "committed offset after restart")
    assert got == commits, "committed offset %d after restart, %d before" % (got, commits)
