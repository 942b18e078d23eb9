"""Helpers shared by the test files (imported as `from _util import ...`: pytest puts tests/
on sys.path)."""


def one_line_error(result, *needles):
    """A CLI result that failed as a user's mistake: exit code 2, one line naming each needle,
    no traceback. Returns the line."""
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, result.output  # one line, no traceback
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]
