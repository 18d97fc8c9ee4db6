#!/usr/bin/env bash
# Checks the declared rust-version against Cargo.lock: fails when a workspace
# member declares none, or when a locked package that the member needs
# declares a newer rust-version than the member does. "Needs" is everything
# the member's build and tests pull in, directly or not: every feature on,
# every target platform, the member's own dev-dependencies, and the normal
# and build dependencies of everything below it. Locked packages that
# declare no rust-version cannot be checked; they are counted.
#
# Usage: scripts/check-msrv.sh [VERSION]
#   VERSION: check as if every member declared VERSION (e.g. to see what
#   stands in the way of a lower one) instead of what they declare.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo metadata --format-version 1 --locked --all-features |
  python3 -c '
import json, sys

def parse(v):
    return tuple(int(x) for x in (v.split(".") + ["0", "0"])[:3])

override = sys.argv[1] if len(sys.argv) > 1 else None
meta = json.load(sys.stdin)
packages = {p["id"]: p for p in meta["packages"]}
members = set(meta["workspace_members"])
# What building a package needs: its normal and build dependencies; a
# member checked for itself also needs its dev-dependencies (its tests).
edges = {
    n["id"]: [(d["pkg"], {k["kind"] for k in d["dep_kinds"]}) for d in n["deps"]]
    for n in meta["resolve"]["nodes"]
}

def declared(i):
    return override or packages[i].get("rust_version")

problems = {}
missing = []
highest = None
unknown = set()
for member in sorted(members, key=lambda i: packages[i]["name"]):
    name = packages[member]["name"]
    if not declared(member):
        missing.append(name)
        continue
    seen = set()
    todo = [pkg for pkg, _ in edges[member]]
    while todo:
        i = todo.pop()
        if i in seen or i == member:
            continue
        seen.add(i)
        todo.extend(pkg for pkg, kinds in edges.get(i, []) if kinds != {"dev"})
    for i in seen:
        needs = declared(i) if i in members else packages[i].get("rust_version")
        if not needs:
            unknown.add(i)
            continue
        if i not in members and (highest is None or parse(needs) > parse(highest[0])):
            highest = (needs, i)
        if parse(needs) > parse(declared(member)):
            problems.setdefault(i, (needs, []))[1].append(f"{name} ({declared(member)})")

def named(i):
    return packages[i]["name"] + " " + packages[i]["version"]

for name in missing:
    print(f"{name} declares no rust-version")
for i, (needs, by) in sorted(problems.items(), key=lambda kv: ([-x for x in parse(kv[1][0])], named(kv[0]))):
    print(f"{named(i)} in Cargo.lock needs Rust {needs}, newer than declared by " + ", ".join(by))
if missing or problems:
    sys.exit(1)
print(f"rust-version holds for every workspace member: the highest a dependency needs is {highest[0]} ({named(highest[1])}); {len(unknown)} dependencies declare none and are not checked")
' "$@"
