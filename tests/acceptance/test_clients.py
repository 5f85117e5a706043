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
