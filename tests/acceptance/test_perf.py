"""`kraftbridge perf produce`, `perf consume`, `perf metadata` and `perf suite --quick` against
real servers: the CI smoke of the performance tools (issue "Performance of the single-node
broker", part 3), and their answers to bad input. The figures themselves are not judged here (CI machines vary); docs/performance.md
holds measured ones. What is judged: the JSON is well formed, every produced record is
acknowledged and read back with no offset gap, the topic is cleaned up, and bad input ends
with a clear message and a non-zero exit instead of a hang."""
import json
import signal
import subprocess
import time

import kb

RECORDS = 5000
RECORD_SIZE = 100
PARTITIONS = 3
#: A perf command must finish (or fail) well within this.
PERF_TIMEOUT_S = 120


def perf(binary, *args, timeout=PERF_TIMEOUT_S):
    return kb.run_cli(binary, ["perf", *args], timeout=timeout)


def one_json_object(r, what):
    """stdout of a --json run must be exactly one JSON object."""
    assert r.returncode == 0, "%s exited %s:\nstdout:\n%s\nstderr:\n%s" % (
        what, kb.describe_exit(r.returncode), r.stdout, r.stderr)
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, "%s --json printed %d lines on stdout, expected one JSON object:\n%s" \
        % (what, len(lines), r.stdout)
    try:
        doc = json.loads(lines[0])
    except ValueError as e:
        raise AssertionError("%s --json printed malformed JSON (%s):\n%s" % (what, e, lines[0]))
    assert isinstance(doc, dict), "%s --json printed %r, not an object" % (what, doc)
    return doc


def test_perf_produce_then_consume(kb_server, kb_bin):
    topic = "perf-smoke"
    r = perf(kb_bin, "produce", "--num-records", RECORDS, "--record-size", RECORD_SIZE,
             "--throughput", "-1",
             "--producer-props", "bootstrap.servers=%s" % kb_server.bootstrap, "acks=1",
             "--topic", topic, "--partitions", PARTITIONS, "--keep-topic", "--json")
    p = one_json_object(r, "perf produce")
    assert p["tool"] == "produce" and p["topic"] == topic and p["partitions"] == PARTITIONS, p
    assert p["records_sent"] == RECORDS and p["records_acked"] == RECORDS, \
        "not every produced record was acknowledged: %s" % p
    assert p["records_failed"] == 0 and p["fatal"] is None and not p["interrupted"], p
    assert p["payload_bytes"] == RECORDS * RECORD_SIZE, p
    assert p["wire_bytes"] > p["payload_bytes"] and p["requests"] >= 1, p
    lat = p["latency_ms"]
    assert 0 <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["p99_9"] <= lat["max"], lat
    assert p["records_per_sec"] > 0 and p["mb_per_sec"] > 0, p
    assert p["settings"]["acks"] == "1" and p["settings"]["enable_idempotence"] is False, p
    assert p["topic_deleted"] is False, "--keep-topic must keep the topic: %s" % p

    r = perf(kb_bin, "consume", "--bootstrap-server", kb_server.bootstrap, "--topic", topic,
             "--messages", RECORDS, "--timeout", "30000", "--delete-topic", "--json")
    c = one_json_object(r, "perf consume")
    assert c["tool"] == "consume" and c["topic"] == topic, c
    assert c["records"] == RECORDS and c["data_consumed_in_nmsg"] == RECORDS, \
        "read back %s of %d records: %s" % (c["records"], RECORDS, c)
    assert c["offset_gaps"] == 0 and c["offsets_contiguous"] is True, c
    assert c["payload_bytes"] == RECORDS * RECORD_SIZE, c
    parts = c["partitions"]
    assert sorted(x["partition"] for x in parts) == list(range(PARTITIONS)), parts
    assert sum(x["records"] for x in parts) == RECORDS, parts
    for x in parts:
        # The topic was new, so each partition reads 0..n-1 with nothing missing.
        assert x["start_offset"] == 0, x
        if x["records"]:
            assert x["first_offset"] == 0 and x["last_offset"] == x["records"] - 1, x
    for key in ("start_time", "end_time", "data_consumed_in_mb", "mb_sec", "nmsg_sec",
                "rebalance_time_ms", "fetch_time_ms", "fetch_mb_sec", "fetch_nmsg_sec"):
        assert key in c, "Kafka's column %s missing from %s" % (key, c)
    e2e = c["e2e_latency_ms"]
    assert 0 <= e2e["p50"] <= e2e["p99"] <= e2e["max"], e2e
    assert c["topic_deleted"] is True, c
    kb.wait_for(lambda: topic not in kb.list_topic_partitions(kb_server.bootstrap), 30,
                "topic %s to disappear after perf consume --delete-topic" % topic)


def test_perf_text_output_reads_like_kafkas(kb_server, kb_bin):
    """Without --json, the producer's summary line and the consumer's columns are Kafka's;
    a topic the run created is deleted at the end."""
    topic = "perf-text"
    r = perf(kb_bin, "produce", "--num-records", 1000, "--record-size", 10,
             "--bootstrap-server", kb_server.bootstrap, "--topic", topic, "--partitions", 1,
             "--keep-topic")
    assert r.returncode == 0, r.stdout + r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("1000 records sent, ") and "records/sec (" in first and \
        "ms 99.9th." in first, first
    r = perf(kb_bin, "consume", "--bootstrap-server", kb_server.bootstrap, "--topic", topic,
             "--messages", 1000, "--delete-topic")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("start.time, end.time, data.consumed.in.MB, MB.sec, "
                               "data.consumed.in.nMsg, nMsg.sec"), lines
    assert lines[1].split(", ")[4] == "1000", lines

    r = perf(kb_bin, "produce", "--num-records", 100, "--record-size", 10,
             "--bootstrap-server", kb_server.bootstrap, "--topic", "perf-gone", "--partitions", 2)
    assert r.returncode == 0, r.stdout + r.stderr
    kb.wait_for(lambda: "perf-gone" not in kb.list_topic_partitions(kb_server.bootstrap), 30,
                "perf produce to delete the topic it created")


def test_perf_bad_input(kb_server, kb_bin):
    # Nothing listens on this port: a clear message and a non-zero exit within seconds.
    port = kb.free_port()
    start = time.monotonic()
    r = perf(kb_bin, "produce", "--num-records", 10, "--record-size", 10,
             "--bootstrap-server", "127.0.0.1:%d" % port, "--topic", "x", timeout=30)
    took = time.monotonic() - start
    assert r.returncode != 0 and "no bootstrap server answered" in r.stderr, r.stderr
    assert took < 15, "perf produce took %.1fs to give up on a closed port" % took

    r = perf(kb_bin, "consume", "--bootstrap-server", kb_server.bootstrap, "--topic",
             "no-such-topic", "--messages", 10, timeout=30)
    assert r.returncode != 0 and "'no-such-topic' does not exist" in r.stderr, r.stderr

    r = perf(kb_bin, "produce", "--num-records", 10, "--record-size", 10,
             "--bootstrap-server", kb_server.bootstrap, "--topic", "x", "--no-such-flag",
             timeout=30)
    assert r.returncode == 2 and "--no-such-flag" in r.stderr, r.stderr

    r = perf(kb_bin, "produce", "--num-records", 10, "--record-size", 10,
             "--producer-props", "bootstrap.servers=%s" % kb_server.bootstrap,
             "enable.idempotence=true", "--topic", "x", timeout=30)
    assert r.returncode != 0 and "not supported yet" in r.stderr, r.stderr

    # Fewer records than asked for: the figures are printed, then a non-zero exit once
    # --timeout passes without a new record.
    r = perf(kb_bin, "produce", "--num-records", 50, "--record-size", 10,
             "--bootstrap-server", kb_server.bootstrap, "--topic", "perf-short",
             "--partitions", 1, "--keep-topic", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = perf(kb_bin, "consume", "--bootstrap-server", kb_server.bootstrap, "--topic",
             "perf-short", "--messages", 100, "--timeout", 1000, "--delete-topic", "--json",
             timeout=60)
    assert r.returncode != 0 and "50 of 100 read" in r.stderr, r.stderr
    doc = json.loads(r.stdout)
    assert doc["records"] == 50 and doc["timed_out"] is True and doc["offset_gaps"] == 0, doc


def test_perf_group_smoke(kb_server, kb_bin):
    """`perf group commit | join | load` with small numbers: one well-formed JSON object
    each, every commit acknowledged, every member in one generation."""
    r = perf(kb_bin, "group", "commit", "--bootstrap-server", kb_server.bootstrap,
             "--commits", 200, "--partitions", 3, "--json")
    c = one_json_object(r, "perf group commit")
    assert c["tool"] == "group-commit" and c["commits"] == 200, c
    assert c["partitions_per_commit"] == 3 and c["commits_per_sec"] > 0, c
    lat = c["latency_ms"]
    assert 0 <= lat["p50"] <= lat["p99"] <= lat["max"], lat
    assert c["topic_deleted"] is True, c

    r = perf(kb_bin, "group", "join", "--bootstrap-server", kb_server.bootstrap,
             "--members", 5, "--json")
    j = one_json_object(r, "perf group join")
    assert j["tool"] == "group-join" and j["members"] == 5, j
    assert j["one_rebalance_round"] is True and j["generations"] == [1], j
    assert j["member_id_required"] == 5, "every new member gets KIP-394's MEMBER_ID_REQUIRED"
    assert j["time_to_stable_ms"] >= j["join_response_to_stable_ms"] >= 0, j

    r = perf(kb_bin, "group", "load", "--commits", 2000, "--keys", 300, "--json")
    ld = one_json_object(r, "perf group load")
    assert ld["tool"] == "group-load" and ld["records_replayed"] == 2000, ld
    assert ld["offsets_loaded"] == 300 and ld["groups_loaded"] == 100, ld
    assert ld["load_ms"] >= ld["replay_ms"] >= 0 and ld["log_bytes"] > 0, ld


METADATA_TOPICS = 200


def test_perf_metadata(kb_server, kb_bin):
    """Topic creation in batches, Metadata with those topics, one-at-a-time commits, and the
    deletion of every topic the run created."""
    prefix = "perf-md-smoke-"
    r = perf(kb_bin, "metadata", "--bootstrap-server", kb_server.bootstrap,
             "--topics", METADATA_TOPICS, "--topics-per-request", 50, "--concurrency", 2,
             "--commit-samples", 10, "--metadata-samples", 3, "--topic-prefix", prefix,
             "--json")
    m = one_json_object(r, "perf metadata")
    assert m["tool"] == "metadata" and m["topics_requested"] == METADATA_TOPICS, m
    c = m["create"]
    assert c["topics_created"] == METADATA_TOPICS and c["already_existed"] == 0, c
    assert c["requests"] == METADATA_TOPICS // 50 and c["topics_per_sec"] > 0, c
    assert m["metadata_all_topics_listed"] >= METADATA_TOPICS, m
    for key, samples in (("metadata_all_topics", 3), ("metadata_one_topic", 3),
                         ("commit", 10), ("create_one_topic", 10)):
        t = m[key]
        lat = t["latency_ms"]
        assert t["samples"] == samples, (key, t)
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"], (key, t)
    d = m["delete"]
    # The bulk topics, the 10 single-topic creations and the commit phase's own topic.
    assert d["topics_deleted"] == METADATA_TOPICS + 10 + 1, d
    assert not m["interrupted"] and m["error"] is None and m["cleanup_error"] is None, m
    kb.wait_for(lambda: not [t for t in kb.list_topic_partitions(kb_server.bootstrap)
                             if t.startswith(prefix)], 30,
                "perf metadata to delete every topic it created")

    # Text mode reads as a table with one line per phase.
    r = perf(kb_bin, "metadata", "--bootstrap-server", kb_server.bootstrap, "--topics", 20,
             "--commit-samples", 2, "--metadata-samples", 1)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("topic creation: 20 topics"), lines
    assert any(line.startswith("metadata commit (IncrementalAlterConfigs") for line in lines), lines
    assert lines[-1].startswith("topic deletion: 23 topics"), lines


def test_perf_metadata_ctrl_c_prints_figures_and_cleans_up(kb_server, kb_bin):
    """Ctrl-C during topic creation: the figures so far are printed, every topic created so
    far is deleted, and the exit status is non-zero."""
    prefix = "perf-md-int-"
    p = subprocess.Popen(
        [str(kb_bin), "perf", "metadata", "--bootstrap-server", kb_server.bootstrap,
         "--topics", "50000", "--topics-per-request", "5", "--concurrency", "1",
         "--topic-prefix", prefix, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The progress line comes once a second while topics are being created.
        line = kb.wait_for(lambda: p.stderr.readline(), 30, "a progress line on stderr")
        assert "topics created" in line, line
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode != 0 and "interrupted" in err, err
    m = json.loads(out)
    assert m["interrupted"] is True, m
    created = m["create"]["topics_created"]
    assert 0 < created < 50000, m
    # The bulk topics created so far and the commit phase's own topic.
    assert m["delete"]["topics_deleted"] == created + 1 and m["cleanup_error"] is None, m
    kb.wait_for(lambda: not [t for t in kb.list_topic_partitions(kb_server.bootstrap)
                             if t.startswith(prefix)], 30,
                "the interrupted run's topics to be deleted")


def test_perf_suite_quick(kb_bin, tmp_path):
    """The whole suite with tiny caps against a server it starts itself: well-formed JSON,
    every ceiling measured, every workload reported against its target, every produced
    record acknowledged and read back, and nothing left in its data directory."""
    start = time.monotonic()
    r = perf(kb_bin, "suite", "--quick", "--data-dir", tmp_path, "--json", timeout=120)
    took = time.monotonic() - start
    s = one_json_object(r, "perf suite --quick")
    assert took < 60, "perf suite --quick took %.1f s" % took
    assert s["tool"] == "suite" and s["quick"] is True and s["self_started_server"] is True, s
    c = s["ceilings"]
    assert c["loopback_tcp"]["bytes_per_sec"] > 0 and c["disk_write"]["bytes_per_sec"] > 0, c
    assert c["fsync"]["samples"] > 0 and c["fsync"]["latency_ms"]["p50"] > 0, c
    workloads = [x["workload"] for x in s["results"]]
    for expected in ("produce 1 KiB", "consume the same records", "produce 100 B",
                     "produce latency at half peak", "create 200 topics", "metadata commit",
                     "start-up with 50 partitions", "idle broker RSS"):
        assert any(w.startswith(expected) for w in workloads), (expected, workloads)
    for x in s["results"]:
        assert x["ratio_to_target"] is None or x["ratio_to_target"] >= 0, x
        assert isinstance(x["pass"], bool) and x["target"], x
    assert s["targets"] == len(s["results"]) and 0 <= s["targets_met"] <= s["targets"], s
    assert s["records_acked_and_read_back"] is True, s
    assert s["errors"] == [] and s["interrupted"] is False, s
    assert list(tmp_path.iterdir()) == [], "the suite left files behind: %s" \
        % list(tmp_path.iterdir())
