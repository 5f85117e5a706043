"""Optional cross-check with an external smoke script (not part of the repository): collected
only when KB_CROSSCHECK_SMOKE names an existing file (see conftest.py), as `.ci/run` does
after the suite when such a script is laid out beside the clone. The script takes
`--bootstrap`, `--timeout` and `--idempotent` and exits 0 when all its steps pass."""
import subprocess
import sys

import pytest


@pytest.mark.crosscheck
@pytest.mark.parametrize("initial_delay_ms,idempotent",
                         [(0, True), (None, False)], ids=["delay0-idempotent", "default-delay"])
def test_external_smoke_script(kb_servers, crosscheck_script, kcat_bin, initial_delay_ms,
                               idempotent):
    props = {} if initial_delay_ms is None else {
        "group.initial.rebalance.delay.ms": initial_delay_ms}
    srv = kb_servers(props=props).start().wait_ready()
    extra = ["--idempotent"] if idempotent else []
    r = subprocess.run([sys.executable, str(crosscheck_script), "--bootstrap", srv.bootstrap,
                        "--timeout", "240"] + extra,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", timeout=300)
    print(r.stdout)
    assert r.returncode == 0, "%s exited %d:\n%s" % (crosscheck_script.name, r.returncode,
                                                     r.stdout)
