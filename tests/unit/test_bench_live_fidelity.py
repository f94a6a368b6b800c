"""The live fidelity bench's command line (bench/live_fidelity.py): the
poll period is checked before anything starts."""

from __future__ import annotations

import pytest

from bench.live_fidelity import main


@pytest.mark.parametrize("poll", ["0", "-1"])
def test_a_poll_period_that_is_not_positive_is_refused(
    poll: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--poll", poll])
    assert exited.value.code == 2
    assert f"--poll: must be > 0, got {float(poll):g}" in capsys.readouterr().err
