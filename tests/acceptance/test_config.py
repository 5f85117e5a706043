"""Configuration keys act as Kafka's do, or the server says they don't.

- `delete.topic.enable=false` refuses DeleteTopics with TOPIC_DELETION_DISABLED (73) for every
  topic of the request, and the topics stay (Kafka's ControllerApis.deleteTopics).
- A key that is accepted but has no effect is logged by name at start-up, one line each; a key
  that is not Kafka's at all (e.g. `controller.quorum.linger.ms`, whose Kafka name is
  `controller.quorum.append.linger.ms`) is logged as unknown.
"""
import kb

TOPIC_DELETION_DISABLED = 73
NO_EFFECT = "accepted, has no effect in kraftbridge yet"


def test_delete_topic_enable_false_refuses_delete_topics(kb_servers):
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient
    from kafka import KafkaAdminClient

    srv = kb_servers(props={"delete.topic.enable": "false"}).start().wait_ready()
    topic = kb.unique_topic("undeletable")
    kb.create_topic(srv.bootstrap, topic, 2)

    # confluent-kafka (librdkafka): the future of each topic fails with the code.
    admin = AdminClient(kb.admin_conf(srv.bootstrap))
    futures = admin.delete_topics([topic, "no-such-topic"], operation_timeout=10,
                                  request_timeout=15)
    for name, fut in futures.items():
        err = fut.exception(timeout=30)
        assert err is not None, "DeleteTopics of %s succeeded with delete.topic.enable=false" % name
        code = err.args[0].code()
        assert code == KafkaError.TOPIC_DELETION_DISABLED, \
            "DeleteTopics of %s: expected TOPIC_DELETION_DISABLED, got %s" % (name, err)
    admin = None  # noqa: F841 - drop the client (see kb.broker_ids)

    # kafka-python: every topic of the request, known or not, carries code 73.
    client = KafkaAdminClient(bootstrap_servers=srv.bootstrap, request_timeout_ms=15000)
    try:
        result = client.delete_topics([topic, "no-such-topic"], timeout_ms=10000,
                                      raise_errors=False)
    finally:
        client.close()
    codes = {t["name"]: t["error_code"] for t in result["topics"]}
    assert codes == {topic: TOPIC_DELETION_DISABLED, "no-such-topic": TOPIC_DELETION_DISABLED}, \
        "kafka-python DeleteTopics answer: %r" % result

    # The topic and its partitions are still there.
    assert kb.list_topic_partitions(srv.bootstrap).get(topic) == 2, \
        "the topic is gone although deletion is disabled"


def test_keys_without_effect_are_logged_by_name(kb_servers):
    srv = kb_servers(props={
        "num.io.threads": "4",                        # typed, validated, no effect
        "ssl.keystore.location": "/nonexistent.jks",  # untyped Kafka key, no effect
        "controller.quorum.linger.ms": "5",           # not a Kafka key
        "log.retention.check.interval.ms": "60000",   # implemented: not logged
    }).start().wait_ready()
    log = srv.log_text()
    # kb.py's base properties also set inter.broker.listener.name and the
    # transaction.state.log keys, which a single node without transactions does not use.
    for key in ["num.io.threads", "ssl.keystore.location", "inter.broker.listener.name",
                "transaction.state.log.replication.factor", "transaction.state.log.min.isr"]:
        line = "%s: %s" % (key, NO_EFFECT)
        assert log.count(line) == 1, "expected one line %r in the server log:\n%s" % (
            line, kb.tail(srv.log_path))
    assert "ignoring unknown configuration key 'controller.quorum.linger.ms'" in log, \
        kb.tail(srv.log_path)
    for key in ["log.retention.check.interval.ms", "log.dirs", "num.partitions"]:
        assert "%s: %s" % (key, NO_EFFECT) not in log, "%s is implemented but logged as " \
            "having no effect" % key
