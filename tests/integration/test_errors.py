"""Bad input: one clear error line on stderr, a non-zero exit, and nothing
left behind (the host_clean fixture checks mounts, cgroups, links, processes
and state dirs after each test)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import NSINIT

pytestmark = pytest.mark.root


def one_line_error(r) -> str:
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("nsinit: ")
    return lines[0]


def test_missing_executable(bundle):
    line = one_line_error(bundle.run("no-such-program"))
    assert 'exec: "no-such-program": executable file not found in $PATH' in line


def test_missing_executable_by_path(bundle):
    line = one_line_error(bundle.run("/bin/nope"))
    assert "/bin/nope" in line and "no such file or directory" in line


def test_missing_rootfs(bundle, tmp_path):
    bundle.config["root"]["path"] = str(tmp_path / "nowhere")
    line = one_line_error(bundle.run("true"))
    assert "rootfs" in line and "does not exist" in line


def test_unknown_namespace_names_the_json_path(bundle):
    bundle.config["linux"]["namespaces"][3] = {"type": "pidd"}
    line = one_line_error(bundle.run("true"))
    assert 'linux.namespaces[3].type: unknown namespace "pidd"' in line


def test_malformed_json(bundle):
    bundle.config_path.write_text('{"ociVersion": "1.0.2", "process": ')
    argv = [*NSINIT, "--root", str(bundle.state_root), "exec", str(bundle.config_path)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    line = one_line_error(r)
    assert "line 1" in line


def test_wrong_type_names_the_json_path(bundle):
    bundle.config["process"]["args"] = ["/bin/true", 5]
    assert "process.args[1]" in bundle.run().stderr


def test_mount_source_that_does_not_exist(bundle, tmp_path):
    bundle.config["mounts"].append(
        {"destination": "/data", "type": "bind", "source": str(tmp_path / "gone"), "options": ["bind"]}
    )
    line = one_line_error(bundle.run("/bin/true"))
    assert "gone" in line and "No such file or directory" in line


def test_mount_of_an_unknown_filesystem_type(bundle):
    bundle.config["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "none"})
    line = one_line_error(bundle.run("/bin/true"))
    assert "mounts[" in line


def test_a_failing_step_late_in_setup_cleans_up(bundle):
    bundle.config["linux"]["sysctl"] = {"net.no.such.key": "1"}
    line = one_line_error(bundle.run("/bin/true"))
    assert "net.no.such.key" in line


def test_log_file_gets_a_json_line(bundle, tmp_path):
    log = tmp_path / "log.json"
    bundle.write()
    argv = [
        *NSINIT,
        "--root",
        str(bundle.state_root),
        "--log",
        str(log),
        "--log-format",
        "json",
        "exec",
        str(bundle.config_path),
        "--",
        "no-such-program",
    ]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error"
    assert "executable file not found in $PATH" in entry["msg"]
    assert entry["time"].endswith("Z")


def test_config_that_is_a_directory(tmp_path, state_root):
    d = tmp_path / "c.json"
    d.mkdir()
    r = subprocess.run([*NSINIT, "--root", str(state_root), "exec", str(d)], capture_output=True, text=True)
    one_line_error(r)


def test_fields_not_applied_yet_are_named_in_a_warning(bundle):
    bundle.config["linux"]["intelRdt"] = {"closID": "pycontainer-test"}
    r = bundle.run("/bin/true")
    assert r.returncode == 0, r.stderr
    assert "linux.intelRdt is not applied" in r.stderr


@pytest.mark.cgroup2
def test_zero_valued_resources_mean_unset(bundle):
    bundle.config["linux"]["resources"] = {
        "pids": {"limit": 0},
        "devices": [{"allow": False, "access": "rwm"}],
    }
    r = bundle.run("/bin/true")
    assert r.returncode == 0 and r.stderr == ""


def test_installed_nsinit_runs_with_an_empty_environment(bundle, installed_nsinit):
    """Engines call the runtime with no PATH and no HOME."""
    installed = installed_nsinit
    with open(installed) as f:
        first = f.readline()
    assert first.startswith("#!/") and "env " not in first  # an absolute interpreter
    bundle.write()
    r = subprocess.run(
        [
            installed,
            "--root",
            str(bundle.state_root),
            "exec",
            str(bundle.config_path),
            "--",
            "/bin/sh",
            "-c",
            "echo $$",
        ],
        env={},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1\n"
