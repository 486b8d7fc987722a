#!/usr/bin/env python3
"""Checks the shape of the workspace (run by .ci/run; no dependencies beyond Python 3.11).

1. Crates depend one way, along the flow of data (image -> transform -> backbone -> rpn ->
   roi heads -> mask head; dataset -> loader -> trainer): every `mrcnn-*` dependency of a crate
   must be one it is allowed below (ALLOWED), so no crate depends on one above it.
2. No library crate depends on clap: flags, printing and exit codes live in crates/cli.
3. No library prints: `print!`, `println!`, `eprint!`, `eprintln!` and `dbg!` appear only in
   crates/cli, tests, examples and `#[cfg(test)]` modules (libraries log with `tracing`).
4. No module imports a module that imports it back, directly or in a circle, within a crate
   (`use crate::x`, `crate::x::`, `super::x`, and names re-exported by lib.rs). Test modules
   (`#[cfg(test)] mod tests`) are not counted.

Usage: python3 tools/check_layers.py [WORKSPACE]   (exit status 1 and one line per problem on failure)
"""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent

# The intended graph: each crate and the mrcnn crates it may use (normal dependencies).
ALLOWED = {
    "mrcnn-config": set(),
    "mrcnn-coco": set(),
    "mrcnn-core": {"mrcnn-config"},
    "mrcnn-testing": {"mrcnn-config", "mrcnn-core"},
    "mrcnn-backbone": {"mrcnn-config", "mrcnn-core"},
    "mrcnn-rpn": {"mrcnn-config", "mrcnn-core"},
    "mrcnn-mask-head": {"mrcnn-config", "mrcnn-core"},
    "mrcnn-roi-heads": {"mrcnn-config", "mrcnn-core", "mrcnn-mask-head"},
    "mrcnn-import": {"mrcnn-config"},
    "mrcnn-model": {
        "mrcnn-config", "mrcnn-core", "mrcnn-backbone", "mrcnn-rpn", "mrcnn-roi-heads",
        "mrcnn-mask-head", "mrcnn-import", "mrcnn-coco",
    },
    "mrcnn-data": {"mrcnn-config", "mrcnn-coco"},
    "mrcnn-eval": {"mrcnn-coco"},
    "mrcnn-draw": {"mrcnn-coco", "mrcnn-eval"},
    "mrcnn-train": {
        "mrcnn-config", "mrcnn-coco", "mrcnn-core", "mrcnn-data", "mrcnn-draw", "mrcnn-eval",
        "mrcnn-import", "mrcnn-model",
    },
    "mrcnn": None,  # the command line may use every crate
}
BINARY = "mrcnn"


def crates():
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    for m in members:
        manifest = tomllib.loads((ROOT / m / "Cargo.toml").read_text())
        yield ROOT / m, manifest


def check_crates(problems):
    for path, manifest in crates():
        name = manifest["package"]["name"]
        deps = set(manifest.get("dependencies", {}))
        if name not in ALLOWED:
            problems.append(f"{path.name}: crate {name} is not in tools/check_layers.py's ALLOWED")
            continue
        allowed = ALLOWED[name]
        if allowed is not None:
            for d in sorted(x for x in deps if x.startswith("mrcnn")):
                if d not in allowed:
                    problems.append(f"{name} depends on {d}, which is not below it in the flow")
        if name != BINARY and "clap" in deps:
            problems.append(f"{name} depends on clap; flags belong in crates/cli")


def check_printing(problems):
    for path, manifest in crates():
        name = manifest["package"]["name"]
        if name in (BINARY, "mrcnn-testing"):
            continue
        for f in sorted((path / "src").rglob("*.rs")):
            text = strip_tests(f.read_text())
            for m in re.finditer(r"\b(e?print(ln)?|dbg)!\(", text):
                line = text[: m.start()].count("\n") + 1
                problems.append(f"{f.relative_to(ROOT)}:{line}: {m.group(1)}! in a library")


def strip_tests(text):
    """The source without `#[cfg(test)]` modules and comments."""
    text = re.sub(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{.*", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return text


def modules(src):
    """Module path (tuple) -> file, for the files of one crate's src/."""
    out = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "mod":
            parts = parts[:-1]
        if parts in (["lib"], ["main"]):
            parts = []
        out[tuple(parts)] = f
    return out


def root_reexports(text, mods):
    """Names that lib.rs re-exports with `pub use x::...` -> the module path they come from."""
    names = {}
    for m in re.finditer(r"pub use (\w+)::(\{[^}]*\}|[\w:]+)\s*;", text):
        first = m.group(1)
        if (first,) not in mods:
            continue
        body = m.group(2).strip("{}")
        for item in body.split(","):
            item = item.strip()
            if not item:
                continue
            name = item.split(" as ")[-1].split("::")[-1].strip()
            names[name] = (first,)
    return names


def resolve(path, mods, here):
    """The longest module prefix of `path` (a tuple) that is a module of the crate."""
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in mods:
            return tuple(path[:n])
    return None


def check_modules(problems):
    for path, manifest in crates():
        src = path / "src"
        mods = modules(src)
        root_file = mods.get(())
        reexports = root_reexports(root_file.read_text(), mods) if root_file else {}
        edges = {m: set() for m in mods if m}
        for m, f in mods.items():
            if not m:
                continue
            text = strip_tests(f.read_text())
            parent = m[:-1]
            targets = set()
            for u in re.finditer(r"\bcrate::((?:\w+::)*\w+)", text):
                segs = u.group(1).split("::")
                t = resolve(segs, mods, m)
                if t is None and segs[0] in reexports:
                    t = reexports[segs[0]]
                if t:
                    targets.add(t)
            for u in re.finditer(r"\bsuper::((?:\w+::)*\w+)", text):
                segs = list(parent) + u.group(1).split("::")
                t = resolve(segs, mods, m)
                if t is None and not parent and segs[0] in reexports:
                    t = reexports[segs[0]]
                if t:
                    targets.add(t)
            # `use crate::{a, b::C}` groups.
            for u in re.finditer(r"\bcrate::\{([^}]*)\}", text):
                for item in u.group(1).split(","):
                    segs = item.strip().split("::")
                    if segs and segs[0]:
                        t = resolve(segs, mods, m) or reexports.get(segs[0])
                        if t:
                            targets.add(t)
            for t in targets:
                # A module may use its own descendants and ancestors; circles between siblings
                # (and their subtrees) are what is checked.
                if t and t != m and t[: len(m)] != m and m[: len(t)] != t:
                    edges[m].add(t)
        for cycle in circles(edges):
            names = ", ".join("::".join(c) for c in cycle)
            problems.append(
                f"{manifest['package']['name']}: modules that import each other in a circle: {names}"
            )


def circles(edges):
    """The strongly connected components of more than one node (each holds a circle)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def main():
    problems = []
    check_crates(problems)
    check_printing(problems)
    check_modules(problems)
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print("layers: crates depend one way, clap only in crates/cli, no printing libraries, no module circles")


if __name__ == "__main__":
    main()
