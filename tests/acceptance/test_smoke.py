"""The shared real-client smoke test (../shared/tools/smoke_clients.py) against a fresh server.

kafka-python, confluent-kafka and kcat each create a topic, produce 1000 keyed messages, list
topics, describe the cluster and delete the topic. The consumer-group steps (consume_group,
verify, commit_offsets) still run and are reported, but do not decide the result until the
group coordinator lands: the script's --require names the steps that must pass.
"""
import json
import subprocess
import sys

import pytest

REQUIRED = ["bootstrap", "create_topic", "produce", "list_topics", "describe_cluster",
            "delete_topic"]
SMOKE_TIMEOUT_S = 240


@pytest.mark.timeout(SMOKE_TIMEOUT_S + 90)
def test_smoke_clients(kb_server, smoke_script, kcat_bin, tmp_path):
    report = tmp_path / "smoke.json"
    cmd = [sys.executable, str(smoke_script), "--bootstrap", kb_server.bootstrap,
           "--require", ",".join(REQUIRED), "--timeout", str(SMOKE_TIMEOUT_S),
           "--kcat", kcat_bin, "--json", str(report)]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, errors="replace",
                       timeout=SMOKE_TIMEOUT_S + 60)
    print(r.stdout)  # the PASS/FAIL table, shown by pytest when the test fails
    assert r.returncode != 2, "smoke script's --timeout watchdog fired:\n" + r.stdout
    assert report.is_file(), "smoke script wrote no JSON report (exit %d):\n%s" % (
        r.returncode, r.stdout)
    results = json.loads(report.read_text())["results"]
    assert sorted(results) == sorted(["kafka-python", "confluent-kafka", "kcat"]), results
    bad = {"%s/%s" % (client, step): (cells.get(step) or {}).get("status", "not run")
           for client, cells in results.items() for step in REQUIRED
           if (cells.get(step) or {}).get("status") != "PASS"}
    assert not bad, "required smoke steps did not pass: %s\n%s" % (bad, r.stdout)
    assert r.returncode == 0, "smoke script exited %d:\n%s" % (r.returncode, r.stdout)
