"""The wheel must contain every sub-package: pyproject lists them by hand (some live outside
src/, mapped with package-dir), so a new folder that is not listed would vanish on install."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        ".".join(path.parent.relative_to(ROOT / "src").parts)
        for path in (ROOT / "src" / "compliance").rglob("__init__.py")
    }
    missing = sorted(on_disk - listed)
    assert missing == [], f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    for mapped, folder in config["package-dir"].items():
        assert (ROOT / folder / "__init__.py").is_file(), f"{mapped} -> {folder} has no package"


def test_schema_files_are_package_data() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = data["package-data"]["compliance.schemas"]
    assert "*.avsc" in patterns and "history/*.avsc" in patterns
    assert list((ROOT / "schemas" / "history").glob("*.avsc")), "schemas/history is empty"


def test_the_installed_package_carries_no_test_doubles() -> None:
    # Stand-ins for outside services live in tests/support, never in what users install.
    doubles = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "src" / "compliance").rglob("*.py")
        if any(word in path.stem for word in ("stub", "fake", "mock"))
    )
    assert doubles == [], f"move to tests/support: {doubles}"


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower().replace("_", "-")
            for r in requirements}  # fmt: skip


def test_every_library_the_package_imports_is_declared_in_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _requirement_names(project["dependencies"])
    for extra, requirements in project["optional-dependencies"].items():
        if extra != "dev":
            declared |= _requirement_names(requirements)
    imported: set[str] = set()
    for folder in ("src", "processors"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module.split(".")[0])
    distributions = packages_distributions()
    undeclared = sorted(
        f"{module} (from {', '.join(distributions[module])})"
        for module in imported - set(sys.stdlib_module_names) - {"compliance"}
        if module in distributions
        and not {d.lower().replace("_", "-") for d in distributions[module]} & declared
    )
    unknown = sorted(
        m for m in imported - set(sys.stdlib_module_names) - {"compliance"} - set(distributions)
    )
    assert undeclared == [], f"imported but not declared in pyproject.toml: {undeclared}"
    assert unknown == [], f"imported but installed by no distribution: {unknown}"
