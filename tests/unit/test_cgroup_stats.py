"""Reading stats files into runc's shapes, on fake cgroup directories."""

from __future__ import annotations

from pathlib import Path

from pycontainer.cgroups import stats


def fill(directory: Path, files: dict[str, str]) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return str(directory)


THROTTLE = {
    "blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n",
    "blkio.throttle.io_serviced_recursive": "8:0 Read 1\n8:0 Write 1\nTotal 2\n",
}


def test_blkio_v1_without_cfq_or_bfq_reads_the_throttle_files(tmp_path):
    """mq-deadline, kyber, none: the throttle layer's files are all there is."""
    d = fill(tmp_path / "blkio", {**THROTTLE, "blkio.throttle.io_service_bytes": "8:0 Read 1\nTotal 1\n"})
    out = stats.collect({"blkio": d})["blkio"]
    assert out == {
        "ioServiceBytesRecursive": [
            {"major": 8, "minor": 0, "op": "Read", "value": 4096},
            {"major": 8, "minor": 0, "op": "Write", "value": 512},
            {"major": 8, "minor": 0, "op": "Total", "value": 4608},
        ],
        "ioServicedRecursive": [
            {"major": 8, "minor": 0, "op": "Read", "value": 1},
            {"major": 8, "minor": 0, "op": "Write", "value": 1},
        ],
    }  # no entries for the other keys: left out, as runc's omitempty


def test_blkio_v1_prefers_the_schedulers_files(tmp_path):
    cfq = {
        "blkio.sectors_recursive": "8:0 9\n",
        "blkio.io_serviced_recursive": "8:0 Read 7\nTotal 7\n",
        "blkio.io_service_bytes_recursive": "8:0 Read 8192\nTotal 8192\n",
        "blkio.io_queued_recursive": "Total 0\n",
    }
    out = stats.collect({"blkio": fill(tmp_path / "cfq", {**THROTTLE, **cfq})})["blkio"]
    assert out["sectorsRecursive"] == [{"major": 8, "minor": 0, "op": "", "value": 9}]
    assert out["ioServiceBytesRecursive"] == [{"major": 8, "minor": 0, "op": "Read", "value": 8192}]
    assert "ioQueueRecursive" not in out
    bfq = {
        "blkio.bfq.io_serviced_recursive": "8:0 Read 3\nTotal 3\n",
        "blkio.bfq.io_service_bytes_recursive": "8:0 Read 12288\nTotal 12288\n",
    }
    out = stats.collect({"blkio": fill(tmp_path / "bfq", {**THROTTLE, **cfq, **bfq})})["blkio"]
    assert out == {
        "ioServicedRecursive": [{"major": 8, "minor": 0, "op": "Read", "value": 3}],
        "ioServiceBytesRecursive": [{"major": 8, "minor": 0, "op": "Read", "value": 12288}],
    }


def test_blkio_v1_without_the_recursive_files_reads_the_plain_ones(tmp_path):
    d = fill(
        tmp_path / "blkio",
        {
            "blkio.throttle.io_service_bytes_recursive": "Total 0\n",
            "blkio.throttle.io_serviced": "8:0 Read 2\nTotal 2\n",
            "blkio.throttle.io_service_bytes": "8:0 Read 8192\nTotal 8192\n",
        },
    )
    out = stats.collect({"blkio": d})["blkio"]
    assert out["ioServiceBytesRecursive"] == [{"major": 8, "minor": 0, "op": "Read", "value": 8192}]


def test_io_stat_v2(tmp_path):
    d = fill(tmp_path / "box", {"io.stat": "254:0 rbytes=8192 wbytes=0 rios=2 wios=0 dbytes=0 dios=0\n"})
    out = stats.collect({"": d})["blkio"]
    assert {"major": 254, "minor": 0, "op": "Read", "value": 8192} in out["ioServiceBytesRecursive"]
    assert {"major": 254, "minor": 0, "op": "Read", "value": 2} in out["ioServicedRecursive"]


def test_hugetlb_v1_and_v2(tmp_path):
    v1 = fill(
        tmp_path / "hugetlb",
        {
            "hugetlb.2MB.usage_in_bytes": "2097152",
            "hugetlb.2MB.max_usage_in_bytes": "4194304",
            "hugetlb.2MB.failcnt": "3",
            "hugetlb.2MB.limit_in_bytes": "4194304",
            "hugetlb.1GB.usage_in_bytes": "0",
        },
    )
    assert stats.collect({"hugetlb": v1})["hugetlb"] == {
        "1GB": {"usage": 0, "max": 0, "failcnt": 0},
        "2MB": {"usage": 2097152, "max": 4194304, "failcnt": 3},
    }
    v2 = fill(
        tmp_path / "box",
        {
            "hugetlb.2MB.current": "2097152",
            "hugetlb.2MB.events": "max 5\n",
            "hugetlb.2MB.rsvd.current": "0",
            "hugetlb.2MB.max": "max",
        },
    )
    assert stats.collect({"": v2})["hugetlb"] == {"2MB": {"usage": 2097152, "max": 0, "failcnt": 5}}


def test_cpu_throttling_in_runcs_keys(tmp_path):
    d = fill(
        tmp_path / "box", {"cpu.stat": "usage_usec 10\nnr_periods 7\nnr_throttled 3\nthrottled_usec 42\n"}
    )
    cpu = stats.collect({"": d})["cpu"]
    assert cpu["throttling"] == {"periods": 7, "throttledPeriods": 3, "throttledTime": 42000}
    assert cpu["usage"]["total"] == 10000


def test_no_pid_no_network(tmp_path):
    assert stats.collect({"": fill(tmp_path / "box", {})})["network_interfaces"] is None
