"""The operator's command line: quickstart, the storage tool and start-up refusals.

Start-up errors must name what is wrong and the fix (docs/architecture.md §6 and §7.12)."""
import re
import subprocess

import kb


def run_server_expect_refusal(srv, *extra, timeout=30.0):
    """`kraftbridge server FILE ...` must exit by itself, non-zero; returns its output."""
    try:
        r = kb.run_cli(srv.binary, ["server", srv.props_path, *extra], timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + (e.stderr or b"")
        if isinstance(out, bytes):
            out = out.decode("utf-8", "replace")
        raise AssertionError("kraftbridge server %s did not exit within %.0fs (it should "
                             "refuse to start); output:\n%s" % (" ".join(extra), timeout, out))
    out = r.stdout + r.stderr
    assert r.returncode != 0, "kraftbridge server %s exited 0, expected a refusal:\n%s" % (
        " ".join(extra), out)
    return out


def meta_properties(root):
    """{path: properties} for every meta.properties under root."""
    return {p: kb.read_properties(p) for p in sorted(root.rglob("meta.properties"))}


def test_storage_tool(kb_servers):
    srv = kb_servers(fmt=False)
    # Kafka's Uuid.randomUuid() never returns an id that starts with "-", which a command line
    # would take for an option (`format -t -abc...`). 64 draws find a generator that does
    # with probability 1 - (63/64)^64, about 64%.
    ids = [srv.random_uuid() for _ in range(64)]
    assert len(set(ids)) == len(ids), "storage random-uuid repeated an id"
    dashed = [i for i in ids if i.startswith("-")]
    assert not dashed, "storage random-uuid printed ids starting with '-': %s" % dashed
    a, b = ids[0], ids[1]

    srv.format(a)
    meta = kb.read_properties(srv.data_dir / "meta.properties")
    assert meta.get("cluster.id") == a and meta.get("node.id") == "1" and \
        meta.get("version") == "1", "KRaft meta.properties v1 expected, got %r" % meta

    r = kb.run_cli(srv.binary, ["storage", "format", "-t", b, "-c", srv.props_path])
    assert r.returncode != 0, "formatting a formatted dir again must fail without " \
        "--ignore-formatted:\n%s%s" % (r.stdout, r.stderr)
    # --ignore-formatted skips directories already formatted for this cluster ...
    r = kb.run_cli(srv.binary, ["storage", "format", "-t", a, "-c", srv.props_path,
                                "--ignore-formatted"])
    assert r.returncode == 0, "format --ignore-formatted on a formatted dir: %s%s" % (
        r.stdout, r.stderr)
    # ... but a directory of another cluster is an error even then (stricter than Kafka,
    # which skips it silently): the operator named the wrong cluster or the wrong directory.
    r = kb.run_cli(srv.binary, ["storage", "format", "-t", b, "-c", srv.props_path,
                                "--ignore-formatted"])
    assert r.returncode != 0 and "another cluster" in r.stdout + r.stderr, \
        "format --ignore-formatted with another cluster id: %s%s" % (r.stdout, r.stderr)
    assert kb.read_properties(srv.data_dir / "meta.properties").get("cluster.id") == a, \
        "--ignore-formatted must leave the existing cluster id alone"

    r = kb.run_cli(srv.binary, ["storage", "info", "-c", srv.props_path])
    assert r.returncode == 0, "storage info: %s%s" % (r.stdout, r.stderr)
    assert a in r.stdout + r.stderr, "storage info does not show the cluster id %s:\n%s%s" % (
        a, r.stdout, r.stderr)


def test_unformatted_dir_refuses_to_start(kb_servers):
    srv = kb_servers(fmt=False)
    out = run_server_expect_refusal(srv)
    assert "kraftbridge storage format" in out, \
        "the refusal should tell the operator to run `kraftbridge storage format`:\n" + out
    assert str(srv.data_dir) in out, "the refusal should name the directory %s:\n%s" % (
        srv.data_dir, out)
    assert not meta_properties(srv.dir), "an unformatted dir must not get formatted implicitly"


def test_bad_config_value(kb_servers):
    srv = kb_servers()
    out = run_server_expect_refusal(srv, "--override", "log.segment.bytes=abc")
    assert "log.segment.bytes" in out and "abc" in out, \
        "the error should name the key and the bad value:\n" + out


def test_quickstart_first_run_and_reuse(kb_quickstart, kcat_bin, tmp_path):
    data = tmp_path / "qs-data"
    bootstrap = "127.0.0.1:9092"

    # First run: formats the dir, writes server.properties, serves, tells the user how.
    qs = kb_quickstart.start(data).wait_ready()
    out1 = kb.wait_for(lambda: (lambda o: o if "9092" in o else None)(qs.output()), 10,
                       "quickstart to print the bootstrap address")
    assert re.search(r"(127\.0\.0\.1|localhost):9092", out1), \
        "quickstart should print the bootstrap address:\n" + out1
    kcat_lines = [line for line in out1.splitlines() if "kcat" in line]
    assert any("-P" in line for line in kcat_lines) and \
        any("-C" in line for line in kcat_lines), \
        "quickstart should print kcat produce (-P) and consume (-C) examples:\n" + out1
    assert (data / "server.properties").is_file(), "quickstart should write DIR/server.properties"
    metas = meta_properties(data)
    assert metas, "quickstart did not format %s (no meta.properties)" % data
    cluster_ids = {m.get("cluster.id") for m in metas.values()}
    assert len(cluster_ids) == 1 and None not in cluster_ids, metas
    cluster_id = cluster_ids.pop()

    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    assert md.cluster_id == cluster_id, "Metadata cluster id %r != meta.properties %r" % (
        md.cluster_id, cluster_id)

    topic = kb.unique_topic("quickstart")
    kb.create_topic(bootstrap, topic, 1)
    r = kb.kcat(kcat_bin, bootstrap, ["-P", "-t", topic, "-X", "acks=all"],
                input_bytes=b"hello from run 1\n")
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    rc = qs.stop()
    assert rc == 0, "quickstart exited with %s after SIGTERM, want 0" % kb.describe_exit(rc)

    # Second run on the same dir: no reformat, same cluster, the data is still there.
    qs.start(data).wait_ready()
    out2 = kb.wait_for(lambda: (lambda o: o if "9092" in o else None)(qs.output()), 10,
                       "quickstart (second run) to print the bootstrap address")
    assert re.search(r"(127\.0\.0\.1|localhost):9092", out2), out2
    assert {m.get("cluster.id") for m in meta_properties(data).values()} == {cluster_id}, \
        "second quickstart run changed the cluster id"
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    assert md.cluster_id == cluster_id
    assert topic in md.topics, "topic %s lost across quickstart restarts" % topic
    r = kb.kcat(kcat_bin, bootstrap, ["-C", "-t", topic, "-o", "beginning", "-e", "-q"])
    assert r.returncode == 0 and r.stdout.decode().splitlines() == ["hello from run 1"], \
        "kcat -C after restart: rc %d, out %r, err %s" % (
            r.returncode, r.stdout, r.stderr.decode("utf-8", "replace"))
    assert qs.stop() == 0
