"""Member-stacked MLPs: K independent networks evaluated with batched matmuls.

Each member is initialised on the CPU from its own seed (``Member``), so member k of an ensemble
holds exactly the weights a run of that seed alone would hold; ``Ensemble`` stacks the members
(weights [K, out, in]) and evaluates all of them in one forward/backward.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Protocol

import torch
from torch import Tensor, nn

from bench.signals.info import SignalInfo
from bench.core.errors import UsageError

Activation = Callable[[Tensor, Tensor], Tensor]


def sine(z: Tensor, omega: Tensor) -> Tensor:
    """SIREN's activation sin(omega * z); omega [K, 1, 1] multiplies weights and bias alike."""
    return torch.sin(omega * z)


class MissingDefault(UsageError):
    """An init scheme has no default of ``param`` for signals of kind ``domain`` (``Member.default``)."""

    def __init__(self, param: str, domain: str, known: list[str]):
        self.param, self.domain, self.known = param, domain, known
        super().__init__(f"no default {param} for {domain} signals (defaults exist for: {', '.join(known) or 'none'})")

    def for_scheme(self, scheme: str) -> UsageError:
        """The one-line error naming the scheme and how to set the parameter."""
        return UsageError(f"{scheme} has no default {self.param} for {self.domain} signals (it has defaults for "
                          f"{', '.join(self.known) or 'no kind of signal'}); set it: --model {scheme}:{self.param}=VALUE "
                          f"(or {self.param} = VALUE in the spec's [models] table)")


class Basis(Protocol):
    """A fixed matrix B [size, fan_in] through which a layer's weights train (``Layer.basis``)."""

    size: int

    def matrix(self) -> Tensor: ...


@dataclass(frozen=True)
class Layer:
    """A linear layer (weights [fan_out, fan_in]) followed by ``activation`` (None: the linear output).

    train_weights / train_bias: whether training updates the weights [fan_out, fan_in] and the bias [fan_out]
    (both False: a fixed layer, e.g. a Fourier-feature encoding; weights alone False: frozen frequencies
    with trained phases, e.g. TUNER's first layer); complex_weights makes its weights and bias complex
    (e.g. WIRE's hidden layers; a complex output is read as its real part); basis: the weights are
    coefficients [fan_out, basis.size] times the fixed basis.matrix() [basis.size, fan_in] and the coefficients
    train (bench.models.fr), the scheme having initialised the weights themselves.
    """

    fan_in: int
    fan_out: int
    activation: Activation | None
    train_weights: bool = True
    train_bias: bool = True
    complex_weights: bool = False
    basis: Basis | None = None


@dataclass(frozen=True)
class Architecture:
    """The network's size, by name: d_in inputs, ``layers`` hidden layers of ``width`` units, d_out outputs
    (what a model's plan turns into its list of layers)."""

    d_in: int
    width: int
    layers: int
    d_out: int

    @classmethod
    def of(cls, signal: SignalInfo, width: int, layers: int) -> Architecture:
        """``layers`` x ``width`` hidden layers between the signal's input and output dimensions."""
        return cls(signal.d_in, width, layers, signal.d_out)

    def layers_of(self, plan: Callable[..., list[Layer]]) -> list[Layer]:
        """The layers ``plan(d_in, width, layers, d_out)`` builds at this size."""
        return plan(self.d_in, self.width, self.layers, self.d_out)


class Network:
    """How a plan's layers make a network. A plan maps (d_in, width, layers, d_out) to its list of layers
    (parameter blocks: weights [fan_out, fan_in] and a bias [fan_out]); models with the same plan (equal by
    value) can share an ensemble. A plan that only builds layers chains them: each layer takes the
    previous layer's output (an MLP, perhaps after a fixed encoding). A plan for another kind of network
    (multiplicative filters, an interpolated grid) subclasses this and overrides ``forward``, and
    ``penalty`` where it regularizes.

    features: what else its networks support (``bench.models.FEATURES``; the chained ones support all).
    """

    features: frozenset[str] = frozenset({"ntk", "diagnose", "bf16"})

    def forward(self, net: Ensemble, coords: Tensor, precision: str) -> Tensor:
        """The members' outputs [K, N, d_out] at coords [N, d_in] (or [K, N, d_in]); the chained layers."""
        h = coords
        for i, layer in enumerate(net.layers[:-1]):
            if layer.activation is sine:
                # sin((omega W) h + omega b): omega scales the small [K, out, in] weights instead of the
                # [K, N, out] activations, one elementwise pass fewer forward and one backward
                h = torch.sin(net._linear(i, h, precision, scale=net.omegas[i]))
            else:
                h = layer.activation(net._linear(i, h, precision), net.omegas[i])
        return net._linear(len(net.layers) - 1, h, precision)

    def penalty(self, net: Ensemble) -> Tensor | None:
        """A term [K] added to each member's optimized loss (the task's loss stays what is reported), or None."""
        return None

    def linear_layers(self, net: Ensemble) -> range | tuple[int, ...]:
        """The layers ``forward`` evaluates as W h + b with ``Ensemble._linear`` (the chained ones: all), the only
        ones ``Ensemble.as_in_an_ensemble`` measures (a grid's values [channels, vertices] are gathered, and
        measuring them as a matmul would take points x vertices floats)."""
        return range(len(net.layers))

    def macs(self, net: Ensemble) -> int:
        """Real multiply-accumulates per coordinate per member (4 per complex one): the linear layers'."""
        return sum(layer.fan_out * layer.fan_in * (4 if layer.complex_weights else 1) for layer in net.layers)


CHAIN = Network()


@dataclass(frozen=True)
class MLP(Network):
    """The usual plan: L hidden layers of width H with ``activation``, then a linear output."""

    activation: Activation

    def __call__(self, d_in: int, width: int, layers: int, d_out: int) -> list[Layer]:
        sizes = [d_in] + [width] * layers
        return [Layer(a, b, self.activation) for a, b in zip(sizes, sizes[1:])] + [Layer(width, d_out, None)]


def parameter_count(layers: list[Layer]) -> int:
    """Trainable real parameters of one member with these layers: the weights (or a basis' coefficients) and
    biases that train (``Layer.train_weights``, ``train_bias``), a complex one counting twice (what
    ``Ensemble.member_parameters`` counts on a built ensemble)."""
    return sum(((layer.basis.size if layer.basis else layer.fan_in) * layer.fan_out * layer.train_weights
                + layer.fan_out * layer.train_bias) * (2 if layer.complex_weights else 1) for layer in layers)


class Member:
    """One member's parameters while its init scheme runs (on the CPU).

    weights[i]: [fan_out, fan_in] of linear layer i (the last one is the output); biases[i]: [fan_out];
    omegas[i]: the parameter of activation layer i (a float, e.g. SIREN's frequency, or a tuple of
    floats for activations that take several). Weights and biases start as PyTorch's nn.Linear
    default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (real and imaginary parts alike for complex layers);
    omegas start at 1. Draw all randomness through ``uniform`` / ``normal`` so that the member's seed
    fixes it.
    """

    def __init__(self, layers: list[Layer], seed: int, signal: SignalInfo):
        self.signal = signal
        self.layers = layers
        self.generator = torch.Generator().manual_seed(seed)
        self.weights: list[Tensor] = []
        self.biases: list[Tensor] = []
        for layer in layers:
            bound = 1.0 / math.sqrt(layer.fan_in)
            self.weights.append(self._default((layer.fan_out, layer.fan_in), bound, layer.complex_weights))
            self.biases.append(self._default((layer.fan_out,), bound, layer.complex_weights))
        self.omegas: list[float | tuple[float, ...]] = [1.0] * sum(l.activation is not None for l in layers)
        self.bounds: dict[int, Tensor] = {}  # layer -> |weight| bound kept during training (``keep_within``)

    def default(self, table: Mapping[str, Mapping[str, float]], key: str, instead: str | None = None) -> float:
        """A scheme's default for this member's kind of signal: ``table[domain][key]``, where ``table`` is
        the scheme's defaults per domain ({domain: {key: value}}). A domain the table lacks raises
        ``MissingDefault``, naming the parameter to set (``instead``, when the key is not a parameter)."""
        try:
            return table[self.signal.domain][key]
        except KeyError:
            raise MissingDefault(instead or key, self.signal.domain, [d for d in table if key in table[d]]) from None

    def _default(self, shape: tuple[int, ...], bound: float, complex_weights: bool) -> Tensor:
        if complex_weights:
            return torch.complex(self.uniform(shape, bound), self.uniform(shape, bound))
        return self.uniform(shape, bound)

    def keep_within(self, layer: int, bound: float | Tensor) -> None:
        """Keep the weights of linear layer ``layer`` in [-bound, bound] during training: after every
        optimizer step they are clamped there (``Ensemble.project``). ``bound``: a float, or a tensor that
        broadcasts to the layer's weights [fan_out, fan_in] (e.g. one bound per row [fan_out, 1]); inf
        leaves an entry free. A scheme declares this in its init function, which is how a scheme shapes
        training as well as the start (e.g. TUNER's bounded hidden weights)."""
        if not 0 <= layer < len(self.weights):
            raise UsageError(f"keep_within: layer {layer} does not exist; this network's linear layers are "
                             f"0..{len(self.weights) - 1} (the last is the output)")
        weights = self.weights[layer]
        bound = torch.as_tensor(bound, dtype=torch.float32)
        if weights.is_complex():
            raise UsageError(f"keep_within: layer {layer} has complex weights; a bound applies to real ones")
        try:
            bound = torch.broadcast_to(bound, weights.shape).clone()
        except RuntimeError:
            raise UsageError(f"keep_within: a bound of shape {tuple(bound.shape)} does not broadcast to layer "
                             f"{layer}'s weights {tuple(weights.shape)}") from None
        if bool((bound.isnan() | (bound < 0)).any()):
            raise UsageError(f"keep_within: layer {layer}'s bound must be >= 0 (inf: no bound), not NaN or negative")
        self.bounds[layer] = bound

    def uniform(self, shape: tuple[int, ...], bound: float) -> Tensor:
        """U(-bound, bound) samples of the given shape."""
        return (torch.rand(shape, generator=self.generator) * 2 - 1) * bound

    def normal(self, shape: tuple[int, ...], std: float) -> Tensor:
        """N(0, std^2) samples of the given shape."""
        return torch.randn(shape, generator=self.generator) * std


PRECISIONS = ("fp32", "tf32", "bf16")
EXACT_FAN_IN = 4  # under reduced precision, layer 0 with at most this many inputs is computed elementwise
NARROW_FAN_OUT = 4  # see Ensemble._matmul


def lone_path_differs(points: int, fan_in: int, fan_out: int, shared_input: bool, device: torch.device) -> bool:
    """Whether, on this device, a lone member's weight gradient for a layer of this shape differs from the
    one it gets in an ensemble of two (random inputs; one backward each, once per shape, process and
    kernel choice: the thread count and float32 matmul precision pick the BLAS kernels).
    ``shared_input``: layer 0, whose input (the coordinates) all members share."""
    return _lone_path_differs(points, fan_in, fan_out, shared_input, device, torch.get_num_threads(),
                              torch.get_float32_matmul_precision())


@functools.lru_cache(maxsize=256)
def _lone_path_differs(points: int, fan_in: int, fan_out: int, shared_input: bool, device: torch.device,
                       threads: int, matmul_precision: str) -> bool:
    """``lone_path_differs``, measured under the current settings (``threads`` and ``matmul_precision`` only
    key the cache)."""
    generator = torch.Generator().manual_seed(0)
    h = torch.randn((points, fan_in) if shared_input else (2, points, fan_in), generator=generator).to(device)
    weights = torch.randn(2, fan_out, fan_in, generator=generator).to(device)
    grad = torch.randn(2, points, fan_out, generator=generator).to(device)
    found = []
    for k in (2, 1):
        w = weights[:k].clone().requires_grad_(True)
        out = Ensemble._matmul(h if shared_input else h[:k], w, torch.zeros(k, 1, fan_out, device=device))
        out.backward(grad[:k])
        found.append(w.grad[0])
    return not torch.equal(*found)


class LoneMemberLinear(torch.autograd.Function):
    """W h + b of an ensemble of one member (h [N, in] or [1, N, in], weights [1, out, in], bias [1, 1, out])
    with the weight gradient an ensemble of several computes. On some CPUs (AVX-512 builds of the BLAS)
    the weight gradient of a lone matrix, a reduction over the N points, is summed in another order than
    that of a batch of matrices, and at w0 = 3000 the last-bit difference grows into dB; so it is computed
    as the first of two copies, on the layers where the plain path differs (``lone_path_differs``; about
    a fifth more time per step of a lone member where it does). The forward pass and the input and bias
    gradients already agree."""

    @staticmethod
    def forward(h: Tensor, weights: Tensor, bias: Tensor) -> Tensor:
        return Ensemble._matmul(h, weights, bias)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        h, weights, _ = inputs
        ctx.save_for_backward(h, weights)

    @staticmethod
    def backward(ctx, grad: Tensor):
        h, weights = ctx.saved_tensors
        points = h if h.dim() == 3 else h[None]
        two = [t.expand(2, -1, -1) for t in (grad.transpose(1, 2), points)]
        grad_weights = torch.bmm(*two)[:1] if ctx.needs_input_grad[1] else None
        grad_h = None
        if ctx.needs_input_grad[0]:
            grad_h = torch.bmm(grad, weights)
            grad_h = grad_h if h.dim() == 3 else grad_h[0]
        grad_bias = grad.sum(dim=1, keepdim=True) if ctx.needs_input_grad[2] else None
        return grad_h, grad_weights, grad_bias


class Ensemble(nn.Module):
    """K stacked members sharing one layer plan.

    weights[i]: [K, fan_out, fan_in] (of a layer with a basis: its coefficients [K, fan_out, M], ``weight``
    gives the weights); biases[i]: [K, 1, fan_out]; omegas: [A, K, 1, 1] for A activation
    layers ([A, K, 1, 1, P] when each holds P numbers; fixed, not trained).
    forward: coords [N, d_in] (or [K, N, d_in], one copy per member) -> predictions [K, N, d_out].

    precision (an argument of ``forward``): how the real matmuls of layers 1.. (the output layer included)
    run: "fp32"; "bf16" (inputs, weights and bias cast to bfloat16 for the matmul and bias add, the result
    cast back to float32; activations and parameters stay float32); "tf32" (the caller enables TF32
    matmuls, see ``bench.training.precision``). Layer 0 stays exact float32 under both: with w0 = 3000 its
    rounding error is multiplied by 3000 inside the sine. Complex layers (WIRE) ignore bf16.
    """

    def __init__(self, members: list[Member], layers: list[Layer], plan: object = CHAIN):
        super().__init__()
        self.layers = layers
        self.network = plan if isinstance(plan, Network) else CHAIN  # a plan that only builds layers chains them
        self._lone_layers: tuple[bool, ...] = ()  # the layers that take LoneMemberLinear (as_in_an_ensemble)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([m.weights[i] for m in members]), requires_grad=layer.train_weights)
            for i, layer in enumerate(layers))
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([m.biases[i] for m in members])[:, None, :], requires_grad=layer.train_bias)
            for i, layer in enumerate(layers))
        for i, layer in enumerate(layers):  # a basis is part of the plan: made again, not saved with the weights
            if layer.basis is not None:
                self.register_buffer(f"basis_{i}", layer.basis.matrix().clone(), persistent=False)
        omegas = torch.tensor([m.omegas for m in members], dtype=torch.float32)  # [K, A] or [K, A, P]
        self.register_buffer("omegas", omegas.transpose(0, 1)[:, :, None, None].contiguous())
        # |weight| bounds [K, fan_out, fan_in] of the layers any member bounds (inf where a member does not);
        # not saved with the weights: the init that declared them makes them again
        self.bounded = tuple(i for i in range(len(layers)) if any(i in m.bounds for m in members))
        for i in self.bounded:
            free = torch.full(self.weights[i].shape[1:], math.inf)
            self.register_buffer(f"bound_{i}", torch.stack([m.bounds.get(i, free) for m in members]),
                                 persistent=False)

    @property
    def size(self) -> int:
        return self.weights[0].shape[0]

    @torch.no_grad()
    def project(self) -> None:
        """Clamp the weights of each bounded layer into [-bound, bound] (``Member.keep_within``); the
        training loop calls it after every optimizer step. Elementwise, so a member's weights do not
        depend on the other members of its ensemble."""
        for i in self.bounded:
            bound = getattr(self, f"bound_{i}")
            self.weights[i].copy_(torch.minimum(torch.maximum(self.weights[i], -bound), bound))

    @contextmanager
    def as_in_an_ensemble(self, points: int) -> Iterator[None]:
        """Inside the block a lone member's gradients on ``points`` points are those it would get in an
        ensemble of several (``LoneMemberLinear`` on the layers where this device's plain path differs,
        ``lone_path_differs``), so that its training does not depend on how many members share its run.
        Training steps use it; a Jacobian (torch.func) or a derivative task (gradients with respect to
        the coordinates) takes the plain path."""
        if self.size == 1 and not self.weights[0].is_complex():
            device = self.weights[0].device
            linear = set(self.network.linear_layers(self))
            self._lone_layers = tuple(i in linear and lone_path_differs(points, layer.fan_in, layer.fan_out, i == 0,
                                                                        device)
                                      for i, layer in enumerate(self.layers))
        try:
            yield
        finally:
            self._lone_layers = ()

    def weight(self, i: int) -> Tensor:
        """Layer i's weights [K, fan_out, fan_in]: the parameter, or a basis' coefficients times the basis."""
        if self.layers[i].basis is None:
            return self.weights[i]
        return torch.matmul(self.weights[i], getattr(self, f"basis_{i}"))

    def _linear(self, i: int, h: Tensor, precision: str, scale: Tensor | None = None) -> Tensor:
        """Layer i's W h + b [K, N, fan_out] at ``precision``; with ``scale`` [K, 1, 1], (scale W) h + scale b."""
        weights, bias = self.weight(i), self.biases[i]
        if scale is not None:
            weights, bias = scale * weights, scale * bias
        if weights.is_complex() and not h.is_complex():
            h = h.to(weights.dtype)
        if precision != "fp32" and not weights.is_complex():
            if i == 0 and weights.shape[2] <= EXACT_FAN_IN:  # elementwise: no TF32 / bf16 rounding
                h = h.expand(weights.shape[0], *h.shape) if h.dim() == 2 else h
                return sum((h[..., j, None] * weights[:, None, :, j] for j in range(weights.shape[2])), bias)
            if i > 0 and precision == "bf16":
                return self._matmul(h.bfloat16(), weights.bfloat16(), bias.bfloat16()).float()
        if self._lone_layers and self._lone_layers[i] and not weights.is_complex() and torch.is_grad_enabled():
            return LoneMemberLinear.apply(h, weights, bias)
        return self._matmul(h, weights, bias)

    @staticmethod
    def _matmul(h: Tensor, weights: Tensor, bias: Tensor) -> Tensor:
        if h.dim() == 2:  # coordinates shared by all members
            return torch.matmul(h, weights.transpose(1, 2)) + bias
        if weights.shape[0] == 1 and weights.shape[1] <= NARROW_FAN_OUT:
            # BLAS serves a narrow layer (the output) of one member with other kernels than that of many,
            # and sensitive runs (w0 = 3000) grow the rounding difference into dB; so a lone member takes
            # the batched path too (on two copies of itself), and computes what it would in any ensemble
            two = [t.expand(2, -1, -1) for t in (bias, h, weights.transpose(1, 2))]
            return torch.baddbmm(*two)[:1]
        return torch.baddbmm(bias, h, weights.transpose(1, 2))

    def hidden_layers(self, coords: Tensor, precision: str = "fp32") -> Iterator[tuple[Tensor, Tensor]]:
        """For each layer with an activation: z = W h + b and the activation's output, both [K, N, fan_out]
        (of chained layers: ``Network.features`` has "diagnose")."""
        h = coords
        for i, layer in enumerate(self.layers[:-1]):
            z = self._linear(i, h, precision)
            h = layer.activation(z, self.omegas[i])
            yield z, h

    def forward(self, coords: Tensor, precision: str = "fp32") -> Tensor:
        if coords.requires_grad:  # a derivative task: its double backward takes the plain path
            self._lone_layers = ()
        out = self.network.forward(self, coords, precision)
        return out.real if out.is_complex() else out

    def penalty(self) -> Tensor | None:
        """The network's regularization term [K] added to each member's optimized loss, or None (``Network``)."""
        return self.network.penalty(self)

    def matmul_macs(self) -> int:
        """Real multiply-accumulates per coordinate per member (``Network.macs``)."""
        return self.network.macs(self)

    def train_flops(self, points: int) -> int:
        """Matmul FLOPs of one training step of the whole ensemble on ``points`` points: 2 per
        multiply-accumulate forward and 4 backward (gradients of inputs and weights), and 2 + 2 per
        multiply-accumulate of the weights made from a basis (``weight``, once a step); elementwise work
        is not counted."""
        bases = sum(layer.fan_out * layer.basis.size * layer.fan_in for layer in self.layers if layer.basis)
        return (6 * points * self.matmul_macs() + 4 * bases) * self.size

    def member_parameters(self) -> int:
        """Trainable real parameters of one member (a complex one counts twice)."""
        return sum(p[0].numel() * (2 if p.is_complex() else 1) for p in self.parameters() if p.requires_grad)
