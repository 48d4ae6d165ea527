"""Help, version, and the three entry points, some in real child processes."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from click.testing import CliRunner

from hgloc import __version__
from hgloc.cli import cli, main

from .helpers import SRC, run_module, run_python

COMMANDS = sorted(cli.commands)


def test_command_tree() -> None:
    assert COMMANDS == [
        "adopt", "collection", "compare", "download-model", "export", "import",
        "list-local-models", "list-s3-models", "lock", "prefetch", "query", "refs", "serve",
        "show-model-card", "show-model-config", "sync-all-local-models-to-s3",
        "sync-local-model-to-s3", "verify",
    ]  # fmt: skip


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_has_examples(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    # \b kept the example lines as written
    assert re.search(r"^\s+(hgloc|python -m hg_localization\.cli) \S", result.stdout, re.M)


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.stdout == f"hgloc {__version__}\n"


def test_unknown_command_is_usage_error() -> None:
    assert CliRunner().invoke(cli, ["download-dataset", "x"]).exit_code == 2


def test_help_imports_stay_light() -> None:
    """``hgloc --help`` loads neither the S3 client, transformers nor rich."""
    code = (
        "import json, sys\n"
        "sys.argv = ['hgloc', '--help']\n"
        "from hgloc.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = {'aiobotocore', 'botocore', 'transformers', 'torch', 'rich'}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & heavy)))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "Usage: hgloc" in result.stdout
    assert json.loads(result.stdout.splitlines()[-1]) == []


@pytest.mark.parametrize("module", ["hgloc", "hg_localization.cli"])
def test_entry_points_share_the_tree(module: str) -> None:
    result = run_module(module, ["--help"])
    assert result.returncode == 0, result.stderr
    assert f"Usage: python -m {module} " in result.stdout
    for command in COMMANDS:
        assert command in result.stdout


def test_console_script_target() -> None:
    pyproject = tomllib.loads((SRC.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"]["hgloc"] == "hgloc.cli:main"
    assert callable(main)
