#!/usr/bin/env python3
"""Transcribe Apache Kafka message schemas (JSON) into kraftbridge's compact `.kdef` format.

Kafka's `*.json` message definitions are the source of facts (field names, types, versions);
the `.kdef` files checked in beside this script are ours and are what `protocol/build.rs`
reads. This script was used once per file against Kafka 3.9.0 and is kept so that a definition
can be re-checked against Kafka's. Usage:

    transcribe.py KAFKA_CHECKOUT_FILE.json [...] > name.kdef

Format (one line per message / field, indentation = nesting, two spaces per level):

    request MetadataRequest key=3 v0-12 flex=9+
      Topics []MetadataRequestTopic v0+ null=1+
        TopicId uuid v10+
    common SomeSharedStruct            # a struct shared by several fields of the message above

Field options: `null=R` nullable versions, `tag=N tagged=R` tagged field, `default=V`,
`ignorable` (may be dropped silently by an older version's encoder).
"""
import json
import re
import sys


def load(path):
    text = "".join(l for l in open(path) if not l.lstrip().startswith("//"))
    return json.loads(text)


def field_lines(fields, depth, out):
    for f in fields:
        parts = [f["name"], f["type"], "v" + f.get("versions", f.get("taggedVersions", "0+"))]
        if "nullableVersions" in f:
            parts.append("null=" + f["nullableVersions"])
        if "tag" in f:
            parts.append("tag=%d" % int(f["tag"]))
            parts.append("tagged=" + f["taggedVersions"])
        if "default" in f:
            d = str(f["default"])
            if d in ("True", "False"):
                d = d.lower()
            if d == "None":
                d = "null"
            if d == "":
                d = '""'
            parts.append("default=" + d)
        if f.get("ignorable"):
            parts.append("ignorable")
        out.append("  " * depth + " ".join(parts))
        if "fields" in f:
            field_lines(f["fields"], depth + 1, out)


def transcribe(path):
    m = load(path)
    kind = m["type"]
    head = [kind, m["name"]]
    if "apiKey" in m:
        head.append("key=%d" % m["apiKey"])
    head.append("v" + m["validVersions"])
    head.append("flex=" + m.get("flexibleVersions", "none"))
    out = [" ".join(head)]
    field_lines(m.get("fields", []), 1, out)
    for s in m.get("commonStructs", []):
        out.append("common %s v%s" % (s["name"], s.get("versions", "0+")))
        field_lines(s["fields"], 1, out)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    for p in sys.argv[1:]:
        sys.stdout.write(transcribe(p))
