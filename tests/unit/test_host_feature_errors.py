"""A config asking for a feature the host lacks: the error names the JSON
path and the missing feature (fake cgroup directories, as in
test_cgroup_resources.py)."""

from __future__ import annotations

import pytest

from pycontainer.cgroups.resources import ResourceError, apply_resources
from pycontainer.spec.models import BlockIO, Resources
from tests.unit.test_cgroup_resources import V2_FILES, kernel, v2_host  # noqa: F401 - kernel is a fixture


def test_v2_weight_without_io_weight_or_bfq_names_the_missing_weights(tmp_path, kernel) -> None:  # noqa: F811
    files = {name: text for name, text in V2_FILES.items() if name != "io.weight"}
    host = v2_host(tmp_path, files=files)
    with pytest.raises(ResourceError) as caught:
        apply_resources(host.manager, Resources(block_io=BlockIO(weight=300)))
    message = str(caught.value)
    assert message.startswith("linux.resources.blockIO.weight: "), message
    assert "no io.weight or io.bfq.weight" in message, message
