"""Peak RSS of every process of a `bayes-il2 run` (issue #19): poll /proc while the command runs.

Usage: python benchmarks/run_memory.py OUT_DIR -- bayes-il2 run --quiet --out OUT_DIR [...]

Every 50 ms it reads VmHWM (the kernel's peak resident size, KiB) of the command and of all its
descendants, and names a worker after the analysis folder it writes (`atomic_directory`'s temporary
`.<name>.<pid>.<rand>.tmp`, which carries the writer's pid). Prints one line per process:
pid, role (parent / analysis name / child of an analysis), peak in MB (KiB x 1.024 / 1000) and KiB,
CPU seconds (user + system, last seen: a lower bound for a process that ends between polls), then the command's wall time and its children's CPU seconds (getrusage).
"""
from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def _hwm(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main() -> int:
    out = Path(sys.argv[1])
    command = sys.argv[sys.argv.index("--") + 1:]
    started = time.perf_counter()
    proc = subprocess.Popen(command)
    peaks: dict[int, int] = {}
    cpu: dict[int, float] = {}
    parent_of: dict[int, int] = {}
    names: dict[int, str] = {}
    pattern = re.compile(r"^\.(.+)\.(\d+)\.[^.]+\.tmp$")
    while proc.poll() is None:
        todo = [proc.pid]
        while todo:
            pid = todo.pop()
            kib = _hwm(pid)
            if kib is not None:
                peaks[pid] = max(peaks.get(pid, 0), kib)
            seconds = _cpu(pid)
            if seconds is not None:
                cpu[pid] = max(cpu.get(pid, 0.0), seconds)
            for child in _children(pid):
                parent_of.setdefault(child, pid)
                todo.append(child)
        try:
            for entry in os.listdir(out):
                m = pattern.match(entry)
                if m:
                    names.setdefault(int(m.group(2)), m.group(1))
        except OSError:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)

    def role(pid: int) -> str:
        if pid == proc.pid:
            return "parent"
        if pid in names:
            return names[pid]
        up = parent_of.get(pid)
        return f"child of {role(up)}" if up is not None else "?"

    for pid, kib in sorted(peaks.items(), key=lambda kv: -kv[1]):
        print(f"{pid:>8}  {role(pid):<45} {kib * 1.024 / 1000:7.0f} MB  ({kib:,} KiB)  {cpu.get(pid, 0):6.1f} CPU s")
    print(f"exit {proc.returncode}; wall {wall:.1f} s; CPU {usage.ru_utime:.1f} user + {usage.ru_stime:.1f} sys; "
          f"load {os.getloadavg()}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
