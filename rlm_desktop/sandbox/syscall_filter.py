"""The REPL child's seccomp filter: system calls that no cell may make, refused by the kernel.

Installed in the child after it has loaded ``context`` and before any model-written code
runs, so every containment below holds even when the Python audit hook has been switched off
from a cell. libseccomp builds the BPF program, checks the architecture of every call (a 32-bit
or x32 call on a 64-bit kernel kills the process) and knows the syscall numbers of each
architecture. It is called through ctypes by its soname: the ``pyseccomp`` binding does the
same, but its import looks the library up by running ``ldconfig``, which added 36 ms to every
REPL start (measured here); the five functions used below are libseccomp's stable API.

It is a deny-list over a default of "allow": CPython, numpy and SQLite need a different set of
system calls on every libc and kernel, and an allow-list that misses one kills an honest
cell; the families that let code leave the sandbox are few and stable, and are listed here.
A denied call fails with EPERM (``PermissionError``), so the cell sees an ordinary error.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform

# New sockets of any family and the calls that give a socket a peer. The channel to the
# app is inherited already connected, so the child never needs these.
NETWORK = ("socket", "socketpair", "connect", "bind", "listen", "accept", "accept4")
# New processes and programs (threads are allowed: see CLONE_THREAD below).
PROCESSES = ("fork", "vfork", "execve", "execveat")
# Other processes' memory.
DEBUGGING = ("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd")
# File metadata that Landlock does not cover.
METADATA = (
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "utime",
    "utimes",
    "futimesat",
    "utimensat",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "setxattrat",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "removexattrat",
    "mknod",
    "mknodat",
)
# Namespaces, mounts, identities, sessions and kernel facilities that are ways out (or ways
# around the other filters: io_uring performs file and socket operations without syscalls).
KERNEL = (
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "quotactl_fd",
    "name_to_handle_at",
    "open_by_handle_at",
    "syslog",
    "setsid",
    "setpgid",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setgroups",
    "capset",
    "personality",
)
DENIED = NETWORK + PROCESSES + DEBUGGING + METADATA + KERNEL

_CLONE_THREAD = 0x00010000
_TIOCSTI = 0x5412  # push characters into a terminal's input


class FilterUnavailable(Exception):
    """libseccomp (or the kernel's seccomp) is not available here."""


_ALLOW = 0x7FFF0000
_KILL_PROCESS = 0x80000000
_ATTR_ACT_BADARCH = 2
_CMP_EQ, _CMP_MASKED_EQ = 4, 7
_NR_UNKNOWN = -1


def _errno_action(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _libseccomp() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError as exc:
        raise FilterUnavailable(f"libseccomp is not installed ({exc})") from exc
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


class Filter:
    """A filter built in libseccomp, loaded into the kernel later (after the other layers)."""

    def __init__(self) -> None:
        self._lib = _libseccomp()
        self._ctx = self._lib.seccomp_init(_ALLOW)
        if not self._ctx:
            raise FilterUnavailable("libseccomp could not create a filter")
        # A call of another architecture (int 0x80 or x32 on x86_64) ends the process.
        self._lib.seccomp_attr_set(self._ctx, _ATTR_ACT_BADARCH, _KILL_PROCESS)
        self.denied: list[str] = []

    def deny(self, name: str, code: int = errno.EPERM, *args: tuple[int, int, int, int]) -> None:
        """Refuse a system call with ``code`` (when its arguments match ``args``, if given)."""
        number = self._lib.seccomp_syscall_resolve_name(name.encode())
        if number == _NR_UNKNOWN:
            return  # a call this architecture or this libseccomp does not know
        compare = (_ArgCmp * max(1, len(args)))(*[_ArgCmp(*arg) for arg in args])
        if self._lib.seccomp_rule_add_array(
            self._ctx, _errno_action(code), number, len(args), compare
        ):
            return
        self.denied.append(name)

    def load(self) -> None:
        """Install the filter in this process, irreversibly."""
        result = self._lib.seccomp_load(self._ctx)
        self._lib.seccomp_release(self._ctx)
        self._ctx = None
        if result != 0:
            raise FilterUnavailable(f"the kernel refused the filter ({os.strerror(-result)})")


def build() -> Filter:
    """Build the filter; raise FilterUnavailable when libseccomp cannot be loaded."""
    rules = Filter()
    for name in DENIED:
        rules.deny(name)
    # clone() is how both threads and processes are made: refuse it unless CLONE_THREAD is set.
    flags_arg = 1 if platform.machine().startswith("s390") else 0
    rules.deny("clone", errno.EPERM, (flags_arg, _CMP_MASKED_EQ, _CLONE_THREAD, 0))
    # clone3() passes its flags in memory the filter cannot read: answer "not implemented",
    # so the C library falls back to clone() for threads.
    rules.deny("clone3", errno.ENOSYS)
    rules.deny("ioctl", errno.EPERM, (1, _CMP_EQ, _TIOCSTI, 0))
    return rules
