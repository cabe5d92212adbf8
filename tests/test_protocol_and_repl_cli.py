import json
import socket
import struct

import pytest
from click.testing import CliRunner

from rlm_desktop.cli import cli
from rlm_desktop.sandbox import protocol
from tests.conftest import SAMPLES


def test_frames_round_trip_and_bad_frames_are_refused():
    a, b = socket.socketpair()
    with a, b:
        protocol.send(a, {"type": "exec", "code": "print('é')"})
        assert protocol.receive(b) == {"type": "exec", "code": "print('é')"}
        a.sendall(struct.pack(">I", 5) + b"[1,2]")
        with pytest.raises(protocol.ProtocolError, match="JSON object"):
            protocol.receive(b)
        a.sendall(struct.pack(">I", 3) + b"{x}")
        with pytest.raises(protocol.ProtocolError, match="malformed"):
            protocol.receive(b)
        a.sendall(struct.pack(">I", protocol.MAX_FRAME + 1))
        with pytest.raises(protocol.ProtocolError, match="exceeds"):
            protocol.receive(b)
    with pytest.raises(protocol.ProtocolError, match="field 'code'"):
        protocol.field({"type": "exec", "code": 3}, "code", str)


@pytest.fixture
def lib(tmp_path):
    runner = CliRunner()
    folder = str(tmp_path / "lib")
    assert runner.invoke(cli, ["ingest", str(SAMPLES), "--library", folder]).exit_code == 0
    return runner, folder


def test_repl_exec_json_reports_output_and_explored_passages(lib, tmp_path):
    runner, folder = lib
    cell = tmp_path / "cell.py"
    cell.write_text("hits = context.grep('Failed password')\nprint(hits[0].text)\n")
    result = runner.invoke(cli, ["repl", "--library", folder, "--exec", str(cell), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["error"] is None and "Failed password" in data["stdout"]
    (explored,) = data["explored"]
    assert explored["path"].endswith("OpenSSH_2k.log") and explored["via"] == "printed"
    assert explored["page"] is None and explored["line_start"] == explored["line_end"] == 6
    text = (SAMPLES / "OpenSSH_2k.log").read_bytes().decode()
    assert "Failed password" in text[explored["start"] : explored["end"]]


def test_repl_exec_exits_1_when_the_cell_fails_or_times_out(lib, tmp_path):
    runner, folder = lib
    cell = tmp_path / "loop.py"
    cell.write_text("while True:\n    pass\n")
    result = runner.invoke(
        cli, ["repl", "--library", folder, "--exec", str(cell), "--timeout", "1", "--json"]
    )
    assert result.exit_code == 1
    assert json.loads(result.output)["error"] == "timeout"
    cell.write_text("raise ValueError('bad cell')\n")
    result = runner.invoke(cli, ["repl", "--library", folder, "--exec", str(cell)])
    assert result.exit_code == 1 and "ValueError: bad cell" in result.output


def test_interactive_repl_keeps_variables_between_inputs(lib):
    runner, folder = lib
    session = "total = 0\nfor i in range(4):\n    total += i\n\nprint('total', total)\n"
    result = runner.invoke(cli, ["repl", "--library", folder], input=session)
    assert result.exit_code == 0
    assert "total 6" in result.output
