"""Every bad input of ``tests/reliability_cases.py``: one line, exit 2, nothing half-written."""

import re

import pytest

from tests.reliability_cases import CASES, run


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_bad_input_gives_one_clear_line_and_leaves_nothing_half_written(case, tmp_path):
    code, message = run(case, tmp_path)
    assert code == case.exit_code
    assert message.startswith("error: ") and "\n" not in message, message
    assert re.search(case.message, message), message
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers
    assert not list((tmp_path / "figures").rglob("*.json"))
