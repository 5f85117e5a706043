"""The server as an operating-system process: one process per data directory, idle
connections closed after connections.max.idle.ms, plain-text logs when not on a terminal."""
import socket
import time

import kb
from test_cli import run_server_expect_refusal


def dir_state(d):
    """What another process could have changed in directory `d`: its entry names, and the
    bytes and modification times of meta.properties and .lock. (The running server rewrites
    its checkpoints and appends to its logs, so deeper files are not compared; their
    temporary `.tmp` names come and go.)"""
    names = sorted(p.name for p in d.iterdir() if not p.name.endswith(".tmp"))
    files = {}
    for name in ("meta.properties", ".lock"):
        p = d / name
        files[name] = (p.read_bytes(), p.stat().st_mtime_ns)
    return names, files


def test_second_process_on_a_data_directory_refuses_and_changes_nothing(kb_servers, tmp_path):
    meta_dir = tmp_path / "metadata"
    first = kb_servers("first", props={"metadata.log.dir": meta_dir})
    first.start().wait_ready()
    topic = kb.unique_topic("locked")
    kb.create_topic(first.bootstrap, topic, 1)
    pid = str(first.proc.pid)
    for d in (first.data_dir, meta_dir):
        assert (d / ".lock").read_text().strip() == pid, \
            "%s/.lock should hold the pid of the server that locked it" % d
    before = {d: dir_state(d) for d in (first.data_dir, meta_dir)}

    # Another server (own ports) on the first one's log directory, then on its metadata log
    # directory only. Each must refuse before touching anything, naming the directory and
    # the process that holds it.
    on_log_dir = kb_servers("second", fmt=False, props={
        "log.dirs": first.data_dir, "metadata.log.dir": tmp_path / "second-metadata"})
    on_meta_dir = kb_servers("third", fmt=False, props={
        "log.dirs": tmp_path / "third-data", "metadata.log.dir": meta_dir})
    for srv, locked in ((on_log_dir, first.data_dir), (on_meta_dir, meta_dir)):
        out = run_server_expect_refusal(srv)
        assert str(locked) in out and pid in out, \
            "the refusal should name %s and the holder's pid %s:\n%s" % (locked, pid, out)
    # The storage tool does not format under a running server either.
    r = kb.run_cli(first.binary, ["storage", "format", "-t", first.cluster_id, "-c",
                                  first.props_path, "--ignore-formatted"])
    out = r.stdout + r.stderr
    assert r.returncode != 0 and pid in out, \
        "storage format on a running server's directories should refuse:\n" + out

    after = {d: dir_state(d) for d in (first.data_dir, meta_dir)}
    assert after == before, "a refused process changed a locked directory"
    assert not (tmp_path / "third-data").exists(), "the refused server created its log dir"

    # The first server is unaffected.
    assert first.running()
    kb.api_versions("127.0.0.1", first.port)
    assert topic in kb.list_topic_partitions(first.bootstrap)
    assert first.stop() == 0

    # Once the holder is gone, the directory can be used again.
    again = kb_servers("again", fmt=False, props={
        "log.dirs": first.data_dir, "metadata.log.dir": meta_dir})
    again.start().wait_ready()
    assert (first.data_dir / ".lock").read_text().strip() == str(again.proc.pid)


def test_idle_connections_close_and_logs_are_plain_text(kb_servers):
    idle_ms = 1000
    srv = kb_servers(props={"connections.max.idle.ms": idle_ms}).start().wait_ready()

    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as idle:
        opened = time.monotonic()
        # Meanwhile a connection that keeps asking stays open past the idle limit.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as busy:
            until = time.monotonic() + 2 * idle_ms / 1000
            while time.monotonic() < until:
                send_api_versions(busy)
                time.sleep(0.1)  # pacing: ten requests a second, each well within the limit
        assert idle.recv(1) == b"", "the idle connection should be closed by the server"
        assert time.monotonic() - opened >= idle_ms / 1000

    # kb.py sends the server's output to a file: no terminal, so no ANSI colour codes.
    text = kb.wait_for(lambda: (lambda t: t if "kraftbridge started" in t else None)(
        srv.log_text()), 10, "the start-up line in the server log")
    assert "\x1b[" not in text, "ANSI escape codes in a log written to a file:\n" + text[-2000:]


def send_api_versions(sock):
    """ApiVersions v0 on an open connection; raises if it is not answered."""
    body = b"\x00\x12\x00\x00\x00\x00\x00\x07\x00\x00"  # api 18, v0, correlation 7, no client id
    sock.sendall(len(body).to_bytes(4, "big") + body)
    size = int.from_bytes(kb._recv_exact(sock, 4), "big")
    kb._recv_exact(sock, size)
