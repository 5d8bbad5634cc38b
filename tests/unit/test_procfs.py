"""procfs.py and securejoin.open_beneath on this machine's own /proc and a temp dir (no root
needed), and rootfs.check_proc_mount, runc's rule for mounts on and in /proc."""

from __future__ import annotations

import errno
import os

import pytest

from pycontainer import procfs, securejoin, syscalls
from pycontainer.rootfs import check_proc_mount


@pytest.mark.parametrize(
    "dest, kind, source_is_procfs, refused",
    [
        ("/proc", "proc", False, None),
        ("/proc", "bind", True, None),
        ("/proc", "tmpfs", False, '"/proc" cannot be mounted because it is not of type proc'),
        ("/proc", "bind", False, '"/proc" cannot be mounted because it is not of type proc'),
        ("/proc/cpuinfo", "bind", False, None),
        ("/proc/sys/kernel/ns_last_pid", "bind", False, None),
        ("/proc/sys", "tmpfs", False, '"/proc/sys" cannot be mounted because it is inside /proc'),
        ("/proc/1/attr", "bind", False, '"/proc/1/attr" cannot be mounted because it is inside /proc'),
        ("/procfs", "tmpfs", False, None),
        ("/sys", "sysfs", False, None),
        ("/", "bind", False, None),
    ],
)
def test_check_proc_mount(dest, kind, source_is_procfs, refused):
    assert check_proc_mount(dest, kind, source_is_procfs) == refused


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "file").write_text("x")
    os.symlink("dir", tmp_path / "link")
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    yield fd
    os.close(fd)


@pytest.fixture(params=["openat2", "walk"])
def kernel(request, monkeypatch):
    """Both ways open_beneath works: openat2, and the walk of kernels without it."""
    if request.param == "walk":

        def no_openat2(*args):
            raise OSError(errno.ENOSYS, "openat2: Function not implemented")

        monkeypatch.setattr(syscalls, "openat2", no_openat2)
    return request.param


def test_open_beneath_opens_a_plain_path(tree, kernel):
    fd = securejoin.open_beneath(tree, "dir/file", os.O_RDONLY)
    try:
        assert os.read(fd, 10) == b"x"
        assert os.get_inheritable(fd) is False
    finally:
        os.close(fd)


@pytest.mark.parametrize("path", ["link/file", "link"])
def test_open_beneath_refuses_a_symlink_anywhere(tree, kernel, path):
    with pytest.raises(OSError) as e:
        securejoin.open_beneath(tree, path, os.O_RDONLY)
    assert e.value.errno == errno.ELOOP


def test_open_beneath_refuses_to_climb_out(tree, kernel):
    with pytest.raises(OSError) as e:
        securejoin.open_beneath(tree, "../etc/passwd", os.O_RDONLY)
    assert e.value.errno == errno.EXDEV


def test_procfs_handle_is_the_root_of_a_procfs():
    root = procfs.root()
    assert syscalls.fstatfs_type(root) == procfs.PROC_SUPER_MAGIC
    assert os.fstat(root).st_ino == procfs.PROC_ROOT_INO
    assert procfs.root() == root  # one per process


def test_procfs_reads_this_threads_files_without_following_self():
    pid, _, tid = procfs.thread_self().partition("/task/")
    assert (int(pid), int(tid)) == (os.getpid(), os.getpid())
    assert procfs.read_self("comm").strip()
    fd = os.open("/etc", os.O_PATH | os.O_CLOEXEC)
    try:
        assert procfs.fd_target(fd) == "/etc"
    finally:
        os.close(fd)


@pytest.mark.parametrize("path, code", [("self/status", errno.ELOOP), ("sys/../../etc/passwd", errno.EXDEV)])
def test_procfs_refuses_symlinks_and_climbing(path, code):
    with pytest.raises(OSError) as e:
        procfs.open_file(path, os.O_RDONLY)
    assert e.value.errno == code


def test_procfs_exists():
    assert procfs.exists("sys/kernel") and not procfs.exists("no-such-file")
