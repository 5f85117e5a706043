#!/usr/bin/env python3
"""Capture real Kafka clients' request frames as golden fixtures for protocol/tests/codec_golden.rs.

A tiny fake broker listens on 127.0.0.1 and answers just enough for each client to get to
Produce and Fetch: ApiVersions (the ranges kraftbridge serves, protocol/src/versions.rs),
Metadata (one broker = itself, topic `golden` with one partition led by broker 1),
InitProducerId, Produce, ListOffsets, OffsetForLeaderEpoch and Fetch (empty partition). Every
answer is encoded by hand below, so the capture needs no Kafka and no codec of ours. Every
request frame received is kept; for each scenario the script writes the first frame of the
API that scenario is about to `<out>/<client>_<what>.bin`: the whole frame, 4-byte size
prefix included, exactly as the client sent it. Requests for other APIs (FindCoordinator, ...)
get no answer and are only logged.

Clients: kcat (Debian `kcat`, librdkafka 2.0), kafka-python, confluent-kafka (its bundled
librdkafka). Usage (see README.md):

    python3 -m venv /tmp/golden-venv
    /tmp/golden-venv/bin/pip install kafka-python confluent-kafka lz4 python-snappy zstandard
    apt-get install -y kcat
    /tmp/golden-venv/bin/python protocol/tests/golden/capture.py --out protocol/tests/golden

Re-running overwrites the fixtures; the record batches carry client timestamps, so the bytes
change but every field the Rust test asserts stays the same.
"""
import argparse
import os
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import uuid

TOPIC = "golden"
TOPIC_ID = uuid.UUID("6a0ee3c1-8a2b-4d3e-9f10-112233445566").bytes
CLUSTER_ID = "kraftbridge-golden"
NODE_ID = 1

# (api key, min, max): what kraftbridge advertises (protocol/src/versions.rs SUPPORTED), so
# clients pick the versions they would pick against our broker.
#
# Two deliberate differences, both only lowering minimums or adding an API nobody here calls:
# librdkafka 2.0 (kcat) decides codec support from version ranges, not from the codec. It
# compresses gzip/snappy only when the broker lists Produce v2 and Fetch v2 ("MsgVer1"), and
# lz4 only when it lists FindCoordinator v0 ("LZ4"); otherwise it silently sends the batch
# uncompressed. So Produce and Fetch are advertised from v0 and FindCoordinator is listed (and
# never answered). Clients pick their highest common version, which these minimums do not move.
SUPPORTED = [
    (0, 0, 11),   # Produce (kraftbridge: 3-11)
    (1, 0, 16),   # Fetch (kraftbridge: 4-16)
    (10, 0, 4),   # FindCoordinator (listed whatever kraftbridge serves; never answered here)
    (2, 1, 8),    # ListOffsets
    (3, 0, 12),   # Metadata
    (18, 0, 4),   # ApiVersions
    (19, 2, 7),   # CreateTopics
    (20, 1, 6),   # DeleteTopics
    (21, 0, 2),   # DeleteRecords
    (23, 2, 4),   # OffsetForLeaderEpoch
    (32, 1, 4),   # DescribeConfigs
    (33, 0, 2),   # AlterConfigs
    (35, 1, 4),   # DescribeLogDirs
    (37, 0, 3),   # CreatePartitions
    (44, 0, 1),   # IncrementalAlterConfigs
    (60, 0, 1),   # DescribeCluster
    # Not served by kraftbridge yet, advertised here only so that an idempotent producer
    # (kafka-python's default) gets its producer id and goes on to Produce.
    (22, 0, 4),   # InitProducerId
]
FLEX_MIN = {0: 9, 1: 12, 2: 6, 3: 9, 18: 3, 22: 2, 23: 4}
API_NAMES = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 18: "ApiVersions",
             22: "InitProducerId", 23: "OffsetForLeaderEpoch", 10: "FindCoordinator"}


class W:
    """Writes Kafka primitives; `flex` selects compact lengths and tagged-field sections."""

    def __init__(self, flex):
        self.b = bytearray()
        self.flex = flex

    def i8(self, v):
        self.b += struct.pack(">b", v)

    def i16(self, v):
        self.b += struct.pack(">h", v)

    def i32(self, v):
        self.b += struct.pack(">i", v)

    def i64(self, v):
        self.b += struct.pack(">q", v)

    def uvarint(self, v):
        while v >= 0x80:
            self.b.append((v & 0x7F) | 0x80)
            v >>= 7
        self.b.append(v)

    def string(self, s):
        if s is None:
            self.uvarint(0) if self.flex else self.i16(-1)
            return
        raw = s.encode()
        self.uvarint(len(raw) + 1) if self.flex else self.i16(len(raw))
        self.b += raw

    def bytes_(self, raw):
        if raw is None:
            self.uvarint(0) if self.flex else self.i32(-1)
            return
        self.uvarint(len(raw) + 1) if self.flex else self.i32(len(raw))
        self.b += raw

    def array(self, items, each):
        if items is None:
            self.uvarint(0) if self.flex else self.i32(-1)
            return
        self.uvarint(len(items) + 1) if self.flex else self.i32(len(items))
        for it in items:
            each(it)

    def tags(self):
        if self.flex:
            self.uvarint(0)


class R:
    """Reads just enough of a request to answer it."""

    def __init__(self, b, flex):
        self.b = b
        self.p = 0
        self.flex = flex

    def take(self, n):
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def uvarint(self):
        v = shift = 0
        while True:
            c = self.take(1)[0]
            v |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return v

    def string(self, classic=False):
        if self.flex and not classic:
            n = self.uvarint() - 1
        else:
            n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def array_len(self):
        return self.uvarint() - 1 if self.flex else self.i32()

    def skip_tags(self):
        if self.flex:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.take(self.uvarint())


def header_len_and_flex(frame):
    """Parses the request header: (api key, version, correlation id, body offset, flex)."""
    key, ver, corr = struct.unpack(">hhi", frame[:8])
    flex = ver >= FLEX_MIN.get(key, 1 << 15)
    r = R(frame, False)
    r.p = 8
    r.string(classic=True)  # client id: always a classic string (header v1/v2)
    if flex:
        r.flex = True
        r.skip_tags()
    return key, ver, corr, r.p, flex


def api_versions(ver):
    w = W(ver >= 3)
    w.i16(0)
    w.array(SUPPORTED, lambda a: (w.i16(a[0]), w.i16(a[1]), w.i16(a[2]), w.tags()))
    if ver >= 1:
        w.i32(0)
    w.tags()
    return w.b


def metadata(ver, body, flex, port):
    r = R(body, flex)
    n = r.array_len()
    topics = []
    for _ in range(max(n, 0)):
        if ver >= 10:
            r.take(16)
        topics.append(r.string())
        r.skip_tags()
    if n < 0 or not topics or (ver >= 10 and topics == [None]):
        topics = [TOPIC]
    w = W(flex)
    if ver >= 3:
        w.i32(0)

    def broker(_):
        w.i32(NODE_ID)
        w.string("127.0.0.1")
        w.i32(port)
        if ver >= 1:
            w.string(None)
        w.tags()

    w.array([NODE_ID], broker)
    if ver >= 2:
        w.string(CLUSTER_ID)
    if ver >= 1:
        w.i32(NODE_ID)

    def partition(_):
        w.i16(0)
        w.i32(0)
        w.i32(NODE_ID)
        if ver >= 7:
            w.i32(0)  # leader epoch
        w.array([NODE_ID], w.i32)
        w.array([NODE_ID], w.i32)
        if ver >= 5:
            w.array([], w.i32)
        w.tags()

    def topic(name):
        known = name == TOPIC
        w.i16(0 if known else 3)  # UNKNOWN_TOPIC_OR_PARTITION
        w.string(name)
        if ver >= 10:
            w.b += TOPIC_ID if known else bytes(16)
        if ver >= 1:
            w.i8(0)
        w.array([0] if known else [], partition)
        if ver >= 8:
            w.i32(-2147483648)
        w.tags()

    w.array(topics, topic)
    if 8 <= ver <= 10:
        w.i32(-2147483648)
    w.tags()
    return w.b


def init_producer_id(ver, flex):
    w = W(flex)
    w.i32(0)
    w.i16(0)
    w.i64(4242)
    w.i16(0)
    w.tags()
    return w.b


def produce(ver, body, flex):
    r = R(body, flex)
    if ver >= 3:
        r.string()  # transactional id
    acks = r.i16()
    r.i32()
    names = []
    for _ in range(r.array_len()):
        names.append(r.string())
        for _ in range(r.array_len()):
            r.i32()
            n = r.uvarint() - 1 if flex else r.i32()
            r.take(max(n, 0))
            r.skip_tags()
        r.skip_tags()
    if acks == 0:
        return None
    w = W(flex)

    def part(_):
        w.i32(0)
        w.i16(0)
        w.i64(0)
        w.i64(-1)
        if ver >= 5:
            w.i64(0)
        if ver >= 8:
            w.array([], None)
            w.string(None)
        w.tags()

    def topic(name):
        w.string(name)
        w.array([0], part)
        w.tags()

    w.array(names, topic)
    w.i32(0)
    w.tags()
    return w.b


def list_offsets(ver, flex):
    w = W(flex)
    if ver >= 2:
        w.i32(0)

    def part(_):
        w.i32(0)
        w.i16(0)
        w.i64(-1)
        w.i64(0)
        if ver >= 4:
            w.i32(0)
        w.tags()

    def topic(_):
        w.string(TOPIC)
        w.array([0], part)
        w.tags()

    w.array([0], topic)
    w.tags()
    return w.b


def offset_for_leader_epoch(ver, flex):
    w = W(flex)
    if ver >= 2:
        w.i32(0)

    def part(_):
        w.i16(0)
        w.i32(0)
        if ver >= 1:
            w.i32(0)
        w.i64(0)
        w.tags()

    def topic(_):
        w.string(TOPIC)
        w.array([0], part)
        w.tags()

    w.array([0], topic)
    w.tags()
    return w.b


def fetch(ver, flex):
    w = W(flex)
    w.i32(0)
    if ver >= 7:
        w.i16(0)
        w.i32(0)

    def part(_):
        w.i32(0)
        w.i16(0)
        w.i64(0)  # high watermark: the partition is empty
        w.i64(0)
        if ver >= 5:
            w.i64(0)
        w.array([], None)
        if ver >= 11:
            w.i32(-1)
        w.bytes_(b"")
        w.tags()

    def topic(_):
        if ver >= 13:
            w.b += TOPIC_ID
        else:
            w.string(TOPIC)
        w.array([0], part)
        w.tags()

    w.array([0], topic)
    w.tags()
    return w.b


class Broker(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.lock = threading.Lock()
        self.frames = []  # (api key, version, frame bytes), in arrival order
        self.fetch_delay = 0.0

    def reset(self):
        with self.lock:
            self.frames = []

    def first(self, key):
        with self.lock:
            for k, v, f in self.frames:
                if k == key:
                    return v, f
        return None


class Handler(socketserver.BaseRequestHandler):
    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.request.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def handle(self):
        srv = self.server
        while True:
            size = self.recv_exact(4)
            if size is None:
                return
            body = self.recv_exact(struct.unpack(">i", size)[0])
            if body is None:
                return
            frame = size + body
            key, ver, corr, off, flex = header_len_and_flex(body)
            with srv.lock:
                srv.frames.append((key, ver, frame))
            rest = body[off:]
            # ApiVersions always answers with response header v0 (KIP-511).
            resp_flex_header = flex and key != 18
            if key == 18:
                if ver > 4:
                    out = W(False)
                    out.i16(35)  # UNSUPPORTED_VERSION, as a v0 body
                    out.array(SUPPORTED, lambda a: (out.i16(a[0]), out.i16(a[1]), out.i16(a[2])))
                    resp = out.b
                else:
                    resp = api_versions(ver)
            elif key == 3:
                resp = metadata(ver, rest, flex, srv.port)
            elif key == 22:
                resp = init_producer_id(ver, flex)
            elif key == 0:
                resp = produce(ver, rest, flex)
                if resp is None:
                    continue
            elif key == 2:
                resp = list_offsets(ver, flex)
            elif key == 23:
                resp = offset_for_leader_epoch(ver, flex)
            elif key == 1:
                time.sleep(0.2)  # an empty long poll, so clients do not spin
                resp = fetch(ver, flex)
            else:
                print(f"    (no answer to {API_NAMES.get(key, key)} v{ver})", file=sys.stderr)
                continue
            head = struct.pack(">i", corr) + (b"\x00" if resp_flex_header else b"")
            payload = head + bytes(resp)
            self.request.sendall(struct.pack(">i", len(payload)) + payload)


CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
# Compressible values: librdkafka sends a batch uncompressed when compressing does not shrink it.
MESSAGES = [(b"k%d" % i, b"golden-%d " % i + b"kraftbridge " * 20) for i in (1, 2, 3)]


def client_cmd(client, action, codec, port):
    """The command line that makes `client` do `action` against 127.0.0.1:port."""
    bootstrap = f"127.0.0.1:{port}"
    if client == "kcat":
        base = ["kcat", "-b", bootstrap, "-X", "client.id=kcat-golden", "-t", TOPIC, "-p", "0"]
        if action == "produce":
            return base + ["-P", "-K", ":", "-z", codec, "-X", "linger.ms=50"]
        return base + ["-C", "-o", "0", "-e", "-c", "1"]
    return [sys.executable, os.path.abspath(__file__), "--run-client", client, action, codec,
            bootstrap]


def run_python_client(client, action, codec, bootstrap):
    """Runs inside a child process: one Python client doing one action."""
    if client == "kafka_python":
        import kafka
        if action == "produce":
            p = kafka.KafkaProducer(bootstrap_servers=bootstrap, client_id="kafka-python-golden",
                                    compression_type=None if codec == "none" else codec,
                                    linger_ms=50)
            for k, v in MESSAGES:
                p.send(TOPIC, key=k, value=v, partition=0)
            p.flush(timeout=20)
            p.close(timeout=5)
        else:
            c = kafka.KafkaConsumer(bootstrap_servers=bootstrap, client_id="kafka-python-golden",
                                    group_id=None, enable_auto_commit=False)
            tp = kafka.TopicPartition(TOPIC, 0)
            c.assign([tp])
            c.seek(tp, 0)
            c.poll(timeout_ms=3000)
            c.close()
    elif client == "confluent":
        import confluent_kafka as ck
        if action == "produce":
            p = ck.Producer({"bootstrap.servers": bootstrap, "client.id": "confluent-golden",
                             "compression.type": codec, "linger.ms": 50})
            for k, v in MESSAGES:
                p.produce(TOPIC, key=k, value=v, partition=0)
            p.flush(20)
        else:
            c = ck.Consumer({"bootstrap.servers": bootstrap, "client.id": "confluent-golden",
                             "group.id": "golden-group", "enable.auto.commit": False,
                             "enable.partition.eof": True})
            c.assign([ck.TopicPartition(TOPIC, 0, 0)])
            deadline = time.time() + 5
            while time.time() < deadline:
                m = c.poll(0.5)
                if m is not None and m.error() is not None:
                    break
            c.close()
    else:
        raise SystemExit(f"unknown client {client}")


def scenarios():
    """(client, action, codec, [(api key, fixture name)])."""
    for client in ["kcat", "kafka_python", "confluent"]:
        for codec in CODECS:
            want = [(0, f"produce_{codec}")]
            if codec == "none":
                want = [(18, "api_versions"), (3, "metadata")] + want
            yield client, "produce", codec, want
        yield client, "fetch", "none", [(1, "fetch")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--only", help="run only this client")
    ap.add_argument("--run-client", nargs=4, metavar=("CLIENT", "ACTION", "CODEC", "BOOT"))
    args = ap.parse_args()
    if args.run_client:
        run_python_client(*args.run_client)
        return 0
    broker = Broker()
    threading.Thread(target=broker.serve_forever, daemon=True).start()
    print(f"fake broker on 127.0.0.1:{broker.port}")
    missing = []
    for client, action, codec, want in scenarios():
        if args.only and client != args.only:
            continue
        broker.reset()
        cmd = client_cmd(client, action, codec, broker.port)
        print(f"{client} {action} {codec}: {' '.join(cmd[:3])} ...")
        stdin = subprocess.PIPE if client == "kcat" and action == "produce" else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        if stdin == subprocess.PIPE:
            proc.stdin.write(b"".join(k + b":" + v + b"\n" for k, v in MESSAGES))
            proc.stdin.close()
        # Wait for the frames this scenario is about (or the client to give up).
        deadline = time.time() + 30
        while time.time() < deadline and proc.poll() is None:
            if all(broker.first(k) for k, _ in want):
                time.sleep(0.5)  # let the client finish its exchange
                break
            time.sleep(0.1)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        err = proc.stderr.read().decode(errors="replace").strip()
        seen = ", ".join(f"{API_NAMES.get(k, k)} v{v}" for k, v, _ in broker.frames)
        print(f"    requests: {seen}")
        for key, name in want:
            got = broker.first(key)
            path = os.path.join(args.out, f"{client}_{name}.bin")
            if got is None:
                missing.append(f"{client}_{name}")
                print(f"    MISSING {API_NAMES[key]}; client stderr: {err[-400:]}")
                continue
            with open(path, "wb") as f:
                f.write(got[1])
            print(f"    wrote {path} ({API_NAMES[key]} v{got[0]}, {len(got[1])} bytes)")
    broker.shutdown()
    if missing:
        print("missing fixtures: " + ", ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
