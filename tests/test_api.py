"""The public Python API: ``import ganbench`` and README's "In Python" section, run as written."""

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_python_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## In Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "README's 'In Python' section should hold one python block"
    return blocks[0]


def test_the_package_has_a_version_and_a_small_api():
    import ganbench

    assert ganbench.__version__ == metadata.version("ganbench")
    for name in ganbench.__all__:
        assert getattr(ganbench, name) is not None, name
    with pytest.raises(AttributeError):
        ganbench.no_such_name  # noqa: B018


def test_import_ganbench_does_not_import_torch():
    code = "import sys, ganbench; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_readme_in_python_section_runs_as_written(tmp_path):
    out = subprocess.run([sys.executable, "-c", readme_python_block()], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("done ")
    float(lines[0].split()[1])  # the test Parzen score is a number
    assert "non-saturating" in out.stdout and " +- " in out.stdout
    assert lines[-1] == metadata.version("ganbench")
    assert (tmp_path / "python-demo-store").is_dir()


def test_train_rejects_an_unknown_setting_with_one_line():
    import ganbench
    from ganbench.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown setting 'bogus'"):
        ganbench.train_one(generator="mlp", discriminator="mlp", loss="hinge", dataset="ring-2d",
                       bogus=1)


def test_sample_from_a_module_needs_its_config():
    from torch import nn

    import ganbench

    with pytest.raises(TypeError, match="needs config="):
        ganbench.sample(nn.Linear(2, 2), 3)
