"""Keys for commands that call the API or an inference endpoint, read so
that they need not appear on the command line (where ``ps`` shows them): a
key file, else an environment variable; ``--key`` stays for quick trials."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from api.commands.common import INPUT_FILE
from executor.api_client import API_KEY_ENV
from executor.endpoint import KEY_ENV

C = TypeVar("C", bound=Callable[..., Any])


inference_key_option = click.option(
    "--inference-key-file",
    "inference_key_file",
    type=INPUT_FILE,
    default=None,
    help="File holding the inference key (Authorization: Bearer) the endpoints ask for; "
    f"default: ${KEY_ENV}; neither: no key.",
)


def read_key_file(path: str, option: str) -> str:
    """The key in ``path``, surrounding whitespace dropped; an empty file is
    a usage error naming ``option``."""
    key = Path(path).read_text().strip()
    if not key:
        raise click.BadParameter("the file is empty", param_hint=option)
    return key


def inference_key(key_file: str | None) -> str | None:
    """The inference key in ``key_file``, else in ``$MESHPLAN_INFERENCE_KEY``
    (surrounding whitespace dropped); None when neither holds one."""
    if key_file is not None:
        return read_key_file(key_file, "--inference-key-file")
    return os.environ.get(KEY_ENV, "").strip() or None


def api_key(key: str | None, key_file: str | None) -> str:
    """The API key: ``--key``, else ``--key-file``, else ``$MESHPLAN_API_KEY``
    (giving both options, or none of the three, is a usage error)."""
    if key is not None and key_file is not None:
        raise click.UsageError("give --key or --key-file, not both")
    if key is not None:
        return key
    if key_file is not None:
        return read_key_file(key_file, "--key-file")
    from_env = os.environ.get(API_KEY_ENV, "").strip()
    if not from_env:
        raise click.UsageError(f"no API key: give --key-file, set {API_KEY_ENV} or give --key")
    return from_env


def api_key_options(command: C) -> C:
    """Add ``--key-file`` and ``--key`` to a command that calls the API; it
    is passed the key (:func:`api_key`) as ``key``."""

    @functools.wraps(command)
    def with_key(*args: Any, key: str | None, api_key_file: str | None, **kwargs: Any) -> Any:
        return command(*args, key=api_key(key, api_key_file), **kwargs)

    options = (
        click.option(
            "--key-file",
            "api_key_file",
            type=INPUT_FILE,
            default=None,
            help=f"File holding the API key (default: ${API_KEY_ENV}).",
        ),
        click.option(
            "--key", default=None, help="API key (visible to other users in ps: prefer the others)."
        ),
    )
    for option in options:
        with_key = option(with_key)
    return cast(C, with_key)
