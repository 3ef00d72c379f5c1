"""Requirement parsing for image builds: sources, normalisation, rejected lines, jax pins."""

from __future__ import annotations

import logging

import pytest

from kinetic.errors import RequirementsError
from kinetic.images.requirements import resolve_requirements


def write(root, name: str, text: str):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_argument_list_wins_over_files(tmp_path):
    write(tmp_path, "requirements.txt", "six\n")
    resolved = resolve_requirements(tmp_path, ["requests==2.31.0"])
    assert resolved.lines == ("requests==2.31.0",)
    assert resolved.source == "requirements argument"


def test_requirements_txt_wins_over_pyproject(tmp_path):
    write(tmp_path, "requirements.txt", "six\n")
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\ndependencies = ["rich"]\n')
    assert resolve_requirements(tmp_path).lines == ("six",)


def test_pyproject_dependencies_used(tmp_path):
    write(tmp_path, "pyproject.toml",
          '[project]\nname = "x"\ndependencies = ["Rich>=13", "PyYAML"]\n')
    resolved = resolve_requirements(tmp_path)
    assert resolved.lines == ("pyyaml", "rich>=13")
    assert "[project.dependencies]" in resolved.source


def test_no_requirements_is_empty(tmp_path):
    resolved = resolve_requirements(tmp_path)
    assert resolved.lines == ()
    assert resolved.requirements_txt() == ""


def test_comments_blank_lines_and_order_ignored(tmp_path):
    write(tmp_path, "a/requirements.txt", "numpy>=1.24\nsix==1.16.0\n")
    write(tmp_path, "b/requirements.txt",
          "# pinned for the data loader\n\nSix == 1.16.0   # trailing comment\n"
          "\n  NumPy >= 1.24\n")
    first = resolve_requirements(tmp_path / "a")
    second = resolve_requirements(tmp_path / "b")
    assert first.lines == second.lines
    assert first.lines == ("numpy>=1.24", "six==1.16.0")


def test_names_normalised_per_pep503():
    resolved = resolve_requirements(None, ["Foo_Bar.Baz[Extra_B,extra-a]>=1.0,<2"])
    assert resolved.lines == ("foo-bar-baz[extra-a,extra-b]<2,>=1.0",)


def test_duplicates_collapse():
    resolved = resolve_requirements(None, ["six", "Six", "six "])
    assert resolved.lines == ("six",)


def test_markers_and_url_requirements_kept():
    resolved = resolve_requirements(None, [
        'tomli; python_version < "3.11"',
        "mypkg @ https://example.com/mypkg-1.0-py3-none-any.whl",
        "other @ git+https://github.com/example/other.git@v1",
    ])
    assert 'tomli; python_version < "3.11"' in resolved.lines
    assert "mypkg @ https://example.com/mypkg-1.0-py3-none-any.whl" in resolved.lines
    assert "other @ git+https://github.com/example/other.git@v1" in resolved.lines
    assert len(resolved.lines) == 3


def test_follows_existing_r_file(tmp_path):
    write(tmp_path, "requirements.txt", "-r requirements/base.txt\nsix\n")
    write(tmp_path, "requirements/base.txt", "-r common.txt\nrich\n")
    write(tmp_path, "requirements/common.txt", "click\n")
    assert resolve_requirements(tmp_path).lines == ("click", "rich", "six")


def test_r_cycle_read_once(tmp_path):
    write(tmp_path, "requirements.txt", "-r other.txt\nsix\n")
    write(tmp_path, "other.txt", "-r requirements.txt\nrich\n")
    assert resolve_requirements(tmp_path).lines == ("rich", "six")


def test_backslash_continuation_joined(tmp_path):
    write(tmp_path, "requirements.txt", "numpy>=1.24,\\\n  <3\n")
    assert resolve_requirements(tmp_path).lines == ("numpy<3,>=1.24",)


def test_index_options_kept_as_pip_options(tmp_path):
    write(tmp_path, "requirements.txt",
          "--extra-index-url https://download.pytorch.org/whl/cpu\n-i https://pypi.org/simple\n"
          "--pre\ntorch\n")
    resolved = resolve_requirements(tmp_path)
    assert resolved.options == ("--extra-index-url https://download.pytorch.org/whl/cpu",
                                "--index-url https://pypi.org/simple", "--pre")
    assert resolved.requirements_txt().splitlines()[-1] == "torch"


def test_hashes_kept_and_sorted():
    resolved = resolve_requirements(None, ["six==1.16.0 --hash=sha256:bb --hash=sha256:aa"])
    assert resolved.lines == ("six==1.16.0 --hash=sha256:aa --hash=sha256:bb",)


@pytest.mark.parametrize("line, expected", [
    ("-e .", "editable install"),
    ("--editable ./pkg", "editable install"),
    ("./pkg", "local path"),
    ("../x", "local path"),
    ("/opt/wheels/six-1.16.0-py2.py3-none-any.whl", "local path"),
    ("file:///tmp/six", "local path"),
    ("six @ file:///tmp/six-1.16.0.tar.gz", "local path"),
    ("dist/mypkg-1.0.tar.gz", "local path"),
    ("-r missing.txt", "does not exist"),
    ("-c constraints.txt", "constraint files are not supported"),
    ("--find-links ./wheels", "not reachable from inside"),
    ("--no-index", "not supported"),
    ("six==1.0 --install-option=--x", "only --hash is"),
    ("git+https://github.com/example/pkg.git", "NAME @ URL"),
    ("not a requirement!!", "not a valid requirement"),
])
def test_uninstallable_line_rejected(tmp_path, line, expected):
    path = write(tmp_path, "requirements.txt", f"six\n# comment\n{line}\n")
    with pytest.raises(RequirementsError) as caught:
        resolve_requirements(tmp_path)
    message = str(caught.value)
    assert expected in message
    assert f"{path}:3" in message
    assert repr(line) in message or line in message


def test_error_in_included_file_names_that_file(tmp_path):
    write(tmp_path, "requirements.txt", "-r dev.txt\n")
    included = write(tmp_path, "dev.txt", "rich\n-e ../lib\n")
    with pytest.raises(RequirementsError, match=f"{included}:2"):
        resolve_requirements(tmp_path)


def test_argument_list_error_names_index():
    with pytest.raises(RequirementsError, match=r"requirements\[1\]"):
        resolve_requirements(None, ["six", "./local"])


def test_dynamic_pyproject_dependencies_rejected(tmp_path):
    write(tmp_path, "pyproject.toml",
          '[project]\nname = "x"\ndynamic = ["dependencies"]\n')
    with pytest.raises(RequirementsError, match="dynamic"):
        resolve_requirements(tmp_path)


def test_invalid_pyproject_rejected(tmp_path):
    write(tmp_path, "pyproject.toml", "[project\n")
    with pytest.raises(RequirementsError, match="not valid TOML"):
        resolve_requirements(tmp_path)


@pytest.mark.parametrize("family", ["tpu", "gpu"])
def test_accelerator_pins_dropped_with_one_warning(tmp_path, caplog, family):
    write(tmp_path, "requirements.txt",
          "jax==0.4.30\njaxlib==0.4.30\nlibtpu-nightly\nLibTPU\noptax\n")
    with caplog.at_level(logging.WARNING, logger="kinetic.images"):
        resolved = resolve_requirements(tmp_path, family=family)
    assert resolved.lines == ("optax",)
    assert len(resolved.dropped) == 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "jax==0.4.30" in warnings[0].getMessage()
    assert "# kinetic: keep" in warnings[0].getMessage()


def test_keep_marker_keeps_accelerator_pin(tmp_path, caplog):
    write(tmp_path, "requirements.txt", "jax[tpu]==0.4.30  # kinetic: keep\njaxlib\n")
    with caplog.at_level(logging.WARNING, logger="kinetic.images"):
        resolved = resolve_requirements(tmp_path, family="tpu")
    assert resolved.lines == ("jax[tpu]==0.4.30",)
    assert resolved.dropped == (f"{tmp_path / 'requirements.txt'}:2: jaxlib",)


def test_cpu_keeps_jax_pins():
    resolved = resolve_requirements(None, ["jax==0.4.30", "jaxlib==0.4.30"], family="cpu")
    assert resolved.lines == ("jax==0.4.30", "jaxlib==0.4.30")
    assert resolved.dropped == ()
