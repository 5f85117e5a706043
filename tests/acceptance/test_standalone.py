"""A clone stands on its own: no code, script, test or CI file refers to the `shared` directory
that sits beside the clone in CI (its tools and spec are reading material, not dependencies).

Scanned: the tracked files (`git ls-files`) under src/, scripts/, tests/, .ci/, protocol/,
metadata/, storage/, kraft/, and every Cargo.toml and Cargo.lock; not *.md files, and not the
comments of .rs files (documentation cites what the repository holds; that is reviewed, not
tested). Allowed: the lines in ALLOWED, which run the optional cross-check."""
import re
import subprocess

import kb

SCANNED_DIRS = ("src", "scripts", "tests", ".ci", "protocol", "metadata", "storage", "kraft")
#: What a reference to the sibling directory looks like (case-insensitive): a path with a
#: component named `shared`, or its `tools` and `spec` folders.
REFERENCE = re.compile(r"""\.\./shared|[/\\"']shared\b|shared/(tools|spec)""", re.IGNORECASE)
#: file -> the exact (stripped) lines allowed to refer to it. Keep this tiny.
ALLOWED = {
    # where .ci/run finds the directory, to hide it and to run the optional cross-check
    ".ci/run": {
        "SHARED_DIR=$(cd .. && pwd)/shared  # beside the clone in CI: hidden from the suite",
    },
    # KB_HIDE_SHARED=1: the acceptance tests refuse to touch it
    "tests/acceptance/conftest.py": {
        'SIBLING_SHARED = kb.REPO_ROOT.parent / "shared"',
    },
    # this file names the patterns it looks for
    "tests/acceptance/test_standalone.py": None,
}


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-z", "--", *SCANNED_DIRS, "Cargo.toml",
                          "Cargo.lock", "*/Cargo.toml"], cwd=kb.REPO_ROOT,
                         stdout=subprocess.PIPE, check=True).stdout
    return sorted({p for p in out.decode().split("\0") if p and not p.endswith(".md")})


def strip_rust_comments(text: str) -> str:
    """`text` with // and (nested) /* */ comments blanked out, string and char literals kept;
    line structure kept so that line numbers still match."""
    out, i, n, depth = [], 0, len(text), 0
    while i < n:
        c, nxt = text[i], text[i + 1:i + 2]
        if depth:
            if c == "*" and nxt == "/":
                depth, i = depth - 1, i + 2
            elif c == "/" and nxt == "*":
                depth, i = depth + 1, i + 2
            else:
                out.append("\n" if c == "\n" else " ")
                i += 1
        elif c == "/" and nxt == "/":
            while i < n and text[i] != "\n":
                i += 1
        elif c == "/" and nxt == "*":
            depth, i = 1, i + 2
        elif c == "r" and re.match(r'r#*"', text[i:i + 300]):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append(text[i:end])
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif c == "'" and (re.match(r"'\\", text[i:i + 2]) or text[i + 2:i + 3] == "'"):
            j = text.find("'", i + 2 if nxt != "\\" else i + 3)
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def test_strip_rust_comments():
    src = 'let a = "//x"; // gone\n/* gone /* nested */ gone */ let b = \'"\'; /** g */\nc'
    assert strip_rust_comments(src).split() == ['let', 'a', '=', '"//x";', 'let', 'b', '=',
                                                "'\"';", 'c']


def test_no_reference_to_the_sibling_shared_directory():
    files = tracked_files()
    assert any(f.startswith("src/") for f in files) and ".ci/run" in files, files[:5]
    found, used = [], set()
    for path in files:
        allowed = ALLOWED.get(path, set())
        if allowed is None:
            continue
        try:
            text = (kb.REPO_ROOT / path).read_text()
        except UnicodeDecodeError:
            continue  # binary (golden frames, fuzz corpora)
        if path.endswith(".rs"):
            text = strip_rust_comments(text)
        for no, line in enumerate(text.splitlines(), 1):
            if not REFERENCE.search(line):
                continue
            if line.strip() in allowed:
                used.add((path, line.strip()))
            else:
                found.append("%s:%d: %s" % (path, no, line.strip()[:160]))
    assert not found, ("references to the directory beside the clone (a clone must stand "
                       "alone; see test_standalone.py):\n  " + "\n  ".join(found))
    stale = [(p, ln) for p, lines in ALLOWED.items() if lines for ln in lines
             if (p, ln) not in used]
    assert not stale, "allow-list lines no longer in the files (remove them): %s" % stale
