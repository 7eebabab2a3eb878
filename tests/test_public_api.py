"""The package's front door: a sorted, complete __all__ and documented names."""

from __future__ import annotations

import inspect
import types

import pytest

import gridy_async


def _defined_public_names() -> set[str]:
    return {
        name
        for name, value in vars(gridy_async).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def test_all_is_sorted() -> None:
    """__all__ is kept in sorted order, without duplicates."""
    assert gridy_async.__all__ == sorted(set(gridy_async.__all__))


def test_all_matches_the_public_names_defined() -> None:
    """__all__ lists exactly the non-module public names, plus __version__."""
    assert set(gridy_async.__all__) == _defined_public_names() | {"__version__"}


def test_version_is_a_string() -> None:
    """__version__ is exported as a non-empty string."""
    assert isinstance(gridy_async.__version__, str)
    assert gridy_async.__version__


@pytest.mark.parametrize("name", sorted(_defined_public_names()))
def test_every_public_name_has_a_docstring(name: str) -> None:
    """Each public name carries its own docstring."""
    value = getattr(gridy_async, name)

    assert (value.__doc__ or "").strip(), name


def _public_members() -> list[tuple[str, object]]:
    members: list[tuple[str, object]] = []
    for name in sorted(_defined_public_names()):
        cls = getattr(gridy_async, name)
        if not inspect.isclass(cls) or cls.__module__.split(".")[0] != "gridy_async":
            continue
        for attr, value in vars(cls).items():
            if attr.startswith("_"):
                continue
            if isinstance(value, (classmethod, staticmethod)):
                value = value.__func__
            if inspect.isfunction(value) or isinstance(value, property):
                members.append((f"{name}.{attr}", value))
    return members


@pytest.mark.parametrize(
    ("qualname", "member"), _public_members(), ids=[q for q, _ in _public_members()]
)
def test_every_public_method_and_property_has_a_docstring(
    qualname: str, member: object
) -> None:
    """Public methods and properties of public classes are documented too."""
    assert (getattr(member, "__doc__", None) or "").strip(), qualname
