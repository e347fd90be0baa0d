#!/usr/bin/env python3
"""Inclusive time per function of a Go binary without a symbol table (HashiCorp's release builds
of Terraform), from a `perf record --call-graph fp` file: Go keeps its function table
(.gopclntab) for tracebacks, and `go tool addr2line` (Go >= 1.20) reads it.

    go_profile.py PERF_DATA GO_BINARY [OTHER_PERF_DATA]

With a second perf file (the same command on the baseline, e.g. the null provider's fleet) it
prints both columns and sorts by the difference. Not part of the test suite."""
import collections
import subprocess
import sys

# perf prints call-chain addresses of a non-PIE Go binary relative to its first text page.
TEXT_BASE = 0x400000


def samples(data: str, binary: str):
    out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,ip,dso"],
                         capture_output=True, text=True, check=True).stdout
    stacks, cur = [], None
    for line in out.splitlines():
        if not line.strip():
            if cur is not None:
                stacks.append(cur)
            cur = None
        elif cur is None:
            cur = {"comm": line.split()[0], "ips": []}
        else:
            parts = line.split()
            if len(parts) >= 2:
                cur["ips"].append((parts[0], parts[-1]))
    if cur is not None:
        stacks.append(cur)
    comm = binary.rsplit("/", 1)[-1][:15]
    return [s for s in stacks if s["comm"] == comm]


def inclusive(data: str, binary: str) -> tuple[int, collections.Counter]:
    stacks = samples(data, binary)
    ips = sorted({ip for s in stacks for ip, dso in s["ips"] if binary in dso})
    text = "\n".join(hex(int(ip, 16) + TEXT_BASE) for ip in ips) + "\n"
    lines = subprocess.run(["go", "tool", "addr2line", binary], input=text,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    names = {ip: lines[2 * k] for k, ip in enumerate(ips)}
    counts = collections.Counter()
    for s in stacks:
        for name in {names.get(ip, dso) for ip, dso in s["ips"]}:
            counts[name] += 1
    return len(stacks), counts


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    data, binary = sys.argv[1], sys.argv[2]
    n, a = inclusive(data, binary)
    if len(sys.argv) > 3:
        m, b = inclusive(sys.argv[3], binary)
        print(f"samples: {n} / {m} (inclusive; columns: this run, baseline, difference)")
        rows = sorted(set(a) | set(b), key=lambda k: a[k] - b[k], reverse=True)
        for k in rows[:60]:
            print(f"{a[k]:7d} {b[k]:7d} {a[k] - b[k]:+7d}  {k}")
    else:
        print(f"samples: {n} (inclusive)")
        for k, c in a.most_common(60):
            print(f"{c:7d} {100 * c / n:5.1f}%  {k}")


if __name__ == "__main__":
    main()
