"""The package's metadata: dependency ranges, the lock file that pins them, the version, LICENSE, py.typed."""

import ast
import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import veil

ROOT = Path(__file__).parents[1]
SRC = ROOT / "src" / "veil"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
LOCK = ROOT / "requirements" / "constraints.txt"

# Upper bounds are allowed only where they were measured (see the comment above `dependencies`).
MEASURED_UPPER_BOUNDS = {"numpy", "setuptools"}
# Modules only the `serve` extra brings: imported by the HTTP service alone.
SERVE_MODULES = {"fastapi", "starlette", "uvicorn"}


def _requirements(names: list[str]) -> list[Requirement]:
    return [Requirement(name) for name in names]


def _runtime_requirements() -> list[Requirement]:
    return _requirements(PROJECT["dependencies"])


def _extra_requirements(extra: str) -> list[Requirement]:
    return _requirements(PROJECT["optional-dependencies"][extra])


def _locked_versions() -> dict[str, Version]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_normalized(name)] = Version(version)
    return pins


def _normalized(name: str) -> str:
    return name.lower().replace("_", "-")


def _third_party_modules(files: list[Path]) -> set[str]:
    """Top-level names of the absolute imports in ``files``, less Veil's and the standard library's."""
    modules = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m not in ("veil", "__future__")}


def _distributions(modules: set[str]) -> set[str]:
    by_module = importlib.metadata.packages_distributions()
    return {_normalized(by_module[module][0]) for module in modules}


def test_version_is_single_sourced():
    assert importlib.metadata.version("veil") == veil.__version__
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "veil._version.__version__"}
    assert "version" in PROJECT["dynamic"]
    Version(veil.__version__)  # raises if it is not a PEP 440 version


def test_veil_version_flag_prints_the_version():
    result = subprocess.run(
        [sys.executable, "-m", "veil.cli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"veil {veil.__version__}"


def test_runtime_dependencies_are_lower_bounded_ranges():
    for requirement in _runtime_requirements():
        operators = {spec.operator for spec in requirement.specifier}
        assert "==" not in operators, f"{requirement} is pinned: pins belong in {LOCK.name}"
        if requirement.name == "setuptools":
            continue  # only an upper bound: concrete imports pkg_resources, removed in setuptools 81
        assert ">=" in operators, f"{requirement} has no lower bound"
        if "<" in operators:
            assert requirement.name in MEASURED_UPPER_BOUNDS, f"{requirement}: upper bound not measured"


def test_runtime_dependencies_are_what_the_library_imports():
    """Every module ``src`` imports outside the service is a runtime dependency, and nothing more is one
    (onnxoptimizer and setuptools are imported by brevitas and concrete, not by Veil)."""
    service_files = {SRC / "deployment" / "_service.py", SRC / "cli.py"}
    ray_files = {SRC / "deployment" / "_ray.py"}
    library_files = [f for f in SRC.rglob("*.py") if f not in service_files | ray_files]
    imported = _distributions(_third_party_modules(library_files))
    declared = {_normalized(r.name) for r in _runtime_requirements()}
    assert imported == declared - {"onnxoptimizer", "setuptools"}
    service_imports = _third_party_modules(sorted(service_files))
    assert service_imports == SERVE_MODULES
    serve_extra = {_normalized(r.name) for r in _extra_requirements("serve")}
    assert _distributions(service_imports) <= serve_extra | {"starlette"}  # starlette comes with fastapi
    # Ray is the optional ray extra (which brings serve; dev includes it): names are checked.
    assert _third_party_modules(sorted(ray_files)) == {"ray", "starlette"}
    assert {_normalized(r.name) for r in _extra_requirements("ray")} == {"veil", "ray"}


@pytest.mark.parametrize("group", ["dependencies", "serve", "docs", "dev", "ray"])
def test_lock_pins_every_dependency_inside_its_range(group: str):
    requirements = _runtime_requirements() if group == "dependencies" else _extra_requirements(group)
    pins = _locked_versions()
    for requirement in requirements:
        if requirement.name == "veil":
            continue  # dev includes veil[serve]
        name = _normalized(requirement.name)
        assert name in pins, f"{requirement.name} is not in {LOCK.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK.name} pins {name}=={pins[name]}, outside pyproject's {requirement}"
        )


def test_lock_pins_the_cpu_build_of_torch_and_not_veil():
    pins = _locked_versions()
    assert str(pins["torch"]) == "2.13.0+cpu"  # any other torch version pulls a multi-GB CUDA build
    assert "veil" not in pins


def test_makefile_installs_through_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert 'pip install --quiet -c $(LOCK) -e ".[dev]"' in makefile
    assert "LOCK := requirements/constraints.txt" in makefile


def test_license_changelog_and_typing_marker_ship():
    assert PROJECT["license"] == "BSD-3-Clause"
    license_text = (ROOT / "LICENSE").read_text()
    assert "BSD 3-Clause License" in license_text and "Veil developers" in license_text
    assert (SRC / "py.typed").exists()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["veil"]
    assert f"## [{veil.__version__}]" in (ROOT / "CHANGELOG.md").read_text()
