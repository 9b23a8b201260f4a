"""PacGAN as plugins (packing, the authors' networks), the mode-count metric against the
authors' evaluation code, the pacgan preset and its table, and ``reproduce --metrics``.

References are independent of the code under test: packs built one by one and run through
the inner network alone; Blocks' batch normalisation and maxout and PacGAN's MetricLogger
(fjxmlzn/PacGAN, synthetic_data_experiments/PacGAN/pacgan/extensions.py:137-175) written
out in float64 numpy / scipy."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from ganbench_plugins import metrics as M
from ganbench_plugins import pacgan
from torch import nn

from ganbench import plugins, presets, reproduce
from ganbench.cli import cli
from ganbench.errors import ConfigError
from ganbench.testing import assert_plugin_ok

# ---- packing ---------------------------------------------------------------------------------


def _inner(in_features: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, 7), nn.Tanh(),
                         nn.Linear(7, 1), nn.Flatten(0)).double()


def _brute_force(inner: nn.Module, x: torch.Tensor, m: int) -> torch.Tensor:
    """Each pack by hand: members p*m .. p*m+m-1 (wrapping round the batch), concatenated
    along the first data axis, through the inner network one pack at a time."""
    n = len(x)
    logits = []
    for p in range(-(-n // m)):
        members = [x[(p * m + j) % n] for j in range(m)]
        logits.append(inner(torch.cat(members, dim=0).unsqueeze(0))[0])
    return torch.stack([logits[i // m] for i in range(n)])


@pytest.mark.parametrize("shape,m,n", [((2,), 2, 8), ((2,), 3, 9), ((2,), 4, 5), ((2,), 3, 2),
                                       ((1, 3, 3), 2, 6), ((1, 3, 3), 3, 4)])
def test_packing_matches_packs_built_by_hand_values_and_gradients(shape, m, n):
    inner = _inner(m * math.prod(shape))
    packed = pacgan.Packed(inner, m)
    x = torch.randn(n, *shape, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(n, dtype=torch.float64)
    got = packed(x)
    want = _brute_force(inner, x, m)
    assert got.shape == (n,)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    grads = torch.autograd.grad((got * weights).sum(), [x, *inner.parameters()])
    refs = torch.autograd.grad((want * weights).sum(), [x, *inner.parameters()])
    for g, r in zip(grads, refs):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)
    assert (grads[0].abs().flatten(1).sum(1) > 0).all()  # every member reaches the loss


def test_members_of_a_pack_share_its_logit_and_the_losses_are_the_mean_over_packs():
    m, packs = 3, 4
    inner = _inner(2 * m)
    D = pacgan.Packed(inner, m)
    real, fake = torch.randn(m * packs, 2).double(), torch.randn(m * packs, 2).double()
    r, f = D(real), D(fake)
    assert torch.equal(r.view(packs, m), r.view(packs, m)[:, :1].expand(packs, m))
    loss = plugins.load("loss", "non-saturating")()
    # PacGAN's losses over packs (bricks.py:69-72), the packs concatenated by hand
    r_pack, f_pack = (inner(x.reshape(packs, 2 * m)) for x in (real, fake))
    d_want = (F.softplus(-r_pack) + F.softplus(f_pack)).mean()
    torch.testing.assert_close(loss.discriminator_loss(r, f), d_want, rtol=1e-12, atol=0)
    torch.testing.assert_close(loss.generator_loss(f), F.softplus(-f_pack).mean(),
                               rtol=1e-12, atol=0)


def test_pack_one_is_the_inner_network_itself():
    inner = _inner(2)
    x = torch.randn(5, 2, dtype=torch.float64)
    assert torch.equal(pacgan.Packed(inner, 1)(x), inner(x))


# ---- the authors' networks ---------------------------------------------------------------------


def _blocks_bn(x: np.ndarray, groups: int, mean: np.ndarray, stdev: np.ndarray):
    """Blocks' BatchNormalization in training mode (bricks/bn.py: mean, sqrt(mean square
    about it + 1e-4)), per group of examples i = j mod groups, and PacGAN's population update
    (pacgan_task.py:129-149: the groups' statistics averaged, then 0.95 old + 0.05 new)."""
    out, means, stdevs = np.empty_like(x), [], []
    for j in range(min(groups, len(x))):
        rows = np.arange(j, len(x), groups)
        mu = x[rows].mean(axis=0)
        sd = np.sqrt(((x[rows] - mu) ** 2).mean(axis=0) + 1e-4)
        out[rows] = (x[rows] - mu) / sd
        means.append(mu)
        stdevs.append(sd)
    return (out, 0.95 * mean + 0.05 * np.mean(means, axis=0),
            0.95 * stdev + 0.05 * np.mean(stdevs, axis=0))


@pytest.mark.parametrize("groups,n", [(1, 10), (3, 12), (3, 7), (4, 4), (4, 3)])
def test_batch_norm_is_blocks_per_group_with_the_averaged_population_update(groups, n):
    torch.manual_seed(groups * 100 + n)
    bn = pacgan.BlocksBatchNorm(6, groups)
    with torch.no_grad():
        bn.scale.copy_(torch.rand(6) + 0.5)
        bn.shift.copy_(torch.randn(6))
        bn.population_mean.copy_(torch.randn(6))
        bn.population_stdev.copy_(torch.rand(6) + 0.5)
    x = torch.randn(n, 6) * 3 + 1
    mean0, stdev0 = bn.population_mean.double().numpy(), bn.population_stdev.double().numpy()
    scale, shift = bn.scale.detach().double().numpy(), bn.shift.detach().double().numpy()
    normalised, mean1, stdev1 = _blocks_bn(x.double().numpy(), groups, mean0, stdev0)
    np.testing.assert_allclose(bn(x).detach().numpy(), normalised * scale + shift, atol=2e-5)
    np.testing.assert_allclose(bn.population_mean.numpy(), mean1, atol=1e-6)
    np.testing.assert_allclose(bn.population_stdev.numpy(), stdev1, atol=1e-6)
    bn.eval()  # inference: the population statistics, nothing updated
    np.testing.assert_allclose(bn(x).detach().numpy(),
                               (x.double().numpy() - mean1) / stdev1 * scale + shift, atol=2e-5)
    np.testing.assert_allclose(bn.population_mean.numpy(), mean1, atol=1e-6)


def test_generator_is_the_authors_mlp():
    torch.manual_seed(0)
    G = pacgan.pacgan_generator(noise_dim=2, data_shape=(2,))
    linears = [m for m in G.modules() if isinstance(m, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (2, 400), (400, 400), (400, 400), (400, 400), (400, 2)]
    assert [lin.bias is not None for lin in linears] == [False] * 4 + [True]  # pacgan_task.py:94
    norms = [m for m in G.modules() if isinstance(m, pacgan.BlocksBatchNorm)]
    assert len(norms) == 4 and all(bn.groups == 1 and bn.epsilon == 1e-4 for bn in norms)
    assert all(torch.equal(bn.scale, torch.ones(400)) and not bn.shift.any() for bn in norms)
    weights = torch.cat([lin.weight.detach().flatten() for lin in linears])
    assert abs(float(weights.std()) - 0.02) < 2e-4 and abs(float(weights.mean())) < 2e-4
    assert not linears[-1].bias.any()
    assert sum(isinstance(m, nn.ReLU) for m in G.modules()) == 4
    z = torch.randn(100, 2)
    assert G(z).shape == (100, 2) and G.eval()(z).shape == (100, 2)


def _maxout_reference(x: np.ndarray, D: nn.Module, pieces: int = 5) -> np.ndarray:
    """Blocks' LinearMaxout stack written out: unit u of a layer is the largest of its
    pieces u*pieces .. u*pieces+pieces-1 of the linear map (bricks/simple.py Maxout)."""
    h = x
    layers = [m for m in D.modules() if isinstance(m, pacgan.Maxout)]
    for layer in layers:
        w, b = (t.detach().double().numpy() for t in (layer.linear.weight, layer.linear.bias))
        pre = h @ w.T + b
        h = np.stack([pre[:, u * pieces:(u + 1) * pieces].max(axis=1)
                      for u in range(layer.units)], axis=1)
    last = [m for m in D.modules() if isinstance(m, nn.Linear)][-1]
    return (h @ last.weight.detach().double().numpy().T + last.bias.detach().double().numpy())[:, 0]


@pytest.mark.parametrize("pack", [1, 2, 4])
def test_maxout_discriminator_is_the_authors_on_concatenated_packs(pack):
    torch.manual_seed(pack)
    D = pacgan.pacgan_maxout(data_shape=(2,), pack=pack)
    layers = [m for m in D.modules() if isinstance(m, pacgan.Maxout)]
    assert [(m.linear.in_features, m.units, m.pieces) for m in layers] == [
        (2 * pack, 200, 5), (200, 200, 5), (200, 200, 5)]
    linears = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert not any(lin.bias.any() for lin in linears)
    weights = torch.cat([lin.weight.detach().flatten() for lin in linears])
    assert abs(float(weights.std()) - 0.02) < 2e-4
    for lin in linears:  # random biases: the reference must not rely on zeros
        nn.init.normal_(lin.bias)
    x = torch.randn(12 * pack, 2)
    logits = D(x).detach().double().numpy()
    want = _maxout_reference(x.double().numpy().reshape(12, 2 * pack), D)
    np.testing.assert_allclose(logits, np.repeat(want, pack), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind,name,options", [
    ("generator", "pacgan", None), ("generator", "pacgan", {"bn_groups": 3}),
    ("discriminator", "pacgan-maxout", None), ("discriminator", "pacgan-maxout", {"pack": 3}),
    ("discriminator", "packed", None), ("discriminator", "packed", {"inner": "dcgan", "pack": 2}),
])
def test_the_plugins_keep_the_contract(kind, name, options):
    assert_plugin_ok(kind, name, options=options)


def test_check_plugin_command_passes_and_bad_options_are_one_line(runner, tmp_path):
    out = runner.invoke(cli, ["check-plugin", "discriminator", "pacgan-maxout", "--set", "pack=4"])
    assert out.exit_code == 0 and "0 failed" in out.output, out.output
    with pytest.raises(ValueError, match="no discriminator 'nope'; inner is one of .*mlp"):
        pacgan.packed(data_shape=(2,), inner="nope")
    with pytest.raises(ValueError, match="pack must be a positive integer, got 0"):
        pacgan.pacgan_maxout(data_shape=(2,), pack=0)
    bad = runner.invoke(cli, ["train", "-G", "pacgan", "-D", "packed", "-L", "non-saturating",
                              "-X", "ring-2d", "--steps", "1", "--store", str(tmp_path),
                              "--set", "discriminator.inner=nope"])
    assert bad.exit_code == 2 and "no discriminator 'nope'" in bad.output, bad.output
    assert "Traceback" not in bad.output and len(bad.output.strip().splitlines()) == 1


# ---- the modes metric against the authors' evaluation ------------------------------------------


def _authors_modes(x: np.ndarray, means: np.ndarray, std: float) -> dict[str, float]:
    """PacGAN's MetricLogger (extensions.py:154-175) in float64: each point's nearest mode by
    the distance in standard deviations, counted when that distance is below 3; reverse KL
    = KL(coverage || uniform) = log K - scipy's entropy of the coverage."""
    coverage = np.zeros(len(means))
    for point in x.astype(float):
        best, best_j = 1e7, -1
        for j, mean in enumerate(means):
            d = point - mean
            dis = math.sqrt(np.sum(d * d / np.array([std ** 2, std ** 2])))
            if dis < best:
                best, best_j = dis, j
        if best < 3:
            coverage[best_j] += 1
    return {"modes": float(np.count_nonzero(coverage)), "hq": coverage.sum() / len(x),
            "reverse_kl": math.log(len(means)) - scipy.stats.entropy(coverage / coverage.sum())}


@pytest.mark.parametrize("name", ["ring-2d-pacgan", "grid-25"])
def test_modes_metric_is_the_authors_rule_on_constructed_samples(name):
    data = plugins.load("dataset", name)(n_train=10, n_valid=10, n_test=10)
    centres, std = data.modes.double().numpy(), data.mode_std
    g = np.random.default_rng(3)
    k = len(centres)
    which = g.choice(k // 2 + 1, size=400)  # about half the modes, unevenly
    radius = g.uniform(0, 5, size=400) * std  # in and out of the 3-std disc
    angle = g.uniform(0, 2 * math.pi, size=400)
    points = centres[which] + radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    x = torch.tensor(points, dtype=torch.float32)
    got = M.modes().compute(x, data)
    want = _authors_modes(x.double().numpy(), centres, std)
    assert got["modes"] == want["modes"] and 0 < want["hq"] < 1
    assert got["hq"] == pytest.approx(want["hq"], abs=1e-12)
    assert got["reverse_kl"] == pytest.approx(want["reverse_kl"], abs=1e-9)


def test_a_sample_exactly_three_deviations_away_is_not_high_quality():
    centres = torch.tensor([[2.0, 0.0], [-2.0, 0.0]])
    data = type("Mixture", (), {"modes": centres, "mode_std": 0.5, "shape": (2,),
                                "splits": {"test": centres}})()
    x = torch.tensor([[3.5, 0.0], [-2.0, 1.4999], [2.0, 0.0]])  # 3.0, 2.9998 and 0 std away
    got = M.modes().compute(x, data)
    want = _authors_modes(x.double().numpy(), centres.double().numpy(), 0.5)
    assert want == {"modes": 2.0, "hq": 2 / 3, "reverse_kl": pytest.approx(0.0)}
    assert got == {"modes": 2.0, "hq": pytest.approx(2 / 3), "reverse_kl": pytest.approx(0.0)}
    assert M.modes().n_samples == 2500  # num_log_figure_sample, config.py:32


# ---- the preset --------------------------------------------------------------------------------


PINNED = {  # pack, dataset, seed -> run id (the full budget), and the quick budget's
    (1, "ring-2d-pacgan", 0): "1abf3996f8e6", (1, "ring-2d-pacgan", 9): "6d3d9e9d06ac",
    (1, "grid-25", 0): "814063d0b9bd", (4, "ring-2d-pacgan", 0): "110c316565ff",
    (4, "grid-25", 9): "8b4101bad6fc",
}
PINNED_QUICK = {(1, "ring-2d-pacgan"): "e3e9b30c6efe", (4, "grid-25"): "93013539e520"}


def test_pacgan_preset_expands_to_pack_x_dataset_x_seed_with_the_authors_setting():
    preset = presets.find("pacgan")
    runs = preset.runs()
    assert [(r.values["pack"], r.values["dataset"], r.values["seed"]) for r in runs] == [
        (p, d, s) for p in (1, 2, 3, 4) for d in ("ring-2d-pacgan", "grid-25") for s in range(10)]
    for r in runs:
        c, m = r.config, r.values["pack"]
        assert (c.generator, c.discriminator, c.loss, c.dataset) == (
            "pacgan", "pacgan-maxout", "non-saturating", r.values["dataset"])
        assert c.options["discriminator"]["pack"] == m and c.options["generator"]["bn_groups"] == m
        assert c.train["batch_size"] == 100 * m and c.train["steps"] == 400_000
        assert c.train["update"] == "simultaneous" and c.seed == r.values["seed"]
        assert c.noise == {"prior": "normal", "dim": 2, "scale": 1.0}
        opt = c.optimizer
        assert (opt["name"], opt["lr"], opt["betas"], opt["lr_decay"]) == (
            "adam", 1e-4, [0.8, 0.999], 1.0)
        assert c.options["loss"]["discriminator_scale"] == 1.0
        assert c.score["select"] == "last" and c.score["metrics"] == ["modes"]
    ring, grid = runs[0].config.options["dataset"], runs[10].config.options["dataset"]
    assert (ring["radius"], ring["std"], ring["modes"], ring["n_train"]) == (1.0, 0.01, 8, 100000)
    assert (grid["side"], grid["spacing"], grid["std"], grid["n_train"]) == (5, 2.0, 0.05, 100000)
    by_key = {(r.values["pack"], r.values["dataset"], r.values["seed"]): r.config.run_id
              for r in runs}
    assert {k: by_key[k] for k in PINNED} == PINNED
    quick = preset.runs(quick=True)
    assert len(quick) == 8 and all(r.config.train["steps"] == 200 for r in quick)
    assert {(r.values["pack"], r.values["dataset"]): r.config.run_id for r in quick
            if (r.values["pack"], r.values["dataset"]) in PINNED_QUICK} == PINNED_QUICK
    assert "NOT the paper's budget" in preset.budget(quick=True)["label"]


def test_a_derived_setting_and_table_axes_are_checked(tmp_path):
    text = textwrap.dedent("""
        [run]
        generator = "mlp"
        discriminator = "pacgan-maxout"
        loss = "non-saturating"
        dataset = "ring-2d"
        train = { batch_size = { from = "setting", name = "options.discriminator.pack", times = 10 } }
        [axes]
        "options.discriminator.pack" = [2, 3]
        [budgets.default]
        steps = 1
    """)
    path = tmp_path / "p.toml"
    path.write_text(text)
    assert [c.train["batch_size"] for c in presets.find(path).configs()] == [20, 30]
    path.write_text(text.replace("discriminator.pack\", times", "discriminator.nope\", times"))
    with pytest.raises(ConfigError, match="options.discriminator.nope must be a number set in"):
        presets.find(path).configs()
    path.write_text(text + '[table]\nrows = ["seed", "pack"]\n')
    with pytest.raises(ConfigError, match=r"table.rows names no axis 'seed'; axes: pack"):
        presets.find(path)
    path.write_text(text + '[table.columns.x]\nmatch = { dataset = "ring-2d" }\n')
    with pytest.raises(ConfigError, match=r"table.columns.x.match names no axis 'dataset'"):
        presets.find(path)
    path.write_text(text.replace('times = 10 }', 'times = 10, by = 2 }'))
    with pytest.raises(ConfigError, match='a derived value is .*from = "setting", name = PATH'):
        presets.find(path)


def _record(pack, dataset, seed, modes, hq, rkl, status="done"):
    return {"pack": pack, "dataset": dataset, "seed": seed, "status": status, "modes": modes,
            "modes_hq": hq, "modes_reverse_kl": rkl}


def test_table_shows_mean_and_standard_error_over_trials_beside_the_published_rows():
    preset = presets.find("pacgan")
    ring = [(6.0, 0.97, 0.5), (7.0, 0.99, 0.3), (8.0, 0.98, 0.1)]
    records = [_record(1, "ring-2d-pacgan", s, *v) for s, v in enumerate(ring)]
    records += [_record(1, "grid-25", 0, 20.0, 0.9, 0.4),
                _record(1, "grid-25", 1, None, None, None, status="diverged")]
    records += [_record(3, "ring-2d-pacgan", 0, 8.0, 0.5, 0.01)]
    frame = reproduce.table(preset, records, quick=False)
    assert list(frame.model) == ["GAN, published", "ganbench, pack 1", "PacGAN2, published",
                                 "PacGAN3, published", "ganbench, pack 3", "PacGAN4, published"]
    assert list(frame.source) == ["published", "this run"] + ["published"] * 2 + [
        "this run", "published"]
    gan = frame.iloc[1]
    modes = np.array([v[0] for v in ring])
    se = modes.std(ddof=1) / math.sqrt(3)
    assert gan["ring: modes (of 8)"] == f"{modes.mean():.1f} +- {se:.1f} (3 trials)"
    hq = 100 * np.array([v[1] for v in ring])
    assert gan["ring: high-quality %"] == (f"{hq.mean():.1f} +- "
                                           f"{hq.std(ddof=1) / math.sqrt(3):.1f} (3 trials)")
    rkl = np.array([v[2] for v in ring])
    assert gan["ring: reverse KL"] == f"{rkl.mean():.2f} +- {rkl.std(ddof=1) / math.sqrt(3):.2f} (3 trials)"
    assert gan["grid: modes (of 25)"] == "20.0 +- n/a (1 trial); 1 of 2 runs diverged"
    pac3 = frame.iloc[4]
    assert pac3["ring: high-quality %"] == "50.0 +- n/a (1 trial)"
    assert pac3["grid: modes (of 25)"] == "no score"
    published = frame.iloc[0]
    assert published["ring: modes (of 8)"] == "6.3 +- 0.5"
    assert published["grid: reverse KL"] == "0.70 +- 0.07"
    assert frame.iloc[5]["grid: high-quality %"] == "93.6 +- 0.6"


# ---- reproduce, end to end -----------------------------------------------------------------


def test_reproduce_pacgan_end_to_end_on_two_pack_sizes(tmp_path):
    from ganbench.store import Store

    lines: list[str] = []
    frame = reproduce.run_preset("pacgan", quick=True, steps=3, metrics=["modes"],
                                 only={"pack": [1, 3]}, store=Store(tmp_path / "store"),
                                 out=tmp_path / "out", workers=1, echo=lines.append)
    assert lines[0].startswith("reproduce pacgan (QUICK run: NOT the paper's budget overridden, "
                               "NOT its 200 steps): 4 runs of 3 steps (1, 3 x ring-2d-pacgan, "
                               "grid-25 x 1 seed(s))")
    ours = frame[frame.source == "this run"]
    assert list(ours.model) == [f"ganbench, pack {m} (quick, NOT the paper's budget)"
                                for m in (1, 3)]
    assert (frame.source == "published").sum() == 4
    assert ours.drop(columns=["model", "source"]).map(lambda c: "(1 trial)" in c).all().all()
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert list(runs.columns[:6]) == ["pack", "dataset", "seed", "modes", "modes_hq",
                                      "modes_reverse_kl"]
    assert (runs.status == "done").all() and (runs.steps == 3).all()
    assert runs.parzen_mean.isna().all()  # --metrics modes: not the defaults
    md = (tmp_path / "out" / "table1.md").read_text()
    assert md.startswith("# PacGAN Table 1, reproduced by ganbench (QUICK run: NOT the "
                         "paper's budget overridden, NOT its 200 steps: 3 steps per run, "
                         "1 trial(s))")
    verdict = (tmp_path / "out" / "verdict.md").read_text()  # one trial: nothing to judge yet
    assert "| GAN, published | ring: modes (of 8) | 6.3 +- 0.5 |" in verdict
    assert verdict.count("n/a (fewer than 2 trials)") == 12  # 2 packs x 6 columns
    assert "- grid: modes (of 25): untested (fewer than 2 trials on a side)." in verdict
    assert verdict in "\n".join(lines) + "\n"  # printed too
    kinds = pd.read_csv(tmp_path / "out" / "verdict.csv").kind.value_counts()
    assert kinds["cell"] == 12 and kinds["claim"] == 2  # pack 3 against pack 1, two columns


def test_reproduce_metrics_option_scores_what_it_names_and_keeps_run_ids(runner, tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(textwrap.dedent("""
        [run]
        generator = "mlp"
        discriminator = "mlp"
        loss = "non-saturating"
        dataset = "ring-2d"
        options.generator.hidden = [8]
        options.discriminator.hidden = [8]
        options.dataset = { n_train = 200, n_valid = 50, n_test = 50 }
        train = { batch_size = 50, checkpoint_every = 4, log_every = 4 }
        noise = { dim = 2 }
        score = { n_samples = 300, metrics = ["parzen"] }
        [axes]
        seed = [0, 1]
        [budgets.default]
        steps = 4
        [table]
        columns = { modes = { error = "between-runs", value = "modes", digits = 2 } }
    """))
    store, out = tmp_path / "store", tmp_path / "out"
    args = ["reproduce", str(path), "--store", str(store), "--out", str(out), "--workers", "1"]
    result = runner.invoke(cli, [*args, "--metrics", "modes,parzen"])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    assert runs.modes.notna().all() and runs.parzen_mean.notna().all()
    assert set(runs.run_id) == {c.run_id for c in presets.find(path).configs()}  # ids unchanged
    frame = pd.read_csv(out / "table.csv")
    assert frame.modes.iloc[0].endswith("(2 runs)")
    both = runner.invoke(cli, [*args, "--epochs", "1", "--steps", "2"])
    assert both.exit_code == 2 and "give --epochs or --steps, not both" in both.output
    empty = runner.invoke(cli, [*args, "--metrics", ","])
    assert empty.exit_code == 2 and "names no metric" in empty.output


@pytest.mark.slow
def test_reproduce_pacgan_quick_from_the_command_line(runner, tmp_path):
    """The whole quick budget: 8 runs of 200 steps (about 1.5 CPU-minutes on one core)."""
    out = tmp_path / "out"
    result = runner.invoke(cli, ["reproduce", "pacgan", "--quick", "--store",
                                 str(tmp_path / "store"), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "table1.csv")
    assert list(frame.source) == ["published", "this run"] * 4
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 8 and (runs.status == "done").all() and (runs.steps == 200).all()
    assert runs.modes.between(0, 25).all()
    assert "NOT the paper's budget" in (out / "table1.md").read_text().splitlines()[0]
