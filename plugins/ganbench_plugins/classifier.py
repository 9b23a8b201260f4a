"""A feature space for MNIST: a small LeNet-like convolutional classifier.

Two conv blocks (5x5 convolutions with 32 and 64 channels, batchnorm, ReLU, 2x2 max-pooling)
and a 128-unit ReLU layer, whose output is the **feature** vector; a linear layer over it gives
the 10 class logits. It is trained on ganbench's MNIST training split (the first 50,000
training images) for 5 epochs of Adam with a one-cycle learning rate, seed 0, on one CPU thread
(about 3 minutes; :func:`train_mnist_classifier`, ``ganbench train-classifier``), which
reproduces the shipped weights bitwise on the same platform and torch version. Its weights
ship in the package as a float16 state dict, ``weights/mnist_classifier.pt`` (375 kB), whose
sha256 is pinned here and checked when it is loaded. Test accuracy 99.3%; the MNIST test set's
classifier score, exp E KL(p(y|x) || p(y)), is 9.82 (the ceiling, exp H(p(y)), is 9.98).

Nothing is loaded until the first call of :func:`features` or :func:`classify`; then the model
is kept per process and per device. Both take images in [0, 1] of shape ``(N, 784)``,
``(N, 28, 28)`` or ``(N, 1, 28, 28)``, run in eval mode without gradients in batches, and
return float32 tensors on the input's device; :func:`features_and_classify` gives both from
one forward pass. Inference runs an equivalent of the eval-mode network (``Inference``):
batchnorm folded into the convolutions, and each 2x2 max-pooling taken before its ReLU
(they commute) as the maximum of four strided views, about 1.8x as fast on one CPU thread as
``LeNet.embed`` and equal to it to float32 rounding (features within 1e-5).
"""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

WEIGHTS = Path(__file__).resolve().parent / "weights" / "mnist_classifier.pt"
WEIGHTS_SHA256 = "98c0c72cac671752bed7a783dce999908cc450594b657eeed26dc5d96122b507"
DEFAULT_OUT = "mnist_classifier.pt"
FEATURE_DIM = 128
BATCH = 1000  # images per forward pass on an accelerator
CPU_BATCH = 64  # on the CPU: small batches stay in cache (twice as fast as 1000, one thread)

_MODELS: dict[str, LeNet] = {}  # device -> the loaded classifier


class WeightsError(RuntimeError):
    """The classifier's weights file is missing, corrupt or not the pinned one."""


class LeNet(nn.Module):
    """(N, 1, 28, 28) images -> (N, 10) logits; :meth:`embed` gives the (N, 128) features."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 5), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 12 x 12
            nn.Conv2d(32, 64, 5), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),  # 4 x 4
            nn.Flatten(), nn.Linear(64 * 4 * 4, FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, 10)

    def embed(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.embed(x))


# ---- the shipped weights -----------------------------------------------------------------------


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def feature_extractor_id() -> str:
    """``"mnist-lenet sha256:<first 12 hex digits of the weights' sha256>"``."""
    return f"mnist-lenet sha256:{WEIGHTS_SHA256[:12]}"


def load_classifier(path: str | Path = WEIGHTS, sha256: str | None = WEIGHTS_SHA256) -> LeNet:
    """A fresh LeNet in eval mode with the weights of ``path`` (float32), after checking the
    file's sha256 against ``sha256`` (None: no check)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WeightsError(f"cannot read the MNIST classifier's weights {path}: {exc.strerror}; "
                           "reinstall ganbench, or retrain with `ganbench train-classifier`"
                           ) from None
    digest = hashlib.sha256(raw).hexdigest()
    if sha256 is not None and digest != sha256:
        raise WeightsError(f"MNIST classifier weights {path} have sha256 {digest[:12]}..., "
                           f"expected {sha256[:12]}...: the file is corrupt or was replaced; "
                           "reinstall ganbench (or pin the new file's sha256 in "
                           "ganbench_plugins.classifier.WEIGHTS_SHA256)")
    state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    model = LeNet()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in state.items()})
    return model.eval()


def _model(device: torch.device) -> LeNet:
    key = str(device)
    if key not in _MODELS:
        cpu = _MODELS.get("cpu") or load_classifier()
        _MODELS["cpu"] = cpu
        _MODELS[key] = cpu if key == "cpu" else LeNet().to(device).eval()
        if key != "cpu":
            _MODELS[key].load_state_dict(cpu.state_dict())
    return _MODELS[key]


class Inference:
    """The eval-mode LeNet for inference: each batchnorm folded into the convolution before it
    (a per-channel scale and shift of its weights and bias), and each ``ReLU -> 2x2 max-pool``
    as ``2x2 max -> ReLU`` (equal: ReLU is monotone), the maximum of four strided views rather
    than ``max_pool2d`` (which is slower on the CPU). The same numbers as ``model.embed`` and
    ``model(x)`` to float32 rounding."""

    def __init__(self, model: LeNet):
        body = model.body
        self.conv1 = self._fold(body[0], body[1])
        self.conv2 = self._fold(body[4], body[5])
        self.fc = (body[9].weight.detach(), body[9].bias.detach())
        self.out = (model.head.weight.detach(), model.head.bias.detach())

    @staticmethod
    def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            return ((conv.weight * scale[:, None, None, None]).contiguous(),
                    (conv.bias - bn.running_mean) * scale + bn.bias)

    @staticmethod
    def _pool(h: Tensor) -> Tensor:
        return torch.maximum(torch.maximum(h[:, :, 0::2, 0::2], h[:, :, 0::2, 1::2]),
                             torch.maximum(h[:, :, 1::2, 0::2], h[:, :, 1::2, 1::2]))

    def embed(self, x: Tensor) -> Tensor:
        h = self._pool(F.conv2d(x, *self.conv1)).relu_()
        h = self._pool(F.conv2d(h, *self.conv2)).relu_()
        return F.linear(h.flatten(1), *self.fc).relu_()

    def head(self, f: Tensor) -> Tensor:
        return F.linear(f, *self.out)

    def __call__(self, x: Tensor) -> Tensor:
        return self.head(self.embed(x))


_INFERENCE: dict[str, tuple[LeNet, Inference]] = {}  # device -> (model, its folded form)


def _inference(device: torch.device) -> Inference:
    model = _model(device)
    if str(device) not in _INFERENCE or _INFERENCE[str(device)][0] is not model:
        _INFERENCE[str(device)] = (model, Inference(model))
    return _INFERENCE[str(device)][1]


def _images(x: Tensor) -> Tensor:
    if x.dim() < 2 or x[0].numel() != 784:
        raise ValueError(f"the MNIST classifier takes (N, 784) or (N, 1, 28, 28) images, got a "
                         f"tensor of shape {tuple(x.shape)}")
    return x.reshape(len(x), 1, 28, 28).float()


def _batched(x: Tensor, fn):
    images = _images(x)
    model = _inference(images.device)
    batch = CPU_BATCH if images.device.type == "cpu" else BATCH
    with torch.no_grad():
        parts = [fn(model, images[i:i + batch]) for i in range(0, len(images), batch)]
        if not parts:
            return fn(model, images)
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(p) for p in zip(*parts))
    return torch.cat(parts)


def features(x: Tensor) -> Tensor:
    """``(N, 128)`` float32 penultimate features of images in [0, 1], on ``x``'s device."""
    return _batched(x, lambda m, b: m.embed(b))


def classify(x: Tensor) -> Tensor:
    """``(N, 10)`` float32 class probabilities p(y|x) (softmax of the logits)."""
    return _batched(x, lambda m, b: F.softmax(m(b), dim=1))


def features_and_classify(x: Tensor) -> tuple[Tensor, Tensor]:
    """``(features(x), classify(x))`` from one forward pass (the same numbers as the two)."""
    def both(m: Inference, b: Tensor) -> tuple[Tensor, Tensor]:
        f = m.embed(b)
        return f, F.softmax(m.head(f), dim=1)
    return _batched(x, both)


def predict(x: Tensor) -> Tensor:
    """``(N,)`` int64 predicted digits."""
    return _batched(x, lambda m, b: m(b).argmax(1))


class DigitFeatures:
    """A dataset mixin: MNIST's feature space (``features``, ``classify``, both at once
    ``features_and_classify``, ``feature_extractor_id``), the classifier loaded on first use."""

    @property
    def feature_extractor_id(self) -> str:
        """``"mnist-lenet sha256:<12 hex>"``: the feature space metrics were computed in."""
        return feature_extractor_id()

    def features(self, x: Tensor) -> Tensor:
        """``(N, 784)`` or ``(N, 1, 28, 28)`` images in [0, 1] -> ``(N, 128)`` float32
        penultimate features (eval mode, no grad, on ``x``'s device)."""
        return features(x)

    def classify(self, x: Tensor) -> Tensor:
        """Images -> ``(N, 10)`` float32 class probabilities p(y|x) (softmax)."""
        return classify(x)

    def features_and_classify(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(features(x), classify(x))`` from one forward pass."""
        return features_and_classify(x)


# ---- training ----------------------------------------------------------------------------------


def train_feature_extractor(out: str | None = None, seed: int = 0, epochs: int = 5) -> dict:
    """The dataset plugin's hook for ``ganbench train-classifier``: retrain the classifier into
    ``out`` (default ``./mnist_classifier.pt``); see :func:`train_mnist_classifier`."""
    return train_mnist_classifier(out or DEFAULT_OUT, seed=seed, epochs=epochs)


def train_mnist_classifier(out: str | Path, seed: int = 0, epochs: int = 5,
                           batch_size: int = 128, lr: float = 2e-3,
                           data_dir: str | None = None, echo=print) -> dict:
    """Train the classifier on MNIST's training split (the first 50,000 images; the other
    10,000 are for validation) with Adam and a one-cycle learning rate, under ``seed`` on one
    thread, and write its float16 state dict to ``out``. Prints (``echo``) each epoch's
    validation accuracy and the test accuracy of the saved (float16) weights; returns
    ``{"path", "sha256", "bytes", "seconds", "valid_accuracy", "test_accuracy"}``."""
    from ganbench_plugins.mnist import load_labelled  # the data, only when training

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    data = load_labelled(data_dir)
    images, labels = data["train"]
    x = torch.from_numpy(images).float().div_(255).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(labels)
    x_train, y_train, x_valid, y_valid = x[:50000], y[:50000], x[50000:], y[50000:]
    x_test = torch.from_numpy(data["test"][0]).float().div_(255).reshape(-1, 1, 28, 28)
    y_test = torch.from_numpy(data["test"][1])

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = LeNet()
            order = torch.Generator().manual_seed(seed)
            steps = epochs * -(-len(x_train) // batch_size)
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
            for epoch in range(epochs):
                model.train()
                perm = torch.randperm(len(x_train), generator=order)
                for i in range(0, len(perm), batch_size):
                    idx = perm[i:i + batch_size]
                    loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    schedule.step()
                valid = _accuracy(model.eval(), x_valid, y_valid)
                echo(f"epoch {epoch + 1}/{epochs}: validation accuracy {valid:.4f} "
                     f"({time.perf_counter() - start:.0f} s)")
        seconds = time.perf_counter() - start
        path = save_weights(model, out)
        saved = load_classifier(path, sha256=None)
        valid, test = _accuracy(saved, x_valid, y_valid), _accuracy(saved, x_test, y_test)
    finally:
        torch.set_num_threads(threads)
    digest = sha256_of(path)
    echo(f"test accuracy {test:.4f} (validation {valid:.4f}) of the saved float16 weights; "
         f"trained in {seconds:.0f} s")
    echo(f"wrote {path} ({path.stat().st_size} bytes, sha256 {digest})")
    return {"path": str(path), "sha256": digest, "bytes": path.stat().st_size,
            "seconds": seconds, "valid_accuracy": valid, "test_accuracy": test}


def save_weights(model: nn.Module, out: str | Path) -> Path:
    """Write ``model``'s state dict with float tensors as float16 (the same bytes for the same
    weights: serialised in memory, so no file name enters the archive)."""
    state = {k: v.detach().half() if v.is_floating_point() else v.detach()
             for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        hits = sum(int((model(x[i:i + BATCH]).argmax(1) == y[i:i + BATCH]).sum())
                   for i in range(0, len(x), BATCH))
    return hits / len(x)
