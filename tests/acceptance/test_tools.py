"""Kafka's KRaft tools on files a real server wrote: `kraftbridge dump-log
--cluster-metadata-decoder` prints the metadata log's batches and records as Kafka's
kafka-dump-log.sh does, and `kraftbridge metadata-shell --dir` shows the replayed metadata
(`ls /topics`, `cat /topics/<t>/0/data`), after topics were created with a real client and
the server was stopped with SIGTERM."""
import json
import re

import kb

BATCH_LINE = re.compile(
    r"^baseOffset: (\d+) lastOffset: (\d+) count: (\d+) baseSequence: -1 lastSequence: -1 "
    r"producerId: -1 producerEpoch: -1 partitionLeaderEpoch: (\d+) isTransactional: false "
    r"isControl: (true|false) deleteHorizonMs: OptionalLong.empty position: (\d+) "
    r"CreateTime: (\d+) size: (\d+) magic: 2 compresscodec: none crc: (\d+) isvalid: true$")
RECORD_LINE = re.compile(
    r"^\| offset: (\d+) CreateTime: \d+ keySize: (-1|4) valueSize: \d+ sequence: -1 "
    r"headerKeys: \[\] (.*)$")


def cli(binary, *args):
    r = kb.run_cli(binary, [str(a) for a in args])
    assert r.returncode == 0, "kraftbridge %s: %s\n%s%s" % (
        " ".join(map(str, args)), kb.describe_exit(r.returncode), r.stdout, r.stderr)
    return r.stdout


def stopped_server_with_topics(kb_servers, topics):
    srv = kb_servers()
    srv.start().wait_ready()
    for topic, partitions in topics.items():
        kb.create_topic(srv.bootstrap, topic, partitions)
    srv.stop()
    return srv, srv.data_dir / "__cluster_metadata-0"


def test_dump_log_decodes_the_metadata_log(kb_servers):
    topics = {kb.unique_topic("tools-a"): 1, kb.unique_topic("tools-b"): 3}
    srv, meta = stopped_server_with_topics(kb_servers, topics)
    segment = meta / "00000000000000000000.log"
    out = cli(srv.binary, "dump-log", "--cluster-metadata-decoder", "--files", segment)
    lines = out.splitlines()
    assert lines[0] == "Dumping %s" % segment
    assert lines[1] == "Log starting offset: 0"

    payloads, next_offset, position = [], 0, 0
    for line in lines[2:]:
        if line.startswith("baseOffset: "):
            m = BATCH_LINE.match(line)
            assert m, "batch line not as Kafka prints it: %r" % line
            base, last, count = int(m.group(1)), int(m.group(2)), int(m.group(3))
            assert base == next_offset and last - base + 1 == count, line
            assert int(m.group(6)) == position, "position %s, expected %d" % (m.group(6), position)
            next_offset, position = last + 1, position + int(m.group(8))
            continue
        m = RECORD_LINE.match(line)
        assert m, "record line not as Kafka prints it: %r" % line
        rest = m.group(3)
        if rest.startswith("payload: "):
            payloads.append(json.loads(rest[len("payload: "):]))
        else:
            assert rest.startswith("controlType: LEADER_CHANGE(2)"), line
    assert position == segment.stat().st_size, "the dump did not cover the whole segment"

    types = [p["type"] for p in payloads]
    for t in ("FEATURE_LEVEL_RECORD", "REGISTER_BROKER_RECORD", "TOPIC_RECORD",
              "PARTITION_RECORD"):
        assert t in types, "no %s in %s" % (t, sorted(set(types)))
    broker = next(p for p in payloads if p["type"] == "REGISTER_BROKER_RECORD")["data"]
    assert broker["brokerId"] == 1 and len(broker["incarnationId"]) == 22
    assert [e["port"] for e in broker["endPoints"] if e["name"] == "PLAINTEXT"] == [srv.port]

    topic_ids = {p["data"]["name"]: p["data"]["topicId"]
                 for p in payloads if p["type"] == "TOPIC_RECORD"}
    for topic, partitions in topics.items():
        assert topic in topic_ids, "topic %s not in the dump: %s" % (topic, topic_ids)
        parts = sorted(p["data"]["partitionId"] for p in payloads
                       if p["type"] == "PARTITION_RECORD"
                       and p["data"]["topicId"] == topic_ids[topic])
        assert parts == list(range(partitions)), "%s: partitions %s" % (topic, parts)


def test_metadata_shell_shows_the_topics(kb_servers):
    topics = {kb.unique_topic("shell-a"): 2, kb.unique_topic("shell-b"): 1}
    srv, meta = stopped_server_with_topics(kb_servers, topics)

    listed = cli(srv.binary, "metadata-shell", "--dir", meta, "ls", "/topics").split()
    for topic in topics:
        assert topic in listed, "ls /topics: %s" % listed

    for topic, partitions in topics.items():
        topic_id = cli(srv.binary, "metadata-shell", "--dir", meta, "cat",
                       "/topics/%s/id" % topic).strip()
        for p in range(partitions):
            data = json.loads(cli(srv.binary, "metadata-shell", "--dir", meta, "cat",
                                  "/topics/%s/%d/data" % (topic, p)))
            assert data["partitionId"] == p and data["topicId"] == topic_id, data
            assert data["replicas"] == [1] and data["isr"] == [1] and data["leader"] == 1, data
        by_id = cli(srv.binary, "metadata-shell", "--dir", meta, "cat",
                    "/topicIds/%s/name" % topic_id).strip()
        assert by_id == topic

    assert cli(srv.binary, "metadata-shell", "--dir", meta, "cat",
               "/brokers/1/isFenced").strip() in ("true", "false")
    assert cli(srv.binary, "metadata-shell", "--dir", meta, "cat",
               "/clusterId").strip() == srv.cluster_id

    # Interactive: commands on stdin after a ">> " prompt.
    import subprocess
    first = sorted(topics)[0]
    r = subprocess.run([str(srv.binary), "metadata-shell", "--dir", str(meta)],
                       input="cd /topics\npwd\nls %s\nexit\n" % first, capture_output=True,
                       text=True, timeout=kb.CLI_TIMEOUT_S)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(">> >> /topics\n>> "), r.stdout
    assert "\nid\nname\n" in r.stdout, r.stdout
