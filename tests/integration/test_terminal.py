"""process.terminal: the pty is the container's own, its master goes to the
engine's --console-socket, or nsinit proxies the user's terminal itself."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import time

import pytest

from tests.conftest import NSINIT

pytestmark = pytest.mark.root


def read_until(fd: int, marker: bytes, timeout: float = 10) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    return data


def nsinit(bundle, *args, **kw):
    return subprocess.run(
        [*NSINIT, "--root", str(bundle.state_root), *args], capture_output=True, text=True, timeout=30, **kw
    )


def test_console_socket_receives_the_master(bundle, tmp_path):
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["consoleSize"] = {"height": 30, "width": 100}
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "tty; stty size; read line; echo got:$line"]
    bundle.write()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(tmp_path / "console.sock"))
    server.listen(1)
    try:
        argv = [
            *NSINIT,
            "--root",
            str(bundle.state_root),
            "create",
            "--console-socket",
            str(tmp_path / "console.sock"),
            "--bundle",
            str(bundle.path),
            bundle.id,
        ]
        creator = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        conn, _ = server.accept()
        msg, fds, _, _ = socket.recv_fds(conn, 16, 1)
        conn.close()
        assert creator.wait(timeout=30) == 0, creator.stderr.read()
        assert len(msg) >= 1 and len(fds) == 1
        master = fds[0]
        try:
            assert nsinit(bundle, "start", bundle.id).returncode == 0
            out = read_until(master, b"30 100")
            assert b"/dev/pts/0" in out  # the container's own devpts
            os.write(master, b"hello\n")
            assert b"got:hello" in read_until(master, b"got:hello")
        finally:
            os.close(master)
    finally:
        server.close()
        nsinit(bundle, "delete", "--force", bundle.id)


def test_foreground_run_proxies_the_users_terminal(bundle):
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "tty; read x; echo got:$x; exit 3"]
    bundle.write()
    master, slave = pty.openpty()
    try:
        argv = [*NSINIT, "--root", str(bundle.state_root), "exec", str(bundle.config_path)]
        p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        assert b"/dev/pts/0" in read_until(master, b"/dev/pts/0")
        os.write(master, b"hi\r")
        assert b"got:hi" in read_until(master, b"got:hi")
        assert p.wait(timeout=30) == 3
    finally:
        os.close(master)


def test_a_terminal_without_a_console_socket_cannot_be_created_detached(bundle):
    bundle.config["process"]["terminal"] = True
    bundle.write()
    r = nsinit(bundle, "create", "--bundle", str(bundle.path), bundle.id)
    assert r.returncode == 1
    assert "--console-socket" in r.stderr


def test_exec_with_a_terminal(bundle, tmp_path):
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    from pycontainer import Container

    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        master, slave = pty.openpty()
        try:
            argv = [
                *NSINIT,
                "--root",
                str(bundle.state_root),
                "exec",
                "-t",
                bundle.id,
                "/bin/sh",
                "-c",
                "tty; exit 4",
            ]
            p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
            os.close(slave)
            assert b"/dev/pts/" in read_until(master, b"/dev/pts/")
            assert p.wait(timeout=30) == 4
        finally:
            os.close(master)
