"""Produce and read back with real clients, without consumer groups: kcat's simple consumer
and kafka-python's manual assign(). Each checks every record, its offset and the order."""
import json

import kb

N = 600
NKEYS = 30
PARTITIONS = 3


def messages(tag):
    """[(seq, key, value)]: NKEYS keys round-robin, the value carries the sequence number."""
    return [(i, b"k%03d" % (i % NKEYS), b"%s:%06d" % (tag.encode(), i)) for i in range(N)]


def seq_of(value: bytes) -> int:
    return int(value.rsplit(b":", 1)[1])


def test_kcat_reads_back(kb_server, kcat_bin):
    topic = kb.unique_topic("kcat")
    kb.create_topic(kb_server.bootstrap, topic, PARTITIONS)
    msgs = messages("kcat")

    data = b"".join(k + b"\t" + v + b"\n" for _, k, v in msgs)
    r = kb.kcat(kcat_bin, kb_server.bootstrap,
                ["-P", "-t", topic, "-K", "\t", "-X", "acks=all",
                 "-X", "enable.idempotence=false",
                 "-X", "max.in.flight.requests.per.connection=1", "-X", "linger.ms=5"],
                input_bytes=data, timeout=90)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 0 and "Delivery failed" not in err and "ERROR" not in err, \
        "kcat -P exited %d: %s" % (r.returncode, err[-2000:])

    r = kb.kcat(kcat_bin, kb_server.bootstrap,
                ["-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q"], timeout=90)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 0, "kcat -C exited %d: %s" % (r.returncode, err[-2000:])
    records = []
    for line in r.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("{"):
            j = json.loads(line)
            assert j["topic"] == topic, j
            records.append((j["partition"], j["offset"], (j["key"] or "").encode(),
                            (j["payload"] or "").encode()))

    assert len(records) == N, "kcat -C read %d of %d records; stderr: %s" % (
        len(records), N, err[-1000:])
    assert sorted(seq_of(v) for _, _, _, v in records) == list(range(N)), \
        "records missing or duplicated"
    sent = {seq: k for seq, k, _ in msgs}
    assert all(sent[seq_of(v)] == k for _, _, k, v in records), "a key came back changed"
    problems = kb.check_partition_order(records, seq_of)
    assert not problems, problems
    assert {p for p, _, _, _ in records} <= set(range(PARTITIONS))


def test_kafka_python_manual_assign(kb_server):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = kb.unique_topic("kpy")
    kb.create_topic(kb_server.bootstrap, topic, PARTITIONS)
    msgs = messages("kpy")

    producer = KafkaProducer(bootstrap_servers=[kb_server.bootstrap], acks=1,
                             enable_idempotence=False, linger_ms=5, retries=3,
                             max_in_flight_requests_per_connection=1,
                             client_id="kb-acceptance-kpy", request_timeout_ms=30000)
    try:
        futures = [(seq, producer.send(topic, key=k, value=v)) for seq, k, v in msgs]
        producer.flush(timeout=60)
        delivered = {}
        for seq, f in futures:
            md = f.get(timeout=30)
            delivered[seq] = (md.partition, md.offset)
    finally:
        producer.close(timeout=10)
    assert len(delivered) == N

    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer = KafkaConsumer(bootstrap_servers=[kb_server.bootstrap], group_id=None,
                             enable_auto_commit=False, client_id="kb-acceptance-kpy",
                             request_timeout_ms=30000)
    try:
        consumer.assign(tps)
        assert set(consumer.assignment()) == set(tps)
        consumer.seek_to_beginning()
        records = []
        deadline = kb.Deadline(60)
        while len(records) < N and not deadline.expired():
            for tp, recs in consumer.poll(timeout_ms=500).items():
                records.extend((tp.partition, r.offset, r.key, r.value) for r in recs)
        begins = consumer.beginning_offsets(tps)
        ends = consumer.end_offsets(tps)
    finally:
        consumer.close()

    assert len(records) == N, "read %d of %d records in 60s" % (len(records), N)
    assert sorted(seq_of(v) for _, _, _, v in records) == list(range(N)), \
        "records missing or duplicated"
    moved = [(seq_of(v), (p, off), delivered[seq_of(v)]) for p, off, _, v in records
             if delivered[seq_of(v)] != (p, off)]
    assert not moved, "records not at their acknowledged partition/offset: %s" % moved[:5]
    problems = kb.check_partition_order(records, seq_of)
    assert not problems, problems
    counts = {p: sum(1 for q, _, _, _ in records if q == p) for p in range(PARTITIONS)}
    assert {tp.partition: o for tp, o in begins.items()} == {p: 0 for p in range(PARTITIONS)}
    assert {tp.partition: o for tp, o in ends.items()} == counts, \
        "ListOffsets latest != records per partition"


def stored_codecs(partition_dir):
    """The compression codec (attributes & 7) of every batch in a partition's segments."""
    codecs = []
    for log in sorted(partition_dir.glob("*.log")):
        data = log.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            batch_length = int.from_bytes(data[pos + 8:pos + 12], "big")
            if batch_length <= 0:
                break
            codecs.append(int.from_bytes(data[pos + 21:pos + 23], "big") & 7)
            pos += 12 + batch_length
    return codecs


def test_kcat_compression_is_stored_as_sent(kb_server, kcat_bin):
    """librdkafka 2.0 (kcat) compresses only when the broker's ApiVersions makes it think the
    codec is supported; batches are then stored in the codec the producer chose."""
    for codec_id, codec in [(1, "gzip"), (2, "snappy"), (3, "lz4"), (4, "zstd")]:
        topic = kb.unique_topic("kcat-" + codec)
        kb.create_topic(kb_server.bootstrap, topic, 1)
        data = b"".join(b"value-%04d-%s\n" % (i, b"x" * 200) for i in range(200))
        r = kb.kcat(kcat_bin, kb_server.bootstrap,
                    ["-P", "-t", topic, "-z", codec, "-X", "enable.idempotence=false"],
                    input_bytes=data, timeout=90)
        assert r.returncode == 0, r.stderr.decode("utf-8", "replace")[-2000:]
        codecs = stored_codecs(kb_server.data_dir / (topic + "-0"))
        assert codecs and set(codecs) == {codec_id}, \
            "kcat -z %s: stored batch codecs %s" % (codec, codecs)
        r = kb.kcat(kcat_bin, kb_server.bootstrap,
                    ["-C", "-t", topic, "-o", "beginning", "-e", "-q"], timeout=90)
        assert r.stdout.count(b"\n") == 200, r.stderr.decode("utf-8", "replace")[-2000:]


def test_pre_v2_batch_versions_get_a_clear_error(kb_server):
    """Produce v0-2 and Fetch v0-3 are advertised (for librdkafka's feature detection) but
    carry message formats kraftbridge does not store: every partition gets
    UNSUPPORTED_FOR_MESSAGE_FORMAT (43), never misread bytes."""
    from test_groups import _Raw, _b, _i16, _i32, _i64, _s
    topic = kb.unique_topic("oldfmt")
    kb.create_topic(kb_server.bootstrap, topic, 1)
    raw = _Raw("127.0.0.1", kb_server.port)
    r = raw.call(0, 2, _i16(1) + _i32(5000) + _i32(1) + _s(topic) + _i32(1) + _i32(0)
                 + _b(b"\x00" * 40))
    assert r.i32() == 1 and r.string() == topic and r.i32() == 1
    assert (r.i32(), r.i16()) == (0, 43)
    r = raw.call(1, 3, _i32(-1) + _i32(0) + _i32(1) + _i32(1 << 20) + _i32(1) + _s(topic)
                 + _i32(1) + _i32(0) + _i64(0) + _i32(1 << 20))
    r.i32()  # throttle time
    assert r.i32() == 1 and r.string() == topic and r.i32() == 1
    assert (r.i32(), r.i16()) == (0, 43)
