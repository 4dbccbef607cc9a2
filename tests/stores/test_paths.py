"""Names are confined to the store: nothing reaches outside its root."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sexton.stores import Store, UnsafePath, safe_name

UNSAFE = [
    "",
    "../x",
    "a/../../etc/passwd",
    "a/..",
    "/abs",
    "/etc/passwd",
    "a\0b",
    "a//b",
    "./a",
    "a/./b",
    "dir/",
    ".sexton-tmp-0123",
]


@pytest.mark.parametrize("name", UNSAFE)
def test_unsafe_names_are_refused_with_a_clear_message(name: str) -> None:
    with pytest.raises(UnsafePath, match="name|NUL"):
        safe_name(name)


def test_unsafe_path_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        safe_name("../x")


segment = st.text(
    st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)), min_size=1
).filter(lambda s: s not in (".", "..") and not s.startswith(".sexton-tmp-"))


@given(st.lists(segment, min_size=1, max_size=5))
def test_any_relative_name_of_plain_segments_is_accepted_unchanged(segments: list[str]) -> None:
    name = "/".join(segments)
    assert safe_name(name) == name


@given(st.lists(segment, max_size=3), st.lists(segment, max_size=3))
def test_a_dot_dot_segment_anywhere_is_refused(before: list[str], after: list[str]) -> None:
    with pytest.raises(UnsafePath):
        safe_name("/".join([*before, "..", *after]))


@pytest.mark.parametrize("name", ["../escape", "/abs", "a\0b"])
def test_store_operations_refuse_unsafe_names_and_change_nothing(store: Store, name: str) -> None:
    with pytest.raises(UnsafePath):
        store.write_from(name, io.BytesIO(b"x"))
    with pytest.raises(UnsafePath):
        store.open_read(name)
    with pytest.raises(UnsafePath):
        store.info(name)
    with pytest.raises(UnsafePath):
        store.delete(name)
    assert list(store.walk()) == []
