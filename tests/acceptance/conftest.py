"""Fixtures for the acceptance tests: real kraftbridge processes on free loopback ports.

  kb_bin          the release binary (KB_BIN, else $CARGO_TARGET_DIR/release, else
                  ./target/release); a missing binary FAILS the test, it is not skipped
  kb_servers      factory: kb_servers(name=None, fmt=True, props=None) -> kb.Server
                  (formatted unless fmt=False, not started). At teardown every server it
                  made is stopped (SIGTERM, SIGKILL after a deadline); one that hung on
                  SIGTERM or exited by itself (crashed) during the test fails the test
  kb_server       a formatted, started and ready server (ApiVersions answered, Metadata lists
                  the broker); .bootstrap is "127.0.0.1:PORT"
  kb_quickstart   runs `kraftbridge quickstart --dir D` on the fixed ports 9092/9093;
                  FAILS (not skips) when those ports are taken
  kcat_bin        path of kcat (FAILS if absent: scripts/test.sh installs it)
  crosscheck_script  the external smoke script named by KB_CROSSCHECK_SMOKE

Tests marked `crosscheck` run an external script that is not part of the repository. They are
collected only when KB_CROSSCHECK_SMOKE names an existing file, and deselected otherwise, so
a clone with nothing beside it runs every test it holds and no test is skipped for ever.

With KB_HIDE_SHARED=1 (set by .ci/run when it cannot hide the directory beside the clone
with a mount namespace) the test process refuses to open, list or execute anything in the
`shared` directory beside the repository: a test that needs it fails.

On a failing test the tail of every server log it used is added to the report.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kb  # noqa: E402

QUICKSTART_PORTS = (9092, 9093)
CROSSCHECK_ENV = "KB_CROSSCHECK_SMOKE"
#: The directory beside the repository that CI lays out; nothing here may need it.
SIBLING_SHARED = kb.REPO_ROOT.parent / "shared"


def crosscheck_path() -> Path | None:
    """The external smoke script to cross-check with, when KB_CROSSCHECK_SMOKE names a file."""
    value = os.environ.get(CROSSCHECK_ENV)
    if not value or os.environ.get("KB_HIDE_SHARED") == "1":
        return None
    path = Path(value)
    return path if path.is_file() else None


def pytest_collection_modifyitems(config, items):
    if crosscheck_path() is not None:
        return
    keep = [i for i in items if i.get_closest_marker("crosscheck") is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


def _hide_sibling_shared():
    """An audit hook: opening, listing or executing a path in SIBLING_SHARED raises."""
    hidden = str(SIBLING_SHARED.resolve())
    watched = {"open", "os.listdir", "os.scandir", "os.chdir", "subprocess.Popen", "os.exec",
               "os.posix_spawn"}

    def inside(arg) -> bool:
        if isinstance(arg, (list, tuple)):
            return any(inside(a) for a in arg)
        if not isinstance(arg, (str, bytes, os.PathLike)):
            return False
        text = os.fsdecode(arg)
        if not text or "\0" in text:
            return False
        try:
            full = os.path.normpath(os.path.join(os.getcwd(), text))
        except OSError:  # the working directory is gone: only absolute paths can be judged
            full = os.path.normpath(text)
        return full == hidden or full.startswith(hidden + os.sep)

    def hook(event, args):
        if event in watched and any(inside(a) for a in args):
            raise PermissionError("KB_HIDE_SHARED=1: %s of %r refused, the tests must not "
                                  "need %s" % (event, args[:2], hidden))

    sys.addaudithook(hook)


def pytest_configure(config):
    config.addinivalue_line("markers", "crosscheck: runs an external smoke script named by "
                            "KB_CROSSCHECK_SMOKE; deselected when it is unset")
    if os.environ.get("KB_HIDE_SHARED") == "1":
        _hide_sibling_shared()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        text = rep.longreprtext
        for name, log_path in getattr(item, "_kb_logs", []):
            if "--- %s (last lines) ---" % log_path in text:
                continue  # the failure message already ends with this log's tail
            rep.sections.append(("kraftbridge %s: last lines of %s" % (name, log_path),
                                 kb.tail(Path(log_path), 80)))


def _register_log(request, name, log_path):
    logs = getattr(request.node, "_kb_logs", None)
    if logs is None:
        logs = request.node._kb_logs = []
    logs.append((name, str(log_path)))


@pytest.fixture(scope="session")
def kb_bin() -> Path:
    path = kb.find_binary()
    if path is None or not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail("kraftbridge binary not found at %s; build it with "
                    "`cargo build --release --bin kraftbridge` (or run ./scripts/test.sh, "
                    "or set KB_BIN)" % path, pytrace=False)
    return path


@pytest.fixture(scope="session")
def kcat_bin() -> str:
    path = kb.which_kcat()
    if not path:
        pytest.fail("kcat not found on PATH (apt-get install kcat; ./scripts/test.sh does it)",
                    pytrace=False)
    return path


@pytest.fixture(scope="session")
def crosscheck_script() -> Path:
    path = crosscheck_path()
    assert path is not None, "a crosscheck test was collected without %s" % CROSSCHECK_ENV
    return path


@pytest.fixture
def kb_servers(kb_bin, tmp_path, request):
    """Factory for servers in this test's temp dir; all are stopped at teardown."""
    made: list[kb.Server] = []

    def make(name: str | None = None, fmt: bool = True, props: dict | None = None) -> kb.Server:
        srv = kb.Server(kb_bin, tmp_path, name=name or "kb%d" % (len(made) + 1),
                        extra_props={k: str(v) for k, v in (props or {}).items()})
        made.append(srv)
        _register_log(request, srv.name, srv.log_path)
        if fmt:
            srv.format()
        return srv

    yield make

    problems = []
    for srv in made:
        result = srv.ensure_stopped()
        if isinstance(result, AssertionError):
            problems.append(str(result))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def kb_server(kb_servers) -> kb.Server:
    return kb_servers().start().wait_ready()


class Quickstart:
    """`kraftbridge quickstart --dir DIR`, run in the foreground as a user would."""

    def __init__(self, binary: Path, workdir: Path, request):
        self.binary = binary
        self.workdir = workdir
        self.request = request
        self.runs = 0
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def start(self, data_dir: Path):
        self.runs += 1
        self.log_path = self.workdir / ("quickstart-run%d.log" % self.runs)
        _register_log(self.request, "quickstart run %d" % self.runs, self.log_path)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), "quickstart", "--dir", str(data_dir)], cwd=self.workdir,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=kb.server_env())
        kb._LIVE.add(self.proc)
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def wait_ready(self, timeout: float = kb.START_TIMEOUT_S):
        def ready():
            if self.proc.poll() is not None:
                raise kb.Abort("quickstart %s during start-up; output:\n%s"
                               % (kb.describe_exit(self.proc.returncode), self.output()))
            kb.api_versions("127.0.0.1", QUICKSTART_PORTS[0], timeout=5.0)
            return kb.broker_ids("127.0.0.1:%d" % QUICKSTART_PORTS[0])

        kb.wait_for(ready, timeout, "quickstart to serve ApiVersions and Metadata on "
                    "127.0.0.1:%d" % QUICKSTART_PORTS[0], interval=0.2)
        return self

    def stop(self, timeout: float = kb.STOP_TIMEOUT_S) -> int:
        p = self.proc
        if p is None or p.poll() is not None:
            return p.returncode if p else 0
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
            raise AssertionError("quickstart ignored SIGTERM for %.0fs; SIGKILLed it"
                                 % timeout) from None
        finally:
            kb._LIVE.discard(p)


@pytest.fixture
def kb_quickstart(kb_bin, tmp_path, request):
    busy = [p for p in QUICKSTART_PORTS if not kb.port_is_free(p)]
    if busy:
        pytest.fail("quickstart binds the fixed ports %s but %s already in use on 127.0.0.1; "
                    "stop whatever listens there (e.g. `ss -ltnp 'sport = :%d'`)"
                    % (QUICKSTART_PORTS, busy, busy[0]), pytrace=False)
    qs = Quickstart(kb_bin, tmp_path, request)
    yield qs
    try:
        qs.stop()
    except AssertionError as e:
        pytest.fail(str(e), pytrace=False)
