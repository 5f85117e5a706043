"""Feature levels (KIP-584): ApiVersions carries the finalized metadata.version as Kafka 3.9's
broker sends it, clients read it, Debian's kcat (librdkafka 2.0) still bootstraps with the
fields present, and UpdateFeatures changes metadata.version only as Kafka allows."""
import pytest
from kafka import KafkaAdminClient
from kafka.errors import InvalidUpdateVersionError

import kb

MV = "metadata.version"
LATEST = 21  # 3.9-IV0, what `storage format` bootstraps


def admin(server) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=server.bootstrap, request_timeout_ms=10000)


def finalized_mv(server) -> int:
    host, port = server.bootstrap.split(":")
    return kb.api_versions_features(host, int(port))["finalized"][MV][1]


def test_api_versions_carries_features_as_kafka_does(kb_server):
    host, port = kb_server.bootstrap.split(":")
    v3 = kb.api_versions_features(host, int(port), 3)
    assert v3["tags"] == [0, 1, 2], "tags in ascending order, no ZkMigrationReady"
    assert v3["finalized"] == {MV: (LATEST, LATEST)}
    assert v3["epoch"] is not None and v3["epoch"] >= 0
    # Below v4 a range starting at 0 is sent from 1 (KAFKA-17011); v4 sends it as it is.
    assert v3["supported"] == {MV: (1, LATEST), "kraft.version": (1, 1)}
    v4 = kb.api_versions_features(host, int(port), 4)
    assert v4["supported"]["kraft.version"] == (0, 1)
    assert v4["finalized"] == v3["finalized"]


def test_kafka_python_describe_features_shows_metadata_version(kb_server):
    a = admin(kb_server)
    try:
        features = a.describe_features()
    finally:
        a.close()
    assert features[MV]["finalized"] == (LATEST, LATEST)
    assert features[MV]["supported"] == (1, LATEST)
    assert features[MV]["finalized_epoch"] >= 0


def test_confluent_kafka_bootstraps_with_the_feature_fields(kb_server):
    """confluent-kafka has no describe-features call; its librdkafka (2.16) negotiates
    ApiVersions v3 and must read the tags without falling back."""
    from confluent_kafka.admin import AdminClient
    topic = kb.unique_topic("ckfeat")
    kb.create_topic(kb_server.bootstrap, topic, 1)
    logs = []
    a = AdminClient({**kb.admin_conf(kb_server.bootstrap), "debug": "protocol,broker,feature",
                     "logger": _ListLogger(logs)})
    assert topic in a.list_topics(timeout=10).topics

    def features_enabled():
        a.poll(0.1)  # the logger is called from poll()
        return any("Updated enabled protocol features to" in line and "MsgVer2" in line
                   for line in logs)
    # It read our v3 answer, tags included, and took its protocol features from it (a
    # misparse makes librdkafka fall back to guessed versions, without MsgVer2).
    kb.wait_for(features_enabled, 10, "librdkafka enabling its features from our ApiVersions")
    debug = "\n".join(logs)
    assert "Received ApiVersionResponse (v3" in debug, debug[:3000]
    assert "Protocol parse failure" not in debug


class _ListLogger:
    """A logging.Logger stand-in for librdkafka's log callback."""

    def __init__(self, out):
        self.out = out

    def log(self, _level, fmt, *args):
        self.out.append(fmt % args if args else fmt)


def test_kcat_bootstraps_with_the_feature_fields(kb_server, kcat_bin):
    """librdkafka 2.0 negotiates ApiVersions v3, so it reads the tags: list, produce, consume."""
    topic = kb.unique_topic("kcatfeat")
    kb.create_topic(kb_server.bootstrap, topic, 1)
    meta = kb.kcat(kcat_bin, kb_server.bootstrap, ["-L", "-t", topic, "-d", "protocol,broker"])
    assert meta.returncode == 0, meta.stderr.decode(errors="replace")
    assert b'topic "%s" with 1 partitions' % topic.encode() in meta.stdout
    debug = meta.stderr.decode(errors="replace")
    # It read our v3 answer, tags included, and took its protocol features from it (a
    # misparse makes librdkafka fall back to guessed versions, without MsgVer2).
    assert "Received ApiVersionResponse (v3" in debug, debug[:3000]
    assert "Protocol parse failure" not in debug
    enabled = [line for line in debug.splitlines() if "Updated enabled protocol features to" in line]
    assert enabled and "MsgVer2" in enabled[-1], debug[:3000]
    lines = [b"feature-%d" % i for i in range(20)]
    p = kb.kcat(kcat_bin, kb_server.bootstrap, ["-P", "-t", topic], b"\n".join(lines) + b"\n")
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    c = kb.kcat(kcat_bin, kb_server.bootstrap, ["-C", "-t", topic, "-o", "beginning", "-e", "-q"])
    assert c.returncode == 0, c.stderr.decode(errors="replace")
    assert c.stdout.splitlines() == lines


def test_update_features_refuses_what_kafka_refuses(kb_server):
    a = admin(kb_server)
    try:
        with pytest.raises(InvalidUpdateVersionError) as e:
            a.update_features({MV: LATEST - 1})
        assert ("Invalid update version 20 for feature metadata.version. Can't downgrade the "
                "version of this feature without setting the upgrade type to either safe or "
                "unsafe downgrade.") in str(e.value)
        with pytest.raises(InvalidUpdateVersionError) as e:
            a.update_features({MV: ("SAFE_DOWNGRADE", 14)})
        assert ("Invalid metadata.version 14. Refusing to perform the requested downgrade "
                "because it might delete metadata information.") in str(e.value)
        with pytest.raises(InvalidUpdateVersionError) as e:
            a.update_features({MV: LATEST + 1})
        assert "Local controller 1 only supports versions 1-21" in str(e.value)
        assert finalized_mv(kb_server) == LATEST, "nothing stored on a refusal"

        # validate_only changes nothing.
        assert a.update_features({MV: ("SAFE_DOWNGRADE", 18)}, validate_only=True) == {MV: "OK"}
        assert finalized_mv(kb_server) == LATEST
        # 3.9-IV0 → 3.7-IV3 crosses no level whose records changed: a safe downgrade, then
        # raised back within the supported range.
        assert a.update_features({MV: ("SAFE_DOWNGRADE", 18)}) == {MV: "OK"}
        assert finalized_mv(kb_server) == 18
        assert a.update_features({MV: LATEST}) == {MV: "OK"}
        assert a.describe_features()[MV]["finalized"] == (LATEST, LATEST)
    finally:
        a.close()
    kb_server.stop()
    kb_server.start().wait_ready()
    assert finalized_mv(kb_server) == LATEST
