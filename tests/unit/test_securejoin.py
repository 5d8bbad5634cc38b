"""Tests for pycontainer.securejoin: resolution never leaves the root."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycontainer import securejoin
from pycontainer.securejoin import MAX_SYMLINKS, fd_path, open_in_root, secure_join


@pytest.fixture(autouse=True, params=["kernel", "walk"])
def resolver(request, monkeypatch) -> str:
    """Every test runs twice: with openat2(RESOLVE_IN_ROOT) doing the walk in
    the kernel where it can, and with the Python walk alone."""
    if request.param == "walk":
        monkeypatch.setattr(securejoin, "_kernel_resolve", False)
    else:
        monkeypatch.setattr(securejoin, "_kernel_resolve", None)
    return request.param


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A root with a few dirs next to an "outside" dir that must stay untouched."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "etc").mkdir(parents=True)
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("inside\n")
    outside.mkdir()
    (outside / "passwd").write_text("outside\n")
    return root, outside


@pytest.fixture
def root_fd(layout: tuple[Path, Path]) -> Iterator[int]:
    fd = os.open(layout[0], os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def _target(fd: int) -> str:
    return os.readlink(fd_path(fd))


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# ---------------------------------------------------------------- secure_join


def test_secure_join_plain_paths(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    assert secure_join(root, "/etc/passwd") == str(root / "etc" / "passwd")
    assert secure_join(root, "etc/passwd") == str(root / "etc" / "passwd")
    assert secure_join(str(root), "./usr//lib/.") == str(root / "usr" / "lib")
    assert secure_join(root, "") == str(root)
    assert secure_join(root, "/") == str(root)


def test_secure_join_missing_components_are_appended(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    assert secure_join(root, "/etc/missing/deeper") == str(root / "etc" / "missing" / "deeper")
    # Below a regular file nothing can exist either (ENOTDIR is "missing").
    assert secure_join(root, "/etc/passwd/x") == str(root / "etc" / "passwd" / "x")


def test_secure_join_dotdot_stays_at_root(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    assert secure_join(root, "../../../etc") == str(root / "etc")
    assert secure_join(root, "/usr/lib/../../../../etc/passwd") == str(root / "etc" / "passwd")
    assert secure_join(root, "..") == str(root)


@pytest.mark.parametrize("target", ["../../../outside", "/outside", "../../../../../../../outside"])
def test_secure_join_escaping_symlinks_stay_inside(layout: tuple[Path, Path], target: str) -> None:
    root, outside = layout
    (root / "usr" / "evil").symlink_to(target)
    got = secure_join(root, "/usr/evil/passwd")
    assert isinstance(got, str)
    assert got == str(root / "outside" / "passwd")
    got = Path(got)
    assert root in got.parents
    assert outside not in got.parents


def test_secure_join_absolute_symlink_is_rerooted(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    (root / "usr" / "lib" / "etc").symlink_to("/etc")
    assert secure_join(root, "/usr/lib/etc/passwd") == str(root / "etc" / "passwd")


def test_secure_join_symlink_chain(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("usr/c")
    (root / "usr" / "c").symlink_to("../etc")
    assert secure_join(root, "/a/passwd") == str(root / "etc" / "passwd")
    # ".." after a symlink applies to where the link led, as in the kernel.
    (root / "usr" / "lib" / "deep").mkdir()
    (root / "l").symlink_to("usr/lib/deep")
    assert secure_join(root, "/l/..") == str(root / "usr" / "lib")


def test_secure_join_loop_is_eloop(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    (root / "x").symlink_to("y")
    (root / "y").symlink_to("/x")
    with pytest.raises(OSError) as exc:
        secure_join(root, "/x/file")
    assert exc.value.errno == errno.ELOOP


def test_secure_join_self_loop_is_eloop(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    (root / "self").symlink_to("self")
    with pytest.raises(OSError) as exc:
        secure_join(root, "self")
    assert exc.value.errno == errno.ELOOP


def test_secure_join_rejects_dotdot_in_root(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    with pytest.raises(ValueError):
        secure_join(f"{root}/../root", "etc")


def test_secure_join_relative_root_is_made_absolute(
    layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = layout
    monkeypatch.chdir(root.parent)
    assert secure_join("root", "etc") == str(root / "etc")


# --------------------------------------------------------------- open_in_root


def test_open_in_root_plain_path(layout: tuple[Path, Path], root_fd: int) -> None:
    root, _ = layout
    fd = open_in_root(root_fd, "/etc/passwd")
    try:
        assert _target(fd) == str(root / "etc" / "passwd")
        assert os.fstat(fd).st_ino == os.stat(root / "etc" / "passwd").st_ino
        flags = int(Path(f"/proc/self/fdinfo/{fd}").read_text().split("flags:")[1].split()[0], 8)
        assert flags & os.O_PATH
        assert not os.get_inheritable(fd)
    finally:
        os.close(fd)


def test_open_in_root_root_itself(layout: tuple[Path, Path], root_fd: int) -> None:
    root, _ = layout
    for path in ("", "/", "..", "/../.."):
        fd = open_in_root(root_fd, path)
        try:
            assert fd != root_fd
            assert _target(fd) == str(root)
        finally:
            os.close(fd)


def test_open_in_root_missing_raises(root_fd: int) -> None:
    before = _open_fds()
    with pytest.raises(FileNotFoundError):
        open_in_root(root_fd, "/usr/lib/nope/deeper")
    assert _open_fds() == before


@pytest.mark.parametrize("target", ["../../../outside", "/outside", "/../../outside"])
def test_open_in_root_escaping_symlink_stays_inside(
    layout: tuple[Path, Path], root_fd: int, target: str
) -> None:
    root, outside = layout
    (root / "usr" / "evil").symlink_to(target)
    (root / "outside").mkdir()
    (root / "outside" / "passwd").write_text("decoy inside\n")
    fd = open_in_root(root_fd, "/usr/evil/passwd")
    try:
        assert _target(fd) == str(root / "outside" / "passwd")
    finally:
        os.close(fd)


def test_open_in_root_final_symlink_is_resolved_inside(layout: tuple[Path, Path], root_fd: int) -> None:
    root, outside = layout
    (root / "etc" / "shadow").symlink_to(str(outside / "passwd"))  # absolute host path
    with pytest.raises(FileNotFoundError):
        open_in_root(root_fd, "/etc/shadow")
    (root / "etc" / "link").symlink_to("/etc/passwd")
    fd = open_in_root(root_fd, "/etc/link")
    try:
        assert _target(fd) == str(root / "etc" / "passwd")
    finally:
        os.close(fd)


def test_open_in_root_symlink_chain_and_dotdot(layout: tuple[Path, Path], root_fd: int) -> None:
    root, _ = layout
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("usr/c")
    (root / "usr" / "c").symlink_to("../etc")
    fd = open_in_root(root_fd, "a/passwd")
    try:
        assert _target(fd) == str(root / "etc" / "passwd")
    finally:
        os.close(fd)
    (root / "usr" / "lib" / "deep").mkdir()
    (root / "l").symlink_to("usr/lib/deep")
    fd = open_in_root(root_fd, "/l/../..")
    try:
        assert _target(fd) == str(root / "usr")
    finally:
        os.close(fd)


def test_open_in_root_loop_is_eloop_without_leaks(layout: tuple[Path, Path], root_fd: int) -> None:
    root, _ = layout
    (root / "usr" / "x").symlink_to("../usr/y")
    (root / "usr" / "y").symlink_to("/usr/x")
    before = _open_fds()
    with pytest.raises(OSError) as exc:
        open_in_root(root_fd, "/usr/lib/../x/file", create="dir")
    assert exc.value.errno == errno.ELOOP
    assert _open_fds() == before


def test_open_in_root_exactly_max_symlinks_is_fine(layout: tuple[Path, Path], root_fd: int) -> None:
    root, _ = layout
    for i in range(MAX_SYMLINKS):
        (root / f"l{i}").symlink_to(f"l{i + 1}")
    (root / f"l{MAX_SYMLINKS}").mkdir()
    fd = open_in_root(root_fd, "l0")
    os.close(fd)
    (root / f"l{MAX_SYMLINKS}").rmdir()
    (root / f"l{MAX_SYMLINKS}").symlink_to("etc")
    with pytest.raises(OSError) as exc:
        open_in_root(root_fd, "l0")
    assert exc.value.errno == errno.ELOOP


def test_open_in_root_creates_nested_dirs(layout: tuple[Path, Path], root_fd: int) -> None:
    root, _ = layout
    before = _open_fds()
    fd = open_in_root(root_fd, "/var/lib/data/", create="dir", mode=0o700)
    try:
        assert _target(fd) == str(root / "var" / "lib" / "data")
        assert stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    assert _open_fds() == before
    assert (root / "var" / "lib" / "data").is_dir()
    assert stat.S_IMODE((root / "var" / "lib" / "data").stat().st_mode) == 0o700
    # Intermediate directories stay traversable whatever the final mode.
    assert stat.S_IMODE((root / "var").stat().st_mode) & 0o700 == 0o700
    # Creating again finds the existing directory.
    fd = open_in_root(root_fd, "var/lib/data", create="dir")
    os.close(fd)


def test_open_in_root_creates_file(layout: tuple[Path, Path], root_fd: int) -> None:
    root, _ = layout
    fd = open_in_root(root_fd, "/dev/null", create="file", mode=0o644)
    try:
        assert _target(fd) == str(root / "dev" / "null")
        assert stat.S_ISREG(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    assert (root / "dev").is_dir()
    assert (root / "dev" / "null").read_bytes() == b""
    # An existing file is reused, not truncated.
    fd = open_in_root(root_fd, "/etc/passwd", create="file")
    os.close(fd)
    assert (root / "etc" / "passwd").read_text() == "inside\n"


def test_open_in_root_create_wrong_kind(layout: tuple[Path, Path], root_fd: int) -> None:
    before = _open_fds()
    with pytest.raises(NotADirectoryError):
        open_in_root(root_fd, "/etc/passwd", create="dir")
    with pytest.raises(IsADirectoryError):
        open_in_root(root_fd, "/etc", create="file")
    with pytest.raises(IsADirectoryError):
        open_in_root(root_fd, "/", create="file")
    # A file in the middle of the path cannot be walked through.
    with pytest.raises(NotADirectoryError):
        open_in_root(root_fd, "/etc/passwd/sub", create="dir")
    assert _open_fds() == before


@pytest.mark.parametrize("target", ["/proc", "../../../../proc"])
def test_open_in_root_create_through_proc_symlink(
    layout: tuple[Path, Path], root_fd: int, target: str
) -> None:
    root, _ = layout
    (root / "etc" / "p").symlink_to(target)
    fd = open_in_root(root_fd, "/etc/p/sys/kernel/core_pattern", create="file")
    try:
        assert _target(fd) == str(root / "proc" / "sys" / "kernel" / "core_pattern")
        assert stat.S_ISREG(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    assert (root / "proc" / "sys" / "kernel" / "core_pattern").is_file()


@pytest.mark.parametrize("absolute", [True, False])
def test_open_in_root_creation_never_happens_outside(
    tmp_path: Path, layout: tuple[Path, Path], root_fd: int, absolute: bool
) -> None:
    root, outside = layout
    before_outside = _tree(outside)
    before_tmp = _tree(tmp_path)
    target = str(outside) if absolute else "../../../../../../../../outside"
    (root / "usr" / "evil").symlink_to(target)
    # A dangling final symlink must not create its target on the host either.
    (root / "etc" / "resolv.conf").symlink_to(str(outside / "resolv.conf"))
    before_fds = _open_fds()

    fd = open_in_root(root_fd, "/usr/evil/newdir/sub", create="dir")
    os.close(fd)
    fd = open_in_root(root_fd, "/usr/evil/newfile", create="file")
    os.close(fd)
    fd = open_in_root(root_fd, "/etc/resolv.conf", create="file")
    os.close(fd)

    assert _open_fds() == before_fds
    assert _tree(outside) == before_outside
    new = set(_tree(tmp_path)) - set(before_tmp)
    assert new and all(p.startswith("root/") for p in new), new
    rerooted = root / str(outside).lstrip("/") if absolute else root / "outside"
    assert (rerooted / "newdir" / "sub").is_dir()
    assert (rerooted / "newfile").is_file()
    assert (root / str(outside).lstrip("/") / "resolv.conf").is_file()


def test_open_in_root_result_is_usable_as_dir_fd(layout: tuple[Path, Path], root_fd: int) -> None:
    fd = open_in_root(root_fd, "/etc")
    try:
        assert "passwd" in os.listdir(fd_path(fd))
        assert os.stat("passwd", dir_fd=fd).st_size == len("inside\n")
    finally:
        os.close(fd)


def test_open_in_root_invalid_create(root_fd: int) -> None:
    with pytest.raises(ValueError):
        open_in_root(root_fd, "/etc", create="fifo")  # type: ignore[arg-type]


def test_open_in_root_no_fd_leaks(layout: tuple[Path, Path], root_fd: int) -> None:
    root, _ = layout
    (root / "usr" / "lnk").symlink_to("/etc")
    before = _open_fds()
    for _ in range(20):
        os.close(open_in_root(root_fd, "/usr/lnk/passwd"))
        os.close(open_in_root(root_fd, "/usr/lib/../lnk/../lib", create="dir"))
        with pytest.raises(FileNotFoundError):
            open_in_root(root_fd, "/usr/lnk/missing/x")
        with pytest.raises(NotADirectoryError):
            open_in_root(root_fd, "/usr/lnk/passwd/x")
    assert _open_fds() == before


def test_fd_path() -> None:
    assert fd_path(7) == "/proc/self/fd/7"


def test_the_kernel_resolves_existing_paths_in_one_call(root_fd: int, resolver: str) -> None:
    if resolver == "walk":
        pytest.skip("kernel path only")
    fd = open_in_root(root_fd, "/etc/passwd")
    try:
        assert securejoin._kernel_resolve is True
        assert os.readlink(fd_path(fd)).endswith("/root/etc/passwd")
    finally:
        os.close(fd)
