"""Sweep files: expansion into runs, the list rule, and every bad input failing with one line,
exit status 2, before anything runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ganbench import sweep
from ganbench.cli import cli
from ganbench.errors import ConfigError, PluginError

ROOT = Path(__file__).resolve().parents[1]

TINY = """
generator = "mlp"
discriminator = "mlp"
loss = ["non-saturating", "hinge"]
dataset = "gaussian-1d"
seed = [0, 1]

[train]
steps = 20
batch_size = 32
log_every = 5
checkpoint_every = 10

[noise]
dim = 4

[score]
parzen = false

[options.generator.mlp]
hidden = [[16]]

[options.discriminator.mlp]
hidden = [[16]]

[options.dataset.gaussian-1d]
n_train = 512
n_valid = 128
n_test = 128
"""


def parse(text: str) -> dict:
    import tomllib

    return tomllib.loads(textwrap.dedent(text))


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_cartesian_product_seed_fastest():
    configs = sweep.expand(parse(TINY))
    assert [(c.loss, c.seed) for c in configs] == [
        ("non-saturating", 0), ("non-saturating", 1), ("hinge", 0), ("hinge", 1)]
    assert len({c.run_id for c in configs}) == 4
    c = configs[0]
    assert c.train["steps"] == 20 and c.noise["dim"] == 4 and c.score["parzen"] is False
    assert c.options["generator"]["hidden"] == [16]  # a list-valued option, given once
    assert c.options["dataset"]["n_train"] == 512
    assert c.optimizer["lr"] == 2e-4  # resolved: every default filled in
    assert sweep.describe(configs) == "2 losses x 2 seeds"


def test_plugin_options_apply_only_to_their_plugin():
    data = parse(TINY + """
        [options.loss.non-saturating]
        discriminator_scale = [0.5, 1.0]
        """)
    configs = sweep.expand(data)
    scales = sorted((c.loss, c.options["loss"].get("discriminator_scale"), c.seed)
                    for c in configs)
    assert scales == [("hinge", None, 0), ("hinge", None, 1),  # hinge has no such option
                      ("non-saturating", 0.5, 0), ("non-saturating", 0.5, 1),
                      ("non-saturating", 1.0, 0), ("non-saturating", 1.0, 1)]


def test_every_list_is_an_axis_and_list_valued_options_are_lists_of_lists():
    data = parse(TINY.replace("hidden = [[16]]\n\n[options.discriminator",
                              "hidden = [[8], [16, 16]]\n\n[options.discriminator")
                 + "\n[optimizer]\nlr = [1e-3, 2e-4]\nbetas = [[0.5, 0.9]]\n")
    configs = sweep.expand(data)
    assert len(configs) == 2 * 2 * 2 * 2  # losses x hidden x lr x seeds
    assert {tuple(c.options["generator"]["hidden"]) for c in configs} == {(8,), (16, 16)}
    assert {c.optimizer["lr"] for c in configs} == {1e-3, 2e-4}
    assert all(c.optimizer["betas"] == [0.5, 0.9] for c in configs)


@pytest.mark.parametrize("line, words", [
    ("hidden = [16, 16]", ["hidden = [[16, 16]]", "every list is an axis", "[[64], [128, 128]]"]),
    ("hidden = []", ["empty axis", "[[]]"]),
])
def test_a_flat_list_for_a_list_valued_option_teaches_the_rule(line, words):
    data = parse(TINY.replace("[options.generator.mlp]\nhidden = [[16]]",
                              f"[options.generator.mlp]\n{line}"))
    with pytest.raises(ConfigError) as err:
        sweep.expand(data)
    for word in words:
        assert word in str(err.value)


def test_a_flat_list_for_a_list_valued_setting_teaches_the_rule():
    with pytest.raises(ConfigError, match=r"betas = \[\[0.5, 0.9\]\]"):
        sweep.expand(parse(TINY + "\n[optimizer]\nbetas = [0.5, 0.9]\n"))


def test_duplicate_values_are_an_error_and_duplicate_runs_merge():
    for line in ("lr = [0.001, 1e-3]", "lr = [1, 1.0]"):
        with pytest.raises(ConfigError, match="optimizer.lr lists .* twice"):
            sweep.expand(parse(TINY + f"\n[optimizer]\n{line}\n"))
    configs = sweep.expand(parse(TINY))
    assert sweep.unique(configs + configs[::-1]) == configs


def test_seed_may_be_one_integer():
    configs = sweep.expand(parse(TINY.replace("seed = [0, 1]", "seed = 7")))
    assert {c.seed for c in configs} == {7}


@pytest.mark.parametrize("change, message", [
    (("seed = [0, 1]", "seeds = [0, 1]"), "unknown key 'seeds' (did you mean 'seed'?)"),
    (("loss = [\"non-saturating\", \"hinge\"]", "loss = []"), "loss = [] is an empty axis"),
    (("loss = [\"non-saturating\", \"hinge\"]", ""), "no loss axis"),
    (("seed = [0, 1]", "seed = [0, \"one\"]"), "seed must be an integer"),
    (("seed = [0, 1]", "seed = []"), "seed = [] is an empty axis"),
    (("loss = [\"non-saturating\", \"hinge\"]", "loss = [\"non-saturating\", \"hige\"]"),
     "unknown loss 'hige' (did you mean 'hinge'?)"),
    (("[options.generator.mlp]", "[options.generator.resnet]"),
     "'resnet' is not on the sweep's generator axis"),
    (("[options.generator.mlp]", "[options.generatr.mlp]"), "unknown part 'generatr'"),
    (("steps = 20", "stepz = 20"), "unknown train setting 'stepz' (did you mean 'steps'?)"),
    (("n_train = 512", "n_trains = 512"), "unknown option(s) n_trains for dataset 'gaussian-1d'"),
])
def test_bad_sweep_files_name_the_problem(change, message):
    old, new = change
    assert old in TINY
    with pytest.raises((ConfigError, PluginError)) as err:
        sweep.expand(parse(TINY.replace(old, new)))
    assert message in str(err.value)


def test_tables_must_be_tables():
    base = 'generator = "mlp"\ndiscriminator = "mlp"\nloss = "hinge"\ndataset = "ring-2d"\n'
    for line, message in (("noise = 4", "noise must be a table"),
                          ("options = 3", "options must be a table"),
                          ("description = 3", "description must be a string")):
        with pytest.raises(ConfigError, match=message):
            sweep.expand(parse(base + line))


def test_options_for_a_part_need_a_table_per_plugin():
    with pytest.raises(ConfigError, match=r"\[options.generator.NAME\]"):
        sweep.expand(parse(TINY + "\n[options.loss]\nr1_gamma = 1.0\n".replace(
            "[options.loss]\nr1_gamma", "[options.generator]\nhidden")))


def test_load_sweep_reports_bad_toml_with_its_line(tmp_path):
    path = write(tmp_path, 'generator = "mlp"\nloss = [\n  "hinge",\n  oops\n]\n')
    with pytest.raises(ConfigError) as err:
        sweep.load_sweep(path)
    assert "not valid TOML" in str(err.value) and "line 4" in str(err.value)
    with pytest.raises(ConfigError, match="does not exist"):
        sweep.load_sweep(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        sweep.load_sweep(tmp_path)


def test_each_variant_is_built_once_not_once_per_seed(monkeypatch):
    import ganbench.runner as runner

    calls = []
    original = runner.prepare
    monkeypatch.setattr(runner, "prepare", lambda c: calls.append(c.loss) or original(c))
    configs = sweep.expand(parse(TINY.replace("seed = [0, 1]", "seed = [0, 1, 2, 3]")))
    checked = sweep.resolve_all(configs, check=True)
    assert sorted(calls) == ["hinge", "non-saturating"]
    assert [c.run_id for c in checked] == [c.run_id for c in configs]


def test_the_examples_expand(tmp_path):
    examples = sorted((ROOT / "examples").glob("*.toml"))
    assert examples, "examples/*.toml missing"
    for path in examples:
        configs = sweep.load_sweep(path)
        assert configs, path
    toy = sweep.load_sweep(ROOT / "examples" / "toy-losses.toml")
    assert len(toy) == 12 and sweep.describe(toy) == "2 losses x 2 datasets x 3 seeds"


# ---- the command: bad input is one line, exit 2, nothing written ----


def _fails_cleanly(runner, tmp_path, args, *words):
    store = tmp_path / "store"
    out = runner.invoke(cli, ["sweep", *args, "--store", str(store)])
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ganbench: error: "), out.output
    for word in words:
        assert word in lines[0], lines[0]
    assert not store.exists() or not any(store.iterdir())
    return lines[0]


def test_cli_bad_toml(runner, tmp_path):
    path = write(tmp_path, 'generator = "mlp"\nloss = "hinge\n')
    _fails_cleanly(runner, tmp_path, [str(path)], "not valid TOML", "line 2")


def test_cli_unknown_key_and_empty_axis(runner, tmp_path):
    path = write(tmp_path, TINY.replace("[noise]", "[nosie]"))
    _fails_cleanly(runner, tmp_path, [str(path)], "unknown key 'nosie'", "did you mean 'noise'")
    path = write(tmp_path, TINY.replace('dataset = "gaussian-1d"', "dataset = []"))
    _fails_cleanly(runner, tmp_path, [str(path)], "dataset = [] is an empty axis")


def test_cli_unreadable_file(runner, tmp_path):
    _fails_cleanly(runner, tmp_path, [str(tmp_path / "nope.toml")], "does not exist")


def test_cli_device_that_does_not_exist(runner, tmp_path):
    path = write(tmp_path, TINY)
    _fails_cleanly(runner, tmp_path, [str(path), "--devices", "cuda:7"], "cuda:7")
    _fails_cleanly(runner, tmp_path, [str(path), "--devices", "tpu"], "tpu")
    _fails_cleanly(runner, tmp_path, [str(path), "--workers", "0"], "--workers")


def test_cli_checks_every_run_before_starting_any(runner, tmp_path):
    # batch_size above the training split is caught by runner.prepare (not by resolving),
    # and only for the second dataset option: the first variants are fine.
    path = write(tmp_path, TINY.replace("n_train = 512", "n_train = [512, 16]"))
    _fails_cleanly(runner, tmp_path, [str(path)], "batch_size 32 is larger than the training "
                                                  "split (16 examples)")


def test_cli_unreachable_ray_address_fails_fast(runner, tmp_path):
    pytest.importorskip("ray")
    import socket
    import time

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = write(tmp_path, TINY)
    started = time.monotonic()
    line = _fails_cleanly(runner, tmp_path, [str(path), "--executor", "ray", "--ray-address",
                                             f"127.0.0.1:{port}"], f"127.0.0.1:{port}")
    assert "ray start --head" in line
    assert time.monotonic() - started < 10
    _fails_cleanly(runner, tmp_path, [str(path), "--executor", "ray", "--ray-address", "nocolon"],
                   "not HOST:PORT")


def test_cli_dry_run_prints_the_plan_and_writes_nothing(runner, tmp_path):
    path = write(tmp_path, TINY)
    store = tmp_path / "store"
    out = runner.invoke(cli, ["sweep", str(path), "--dry-run", "--store", str(store)])
    assert out.exit_code == 0, out.output
    assert "2 losses x 2 seeds = 4 runs" in out.output
    assert "4 runs, 0 already done, 4 to run" in out.output
    assert out.output.count("to run") == 5
    assert not store.exists()
