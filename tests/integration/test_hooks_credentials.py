"""The credentials a container process gets, and who else gets them.

``startContainer`` hooks run in the container (their path resolves in its root, so the image
chooses the program): they must run as runc runs them, after the process's credentials are in
place (capabilities, ids, no_new_privs, seccomp), never with the runtime's.  And the C core
itself refuses ids outside 0-2147483647: ``(uid_t)-1`` means "leave unchanged" to setresuid,
so a uid of 4294967295 would keep root."""

from __future__ import annotations

import errno
import os

import pytest

from pycontainer import syscalls
from tests.conftest import status_field
from tests.integration.test_syscalls import in_child

pytestmark = pytest.mark.root

FIELDS = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")


def test_start_container_hook_runs_with_the_process_credentials(bundle, tmp_path):
    """The hook records /proc/self/status, the process records its own: every credential
    field is the same (a runtime running the hook as itself gives it uid 0, CapEff
    000001ffffffffff and Seccomp 0)."""
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # written by uid 1000
    cfg = bundle.config
    cfg["process"]["terminal"] = False
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [1001]}
    caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"]
    cfg["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted", "inheritable")}
    cfg["process"]["capabilities"]["ambient"] = ["CAP_KILL"]
    cfg["process"]["noNewPrivileges"] = True
    cfg["process"]["args"] = ["/bin/sh", "-c", "cat /proc/self/status > /out/process"]
    cfg["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["swapon"], "action": "SCMP_ACT_ERRNO"}],
    }
    cfg["mounts"].append({"destination": "/out", "type": "bind", "source": str(out), "options": ["rbind"]})
    cfg.setdefault("hooks", {})["startContainer"] = [
        {"path": "/bin/sh", "args": ["sh", "-c", "cat /proc/self/status > /out/hook"]}
    ]
    r = bundle.run()
    assert r.returncode == 0, r.stderr
    hook, process = (out / "hook").read_text(), (out / "process").read_text()
    for name in FIELDS:
        assert status_field(hook, name) == status_field(process, name), name
    assert status_field(hook, "Uid").split()[0] == "1000"
    assert status_field(hook, "Seccomp") == "2"
    assert int(status_field(hook, "CapBnd"), 16) == (1 << 0) | (1 << 5) | (1 << 10)


def test_a_start_container_hook_that_cannot_be_run_fails_start(bundle):
    """Through the trampoline the hook's exec failure still comes back as its errno."""
    bundle.config["process"]["terminal"] = False
    bundle.config["process"]["args"] = ["/bin/true"]
    bundle.config.setdefault("hooks", {})["startContainer"] = [{"path": "/no/such/hook"}]
    r = bundle.run()
    assert r.returncode != 0
    assert "startContainer hook #0 (/no/such/hook) failed: No such file or directory" in r.stderr


@pytest.mark.parametrize(
    "ids",
    [
        {"uid": 4294967295, "gid": 0},
        {"uid": 1000, "gid": 4294967295},
        {"uid": 2147483648, "gid": 1000},
        {"uid": 1000, "gid": 1000, "groups": [4294967295]},
    ],
)
def test_the_c_core_refuses_ids_above_2147483647(ids):
    """Whatever Python passes: (uid_t)-1 would leave the ids as they are (root)."""

    def child() -> int:
        req = syscalls.ExecRequest(path="/bin/true", argv=["true"], envp=[], **ids)
        try:
            syscalls.apply_credentials(req)
        except OSError as e:
            ok = e.errno == errno.EINVAL and "uids and gids must be in range 0-2147483647" in str(e)
            return 3 if ok and os.getuid() == 0 and os.getgid() == 0 else 4
        return 5

    assert in_child(child) == 3


def test_the_c_core_takes_the_highest_id():
    def child() -> int:
        req = syscalls.ExecRequest(path="/bin/true", argv=["true"], envp=[], uid=2147483647, gid=2147483647)
        syscalls.apply_credentials(req)
        return 3 if os.getresuid() == (2147483647,) * 3 and os.getresgid() == (2147483647,) * 3 else 4

    assert in_child(child) == 3
