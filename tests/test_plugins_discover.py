"""Plugin discovery reads each distribution's entry_points.txt on sys.path, as importlib.metadata
would: the group's entries, the first copy of a distribution on the path, nothing from unreadable places."""

from __future__ import annotations

from pathlib import Path

from tfgpu.plugins import PluginEntry, discover, parse_entry_points


def _dist(folder: Path, meta: str, text: str) -> None:
    (folder / meta).mkdir(parents=True)
    (folder / meta / "entry_points.txt").write_text(text)


def test_reads_the_group_from_dist_info_and_egg_info(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    _dist(a, "tfgpu_plug-1.0.dist-info", "[console_scripts]\nx = y:z\n\n[tfgpu.checks]\nmy-check = plug.mod:check_it\n")
    _dist(b, "Other.Plug-2.0-py3.11.egg-info", "[tfgpu.checks]\nother-check = other:fn [extra]\n")
    got = discover("tfgpu.checks", [str(a), str(b), str(tmp_path / "missing")])
    assert got == [PluginEntry("my-check", "plug.mod:check_it", "tfgpu-plug"),
                   PluginEntry("other-check", "other:fn [extra]", "other-plug")]


def test_the_first_copy_of_a_distribution_on_the_path_wins(tmp_path: Path):
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "plug-2.0.dist-info", "[tfgpu.checks]\nnew = plug:new\n")
    _dist(second, "plug-1.0.dist-info", "[tfgpu.checks]\nold = plug:old\n")
    assert [e.name for e in discover("tfgpu.checks", [str(first), str(second)])] == ["new"]


def test_parse_ignores_other_groups_and_comments():
    text = "# c\n[a]\nx=1:y\n[tfgpu.checks]\n; note\nk = m:f\n"
    assert parse_entry_points(text, "tfgpu.checks") == [("k", "m:f")]


def test_load_follows_the_attribute_path(tmp_path: Path, monkeypatch):
    (tmp_path / "plugmod.py").write_text("class A:\n    class B:\n        value = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert PluginEntry("x", "plugmod:A.B [extra]", "plugmod").load().value == 42
