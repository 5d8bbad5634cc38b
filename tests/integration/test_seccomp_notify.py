"""SCMP_ACT_NOTIFY end to end: a small seccomp agent in the test listens on a unix socket,
receives the container process state and the notify fd (SCM_RIGHTS), and answers the
container's syscalls: the container sees the errno or the return value the agent chose."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import socket
import struct
import subprocess
import threading

import pytest

from pycontainer import Container
from tests.conftest import NSINIT

pytestmark = pytest.mark.root

# <linux/seccomp.h>: struct seccomp_notif {u64 id; u32 pid; u32 flags; struct seccomp_data data}
# (seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]) and
# struct seccomp_notif_resp {u64 id; s64 val; s32 error; u32 flags}.
NOTIF = struct.Struct("=QIIiIQ6Q")
RESP = struct.Struct("=QqiI")


def _iowr(nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (ord("!") << 8) | nr


NOTIF_RECV, NOTIF_SEND = _iowr(0, NOTIF.size), _iowr(1, RESP.size)
NR = {"mkdir": 83, "mkdirat": 258, "getuid": 102, "geteuid": 107}  # x86_64


class Agent:
    """Accepts connections on ``path``; for each, keeps the state and answers the notify fd's
    notifications with ``answers[syscall nr] = (val, error)`` until the filter's processes end."""

    def __init__(self, path: str, answers: dict[int, tuple[int, int]]) -> None:
        self.path, self.answers = path, answers
        self.states: list[dict] = []
        self.seen: list[tuple[int, int]] = []  # (pid, nr) of every notification answered
        self.errors: list[BaseException] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                msg, fds, _, _ = socket.recv_fds(conn, 65536, 4)
            self.states.append(json.loads(msg))
            t = threading.Thread(target=self._serve, args=(fds[0],), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, fd: int) -> None:
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            while True:
                events = poller.poll(30000)
                if not events or events[0][1] & (select.POLLHUP | select.POLLERR):
                    return  # every process under the filter has gone
                buf = bytearray(NOTIF.size)
                try:
                    fcntl.ioctl(fd, NOTIF_RECV, buf)
                except OSError as e:
                    if e.errno == errno.ENOENT:  # the caller went away meanwhile
                        continue
                    raise
                notif_id, pid, _, nr, *_ = NOTIF.unpack(buf)
                val, err = self.answers.get(nr, (0, -errno.ENOSYS))
                self.seen.append((pid, nr))
                try:
                    fcntl.ioctl(fd, NOTIF_SEND, bytearray(RESP.pack(notif_id, val, err, 0)))
                except OSError as e:
                    if e.errno != errno.ENOENT:
                        raise
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.errors.append(e)
        finally:
            os.close(fd)

    def close(self) -> None:
        self.sock.close()
        for t in self.threads:
            t.join(timeout=10)
        assert not self.errors, self.errors


@pytest.fixture
def agent(tmp_path):
    made = []

    def make(answers):
        a = Agent(str(tmp_path / "agent.sock"), answers)
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()


def notify_profile(agent_path: str, names: list[str], **extra) -> dict:
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": agent_path,
        "listenerMetadata": "answer=chosen",
        "syscalls": [{"names": names, "action": "SCMP_ACT_NOTIFY"}],
        **extra,
    }


@pytest.fixture(autouse=True)
def _x86_64():
    if os.uname().machine != "x86_64":
        pytest.skip("the agent's syscall numbers are x86_64's")


def test_the_agent_gets_the_state_and_the_fd_and_answers(bundle, agent):
    a = agent({NR["mkdir"]: (0, -errno.EROFS), NR["mkdirat"]: (0, -errno.EROFS), NR["getuid"]: (4242, 0)})
    bundle.config["linux"]["seccomp"] = notify_profile(a.path, ["mkdir", "mkdirat", "getuid"])
    bundle.config["annotations"] = {"org.example": "yes"}
    r = bundle.sh(
        "mkdir /tmp/x 2>&1; test -d /tmp/x || echo not-made; id -ru; grep Seccomp: /proc/self/status"
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "Read-only file system" in lines[0]
    assert lines[1:3] == ["not-made", "4242"]  # the agent's errno, the agent's value
    assert lines[3] == "Seccomp:\t2"
    (state,) = a.states
    assert state["fds"] == ["seccompFd"] and state["metadata"] == "answer=chosen"
    assert state["ociVersion"] == "1.2.0"
    inner = state["state"]
    assert inner["id"].startswith("nsinit-") and inner["status"] == "creating"  # exec CONFIG names it
    assert inner["pid"] == state["pid"] > 0
    assert inner["bundle"] == str(bundle.path) and inner["annotations"] == {"org.example": "yes"}
    assert {nr for _, nr in a.seen} >= {NR["getuid"]}


def test_exec_processes_go_to_the_agent_too(bundle, agent):
    a = agent({NR["getuid"]: (777, 0)})
    bundle.config["linux"]["seccomp"] = notify_profile(a.path, ["getuid"])
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        argv = [*NSINIT, "--root", str(bundle.state_root), "exec", bundle.id, "/bin/id", "-ru"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "777"
        init_state, exec_state = a.states
        assert init_state["pid"] == c.pid
        assert exec_state["pid"] != c.pid
        assert exec_state["state"]["status"] == "running" and exec_state["state"]["pid"] == c.pid


def test_wait_killable_recv_with_a_listener(bundle, agent):
    a = agent({NR["getuid"]: (31, 0)})
    bundle.config["linux"]["seccomp"] = notify_profile(
        a.path, ["getuid"], flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    )
    r = bundle.run("/bin/id", "-ru")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "31"


def test_a_listener_path_that_is_not_a_socket(bundle, tmp_path):
    plain = tmp_path / "plain-file"
    plain.write_text("")
    for path, why in ((str(plain), "is not a unix socket"), (str(tmp_path / "nothing"), "No such file")):
        bundle.config["linux"]["seccomp"] = notify_profile(path, ["getuid"])
        r = bundle.run("/bin/true")
        assert r.returncode == 1
        assert "linux.seccomp.listenerPath" in r.stderr and why in r.stderr, r.stderr
    assert not [p for p in os.listdir(bundle.state_root) if p != "~seccomp"]


def test_an_agent_that_went_away_fails_create_and_leaves_nothing(bundle, tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp_path / "gone.sock"))
    sock.close()  # the socket file stays, nobody listens
    bundle.config["linux"]["seccomp"] = notify_profile(str(tmp_path / "gone.sock"), ["getuid"])
    r = bundle.run("/bin/true")
    assert r.returncode == 1
    assert "seccomp notify fd" in r.stderr and "Connection refused" in r.stderr, r.stderr
    assert not [p for p in os.listdir(bundle.state_root) if p != "~seccomp"]
