"""The real-client smoke test (`smoke_clients.py` beside this file) against a fresh server:
kcat, kafka-python, confluent-kafka and aiokafka each bootstrap, create a topic, produce,
consume in a group, commit and resume, list, describe and delete; every step must pass.
Run once with `group.initial.rebalance.delay.ms` 0 and idempotent producers, once with the
default delay (3000 ms) and plain producers."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "smoke_clients.py"
STEPS = ("bootstrap", "create_topic", "produce", "consume_group", "commit_resume",
         "list_topics", "describe_cluster", "delete_topic")
CLIENTS = ("kcat", "kafka-python", "confluent-kafka", "aiokafka")


def run_smoke(bootstrap, *extra, timeout=240):
    """Runs the script; returns (exit status, [step objects], raw output)."""
    r = subprocess.run([sys.executable, str(SCRIPT), "--bootstrap", bootstrap,
                        "--timeout", str(timeout), *extra],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       errors="replace", timeout=timeout + 60)
    steps = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    return r.returncode, steps, r.stdout + r.stderr


@pytest.mark.timeout(330)
@pytest.mark.parametrize("initial_delay_ms,idempotent",
                         [(0, True), (None, False)], ids=["delay0-idempotent", "default-delay"])
def test_smoke_clients_all_steps(kb_servers, kcat_bin, initial_delay_ms, idempotent):
    props = {} if initial_delay_ms is None else {
        "group.initial.rebalance.delay.ms": initial_delay_ms}
    srv = kb_servers(props=props).start().wait_ready()
    extra = ["--cluster-id", srv.cluster_id, "--kcat", kcat_bin]
    if idempotent:
        extra.append("--idempotent")
    rc, steps, output = run_smoke(srv.bootstrap, *extra)
    print(output)
    for s in steps:
        assert set(s) == {"client", "step", "ok", "ms", "detail"}, s
    seen = {(s["client"], s["step"]) for s in steps}
    missing = [(c, st) for c in CLIENTS for st in STEPS if (c, st) not in seen]
    assert not missing, "steps not reported: %s\n%s" % (missing, output)
    assert len(steps) == len(CLIENTS) * len(STEPS), "a step reported twice:\n%s" % output
    failed = ["%s/%s: %s" % (s["client"], s["step"], s["detail"]) for s in steps if not s["ok"]]
    assert not failed, "failed steps:\n  " + "\n  ".join(failed)
    assert rc == 0, "every step passed but smoke_clients.py exited %d:\n%s" % (rc, output)
