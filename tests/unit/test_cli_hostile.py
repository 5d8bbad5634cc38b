"""A hostile caller's command line and state root, checked without a
container: the global options, the pid file, the state's modes and root,
what ``delete --force`` may remove, the compiled-seccomp cache's bounds and
trust, and pidfds that never name a process which took a pid."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from pycontainer.cli.main import main
from pycontainer.container import _check_preserve_fds, signal_members, write_pid_file
from pycontainer.errors import ContainerError
from pycontainer.security import seccomp as sc
from pycontainer.state import (
    State,
    StateDir,
    check_root,
    open_process,
    process_start_time,
    signal_process,
)

ROOT = os.geteuid() == 0


def _nsinit(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


# -- global options -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--log-format", "xml", "list"], "invalid log-format: xml"),
        (["--root", "", "list"], "--root: empty path"),
        (["--root=", "list"], "--root: empty path"),
        (["--log", "/proc/x", "list"], "--log /proc/x: "),
        (["--log", "/proc/sys/kernel/core_pattern", "list"], "not a log file"),
        (["--log", "/dev/null", "list"], "not a regular file"),
        (["--log", "", "list"], "--log: empty path"),
    ],
)
def test_bad_global_options_are_refused_in_one_line(capsys, tmp_path, argv, words):
    code, err = _nsinit(capsys, *argv)
    assert code == 1
    assert err.startswith("nsinit: ") and err.count("\n") == 1, err
    assert words in err, err


def test_log_naming_a_directory_or_a_link_is_refused(capsys, tmp_path):
    code, err = _nsinit(capsys, "--log", str(tmp_path), "--root", str(tmp_path / "r"), "list")
    assert code == 1 and "Is a directory" in err, err
    target = tmp_path / "target"
    target.write_text("")
    (tmp_path / "link").symlink_to(target)
    code, err = _nsinit(capsys, "--log", str(tmp_path / "link"), "--root", str(tmp_path / "r"), "list")
    assert code == 1 and "symbolic links" in err, err
    assert target.read_text() == ""


def test_a_good_log_file_gets_the_error_and_is_private(capsys, tmp_path):
    log = tmp_path / "log.json"
    code, err = _nsinit(
        capsys, "--log", str(log), "--log-format", "json", "--root", str(tmp_path / "r"), "state", "nope"
    )
    assert code == 1 and "does not exist" in err, err
    assert '"level": "error"' in log.read_text() or '"level":"error"' in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_preserve_fds_must_name_open_fds_within_a_bound():
    with pytest.raises(ContainerError, match=r"preserve-fds: 99999 is out of range \(expected 0..65536\)"):
        _check_preserve_fds(99999)
    with pytest.raises(ContainerError, match="out of range"):
        _check_preserve_fds(-1)
    _check_preserve_fds(0)
    free = next(fd for fd in range(3, 1 << 16) if not _is_open(fd))
    with pytest.raises(ContainerError, match=f"fd {free} is not open"):
        _check_preserve_fds(free - 2)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


# -- the pid file -------------------------------------------------------------------------------------


def test_pid_file_failure_names_the_pid_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    with pytest.raises(ContainerError) as info:
        write_pid_file(target, 42)
    assert str(info.value).startswith(f"pid file {target}: ")
    assert ".tmp" not in str(info.value)
    assert sorted(os.listdir(tmp_path)) == ["taken"]


def test_pid_file_replaces_a_planted_temporary_link_without_following_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / ".p.pid.tmp").symlink_to(victim)
    write_pid_file(tmp_path / "p.pid", 1234)
    assert (tmp_path / "p.pid").read_text() == "1234"
    assert victim.read_text() == "keep"
    assert not (tmp_path / ".p.pid.tmp").exists()


# -- the state root and directory ---------------------------------------------------------------------


def test_state_is_written_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        d = StateDir(tmp_path / "root", "c1")
        d.create()
        d.save(State(id="c1"))
        d.save_config({"process": {"env": ["TOKEN=x"]}})
        assert os.umask(0) == 0  # the caller's umask is left as it was
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(d.root).st_mode) == 0o711
    assert stat.S_IMODE(os.stat(d.path).st_mode) == 0o700
    for name in ("state.json", "config.json", "exec.fifo"):
        assert stat.S_IMODE(os.stat(os.path.join(d.path, name)).st_mode) == 0o600, name
    d.remove()
    assert not os.path.exists(d.path)


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777, 0o722])
def test_a_state_root_others_can_write_is_refused(tmp_path, mode):
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(mode)
    with pytest.raises(ContainerError, match=f"mode {mode & 0o7777:04o} lets others write it"):
        check_root(str(root))
    with pytest.raises(ContainerError, match="refusing"):
        StateDir(root, "c1").load()


@pytest.mark.skipif(not ROOT, reason="chown to another user needs root")
def test_a_state_root_of_another_user_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    os.chown(root, 4242, 4242)
    with pytest.raises(ContainerError, match="owned by uid 4242"):
        check_root(str(root))
    file_root = tmp_path / "file"
    file_root.write_text("")
    with pytest.raises(ContainerError, match="not a directory"):
        check_root(str(file_root))


def test_only_the_runtimes_own_files_are_removed(tmp_path):
    d = StateDir(tmp_path, "c1")
    d.create()
    d.save(State(id="c1"))
    (tmp_path / "c1" / "precious").write_text("x")
    assert d.foreign() == ["precious"]
    with pytest.raises(ContainerError, match=r"holds files the runtime did not make \(precious\)"):
        d.remove()
    assert sorted(os.listdir(d.path)) == ["precious"]  # the runtime's own files went, the rest stays
    os.unlink(tmp_path / "c1" / "precious")
    os.mkdir(tmp_path / "c1" / "state.json")  # a runtime name, of the wrong type
    assert d.foreign() == ["state.json"]


# -- pidfds -------------------------------------------------------------------------------------------


def test_a_pidfd_is_opened_only_for_the_process_on_record():
    p = subprocess.Popen(["sleep", "60"])
    try:
        start = process_start_time(p.pid)
        assert open_process(p.pid, start + 1) is None  # another start time: another process
        assert open_process(0, 0) is None
        fd = open_process(p.pid, start)
        assert fd is not None
        try:
            assert signal_process(fd, 0)
            p.kill()
            p.wait()  # reaped: the pid is free for anyone now
            assert not signal_process(fd, 9)  # the pidfd still names the dead process, nothing else
        finally:
            os.close(fd)
    finally:
        p.kill()
        p.wait()


def test_only_processes_still_in_the_cgroup_after_their_pidfd_is_taken_are_signalled():
    """kill --all and delete: a pid listed in the cgroup, gone from it by the
    time its pidfd is held (it exited; its pid may be anyone's now), is not signalled."""
    stayed, left = subprocess.Popen(["sleep", "60"]), subprocess.Popen(["sleep", "60"])
    listings = [[stayed.pid, left.pid, 999_999_999], [stayed.pid]]
    try:
        assert signal_members(lambda: listings.pop(0), 9) == 1
        assert stayed.wait(timeout=5) == -9
        assert left.poll() is None
    finally:
        for p in (stayed, left):
            p.kill()
            p.wait()


# -- the compiled-seccomp cache -----------------------------------------------------------------------


def _program(n: int, size: int = 8) -> sc.CompiledFilter:
    return sc.CompiledFilter(n.to_bytes(4, "little") * (size // 4), 0)


def test_the_seccomp_cache_is_bounded_in_count_and_bytes(tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    for n in range(sc.CACHE_MAX_FILES + 20):
        sc._disk_cache_put(cache, ("profile", n), _program(n))
        os.utime(sc._cache_file(cache, sc._key_text(("profile", n))), (n, n))  # a clear age order
    names = os.listdir(cache)
    assert len(names) == sc.CACHE_MAX_FILES
    assert not [n for n in names if n.endswith(".tmp")]
    newest = sc.CACHE_MAX_FILES + 19
    assert sc._disk_cache_get(cache, ("profile", newest)) == _program(newest)
    assert sc._disk_cache_get(cache, ("profile", 0)) is None  # the oldest went first
    monkeypatch.setattr(sc, "CACHE_MAX_BYTES", 20_000)
    sc._disk_cache_put(cache, ("big", 1), _program(1, 8192))
    total = sum(os.path.getsize(os.path.join(cache, n)) for n in os.listdir(cache))
    assert total <= 20_000
    assert sc._disk_cache_get(cache, ("big", 1)) == _program(1, 8192)


def test_the_seccomp_cache_trusts_only_what_is_ours(tmp_path):
    cache = tmp_path / "cache"
    sc._disk_cache_put(str(cache), ("p", 1), _program(1))
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    (entry,) = cache.iterdir()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert sc._disk_cache_get(str(cache), ("p", 1)) == _program(1)
    entry.chmod(0o666)  # writable by others: not trusted
    assert sc._disk_cache_get(str(cache), ("p", 1)) is None
    entry.chmod(0o600)
    cache.chmod(0o755)  # a directory others can look into is not ours alone
    assert sc._disk_cache_get(str(cache), ("p", 1)) is None
    cache.chmod(0o700)
    link = tmp_path / "link"
    link.symlink_to(cache)
    assert sc._disk_cache_get(str(link), ("p", 1)) is None
    if ROOT:
        os.chown(entry, 4242, 4242)
        assert sc._disk_cache_get(str(cache), ("p", 1)) is None
