"""The REPL child's seccomp filter: system calls that no cell may make, refused by the kernel.

Installed in the child after it has loaded ``context`` and before any model-written code
runs, so every containment below holds even when the Python audit hook has been switched off
from a cell. libseccomp (through the ``pyseccomp`` binding) builds the BPF program, checks
the architecture of every call (a 32-bit or x32 call on a 64-bit kernel kills the process)
and knows the syscall numbers of each architecture.

It is a deny-list over a default of "allow": CPython, numpy and SQLite need a different set of
system calls on every libc and kernel, and an allow-list that misses one kills an honest
cell; the families that let code leave the sandbox are few and stable, and are listed here.
A denied call fails with EPERM (``PermissionError``), so the cell sees an ordinary error.
"""

from __future__ import annotations

import errno
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


class Filter:
    """A built filter, loaded later: building needs libseccomp's library lookup, which runs
    a helper program, so it happens before process creation is limited."""

    def __init__(self, rules: object, denied: list[str]) -> None:
        self._rules = rules
        self.denied = denied

    def load(self) -> None:
        """Install the filter in this process, irreversibly."""
        try:
            self._rules.load()  # type: ignore[attr-defined]
        except OSError as exc:
            raise FilterUnavailable(f"the kernel refused the seccomp filter ({exc})") from exc


def build() -> Filter:
    """Build the filter; raise FilterUnavailable when libseccomp cannot be loaded."""
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError, RuntimeError) as exc:
        raise FilterUnavailable(f"libseccomp is not available ({exc})") from exc
    deny = seccomp.ERRNO(errno.EPERM)
    try:
        rules = seccomp.SyscallFilter(seccomp.ALLOW)
        # A call of another architecture (int 0x80 on x86_64) ends the process.
        rules.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    except OSError as exc:
        raise FilterUnavailable(f"libseccomp refused to build a filter ({exc})") from exc
    denied = []
    for name in DENIED:
        try:
            rules.add_rule(deny, name)
        except (OSError, ValueError):
            continue  # a call this architecture or this libseccomp does not know
        denied.append(name)
    # clone() is how both threads and processes are made: refuse it unless CLONE_THREAD is set.
    flags_arg = 1 if platform.machine().startswith("s390") else 0
    clone_flags = seccomp.Arg(flags_arg, seccomp.MASKED_EQ, _CLONE_THREAD, 0)
    rules.add_rule(deny, "clone", clone_flags)
    denied.append("clone (except threads)")
    # clone3() passes its flags in memory the filter cannot read: answer "not implemented",
    # so the C library falls back to clone() for threads.
    try:
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        denied.append("clone3")
    except (OSError, ValueError):
        pass
    rules.add_rule(deny, "ioctl", seccomp.Arg(1, seccomp.EQ, _TIOCSTI))
    denied.append("ioctl(TIOCSTI)")
    return Filter(rules, denied)
