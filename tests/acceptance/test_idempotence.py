"""Idempotent producer: InitProducerId, sequence checks and deduplication of retries (spec §2.7)."""
from __future__ import annotations

import struct

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

    # The producer state is rebuilt from the log at restart: a resend is still a duplicate.
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
