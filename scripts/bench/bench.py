#!/usr/bin/env python3
"""The benchmark driver behind scripts/bench.sh (Python 3.11, standard library only).

For each N: a fresh emulator with N tenants, then the m365backup configuration (N x service app +
billing enablement) and the null-provider baseline (N x two null_resource), each in its own working
directory. Every terraform command is timed; every provider process runs under a small wrapper that
records its peak RSS and CPU time with GNU time (the wrapper writes nothing to stdout, so the
go-plugin handshake is untouched); the emulator's request log is reset before and read after every
m365backup command, and its entries are attributed to provider processes by time.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import re
import resource
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

M365_SOURCE = "registry.terraform.io/m365backup/m365backup"
NULL_SOURCE = "registry.terraform.io/hashicorp/null"
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
RSS_LIMIT_MIB = 50.0
REMOVED_ENV = [
    "RUST_BACKTRACE", "TF_LOG", "TF_LOG_PROVIDER", "TF_LOG_CORE", "TF_LOG_PATH", "TF_CLI_ARGS",
    "TF_CLI_ARGS_plan", "TF_CLI_ARGS_apply", "TF_WORKSPACE", "TF_DATA_DIR", "TF_PLUGIN_CACHE_DIR",
]


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Configurations


def tenant_ids(n: int) -> list[str]:
    """Deterministic, valid-looking tenant GUIDs."""
    return [f"be7c0000-0000-4000-8000-{i:012d}" for i in range(1, n + 1)]


M365_CONFIG = """\
terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}

variable "tenants" {
  type = set(string)
}

provider "m365backup" {}

resource "m365backup_service_app" "t" {
  for_each  = var.tenants
  tenant_id = each.key
}

resource "m365backup_billing_enablement" "t" {
  for_each            = var.tenants
  tenant_id           = each.key
  app_owner_tenant_id = each.key
  depends_on          = [m365backup_service_app.t]
}
"""

NULL_CONFIG = """\
terraform {
  required_providers {
    null = {
      source  = "hashicorp/null"
      version = "2.1.2"
    }
  }
}

variable "tenants" {
  type = set(string)
}

resource "null_resource" "app" {
  for_each = var.tenants
  triggers = {
    tenant_id = each.key
  }
}

resource "null_resource" "billing" {
  for_each = var.tenants
  triggers = {
    tenant_id           = each.key
    app_owner_tenant_id = each.key
  }
  depends_on = [null_resource.app]
}
"""

WRAPPER = """\
#!/bin/sh
# Written by scripts/bench/bench.py: runs the real provider under GNU time, which writes its
# report to a file (never to stdout: the go-plugin handshake line must stay the first line there).
d="${{BENCH_RUSAGE_DIR:?BENCH_RUSAGE_DIR is not set}}"
: > "$d/start.$$"
exec /usr/bin/time -o "$d/done.$$" -f '%M %U %S %e %x' {real} "$@"
"""


# --------------------------------------------------------------------------------------------
# Emulator


class Emulator:
    def __init__(self, binary: Path, state_dir: Path, log_dir: Path):
        state_dir.mkdir(parents=True, exist_ok=True)
        self.env_file = log_dir / "emulator.env"
        self.stderr_file = log_dir / "emulator.log"
        with open(self.env_file, "w") as out, open(self.stderr_file, "w") as err:
            self.proc = subprocess.Popen(
                [str(binary), "--listen", "127.0.0.1:0", "--state-dir", str(state_dir), "--print-env"],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            )
        self.env: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = self.env_file.read_text()
            if "M365BACKUP_DELEGATED_REFRESH_TOKEN=" in text and text.endswith("\n"):
                break
            if self.proc.poll() is not None:
                raise SystemExit(f"bench: emulator exited: {self.stderr_file.read_text()[-2000:]}")
            time.sleep(0.05)
        else:
            self.stop()
            raise SystemExit("bench: the emulator did not print its environment within 30 s")
        for line in self.env_file.read_text().splitlines():
            if line.startswith("export "):
                key, _, value = line[len("export "):].partition("=")
                parts = shlex.split(value) if value else [""]
                self.env[key] = parts[0] if parts else ""
        url = self.env.get("M365BACKUP_EMULATOR_URL") or self.env["M365BACKUP_GRAPH_ENDPOINT"]
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 443
        self.ctx = ssl.create_default_context(cafile=self.env["SSL_CERT_FILE"])
        self.conn: http.client.HTTPSConnection | None = None

    def admin(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if resp.status >= 300:
                raise SystemExit(f"bench: admin {method} {path}: {resp.status} {payload[:500]!r}")
            return json.loads(payload) if payload.strip() else None
        return None

    def create_tenants(self, ids: list[str]) -> None:
        for tid in ids:
            self.admin("PUT", f"/_emulator/tenants/{tid}", {"controller": "none"})

    def reset_log(self) -> None:
        self.admin("DELETE", "/_emulator/requests")

    def requests(self) -> list[dict]:
        return self.admin("GET", "/_emulator/requests") or []

    def cpu_s(self) -> float:
        """User+system CPU the emulator process has used so far (it shares the machine)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------------------------
# Terraform runs


@dataclass
class Proc:
    pid: int
    start_ns: int
    end_ns: int | None
    rss_kib: int | None
    cpu_s: float | None
    wall_s: float | None
    exit: str | None


@dataclass
class Run:
    provider: str  # "m365backup" | "null"
    n: int
    op: str  # "apply" | "refresh" | "norefresh"
    index: int
    wall_s: float
    code: int
    procs: list[Proc]
    log_path: Path
    cpu_all_s: float = 0.0
    requests: dict | None = None
    emulator_cpu_s: float | None = None

    @property
    def rss_mib(self) -> float | None:
        vals = [p.rss_kib for p in self.procs if p.rss_kib is not None]
        return max(vals) / 1024 if vals else None

    @property
    def tf_cpu_s(self) -> float:
        """CPU of terraform itself (and the wrappers): everything but the provider processes."""
        return max(0.0, self.cpu_all_s - (self.cpu_s or 0.0))

    @property
    def cpu_s(self) -> float | None:
        vals = [p.cpu_s for p in self.procs if p.cpu_s is not None]
        return sum(vals) if vals else None


def read_procs(rusage_dir: Path, wait_s: float = 10.0) -> list[Proc]:
    """One entry per provider process the wrapper started, waiting for late exits."""
    deadline = time.monotonic() + wait_s
    while True:
        starts = {p.name.split(".", 1)[1] for p in rusage_dir.glob("start.*")}
        dones = {p.name.split(".", 1)[1] for p in rusage_dir.glob("done.*")}
        if starts <= dones or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    procs = []
    for pid in sorted(starts, key=int):
        start_ns = (rusage_dir / f"start.{pid}").stat().st_mtime_ns
        done = rusage_dir / f"done.{pid}"
        if not done.exists():
            procs.append(Proc(int(pid), start_ns, None, None, None, None, None))
            continue
        lines = [l for l in done.read_text().splitlines() if l.strip()]
        fields = lines[-1].split() if lines else []
        try:
            rss, user, sys_, elapsed, code = fields[:5]
            procs.append(Proc(int(pid), start_ns, done.stat().st_mtime_ns, int(rss),
                              float(user) + float(sys_), float(elapsed),
                              code if len(lines) == 1 else f"{code} ({lines[0].strip()})"))
        except ValueError:
            procs.append(Proc(int(pid), start_ns, done.stat().st_mtime_ns, None, None, None, " ".join(lines)))
    return procs


class Terraform:
    def __init__(self, binary: str, base_env: dict[str, str]):
        self.binary = binary
        self.base_env = base_env
        out = subprocess.run([binary, "version", "-json"], capture_output=True, text=True, env=base_env)
        try:
            self.version = json.loads(out.stdout)["terraform_version"]
        except (ValueError, KeyError):
            self.version = subprocess.run([binary, "version"], capture_output=True, text=True,
                                          env=base_env).stdout.split("\n")[0]

    def run(self, args: list[str], cwd: Path, env: dict[str, str], log_path: Path,
            rusage_dir: Path) -> tuple[float, int, list[Proc]]:
        shutil.rmtree(rusage_dir, ignore_errors=True)
        rusage_dir.mkdir(parents=True)
        full_env = dict(self.base_env)
        full_env.update(env)
        full_env["BENCH_RUSAGE_DIR"] = str(rusage_dir)
        with open(log_path, "w") as out:
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            p = subprocess.run([self.binary, *args], cwd=cwd, env=full_env, stdout=out,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            wall = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU of terraform and every process it waited for (its providers included).
        cpu_all = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        return wall, p.returncode, read_procs(rusage_dir), cpu_all


# --------------------------------------------------------------------------------------------
# Request log analysis


def parse_time_ns(text: str) -> int | None:
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text or "")
    if not m:
        return None
    base = datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
    frac = (m.group(2) or "0")[:9].ljust(9, "0")
    return int(base.timestamp()) * 1_000_000_000 + int(frac)


def call_name(e: dict) -> str:
    path = e.get("path", "").split("?", 1)[0]
    return f"{e.get('method', '?')} {GUID.sub('{id}', path)}"


def is_token(e: dict) -> bool:
    return e.get("path", "").split("?", 1)[0].endswith("/oauth2/v2.0/token")


def is_graph(e: dict) -> bool:
    path = e.get("path", "")
    return path.startswith("/v1.0/") or path.startswith("/beta/")


def analyse(entries: list[dict], resources: int, procs: list[Proc]) -> dict:
    graph = [e for e in entries if is_graph(e)]
    tokens = [e for e in entries if is_token(e)]
    other = [e for e in entries if not is_graph(e) and not is_token(e)]

    # Attribute every entry to the provider process alive at its time (the emulator's clock is
    # the wall clock unless advanced, and the bench never advances it).
    def owner(e: dict) -> int | None:
        t = parse_time_ns(e.get("time", ""))
        if t is None:
            return None
        for p in procs:
            end = p.end_ns if p.end_ns is not None else 1 << 62
            if p.start_ns - 50_000_000 <= t <= end + 50_000_000:
                return p.pid
        return None

    per_proc_pairs: dict[int | None, set] = collections.defaultdict(set)
    per_proc_tokens: dict[int | None, collections.Counter] = collections.defaultdict(collections.Counter)
    for e in graph:
        per_proc_pairs[owner(e)].add((e.get("tenant"), e.get("token_kind")))
    for e in tokens:
        per_proc_tokens[owner(e)][e.get("tenant")] += 1
    pairs = {(e.get("tenant"), e.get("token_kind")) for e in graph}
    kinds = sorted({str(k) for _, k in pairs})
    tenants = {t for t, _ in pairs}
    expected_tokens = sum(len(s) for s in per_proc_pairs.values())
    # Duplicate token requests within one process: more token requests for a tenant than token
    # kinds that process used there.
    dup = 0
    for pid, counter in per_proc_tokens.items():
        used = collections.Counter(t for t, _ in per_proc_pairs.get(pid, set()))
        for tenant, count in counter.items():
            dup += max(0, count - used.get(tenant, 0))
    by_call = collections.Counter(call_name(e) for e in graph)
    gets = sum(1 for e in graph if e.get("method") == "GET")
    statuses = collections.Counter(str(e.get("status")) for e in graph + tokens
                                   if not str(e.get("status", "")).startswith("2"))
    return {
        "graph": len(graph),
        "graph_gets": gets,
        "graph_per_resource": len(graph) / resources if resources else 0.0,
        "gets_per_resource": gets / resources if resources else 0.0,
        "by_call": dict(by_call.most_common()),
        "tokens": len(tokens),
        "pairs": len(pairs),
        "tenants": len(tenants),
        "kinds": kinds,
        "expected_tokens": expected_tokens,
        "token_dups": dup,
        "processes_with_graph": len([k for k in per_proc_pairs if k is not None]),
        "unattributed": len(per_proc_pairs.get(None, ())) + sum(per_proc_tokens.get(None, {}).values()),
        "non_2xx": dict(statuses),
        "other": len(other),
        "other_calls": dict(collections.Counter(call_name(e) for e in other)),
    }


# --------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args):
        self.args = args
        self.out_dir = Path(args.out_dir)
        self.work = self.out_dir / "work"
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.runs: list[Run] = []
        self.load_start = os.getloadavg()
        base_env = {k: v for k, v in os.environ.items() if k not in REMOVED_ENV}
        base_env.update({"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_INPUT": "0"})
        self.tf = Terraform(args.terraform, base_env)
        # Wrappers and the CLI configuration (dev_overrides for both providers).
        wrap = self.work / "providers"
        for name, real, source in [("m365backup", args.provider, M365_SOURCE),
                                   ("null", args.null_provider, NULL_SOURCE)]:
            d = wrap / name
            d.mkdir(parents=True)
            w = d / f"terraform-provider-{name}"
            w.write_text(WRAPPER.format(real=shlex.quote(str(Path(real).resolve()))))
            w.chmod(0o755)
        self.cli_config = self.work / "terraformrc"
        self.cli_config.write_text(
            "provider_installation {\n  dev_overrides {\n"
            f'    "{M365_SOURCE}" = "{wrap / "m365backup"}"\n'
            f'    "{NULL_SOURCE}" = "{wrap / "null"}"\n'
            "  }\n  direct {}\n}\n"
        )

    def tf_run(self, provider: str, n: int, op: str, index: int, cwd: Path, env: dict,
               emu: Emulator | None) -> Run:
        args = {
            "apply": ["apply", "-auto-approve", "-input=false", "-no-color"],
            "refresh": ["plan", "-input=false", "-no-color", "-detailed-exitcode"],
            "norefresh": ["plan", "-refresh=false", "-input=false", "-no-color", "-detailed-exitcode"],
        }[op]
        emu_cpu0 = None
        if emu is not None:
            emu.reset_log()
            emu_cpu0 = emu.cpu_s()
        log_path = cwd.parent / f"{provider}-{op}-{index}.log"
        wall, code, procs, cpu_all = self.tf.run(args, cwd, env, log_path,
                                                 cwd.parent / f"rusage-{provider}")
        run = Run(provider, n, op, index, wall, code, procs, log_path, cpu_all)
        if emu is not None:
            run.emulator_cpu_s = emu.cpu_s() - emu_cpu0
            entries = emu.requests()
            (cwd.parent / f"{provider}-{op}-{index}.requests.json").write_text(json.dumps(entries))
            run.requests = analyse(entries, 2 * n, procs)
        ok_codes = (0,) if op != "apply" else (0,)
        if code not in ok_codes:
            tail = "\n".join(log_path.read_text().splitlines()[-40:])
            what = "has changes (exit 2)" if code == 2 else f"failed (exit {code})"
            if code == 2:
                log(f"WARNING: {provider} {op} N={n} {what}; see {log_path}")
            else:
                raise SystemExit(f"bench: terraform {' '.join(args)} ({provider}, N={n}) {what}\n{tail}")
        missing = [p.pid for p in procs if p.rss_kib is None]
        extra = ""
        if run.requests:
            r = run.requests
            extra = f", graph {r['graph']} ({r['gets_per_resource']:.2f} GET/res), tokens {r['tokens']}"
        log(f"  {provider:10s} {op:9s} #{index} {wall:7.2f}s  procs {len(procs)}"
            f" rss {run.rss_mib or 0:.1f} MiB cpu {run.cpu_s or 0:.2f}s"
            f" (terraform core {run.tf_cpu_s:.2f}s"
            + (f", emulator {run.emulator_cpu_s:.2f}s" if run.emulator_cpu_s is not None else "")
            + f"){extra}"
            + (f"  (no rusage for pids {missing})" if missing else ""))
        self.runs.append(run)
        return run

    def bench_n(self, n: int) -> None:
        log(f"N = {n}: {n} tenants, {2 * n} resources per provider")
        nd = self.work / f"n{n}"
        emu = Emulator(Path(self.args.emulator), nd / "emulator-state", nd.mkdir(parents=True) or nd)
        try:
            ids = tenant_ids(n)
            t0 = time.perf_counter()
            emu.create_tenants(ids)
            log(f"  created {n} tenants in {time.perf_counter() - t0:.1f}s")
            dirs = {}
            for provider, config in [("m365backup", M365_CONFIG), ("null", NULL_CONFIG)]:
                d = nd / provider
                d.mkdir()
                (d / "main.tf").write_text(config)
                (d / "terraform.tfvars.json").write_text(json.dumps({"tenants": ids}, indent=1))
                dirs[provider] = d
            env = dict(emu.env)
            env["TF_CLI_CONFIG_FILE"] = str(self.cli_config)
            env.pop("TF_LOG", None)
            for provider in ("m365backup", "null"):
                self.tf_run(provider, n, "apply", 1, dirs[provider], env,
                            emu if provider == "m365backup" else None)
            for op in ("refresh", "norefresh"):
                for i in range(1, self.args.runs + 1):
                    # Interleaved, and in alternating order (ABBA...), so that noise and drift
                    # on the shared machine hit both alike.
                    order = ("m365backup", "null") if i % 2 else ("null", "m365backup")
                    for provider in order:
                        self.tf_run(provider, n, op, i, dirs[provider], env,
                                    emu if provider == "m365backup" else None)
        finally:
            emu.stop()

    # ----------------------------------------------------------------------------------------
    # Report

    def select(self, provider: str, n: int, op: str) -> list[Run]:
        return [r for r in self.runs if r.provider == provider and r.n == n and r.op == op]

    def best(self, provider: str, n: int, op: str) -> Run | None:
        runs = self.select(provider, n, op)
        return min(runs, key=lambda r: r.wall_s) if runs else None

    def median(self, provider: str, n: int, op: str) -> float | None:
        walls = sorted(r.wall_s for r in self.select(provider, n, op))
        if not walls:
            return None
        mid = len(walls) // 2
        return walls[mid] if len(walls) % 2 else (walls[mid - 1] + walls[mid]) / 2

    def report(self, ns: list[int]) -> tuple[str, list[str], bool]:
        def f(x, fmt="{:.2f}"):
            return "–" if x is None else fmt.format(x)

        def ratio(a, b):
            return None if a is None or b in (None, 0) else a / b

        lines = []
        lines.append(f"# terraform-provider-m365backup benchmark\n")
        lines.append(f"- terraform {self.tf.version} (`{self.args.terraform}`), default -parallelism (10)")
        lines.append(f"- m365backup provider: `{self.args.provider}`; baseline: HashiCorp null 2.1.2 "
                     f"(`{self.args.null_provider}`)")
        lines.append(f"- machine: {os.cpu_count()} CPUs, load average at start "
                     f"{' '.join(f'{x:.2f}' for x in self.load_start)}, at end "
                     f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
        lines.append(f"- apply once; plans best of {self.args.runs}, m365backup and null interleaved. "
                     "Resources per provider = 2 × N. RSS = peak over the provider processes of the "
                     "command; CPU = user+sys summed over them (best run's). The emulator stands in "
                     "for Microsoft's servers but shares this machine's CPUs with terraform, so its "
                     "CPU is listed too.\n")
        lines.append("## Wall time, provider memory and CPU\n")
        lines.append("| N | provider | apply (s) | refresh plan (s) | plan -refresh=false (s) "
                     "| peak RSS (MiB) | provider CPU apply / refresh / no-refresh (s) "
                     "| terraform core CPU refresh plan (s) | emulator CPU refresh plan (s) "
                     "| refresh plan median (s) | provider processes per plan |")
        lines.append("|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|")
        for n in ns:
            vals = {}
            for provider in ("m365backup", "null"):
                a, rp, nr = (self.best(provider, n, op) for op in ("apply", "refresh", "norefresh"))
                rss = [r.rss_mib for r in self.runs if r.provider == provider and r.n == n and r.rss_mib]
                vals[provider] = (a, rp, nr, max(rss) if rss else None)
                lines.append(
                    f"| {n} | {provider} | {f(a and a.wall_s)} | {f(rp and rp.wall_s)} | "
                    f"{f(nr and nr.wall_s)} | {f(vals[provider][3], '{:.1f}')} | "
                    f"{f(a and a.cpu_s)} / {f(rp and rp.cpu_s)} / {f(nr and nr.cpu_s)} | "
                    f"{f(rp and rp.tf_cpu_s)} | {f(rp and rp.emulator_cpu_s)} | "
                    f"{f(self.median(provider, n, 'refresh'))} | {len(rp.procs) if rp else '–'} |")
            m, nl = vals["m365backup"], vals["null"]

            def rr(i):
                return ratio(m[i] and m[i].wall_s, nl[i] and nl[i].wall_s)

            def rc(i):
                return ratio(m[i] and m[i].cpu_s, nl[i] and nl[i].cpu_s)

            lines.append(
                f"| {n} | **ratio m365backup / null** | {f(rr(0), '{:.2f}×')} | **{f(rr(1), '{:.2f}×')}** | "
                f"**{f(rr(2), '{:.2f}×')}** | {f(ratio(m[3], nl[3]), '{:.2f}×')} | "
                f"{f(rc(0), '{:.2f}×')} / {f(rc(1), '{:.2f}×')} / {f(rc(2), '{:.2f}×')} | "
                f"{f(ratio(m[1] and m[1].tf_cpu_s, nl[1] and nl[1].tf_cpu_s), '{:.2f}×')} | | "
                f"{f(ratio(self.median('m365backup', n, 'refresh'), self.median('null', n, 'refresh')), '{:.2f}×')} | |")

        lines.append("\n## m365backup Graph and token traffic (emulator request log, per terraform command)\n")
        lines.append("| N | command | Graph requests | Graph req / resource | Graph GETs / resource "
                     "| token requests | expected tokens (Σ per process: tenant × kind used) "
                     "| kinds | non-2xx | Graph calls |")
        lines.append("|---:|---|---:|---:|---:|---:|---:|---|---|---|")
        names = {"apply": "apply", "refresh": "refresh plan", "norefresh": "plan -refresh=false"}
        for n in ns:
            for op in ("apply", "refresh", "norefresh"):
                runs = self.select("m365backup", n, op)
                if not runs:
                    continue
                # The worst run (most Graph requests, then most token requests).
                r = max(runs, key=lambda x: (x.requests["graph"], x.requests["tokens"]))
                q = r.requests
                varies = len({(x.requests["graph"], x.requests["tokens"]) for x in runs}) > 1
                calls = ", ".join(f"{k} ×{v}" for k, v in q["by_call"].items()) or "none"
                label = names[op] + (f" (worst of {len(runs)}, runs differ)" if varies else
                                     (f" (each of {len(runs)})" if len(runs) > 1 else ""))
                lines.append(
                    f"| {n} | {label} | {q['graph']} | {q['graph_per_resource']:.2f} | "
                    f"{q['gets_per_resource']:.2f} | {q['tokens']} | {q['expected_tokens']} | "
                    f"{', '.join(q['kinds']) or '–'} | "
                    f"{', '.join(f'{k}×{v}' for k, v in q['non_2xx'].items()) or '–'} | {calls} |")

        # Checks.
        checks: list[str] = []
        ok = True

        def check(passed: bool, text: str):
            nonlocal ok
            ok = ok and passed
            checks.append(f"{'PASS' if passed else 'FAIL'}: {text}")

        big = 1000 if 1000 in ns else max(ns)
        m, nl = self.best("m365backup", big, "refresh"), self.best("null", big, "refresh")
        if m and nl:
            r = m.wall_s / nl.wall_s
            check(r <= 1.0, f"refresh-plan wall time at N={big} ≤ 1.0× null's: "
                            f"{m.wall_s:.2f}s vs {nl.wall_s:.2f}s = {r:.2f}×"
                            + ("" if big == 1000 else " (N=1000 not run)"))
        for n in ns:
            runs = self.select("m365backup", n, "refresh")
            worst = max(runs, key=lambda x: x.requests["graph"])
            least = min(runs, key=lambda x: x.requests["graph"])
            per = [x.requests["graph_per_resource"] for x in runs]
            passed = all(abs(p - 1.0) < 1e-9 for p in per)
            calls = ", ".join(f"{k} ×{v}" for k, v in worst.requests["by_call"].items())
            check(passed, f"Graph requests per resource per refresh plan = 1 at N={n}: "
                          f"{'/'.join(f'{p:.2f}' for p in per)} per run "
                          f"({least.requests['graph']}–{worst.requests['graph']} requests for {2 * n} "
                          f"resources: {calls})")
        for n in ns:
            bad = []
            detail = []
            for op in ("apply", "refresh", "norefresh"):
                for x in self.select("m365backup", n, op):
                    q = x.requests
                    detail.append(f"{op}#{x.index} {q['tokens']}/{q['expected_tokens']}")
                    if q["tokens"] != q["expected_tokens"]:
                        bad.append(f"{names[op]} #{x.index}: {q['tokens']} token requests, expected "
                                   f"{q['expected_tokens']} ({q['tenants']} tenants × kinds "
                                   f"{'+'.join(q['kinds'])} over {q['processes_with_graph']} provider "
                                   f"process(es) that called Graph; {q['token_dups']} duplicates"
                                   + (f"; {q['unattributed']} log entries outside any provider process"
                                      if q['unattributed'] else "") + ")")
            check(not bad, f"token requests = tenants × kinds used (per provider process) at N={n}: "
                           + ("; ".join(bad) if bad else ", ".join(detail)))
        m_rss = [r.rss_mib for r in self.runs if r.provider == "m365backup" and r.n == big and r.rss_mib]
        if m_rss:
            check(max(m_rss) < RSS_LIMIT_MIB,
                  f"provider peak RSS < {RSS_LIMIT_MIB:.0f} MiB at N={big}: {max(m_rss):.1f} MiB")
        else:
            check(False, f"provider peak RSS < {RSS_LIMIT_MIB:.0f} MiB at N={big}: no measurement")
        lines.append("\n## Checks (issue 7)\n")
        lines.extend(f"- {c}" for c in checks)
        return "\n".join(lines) + "\n", checks, ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--terraform", required=True)
    ap.add_argument("--provider", required=True)
    ap.add_argument("--emulator", required=True)
    ap.add_argument("--null-provider", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("n", nargs="*", type=int)
    args = ap.parse_args()
    ns = args.n or [1, 100, 1000]
    if any(n < 1 for n in ns):
        ap.error("every N must be ≥ 1")
    bench = Bench(args)
    log(f"terraform {bench.tf.version}; work directory {bench.work}")
    for n in ns:
        bench.bench_n(n)
    text, checks, ok = bench.report(ns)
    (Path(args.out_dir) / "results.md").write_text(text)
    (Path(args.out_dir) / "results.json").write_text(json.dumps(
        [{"provider": r.provider, "n": r.n, "op": r.op, "run": r.index, "wall_s": r.wall_s,
          "exit": r.code, "rss_mib": r.rss_mib, "cpu_s": r.cpu_s, "processes": len(r.procs),
          "requests": r.requests} for r in bench.runs], indent=1))
    print(text)
    print("\n".join(checks))
    print(f"\n(written to {Path(args.out_dir) / 'results.md'}; logs under {bench.work})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
