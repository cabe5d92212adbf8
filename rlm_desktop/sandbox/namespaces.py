"""Linux namespaces for the REPL child: no network, no processes that outlive it, a disk quota.

The child moves into new user, network, PID and mount namespaces in one ``unshare`` call:
- network: no interface but a loopback that is down;
- user: it loses every privilege it had outside (root included); inside, the capabilities it
  gets are used once to mount its private folder and then dropped;
- PID: the REPL runs inside a new PID namespace (see ``become_init``); when it ends, the
  kernel kills everything else in the namespace, so nothing a cell starts can outlive it;
- mount: the private folder becomes a size-limited tmpfs, so one cell cannot fill the disk.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import sys
from dataclasses import dataclass

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x2, 0x4, 0x8
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000
_PR_SET_PDEATHSIG = 1
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


@dataclass
class Entered:
    """Which namespaces this process is in now."""

    user: bool = False
    network: bool = False
    pid: bool = False
    mount: bool = False


@functools.cache
def libc() -> ctypes.CDLL:
    """The C library, with errno kept for ``ctypes.get_errno`` (shared by ``confine``)."""
    lib = ctypes.CDLL(None, use_errno=True)
    lib.mount.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_char_p,
    ]
    lib.syscall.restype = ctypes.c_long
    return lib


def _error(what: str) -> str:
    code = ctypes.get_errno()
    return f"{what}: {os.strerror(code)}"


def enter(notes: list[str]) -> Entered:
    """Unshare user, network, PID and mount namespaces (or, failing that, user + network)."""
    entered = Entered()
    if not sys.platform.startswith("linux"):
        return entered
    lib = libc()
    uid, gid = os.geteuid(), os.getegid()
    everything = _CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWPID | _CLONE_NEWNS
    if lib.unshare(everything) == 0:
        entered = Entered(user=True, network=True, pid=True, mount=True)
    elif lib.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:
        notes.append(_error("no PID or mount namespace") + "; processes are still refused")
        entered = Entered(user=True, network=True)
    else:
        notes.append(_error("no user or network namespace"))
        return entered
    # Map our own ids so files we create carry them; without a map nothing can be created
    # on a file system mounted inside the namespace.
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError as exc:
        notes.append(f"no id map in the user namespace: {exc.strerror}")
    return entered


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def become_init(keep_fds: tuple[int, ...] = ()) -> None:
    """Fork into the new PID namespace; return in the process that will run the cells.

    Three processes result: the caller only relays the exit status to the app; its child
    is process 1 of the namespace and only waits (when it exits, the kernel kills everything
    left in the namespace); its grandchild, process 2, returns from here and runs the REPL,
    as an ordinary process (process 1 ignores signals it has no handler for). The two
    waiting processes close ``keep_fds`` (the channel), so the app sees the channel close
    as soon as the REPL dies.
    """
    child = os.fork()
    if child:
        _close(keep_fds)
        _relay_exit(child, as_init=False)
    _die_with_parent()
    worker = os.fork()
    if worker:
        _close(keep_fds)
        _relay_exit(worker, as_init=True)
    _die_with_parent()


def _die_with_parent() -> None:
    # If the process above is killed on its own, so is this one (the app kills the whole
    # process group anyway; this also covers a cell that left the group).
    libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _close(fds: tuple[int, ...]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _relay_exit(child: int, *, as_init: bool) -> None:
    """Wait for ``child`` and end this process the way it ended (never returns).

    Process 1 cannot kill itself with a signal, so it passes a death by signal N on as the
    exit status 128 + N, which the outer process turns back into signal N for the app.
    """
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    number = -code if code < 0 else code - 128 if not as_init and code > 128 else 0
    if number and not as_init:
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(128 + number if number else code)


def mount_private_folder(path: str, size_mb: int) -> str | None:
    """Mount a tmpfs of ``size_mb`` over ``path`` in this mount namespace; None or why not."""
    lib = libc()
    if lib.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return _error("cannot make the mounts private")
    options = f"size={size_mb}m,nr_inodes=65536,mode=0700".encode()
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    if lib.mount(b"tmpfs", os.fsencode(path), b"tmpfs", flags, options) != 0:
        return _error("cannot mount the size-limited folder")
    os.chdir(path)  # the old working directory is the folder under the new mount
    return None


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities() -> bool:
    """Give up every capability (those the user namespace granted); True when done."""
    lib = libc()
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    return lib.capset(ctypes.byref(header), data) == 0
