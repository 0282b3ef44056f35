"""Properties of tlog-tiles coordinates and bundles: every encoding round-trips, and a path
parses only when it is the one canonical spelling of its tile."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.canonical import MAX_ENTRY_BYTES
from ledger.errors import MalformedInput
from ledger.tiles import (
    ENTRIES,
    TILE_WIDTH,
    TileId,
    decode_entry_bundle,
    decode_hash_tile,
    encode_entry_bundle,
    encode_hash_tile,
    parse_tile_path,
    tile_path,
)

levels = st.integers(ENTRIES, 63)
indexes = st.one_of(st.integers(0, 2000), st.integers(0, 2**63 - 1))
partial_tiles = st.builds(TileId, levels, indexes, st.integers(1, TILE_WIDTH - 1))
full_tiles = st.builds(TileId, levels, indexes)


@settings(deadline=None)
@given(partial_tiles)
def test_partial_tile_paths_round_trip(tile: TileId) -> None:
    path = tile_path(tile)
    assert parse_tile_path(path) == tile
    assert path.endswith(f".p/{tile.width}")


@settings(deadline=None)
@given(full_tiles)
def test_full_tile_paths_round_trip(tile: TileId) -> None:
    path = tile_path(tile)
    assert ".p/" not in path
    assert parse_tile_path(path) == tile


# Near misses: the pieces of a tile path, each sometimes spelled wrongly.
digits = st.text("0123456789", min_size=1, max_size=4)
level_texts = st.one_of(
    st.integers(0, 63).map(str),
    st.just("entries"),
    st.sampled_from(["", "00", "01", "007", "-1", "+1", "x1", "64", "999", "1000", "data"]),
)
group_texts = st.builds(str.__add__, st.sampled_from(["", "x", "X"]), digits)
width_texts = st.one_of(st.integers(1, 255).map(str), st.just(""), digits)


@st.composite
def near_miss_paths(draw: st.DrawFn) -> str:
    groups = draw(st.lists(group_texts, min_size=1, max_size=4))
    path = f"tile/{draw(level_texts)}/{'/'.join(groups)}"
    if draw(st.booleans()):
        path += f".p/{draw(width_texts)}"
    return path


@settings(max_examples=150, deadline=None)
@given(near_miss_paths())
@example("tile/0/x000/001.p/1")
@example("tile/00/001.p/1")
@example("tile/0/001.p/01")
def test_a_path_parses_only_if_canonical(path: str) -> None:
    try:
        tile = parse_tile_path(path)
    except MalformedInput as exc:
        assert str(exc).startswith(f"malformed tile path {path!r}")
        return
    assert tile_path(tile) == path


@settings(deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_parses_only_if_canonical(path: str) -> None:
    try:
        tile = parse_tile_path(path)
    except MalformedInput:
        return
    assert tile_path(tile) == path


entry_lists = st.lists(st.binary(max_size=300), min_size=1, max_size=TILE_WIDTH)


@settings(max_examples=60, deadline=None)
@given(entry_lists)
def test_entry_bundles_round_trip(entries: list[bytes]) -> None:
    data = encode_entry_bundle(entries)
    assert len(data) == sum(2 + len(e) for e in entries)
    assert decode_entry_bundle(data) == entries


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(MAX_ENTRY_BYTES - 3, MAX_ENTRY_BYTES), min_size=1, max_size=3))
def test_entry_bundles_of_the_largest_entries_round_trip(sizes: list[int]) -> None:
    entries = [bytes([i]) * n for i, n in enumerate(sizes)]
    assert decode_entry_bundle(encode_entry_bundle(entries)) == entries


@settings(max_examples=100, deadline=None)
@given(entry_lists, st.data())
def test_cut_bundles_are_refused_unless_cut_between_entries(
    entries: list[bytes], data: st.DataObject
) -> None:
    """A bundle cut short is refused, except exactly after an entry (the length-prefixed format
    cannot tell that from a shorter bundle: the tile width says how many entries to expect)."""
    bundle = encode_entry_bundle(entries)
    cut = data.draw(st.integers(1, len(bundle) - 1)) if len(bundle) > 1 else 1
    boundaries = {sum(2 + len(e) for e in entries[:k]): k for k in range(len(entries) + 1)}
    try:
        got = decode_entry_bundle(bundle[:cut])
    except MalformedInput as exc:
        assert cut not in boundaries
        assert str(exc).startswith("entry bundle truncated")
    else:
        assert cut in boundaries
        assert got == entries[: boundaries[cut]]


@settings(max_examples=100, deadline=None)
@given(entry_lists, st.binary(min_size=1, max_size=40))
def test_trailing_bytes_are_refused_unless_they_are_whole_entries(
    entries: list[bytes], extra: bytes
) -> None:
    bundle = encode_entry_bundle(entries)
    try:
        got = decode_entry_bundle(bundle + extra)
    except MalformedInput as exc:
        assert str(exc).startswith("entry bundle")
    else:
        assert got[: len(entries)] == entries
        assert len(got) > len(entries)
        assert encode_entry_bundle(got[len(entries) :]) == extra


@settings(deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=TILE_WIDTH))
def test_hash_tiles_round_trip(hashes: list[bytes]) -> None:
    data = encode_hash_tile(hashes)
    assert decode_hash_tile(data, len(hashes)) == hashes
    for width in {len(hashes) - 1, len(hashes) + 1} - {0}:
        with pytest.raises(MalformedInput, match=r"^hash tile is \d+ bytes, want \d+$"):
            decode_hash_tile(data, width)
