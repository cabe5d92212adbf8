"""Confinement the REPL child applies to itself before it runs any model-written code.

Layers, each used when the platform allows it (see ``namespaces`` and ``syscall_filter``
for the namespaces and the seccomp filter):
- Landlock: the filesystem becomes read-only except the child's private folder, and only
  what Python, the app and the library need can be read at all (no home folders, no
  ``/etc/shadow``); on newer kernels TCP connect/bind and signals to processes outside the
  sandbox are refused too;
- resource limits (address space, CPU seconds, file size, open files, no new processes,
  no core dumps), applied everywhere POSIX allows;
- an audit hook refusing sockets, process creation, ctypes and file writes outside the
  private folder with a friendly message: the first line a cell meets, but no containment
  depends on it, since a cell can switch it off.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import asdict, dataclass, field

from rlm_desktop.sandbox import namespaces

# Syscall numbers are the same on x86_64 and aarch64 (the generic table).
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1, 2, 4, 8
_FS_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
_FS_ALL_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_NET_ALL = 0b11  # bind and connect TCP (ABI 4+)
_SCOPE_ALL = 0b11  # abstract unix sockets and signals (ABI 6+)

# What Python and the REPL read outside their own folders: system libraries and a few
# named files of /etc (never the whole of it: /etc/shadow, keys and other users' files).
_READABLE = (
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/bin",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/mime.types",
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
    "/proc/self",
    "/proc/cpuinfo",
    "/sys/devices/system/cpu",
)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


@dataclass
class Isolation:
    """What confinement is in force in a REPL child; shown to the user as a level."""

    level: str = "basic"
    network_namespace: bool = False
    pid_namespace: bool = False
    disk_quota_mb: int = 0  # size of the private folder's tmpfs, 0 when not in force
    landlock_abi: int = 0
    seccomp: bool = False
    denied_syscalls: list[str] = field(default_factory=list)
    capabilities_dropped: bool = False
    audit_hook: bool = False
    rlimits: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def decide_level(self) -> None:
        """``strong`` when every kernel layer is in force, ``standard`` with some of them."""
        layers = [self.network_namespace, self.pid_namespace, bool(self.landlock_abi)]
        layers.append(self.seccomp)
        self.level = "strong" if all(layers) else "standard" if any(layers) else "basic"

    def layers(self) -> list[tuple[str, bool, str]]:
        """Each layer as (name, in force, what it stops), for `doctor` and the About box."""
        quota = f"{self.disk_quota_mb} MB" if self.disk_quota_mb else "no quota"
        landlock = f"ABI {self.landlock_abi}" if self.landlock_abi else "not in force"
        return [
            ("separate process", True, "a crash or a hang never takes the app down"),
            (
                "network namespace",
                self.network_namespace,
                "no network interface: no TCP, UDP or DNS",
            ),
            (
                "PID namespace",
                self.pid_namespace,
                "nothing started inside outlives the REPL",
            ),
            (
                "private folder (tmpfs)",
                bool(self.disk_quota_mb),
                f"writes land in a private folder ({quota}) removed afterwards",
            ),
            (
                f"Landlock ({landlock})",
                bool(self.landlock_abi),
                "reads only Python, the app and the library; writes only the private folder",
            ),
            (
                "seccomp filter",
                self.seccomp,
                "no sockets, processes, ptrace, chmod/utime/xattr, mounts or io_uring",
            ),
            ("capabilities dropped", self.capabilities_dropped, "no privileges at all"),
            ("resource limits", bool(self.rlimits), "memory, CPU time, file size, open files"),
            ("audit hook", self.audit_hook, "friendly messages; no containment depends on it"),
        ]

    def describe(self) -> str:
        """The level and each layer marked in force (✓) or missing (✗); then any notes."""
        marks = [f"{'✓' if on else '✗'} {name}" for name, on, _ in self.layers()]
        lines = [f"{self.level}: " + " · ".join(marks)]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict:
        """A JSON-safe dict."""
        return asdict(self)

    def summary(self) -> str:
        """One line for a status bar or the CLI."""
        parts = ["separate process", "resource limits"]
        if self.network_namespace:
            parts.append("no network (namespace)")
        if self.pid_namespace:
            parts.append("PID namespace")
        if self.disk_quota_mb:
            parts.append(f"{self.disk_quota_mb} MB private folder")
        if self.landlock_abi:
            parts.append(f"filesystem confined (Landlock ABI {self.landlock_abi})")
        if self.seccomp:
            parts.append("seccomp filter")
        if self.audit_hook:
            parts.append("audit hook")
        return f"{self.level}: " + ", ".join(parts)


_CPU_GRACE_S = 5


def apply_rlimits(memory_mb: int, cpu_s: int, file_mb: int, open_files: int) -> dict[str, int]:
    """Set the OS resource limits of this process; return what was set."""
    import resource

    wanted = {
        "RLIMIT_AS": memory_mb * 1024 * 1024,
        "RLIMIT_CPU": cpu_s,
        "RLIMIT_FSIZE": file_mb * 1024 * 1024,
        "RLIMIT_NOFILE": open_files,
        "RLIMIT_CORE": 0,
        # No new processes for an ordinary user without namespaces (the basic level); root
        # and the user namespace are not bound by it, which is why seccomp refuses them.
        "RLIMIT_NPROC": 0,
    }
    applied = {}
    for name, value in wanted.items():
        which = getattr(resource, name, None)
        if which is None:
            continue
        # CPU time: SIGXCPU (which says why) at the limit, SIGKILL a few seconds later.
        hard = value + _CPU_GRACE_S if name == "RLIMIT_CPU" else value
        try:
            resource.setrlimit(which, (value, hard))
            applied[name] = value
        except (ValueError, OSError):
            continue
    return applied


def landlock(writable: str, readable: list[str]) -> int:
    """Confine the filesystem (and TCP, signals where supported); return the ABI used, or 0."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = namespaces.libc()
    abi = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    if abi <= 0:
        return 0
    fs_all = _FS_ALL_BY_ABI[max(k for k in _FS_ALL_BY_ABI if k <= abi)]
    attr = _RulesetAttr(fs_all, _NET_ALL if abi >= 4 else 0, _SCOPE_ALL if abi >= 6 else 0)
    size = ctypes.sizeof(attr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        return 0
    try:
        for path, access in [(p, _FS_READ) for p in readable] + [(writable, fs_all)]:
            _allow(libc, ruleset, path, access, fs_all)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return 0
        if libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
            return 0
    finally:
        os.close(ruleset)
    return abi


def _allow(libc: ctypes.CDLL, ruleset: int, path: str, access: int, fs_all: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            # Directory-only rights are invalid on a file.
            access &= (
                _FS_EXECUTE
                | _FS_WRITE_FILE
                | _FS_READ_FILE
                | (fs_all & (1 << 14))
                | (fs_all & (1 << 15))
            )
        rule = _PathBeneathAttr(access & fs_all, fd)
        libc.syscall(
            _SYS_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0
        )
    finally:
        os.close(fd)


def readable_paths(extra: list[str]) -> list[str]:
    """Folders Python and the REPL need to read, plus ``extra`` (e.g. the library)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = set(_READABLE) | set(extra) | {package}
    bundle = getattr(sys, "_MEIPASS", "")  # a frozen build's own folder
    for entry in [sys.prefix, sys.base_prefix, sys.exec_prefix, bundle, *sys.path]:
        if entry and os.path.exists(entry):
            paths.add(os.path.realpath(entry))
    return sorted(paths)


_BLOCKED_EVENTS = {
    "socket.__new__": "network access",
    "socket.connect": "network access",
    "socket.bind": "network access",
    "socket.getaddrinfo": "network access",
    "subprocess.Popen": "starting processes",
    "os.system": "starting processes",
    "os.exec": "starting processes",
    "os.posix_spawn": "starting processes",
    "os.spawn": "starting processes",
    "os.fork": "starting processes",
    "os.forkpty": "starting processes",
    "pty.spawn": "starting processes",
    "os.kill": "signalling processes",
    "os.killpg": "signalling processes",
    "ctypes.dlopen": "ctypes",
    "ctypes.dlsym": "ctypes",
    "ctypes.cdata": "ctypes",
    "ctypes.call_function": "ctypes",
}
_WRITE_EVENTS = {
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.truncate",
    "os.symlink",
    "os.link",
    "shutil.rmtree",
    "os.utime",
    "os.chown",
}


@dataclass
class _HookState:
    """The hook's switch. Any cell can reach it (through ``sys.modules``) and turn it off;
    that is why no containment depends on the hook."""

    enabled: bool = True


_hook_state = _HookState()


def install_audit_hook(writable: str) -> None:
    """Refuse network, process creation, ctypes and writes outside ``writable``."""
    root = os.path.realpath(writable) + os.sep

    def inside(path: object) -> bool:
        if isinstance(path, int):
            return True  # an already-open descriptor
        if not isinstance(path, (str, bytes, os.PathLike)):
            return False
        try:
            full = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return (full + os.sep).startswith(root)

    def hook(event: str, args: tuple) -> None:
        if not _hook_state.enabled:
            return
        reason = _BLOCKED_EVENTS.get(event)
        if reason is None and event.startswith(("os.exec", "os.spawn", "os.posix_spawn")):
            reason = "starting processes"
        if reason is not None:
            raise PermissionError(f"sandbox: {reason} is not allowed")
        if event == "open" and len(args) >= 2:
            path, mode = args[0], args[1]
            flags = args[2] if len(args) > 2 else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            )
            if writing and not inside(path):
                raise PermissionError(f"sandbox: writing outside the sandbox folder: {path}")
        elif event in _WRITE_EVENTS and args and not inside(args[0]):
            raise PermissionError(f"sandbox: changing files outside the sandbox folder: {args[0]}")

    sys.addaudithook(hook)
