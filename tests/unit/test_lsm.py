"""LSM labels: what is written where (pure), the mount label's option, and the check that
refuses labels of an LSM the host does not run, with the JSON path."""

from __future__ import annotations

import os

import pytest

from pycontainer.errors import ConfigError, ContainerError
from pycontainer.security import lsm
from pycontainer.spec.models import Linux, Process

LABEL = "system_u:object_r:container_file_t:s0"


def process(apparmor=None, selinux=None) -> Process:
    p = Process(args=["/bin/true"], cwd="/")
    p.apparmor_profile, p.selinux_label = apparmor, selinux
    return p


def test_apparmor_writes_exec_profile_to_its_own_attr_where_the_kernel_has_it(tmp_path):
    (tmp_path / "attr" / "apparmor").mkdir(parents=True)
    (tmp_path / "attr" / "apparmor" / "exec").write_text("")
    assert lsm.exec_attr_writes(process(apparmor="docker-default"), str(tmp_path)) == [
        (f"{tmp_path}/attr/apparmor/exec", "exec docker-default")
    ]


def test_apparmor_on_an_older_kernel_writes_attr_exec(tmp_path):
    assert lsm.exec_attr_writes(process(apparmor="unconfined"), str(tmp_path)) == [
        (f"{tmp_path}/attr/exec", "exec unconfined")
    ]


def test_selinux_writes_the_label_to_attr_exec():
    label = "system_u:system_r:container_t:s0:c1,c2"
    assert lsm.exec_attr_writes(process(selinux=label)) == [("/proc/thread-self/attr/exec", label)]
    assert lsm.exec_attr_writes(process()) == []


def test_apply_writes_through_the_opener(tmp_path):
    target = tmp_path / "exec"
    target.write_text("")
    opened = []

    def opener(path, flags):
        opened.append((path, flags))
        return os.open(target, flags)

    lsm.apply_exec_labels(process(selinux="system_u:system_r:container_t:s0"), opener=opener)
    assert opened == [("/proc/thread-self/attr/exec", os.O_WRONLY | os.O_CLOEXEC)]
    assert target.read_text() == "system_u:system_r:container_t:s0"


def test_a_refused_write_names_the_field():
    def opener(path, flags):
        raise PermissionError(13, "Permission denied", path)

    with pytest.raises(ContainerError, match="process.apparmorProfile: writing 'exec x'"):
        lsm.apply_exec_labels(process(apparmor="x"), opener=opener)


@pytest.mark.parametrize(
    "fstype, data, expected",
    [
        ("tmpfs", "mode=755,size=65536k", f"mode=755,size=65536k,context={LABEL!r}".replace("'", '"')),
        ("devpts", None, f'context="{LABEL}"'),
        ("proc", None, None),
        ("sysfs", "", ""),
        ("bind", None, None),
        ("cgroup", None, None),
    ],
)
def test_mount_label_goes_into_the_data(fstype, data, expected):
    assert lsm.mount_data(data, fstype, LABEL) == expected
    assert lsm.mount_data(data, fstype, None) == data


@pytest.mark.parametrize(
    "proc, linux, path, name",
    [
        (process(apparmor="docker-default"), None, "process.apparmorProfile", "AppArmor"),
        (process(selinux="system_u:system_r:container_t:s0"), None, "process.selinuxLabel", "SELinux"),
        (process(), Linux(mount_label=LABEL), "linux.mountLabel", "SELinux"),
    ],
)
def test_a_label_of_an_lsm_the_host_does_not_run_is_a_config_error(proc, linux, path, name):
    with pytest.raises(ConfigError) as info:
        lsm.check(proc, linux, apparmor=False, selinux=False)
    assert info.value.path == path
    assert f"{name} is not enabled on this host" in info.value.message
    lsm.check(proc, linux, apparmor=True, selinux=True)  # where it runs, fine


def test_exec_processes_are_checked_under_their_own_path():
    with pytest.raises(ConfigError) as info:
        lsm.check(process(apparmor="p"), where="process", apparmor=False)
    assert info.value.path == "process.apparmorProfile"


def test_detection(tmp_path):
    enabled = tmp_path / "enabled"
    assert not lsm.apparmor_enabled(str(enabled))
    enabled.write_text("N\n")
    assert not lsm.apparmor_enabled(str(enabled))
    enabled.write_text("Y\n")
    assert lsm.apparmor_enabled(str(enabled))
    assert not lsm.selinux_enabled(str(tmp_path))
    (tmp_path / "enforce").write_text("1")
    assert lsm.selinux_enabled(str(tmp_path))
