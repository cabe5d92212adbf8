"""Saved runs can be renamed and deleted, in the library and from the command line."""

import pytest
from click.testing import CliRunner

from rlm_desktop.cli import cli
from rlm_desktop.store import Library, LibraryError
from tests.test_export import four_status_run


def test_a_run_is_renamed_then_deleted_and_unknown_ids_are_errors(tmp_path):
    with Library(tmp_path / "lib") as library:
        first, second = library.save_run(four_status_run()), library.save_run(four_status_run())
        library.rename_run(first, "  Vault audit  ")
        assert [r["title"] for r in library.runs()] == ["", "Vault audit"]
        library.rename_run(first, "")
        assert library.runs()[1]["title"] == ""
        library.delete_run(second)
        assert [r["id"] for r in library.runs()] == [first]
        with pytest.raises(LibraryError):
            library.delete_run(second)
        with pytest.raises(LibraryError):
            library.rename_run(second, "gone")


def test_history_renames_and_deletes_from_the_command_line(tmp_path):
    lib = tmp_path / "lib"
    with Library(lib) as library:
        run_id = library.save_run(four_status_run())
        other = library.save_run(four_status_run())
    runner = CliRunner()
    renamed = runner.invoke(cli, ["history", "--library", str(lib), "--rename", str(run_id), "Q1"])
    assert renamed.exit_code == 0, renamed.output
    assert "Q1" in runner.invoke(cli, ["history", "--library", str(lib)]).output
    deleted = runner.invoke(cli, ["history", "--library", str(lib), "--delete", str(other)])
    assert deleted.exit_code == 0 and f"Deleted run {other}" in deleted.output
    with Library(lib) as library:
        assert [r["id"] for r in library.runs()] == [run_id]
    missing = runner.invoke(cli, ["history", "--library", str(lib), "--delete", str(other)])
    assert missing.exit_code != 0 and "no saved run" in missing.output
