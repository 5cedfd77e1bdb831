"""Every bad input of ``tests/reliability_cases.py``: one line, its exit code, nothing left
behind."""

import re

import pytest

from tests.reliability_cases import CASES, run


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_bad_input_gives_one_clear_line_and_leaves_nothing_half_written(case, tmp_path):
    code, message, left = run(case, tmp_path)
    assert code == case.exit_code
    assert message.startswith(case.prefix) and "\n" not in message, message
    assert re.search(case.message, message), message
    assert not [p for p in left if p.is_file()], left  # no log, lock or half-written file
