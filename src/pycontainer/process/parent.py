"""The parent side of making a container's init: clone it, answer its
requests (id maps, the two-step path's init pid), place it in its cgroups, let
it set up, and wait until it is ready.  See channel.py for the messages."""

from __future__ import annotations

import os

from pycontainer import namespaces, signals, syscalls
from pycontainer.process.channel import Channel
from pycontainer.process.init import InitConfig, child_main


def spawn_init(cfg: InitConfig, place_in_cgroups) -> int:
    """Clone the init and drive it until it waits on the exec fifo.

    ``place_in_cgroups(pid)`` is called once the init's host pid is known; the
    init sets up its root filesystem meanwhile and waits for it only before it
    makes its cgroup namespace and reports ready.  Returns the init's host pid; on any failure every
    process made here is killed and reaped, and the error is raised."""
    linux = cfg.spec.linux
    plan = cfg.plan
    parent_end, child_end = Channel.pair()
    pid = syscalls.clone(0 if plan.needs_two_steps else plan.new)
    if pid == 0:
        parent_end.close()
        child_main(cfg, child_end)  # never returns
    child_end.close()
    made = [pid]
    try:
        if plan.needs_two_steps:
            init_pid = _follow_two_steps(parent_end, pid, linux, made)
        else:
            init_pid = pid
            if plan.new_user:
                namespaces.write_id_maps(pid, linux.uid_mappings, linux.gid_mappings)
        parent_end.go()
        # Moving a process into v1 cgroups costs the first write a full RCU
        # grace period (~10 ms here); the init sets up its rootfs meanwhile.
        place_in_cgroups(init_pid)
        parent_end.placed_in_cgroups()
        parent_end.wait_for_ready()
        return init_pid
    except BaseException:
        for p in made:
            kill_and_reap(p)
        # The init's own report explains a failure best (a failed write to
        # its cgroup.procs may only mean it had already died of it).  Its
        # processes are gone, so this read finds the message or EOF.
        reported = parent_end.reported_error()
        if reported is not None:
            raise reported from None
        raise
    finally:
        parent_end.close()


def _follow_two_steps(channel: Channel, first: int, linux, made: list[int]) -> int:
    while True:
        msg = channel.expect("idmap_request", "init_pid")
        if msg["type"] == "idmap_request":
            namespaces.write_id_maps(msg["pid"], linux.uid_mappings, linux.gid_mappings)
            channel.id_maps_written()
            continue
        init_pid = msg["pid"]
        if init_pid != first:
            made.append(init_pid)
            os.waitpid(first, 0)  # the first child's work is done; it exits 0
            made.remove(first)
        return init_pid


def kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signals.SIGKILL)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
