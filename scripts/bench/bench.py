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
TIMED_OUT = 124  # exit code recorded for a terraform command stopped at its time limit
REMOVED_ENV = [
    "RUST_BACKTRACE", "TF_LOG", "TF_LOG_PROVIDER", "TF_LOG_CORE", "TF_LOG_PATH", "TF_CLI_ARGS",
    "TF_CLI_ARGS_plan", "TF_CLI_ARGS_apply", "TF_WORKSPACE", "TF_DATA_DIR", "TF_PLUGIN_CACHE_DIR",
]


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Configurations


# (configurations: see fleet_files below)


WRAPPER = """\
#!/bin/sh
# Written by scripts/bench/bench.py: runs the real provider under GNU time, which writes its
# report to a file (never to stdout: the go-plugin handshake line must stay the first line there).
d="${{BENCH_RUSAGE_DIR:?BENCH_RUSAGE_DIR is not set}}"
date +%s%N > "$d/start.$$"
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
    tf: str  # terraform version
    layout: str  # "foreach" | "module" | a scenario name
    op: str  # "apply" | "refresh" | "norefresh"
    index: int
    wall_s: float
    code: int
    procs: list[Proc]
    log_path: Path
    cpu_all_s: float = 0.0
    requests: dict | None = None
    emulator_cpu_s: float | None = None
    entries: list = field(default_factory=list)

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
        # The start time as the wrapper read it from the clock (file times on some file systems
        # come from another clock); the end is start + elapsed.
        text = (rusage_dir / f"start.{pid}").read_text().strip()
        start_ns = int(text) if text.isdigit() else (rusage_dir / f"start.{pid}").stat().st_mtime_ns
        done = rusage_dir / f"done.{pid}"
        if not done.exists():
            procs.append(Proc(int(pid), start_ns, None, None, None, None, None))
            continue
        lines = [l for l in done.read_text().splitlines() if l.strip()]
        fields = lines[-1].split() if lines else []
        try:
            rss, user, sys_, elapsed, code = fields[:5]
            procs.append(Proc(int(pid), start_ns, start_ns + int(float(elapsed) * 1e9) + 10_000_000, int(rss),
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
            rusage_dir: Path, timeout: float | None = None) -> tuple[float, int, list[Proc]]:
        shutil.rmtree(rusage_dir, ignore_errors=True)
        rusage_dir.mkdir(parents=True)
        full_env = dict(self.base_env)
        full_env.update(env)
        full_env["BENCH_RUSAGE_DIR"] = str(rusage_dir)
        with open(log_path, "w") as out:
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            p = subprocess.Popen([self.binary, *args], cwd=cwd, env=full_env, stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                # Terraform, then the providers it started (by the pids their wrappers recorded).
                p.kill()
                p.wait()
                # GNU time does not pass the signal on: stop its child (the provider) too.
                for f in rusage_dir.glob("start.*"):
                    try:
                        pid = int(f.name.split(".", 1)[1])
                        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                        for k in [*map(int, kids), pid]:
                            os.kill(k, signal.SIGTERM)
                    except (OSError, ValueError):
                        pass
                p.returncode = TIMED_OUT
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
# Configurations

TF_HEAD_M365 = """\
terraform {
  required_providers {
    m365backup = {
      source = "m365backup/m365backup"
    }
  }
}
"""

TF_HEAD_NULL = """\
terraform {
  required_providers {
    null = {
      source  = "hashicorp/null"
      version = "2.1.2"
    }
  }
}
"""

M365_FOREACH = TF_HEAD_M365 + """
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

NULL_FOREACH = TF_HEAD_NULL + """
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

MODULE_ROOT = """
variable "tenants" {
  type = set(string)
}
%s
module "tenant" {
  source    = "./tenant"
  for_each  = var.tenants
  tenant_id = each.key
}
"""

M365_MODULE = TF_HEAD_M365 + """
variable "tenant_id" {
  type = string
}

resource "m365backup_service_app" "this" {
  tenant_id = var.tenant_id
}

resource "m365backup_billing_enablement" "this" {
  tenant_id           = var.tenant_id
  app_owner_tenant_id = var.tenant_id
  depends_on          = [m365backup_service_app.this]
}
"""

NULL_MODULE = TF_HEAD_NULL + """
variable "tenant_id" {
  type = string
}

resource "null_resource" "app" {
  triggers = {
    tenant_id = var.tenant_id
  }
}

resource "null_resource" "billing" {
  triggers = {
    tenant_id           = var.tenant_id
    app_owner_tenant_id = var.tenant_id
  }
  depends_on = [null_resource.app]
}
"""

# A local module needs no `terraform init` when .terraform/modules/modules.json lists it (the
# providers come from dev_overrides): every Terraform version reads this manifest.
MODULES_JSON = json.dumps({"Modules": [
    {"Key": "", "Source": "", "Dir": "."},
    {"Key": "tenant", "Source": "./tenant", "Dir": "tenant"},
]})


def fleet_files(provider: str, layout: str) -> dict[str, str]:
    if layout == "foreach":
        return {"main.tf": M365_FOREACH if provider == "m365backup" else NULL_FOREACH}
    root = (TF_HEAD_M365 + MODULE_ROOT % '\nprovider "m365backup" {}\n') if provider == "m365backup" \
        else (TF_HEAD_NULL + MODULE_ROOT % "")
    return {
        "main.tf": root,
        "tenant/main.tf": M365_MODULE if provider == "m365backup" else NULL_MODULE,
        ".terraform/modules/modules.json": MODULES_JSON,
    }


def write_files(d: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def tenant_ids(n: int, tag: int = 0) -> list[str]:
    """Deterministic, valid-looking tenant GUIDs; `tag` keeps the sets of different runs apart."""
    return [f"be7c{tag:04x}-0000-4000-8000-{i:012d}" for i in range(1, n + 1)]


def guid(seed: int, i: int) -> str:
    return f"{seed:08x}-0000-4000-8000-{i:012x}"


def site_id(i: int) -> str:
    return f"contoso.sharepoint.com,{guid(0x5173, i)},{guid(0x5174, i)}"


ONBOARD_CONFIG = TF_HEAD_M365 + """
provider "m365backup" {}

variable "tenant" {
  type = string
}

variable "mailboxes" {
  type = set(string)
}

variable "users" {
  type = set(string)
}

variable "sites" {
  type = set(string)
}

resource "m365backup_service_app" "this" {
  tenant_id = var.tenant
}

resource "m365backup_billing_enablement" "this" {
  tenant_id           = var.tenant
  app_owner_tenant_id = var.tenant
  depends_on          = [m365backup_service_app.this]
}

resource "m365backup_exchange_protection_policy" "this" {
  tenant_id    = var.tenant
  display_name = "Mail"
  mailbox_ids  = var.mailboxes
  depends_on   = [m365backup_billing_enablement.this]
}

resource "m365backup_onedrive_protection_policy" "this" {
  tenant_id    = var.tenant
  display_name = "Drives"
  user_ids     = var.users
  depends_on   = [m365backup_billing_enablement.this]
}

resource "m365backup_sharepoint_protection_policy" "this" {
  tenant_id    = var.tenant
  display_name = "Sites"
  site_ids     = var.sites
  depends_on   = [m365backup_billing_enablement.this]
}
"""

BIG_BASE = TF_HEAD_M365 + """
provider "m365backup" {}

variable "tenant" {
  type = string
}

variable "with_policy" {
  type = bool
}

resource "m365backup_service_app" "this" {
  tenant_id = var.tenant
}

resource "m365backup_billing_enablement" "this" {
  tenant_id           = var.tenant
  app_owner_tenant_id = var.tenant
  depends_on          = [m365backup_service_app.this]
}
"""

BIG_CONFIG = BIG_BASE + """
resource "m365backup_exchange_protection_policy" "this" {
  count            = var.with_policy ? 1 : 0
  tenant_id        = var.tenant
  display_name     = "Mail"
  mailbox_ids_file = "${path.module}/mailboxes.txt"
  depends_on       = [m365backup_billing_enablement.this]
}
"""

INLINE_CONFIG = BIG_BASE + """
variable "mailboxes" {
  type    = set(string)
  default = []
}

resource "m365backup_exchange_protection_policy" "this" {
  count        = var.with_policy ? 1 : 0
  tenant_id    = var.tenant
  display_name = "Mail"
  mailbox_ids  = var.mailboxes
  depends_on   = [m365backup_billing_enablement.this]
}
"""


# --------------------------------------------------------------------------------------------
# Statistics


def median(xs: list[float]) -> float | None:
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def fmt(x, spec="{:.2f}") -> str:
    return "–" if x is None else spec.format(x)


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def critical_path(entries: list[dict], gap_ns: int) -> dict[str, int]:
    """Per tenant, the Graph round trips in sequence: calls whose log times lie within `gap_ns`
    of the first call of a round were in flight together (e.g. a `tokio::join!`)."""
    by_tenant: dict[str, list[int]] = collections.defaultdict(list)
    for e in entries:
        if is_graph(e):
            t = parse_time_ns(e.get("time", ""))
            if t is not None:
                by_tenant[str(e.get("tenant"))].append(t)
    out = {}
    for tenant, times in by_tenant.items():
        times.sort()
        rounds, start = 0, None
        for t in times:
            if start is None or t - start > gap_ns:
                rounds += 1
                start = t
        out[tenant] = rounds
    return out


def lookups_per_tenant_process(entries: list[dict], procs: list[Proc]) -> collections.Counter:
    """(call, tenant, provider process) -> count, for the controller lookups (GET root and the
    serviceApps list)."""
    def owner(e):
        t = parse_time_ns(e.get("time", ""))
        for p in procs:
            end = p.end_ns if p.end_ns is not None else 1 << 62
            if t is not None and p.start_ns - 50_000_000 <= t <= end + 50_000_000:
                return p.pid
        return None
    c = collections.Counter()
    for e in entries:
        if not is_graph(e) or e.get("method") != "GET":
            continue
        path = e.get("path", "").split("?", 1)[0].rstrip("/").lower()
        if path.endswith("/solutions/backuprestore"):
            c[("GET root", e.get("tenant"), owner(e))] += 1
        elif path.endswith("/solutions/backuprestore/serviceapps"):
            c[("GET serviceApps", e.get("tenant"), owner(e))] += 1
    return c


def is_write(e: dict) -> bool:
    return is_graph(e) and e.get("method") != "GET"


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
        self.facts: dict = {"budget": {}, "latency": {}, "big": {}, "inline": {}}
        self.checks: list[tuple[bool, str]] = []
        self.load_start = os.getloadavg()
        self.started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        base_env = {k: v for k, v in os.environ.items() if k not in REMOVED_ENV}
        base_env.update({"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_INPUT": "0"})
        self.tfs = [Terraform(b, base_env) for b in args.terraform]
        wrap = self.work / "providers"
        for name, real in [("m365backup", args.provider), ("null", args.null_provider)]:
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

    def check(self, passed: bool, text: str) -> None:
        self.checks.append((passed, text))
        log(f"{'PASS' if passed else 'FAIL'}: {text}")

    def emulator(self, d: Path) -> Emulator:
        d.mkdir(parents=True, exist_ok=True)
        return Emulator(Path(self.args.emulator), d / "emulator-state", d)

    def env_for(self, emu: Emulator) -> dict:
        env = dict(emu.env)
        env["TF_CLI_CONFIG_FILE"] = str(self.cli_config)
        env.pop("TF_LOG", None)
        return env

    def tf_run(self, tf: Terraform, layout: str, provider: str, n: int, op: str, index: int,
               cwd: Path, env: dict, emu: Emulator | None, resources: int,
               ok_codes=(0,), extra_args=(), timeout: float | None = None) -> Run:
        args = {
            "apply": ["apply", "-auto-approve", "-input=false", "-no-color"],
            "refresh": ["plan", "-input=false", "-no-color", "-detailed-exitcode"],
            "norefresh": ["plan", "-refresh=false", "-input=false", "-no-color", "-detailed-exitcode"],
            "plan": ["plan", "-input=false", "-no-color"],
        }[op] + list(extra_args)
        emu_cpu0 = None
        if emu is not None:
            emu.reset_log()
            emu_cpu0 = emu.cpu_s()
        log_path = cwd.parent / f"{cwd.name}-{op}-{index}.log"
        wall, code, procs, cpu_all = tf.run(args, cwd, env, log_path, cwd.parent / f"rusage-{cwd.name}",
                                            timeout)
        run = Run(provider, n, tf.version, layout, op, index, wall, code, procs, log_path, cpu_all)
        if emu is not None:
            run.emulator_cpu_s = emu.cpu_s() - emu_cpu0
            entries = emu.requests()
            run.entries = entries
            (cwd.parent / f"{cwd.name}-{op}-{index}.requests.json").write_text(json.dumps(entries))
            run.requests = analyse(entries, resources, procs)
        if code not in ok_codes:
            tail = "\n".join(log_path.read_text().splitlines()[-40:])
            if code == 2 and op in ("refresh", "norefresh"):
                log(f"WARNING: {provider} {op} N={n} has changes (exit 2); see {log_path}")
            else:
                raise SystemExit(f"bench: terraform {' '.join(args)} ({provider}, {layout}, N={n}, "
                                 f"terraform {tf.version}) failed (exit {code})\n{tail}")
        extra = ""
        if run.requests:
            r = run.requests
            extra = f", graph {r['graph']} ({r['gets_per_resource']:.2f} GET/res), tokens {r['tokens']}"
        log(f"  tf {tf.version} {layout:8s} {provider:10s} {op:9s} #{index} {wall:7.2f}s procs {len(procs)}"
            f" rss {run.rss_mib or 0:.1f} MiB cpu provider {run.cpu_s or 0:.2f}s"
            f" terraform {run.tf_cpu_s:.2f}s"
            + (f" emulator {run.emulator_cpu_s:.2f}s" if run.emulator_cpu_s is not None else "")
            + extra)
        self.runs.append(run)
        self.save()
        return run

    # ----------------------------------------------------------------------------------------
    # Part 1: fleet, both layouts

    def fleet(self, tf: Terraform, layout: str, n: int) -> None:
        log(f"fleet: terraform {tf.version}, layout {layout}, N = {n} ({2 * n} resources per provider)")
        nd = self.work / f"fleet-{tf.version}-{layout}-{n}"
        source = self.reusable(layout, n)
        if source is not None:
            # Plans only, on the applied state of an earlier run (an apply of 1,000 tenants costs
            # Terraform minutes of CPU); its `terraform_version` is set to this version's.
            log(f"  reusing the applied fleet in {source}")
            nd.mkdir(parents=True)
            shutil.copytree(source / "emulator-state", nd / "emulator-state")
            for provider in ("m365backup", "null"):
                shutil.copytree(source / f"{provider}-a1", nd / f"{provider}-a1", symlinks=True)
                (nd / f"{provider}-a1" / ".terraform.tfstate.lock.info").unlink(missing_ok=True)
                st = nd / f"{provider}-a1" / "terraform.tfstate"
                doc = json.loads(st.read_text())
                doc["terraform_version"] = tf.version
                st.write_text(json.dumps(doc, indent=2))
                (nd / f"{provider}-a1" / "terraform.tfstate.backup").unlink(missing_ok=True)
        emu = self.emulator(nd)
        try:
            env = self.env_for(emu)
            apply_runs = self.args.apply_runs if n < 1000 else min(self.args.apply_runs, self.args.apply_runs_1000)
            if source is not None:
                apply_runs = 0
            dirs = {p: nd / f"{p}-a1" for p in ("m365backup", "null")} if source is not None else {}
            for a in range(1, apply_runs + 1):
                ids = tenant_ids(n, a)
                emu.create_tenants(ids)
                order = ("m365backup", "null") if a % 2 else ("null", "m365backup")
                for provider in order:
                    d = nd / f"{provider}-a{a}"
                    d.mkdir()
                    write_files(d, fleet_files(provider, layout))
                    (d / "terraform.tfvars.json").write_text(json.dumps({"tenants": ids}, indent=1))
                    dirs.setdefault(provider, d)
                    self.tf_run(tf, layout, provider, n, "apply", a, d, env,
                                emu if provider == "m365backup" else None, 2 * n)
            for op in ("refresh", "norefresh"):
                for i in range(1, self.args.runs + 1):
                    # Interleaved, in alternating order (ABBA...), so that noise and drift on the
                    # shared machine hit both alike.
                    order = ("m365backup", "null") if i % 2 else ("null", "m365backup")
                    for provider in order:
                        self.tf_run(tf, layout, provider, n, op, i, dirs[provider], env,
                                    emu if provider == "m365backup" else None, 2 * n, ok_codes=(0,))
        finally:
            emu.stop()

    def reusable(self, layout: str, n: int) -> Path | None:
        """An applied fleet of this layout and size under --fleet-from, if any."""
        if not self.args.fleet_from:
            return None
        for d in sorted(Path(self.args.fleet_from).glob(f"fleet-*-{layout}-{n}")):
            if (d / "m365backup-a1" / "terraform.tfstate").stat().st_size > 0 and \
                    (d / "null-a1" / "terraform.tfstate").exists() and \
                    (d / "null-a1" / "terraform.tfstate").stat().st_size > 0:
                return d
        return None

    # ----------------------------------------------------------------------------------------
    # Part 2: Graph budgets (onboarding) and apply under injected latency

    def onboarding(self, tf: Terraform) -> None:
        log(f"budget: onboarding one tenant (service app + billing + 3 policies), terraform {tf.version}")
        nd = self.work / f"onboard-{tf.version}"
        emu = self.emulator(nd)
        try:
            emu.admin("PUT", "/_emulator/settings", {"protect_seconds": 0, "protect_seconds_per_100": 0})
            tenant = tenant_ids(1, 0xb0)[0]
            emu.create_tenants([tenant])
            d = nd / "m365backup"
            d.mkdir()
            write_files(d, {"main.tf": ONBOARD_CONFIG})
            (d / "terraform.tfvars.json").write_text(json.dumps({
                "tenant": tenant,
                "mailboxes": [guid(0x3a11, i) for i in range(10)],
                "users": [guid(0x0d21, i) for i in range(10)],
                "sites": [site_id(i) for i in range(10)],
            }, indent=1))
            env = self.env_for(emu)
            a = self.tf_run(tf, "onboard", "m365backup", 1, "apply", 1, d, env, emu, 5)
            r = self.tf_run(tf, "onboard", "m365backup", 1, "refresh", 1, d, env, emu, 5)
            self.facts["budget"][tf.version] = {
                "apply": self.budget_facts(a), "refresh": self.budget_facts(r)}
        finally:
            emu.stop()

    @staticmethod
    def budget_facts(run: Run) -> dict:
        graph = [e for e in run.entries if is_graph(e)]
        lookups = lookups_per_tenant_process(run.entries, run.procs)
        return {
            "writes": sum(1 for e in graph if is_write(e)),
            "reads": sum(1 for e in graph if e.get("method") == "GET"),
            "by_call": dict(collections.Counter(call_name(e) for e in graph).most_common()),
            "max_lookups_per_tenant_process": max(lookups.values(), default=0),
            "lookups": {f"{k[0]} pid {k[2]}": v for k, v in lookups.items()},
            "provider_processes": len(run.procs),
            "wall_s": run.wall_s,
        }

    def latency(self, tf: Terraform, n: int, delay_ms: int) -> None:
        log(f"latency: apply of {n} tenants (module layout) with {delay_ms} ms per Graph call, "
            f"terraform {tf.version}")
        nd = self.work / f"latency-{tf.version}-{n}"
        emu = self.emulator(nd)
        try:
            def fleet_dir(name: str, seed: int) -> Path:
                ids = tenant_ids(n, seed)
                emu.create_tenants(ids)
                d = nd / name
                d.mkdir()
                write_files(d, fleet_files("m365backup", "module"))
                (d / "terraform.tfvars.json").write_text(json.dumps({"tenants": ids}, indent=1))
                return d

            # The same apply without added latency first, on other tenants: Terraform's own time
            # (starting processes, walking, writing state), to tell apart what the latency adds.
            b = fleet_dir("baseline", 0x1a6)
            base = self.tf_run(tf, "module", "m365backup", n, "apply", 0, b, self.env_for(emu), emu, 2 * n)
            d = fleet_dir("m365backup", 0x1a7)
            for prefix in ("/v1.0/", "/beta/"):
                emu.admin("POST", "/_emulator/faults",
                          {"path_prefix": prefix, "delay_ms": delay_ms, "count": 1_000_000_000})
            run = self.tf_run(tf, "module", "m365backup", n, "apply", 1, d, self.env_for(emu), emu, 2 * n)
            emu.admin("DELETE", "/_emulator/faults")
            cp = critical_path(run.entries, gap_ns=delay_ms * 1_000_000 // 2)
            per_tenant = collections.Counter(cp.values())
            calls = median(list(cp.values())) or 0
            parallelism = 10
            expected = calls * delay_ms / 1000 * n / parallelism
            self.facts["latency"][tf.version] = {
                "n": n, "delay_ms": delay_ms, "wall_s": run.wall_s, "baseline_wall_s": base.wall_s,
                "critical_path_calls": calls,
                "critical_path_histogram": dict(per_tenant), "expected_s": expected,
                "graph_calls": run.requests["graph"], "parallelism": parallelism,
                "by_call": run.requests["by_call"],
            }
        finally:
            emu.stop()

    # ----------------------------------------------------------------------------------------
    # Part 3: big policies

    def big(self, tf: Terraform, units: int) -> None:
        log(f"big policy: {units} mailboxes through mailbox_ids_file, terraform {tf.version}")
        nd = self.work / f"big-{tf.version}"
        emu = self.emulator(nd)
        facts = self.facts["big"].setdefault(tf.version, {"units": units})
        try:
            settings = emu.admin("PUT", "/_emulator/settings",
                                 {"protect_seconds": 0, "protect_seconds_per_100": 0})
            page_size = (settings or {}).get("page_size") or emu.admin("GET", "/_emulator/settings")["page_size"]
            facts["page_size"] = page_size
            tenant = tenant_ids(1, 0xb16)[0]
            emu.create_tenants([tenant])
            d = nd / "m365backup"
            d.mkdir()
            write_files(d, {"main.tf": BIG_CONFIG})
            env = self.env_for(emu)
            ids = [guid(0xb16, i) for i in range(units)]
            (d / "terraform.tfvars.json").write_text(json.dumps({"tenant": tenant, "with_policy": False}))
            self.tf_run(tf, "big", "m365backup", units, "apply", 0, d, env, emu, 2)
            (d / "mailboxes.txt").write_text("\n".join(ids) + "\n")
            (d / "terraform.tfvars.json").write_text(json.dumps({"tenant": tenant, "with_policy": True}))
            c = self.tf_run(tf, "big", "m365backup", units, "apply", 1, d, env, emu, 3)
            facts["create"] = self.big_facts(c)
            facts["refresh"] = []
            for i in range(1, self.args.big_runs + 1):
                r = self.tf_run(tf, "big", "m365backup", units, "refresh", i, d, env, emu, 3)
                facts["refresh"].append(self.big_facts(r))
            # ±100: drop the first 100 ids, add 100 new ones.
            changed = ids[100:] + [guid(0xb17, i) for i in range(100)]
            (d / "mailboxes.txt").write_text("\n".join(changed) + "\n")
            ch = self.tf_run(tf, "big", "m365backup", units, "apply", 2, d, env, emu, 3)
            facts["change"] = self.big_facts(ch)
            after = self.tf_run(tf, "big", "m365backup", units, "refresh", 99, d, env, emu, 3)
            facts["after_change_plan_exit"] = after.code
            st = emu.admin("GET", "/_emulator/state")
            facts["emulator_units"] = st["tenants"][tenant].get("protection", {}).get("unit_counts")
        finally:
            emu.stop()
        self.save()

    @staticmethod
    def big_facts(run: Run) -> dict:
        graph = [e for e in run.entries if is_graph(e)]
        policy = [e for e in graph if "protectionpolic" in e.get("path", "").lower()
                  or "bulkadditionjobs" in e.get("path", "").lower()]
        tops = sorted({q.split("=", 1)[1] for e in graph for q in
                       urllib.parse.urlsplit(e.get("path", "")).query.split("&") if q.lower().startswith(("$top=", "%24top="))})
        return {
            "wall_s": run.wall_s, "exit": run.code,
            "writes": sum(1 for e in graph if is_write(e)),
            "gets": sum(1 for e in graph if e.get("method") == "GET"),
            "policy_gets": sum(1 for e in policy if e.get("method") == "GET"),
            "policy_writes": sum(1 for e in policy if e.get("method") != "GET"),
            "by_call": dict(collections.Counter(call_name(e) for e in graph).most_common()),
            "top_sent": tops,
            "provider_cpu_s": run.cpu_s, "provider_rss_mib": run.rss_mib,
            "provider_processes": len(run.procs),
            "per_process": [{"cpu_s": p.cpu_s, "rss_mib": (p.rss_kib or 0) / 1024} for p in run.procs],
            "terraform_cpu_s": run.tf_cpu_s, "emulator_cpu_s": run.emulator_cpu_s,
            "state_bytes": (run.log_path.parent / "m365backup" / "terraform.tfstate").stat().st_size
            if (run.log_path.parent / "m365backup" / "terraform.tfstate").exists() else None,
        }

    def inline(self, tf: Terraform, units: int) -> None:
        log(f"inline set: {units} mailbox ids in mailbox_ids, terraform {tf.version}")
        nd = self.work / f"inline-{tf.version}"
        emu = self.emulator(nd)
        try:
            emu.admin("PUT", "/_emulator/settings", {"protect_seconds": 0, "protect_seconds_per_100": 0})
            tenant = tenant_ids(1, 0x15)[0]
            emu.create_tenants([tenant])
            d = nd / "m365backup"
            d.mkdir()
            write_files(d, {"main.tf": INLINE_CONFIG})
            env = self.env_for(emu)
            (d / "terraform.tfvars.json").write_text(json.dumps({"tenant": tenant, "with_policy": False}))
            self.tf_run(tf, "inline", "m365backup", units, "apply", 0, d, env, emu, 2)
            (d / "terraform.tfvars.json").write_text(json.dumps(
                {"tenant": tenant, "with_policy": True, "mailboxes": [guid(0x15, i) for i in range(units)]}))
            limit = self.args.inline_timeout
            facts = self.facts["inline"][tf.version] = {"units": units, "timeout_s": limit}
            ok = (0, TIMED_OUT)
            for op in ("plan", "apply", "refresh"):
                r = self.tf_run(tf, "inline", "m365backup", units, op, 1, d, env, emu, 3,
                                ok_codes=ok, timeout=limit)
                facts[op] = self.big_facts(r)
                if r.code == TIMED_OUT:
                    log(f"  {op} stopped after {limit:.0f} s")
                    break
        finally:
            emu.stop()
        self.save()

    # ----------------------------------------------------------------------------------------
    # Results

    def save(self) -> None:
        (self.out_dir / "results.json").write_text(json.dumps({
            "started": self.started, "load_start": self.load_start, "load_now": os.getloadavg(),
            "runs": [{"tf": r.tf, "layout": r.layout, "provider": r.provider, "n": r.n, "op": r.op,
                      "run": r.index, "wall_s": r.wall_s, "exit": r.code, "rss_mib": r.rss_mib,
                      "provider_cpu_s": r.cpu_s, "terraform_cpu_s": r.tf_cpu_s,
                      "emulator_cpu_s": r.emulator_cpu_s, "processes": len(r.procs),
                      "requests": r.requests} for r in self.runs],
            "facts": self.facts,
        }, indent=1, default=str))

    def select(self, tf, layout, provider, n, op) -> list[Run]:
        return [r for r in self.runs if (r.tf, r.layout, r.provider, r.n, r.op) == (tf, layout, provider, n, op)]

    def med(self, tf, layout, provider, n, op, attr="wall_s"):
        return median([getattr(r, attr) for r in self.select(tf, layout, provider, n, op)])

    def report(self, ns: list[int]) -> str:
        L = []
        L.append("# terraform-provider-m365backup benchmark\n")
        L.append(f"- started {self.started}; finished {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
        L.append(f"- machine: {os.cpu_count()} CPUs, load average at start "
                 f"{' '.join(f'{x:.2f}' for x in self.load_start)}, at end "
                 f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        L.append(f"- terraform {', '.join(t.version for t in self.tfs)}; default -parallelism (10); "
                 f"baseline HashiCorp null 2.1.2 in the same layout; medians of {self.args.runs} "
                 f"interleaved runs (ABBA order) for plans, {self.args.apply_runs} applies "
                 f"(at most {self.args.apply_runs_1000} at N ≥ 1000), each on fresh tenants")
        L.append("- CPU columns are medians of user+sys seconds: terraform = terraform itself, "
                 "provider = the provider processes of the command, emulator = the emulator (it stands "
                 "in for Graph but shares the machine)\n")
        layouts = [l for l in ("module", "foreach") if l in self.args.layouts]
        if self.runs and any(r.layout in layouts for r in self.runs):
            L.append("## Fleet (N tenants × service app + billing enablement)\n")
            L.append("| terraform | layout | N | command | m365backup (s) | null (s) | ratio | CPU terraform m365backup / null (s) "
                     "| CPU provider m365backup / null (s) | CPU emulator (s) | provider peak RSS (MiB) | Graph GETs / resource |")
            L.append("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            names = {"apply": "apply", "refresh": "refresh plan", "norefresh": "plan -refresh=false"}
            for tf in self.tfs:
                for layout in layouts:
                    for n in ns:
                        for op in ("refresh", "norefresh", "apply"):
                            m = self.select(tf.version, layout, "m365backup", n, op)
                            if not m:
                                continue
                            a = self.med(tf.version, layout, "m365backup", n, op)
                            b = self.med(tf.version, layout, "null", n, op)
                            gets = median([r.requests["gets_per_resource"] for r in m])
                            L.append(
                                f"| {tf.version} | {layout} | {n} | {names[op]} ({len(m)}) | {fmt(a)} | {fmt(b)} | "
                                f"{fmt(ratio(a, b), '{:.2f}×')} | "
                                f"{fmt(self.med(tf.version, layout, 'm365backup', n, op, 'tf_cpu_s'))} / "
                                f"{fmt(self.med(tf.version, layout, 'null', n, op, 'tf_cpu_s'))} | "
                                f"{fmt(self.med(tf.version, layout, 'm365backup', n, op, 'cpu_s'))} / "
                                f"{fmt(self.med(tf.version, layout, 'null', n, op, 'cpu_s'))} | "
                                f"{fmt(self.med(tf.version, layout, 'm365backup', n, op, 'emulator_cpu_s'))} | "
                                f"{fmt(max((r.rss_mib or 0) for r in m), '{:.1f}')} | {fmt(gets)} |")
            L.append("")
        for v, b in self.facts["budget"].items():
            L.append(f"## Onboarding one tenant (service app + billing + 3 policies of 10 units), terraform {v}\n")
            for k in ("apply", "refresh"):
                x = b[k]
                L.append(f"- {k}: {x['writes']} writes, {x['reads']} reads, {x['provider_processes']} provider "
                         f"processes, at most {x['max_lookups_per_tenant_process']} controller lookup(s) of a kind "
                         f"per tenant per process; calls: "
                         + ", ".join(f"`{c}` ×{n}" for c, n in x["by_call"].items()))
            L.append("")
        for v, x in self.facts["latency"].items():
            L.append(f"## Apply under {x['delay_ms']} ms latency per Graph call, terraform {v}\n")
            L.append(f"- N = {x['n']} (module layout): {x['wall_s']:.2f} s; critical path {x['critical_path_calls']} "
                     f"Graph round trips per tenant (histogram {x['critical_path_histogram']}); expected "
                     f"{x['critical_path_calls']} × {x['delay_ms']} ms × {x['n']} / {x['parallelism']} = "
                     f"{x['expected_s']:.2f} s; ratio {x['wall_s'] / x['expected_s'] if x['expected_s'] else 0:.2f}×")
            L.append("- calls: " + ", ".join(f"`{c}` ×{n}" for c, n in x["by_call"].items()) + "\n")
        for v, x in self.facts["big"].items():
            L.append(f"## Big policy: {x['units']} mailboxes via mailbox_ids_file, terraform {v}\n")
            L.append(f"- page size: the emulator's default {x.get('page_size')} (the provider sends `$top`: "
                     f"{x.get('create', {}).get('top_sent') or 'no'})")
            L.append("| step | wall (s) | writes | GETs (policy) | provider CPU (s) | provider peak RSS (MiB) | terraform CPU (s) | emulator CPU (s) | state file (bytes) |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            rows = [("create", x.get("create"))] + [(f"refresh plan #{i + 1}", r) for i, r in enumerate(x.get("refresh", []))] \
                + [("±100 change", x.get("change"))]
            for name, r in rows:
                if r:
                    L.append(f"| {name} | {r['wall_s']:.2f} | {r['writes']} | {r['gets']} ({r['policy_gets']}) | "
                             f"{fmt(r['provider_cpu_s'])} | {fmt(r['provider_rss_mib'], '{:.1f}')} | {fmt(r['terraform_cpu_s'])} | "
                             f"{fmt(r['emulator_cpu_s'])} | {r['state_bytes']} |")
            for name, r in rows:
                if r:
                    L.append(f"- {name} calls: " + ", ".join(f"`{c}` ×{n}" for c, n in r["by_call"].items()))
            L.append("")
        for v, x in self.facts["inline"].items():
            L.append(f"## Inline set of {x['units']} ids, terraform {v}\n")
            for k in ("plan", "apply", "refresh"):
                r = x.get(k)
                if r is None:
                    continue
                L.append(f"- {k}: exit {r['exit']}, {r['wall_s']:.2f} s, {r['writes']} writes, {r['gets']} GETs, "
                         f"provider CPU {fmt(r['provider_cpu_s'])} s, RSS {fmt(r['provider_rss_mib'], '{:.1f}')} MiB, "
                         f"terraform CPU {fmt(r['terraform_cpu_s'])} s")
            L.append("")
        L.append("## Checks (issue 17)\n")
        L.extend(f"- {'PASS' if ok else 'FAIL'}: {t}" for ok, t in self.checks)
        return "\n".join(L) + "\n"

    def evaluate(self, ns: list[int]) -> None:
        """The PASS/FAIL checks of issue 17."""
        self.checks = []
        for tf in self.tfs:
            v = tf.version
            # Refresh = 1 GET per controller resource.
            for layout in self.args.layouts:
                for n in ns:
                    runs = self.select(v, layout, "m365backup", n, "refresh")
                    if runs:
                        per = sorted({round(r.requests["gets_per_resource"], 3) for r in runs})
                        graph = sorted({r.requests["graph"] for r in runs})
                        self.check(per == [1.0] and graph == [2 * n],
                                   f"refresh = 1 GET per controller resource (tf {v}, {layout}, N={n}): "
                                   f"{'/'.join(map(str, per))} GET per resource, {graph} Graph requests for {2 * n}")
            # Gating lookups once per tenant per plan.
            for layout in self.args.layouts:
                for n in ns:
                    for op in ("apply", "refresh", "norefresh"):
                        runs = self.select(v, layout, "m365backup", n, op)
                        if not runs:
                            continue
                        worst = max(max(lookups_per_tenant_process(r.entries, r.procs).values(), default=0) for r in runs)
                        self.check(worst <= 1, f"controller/gating lookups ≤ 1 per tenant per provider process "
                                               f"(tf {v}, {layout}, N={n}, {op}): at most {worst}")
            # Module layout refresh plan at N=1000 ≤ 1.15× null.
            big = max(ns)
            a = self.med(v, "module", "m365backup", big, "refresh")
            b = self.med(v, "module", "null", big, "refresh")
            if a and b:
                self.check(a / b <= 1.15, f"module layout refresh plan at N={big} ≤ 1.15× null (tf {v}): "
                                          f"median {a:.2f} s vs {b:.2f} s = {a / b:.2f}×"
                                          + ("" if big == 1000 else " (N=1000 not run)"))
            # Per-read provider CPU ≤ 0.2 ms: the refresh plan's provider CPU less that of
            # `plan -refresh=false` (same process start, schema, upgrade and plan calls, no reads),
            # per read.
            cpu = self.med(v, "module", "m365backup", big, "refresh", "cpu_s")
            base = self.med(v, "module", "m365backup", big, "norefresh", "cpu_s")
            if cpu is not None and base is not None:
                per_read = (cpu - base) / (2 * big) * 1000
                self.check(per_read <= 0.2, f"provider CPU per read ≤ 0.2 ms (tf {v}, module, N={big}): "
                                            f"(refresh plan {cpu:.2f} s − plan -refresh=false {base:.2f} s) / "
                                            f"{2 * big} reads = {per_read:.3f} ms; whole refresh plan "
                                            f"{cpu / (2 * big) * 1000:.3f} ms per resource")
            # Onboarding budget.
            b = self.facts["budget"].get(v)
            if b:
                x = b["apply"]
                floor_w, floor_r = ONBOARD_FLOOR_WRITES, ONBOARD_FLOOR_READS
                self.check(x["writes"] <= floor_w and x["writes"] + x["reads"] <= floor_w + floor_r,
                           f"onboarding (service app + billing + 3 policies, tf {v}) ≤ floor {floor_w} writes + "
                           f"{floor_r} reads = {floor_w + floor_r} requests: {x['writes']} writes + {x['reads']} reads"
                           f" = {x['writes'] + x['reads']}")
                y = b["refresh"]
                exp = 2 + 3 * 3
                self.check(y["reads"] <= exp and y["writes"] == 0,
                           f"onboarded tenant refresh plan ≤ {exp} GETs (1 per controller resource; per "
                           f"policy of ≤ 1 page: policy, units, bulk-job list; tf {v}): {y['reads']} GETs, "
                           f"{y['writes']} writes")
            x = self.facts["latency"].get(v)
            if x:
                r = x["wall_s"] / x["expected_s"] if x["expected_s"] else float("inf")
                added = x["wall_s"] - x.get("baseline_wall_s", 0.0)
                self.check(r <= 1.2, f"apply of {x['n']} tenants with {x['delay_ms']} ms per Graph call within "
                                     f"1.2× of {x['critical_path_calls']} calls × {x['delay_ms']} ms × N / "
                                     f"{x['parallelism']} = {x['expected_s']:.2f} s (tf {v}): {x['wall_s']:.2f} s = {r:.2f}×; "
                                     f"the same apply without latency took {x.get('baseline_wall_s', 0.0):.2f} s, so the "
                                     f"latency added {added:.2f} s = {added / x['expected_s']:.2f}× the critical path")
            x = self.facts["big"].get(v)
            if x and x.get("create"):
                u, ps = x["units"], x["page_size"]
                c = x["create"]
                self.check(c["writes"] <= 4, f"big policy ({u} ids, tf {v}) create ≤ 4 writes: {c['writes']} "
                                             f"({', '.join(k for k in c['by_call'] if not k.startswith('GET'))})")
                exp = 1 + -(-u // ps)
                for i, r in enumerate(x.get("refresh", [])):
                    self.check(r["policy_gets"] == exp,
                               f"big policy refresh #{i + 1} = 1 + ⌈{u}/{ps}⌉ = {exp} policy GETs (page size = "
                               f"emulator default, no $top sent; tf {v}): {r['policy_gets']}")
                cpu = median([r["provider_cpu_s"] for r in x["refresh"]])
                rss_of = {"create": c["provider_rss_mib"] or 0,
                          "refresh": max(r["provider_rss_mib"] or 0 for r in x["refresh"]),
                          "±100 change": (x.get("change") or {}).get("provider_rss_mib") or 0}
                self.check(cpu is not None and cpu <= 1.5,
                           f"big policy provider CPU per refresh plan ≤ 1.5 s (tf {v}): median {fmt(cpu)} s")
                self.check(max(rss_of.values()) <= 150,
                           f"big policy provider peak RSS ≤ 150 MiB (tf {v}): "
                           + ", ".join(f"{k} {m:.1f} MiB" for k, m in rss_of.items()))
                ch = x.get("change")
                if ch:
                    exp = 2 + -(-100 // 50) * 2
                    self.check(ch["writes"] <= exp,
                               f"big policy ±100 change ≤ 2 + ⌈100/50⌉×2 = {exp} write requests (tf {v}): "
                               f"{ch['writes']} ({', '.join(f'{k} ×{n}' for k, n in ch['by_call'].items() if not k.startswith('GET'))}); "
                               f"GETs in the next check")
                    # `terraform apply` runs two provider processes, and only state and plan
                    # cross between them: the plan's (its refresh lists the units) and the
                    # apply's (Terraform plans again there, which lists them once more). The
                    # floor is one listing per process (decision 9) plus the writes.
                    refresh_requests = min(r["gets"] + r["writes"] for r in x["refresh"])
                    extra = ch["writes"] + ch["gets"] - 2 * refresh_requests
                    self.check(extra <= exp,
                               f"big policy ±100 change: requests beyond one listing per process "
                               f"(2 × {refresh_requests}) ≤ {exp} (tf {v}): {ch['writes'] + ch['gets']} − "
                               f"2 × {refresh_requests} = {extra} ({ch['policy_gets']} policy GETs)")
                    self.check(x.get("after_change_plan_exit") == 0,
                               f"big policy: no changes planned after the ±100 change (tf {v}): exit "
                               f"{x.get('after_change_plan_exit')}")
            x = self.facts["inline"].get(v)
            if x:
                def said(k):
                    r = x.get(k)
                    if r is None:
                        return f"{k} not run"
                    if r["exit"] == TIMED_OUT:
                        return f"{k} stopped at the {x['timeout_s']:.0f} s limit (terraform CPU {fmt(r['terraform_cpu_s'])} s)"
                    return f"{k} exit {r['exit']} in {r['wall_s']:.1f} s (terraform CPU {fmt(r['terraform_cpu_s'])} s)"
                self.check(all(k in x and x[k]["exit"] == 0 for k in ("plan", "apply", "refresh")),
                           f"inline set of {x['units']} ids plans, applies and refreshes (tf {v}): "
                           + "; ".join(said(k) for k in ("plan", "apply", "refresh")))


# The floor of one tenant's onboarding (service app + billing enablement + 3 policies of ≤ 50
# units, a tenant without a controller). Writes: register the serviceApp, activate it, enable
# billing, and per policy one POST (its units in the body) and one activate: 3 + 2 × 3 = 9;
# nothing less can leave the tenant in that state. Reads: the plan must know who controls the
# tenant (GET root + the serviceApps list, the controller lookup) before it can propose a
# registration; Terraform plans again in the apply's own provider process, which must look again
# (nothing but the state and plan travel between processes): 2 × 2 = 4. Then one read-back per
# entity whose last write Graph answers asynchronously (activate answers 202): the serviceApp (1)
# and each policy with its first units page (2 × 3), so that the state records what Graph holds:
# 4 + 7 = 11. The contract adds one more lookup: after a controller write, apply looks the tenant
# up again (GET root + our serviceApp) before its first protection write (binding decision 5: the
# activation and the enable take effect asynchronously, so their answers do not prove the tenant
# allows writes yet): 11 + 2 = 13. Policies need no read before their create (Graph answers the
# POST with the policy).
ONBOARD_FLOOR_WRITES = 9
ONBOARD_FLOOR_READS = 13


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--terraform", action="append", required=True)
    ap.add_argument("--provider", required=True)
    ap.add_argument("--emulator", required=True)
    ap.add_argument("--null-provider", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--apply-runs", type=int, default=5)
    ap.add_argument("--apply-runs-1000", type=int, default=5)
    ap.add_argument("--layouts", default="module,foreach")
    ap.add_argument("--parts", default="fleet,budget,latency,big,inline")
    ap.add_argument("--latency-n", type=int, default=100)
    ap.add_argument("--latency-ms", type=int, default=100)
    ap.add_argument("--big-units", type=int, default=50_000)
    ap.add_argument("--big-runs", type=int, default=3)
    ap.add_argument("--inline-units", type=int, default=15_000)
    ap.add_argument("--inline-timeout", type=float, default=900.0)
    ap.add_argument("--fleet-from", default=None,
                    help="work directory of an earlier run: reuse its applied fleets (plans only)")
    ap.add_argument("n", nargs="*", type=int)
    args = ap.parse_args()
    args.layouts = [x for x in args.layouts.split(",") if x]
    parts = [x for x in args.parts.split(",") if x]
    ns = args.n or [100, 1000]
    if any(n < 1 for n in ns):
        ap.error("every N must be ≥ 1")
    bench = Bench(args)
    log(f"terraform {', '.join(t.version for t in bench.tfs)}; parts {parts}; layouts {args.layouts}; "
        f"N {ns}; work directory {bench.work}")
    try:
        for tf in bench.tfs:
            if "budget" in parts:
                bench.onboarding(tf)
            if "latency" in parts:
                bench.latency(tf, args.latency_n, args.latency_ms)
            if "big" in parts:
                bench.big(tf, args.big_units)
        for tf in bench.tfs:
            # Last: Terraform's own work on a 15,000-element set can take long (see the report).
            if "inline" in parts:
                bench.inline(tf, args.inline_units)
        if "fleet" in parts:
            # Module layout first (the documented one, and the target), then for_each.
            for layout in args.layouts:
                for n in ns:
                    for tf in bench.tfs:
                        bench.fleet(tf, layout, n)
    finally:
        bench.evaluate(ns)
        text = bench.report(ns)
        (Path(args.out_dir) / "results.md").write_text(text)
        bench.save()
    print(text)
    ok = all(p for p, _ in bench.checks)
    print(f"\n(written to {Path(args.out_dir) / 'results.md'}; logs under {bench.work})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
