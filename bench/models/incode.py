"""INCODE (Kazerouni, Azad, Hosseini, Merhof and Bagci, "INCODE: Implicit Neural Conditioning with Prior Knowledge
Embeddings", WACV 2024): a SIREN whose every sine layer computes exp(a) sin(exp(b) w z + c) + d, with four numbers
(a, b, c, d) shared by all its layers and put out by a small "harmonizer" MLP from features of the target.

Official code xmindflow/INCODE @ 6a6791c: modules/incode.py and the notebooks train_image.ipynb and
train_audio.ipynb (the authors' settings). What the port computes, per member:

- features of the target, as the training view holds it (``SignalInfo.values``): audio, the mean over frames of 50
  MFCCs (torchaudio's ``MFCC`` with n_fft 400, hop 160, 50 mel bands, no centring: incode.py:141-146, then the
  average over frames, 202-203), fixed; images, the mean over pixels of the 64 channels after a ResNet-34's stem
  and first stage (torchvision's ``resnet34()`` cut after its 5th child, incode.py:152-154 with
  ``truncated_layer`` 5, train_image.ipynb cell 8), randomly initialised as torchvision does (the official code
  loads no pretrained weights) and trained with the rest (the notebook's Adam takes ``model.parameters()``,
  cell 10), its batch norms always normalising with the image's own statistics (the model is never put in
  eval mode);
- the harmonizer F -> F -> 32 -> 4 (F = 50 audio, 64 images), SiLU between, weights N(0, 0.001^2), biases 0.312
  (incode.py:21-47; train_*.ipynb's ``MLP_configs``); its output is (a, b, c, d) (incode.py:204);
- the SIREN part: ``layers`` sine layers of ``width`` and a linear output, SIREN's init (incode.py:102-109,
  173-181), w0_first 3000 audio and 30 images, w0 30 (train_audio.ipynb cell 10, train_image.ipynb cell 8);
- the penalty 0.1993 relu(-a) + 0.0196 relu(-b) + 0.0588 relu(-c) + 0.0269 relu(-d) added to the loss
  (train_*.ipynb, the training cells and their ``--a_coef`` .. ``--d_coef`` defaults).

docs/methods.md lists the departures (grayscale images, the image's range, the order of the parameter blocks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from bench.core.errors import UsageError
from bench.core.registry import PositiveFloat, PositiveInt
from bench.models import Ensemble, Layer, Member, Network, register_model, sine

INCODE_DEFAULTS = {"audio": {"w0_first": 3000.0}, "image": {"w0_first": 30.0}}

# The harmonizer: input F features, hidden_channels [F, 32, 4] (train_audio.ipynb cell 10: in_channels 50;
# train_image.ipynb cell 8: 64), weights trunc_normal_(std=0.001) (its default cut at +-2 is 2000 standard
# deviations out: a plain normal), biases 0.312 (incode.py:44-47, mlp_bias)
AUDIO_FEATURES, IMAGE_FEATURES, HARMONIZER_HIDDEN = 50, 64, 32
HARMONIZER_STD, HARMONIZER_BIAS = 0.001, 0.3120
# The penalty's weights on relu(-a), relu(-b), relu(-c), relu(-d) (the notebooks' --a_coef .. --d_coef)
PENALTY = (0.1993, 0.0196, 0.0588, 0.0269)

# torchaudio.transforms.MFCC(sample_rate, n_mfcc=50, melkwargs={n_fft: 400, hop_length: 160, n_mels: 50,
# center: False}) (incode.py:142-146) with torchaudio's other defaults: periodic Hann window of n_fft, power
# spectrum, HTK mel scale from 0 Hz to rate // 2 without area normalisation, 10 log10 clamped at 1e-10 and
# cut 80 dB below the clip's peak, orthonormal DCT-II
N_FFT, HOP, N_MELS, TOP_DB, AMIN = 400, 160, 50, 80.0, 1e-10

# torchvision's resnet34 up to its first stage: conv 7x7 stride 2 (3 -> 64), batch norm, ReLU, max pool 3x3
# stride 2, then 3 basic blocks of two 3x3 convs (64 -> 64) with batch norms and an identity shortcut
STEM, BLOCKS, CHANNELS, BN_EPS = 7, 3, 64, 1e-5


@dataclass(frozen=True)
class IncodePlan(Network):
    """The SIREN part first, as any chained SIREN numbers it (layers 0..L-1 sine, layer L the linear output),
    then the harmonizer's three linear layers (L+1..L+3), then the target's blocks, by d_in:

    - d_in 1 (audio): one fixed block whose bias [50] holds the MFCC features (weights unused);
    - else (images): one fixed block holding the target (weights [1, 3] = its grid's height, width and channels,
      bias [H W C] its values mapped to [0, 1], row-major), then the trained ResNet stem: conv [64, 3 * 7 * 7]
      (bias unused and fixed), batch norm (weights [64, 1] the scales, bias [64] the shifts), and per basic
      block conv [64, 64 * 9], batch norm, conv, batch norm.

    The fixed blocks train nothing and count no parameters; the convs' and norms' parameters do (231,488),
    as do the harmonizer's (4,314 audio, 6,372 images), at any width.
    """

    features = frozenset({"bf16"})

    def __call__(self, d_in: int, width: int, layers: int, d_out: int) -> list[Layer]:
        siren = ([Layer(d_in, width, sine)] + [Layer(width, width, sine)] * (layers - 1)
                 + [Layer(width, d_out, None)])
        size = AUDIO_FEATURES if d_in == 1 else IMAGE_FEATURES
        harmonizer = [Layer(size, size, None), Layer(size, HARMONIZER_HIDDEN, None), Layer(HARMONIZER_HIDDEN, 4, None)]
        if d_in == 1:
            return siren + harmonizer + [Layer(1, AUDIO_FEATURES, None, train_weights=False, train_bias=False)]
        conv = Layer(CHANNELS * 9, CHANNELS, None, train_bias=False)
        norm = Layer(1, CHANNELS, None)
        return (siren + harmonizer + [Layer(3, 1, None, train_weights=False, train_bias=False),
                                      Layer(3 * STEM * STEM, CHANNELS, None, train_bias=False), norm]
                + [conv, norm, conv, norm] * BLOCKS)

    def forward(self, net: Ensemble, coords: Tensor, precision: str) -> Tensor:
        """[K, N, d_out] at coords [N, d_in]: every sine layer exp(a) sin(exp(b) w z + c) + d (incode.py:113), with
        exp(b) w folded into the layer's weights and bias as the chained networks fold w (the same function)."""
        depth = _depth(net)
        coef = self.coefficients(net)  # [K, 1, 4]
        net._incode_coefficients = coef  # for ``penalty`` in the same training step: the features once a step
        # exp one member at a time, as the harmonizer: a member's rounding must not depend on its ensemble's size
        growth = torch.stack([torch.exp(member[..., :2]) for member in coef])
        scale, frequency, phase, shift = growth[..., 0:1], growth[..., 1:2], coef[..., 2:3], coef[..., 3:4]
        h = coords
        for i in range(depth):
            h = scale * torch.sin(net._linear(i, h, precision, scale=frequency * net.omegas[i]) + phase) + shift
        return net._linear(depth, h, precision)

    def coefficients(self, net: Ensemble) -> Tensor:
        """The harmonizer's (a, b, c, d) per member [K, 1, 4], in float32 whatever the precision (a rounded b
        would shift every layer's frequency). One member at a time, as for the features: a member's SiLU
        over its 50 features rounds otherwise differently alone (the vectorised loop's tail) than beside others."""
        depth = _depth(net)
        features = net.biases[depth + 4] if net.layers[0].fan_in == 1 else _image_features(net, depth + 4)
        found = []
        for k in range(net.size):
            h = features[k]  # [1, F]
            for i in range(depth + 1, depth + 4):
                h = F.linear(h, net.weights[i][k], net.biases[i][k, 0])
                h = F.silu(h) if i < depth + 3 else h
            found.append(h)
        return torch.stack(found)

    def penalty(self, net: Ensemble) -> Tensor:
        """The official regularizer [K]: sum of PENALTY[j] relu(-coefficient j). It takes the coefficients of the
        forward just before (a training step runs the forward, then this), when they carry a graph where one is
        being recorded; else it computes them."""
        coef = net.__dict__.pop("_incode_coefficients", None)
        if coef is None or (torch.is_grad_enabled() and not coef.requires_grad):
            coef = self.coefficients(net)
        coef = coef[:, 0]
        return (torch.relu(-coef) * torch.tensor(PENALTY, dtype=coef.dtype, device=coef.device)).sum(dim=-1)

    def macs(self, net: Ensemble) -> int:
        """The SIREN part's multiply-accumulates per coordinate (the harmonizer and the features are computed once
        per forward, whatever the number of coordinates)."""
        return sum(w.shape[1] * w.shape[2] for w in net.weights[:_depth(net) + 1])


def _depth(net: Ensemble) -> int:
    """The number of sine layers L."""
    return sum(layer.activation is not None for layer in net.layers)


def _image_features(net: Ensemble, holder: int) -> Tensor:
    """The members' 64 features [K, 1, 64]: the mean over pixels of the target after each member's ResNet stem and
    first stage (incode.py:195, 202-203), in training mode (batch norms on the image's own statistics). One
    member at a time, so that each is computed as it would be alone."""
    height, width, channels = (int(v) for v in net.weights[holder][0, 0].tolist())
    found = []
    for k in range(net.size):
        image = net.biases[holder][k, 0].view(height, width, channels).permute(2, 0, 1)[None]
        x = F.conv2d(image.expand(1, 3, height, width), _kernel(net, holder + 1, k, STEM), stride=2, padding=3)
        x = F.max_pool2d(F.relu(_norm(net, holder + 2, k, x)), 3, stride=2, padding=1)
        for block in range(BLOCKS):
            first = holder + 3 + 4 * block
            y = F.relu(_norm(net, first + 1, k, F.conv2d(x, _kernel(net, first, k, 3), padding=1)))
            y = _norm(net, first + 3, k, F.conv2d(y, _kernel(net, first + 2, k, 3), padding=1))
            x = F.relu(y + x)
        found.append(x.mean(dim=(2, 3)))
    return torch.stack(found)


def _kernel(net: Ensemble, i: int, k: int, side: int) -> Tensor:
    """Member k's conv weights of block i as [out, in, side, side]."""
    weights = net.weights[i][k]
    return weights.view(weights.shape[0], -1, side, side)


def _norm(net: Ensemble, i: int, k: int, x: Tensor) -> Tensor:
    """Batch norm of x [1, C, h, w] with member k's scales and shifts of block i, on x's own statistics."""
    return F.batch_norm(x, None, None, net.weights[i][k, :, 0], net.biases[i][k, 0], training=True, eps=BN_EPS)


@register_model(plan=IncodePlan())
def incode(m: Member, w0: PositiveFloat = 30.0, w0_first: PositiveFloat | None = None,
           sample_rate: PositiveInt | None = None) -> dict:
    """INCODE (Kazerouni et al. 2024): SIREN with exp(a) sin(exp(b) w z + c) + d, (a, b, c, d) from a harmonizer
    on the target's features (MFCCs audio, a trained ResNet-34 stem images); w0_first auto = 3000 audio, 30 images;
    sample_rate (audio, Hz) auto = the clip's."""
    values, grid = _training_view(m)
    if sample_rate is not None and m.signal.domain != "audio":
        raise UsageError("incode: sample_rate sets the MFCCs of audio targets; leave it out for images")
    w0_first = m.default(INCODE_DEFAULTS, "w0_first") if w0_first is None else w0_first
    depth = sum(layer.activation is not None for layer in m.layers)
    # the SIREN part (incode.py:102-109, 173-181): layer 0 U(+-1/d_in), the others U(+-sqrt(6/fan_in)/w0); biases
    # keep nn.Linear's default, as Member draws them
    m.weights[0] = m.uniform(m.weights[0].shape, 1.0 / m.weights[0].shape[1])
    for i in range(1, depth + 1):
        m.weights[i] = m.uniform(m.weights[i].shape, math.sqrt(6.0 / m.weights[i].shape[1]) / w0)
    m.omegas = [w0_first] + [w0] * (depth - 1)
    for i in range(depth + 1, depth + 4):
        m.weights[i] = m.normal(m.weights[i].shape, HARMONIZER_STD)
        m.biases[i] = torch.full_like(m.biases[i], HARMONIZER_BIAS)
    holder = depth + 4
    if m.signal.domain == "audio":
        rate = _sample_rate(m) if sample_rate is None else sample_rate
        m.weights[holder] = torch.zeros_like(m.weights[holder])
        m.biases[holder] = mfcc(values[:, 0], rate).mean(dim=1)
        return {"w0_first": w0_first, "sample_rate": rate}
    _stem(m, holder + 1)
    m.weights[holder] = torch.tensor([[float(grid[0]), float(grid[1]), float(values.shape[1])]])
    low, high = values.min(), values.max()
    m.biases[holder] = ((values - low) / (high - low)).reshape(-1)  # row-major (H, W, C), in [0, 1]
    return {"w0_first": w0_first}


def _stem(m: Member, first: int) -> None:
    """torchvision's ResNet init of the stem and first stage (resnet.py:208-213): conv weights
    N(0, 2 / (out * side^2)) (kaiming_normal_, fan_out, ReLU gain), batch norm scales 1 and shifts 0; the convs'
    unused biases 0."""
    for i in range(first, len(m.layers)):
        if m.layers[i].fan_in == 1:  # a batch norm
            m.weights[i] = torch.ones_like(m.weights[i])
            m.biases[i] = torch.zeros_like(m.biases[i])
        else:
            side = STEM if i == first else 3
            m.weights[i] = m.normal(m.weights[i].shape, math.sqrt(2.0 / (m.weights[i].shape[0] * side * side)))
            m.biases[i] = torch.zeros_like(m.biases[i])


def _training_view(m: Member) -> tuple[Tensor, tuple[int, ...]]:
    """The target [N, C] training sees and its grid, or the one-line refusal."""
    info = m.signal
    if info.domain not in INCODE_DEFAULTS:
        raise UsageError(f"incode ports the authors' audio and image harmonizers, not one for {info.domain} signals "
                         f"(its shapes take a 3-D video ResNet on an occupancy grid); use it on audio or image tasks")
    if info.values is None or info.grid is None:
        raise UsageError("incode computes its features from the target on its grid, and this task gives the init "
                         "no target on a regular grid (a loss on a derivative, a random mask or gaps); use it on a "
                         "whole signal or a --stride mask")
    values = torch.as_tensor(info.values).detach().cpu().float()
    grid = tuple(int(n) for n in info.grid)
    if info.domain == "audio" and len(values) < N_FFT:
        raise UsageError(f"incode's MFCCs take frames of {N_FFT} samples and this clip has {len(values)}; "
                         f"fit at least {N_FFT} samples (--max-samples)")
    if info.domain == "image" and values.shape[1] not in (1, 3):
        raise UsageError(f"incode's ResNet reads grayscale or RGB images, and this one has {values.shape[1]} "
                         f"channels; fit a grayscale or RGB image")
    if info.domain == "image" and not values.max() > values.min():
        raise UsageError("incode normalises the image to [0, 1] by its range, and this image is constant; "
                         "fit an image with some contrast")
    return values, grid


def _sample_rate(m: Member) -> int:
    """The clip's sample rate (Hz): the manifest's, 16000 for a synthetic clip (what the task records), or the
    file's header."""
    from bench.signals.library import SYNTHETIC_RATE, is_synthetic

    source, library = m.signal.source, m.signal.library
    if source is not None and is_synthetic(source):
        return SYNTHETIC_RATE
    if source is not None and library is not None:
        entry = library.entries.get(source)
        if entry is not None and "sample_rate" in entry.details:
            return int(entry.details["sample_rate"])
        import soundfile

        return int(soundfile.info(str(library.path(source, "audio"))).samplerate)
    raise UsageError("incode needs the clip's sample rate for its MFCCs and this signal does not name its file; "
                     "set it: --model incode:sample_rate=HZ")


def mfcc(samples: Tensor, rate: int) -> Tensor:
    """torchaudio's MFCC of samples [T] (T >= 400) at ``rate`` Hz as INCODE configures it: [50, frames], frames =
    1 + (T - 400) // 160."""
    spectrum = torch.stft(samples[None], N_FFT, HOP, N_FFT, torch.hann_window(N_FFT), center=False,
                          return_complex=True).abs().pow(2.0)[0]  # [201, frames]
    mel = torch.matmul(spectrum.T, mel_filters(N_FFT // 2 + 1, rate)).T
    decibels = 10.0 * torch.log10(torch.clamp(mel, min=AMIN))
    decibels = torch.maximum(decibels, decibels.max() - TOP_DB)
    return torch.matmul(decibels.T, dct_matrix(N_MELS)).T


def mel_filters(bins: int, rate: int) -> Tensor:
    """torchaudio's triangular HTK mel filters [bins, 50] from 0 Hz to rate // 2 (``melscale_fbanks``)."""
    frequencies = torch.linspace(0, rate // 2, bins)
    top = 2595.0 * math.log10(1.0 + float(rate // 2) / 700.0)
    corners = 700.0 * (10.0 ** (torch.linspace(0.0, top, N_MELS + 2) / 2595.0) - 1.0)
    gaps = corners[1:] - corners[:-1]
    slopes = corners[None, :] - frequencies[:, None]
    falling = -slopes[:, :-2] / gaps[:-1]
    rising = slopes[:, 2:] / gaps[1:]
    return torch.clamp(torch.minimum(falling, rising), min=0.0)


def dct_matrix(n: int) -> Tensor:
    """The orthonormal DCT-II as torchaudio's ``create_dct(n, n, "ortho")``: [n, n], right-multiplied."""
    dct = torch.cos(math.pi / n * (torch.arange(float(n)) + 0.5) * torch.arange(float(n))[:, None])
    dct[0] *= 1.0 / math.sqrt(2.0)
    return (dct * math.sqrt(2.0 / n)).T
