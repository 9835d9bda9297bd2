"""Shared plumbing: config round-trip and strictness, atomic writes, CLI error handling."""

from __future__ import annotations

import dataclasses
import os

import pandas as pd
import pytest

from contested.config import Config
from contested.errors import ContestedError
from contested.io import atomic_path, write_table


@dataclasses.dataclass(frozen=True)
class _Inner(Config):
    rank: int = 4


@dataclasses.dataclass(frozen=True)
class _Outer(Config):
    name: str = "x"
    seeds: tuple[int, ...] = (42,)
    inner: _Inner = _Inner()


def test_config_round_trip_and_digest_stable():
    cfg = _Outer(name="a", seeds=(1, 2), inner=_Inner(rank=8))
    again = _Outer.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.digest() == cfg.digest()
    assert cfg.digest() != cfg.replace(name="b").digest()


def test_config_unknown_key_is_an_error_naming_allowed_keys():
    with pytest.raises(ContestedError, match=r"unknown key\(s\) nmae.*allowed: inner, name, seeds"):
        _Outer.from_dict({"nmae": "a"})


def test_atomic_path_leaves_nothing_when_the_block_fails(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert os.listdir(tmp_path) == []


def test_write_table_formats(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "counts": [[1, 2], [3, 4]]})
    assert pd.read_parquet(write_table(df, tmp_path / "t.parquet"))["counts"].map(list).tolist() == [[1, 2], [3, 4]]
    assert pd.read_csv(write_table(df, tmp_path / "t.csv"))["counts"].tolist() == ["[1, 2]", "[3, 4]"]
    with pytest.raises(ContestedError, match="unknown output format"):
        write_table(df, tmp_path / "t.xlsx")


def test_atomic_writes_get_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


@dataclasses.dataclass(frozen=True)
class _Scalars(Config):
    section = "demo"
    rate: float = 0.5
    steps: int = 3
    flag: bool = False
    limit: int | None = None
    seeds: tuple[int, ...] = (42,)


def test_config_coerces_text_scalars_from_yaml_and_cli():
    # YAML 1.1 reads 1e-4 as text and CLI values arrive as text: both become the annotated type.
    cfg = _Scalars(rate="1e-4", steps="7", flag="yes", limit="5")
    assert (cfg.rate, cfg.steps, cfg.flag, cfg.limit) == (1e-4, 7, True, 5)
    assert type(cfg.rate) is float and type(cfg.steps) is int
    assert _Scalars(steps=7.0).steps == 7 and type(_Scalars(rate=1).rate) is float
    assert _Scalars(limit=None).limit is None
    assert _Scalars(rate="1e-4").digest() == _Scalars(rate=1e-4).digest()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rate": "fast"}, r"demo\.rate: expected float, got 'fast'"),
    ({"steps": 2.5}, r"demo\.steps: expected int, got 2\.5"),
    ({"steps": True}, r"demo\.steps: expected int, got True"),
    ({"flag": "maybe"}, r"demo\.flag: expected bool"),
    ({"steps": None}, r"demo\.steps: is required \(got null\)"),
])
def test_config_rejects_values_that_are_not_their_type(kwargs, message):
    with pytest.raises(ContestedError, match=message):
        _Scalars(**kwargs)
