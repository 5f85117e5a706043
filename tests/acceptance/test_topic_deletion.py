"""Deleting a topic deletes its committed offsets (Kafka's `onPartitionsDeleted`): a group
that had committed on a topic that is deleted and re-created under the same name reads the new
topic from `auto.offset.reset` and skips nothing, also after a restart; deleting
`__consumer_offsets` itself leaves no group or offset served from memory."""
import kb
from test_groups import PARTITIONS, committed, consume, group_server, produce

NO_OFFSET = -1001  # librdkafka's OFFSET_INVALID: nothing committed


def delete_topic(bootstrap, topic):
    from confluent_kafka.admin import AdminClient
    admin = AdminClient(kb.admin_conf(bootstrap))
    admin.delete_topics([topic], operation_timeout=30, request_timeout=30)[topic].result(30)
    kb.wait_for(lambda: topic not in kb.list_topic_partitions(bootstrap), 30,
                "topic %s gone from Metadata" % topic)


def test_recreated_topic_is_read_from_auto_offset_reset(kb_servers):
    srv = group_server(kb_servers)
    topic = kb.unique_topic("del-recreate")
    group = topic + "-grp"
    kb.create_topic(srv.bootstrap, topic, PARTITIONS)
    produce(srv.bootstrap, topic, 300, "old")
    assert len(consume(srv.bootstrap, topic, group, 300)) == 300
    assert all(o > 0 for o in committed(srv.bootstrap, topic, group).values())

    delete_topic(srv.bootstrap, topic)
    kb.create_topic(srv.bootstrap, topic, PARTITIONS)
    assert committed(srv.bootstrap, topic, group) == {p: NO_OFFSET for p in range(PARTITIONS)}
    produce(srv.bootstrap, topic, 60, "new")
    got = consume(srv.bootstrap, topic, group, 60)
    values = sorted(v for _, _, v in got)
    assert len(got) == 60 and all(v.startswith(b"new:") for v in values), \
        "read %d records of the re-created topic: %s" % (len(got), values[:5])
    per_partition = {}
    for p, off, _ in got:
        per_partition.setdefault(p, []).append(off)
    for p, offs in per_partition.items():
        assert sorted(offs) == list(range(len(offs))), "partition %d skipped: %s" % (p, offs)

    # The tombstones are in __consumer_offsets: a restart does not bring the old offsets back.
    ends = committed(srv.bootstrap, topic, group)
    srv.stop()
    srv.start().wait_ready()
    got = kb.wait_for(lambda: committed(srv.bootstrap, topic, group), 60,
                      "committed offsets after restart")
    assert got == ends, "after restart %s, before %s" % (got, ends)


def test_deleted_offsets_topic_drops_groups(kb_servers):
    from confluent_kafka.admin import AdminClient
    srv = group_server(kb_servers)
    topic = kb.unique_topic("del-offsets")
    group = topic + "-grp"
    kb.create_topic(srv.bootstrap, topic, PARTITIONS)
    produce(srv.bootstrap, topic, 30, "a")
    assert len(consume(srv.bootstrap, topic, group, 30)) == 30

    delete_topic(srv.bootstrap, "__consumer_offsets")
    # FindCoordinator creates the topic again; the coordinator starts from nothing.
    assert kb.wait_for(lambda: committed(srv.bootstrap, topic, group), 60,
                       "committed offsets once __consumer_offsets is back") == \
        {p: NO_OFFSET for p in range(PARTITIONS)}
    admin = AdminClient(kb.admin_conf(srv.bootstrap))
    listed = admin.list_consumer_groups(request_timeout=30).result(timeout=30)
    assert group not in {g.group_id for g in listed.valid}
    # And it coordinates again: the group reads everything from the beginning.
    assert len(consume(srv.bootstrap, topic, group, 30)) == 30
