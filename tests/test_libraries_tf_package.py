"""A folder named tensorflow that comes before the installed TensorFlow on sys.path (PYTHONPATH): the
doctor names the folder and how to take it off, and offers no reinstall that cannot help."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import findings_by_id, json_report, tf_python

pytestmark = pytest.mark.real_tf


def test_a_tensorflow_package_on_pythonpath_shadows_the_installed_one(tmp_path: Path):
    python = tf_python()
    shadow = tmp_path / "x"
    (shadow / "tensorflow").mkdir(parents=True)
    (shadow / "tensorflow" / "__init__.py").write_text("")
    report, _ = json_report("doctor", "--json", "--fast", "--python", python,
                            env={"PYTHONPATH": str(shadow)}, expect_codes=(1,))
    found = findings_by_id(report)
    (f,) = found["tf-package-shadowed"]
    assert f["severity"] == "error"
    assert f["summary"].startswith(f"The tensorflow package Python imports is {shadow / 'tensorflow'}, not the "
                                   "installed tensorflow 2.21.0 in ")
    commands = [c for fix in f["fixes"] for c in fix["commands"]]
    assert "unset PYTHONPATH" in commands and str(shadow) in f["fixes"][0]["summary"]
    assert report["verdict"]["status"] == "not_ready"
    for g in found.get("tf-build-info-unreadable", []):
        assert "broken or partial" not in g["summary"]
        assert not any("--force-reinstall" in c for fix in g["fixes"] for c in fix["commands"])
