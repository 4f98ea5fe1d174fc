"""CI runs the README's test command in a virtual environment it has just made.

A CI that reused packages installed by hand once hid a missing `jsonschema` install step; these
tests keep `.ci/run` honest: a fresh venv in a temporary folder, the README's install and test
steps, nothing else.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_test_command() -> str:
    """The second command of the README's first code block (set up and run the tests)."""
    block = (ROOT / "README.md").read_text().split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2, commands
    return commands[1]


def continuous_integration_steps() -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return [line for line in lines if line and not line.startswith(("#", "set ", "cd ", "export "))]


def test_readme_test_command_makes_a_venv_installs_the_test_extra_and_runs_pytest():
    steps = readme_test_command().split(" && ")
    assert steps[0] == "python3 -m venv .venv"
    assert steps[1] == ". .venv/bin/activate"
    assert steps[2:] == ['pip install -e ".[all,test]"', "python -m pytest"]


def test_ci_runs_the_readme_install_and_test_steps_in_a_fresh_temporary_venv():
    steps = continuous_integration_steps()
    readme_steps = readme_test_command().split(" && ")[2:]
    assert steps[-len(readme_steps):] == readme_steps
    assert any(re.search(r"mktemp -d", step) for step in steps)
    assert 'python3 -m venv "$environment/venv"' in steps
    assert '. "$environment/venv/bin/activate"' in steps
    assert ".venv" not in "\n".join(steps).replace("/venv", "")


def test_every_package_folder_is_listed_for_a_regular_install():
    """An editable install finds any folder; a wheel holds only the packages pyproject lists.
    Every folder with an ``__init__.py`` under the mapped roots is listed under its real name."""
    import tomllib

    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(settings["packages"])
    folders = {"specc"}
    for package, folder in settings["package-dir"].items():
        for marker in (ROOT / folder).rglob("__init__.py"):
            relative = marker.parent.relative_to(ROOT / folder)
            folders.add(".".join((package, *relative.parts)))
    assert listed == folders
