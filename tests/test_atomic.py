"""`files.atomic.AtomicFile`: the one write-beside-then-rename primitive behind the sandbox credentials, the
certificate directory and the bill downloads."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Iterator, List

import pytest

from wechatpay_chain.files._atomic import AtomicFile

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and symlinks")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _temps(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process umask after a test that sets it."""
    old = os.umask(0o022)  # reading the umask means setting it
    try:
        yield
    finally:
        os.umask(old)


def test_commit_replaces_the_file_in_one_step(tmp_path: Path) -> None:
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    staged = AtomicFile(dest, encoding="utf-8")
    staged.write("new ")
    staged.write("content")
    assert dest.read_text() == "old"  # nothing visible before commit
    [temp] = _temps(tmp_path)
    assert temp.startswith(".out.txt.") and len(temp) == len(".out.txt.") + 16 + len(".tmp")
    assert staged.commit() == str(dest) and staged.done
    assert dest.read_text() == "new content" and _temps(tmp_path) == []
    staged.abort()  # a no-op after commit
    assert dest.read_text() == "new content"


def test_context_manager_commits_bytes_and_creates_the_file(tmp_path: Path) -> None:
    dest = tmp_path / "bill.csv"
    with AtomicFile(str(dest), 0o600) as fh:
        fh.write(b"a,b\r\n")
        fh.write(b"1,2\r\n")
    assert dest.read_bytes() == b"a,b\r\n1,2\r\n"  # binary: no newline translation
    assert os.listdir(tmp_path) == ["bill.csv"]


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    staged = AtomicFile(tmp_path / "never", encoding="ascii")
    staged.write("discarded")
    staged.abort()
    staged.abort()  # idempotent
    assert os.listdir(tmp_path) == []
    staged.commit()  # after abort: nothing to do, nothing created
    assert os.listdir(tmp_path) == []


def test_a_failure_mid_write_leaves_the_old_file_intact(tmp_path: Path) -> None:
    dest = tmp_path / "key.pem"
    dest.write_text("old key")
    with pytest.raises(RuntimeError, match="disk full"):
        with AtomicFile(dest, 0o600, encoding="utf-8") as fh:
            fh.write("half a ")
            raise RuntimeError("disk full")
    assert dest.read_text() == "old key" and os.listdir(tmp_path) == ["key.pem"]


def test_a_failed_rename_removes_the_temp_file(tmp_path: Path) -> None:
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "inside").write_text("x")  # a non-empty directory cannot be replaced by a file
    staged = AtomicFile(dest, encoding="utf-8")
    staged.write("text")
    with pytest.raises(OSError):
        staged.commit()
    assert staged.done and sorted(os.listdir(tmp_path)) == ["taken"]


def test_an_unknown_encoding_leaves_no_temp_file(tmp_path: Path) -> None:
    with pytest.raises(LookupError):
        AtomicFile(tmp_path / "x", encoding="no-such-codec")
    assert os.listdir(tmp_path) == []


def test_the_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        AtomicFile(tmp_path / "missing" / "x")


@POSIX
def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    link = tmp_path / "creds" / "platform.pem"
    link.parent.mkdir()
    link.symlink_to(victim)
    with AtomicFile(link, 0o644, encoding="ascii") as fh:
        fh.write("PEM")
    assert victim.read_text() == "keep me"
    assert not link.is_symlink() and link.read_text() == "PEM"


@POSIX
def test_the_temp_name_is_never_written_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A symlink (or file) planted at the temp name is refused (O_EXCL | O_NOFOLLOW), not followed."""
    import wechatpay_chain.files._atomic as atomic

    victim = tmp_path / "victim"
    victim.write_text("keep me")
    planted = tmp_path / ".x.planted.tmp"
    planted.symlink_to(victim)
    monkeypatch.setattr(atomic, "_temp_name", lambda path: str(planted))
    with pytest.raises(FileExistsError):
        AtomicFile(tmp_path / "x", encoding="ascii")
    assert victim.read_text() == "keep me" and planted.is_symlink()


@POSIX
@pytest.mark.usefixtures("umask")
def test_the_mode_is_applied_exactly_whatever_the_umask(tmp_path: Path) -> None:
    os.umask(0)  # permissive: the private file must still be 0600
    with AtomicFile(tmp_path / "secret.json", 0o600, encoding="utf-8") as fh:
        fh.write("{}")
    assert _mode(tmp_path / "secret.json") == 0o600
    os.umask(0o077)  # strict: the mode asked for is the mode set
    with AtomicFile(tmp_path / "public.pem", 0o644, encoding="ascii") as fh:
        fh.write("PEM")
    assert _mode(tmp_path / "public.pem") == 0o644


@POSIX
@pytest.mark.usefixtures("umask")
def test_an_existing_looser_file_does_not_keep_its_mode(tmp_path: Path) -> None:
    os.umask(0o022)
    dest = tmp_path / "merchant_key.pem"
    dest.write_text("old")
    dest.chmod(0o666)
    with AtomicFile(dest, 0o600, encoding="utf-8") as fh:
        fh.write("new")
    assert _mode(dest) == 0o600 and dest.read_text() == "new"


@POSIX
@pytest.mark.usefixtures("umask")
def test_keep_umask_leaves_the_mode_as_created(tmp_path: Path) -> None:
    """What write_certificates and the bill sink keep: `mode` less the umask, as open() would give."""
    os.umask(0o027)
    with AtomicFile(tmp_path / "cert.pem", 0o644, encoding="ascii", keep_umask=True) as fh:
        fh.write("PEM")
    assert _mode(tmp_path / "cert.pem") == 0o640
    os.umask(0)
    with AtomicFile(tmp_path / "bill.csv", 0o600, keep_umask=True) as fh:
        fh.write(b"x")
    assert _mode(tmp_path / "bill.csv") == 0o600  # the temp file is never wider than `mode`


def test_sync_then_commit_stages_several_files_all_or_nothing(tmp_path: Path) -> None:
    """write_certificates' pattern: every file written and fsync'd before any rename; a failure aborts all."""
    (tmp_path / "a").write_text("old a")
    staged = [AtomicFile(tmp_path / name, encoding="ascii") for name in ("a", "b")]
    for file in staged:
        file.write("new")
        file.sync()
        file.sync()  # idempotent
    for file in staged:
        file.abort()  # a failure before the renames: nothing changed
    assert sorted(os.listdir(tmp_path)) == ["a"] and (tmp_path / "a").read_text() == "old a"

    staged = [AtomicFile(tmp_path / name, encoding="ascii") for name in ("a", "b")]
    for file in staged:
        file.write(f"new {Path(file.path).name}")
        file.sync()
    for file in staged:
        file.commit()
    assert (tmp_path / "a").read_text() == "new a" and (tmp_path / "b").read_text() == "new b"
    assert _temps(tmp_path) == []


def test_write_certificates_stages_all_then_renames_all(tmp_path: Path) -> None:
    """A certificate that fails mid-way (here: the iterable raises) leaves neither its PEM nor the earlier ones."""
    from wechatpay_chain.keys._auto_keyring import write_certificates

    class Cert:
        def __init__(self, serial: str) -> None:
            self.serial_no, self.pem = serial, f"-----BEGIN CERTIFICATE-----\n{serial}\n-----END CERTIFICATE-----\n"

    def broken() -> Iterator[Cert]:
        yield Cert("AAA")
        raise RuntimeError("download ended early")

    with pytest.raises(RuntimeError):
        write_certificates(tmp_path / "certs", broken())  # type: ignore[arg-type]
    assert os.listdir(tmp_path / "certs") == []

    paths = write_certificates(tmp_path / "certs", [Cert("AAA"), Cert("BBB")])  # type: ignore[list-item]
    assert paths == [tmp_path / "certs" / "wechatpay_AAA.pem", tmp_path / "certs" / "wechatpay_BBB.pem"]
    assert sorted(os.listdir(tmp_path / "certs")) == ["wechatpay_AAA.pem", "wechatpay_BBB.pem"]
    assert "BBB" in (tmp_path / "certs" / "wechatpay_BBB.pem").read_text()
