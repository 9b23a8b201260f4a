"""``--tensorboard DIR``: the event files hold the run's loss curve (equal to losses.csv), the
learning rates, steps per second, the metrics once scored and the picture of samples; a
resumed run shows each step once; without the package, one line and exit status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorboard")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)
from torchvision.io import ImageReadMode, decode_png, read_image  # noqa: E402

from ganbench import tensorboard_log  # noqa: E402
from ganbench.cli import cli  # noqa: E402
from ganbench.config import RunConfig  # noqa: E402
from ganbench.run import train_run  # noqa: E402
from ganbench.store import Store  # noqa: E402

RING = ["train", "-G", "mlp", "-D", "mlp", "-L", "minimax", "-X", "ring-2d", "--steps", "20",
        "--batch-size", "32", "--set", "generator.hidden=[16]", "--set",
        "discriminator.hidden=[16]", "--set", "noise.dim=4", "--set", "train.log_every=5",
        "--set", "train.checkpoint_every=10", "--set", "dataset.n_train=512", "--set",
        "dataset.n_valid=200", "--set", "dataset.n_test=200", "--set", "score.n_samples=200",
        "--set", "score.n_valid=200", "--metrics", "parzen,modes", "--quiet", "--json"]
TRAINING_TAGS = {"loss/discriminator", "loss/generator", "lr/discriminator", "lr/generator",
                 "speed/steps_per_second"}


def events(folder: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def curve(run_folder: Path) -> dict[str, list[float]]:
    lines = (run_folder / "losses.csv").read_text().split()
    rows = [[float(v) for v in line.split(",")] for line in lines[1:]]
    return {"step": [int(r[0]) for r in rows], "d_loss": [r[1] for r in rows],
            "g_loss": [r[2] for r in rows], "seconds": [r[3] for r in rows]}


def scalars(acc: EventAccumulator, tag: str) -> tuple[list[int], list[float]]:
    found = acc.Scalars(tag)
    return [e.step for e in found], [e.value for e in found]


def test_a_ring_2d_run_logs_its_curve_rates_speed_metrics_and_samples(runner, tmp_path):
    out = runner.invoke(cli, [*RING, "--tensorboard", str(tmp_path / "tb"), "--store",
                              str(tmp_path / "st")])
    assert out.exit_code == 0, out.output
    record = json.loads(out.output)
    (folder,) = (tmp_path / "tb").iterdir()  # one subfolder per run: <variant>-<run id>
    assert folder.name == f"ring-2d.mlp.mlp.minimax.seed0-{record['run_id']}"
    acc = events(folder)
    tags = set(acc.Tags()["scalars"])
    assert TRAINING_TAGS <= tags
    stored = curve(tmp_path / "st" / record["run_id"])
    assert stored["step"] == [5, 10, 15, 20]
    for tag, column in (("loss/discriminator", "d_loss"), ("loss/generator", "g_loss")):
        steps, values = scalars(acc, tag)
        assert steps == stored["step"]
        # losses.csv keeps 6 significant digits (relative error up to 5e-6), the event
        # file a float32
        np.testing.assert_allclose(values, stored[column], rtol=6e-6, atol=1e-7)
    for tag in ("lr/discriminator", "lr/generator"):
        steps, values = scalars(acc, tag)
        assert steps == stored["step"] and values == [pytest.approx(2e-4, rel=1e-6)] * 4
    steps, speed = scalars(acc, "speed/steps_per_second")
    seconds = [0.0, *stored["seconds"]]
    expected = [(5 / (b - a)) for a, b in zip(seconds, seconds[1:]) if b > a]
    assert steps == [s for s, a, b in zip(stored["step"], seconds, seconds[1:]) if b > a]
    np.testing.assert_allclose(speed, expected, rtol=1e-5)
    # the metrics, once scored, at the last step
    columns = [k for k, v in record.items() if k.split("_")[0] in ("parzen", "modes")
               and isinstance(v, (int, float)) and not k.endswith("_seconds")]
    assert {"parzen_mean", "parzen_stderr", "modes"} <= set(columns)
    for column in columns:
        assert f"metrics/{column}" in tags, sorted(tags)
        steps, values = scalars(acc, f"metrics/{column}")
        assert steps == [20] and values[0] == pytest.approx(record[column], rel=1e-6)
    assert "time/parzen_seconds" in tags
    # the picture of samples (for 2-D data: the scatter of samples.png), pixel for pixel
    (image,) = acc.Images("samples")
    assert image.step == 20
    shown = decode_png(torch.frombuffer(bytearray(image.encoded_image_string), dtype=torch.uint8),
                       ImageReadMode.RGB)
    stored_png = read_image(str(tmp_path / "st" / record["run_id"] / "samples.png"),
                            ImageReadMode.RGB)
    assert torch.equal(shown, stored_png)


def _config(tmp_path: Path, **train) -> RunConfig:
    return RunConfig(
        generator="mlp", discriminator="mlp", loss="non-saturating", dataset="gaussian-1d",
        options={"generator": {"hidden": [16]}, "discriminator": {"hidden": [16]},
                 "dataset": {"n_train": 512, "n_valid": 128, "n_test": 128}},
        train={"steps": 20, "batch_size": 32, "log_every": 5, "checkpoint_every": 10,
               "tensorboard": str(tmp_path / "tb"), **train},
        noise={"dim": 4}, score={"parzen": False})


def test_a_resumed_run_shows_each_step_once_with_the_resumed_values(tmp_path, monkeypatch):
    config = _config(tmp_path)
    logged = []
    original = tensorboard_log.Board.log

    def log_then_interrupt(self, trainer):
        original(self, trainer)
        logged.append(trainer.step)
        if trainer.step == 15:  # past the checkpoint at 10: the rerun resumes from 10
            raise KeyboardInterrupt

    monkeypatch.setattr(tensorboard_log.Board, "log", log_then_interrupt)
    store = Store(tmp_path / "st")
    with pytest.raises(KeyboardInterrupt):
        train_run(config, store=store, device="cpu")
    monkeypatch.setattr(tensorboard_log.Board, "log", original)
    record = train_run(config, store=store, device="cpu")
    assert record["status"] == "done" and record["resumed_from_step"] == 10
    assert logged == [5, 10, 15]
    (folder,) = (tmp_path / "tb").iterdir()
    assert len(list(folder.glob("events.out.tfevents.*"))) == 2  # one file per session
    acc = events(folder)
    stored = curve(tmp_path / "st" / record["run_id"])
    steps, values = scalars(acc, "loss/generator")
    assert steps == stored["step"] == [5, 10, 15, 20]  # 15 once: the first session's purged
    np.testing.assert_allclose(values, stored["g_loss"], rtol=6e-6, atol=1e-7)
    assert scalars(acc, "lr/generator")[0] == [5, 10, 15, 20]


def test_a_run_first_logged_after_a_resume_gets_the_curve_so_far(tmp_path, monkeypatch):
    import ganbench.run as run

    saves = []
    original = run.atomic_torch_save

    def save_then_interrupt(path, obj):
        original(path, obj)
        saves.append(obj["step"])
        if obj["step"] == 10:
            raise KeyboardInterrupt

    monkeypatch.setattr(run, "atomic_torch_save", save_then_interrupt)
    store = Store(tmp_path / "st")
    without = _config(tmp_path)
    without.train.pop("tensorboard")
    with pytest.raises(KeyboardInterrupt):
        train_run(without, store=store, device="cpu")
    monkeypatch.setattr(run, "atomic_torch_save", original)
    record = train_run(_config(tmp_path), store=store, device="cpu")  # the same run id
    assert record["resumed_from_step"] == 10
    (folder,) = (tmp_path / "tb").iterdir()
    acc = events(folder)
    stored = curve(tmp_path / "st" / record["run_id"])
    steps, values = scalars(acc, "loss/discriminator")
    assert steps == stored["step"] == [5, 10, 15, 20]
    np.testing.assert_allclose(values, stored["d_loss"], rtol=6e-6, atol=1e-7)
    assert scalars(acc, "lr/generator")[0] == [15, 20]  # not known for the rows before


TINY_IMAGES = """
import torch


class Images:
    shape = (1, 8, 8)

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.splits = {s: torch.rand(n, 1, 8, 8, generator=g)
                       for s, n in (("train", 64), ("valid", 40), ("test", 40))}


def tiny_images():
    return Images()
"""


def test_an_image_dataset_gets_a_grid_of_samples(runner, tmp_path, fake_distribution):
    fake_distribution("tiny-images", {"ganbench.datasets": {"tiny-images": "tinyimg:tiny_images"}},
                      {"tinyimg": TINY_IMAGES})
    out = runner.invoke(cli, [
        "train", "-G", "mlp", "-D", "mlp", "-L", "minimax", "-X", "tiny-images", "--steps", "4",
        "--batch-size", "16", "--set", "generator.hidden=[8]", "--set", "discriminator.hidden=[8]",
        "--set", "generator.output_activation=sigmoid", "--set", "noise.dim=4", "--set",
        "train.log_every=2", "--set", "score.n_samples=100", "--set", "score.n_valid=40",
        "--tensorboard", str(tmp_path / "tb"), "--store", str(tmp_path / "st"), "--quiet",
        "--json"])
    assert out.exit_code == 0, out.output
    record = json.loads(out.output)
    acc = events(tmp_path / "tb" / f"tiny-images.mlp.mlp.minimax.seed0-{record['run_id']}")
    (image,) = acc.Images("samples")
    assert (image.width, image.height) == (102, 102)  # make_grid: 10 x 10 images of 8 + 2 pad
    assert scalars(acc, "loss/generator")[0] == [2, 4]
    assert scalars(acc, "metrics/parzen_mean")[1][0] == pytest.approx(record["parzen_mean"],
                                                                       rel=1e-6)


SWEEP = ('generator = "mlp"\ndiscriminator = "mlp"\nloss = ["non-saturating", "hinge"]\n'
         'dataset = "gaussian-1d"\n[train]\nsteps = 10\nbatch_size = 32\nlog_every = 5\n'
         '[noise]\ndim = 4\n[score]\nparzen = false\n[options.generator.mlp]\nhidden = [[8]]\n'
         '[options.discriminator.mlp]\nhidden = [[8]]\n')


def _sweep_folders(runner, tmp_path) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text(SWEEP)
    out = runner.invoke(cli, ["sweep", str(sweep), "--store", str(tmp_path / "st"), "--workers",
                              "1", "--quiet", "--tensorboard", str(tmp_path / "tb")])
    assert out.exit_code == 0, out.output
    folders = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "tb").iterdir())
    assert folders == ["gaussian-1d.mlp.mlp.hinge.seed0", "gaussian-1d.mlp.mlp.non-saturating.seed0"]
    for folder in (tmp_path / "tb").iterdir():
        assert scalars(events(folder), "loss/generator")[0] == [5, 10]


def test_sweep_tensorboard_reaches_every_run(runner, tmp_path, monkeypatch):
    """The flag's wiring, trained in this process (the worker processes: the slow test)."""
    from ganbench import executors

    def in_process(configs, *, store, **kwargs):
        return [train_run(c, store=store, device="cpu") for c in configs]

    monkeypatch.setattr(executors, "run_many", in_process)
    _sweep_folders(runner, tmp_path)


@pytest.mark.slow
def test_a_sweep_writes_one_folder_per_run(runner, tmp_path):
    _sweep_folders(runner, tmp_path)


def test_variant_is_a_legal_folder_name():
    config = RunConfig(generator="my-dist:gen/v2", discriminator="mlp", loss="hinge",
                       dataset="ring-2d", seed=3)
    assert tensorboard_log.variant(config) == "ring-2d.my-dist_gen_v2.mlp.hinge.seed3"


@pytest.mark.parametrize("command", [
    ["train", *RING[1:]],
    ["reproduce", "paper", "--quick"],
])
def test_without_the_package_one_line_exit_2(runner, tmp_path, monkeypatch, command):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard: ImportError
    out = runner.invoke(cli, [*command, "--tensorboard", str(tmp_path / "tb"), "--store",
                              str(tmp_path / "st")])
    assert out.exit_code == 2, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganbench: error: "), out.output
    assert "pip install ganbench[tensorboard]" in lines[0]
    assert not (tmp_path / "st").exists() and not (tmp_path / "tb").exists()


def test_without_the_package_a_sweep_file_setting_is_one_line_too(runner, tmp_path, monkeypatch):
    sweep = tmp_path / "s.toml"
    sweep.write_text('generator = "mlp"\ndiscriminator = "mlp"\nloss = "hinge"\n'
                     f'dataset = "gaussian-1d"\n[train]\nsteps = 10\ntensorboard = "{tmp_path}/tb"\n')
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    out = runner.invoke(cli, ["sweep", str(sweep), "--store", str(tmp_path / "st")])
    assert out.exit_code == 2 and "pip install ganbench[tensorboard]" in out.output, out.output
    assert len(out.output.strip().splitlines()) == 1
    assert not (tmp_path / "st").exists()


def test_a_file_as_the_folder_is_one_line_exit_2(runner, tmp_path):
    (tmp_path / "tb").write_text("not a folder")
    out = runner.invoke(cli, [*RING, "--tensorboard", str(tmp_path / "tb"), "--store",
                              str(tmp_path / "st")])
    assert out.exit_code == 2, out.output
    assert "is a file, not a folder" in out.output and len(out.output.strip().splitlines()) == 1


TOY_PRESET = """
[preset]
name = "toy"

[run]
generator = "mlp"
discriminator = "mlp"
loss = "non-saturating"
dataset = "gaussian-1d"
options.generator.hidden = [8]
options.discriminator.hidden = [8]
options.dataset = { n_train = 256, n_valid = 64, n_test = 64 }
train = { batch_size = 32, checkpoint_every = 4, log_every = 4 }
noise = { dim = 2 }
score = { n_samples = 200, n_valid = 64, select = "valid", select_every = 4 }

[axes]
"train.update" = ["simultaneous", "alternating"]
seed = [0]

[budgets.default]
label = "toy budget"
epochs = 1

[table]
name = "toy"
row = "mlp, {update}"
columns = { nats = {} }
"""


def test_reproduce_logs_its_runs_with_their_validation_scores(runner, tmp_path, monkeypatch):
    from ganbench import executors

    def in_process(configs, *, store, **kwargs):
        return [train_run(c, store=store, device="cpu") for c in configs]

    monkeypatch.setattr(executors, "run_many", in_process)
    (tmp_path / "toy.toml").write_text(TOY_PRESET)
    out = runner.invoke(cli, ["reproduce", str(tmp_path / "toy.toml"), "--tensorboard",
                              str(tmp_path / "tb"), "--store", str(tmp_path / "st"), "--out",
                              str(tmp_path / "out"), "--quiet"])
    assert out.exit_code == 0, out.output
    folders = sorted((tmp_path / "tb").iterdir())
    assert [f.name.rsplit("-", 1)[0] for f in folders] == ["gaussian-1d.mlp.mlp.non-saturating."
                                                           "seed0"] * 2
    for folder in folders:
        record = Store(tmp_path / "st").read_record(folder.name.rsplit("-", 1)[1])
        acc = events(folder)
        assert scalars(acc, "loss/generator")[0] == [4, 8]  # 256 // 32 = 8 iterations
        steps, values = scalars(acc, "metrics/parzen_valid")  # at each checkpoint
        assert steps == [4, 8]
        assert max(values) == pytest.approx(record["parzen_valid"], rel=1e-6)
        assert scalars(acc, "metrics/parzen_mean")[0] == [record["selected_step"]]
