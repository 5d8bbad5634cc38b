"""Signals sent to a foreground ``nsinit run`` or ``nsinit exec config.json``
reach the container's process (runc's signal proxy), and nsinit exits with
the container's exit code."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest

from tests.conftest import NSINIT
from tests.reliability import wait_no_leftovers

pytestmark = pytest.mark.root

# The container answers each signal with its own exit code.
TRAPS = (
    "trap 'exit 42' TERM; trap 'exit 43' INT; trap 'exit 44' HUP; echo ready; while :; do sleep 0.05; done"
)
CODES = {signal.SIGTERM: 42, signal.SIGINT: 43, signal.SIGHUP: 44}


def _foreground(bundle, mode: str, args: list[str]) -> subprocess.Popen:
    bundle.config["process"]["args"] = args
    bundle.write()
    root = ["--root", str(bundle.state_root)]
    if mode == "run":
        argv = [*NSINIT, *root, "run", "--bundle", str(bundle.path), bundle.id]
    else:
        argv = [*NSINIT, *root, "exec", str(bundle.config_path)]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("mode", ["run", "exec-config"])
@pytest.mark.parametrize("sig", list(CODES), ids=lambda s: signal.Signals(s).name)
def test_signal_reaches_the_container_and_its_code_comes_back(bundle, mode, sig):
    p = _foreground(bundle, mode, ["/bin/sh", "-c", TRAPS])
    try:
        assert p.stdout.readline() == b"ready\n"
        p.send_signal(sig)
        code = p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert code == CODES[sig], p.stderr.read().decode()
    assert p.stderr.read() == b""
    if mode == "run":
        assert not wait_no_leftovers(bundle.id, bundle.state_root)


def test_signal_during_create_is_not_fatal(bundle):
    """SIGTERM at random moments of a foreground run, create included:
    nsinit relays it (or, before the container exists, keeps it for it), the
    container ends, and nsinit leaves nothing behind."""
    rng = random.Random(11)
    relayed = 0
    # The moments are spread over a whole run as long as this machine takes for one (an emulated
    # one takes seconds just to start Python, and a fixed window would end before create began).
    bundle.id = f"t-sigcal-{os.getpid()}"
    started = time.monotonic()
    assert _foreground(bundle, "run", ["/bin/sleep", "0.3"]).wait(timeout=60) == 0
    whole_run = time.monotonic() - started
    # Without a trap the init of a pid namespace ignores SIGTERM: it ends by itself.
    for i in range(8):
        bundle.id = f"t-sig{i}-{os.getpid()}"
        p = _foreground(bundle, "run", ["/bin/sleep", "0.3"])
        time.sleep(rng.uniform(0, 0.8 * whole_run))
        p.send_signal(signal.SIGTERM)
        code = p.wait(timeout=15)
        err = p.stderr.read().decode()
        # -SIGTERM: it came while Python was still starting, before nsinit had made anything.
        assert code in (0, -signal.SIGTERM), err
        relayed += code == 0
        assert not wait_no_leftovers(bundle.id, bundle.state_root)
    assert relayed >= 4
