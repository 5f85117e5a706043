"""Helpers for the acceptance tests: run real `kraftbridge` processes and talk to them.

Everything waits on a condition with a deadline (`wait_for`), never on a fixed sleep.
Imported by conftest.py and the test modules (pytest puts this directory on sys.path).
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

#: How long a server may take from spawn to "ApiVersions answers and Metadata lists a broker".
START_TIMEOUT_S = float(os.environ.get("KB_START_TIMEOUT", "60"))
#: How long a server may take to exit after SIGTERM before the tests call it hung.
STOP_TIMEOUT_S = float(os.environ.get("KB_STOP_TIMEOUT", "30"))
#: How long a one-shot CLI command (storage format, a refused start-up) may take.
CLI_TIMEOUT_S = 60.0

API_VERSIONS_KEY = 18
METADATA_KEY = 3


# ---------------------------------------------------------------------------------------------
# waiting
# ---------------------------------------------------------------------------------------------
class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end


class Abort(AssertionError):
    """Raised inside a wait_for condition to stop waiting at once (e.g. the server died)."""


def wait_for(cond, timeout: float, what: str, interval: float = 0.1):
    """Poll `cond()` until it returns a truthy value (returned) or `timeout` seconds pass
    (AssertionError naming `what` and the last value or exception seen). An `Abort` raised
    by `cond` propagates at once; other exceptions count as "not yet"."""
    deadline = Deadline(timeout)
    last = None
    while True:
        try:
            value = cond()
            if value:
                return value
            last = value
        except Abort:
            raise
        except Exception as e:  # noqa: BLE001 - the condition may fail while things start
            last = e
        if deadline.expired():
            raise AssertionError("timed out after %.0fs waiting for %s; last: %r"
                                 % (timeout, what, last))
        time.sleep(min(interval, deadline.left()))


# ---------------------------------------------------------------------------------------------
# ports and the raw ApiVersions probe
# ---------------------------------------------------------------------------------------------
def free_port(exclude=()) -> int:
    """A loopback TCP port that is free right now (the kernel's choice)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in exclude:
            return port
    raise RuntimeError("no free port found")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def api_versions(host: str, port: int, timeout: float = 5.0) -> dict[int, tuple[int, int]]:
    """Send ApiVersions v0 (request header v1) on a fresh connection; return
    {api_key: (min_version, max_version)}. Raises on a connection problem, a malformed
    response or a non-zero error code. Hand-rolled so that no client's retry logic can hide
    a broken answer."""
    corr = 0x4B420001
    client_id = b"kb-acceptance"
    body = struct.pack(">hhih", API_VERSIONS_KEY, 0, corr, len(client_id)) + client_id
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv_exact(s, 4))
        if not 10 <= size <= 1 << 20:
            raise ValueError("ApiVersions response frame size %d" % size)
        data = _recv_exact(s, size)
    got_corr, error_code, n = struct.unpack_from(">ihi", data, 0)
    if got_corr != corr:
        raise ValueError("ApiVersions correlation id %#x, sent %#x" % (got_corr, corr))
    if error_code != 0:
        raise ValueError("ApiVersions error_code %d" % error_code)
    if not 0 <= n <= 1000 or len(data) < 10 + 6 * n:
        raise ValueError("ApiVersions array length %d in a %d-byte response" % (n, len(data)))
    apis = {}
    for i in range(n):
        key, lo, hi = struct.unpack_from(">hhh", data, 10 + 6 * i)
        apis[key] = (lo, hi)
    if API_VERSIONS_KEY not in apis:
        raise ValueError("ApiVersions response does not list ApiVersions itself: %r" % apis)
    return apis


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _compact_string(data: bytes, pos: int) -> tuple[str, int]:
    n, pos = _uvarint(data, pos)
    return data[pos:pos + n - 1].decode(), pos + n - 1


def api_versions_features(host: str, port: int, version: int = 3,
                          timeout: float = 5.0) -> dict:
    """Send flexible ApiVersions (v3 or v4) and decode its feature tags (KIP-584) by hand:
    {"supported": {name: (min, max)}, "finalized": {name: (min_level, max_level)},
    "epoch": int or None, "tags": [tag ids in wire order]}. Hand-rolled so that the bytes
    are checked, not what a client makes of them."""
    corr = 0x4B420003
    client_id = b"kb-acceptance"
    body = (struct.pack(">hhih", API_VERSIONS_KEY, version, corr, len(client_id)) + client_id
            + b"\x00"  # request header v2: no tagged fields
            + b"\x03kb" + b"\x020" + b"\x00")  # software name "kb", version "0", no tags
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv_exact(s, 4))
        data = _recv_exact(s, size)
    got_corr, error_code = struct.unpack_from(">ih", data, 0)  # response header v0
    if got_corr != corr or error_code != 0:
        raise ValueError("ApiVersions v%d: correlation %#x, error %d" % (version, got_corr, error_code))
    n, pos = _uvarint(data, 6)
    pos += (n - 1) * 7  # key, min, max and an empty tag buffer per api
    pos += 4  # throttle_time_ms
    out = {"supported": {}, "finalized": {}, "epoch": None, "tags": []}
    ntags, pos = _uvarint(data, pos)
    for _ in range(ntags):
        tag, pos = _uvarint(data, pos)
        size, pos = _uvarint(data, pos)
        field, pos = data[pos:pos + size], pos + size
        out["tags"].append(tag)
        if tag == 1:
            (out["epoch"],) = struct.unpack(">q", field)
        elif tag in (0, 2):
            count, fp = _uvarint(field, 0)
            for _ in range(count - 1):
                name, fp = _compact_string(field, fp)
                a, b = struct.unpack_from(">hh", field, fp)
                _, fp = _uvarint(field, fp + 4)  # the entry's tag buffer
                if tag == 0:
                    out["supported"][name] = (a, b)
                else:  # FinalizedFeatureKey is MaxVersionLevel, then MinVersionLevel
                    out["finalized"][name] = (b, a)
    if pos != len(data):
        raise ValueError("ApiVersions v%d: %d trailing bytes" % (version, len(data) - pos))
    return out


# ---------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------
_LIVE: set[subprocess.Popen] = set()


@atexit.register
def _kill_leftovers():
    """Last resort if pytest dies between start and teardown: no server outlives the run."""
    for p in list(_LIVE):
        if p.poll() is None:
            try:
                p.kill()
                p.wait(5)
            except Exception:  # noqa: BLE001
                pass


def find_binary() -> Path | None:
    """KB_BIN (scripts/test.sh sets it), else $CARGO_TARGET_DIR/release, else ./target/release."""
    if os.environ.get("KB_BIN"):
        return Path(os.environ["KB_BIN"])
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        t = Path(target)
        return (t if t.is_absolute() else REPO_ROOT / t) / "release" / "kraftbridge"
    return REPO_ROOT / "target" / "release" / "kraftbridge"


def tail(path: Path, lines: int = 80) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return "(no log: %s)" % e
    return "\n".join(text.splitlines()[-lines:])


def run_cli(binary: Path, args, timeout: float = CLI_TIMEOUT_S, cwd=None):
    """Run a one-shot kraftbridge command; return CompletedProcess with text stdout/stderr."""
    return subprocess.run([str(binary), *map(str, args)], cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace", timeout=timeout, env=server_env())


def server_env() -> dict:
    env = dict(os.environ)
    env.setdefault("RUST_BACKTRACE", "1")
    return env


def describe_exit(rc: int | None) -> str:
    if rc is None:
        return "still running"
    if rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit code %d" % rc


def read_properties(path: Path) -> dict[str, str]:
    """Java-properties subset: key=value or key: value lines, # and ! comments."""
    props = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        m = re.match(r"([^=:\s]+)\s*[=:]\s*(.*)$", line)
        if m:
            props[m.group(1)] = m.group(2).strip()
    return props


@dataclass
class Server:
    """One kraftbridge broker+controller node (`kraftbridge server FILE`) in its own directory,
    on free loopback ports. format() once, then start()/wait_ready()/stop()/kill() as often as
    a test likes; the data directory survives restarts."""

    binary: Path
    root: Path
    name: str = "kb"
    extra_props: dict = field(default_factory=dict)

    def __post_init__(self):
        self.dir = self.root / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.dir / "data"
        self.props_path = self.dir / "server.properties"
        self.log_path = self.dir / "server.log"
        self.port = free_port()
        self.controller_port = free_port(exclude={self.port})
        self.proc: subprocess.Popen | None = None
        self.exit_expected = False  # set by stop()/kill(): any other exit is a crash
        self.starts = 0
        self.cluster_id: str | None = None
        self.write_properties()

    @property
    def bootstrap(self) -> str:
        return "127.0.0.1:%d" % self.port

    def properties(self) -> dict:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": "PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d"
                         % (self.port, self.controller_port),
            "advertised.listeners": "PLAINTEXT://127.0.0.1:%d" % self.port,
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.quorum.voters": "1@127.0.0.1:%d" % self.controller_port,
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
        }
        props.update(self.extra_props)
        return props

    def write_properties(self):
        lines = ["# written by tests/acceptance/kb.py"]
        lines += ["%s=%s" % kv for kv in self.properties().items()]
        self.props_path.write_text("\n".join(lines) + "\n")

    # -- storage ---------------------------------------------------------------------------
    def random_uuid(self) -> str:
        r = run_cli(self.binary, ["storage", "random-uuid"])
        assert r.returncode == 0, "storage random-uuid: %s\n%s%s" % (
            describe_exit(r.returncode), r.stdout, r.stderr)
        cid = r.stdout.strip()
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cid), \
            "storage random-uuid printed %r, not a 22-character base64url Kafka UUID" % cid
        return cid

    def format(self, cluster_id: str | None = None) -> str:
        cid = cluster_id or self.random_uuid()
        r = run_cli(self.binary, ["storage", "format", "-t", cid, "-c", self.props_path])
        self._log_cli("storage format -t %s -c %s" % (cid, self.props_path), r)
        assert r.returncode == 0, "storage format failed (%s):\n%s%s" % (
            describe_exit(r.returncode), r.stdout, r.stderr)
        self.cluster_id = cid
        return cid

    def _log_cli(self, what, r):
        with open(self.log_path, "a") as log:
            log.write("=== kraftbridge %s -> %s\n%s%s" % (
                what, describe_exit(r.returncode), r.stdout, r.stderr))

    # -- process ---------------------------------------------------------------------------
    def start(self, *extra_args):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self.exit_expected = False
        with open(self.log_path, "a") as log:
            log.write("=== start #%d: kraftbridge server %s %s\n" % (
                self.starts, self.props_path, " ".join(map(str, extra_args))))
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [str(self.binary), "server", str(self.props_path), *map(str, extra_args)],
                cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=server_env())
        finally:
            log.close()
        _LIVE.add(self.proc)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = START_TIMEOUT_S):
        """Until the PLAINTEXT port answers ApiVersions and Metadata lists a broker; fails
        early (with the log tail) if the process exits meanwhile."""
        deadline = Deadline(timeout)

        def probe_api_versions():
            self._check_alive("during start-up")
            return api_versions("127.0.0.1", self.port, timeout=min(5.0, deadline.left() + 0.1))

        try:
            wait_for(probe_api_versions, deadline.left(),
                     "ApiVersions on %s" % self.bootstrap)
            wait_for(lambda: self._check_alive("during start-up") or broker_ids(self.bootstrap),
                     deadline.left(), "Metadata on %s to list a broker" % self.bootstrap,
                     interval=0.2)
        except Abort:
            raise
        except AssertionError as e:
            raise AssertionError("%s\n--- %s (last lines) ---\n%s" % (
                e, self.log_path, tail(self.log_path))) from None
        return self

    def _check_alive(self, when):
        rc = self.proc.poll() if self.proc else None
        if self.proc is None or rc is not None:
            raise Abort("kraftbridge server %s %s\n--- %s (last lines) ---\n%s" % (
                describe_exit(rc), when, self.log_path, tail(self.log_path)))
        return None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait up to `timeout`; SIGKILL and AssertionError if it hangs.
        Returns the exit status."""
        p = self.proc
        if p is None or p.poll() is not None:
            return p.returncode if p else 0
        self.exit_expected = True
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
            raise AssertionError("kraftbridge server ignored SIGTERM for %.0fs; SIGKILLed it\n"
                                 "--- %s (last lines) ---\n%s"
                                 % (timeout, self.log_path, tail(self.log_path))) from None
        finally:
            _LIVE.discard(p)
            with open(self.log_path, "a") as log:
                log.write("=== stopped by SIGTERM: %s\n" % describe_exit(p.returncode))
        return rc

    def kill(self) -> int:
        """SIGKILL (no chance to flush anything) and reap."""
        p = self.proc
        assert p is not None and p.poll() is None, "kill(): server not running"
        self.exit_expected = True
        p.kill()
        rc = p.wait(10)
        _LIVE.discard(p)
        with open(self.log_path, "a") as log:
            log.write("=== SIGKILLed by the test\n")
        return rc

    def ensure_stopped(self):
        """Teardown: SIGTERM then SIGKILL after the deadline. Never raises; returns an
        AssertionError when the server hung on SIGTERM or had exited by itself (a crash)."""
        p = self.proc
        if p is None:
            return None
        if p.poll() is not None:
            _LIVE.discard(p)
            if self.exit_expected:
                return None
            return AssertionError("kraftbridge server %s exited by itself during the test "
                                  "(%s)\n--- %s (last lines) ---\n%s" % (
                                      self.name, describe_exit(p.returncode), self.log_path,
                                      tail(self.log_path)))
        try:
            return self.stop()
        except AssertionError as e:
            return e

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------------
# client helpers (confluent-kafka for admin/produce, kafka-python and kcat for reads: neither
# of those needs the group APIs, which a broker may not have yet)
# ---------------------------------------------------------------------------------------------
def admin_conf(bootstrap: str) -> dict:
    return {"bootstrap.servers": bootstrap, "client.id": "kb-acceptance-admin",
            "socket.timeout.ms": 10000, "log.connection.close": False}


def broker_ids(bootstrap: str, timeout: float = 5.0) -> list[int]:
    from confluent_kafka.admin import AdminClient
    admin = AdminClient(admin_conf(bootstrap))
    try:
        return sorted(admin.list_topics(timeout=timeout).brokers)
    finally:
        admin = None  # a failure's traceback must not keep a reconnecting client alive


def unique_topic(prefix: str) -> str:
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def create_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 60.0):
    """CreateTopics via confluent-kafka's AdminClient, then wait until every partition has a
    leader in Metadata."""
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient(admin_conf(bootstrap))
    deadline = Deadline(timeout)

    def ready():
        md = admin.list_topics(topic=topic, timeout=min(5.0, deadline.left() + 0.1))
        t = md.topics.get(topic)
        return (t is not None and t.error is None and len(t.partitions) == partitions
                and all(p.leader in md.brokers for p in t.partitions.values()))

    try:
        fs = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)],
            operation_timeout=min(30.0, timeout), request_timeout=min(30.0, timeout))
        fs[topic].result(timeout=deadline.left())
        wait_for(ready, deadline.left(),
                 "topic %s with %d led partitions" % (topic, partitions), interval=0.2)
    finally:
        admin = None  # noqa: F841 - drop the client (see broker_ids)


def list_topic_partitions(bootstrap: str, timeout: float = 10.0) -> dict[str, int]:
    from confluent_kafka.admin import AdminClient
    admin = AdminClient(admin_conf(bootstrap))
    try:
        md = admin.list_topics(timeout=timeout)
        return {name: len(t.partitions) for name, t in md.topics.items()}
    finally:
        admin = None  # noqa: F841 - drop the client (see broker_ids)


def kafka_python_read_all(bootstrap: str, topic: str, partitions: int,
                          timeout: float = 60.0) -> list[tuple[int, int, bytes, bytes]]:
    """Everything in `topic` from offset 0 to the current end, with kafka-python's consumer,
    manual assign() (no group). Returns [(partition, offset, key, value)] in fetch order."""
    from kafka import KafkaConsumer, TopicPartition
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    c = KafkaConsumer(bootstrap_servers=[bootstrap], group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", client_id="kb-acceptance-read",
                      request_timeout_ms=30000, bootstrap_timeout_ms=int(timeout * 1000))
    try:
        c.assign(tps)
        ends = c.end_offsets(tps)
        c.seek_to_beginning(*tps)
        out = []
        deadline = Deadline(timeout)
        while any(c.position(tp) < ends[tp] for tp in tps):
            if deadline.expired():
                raise AssertionError(
                    "read-back of %s timed out: positions %s, ends %s, %d records read"
                    % (topic, {tp.partition: c.position(tp) for tp in tps},
                       {tp.partition: e for tp, e in ends.items()}, len(out)))
            for tp, recs in c.poll(timeout_ms=500).items():
                out.extend((tp.partition, r.offset, r.key, r.value) for r in recs)
        return out
    finally:
        c.close()


def kcat(binary: str, bootstrap: str, args, input_bytes: bytes | None = None,
         timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "-b", bootstrap, *args], input=input_bytes,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def which_kcat() -> str | None:
    return shutil.which(os.environ.get("KB_KCAT", "kcat"))


def check_partition_order(records, seq_of):
    """records [(partition, offset, key, value)]: per partition, offsets contiguous from 0
    and values in produce order (seq_of(value) increasing); each key in one partition.
    Returns a list of problems (empty = fine)."""
    problems = []
    by_part: dict[int, list] = {}
    key_parts: dict[bytes, set] = {}
    for p, off, key, val in records:
        by_part.setdefault(p, []).append((off, seq_of(val)))
        key_parts.setdefault(key, set()).add(p)
    for p, lst in sorted(by_part.items()):
        offs = [o for o, _ in lst]
        seqs = [s for _, s in lst]
        if offs != list(range(len(offs))):
            problems.append("partition %d: offsets %s... not 0,1,2,... in order"
                            % (p, offs[:10]))
        if any(b <= a for a, b in zip(seqs, seqs[1:])):
            problems.append("partition %d: values out of produce order" % p)
    split = sorted(k for k, ps in key_parts.items() if len(ps) > 1)
    if split:
        problems.append("%d keys in more than one partition, e.g. %r" % (len(split), split[0]))
    return problems


def confluent_produce(bootstrap: str, topic: str, msgs, timeout: float = 60.0, **conf):
    """Produce [(seq, key, value)] with confluent-kafka; return {seq: (partition, offset)} of
    the delivery-acknowledged ones. Asserts that every message was acknowledged."""
    from confluent_kafka import Producer
    c = {"bootstrap.servers": bootstrap, "client.id": "kb-acceptance-ck", "acks": "all",
         "enable.idempotence": False, "max.in.flight.requests.per.connection": 1,
         "linger.ms": 5, "message.timeout.ms": int(timeout * 1000)}
    c.update(conf)
    p = Producer(c)
    delivered, errors = {}, []

    def on_delivery(err, msg, seq):
        if err is not None:
            errors.append((seq, str(err)))
        else:
            delivered[seq] = (msg.partition(), msg.offset())

    for seq, k, v in msgs:
        while True:
            try:
                p.produce(topic, key=k, value=v,
                          on_delivery=lambda err, msg, seq=seq: on_delivery(err, msg, seq))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(timeout)
    assert left == 0 and not errors and len(delivered) == len(msgs), \
        "produce to %s: %d acked, %d undelivered after flush, errors %s" % (
            topic, len(delivered), left, errors[:3])
    return delivered


def seq_of(value: bytes) -> int:
    """The sequence number a numbered record's value ends with (`...:000000042`)."""
    return int(value.rsplit(b":", 1)[1])


class ProducerLoop:
    """A confluent-kafka producer in its own thread, producing numbered records (value
    `<prefix>:<seq>`, key `k<seq % 40>`) until finish(), which then flushes what is queued
    or in flight: retried against a restarted server, for the SIGKILL tests. Tracks the
    acknowledged records (`acked`: seq -> (partition, offset)) and the given-up ones
    (`failed`: (seq, error)); `conf` overrides the producer configuration."""

    def __init__(self, bootstrap: str, topic: str, prefix: bytes, flush_timeout: float,
                 **conf):
        self.conf = {"bootstrap.servers": bootstrap, "linger.ms": 2,
                     "retry.backoff.ms": 100, "reconnect.backoff.ms": 50,
                     "reconnect.backoff.max.ms": 500, "log.connection.close": False, **conf}
        self.topic, self.prefix, self.flush_timeout = topic, prefix, flush_timeout
        self.acked: dict[int, tuple[int, int]] = {}
        self.failed: list[tuple[int, str]] = []
        self.produced = 0
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._error: list[str] = []
        self._thread = threading.Thread(target=self._run, name="producer-loop", daemon=True)
        self._thread.start()

    def _on_delivery(self, err, msg):
        seq = seq_of(msg.value())
        with self.lock:
            if err is None:
                self.acked[seq] = (msg.partition(), msg.offset())
            else:
                self.failed.append((seq, str(err)))

    def _run(self):
        from confluent_kafka import Producer
        try:
            p = Producer(self.conf)
            seq = 0
            while not self._stop.is_set():
                if len(p) > 5000:          # bound the queue: wait for acks
                    p.poll(0.01)
                    continue
                try:
                    p.produce(self.topic, key=b"k%02d" % (seq % 40),
                              value=b"%s:%09d" % (self.prefix, seq),
                              on_delivery=self._on_delivery)
                except BufferError:
                    p.poll(0.01)
                    continue
                seq += 1
                self.produced = seq
                p.poll(0)
            p.flush(self.flush_timeout)
        except Exception as e:  # noqa: BLE001 - reported by wait_acked() and finish()
            self._error.append(repr(e))

    def acked_now(self) -> dict[int, tuple[int, int]]:
        with self.lock:
            return dict(self.acked)

    def wait_acked(self, n: int, timeout: float, what: str):
        """Until at least `n` records are acknowledged; fails at once if the thread died."""
        def enough():
            if self._error:
                raise Abort("producer thread failed: %s" % self._error)
            return len(self.acked) >= n
        wait_for(enough, timeout, what, interval=0.05)

    def stop(self):
        self._stop.set()

    def finish(self):
        """Stop producing, wait for the flush; asserts the thread ended without an error."""
        self._stop.set()
        self._thread.join(self.flush_timeout + 10)
        assert not self._thread.is_alive(), \
            "producer thread still flushing after %.0fs" % self.flush_timeout
        assert not self._error, self._error


def missing_acked(records, acked) -> list[tuple[int, tuple[int, int], int | None]]:
    """records [(partition, offset, key, value)] read back, acked {seq: (partition, offset)}:
    the acknowledged records not at their acknowledged place, as (seq, acked place, seq found
    there or None), in seq order."""
    at = {(p, off): seq_of(v) for p, off, _, v in records}
    return [(s, po, at.get(po)) for s, po in sorted(acked.items()) if at.get(po) != s]
