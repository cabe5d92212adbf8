"""Attacks on the sandbox, tried as a hostile model would, each twice: once as the REPL starts,
once after the cell has switched the Python audit hook off. Every one must fail at the OS level
and leave a REPL (or a fresh one) that works.

A test skips only when this kernel lacks the layer that stops the attack, and says which.
"""

import contextlib
import os
import socket
import stat
import threading
import time

import pytest

from rlm_desktop.ingest import pipeline
from rlm_desktop.sandbox.host import Sandbox, SandboxLimits
from rlm_desktop.store import Library

HOOK_OFF = (
    "import sys\n"
    "sys.modules['rlm_desktop.sandbox.confine']._hook_state.enabled = False\n"
    "sys.modules['rlm_desktop.sandbox.confine']._BLOCKED_EVENTS.clear()\n"
)
# Finds the REPL's channel to the app and writes frames on it, as a cell can.
FORGE = """
import gc, json, socket, struct
sock = next(o for o in gc.get_objects() if isinstance(o, socket.socket))
repl = next(o for o in gc.get_objects() if type(o).__name__ == 'Repl')
def send(message):
    data = json.dumps(message).encode()
    sock.sendall(struct.pack('>I', len(data)) + data)
def result(**fields):
    frame = {'type': 'result', 'cell': repl.cell, 'stdout': '', 'stderr': '', 'error': None,
             'final': None, 'citations': [], 'changed': [], 'duration': 0.0}
    frame.update(fields)
    send(frame)
"""


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("security-lib")
    docs = folder / "docs"
    docs.mkdir()
    (docs / "ops.log").write_text(
        "".join(f"2026-11-0{n % 9 + 1} sshd[{n}]: Accepted key for deploy\n" for n in range(200))
    )
    with Library(folder / "lib") as lib:
        pipeline.ingest(lib, [docs])
    return folder / "lib"


@pytest.fixture(params=["hook on", "hook off"])
def hook_off(request) -> bool:
    return request.param == "hook off"


@pytest.fixture
def box(library_dir, hook_off):
    with Sandbox(library=library_dir, limits=SandboxLimits(timeout_s=20)) as sandbox:
        if hook_off:
            cleared = sandbox.execute(HOOK_OFF)
            assert cleared.error is None, cleared.stderr
        yield sandbox


def needs(box: Sandbox, hook_off: bool, *layers: str) -> None:
    """Skip when the hook is off and this kernel lacks every layer that stops the attack."""
    isolation = box.isolation
    assert isolation is not None
    present = {
        "seccomp": isolation.seccomp,
        "landlock": bool(isolation.landlock_abi),
        "network namespace": isolation.network_namespace,
        "PID namespace": isolation.pid_namespace,
        "disk quota": bool(isolation.disk_quota_mb),
    }
    if hook_off and not any(present[layer] for layer in layers):
        pytest.skip(f"this kernel lacks {' and '.join(layers)}: {'; '.join(isolation.notes)}")


def refused(result) -> bool:
    return result.error == "exception" and (
        "PermissionError" in result.stderr or "Operation not permitted" in result.stderr
    )


def still_works(box: Sandbox) -> None:
    after = box.execute("print(len(context) > 1000)")
    assert after.stdout == "True\n", after.stderr + after.message


# ------------------------------------------------------------------------------- network


def test_a_unix_socket_on_the_host_cannot_be_reached(box, hook_off, tmp_path):
    needs(box, hook_off, "seccomp")
    path = tmp_path / "agent.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(1)
    listener.settimeout(1.0)
    accepted = []

    def accept():
        with contextlib.suppress(OSError):
            accepted.append(listener.accept())

    thread = threading.Thread(target=accept)
    thread.start()
    result = box.execute(
        "import socket\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        f"s.connect({str(path)!r})\n"
        "s.sendall(b'GET /containers/json')"
    )
    thread.join()
    listener.close()
    assert refused(result) and accepted == []
    still_works(box)


@pytest.mark.parametrize(
    "code",
    [
        "socket.create_connection(('127.0.0.1', PORT), 2)",
        "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', PORT))",
        "socket.socket(socket.AF_UNIX).connect('\\0abstract-name')",
        "socket.socketpair()",
    ],
)
def test_no_network_of_any_kind(box, hook_off, code):
    needs(box, hook_off, "seccomp", "network namespace")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    result = box.execute("import socket\n" + code.replace("PORT", str(port)))
    server.close()
    assert result.error == "exception"
    still_works(box)


# ------------------------------------------------------------------------------- processes


@pytest.mark.parametrize(
    "code",
    [
        "import subprocess\nsubprocess.run(['/bin/sh', '-c', 'echo escaped'])",
        "import os\nos.posix_spawn('/bin/sh', ['sh', '-c', 'echo escaped'], {})",
        "import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)",
        "import os\nos.execv('/bin/sh', ['sh', '-c', 'echo escaped'])",
    ],
)
def test_no_process_can_be_started(box, hook_off, code):
    needs(box, hook_off, "seccomp")
    result = box.execute(code)
    assert refused(result) and "escaped" not in result.stdout
    still_works(box)


def test_native_fork_and_system_are_refused_too(box, hook_off):
    needs(box, hook_off, "seccomp")
    result = box.execute(
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None)\n"
        "pid = libc.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0)\n"
        "print('fork', 'refused' if pid < 0 else 'worked')\n"
        "print('system', libc.system(b'echo escaped > /dev/null'))"
    )
    if hook_off:
        assert "fork refused" in result.stdout and "worked" not in result.stdout
        assert "system 0" not in result.stdout
    else:
        assert refused(result) and "sandbox: ctypes" in result.stderr
    still_works(box)


def test_nothing_started_inside_outlives_the_repl(library_dir):
    with Sandbox(library=library_dir) as sandbox:
        assert sandbox.isolation is not None
        if not sandbox.isolation.pid_namespace:
            pytest.skip(f"this kernel gives no PID namespace: {sandbox.isolation.notes}")
        status = sandbox.execute("print(open('/proc/self/status').read())").stdout
    ids = next(line for line in status.splitlines() if line.startswith("NSpid:")).split()[1:]
    # The REPL is process 2 of a namespace of its own: when it ends, the kernel ends every
    # process left in that namespace.
    assert len(ids) >= 2 and ids[-1] == "2"
    outer = int(ids[0])
    for _ in range(50):
        if not os.path.exists(f"/proc/{outer}"):
            break
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{outer}")


def test_the_app_cannot_be_signalled(box, hook_off):
    needs(box, hook_off, "PID namespace", "landlock")
    result = box.execute(f"import os, signal\nos.kill({os.getpid()}, signal.SIGTERM)")
    assert result.error == "exception"
    still_works(box)


# ------------------------------------------------------------------------------- files


def test_metadata_of_files_outside_cannot_change(box, hook_off, tmp_path):
    needs(box, hook_off, "seccomp")
    target = tmp_path / "report.txt"
    target.write_text("quarterly figures")
    os.chmod(target, 0o644)
    before = target.stat()
    attempts = [
        f"os.chmod({str(target)!r}, 0o777)",
        f"os.utime({str(target)!r}, (0, 0))",
        f"os.chown({str(target)!r}, 1, 1)",
        f"os.setxattr({str(target)!r}, 'user.planted', b'1')",
    ]
    for attempt in attempts:
        result = box.execute(f"import os\n{attempt}")
        assert result.error == "exception", attempt
    after = target.stat()
    assert stat.S_IMODE(after.st_mode) == 0o644 and after.st_mtime_ns == before.st_mtime_ns
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    with contextlib.suppress(OSError):
        assert "user.planted" not in os.listxattr(target)
    still_works(box)


@pytest.mark.parametrize(
    "path",
    ["/etc/shadow", "/etc/ssh", "HOME", "TMP", "/proc/1/environ", "/proc/APP/environ"],
)
def test_secrets_homes_and_other_files_cannot_be_read(box, hook_off, tmp_path, path):
    needs(box, hook_off, "landlock")
    secret = tmp_path / "other-users-notes.txt"
    secret.write_text("the launch code is 0000")
    path = (
        path.replace("HOME", os.path.expanduser("~"))
        .replace("TMP", str(secret))
        .replace("APP", str(os.getpid()))
    )
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist on this machine")
    code = (
        f"import os\np = {path!r}\n"
        "print(os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read())"
    )
    result = box.execute(code)
    assert result.error == "exception" and "launch code" not in result.stdout
    assert "PermissionError" in result.stderr or "FileNotFoundError" in result.stderr
    still_works(box)


def test_nothing_outside_the_private_folder_can_be_written(box, hook_off, tmp_path, library_dir):
    needs(box, hook_off, "landlock")
    outside = tmp_path / "planted.txt"
    for code in (
        f"open({str(outside)!r}, 'w').write('x')",
        f"open({str(library_dir / 'library.db')!r}, 'r+b').write(b'junk')",
        f"import os\nos.rename({str(library_dir / 'library.db')!r}, {str(library_dir / 'x.db')!r})",
    ):
        assert refused(box.execute(code)), code
    assert not outside.exists() and (library_dir / "library.db").exists()
    assert box.execute("open('scratch.txt', 'w').write('mine')").error is None
    still_works(box)


def test_python_and_the_library_still_work_inside(box):
    result = box.execute(
        "import json, decimal, sqlite3, re, statistics, collections\n"
        "print(len(context.search('Accepted key', k=3)), len(context.grep('deploy')) > 0)"
    )
    assert result.error is None, result.stderr
    assert result.stdout == "3 True\n"


def test_the_private_folder_has_a_disk_quota(library_dir, hook_off):
    with Sandbox(library=library_dir, limits=SandboxLimits(disk_mb=32)) as sandbox:
        if hook_off:
            sandbox.execute(HOOK_OFF)
        needs(sandbox, hook_off, "disk quota")
        result = sandbox.execute(
            "for n in range(4):\n    open(f'blob{n}', 'wb').write(b'x' * 12 * 2**20)"
        )
        assert result.error == "exception" and "No space left" in result.stderr
        assert "quota is 32 MB" in result.stderr
        assert sandbox.execute("import os\nos.remove('blob0')\nprint('ok')").stdout == "ok\n"


# ------------------------------------------------------------------------------- kernel


def test_kernel_facilities_are_refused(box, hook_off):
    needs(box, hook_off, "seccomp")
    code = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "calls = {'unshare': (272, 0x10000000), 'io_uring_setup': (425, 8, 0),\n"
        "         'ptrace': (101, 0, 0, 0, 0), 'mount': (165, b'none', b'/tmp', b'tmpfs', 0, 0),\n"
        "         'bpf': (321, 0, 0, 0), 'userfaultfd': (323, 0), 'setns': (308, 0, 0)}\n"
        "for name, args in calls.items():\n"
        "    print(name, libc.syscall(*args), ctypes.get_errno())\n"
    )
    import platform

    if platform.machine() != "x86_64":
        pytest.skip("the syscall numbers in this test are x86_64's")
    result = box.execute(code)
    if not hook_off:
        assert refused(result) and "sandbox: ctypes" in result.stderr
    else:
        lines = result.stdout.splitlines()
        assert len(lines) == 7, result.stderr
        for line in lines:
            _name, value, errno = line.split()
            assert value == "-1" and errno == "1", line
    still_works(box)


# ------------------------------------------------------------------------------- the channel


def test_a_forged_final_answer_is_refused_and_the_repl_replaced(box):
    result = box.execute(
        FORGE + "result(stdout='', final='The launch code is 0000', "
        "citations=['text that is in no document'])\nimport time\ntime.sleep(0.5)"
    )
    assert result.final is None and result.error == "killed" and result.state_lost
    assert "broke the protocol" in result.message and "FINAL" in result.message
    after = box.execute("print('my own output')")
    assert after.stdout == "my own output\n" and after.state_lost


def test_forged_provenance_is_ignored_and_a_late_reply_ends_that_repl(box):
    forged = {
        "path": "/etc/shadow",
        "document": "shadow",
        "page": None,
        "page_label": None,
        "line_start": 1,
        "line_end": 1,
        "start": 0,
        "end": 10,
        "context_start": 0,
        "context_end": 10,
        "via": "printed",
    }
    result = box.execute(
        FORGE + f"result(stdout='hello', explored=[{forged!r}])\nimport time\ntime.sleep(0.3)"
    )
    assert all(e.path != "/etc/shadow" for e in result.explored)
    # The real reply of that cell arrives later: the app does not take it for the next cell's.
    after = box.execute("print('second cell')")
    assert after.stdout == "second cell\n" and after.state_lost


def test_printed_library_text_is_traced_by_the_app(box):
    result = box.execute("print(context.documents[0].text[:300])")
    assert result.explored and all(e.document == "ops.log" for e in result.explored)
    assert result.explored[0].line_start == 1


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("sock.sendall(struct.pack('>I', 100 * 2**20))", "limit"),
        ("sock.sendall(struct.pack('>I', 9) + b'not json!')", "malformed"),
        ("result(cell=repl.cell + 7)", "another cell"),
        ("send({'type': 'ready'})", "unexpected"),
    ],
)
def test_malformed_oversized_or_out_of_order_frames_end_the_child(box, frame, expected):
    result = box.execute(FORGE + frame + "\nimport time\ntime.sleep(1)")
    assert result.error == "killed" and result.state_lost
    assert expected in result.message and "broke the protocol" in result.message
    still_works(box)


def test_output_past_the_cap_is_cut_by_the_app(box):
    result = box.execute(FORGE + "result(stdout='x' * 5_000_000)\nimport time\ntime.sleep(0.3)")
    assert len(result.stdout) < 20_200 and "more characters not shown" in result.stdout


# ------------------------------------------------------------------------------- deaths


@pytest.mark.parametrize(
    ("code", "limits", "expected"),
    [
        ("import os\nos._exit(3)", {}, "exited with status 3"),
        ("import signal\nsignal.raise_signal(signal.SIGKILL)", {}, "SIGKILL"),
        ("while True:\n    pass", {"cpu_s": 1}, "CPU time"),
        ("import ctypes\nctypes.string_at(0)", {}, "SIGSEGV"),
    ],
)
def test_a_repl_that_dies_says_why_and_that_its_variables_were_lost(
    library_dir, code, limits, expected
):
    with Sandbox(library=library_dir, limits=SandboxLimits(**limits)) as sandbox:
        sandbox.execute(HOOK_OFF + "kept = 1")
        result = sandbox.execute(code, timeout=30)
        assert result.state_lost and expected in result.message, result.message
        assert "variables were lost" in result.message
        assert sandbox.execute("print('kept' in globals())").stdout == "False\n"
