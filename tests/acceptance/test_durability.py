"""Data survives the process: a clean restart (SIGTERM) and a crash (SIGKILL mid-produce).

A record the broker acknowledged must be readable after a restart, at the partition and
offset the acknowledgement named (acks=1 means "in the leader's log"; a SIGKILL of the process
loses nothing the kernel already has)."""
import threading

import pytest

import kb

PARTITIONS = 2


def seq_of(value: bytes) -> int:
    return int(value.rsplit(b":", 1)[1])


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
    got = {seq_of(v): (p, off) for p, off, _, v in records}
    assert len(records) == len(first), "read %d records after restart, produced %d" % (
        len(records), len(first))
    assert got == first, "records moved or lost across the restart"

    # New records continue the offsets; nothing is overwritten.
    ends = {p: sum(1 for q, _ in first.values() if q == p) for p in range(PARTITIONS)}
    second = kb.confluent_produce(srv.bootstrap, topic, msgs("rs", 400, 200))
    reused = {seq: po for seq, po in second.items() if po[1] < ends[po[0]]}
    assert not reused, "offsets handed out again after restart: %s" % list(reused.items())[:5]
    records = kb.kafka_python_read_all(srv.bootstrap, topic, PARTITIONS)
    assert {seq_of(v): (p, off) for p, off, _, v in records} == {**first, **second}
    assert not kb.check_partition_order(records, seq_of)


@pytest.mark.timeout(420)
def test_sigkill_during_produce_loses_no_acked_record(kb_servers):
    from confluent_kafka import Producer

    srv = kb_servers().start().wait_ready()
    topic = kb.unique_topic("sigkill")
    partitions = 3
    kb.create_topic(srv.bootstrap, topic, partitions)

    acked = {}            # seq -> (partition, offset), from delivery reports
    failed = []           # (seq, error) for messages the producer gave up on
    lock = threading.Lock()
    stop = threading.Event()
    produced = [0]
    thread_error = []

    def producer_loop():
        try:
            p = Producer({"bootstrap.servers": srv.bootstrap, "client.id": "kb-sigkill",
                          "acks": 1, "enable.idempotence": False, "linger.ms": 2,
                          "message.timeout.ms": 90000, "retry.backoff.ms": 100,
                          "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500})

            def on_delivery(err, msg):
                seq = seq_of(msg.value())
                with lock:
                    if err is None:
                        acked[seq] = (msg.partition(), msg.offset())
                    else:
                        failed.append((seq, str(err)))

            seq = 0
            while not stop.is_set():
                if len(p) > 5000:          # bound the queue: wait for acks
                    p.poll(0.01)
                    continue
                key = b"k%02d" % (seq % 40)
                try:
                    p.produce(topic, key=key, value=b"sk:%09d" % seq, on_delivery=on_delivery)
                except BufferError:
                    p.poll(0.01)
                    continue
                seq += 1
                produced[0] = seq
                p.poll(0)
            # Keep delivering what is queued or in flight: retried against the restarted server.
            p.flush(100)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            thread_error.append(repr(e))

    t = threading.Thread(target=producer_loop, name="sigkill-producer", daemon=True)
    t.start()
    try:
        kb.wait_for(lambda: thread_error or len(acked) >= 3000, 90,
                    "3000 acknowledged records before the kill", interval=0.05)
        assert not thread_error, thread_error
        with lock:
            acked_before_kill = dict(acked)
        srv.kill()
        stop.set()
        srv.start().wait_ready()
        t.join(150)
        assert not t.is_alive(), "producer thread still flushing after 150s"
    finally:
        stop.set()
    assert not thread_error, thread_error

    records = kb.kafka_python_read_all(srv.bootstrap, topic, partitions, timeout=120)
    at = {(p, off): seq_of(v) for p, off, _, v in records}
    with lock:
        final_acked = dict(acked)
    lost = sorted(seq for seq, po in final_acked.items() if at.get(po) != seq)
    lost_before_kill = [s for s in lost if s in acked_before_kill]
    summary = ("produced %d, %d acked before the SIGKILL, %d acked in all, %d not delivered, "
               "%d records read back" % (produced[0], len(acked_before_kill), len(final_acked),
                                         len(failed), len(records)))
    print(summary)
    assert not lost, "%d acknowledged records missing or moved after SIGKILL + restart " \
        "(%d of them acked before the kill), first %s; %s" % (
            len(lost), len(lost_before_kill),
            [(s, final_acked[s], at.get(final_acked[s])) for s in lost[:5]], summary)
    assert len(acked_before_kill) >= 3000
