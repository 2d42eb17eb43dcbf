"""CPU seconds of processes over a stretch of time, from /proc (Linux), for benchmarks that
run several processes and must say where the time went.

A process's CPU is its ``utime + stime`` (every thread of it) from ``/proc/<pid>/stat``. A
server that forks a process per connection (PostgreSQL) is counted as a tree: the server
itself, every child alive at the moment of a reading, and the children that have exited and
been reaped meanwhile (``cutime + cstime`` of the parent), so backends that come and go
within the stretch are counted too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Times:
    """One process's CPU (own, and of its reaped children) and its parent's pid."""

    own_s: float
    reaped_children_s: float
    ppid: int


def times(pid: int) -> Times | None:
    """The CPU times of ``pid``, or None when it is gone (or not readable)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17.
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return Times((utime + stime) / TICKS_PER_S, (cutime + cstime) / TICKS_PER_S, int(fields[1]))


def cpu_seconds(pid: int) -> float:
    """CPU seconds ``pid`` has used so far (0 when it is gone)."""
    found = times(pid)
    return found.own_s if found is not None else 0.0


def threads_cpu_seconds(pid: int, name_prefix: str) -> float:
    """CPU seconds so far of the threads of ``pid`` whose name starts with ``name_prefix``
    (librdkafka names its threads ``rdk:main``, ``rdk:broker1`` ...). A thread that has
    ended is no longer counted: meant for threads that live as long as the process."""
    total = 0.0
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            if not (task / "comm").read_text().startswith(name_prefix):
                continue
            stat = (task / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / TICKS_PER_S
    return total


def _all_pids() -> Iterable[int]:
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of ``root`` and its descendants so far: the live ones, plus the reaped
    children's time the kernel adds to their parent's."""
    parents: dict[int, int] = {}
    own: dict[int, Times] = {}
    for pid in _all_pids():
        found = times(pid)
        if found is not None:
            own[pid] = found
            parents[pid] = found.ppid
    if root not in own:
        return 0.0
    total = 0.0
    for pid, found in own.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            total += found.own_s + found.reaped_children_s
    return total


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on TCP ``port`` (IPv4 or IPv6), or None."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    for pid in _all_pids():
        try:
            fds = list((PROC / str(pid) / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue
    return None


def parent_of(pid: int) -> int | None:
    found = times(pid)
    return found.ppid if found is not None else None
