"""The wheel must contain every sub-package: pyproject lists them by hand (some live outside
src/, mapped with package-dir), so a new folder that is not listed would vanish on install."""

from __future__ import annotations

import tomllib
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
