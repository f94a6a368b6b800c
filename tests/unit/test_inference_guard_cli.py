"""Where ``meshplan agent`` and ``meshplan router`` take their inference
key from: ``--inference-key-file``, else ``MESHPLAN_INFERENCE_KEY``."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from api.commands.executor import inference_guard
from executor.endpoint import KEY_ENV


def test_the_key_file_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "from-env")
    (tmp_path / "key").write_text("from-file\n")
    assert inference_guard(str(tmp_path / "key"), 100).key == "from-file"
    guard = inference_guard(None, 100)
    assert (guard.key, guard.max_body_bytes) == ("from-env", 100)


def test_without_file_or_environment_no_key_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert inference_guard(None, 100).key is None


@pytest.mark.parametrize(("text", "message"), [("\n", "the file is empty"), ("a b", "key: ")])
def test_an_empty_or_malformed_key_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "key").write_text(text)
    with pytest.raises(click.BadParameter, match=message):
        inference_guard(str(tmp_path / "key"), 100)
