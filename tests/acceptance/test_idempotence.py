"""Idempotent producer: InitProducerId, sequence checks and deduplication of retries
(docs/formats.md §7.7), kept across clean restarts and SIGKILLs by the producer state snapshots
(§9)."""
from __future__ import annotations

import struct
from collections import Counter

import pytest

import kb
from test_groups import _Raw

API_PRODUCE, API_INIT_PRODUCER_ID = 0, 22
NONE, OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH = 0, 45, 47


def _init_producer_id(raw: _Raw, transactional_id: str | None = None):
    """InitProducerId v0: (error, producer id, epoch)."""
    if transactional_id is None:
        tid = struct.pack(">h", -1)
    else:
        tid = struct.pack(">h", len(transactional_id)) + transactional_id.encode()
    r = raw.call(API_INIT_PRODUCER_ID, 0, tid + struct.pack(">i", 60000))
    _throttle, error, pid, epoch = r.i32(), r.i16(), r.i64(), r.i16()
    r.done()
    return error, pid, epoch


def _batch(pid: int, epoch: int, base_sequence: int, values: list[bytes]) -> bytes:
    from kafka.record.default_records import DefaultRecordBatchBuilder
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                  producer_id=pid, producer_epoch=epoch,
                                  base_sequence=base_sequence, batch_size=1 << 20)
    for i, v in enumerate(values):
        b.append(i, timestamp=None, key=None, value=v, headers=[])
    return bytes(b.build())


def _produce(raw: _Raw, topic: str, batch: bytes):
    """Produce v3, acks=-1, one partition (0): (error, base offset)."""
    t = topic.encode()
    body = (struct.pack(">hhi", -1, -1, 30000) + struct.pack(">i", 1)
            + struct.pack(">h", len(t)) + t + struct.pack(">i", 1)
            + struct.pack(">i", 0) + struct.pack(">i", len(batch)) + batch)
    r = raw.call(API_PRODUCE, 3, body)
    assert r.i32() == 1
    assert r.string() == topic
    assert r.i32() == 1
    assert r.i32() == 0
    error, base_offset, _append_time = r.i16(), r.i64(), r.i64()
    r.i32()  # throttle
    r.done()
    return error, base_offset


def _read_all(bootstrap: str, topic: str, want: int, timeout: float = 60.0):
    from kafka import KafkaConsumer, TopicPartition
    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap], group_id=None,
                             enable_auto_commit=False, request_timeout_ms=30000)
    try:
        consumer.assign([tp])
        consumer.seek_to_beginning()
        records = []
        deadline = kb.Deadline(timeout)
        while len(records) < want and not deadline.expired():
            for recs in consumer.poll(timeout_ms=500).values():
                records.extend(recs)
        # Anything beyond `want` would be a duplicate: give it a moment to show up.
        for recs in consumer.poll(timeout_ms=1000).values():
            records.extend(recs)
        end = consumer.end_offsets([tp])[tp]
    finally:
        consumer.close()
    return records, end


def test_kafka_python_default_producer_is_idempotent(kb_server):
    from kafka import KafkaProducer

    topic = kb.unique_topic("idem-kpy")
    kb.create_topic(kb_server.bootstrap, topic, 1)
    n = 500
    producer = KafkaProducer(bootstrap_servers=[kb_server.bootstrap], linger_ms=5,
                             request_timeout_ms=30000)
    assert producer.config["enable_idempotence"], "kafka-python 3.x defaults to idempotence"
    try:
        futures = [producer.send(topic, partition=0, value=b"m%d" % i) for i in range(n)]
        producer.flush(timeout=60)
        offsets = [f.get(timeout=30).offset for f in futures]
    finally:
        producer.close(timeout=10)
    assert offsets == list(range(n))

    records, end = _read_all(kb_server.bootstrap, topic, n)
    assert [r.value for r in records] == [b"m%d" % i for i in range(n)]
    assert [r.offset for r in records] == list(range(n))
    assert end == n


def test_raw_resend_is_deduplicated_also_after_restart(kb_servers):
    srv = kb_servers().start().wait_ready()
    topic = kb.unique_topic("idem-raw")
    kb.create_topic(srv.bootstrap, topic, 1)

    raw = _Raw("127.0.0.1", srv.port)
    try:
        error, pid, epoch = _init_producer_id(raw)
        assert (error, epoch) == (NONE, 0) and pid >= 0
        error2, pid2, _ = _init_producer_id(raw)
        assert error2 == NONE and pid2 != pid

        first = _batch(pid, epoch, 0, [b"a", b"b", b"c"])
        second = _batch(pid, epoch, 3, [b"d", b"e"])
        assert _produce(raw, topic, first) == (NONE, 0)
        assert _produce(raw, topic, first) == (NONE, 0), "a resend returns the original offset"
        assert _produce(raw, topic, second) == (NONE, 3)
        assert _produce(raw, topic, first) == (NONE, 0), "still within the last 5 batches"
        assert _produce(raw, topic, second) == (NONE, 3)
        # A gap in the sequence, and an older epoch, are refused.
        assert _produce(raw, topic, _batch(pid, epoch, 9, [b"x"]))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
        assert _produce(raw, topic, _batch(pid, epoch + 1, 0, [b"f"])) == (NONE, 5)
        assert _produce(raw, topic, _batch(pid, epoch, 5, [b"y"]))[0] == INVALID_PRODUCER_EPOCH
        # Transactions are not supported: a transactional id gets a fatal error.
        terr, tpid, _ = _init_producer_id(raw, "txn-1")
        assert terr != NONE and tpid == -1
    finally:
        raw.close()

    records, end = _read_all(srv.bootstrap, topic, 6)
    assert [r.value for r in records] == [b"a", b"b", b"c", b"d", b"e", b"f"]
    assert end == 6

    # The producer state is reloaded from the snapshot the clean shutdown wrote at the log
    # end offset: a resend is still a duplicate.
    assert srv.stop() == 0
    srv.start().wait_ready()
    raw = _Raw("127.0.0.1", srv.port)
    try:
        assert _produce(raw, topic, _batch(pid, epoch + 1, 0, [b"f"])) == (NONE, 5)
        assert _produce(raw, topic, _batch(pid, epoch + 1, 1, [b"g"])) == (NONE, 6)
        assert _produce(raw, topic, _batch(pid, epoch, 5, [b"z"]))[0] == INVALID_PRODUCER_EPOCH
        error, pid3, _ = _init_producer_id(raw)
        assert error == NONE and pid3 not in (pid, pid2)
    finally:
        raw.close()
    _, end = _read_all(srv.bootstrap, topic, 7)
    assert end == 7


def test_confluent_kafka_idempotent_producer(kb_server):
    from confluent_kafka import Producer

    topic = kb.unique_topic("idem-rdk")
    kb.create_topic(kb_server.bootstrap, topic, 1)
    p = Producer({"bootstrap.servers": kb_server.bootstrap, "enable.idempotence": True,
                  "linger.ms": 5, "log.connection.close": False})
    errors = []
    for i in range(300):
        p.produce(topic, value=b"v%d" % i, on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(60) == 0
    assert not errors, errors[:3]
    records, end = _read_all(kb_server.bootstrap, topic, 300)
    assert [r.value for r in records] == [b"v%d" % i for i in range(300)]
    assert end == 300


# ---------------------------------------------------------------------------------------------
# producer state across crashes: <offset>.snapshot files (docs/formats.md §9)
# ---------------------------------------------------------------------------------------------
def _partition_dir(srv, topic: str, partition: int = 0):
    return srv.data_dir / ("%s-%d" % (topic, partition))


def _offsets_of(d, suffix: str) -> list[int]:
    """Offsets of the `<20 digits><suffix>` files in partition dir `d`, sorted."""
    return sorted(int(p.name[:-len(suffix)]) for p in d.iterdir()
                  if p.name.endswith(suffix) and len(p.name) == 20 + len(suffix))


def _read_snapshot(path) -> dict[int, tuple]:
    """Decode a producer snapshot (docs/formats.md §9.1) independently of the server: checks the
    version and the CRC32C; returns {producer id: (epoch, last seq, last offset, offset delta,
    timestamp, coordinator epoch, txn first offset)}."""
    from kafka.record.util import calc_crc32c
    data = path.read_bytes()
    version, crc, count = struct.unpack_from(">hIi", data, 0)
    assert version == 1, "%s: version %d" % (path, version)
    assert crc == calc_crc32c(data[6:]), "%s: CRC mismatch" % path
    assert len(data) == 10 + 46 * count, "%s: %d bytes for %d entries" % (path, len(data), count)
    out = {}
    for i in range(count):
        pid, *rest = struct.unpack_from(">qhiqiqiq", data, 10 + 46 * i)
        out[pid] = tuple(rest)
    return out


@pytest.mark.timeout(300)
def test_snapshots_keep_deduplication_beyond_the_last_two_segments(kb_servers):
    """(b) A producer whose last batch lies before the last two segments is still known after
    a SIGKILL restart: its state comes from the roll snapshots, not from a scan. (c) Roll and
    clean-shutdown snapshots carry Kafka's names and layout."""
    srv = kb_servers(props={"log.segment.bytes": 1024}).start().wait_ready()
    topic = kb.unique_topic("idem-snap")
    kb.create_topic(srv.bootstrap, topic, 1)
    pdir = _partition_dir(srv, topic)

    raw = _Raw("127.0.0.1", srv.port)
    try:
        _, pid_a, epoch_a = _init_producer_id(raw)
        _, pid_b, epoch_b = _init_producer_id(raw)
        first_a = _batch(pid_a, epoch_a, 0, [b"a0", b"a1", b"a2"])
        assert _produce(raw, topic, first_a) == (NONE, 0)
        # Producer B alone fills enough ~200-byte batches to roll well past A's segment.
        offset = 3
        for i in range(40):
            batch = _batch(pid_b, epoch_b, 2 * i, [b"b" * 60, b"b" * 60])
            assert _produce(raw, topic, batch) == (NONE, offset)
            offset += 2
        end = offset
    finally:
        raw.close()

    bases = _offsets_of(pdir, ".log")
    assert len(bases) >= 5, "segment.bytes=1024 should have rolled often: %s" % bases
    # (c) One snapshot per roll, named after the new segment's base; none at offset 0.
    assert _offsets_of(pdir, ".snapshot") == bases[1:]
    at_last_roll = _read_snapshot(pdir / ("%020d.snapshot" % bases[-1]))
    assert at_last_roll[pid_a][:3] == (epoch_a, 2, 2), at_last_roll
    assert at_last_roll[pid_b][0] == epoch_b

    srv.kill()
    srv.start().wait_ready()
    raw = _Raw("127.0.0.1", srv.port)
    try:
        # (b) A's batch is six-plus segments back, yet its resend is still a duplicate with
        # the original offset, and A's next sequence must follow on (an unknown producer
        # would be accepted at any sequence).
        assert _produce(raw, topic, first_a) == (NONE, 0)
        assert _produce(raw, topic, _batch(pid_a, epoch_a, 9, [b"gap"]))[0] \
            == OUT_OF_ORDER_SEQUENCE_NUMBER
        assert _produce(raw, topic, _batch(pid_a, epoch_a, 3, [b"a3"])) == (NONE, end)
        last_b = _batch(pid_b, epoch_b, 78, [b"b" * 60, b"b" * 60])
        assert _produce(raw, topic, last_b) == (NONE, end - 2)
    finally:
        raw.close()

    # (c) A clean shutdown writes the snapshot at the log end offset.
    assert srv.stop() == 0
    at_end = _read_snapshot(pdir / ("%020d.snapshot" % (end + 1)))
    assert at_end[pid_a][:4] == (epoch_a, 3, end, 0), at_end
    assert at_end[pid_b][:4] == (epoch_b, 79, end - 1, 1), at_end
    assert all(e[4] > 0 and e[5:] == (-1, -1) for e in at_end.values()), at_end

    # Loaded from that snapshot: both producers' last batches are still duplicates.
    srv.start().wait_ready()
    raw = _Raw("127.0.0.1", srv.port)
    try:
        assert _produce(raw, topic, _batch(pid_a, epoch_a, 3, [b"a3"])) == (NONE, end)
        assert _produce(raw, topic, last_b) == (NONE, end - 2)
    finally:
        raw.close()
    records, log_end = _read_all(srv.bootstrap, topic, end + 1)
    assert log_end == end + 1
    assert [r.value for r in records[:3]] == [b"a0", b"a1", b"a2"]
    assert [r.value for r in records[3:end]] == [b"b" * 60] * (end - 3)
    assert records[end].value == b"a3"


KILL_ROUNDS = 4
ACKS_PER_ROUND = 20000
#: Pads each value to ~100 bytes, so the records span several segments.
PADDING = b"p" * 88


@pytest.mark.timeout(600)
def test_sigkill_during_idempotent_produce_neither_duplicates_nor_loses(kb_servers):
    """(a) An idempotent confluent-kafka producer keeps producing numbered records while the
    server is SIGKILLed and restarted (same data dir and port) a few times. Its retries of
    batches that did reach the log must be answered as duplicates, so: every acknowledged
    record is in the log exactly once at its acknowledged offset, no record is there twice,
    and each partition holds the records in produce order. Small segments make the restarts
    load roll snapshots and replay after them."""
    # ~12 batches of at most 200 records per segment: restarts load roll snapshots, and a
    # kill rarely lands within the few in-flight batches after a roll (only the last batch
    # per producer before a snapshot survives it, as in Kafka). An fsync per append keeps
    # the broker inside appends most of the time, so a kill usually leaves appended batches
    # unacknowledged: the retries the test is about.
    srv = kb_servers(props={"log.segment.bytes": 262144,
                            "log.flush.interval.messages": 1}).start().wait_ready()
    topic = kb.unique_topic("idem-kill")
    partitions = 2
    kb.create_topic(srv.bootstrap, topic, partitions)

    producer = kb.ProducerLoop(srv.bootstrap, topic, PADDING, flush_timeout=170,
                               **{"client.id": "kb-idem-kill", "enable.idempotence": True,
                                  "acks": "all", "batch.num.messages": 200,
                                  "message.timeout.ms": 180000})
    try:
        for round_ in range(KILL_ROUNDS):
            want = (round_ + 1) * ACKS_PER_ROUND
            producer.wait_acked(want, 120, "%d acknowledged records before kill %d"
                                % (want, round_ + 1))
            srv.kill()
            srv.start().wait_ready()
        # Some records acknowledged by the last incarnation too, then finish.
        want = (KILL_ROUNDS + 1) * ACKS_PER_ROUND
        producer.wait_acked(want, 120, "%d acknowledged records after the last restart" % want)
        producer.finish()
    finally:
        producer.stop()

    records = kb.kafka_python_read_all(srv.bootstrap, topic, partitions, timeout=120)
    final_acked = producer.acked_now()
    summary = "produced %d, acked %d, failed %d, read back %d, %d kills" % (
        producer.produced, len(final_acked), len(producer.failed), len(records), KILL_ROUNDS)
    print(summary)
    counts = Counter(kb.seq_of(v) for _, _, _, v in records)
    dups = sorted(s for s, n in counts.items() if n > 1)
    assert not dups, "%d records in the log twice, e.g. %s; %s" % (len(dups), dups[:5], summary)
    lost = kb.missing_acked(records, final_acked)
    assert not lost, "%d acknowledged records missing or moved, first %s; %s" % (
        len(lost), lost[:5], summary)
    assert not kb.check_partition_order(records, kb.seq_of), summary
    # With a long message.timeout.ms nothing may be given up on: the retries succeed.
    assert not producer.failed, "undelivered: %s; %s" % (producer.failed[:5], summary)
    assert len(final_acked) == producer.produced, summary


def test_idle_producer_expires(kb_servers):
    """A producer idle for producer.id.expiration.ms is forgotten by the periodic check: its
    next batch is then accepted at any sequence, as for a new producer (Kafka
    `removeExpiredProducers`)."""
    srv = kb_servers(props={"producer.id.expiration.ms": 3000,
                            "producer.id.expiration.check.interval.ms": 500}).start().wait_ready()
    topic = kb.unique_topic("idem-expiry")
    kb.create_topic(srv.bootstrap, topic, 1)
    raw = _Raw("127.0.0.1", srv.port)
    try:
        _, pid, epoch = _init_producer_id(raw)
        assert _produce(raw, topic, _batch(pid, epoch, 0, [b"a"])) == (NONE, 0)
        gap = _batch(pid, epoch, 50, [b"after-expiry"])
        assert _produce(raw, topic, gap)[0] == OUT_OF_ORDER_SEQUENCE_NUMBER, "still known"
        # A refused batch appends nothing, so polling with it is harmless.
        kb.wait_for(lambda: _produce(raw, topic, gap) == (NONE, 1), 30,
                    "the idle producer to expire and its out-of-sequence batch to be accepted",
                    interval=0.3)
    finally:
        raw.close()
    _, end = _read_all(srv.bootstrap, topic, 2)
    assert end == 2
