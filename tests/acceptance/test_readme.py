"""README.md's "Quickstart walkthrough" is true: every shell command in its code blocks runs
against a fresh server and exits 0, and the kcat read shows the records the walkthrough
produced. A command the test does not know fails it, so the README cannot drift from what
is checked here.

Substituted: the address 127.0.0.1:9092 (the test's server), `.venv/bin/python` (this
interpreter), `kraftbridge` and `cargo run --release --` (the built binary, KB_BIN), and
`<cluster-id>` (what the walkthrough's `storage random-uuid` printed). Skipped: the commands
in SKIPPED, each for the reason given there."""
import re
import shlex
import subprocess
import sys

import kb

README = kb.REPO_ROOT / "README.md"
SECTION = "## Quickstart walkthrough"
COMMAND_TIMEOUT_S = 60.0

#: pattern -> why the command is not run (the test starts its own server instead).
SKIPPED = {
    r"kraftbridge quickstart( --dir \S+)?": "starts a server in the foreground",
    r"kraftbridge server server\.properties \[--override key=value \.\.\.\]":
        "starts a server in the foreground",
    r"kafka-topics\.sh --bootstrap-server 127\.0\.0\.1:9092 --create .*":
        "Apache Kafka's own tool, not installed by scripts/test.sh (the Python command "
        "before it creates the topic)",
}
#: patterns of the commands that are run.
RUN = (
    r"kcat -b 127\.0\.0\.1:9092 .*",
    r"\.venv/bin/python -c .*",
    r"printf '[^']*' \|\s+kcat -b 127\.0\.0\.1:9092 -P .*",
    r"kraftbridge storage random-uuid",
    r"kraftbridge storage format -t <cluster-id> -c server\.properties",
)


def walkthrough_commands() -> list[str]:
    """The shell commands of the section's indented code blocks: a line indented 4 spaces
    starts a command, a deeper-indented line continues it; trailing `# ...` comments go."""
    text = README.read_text()
    assert SECTION in text, "README.md has no %r section" % SECTION
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    commands: list[str] = []
    prev_blank = True
    for line in section.splitlines():
        if line.startswith("     ") and commands and not prev_blank:
            commands[-1] += "\n" + line.strip()
        elif line.startswith("    ") and line.strip():
            commands.append(line.strip())
        prev_blank = not line.strip()
    commands = [re.sub(r"\s+#\s[^'\"]*$", "", c) for c in commands]
    # `cargo run --release -- ARGS` is how the README runs the binary before installing it.
    return [re.sub(r"^cargo run --release --(?= )", "kraftbridge", c) for c in commands]


def classify(command: str) -> tuple[str, str | None]:
    """("skip", reason) or ("run", None); AssertionError for a command not known here."""
    flat = " ".join(command.split())
    for pattern, reason in SKIPPED.items():
        if re.fullmatch(pattern, flat):
            return "skip", reason
    for pattern in RUN:
        if re.fullmatch(pattern, flat, re.DOTALL):
            return "run", None
    raise AssertionError("README.md's quickstart has a command this test does not know; add "
                         "it to RUN or SKIPPED in test_readme.py:\n  %s" % command)


def substitute(command: str, bootstrap: str, kb_bin, cluster_id: str | None) -> str:
    cmd = command.replace("127.0.0.1:9092", bootstrap)
    cmd = re.sub(r"^\.venv/bin/python\b", lambda _: shlex.quote(sys.executable), cmd)
    cmd = re.sub(r"^kraftbridge\b", lambda _: shlex.quote(str(kb_bin)), cmd)
    if "<cluster-id>" in cmd:
        assert cluster_id, "the README uses <cluster-id> before `storage random-uuid` printed one"
        cmd = cmd.replace("<cluster-id>", cluster_id)
    return cmd


def produced_records(commands) -> list[tuple[str, str]]:
    """(key, value) of the walkthrough's `printf '...' | kcat -P -K '\\t'`, in order."""
    for c in commands:
        m = re.match(r"printf '([^']*)' \|", c)
        if m:
            lines = m.group(1).encode().decode("unicode_escape").splitlines()
            return [tuple(line.split("\t", 1)) for line in lines]
    raise AssertionError("the walkthrough produces nothing (no `printf ... | kcat -P`)")


def test_readme_quickstart_commands(kb_servers, kb_bin, kcat_bin, tmp_path):
    srv = kb_servers().start().wait_ready()
    own = kb_servers(name="own-config", fmt=False)  # the `storage format` example's node
    workdir = tmp_path / "walkthrough"
    workdir.mkdir()
    (workdir / "server.properties").write_text(own.props_path.read_text())

    commands = walkthrough_commands()
    plan = [(c, *classify(c)) for c in commands]
    skipped = [(c, why) for c, kind, why in plan if kind == "skip"]
    assert 1 <= len(skipped) <= len(SKIPPED), skipped
    assert len(plan) - len(skipped) >= 5, "only %d commands run: %s" % (
        len(plan) - len(skipped), commands)

    cluster_id, outputs = None, {}
    for command, kind, _ in plan:
        if kind == "skip":
            continue
        cmd = substitute(command, srv.bootstrap, kb_bin, cluster_id)
        r = subprocess.run(["bash", "-c", cmd], cwd=workdir, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors="replace", timeout=COMMAND_TIMEOUT_S)
        assert r.returncode == 0, "README command failed (%s):\n  %s\nstdout:\n%s\nstderr:\n%s" % (
            kb.describe_exit(r.returncode), cmd, r.stdout[-2000:], r.stderr[-2000:])
        outputs[command] = r.stdout
        if command == "kraftbridge storage random-uuid":
            cluster_id = r.stdout.strip()
            assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id), r.stdout

    # `storage format` wrote the id `random-uuid` printed.
    meta = kb.read_properties(own.data_dir / "meta.properties")
    assert meta.get("cluster.id") == cluster_id, meta

    # The kcat read (`-C ... -f '%p@%o %k=%s\n'`) shows every produced record, and the
    # records of one key in the order they were produced.
    reads = [out for c, out in outputs.items() if re.match(r"kcat .* -C ", c)]
    assert len(reads) == 1, "expected one kcat -C read in the walkthrough: %s" % list(outputs)
    shown = re.findall(r"^(\d+)@(\d+) (.*?)=(.*)$", reads[0], re.MULTILINE)
    produced = produced_records(commands)
    assert sorted((k, v) for _, _, k, v in shown) == sorted(produced), reads[0]
    for key in {k for k, _ in produced}:
        assert [v for _, _, k, v in shown if k == key] == [v for k2, v in produced
                                                          if k2 == key], reads[0]
