#!/usr/bin/env python3
"""Reads `cargo --message-format=json` output on stdin and prints one line per
executable it built: `kind<TAB>package<TAB>target<TAB>path`, where kind is
`test` (a test suite: lib/bin unit tests or tests/*.rs) or `bench`.

Used by scripts/gpu-check.sh; not carried to the GPU machine.
"""
import json
import sys


def main():
    seen = set()
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        target = msg.get("target", {})
        kinds = target.get("kind", [])
        profile = msg.get("profile", {})
        if "bench" in kinds:
            kind = "bench"
        elif profile.get("test") or "test" in kinds:
            kind = "test"
        else:
            continue  # plain binaries and examples are not test suites
        # package_id: "path+file:///work/main/runtime#spindle-runtime@0.1.0"
        # (or the older "name version (source)" form).
        pkg = msg.get("package_id", "")
        if "#" in pkg:
            url, frag = pkg.rsplit("#", 1)
            # `name@version`, or just `version` when the name is the folder's.
            pkg = frag.split("@", 1)[0] if "@" in frag else url.rstrip("/").rsplit("/", 1)[-1]
        else:
            pkg = pkg.split(" ", 1)[0]
        path = msg["executable"]
        if path in seen:
            continue
        seen.add(path)
        print("\t".join([kind, pkg, target.get("name", "?"), path]))


if __name__ == "__main__":
    main()
