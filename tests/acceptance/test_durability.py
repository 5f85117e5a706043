"""Data survives the process: a clean restart (SIGTERM) and a crash (SIGKILL mid-produce).

A record the broker acknowledged must be readable after a restart, at the partition and
offset the acknowledgement named (acks=1 means "in the leader's log"; a SIGKILL of the process
loses nothing the kernel already has)."""
import pytest

import kb

PARTITIONS = 2


def msgs(tag, start, n, nkeys=20):
    return [(i, b"k%02d" % (i % nkeys), b"%s:%07d" % (tag.encode(), i))
            for i in range(start, start + n)]


def test_restart_keeps_data(kb_servers):
    srv = kb_servers().start().wait_ready()
    topic = kb.unique_topic("restart")
    kb.create_topic(srv.bootstrap, topic, PARTITIONS)
    first = kb.confluent_produce(srv.bootstrap, topic, msgs("rs", 0, 400))

    rc = srv.stop()
    assert rc == 0, "kraftbridge server exited with %s after SIGTERM, want 0" % (
        kb.describe_exit(rc))
    srv.start().wait_ready()

    topics = kb.list_topic_partitions(srv.bootstrap)
    assert topics.get(topic) == PARTITIONS, "after restart, Metadata lists %r" % topics
    records = kb.kafka_python_read_all(srv.bootstrap, topic, PARTITIONS)
    got = {kb.seq_of(v): (p, off) for p, off, _, v in records}
    assert len(records) == len(first), "read %d records after restart, produced %d" % (
        len(records), len(first))
    assert got == first, "records moved or lost across the restart"

    # New records continue the offsets; nothing is overwritten.
    ends = {p: sum(1 for q, _ in first.values() if q == p) for p in range(PARTITIONS)}
    second = kb.confluent_produce(srv.bootstrap, topic, msgs("rs", 400, 200))
    reused = {seq: po for seq, po in second.items() if po[1] < ends[po[0]]}
    assert not reused, "offsets handed out again after restart: %s" % list(reused.items())[:5]
    records = kb.kafka_python_read_all(srv.bootstrap, topic, PARTITIONS)
    assert {kb.seq_of(v): (p, off) for p, off, _, v in records} == {**first, **second}
    assert not kb.check_partition_order(records, kb.seq_of)


@pytest.mark.timeout(420)
def test_sigkill_during_produce_loses_no_acked_record(kb_servers):
    srv = kb_servers().start().wait_ready()
    topic = kb.unique_topic("sigkill")
    partitions = 3
    kb.create_topic(srv.bootstrap, topic, partitions)

    producer = kb.ProducerLoop(srv.bootstrap, topic, b"sk", flush_timeout=100,
                               **{"client.id": "kb-sigkill", "acks": 1,
                                  "enable.idempotence": False, "message.timeout.ms": 90000})
    try:
        producer.wait_acked(3000, 90, "3000 acknowledged records before the kill")
        acked_before_kill = producer.acked_now()
        srv.kill()
        producer.stop()
        srv.start().wait_ready()
        producer.finish()
    finally:
        producer.stop()

    records = kb.kafka_python_read_all(srv.bootstrap, topic, partitions, timeout=120)
    final_acked = producer.acked_now()
    lost = kb.missing_acked(records, final_acked)
    lost_before_kill = [s for s, _, _ in lost if s in acked_before_kill]
    summary = ("produced %d, %d acked before the SIGKILL, %d acked in all, %d not delivered, "
               "%d records read back" % (producer.produced, len(acked_before_kill),
                                         len(final_acked), len(producer.failed), len(records)))
    print(summary)
    assert not lost, "%d acknowledged records missing or moved after SIGKILL + restart " \
        "(%d of them acked before the kill), first %s; %s" % (
            len(lost), len(lost_before_kill), lost[:5], summary)
    assert len(acked_before_kill) >= 3000


def test_partition_whose_log_cannot_be_created_answers_storage_error(kb_servers):
    """A partition log the broker cannot create (here a file stands where its directory must
    go; in life a full disk or too many open files) is reported as Kafka reports a replica in
    a failed log directory: KAFKA_STORAGE_ERROR (56) on produce, the replica listed offline in
    Metadata. The topic's other partitions work."""
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaStorageError

    srv = kb_servers().start().wait_ready()
    topic = kb.unique_topic("offline")
    (srv.data_dir / ("%s-1" % topic)).write_bytes(b"not a partition directory")
    kb.create_topic(srv.bootstrap, topic, 2)
    kb.wait_for(lambda: "cannot create the partition log" in srv.log_text(), 30,
                "the server to log the failed partition log creation")

    admin = KafkaAdminClient(bootstrap_servers=srv.bootstrap, request_timeout_ms=10000)
    try:
        [described] = admin.describe_topics([topic])
        # kafka-python 3 names the fields as Kafka's JSON schema does; 2.x used "partition".
        offline = {p.get("partition_index", p.get("partition")): p["offline_replicas"]
                   for p in described["partitions"]}
        assert offline == {0: [], 1: [1]}, "offline replicas per partition: %r" % offline
    finally:
        admin.close()

    producer = KafkaProducer(bootstrap_servers=srv.bootstrap, retries=0, acks=1,
                             request_timeout_ms=10000)
    try:
        ok = producer.send(topic, b"fine", partition=0).get(timeout=30)
        assert ok.partition == 0 and ok.offset == 0
        with pytest.raises(KafkaStorageError):
            producer.send(topic, b"lost?", partition=1).get(timeout=30)
    finally:
        producer.close(timeout=5)
