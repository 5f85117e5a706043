"""Metadata snapshots (KIP-630) on a real server: written into `__cluster_metadata-0` as
`metadata.log.max.record.bytes.between.snapshots` says, loaded at start-up after a clean
stop (SIGTERM) and after a crash (SIGKILL), every topic still there; and a clean stop leaves
the metadata log so the next start does not rescan it."""
import re

import pytest

import kb

TOPICS = 50


def create_topics(bootstrap: str, names, timeout: float = 60.0):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient(kb.admin_conf(bootstrap))
    try:
        fs = admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1)
                                  for n in names], operation_timeout=30, request_timeout=30)
        for f in fs.values():
            f.result(timeout=timeout)
    finally:
        admin = None  # noqa: F841 - drop the client (see kb.broker_ids)


def wait_all_listed(srv, names, what):
    def listed():
        return set(names) <= set(kb.list_topic_partitions(srv.bootstrap))
    kb.wait_for(listed, 30, "%s: all %d topics listed" % (what, len(names)), interval=0.2)


def metadata_recovery_lines(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if "recovering unflushed segment" in line and "__cluster_metadata-0" in line]


@pytest.mark.timeout(300)
def test_snapshots_are_written_and_loaded_across_restarts(kb_servers):
    srv = kb_servers(props={"metadata.log.max.record.bytes.between.snapshots": 4096})
    srv.start().wait_ready()
    prefix = kb.unique_topic("snap")
    names = ["%s-%02d" % (prefix, i) for i in range(TOPICS)]
    # In several requests, so that several committed rounds pass the byte limit.
    for i in range(0, TOPICS, 10):
        create_topics(srv.bootstrap, names[i:i + 10])
    wait_all_listed(srv, names, "before any restart")

    meta_dir = srv.data_dir / "__cluster_metadata-0"
    snapshot_name = re.compile(r"^\d{20}-\d{10}\.checkpoint$")
    kb.wait_for(lambda: any(snapshot_name.match(p.name) for p in meta_dir.iterdir()), 10,
                "a *.checkpoint snapshot in %s" % meta_dir)

    rc = srv.stop()
    assert rc == 0, "exit after SIGTERM: %s" % kb.describe_exit(rc)
    logged = len(srv.log_text())
    srv.start().wait_ready()
    wait_all_listed(srv, names, "after a clean restart")
    after_clean = srv.log_text()[logged:]
    assert "loaded the metadata snapshot" in after_clean, (
        "the start after SIGTERM did not load a snapshot:\n%s" % kb.tail(srv.log_path))
    rescanned = metadata_recovery_lines(after_clean)
    assert not rescanned, "a clean shutdown left the metadata log to recover: %s" % rescanned

    # More metadata after the snapshot, then a crash: the snapshot plus the log after it.
    more = ["%s-more-%02d" % (prefix, i) for i in range(10)]
    create_topics(srv.bootstrap, more)
    wait_all_listed(srv, names + more, "before SIGKILL")
    srv.kill()
    srv.start().wait_ready()
    wait_all_listed(srv, names + more, "after SIGKILL and restart")


def test_own_metadata_log_dir_is_not_rescanned_after_a_clean_stop(kb_servers, tmp_path):
    meta = tmp_path / "metadata-dir"
    srv = kb_servers(props={"metadata.log.dir": str(meta)})
    srv.start().wait_ready()
    topic = kb.unique_topic("own-meta")
    kb.create_topic(srv.bootstrap, topic, 1)
    rc = srv.stop()
    assert rc == 0, "exit after SIGTERM: %s" % kb.describe_exit(rc)
    assert (meta / ".kafka_cleanshutdown").exists(), "no clean-shutdown marker in %s" % meta
    logged = len(srv.log_text())
    srv.start().wait_ready()
    wait_all_listed(srv, [topic], "after a clean restart")
    rescanned = metadata_recovery_lines(srv.log_text()[logged:])
    assert not rescanned, "a clean shutdown left the metadata log to recover: %s" % rescanned
    assert not (meta / ".kafka_cleanshutdown").exists(), "the marker outlived the start"
