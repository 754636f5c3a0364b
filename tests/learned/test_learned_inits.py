"""Learned inits: signal families split by whole source, no test-split signal reaching learning,
and meta_learned's Reptile init cached, reused and reproducible from its seed."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.core.errors import BenchError, UsageError
from bench.learned.cache import learned_files
from bench.learned.families import train_pieces
from bench.models import Architecture, MemberSpec, ModelChoice, build_ensemble, load_builtin_models
from bench.signals.library import SignalLibrary
from bench.tasks import load_task
from bench.tasks.audio import load_clip


SMALL = {"outer_steps": 3, "inner_steps": 2, "batch": 2}  # learning in about a second
SMALL_STRAINER = {"steps": 3}


def test_a_copy_of_a_train_clip_under_another_name_is_refused_too(library, tmp_path):
    import shutil

    copy = tmp_path / "not_arch.wav"
    shutil.copy(library.path("arch", "audio"), copy)
    task = load_task(f"audio:{copy}", library, {"offset": 16384, "max_samples": 4096})
    with pytest.raises(UsageError, match="the content of 'arch'"):
        _learned(task, seed=0)


def _learned(task, seed, scheme="meta_learned", **params):
    entry = load_builtin_models().get(scheme)
    small = SMALL if scheme == "meta_learned" else SMALL_STRAINER
    model, used = build_ensemble([MemberSpec(ModelChoice(entry, small | params), seed)], Architecture(1, 16, 2, 1),
                                 task.info)
    return [w.detach().clone() for w in model.weights], used[0]


def test_a_learned_init_is_cached_reused_and_the_same_for_the_same_seed(library, tmp_path, monkeypatch):
    cache = tmp_path / "learned"  # a cache of its own: the files counted below are this test's alone
    monkeypatch.setenv("BENCH_LEARNED_CACHE", str(cache))
    task = load_task("audio:relay", library, {"offset": 49152, "max_samples": 4096})
    first, used = _learned(task, seed=0)
    files = sorted(cache.glob("meta_learned-*.pt"))
    assert len(files) == 1 and used["learn_member_steps"] == 3 * 2 * 2 and used["learn_seconds"] > 0
    stamp = files[0].stat().st_mtime_ns
    again, used_again = _learned(task, seed=0)  # read back, not learned again
    assert files[0].stat().st_mtime_ns == stamp and used_again["learn_seconds"] == used["learn_seconds"]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    files[0].unlink()  # learned again from scratch: bit for bit the same weights
    relearned, _ = _learned(task, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(first, relearned))
    other, _ = _learned(task, seed=1)
    assert not torch.equal(first[1], other[1]) and len(list(cache.glob("meta_learned-*.pt"))) == 2
    assert set(cache.glob("meta_learned-*.pt")) <= set(learned_files(cache))  # bench cache --clear's
    siren = build_ensemble([MemberSpec(ModelChoice(load_builtin_models().get("siren"), {}), 0)],
                           Architecture(1, 16, 2, 1), task.info)[0]
    assert not torch.equal(first[1], siren.weights[1].detach())  # learning moved SIREN's start


def test_strainer_shares_every_sine_layer_by_default_and_a_new_member_gets_them_and_a_fresh_head(library, tmp_path,
                                                                                              monkeypatch):
    cache = tmp_path / "learned"  # a cache of its own: the files read below are this test's alone
    monkeypatch.setenv("BENCH_LEARNED_CACHE", str(cache))
    task = load_task("audio:relay", library, {"offset": 49152, "max_samples": 4096})
    learned, used = _learned(task, seed=0, scheme="strainer")
    assert used["shared"] == 2 and used["learn_member_steps"] == 3 * 24  # both sine layers; 3 steps x 24 windows
    siren = build_ensemble([MemberSpec(ModelChoice(load_builtin_models().get("siren"), {}), 0)],
                           Architecture(1, 16, 2, 1), task.info)[0]
    cached, = cache.glob("strainer-*.pt")
    encoder = torch.load(cached, weights_only=True)
    for i in (0, 1):  # the learned sine layers, moved from SIREN's start
        assert torch.equal(learned[i][0], encoder["weights"][i])
        assert not torch.equal(learned[i], siren.weights[i].detach())
    head = siren.weights[2].detach()  # a fresh head: SIREN's output init of the member's seed (the official one)
    assert torch.equal(learned[2], head) and not any(torch.equal(learned[2][0], h) for h in encoder["decoders"][0][0])
    again, _ = _learned(task, seed=0, scheme="strainer")
    assert all(torch.equal(a, b) for a, b in zip(learned, again))
    assert len(list(cache.glob("strainer-*.pt"))) == 1
    fewer, used = _learned(task, seed=0, scheme="strainer", shared=1)  # still allowed: a sine layer per piece
    assert used["shared"] == 1 and not torch.equal(fewer[0], siren.weights[0].detach())
    rescaled = siren.weights[1].detach() * (1 / 16) / (math.sqrt(6 / 16) / 30)  # the same draws, U(±1/fan_in)
    assert torch.allclose(fewer[1], rescaled) and torch.equal(fewer[2], head)
    with pytest.raises(UsageError, match="share 1 to 2"):
        _learned(task, seed=0, scheme="strainer", shared=3)


def test_strainer_shared_training_is_the_official_computation_one_encoder_and_a_head_per_piece(tmp_path):
    from bench.learned.cache import LearningProgress
    from bench.learned.strainer import _decoders, _shared_encoder
    from bench.models import MLP, Member, SignalInfo, sine
    from bench.models.siren import siren

    m = Member(MLP(sine)(2, 8, 2, 1), 3, SignalInfo("image", d_in=2, d_out=1, centroid=0.3))
    siren(m)
    grid = torch.linspace(-1, 1, 5)
    coords = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), dim=-1).reshape(-1, 2)
    targets = torch.rand(3, 25, 1, generator=torch.Generator().manual_seed(1)) * 2 - 1  # three pieces
    ours = _shared_encoder(m, coords, targets, 2, 4, 1e-3, 30.0, 7, LearningProgress(tmp_path / "s.partial.pt"))
    heads = _decoders(m, 2, 3, 30.0, 7)
    assert len(heads) == 1 and heads[0][0].shape == (3, 1, 8)  # every sine layer shared: the decoder is a head
    assert heads[0][0].abs().max() <= math.sqrt(6 / 8) / 30 and heads[0][1].abs().max() <= 1 / math.sqrt(8)

    # Transcription of the official computation (kushalvyas/STRAINER, commit not at hand here; read from a copy of
    # its files): model.py STRAINER.forward (encoderINR: SineLayer sin(omega_0 linear(x)), then each of
    # decoderINRs; a decoder of num_decoder_layers = 1 is SIREN.__init__'s final_linear alone, lines 64-75 of
    # the copy) and train.py shared_encoder_training (its loss and one Adam step over every parameter).
    encoder = [torch.nn.Linear(2, 8), torch.nn.Linear(8, 8)]
    decoders = [torch.nn.Linear(8, 1) for _ in range(3)]
    with torch.no_grad():
        for i, linear in enumerate(encoder):
            linear.weight.copy_(m.weights[i]), linear.bias.copy_(m.biases[i])
        for p, linear in enumerate(decoders):
            linear.weight.copy_(heads[0][0][p]), linear.bias.copy_(heads[0][1][p, 0])
    optim = torch.optim.Adam(lr=1e-3, params=[q for layer in encoder + decoders for q in layer.parameters()])
    gt_tensor = [t[None] for t in targets]  # as 'gt': [x.reshape(1, -1, C) for x in ...]
    for _ in range(4):
        encoded_features = torch.sin(30 * encoder[1](torch.sin(30 * encoder[0](coords[None]))))
        outputs = [decoder(encoded_features) for decoder in decoders]
        stacked_outputs = torch.stack(outputs, dim=0)
        stacked_gt = torch.stack(gt_tensor, dim=0)
        loss = ((stacked_outputs - stacked_gt)**2).mean(dim=[1, 2, 3]).sum()
        optim.zero_grad()
        loss.backward()
        optim.step()
    # end of transcription
    for i, linear in enumerate(encoder):  # one set of sine layers, the same for every piece
        assert ours["weights"][i].shape == m.weights[i].shape
        assert torch.allclose(ours["weights"][i], linear.weight, atol=1e-6)
        assert torch.allclose(ours["biases"][i], linear.bias, atol=1e-6)
    learned_heads = ours["decoders"][0]
    for p, decoder in enumerate(decoders):  # a head per piece, each learned on its own piece
        assert torch.allclose(learned_heads[0][p], decoder.weight, atol=1e-6)
        assert torch.allclose(learned_heads[1][p, 0], decoder.bias, atol=1e-6)
        assert not torch.equal(learned_heads[0][p], heads[0][0][p])
    assert not torch.allclose(learned_heads[0][0], learned_heads[0][1])


def test_timing_a_learned_init_times_sirens_network_and_learns_nothing(library, _learned_cache):
    from bench.perf.sizing import timing_run
    from bench.training import Problem, TrainConfig

    task = load_task("audio:relay", library, {"offset": 49152, "max_samples": 4096})
    for scheme in ("meta_learned", "strainer"):
        problem = Problem(task, ModelChoice(load_builtin_models().get(scheme), {}), 16, 2, TrainConfig(steps=100))
        timed = timing_run(problem)
        assert timed.model.entry.name == "siren" and timed.train.steps < 100
        assert timed.architecture.layers_of(timed.model.entry.meta["plan"]) == problem.architecture.layers_of(
            problem.model.entry.meta["plan"])  # the same network, so the same speed


def test_an_image_family_learns_from_its_train_crops_and_fits_a_test_crop(image_family, library, _learned_cache,
                                                                        tmp_path):
    from PIL import Image

    coords, pieces = train_pieces(image_family, library, 1)
    assert pieces.shape == (4, 256, 1) and coords.shape == (256, 2)
    for piece, (source, options) in zip(pieces, image_family.pieces("train")):  # what the image task fits
        assert torch.equal(piece, load_task(f"image:{source}", library, options).target)
    task = load_task("image:camera", library, {"crop": 16, "crop_row": 100, "crop_col": 50})
    for scheme in ("meta_learned", "strainer"):
        entry = load_builtin_models().get(scheme)
        small = (SMALL if scheme == "meta_learned" else SMALL_STRAINER) | {"family": "crops"}
        model, used = build_ensemble([MemberSpec(ModelChoice(entry, small), 0)], Architecture(2, 16, 2, 1), task.info)
        assert used[0]["learn_member_steps"] == (3 * 2 * 2 if scheme == "meta_learned" else 3 * 4)
        assert model(task.coords).shape == (1, 256, 1)
    refused = load_task("image:braided", library, {"crop": 16})
    with pytest.raises(UsageError, match="holds 'braided'"):
        build_ensemble([MemberSpec(ModelChoice(load_builtin_models().get("meta_learned"), SMALL | {"family": "crops"}),
                                   0)], Architecture(2, 16, 2, 1), refused.info)
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(rgb)
    with pytest.raises(UsageError, match="noise1 has 1 channel\\(s\\) and the fitted signal 3"):
        build_ensemble([MemberSpec(ModelChoice(load_builtin_models().get("meta_learned"), SMALL | {"family": "crops"}),
                                   0)], Architecture(2, 16, 2, 3), load_task(f"image:{rgb}", library, {}).info)
    poisson = load_task("poisson-grad:braided", library, {"side": 16})  # every image task names its source
    strainer = load_builtin_models().get("strainer")
    with pytest.raises(UsageError, match="holds 'braided'"):
        build_ensemble([MemberSpec(ModelChoice(strainer, SMALL_STRAINER | {"family": "crops"}), 0)],
                       Architecture(2, 16, 2, 1), poisson.info)
    audio = load_task("audio:relay", library, {"max_samples": 256})
    with pytest.raises(UsageError, match="holds image signals.*choose a family of audio signals"):
        build_ensemble([MemberSpec(ModelChoice(strainer, SMALL_STRAINER | {"family": "crops"}), 0)],
                       Architecture(1, 16, 2, 1), audio.info)


LEARNING_TO_KILL = {"meta_learned": {"outer_steps": 150, "inner_steps": 2, "batch": 2},
                    "meta_learned:maml": {"method": "maml", "outer_steps": 150, "batch": 2},
                    "strainer": {"steps": 150}}
LEARN_IN_A_PROCESS = """
import sys
import torch
torch.set_num_threads(1)  # as the test's own process (one_thread): see the test
import bench.learned  # registers the learned schemes
from bench.models import Architecture, MemberSpec, ModelChoice, build_ensemble, load_builtin_models
from bench.signals.library import SignalLibrary
from bench.tasks import load_task
task = load_task("audio:relay", SignalLibrary(), {"offset": 49152, "max_samples": 1024})
build_ensemble([MemberSpec(ModelChoice(load_builtin_models().get(sys.argv[1]), eval(sys.argv[2])), 0)],
               Architecture(1, 16, 2, 1), task.info)
"""


@pytest.mark.slow
@pytest.mark.parametrize("learning", list(LEARNING_TO_KILL))
def test_a_learning_killed_midway_resumes_to_the_weights_it_would_have_learned(learning, library, tmp_path,
                                                                               monkeypatch, one_thread):
    # Both processes learn on one thread: at two, a learning resumed in another process has differed from an
    # uninterrupted one in the last bits now and then (about one run in fifteen on a 2-core CPU), a dependence
    # on something else than the thread count that is not yet found; at one thread it has not (18 of 18 runs).
    import os
    import subprocess
    import sys
    import time

    scheme, params = learning.split(":")[0], LEARNING_TO_KILL[learning]
    killed = tmp_path / "killed"
    env = os.environ | {"BENCH_LEARNED_CACHE": str(killed), "BENCH_LEARN_SAVE_SECONDS": "0"}  # save every step
    process = subprocess.Popen([sys.executable, "-c", LEARN_IN_A_PROCESS, scheme, repr(params)], env=env)
    step, deadline = 0, time.monotonic() + 120
    while step < 10 and process.poll() is None and time.monotonic() < deadline:
        saved = list(killed.glob("*.partial.pt"))
        step = torch.load(saved[0], weights_only=True)["step"] if saved else 0
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert step >= 10 and not [p for p in killed.glob("*.pt") if not p.name.endswith(".partial.pt")]
    task = load_task("audio:relay", library, {"offset": 49152, "max_samples": 1024})
    monkeypatch.setenv("BENCH_LEARNED_CACHE", str(killed))
    resumed, used = _learned(task, seed=0, scheme=scheme, **params)
    assert not list(killed.glob("*.partial.pt")) and used["learn_seconds"] > 0
    learned_file, = killed.glob("*.pt")
    assert torch.load(learned_file, weights_only=True)["resumed_from"] >= step  # it went on from the kill
    monkeypatch.setenv("BENCH_LEARNED_CACHE", str(tmp_path / "whole"))
    whole, _ = _learned(task, seed=0, scheme=scheme, **params)
    assert all(torch.equal(a, b) for a, b in zip(resumed, whole))  # bit for bit what one uninterrupted run learns


def test_maml_lowers_the_loss_after_its_inner_steps_on_the_train_crops(image_family, library):
    task = load_task("image:camera", library, {"crop": 16, "crop_row": 100, "crop_col": 50})
    coords, pieces = train_pieces(image_family, library, 1)

    def adapted_loss(model) -> float:  # MAML's objective: mean train-crop MSE after the demo's 2 steps of 1e-2
        from bench.learned.meta_learned import _inner_steps, _mse

        params = [w.detach()[0] for w in model.weights] + [b.detach()[0, 0] for b in model.biases]
        omegas = model.omegas.flatten().tolist()
        return sum(_mse(_inner_steps(params, omegas, coords, target, 1e-2, 2), omegas, coords, target).item()
                   for target in pieces) / len(pieces)

    def member(scheme, params):
        entry = load_builtin_models().get(scheme)
        return build_ensemble([MemberSpec(ModelChoice(entry, params), 0)], Architecture(2, 16, 2, 1), task.info)[0]

    learned = member("meta_learned", {"method": "maml", "outer_steps": 30, "family": "crops"})
    assert adapted_loss(learned) < 0.7 * adapted_loss(member("siren", {}))  # measured: 0.035 against 0.085


def test_saved_progress_that_does_not_fit_its_learning_is_dropped_with_a_warning(tmp_path, monkeypatch):
    from bench.core.errors import BenchWarning
    from bench.learned.cache import LearningProgress

    path = tmp_path / "x.partial.pt"
    weights = [torch.zeros(3, 2)]
    torch.save({"step": 4, "start": weights, "seconds": 1.0}, path)  # another version's keys
    with pytest.warns(BenchWarning, match="does not fit this learning"):
        assert LearningProgress(path).restore(weights) == 0
    assert not path.exists()
    path.write_bytes(b"torn")
    with pytest.warns(BenchWarning, match="cannot be read"):
        assert LearningProgress(path).restore(weights) == 0
    torch.save({"step": 4, "tensors": [torch.ones(3, 2)], "seconds": 1.0}, path)
    restored = [torch.zeros(3, 2)]
    assert LearningProgress(path).restore(restored) == 4 and torch.equal(restored[0], torch.ones(3, 2))
    monkeypatch.setenv("BENCH_LEARN_SAVE_SECONDS", "often")
    with pytest.raises(BenchError, match="not a number of seconds"):
        LearningProgress(path)


def test_a_corrupt_learned_init_file_is_named_dropped_and_learned_anew(library, tmp_path, monkeypatch):
    from bench.core.errors import BenchWarning

    monkeypatch.setenv("BENCH_LEARNED_CACHE", str(tmp_path))
    task = load_task("audio:relay", library, {"offset": 49152, "max_samples": 1024})
    learned, _ = _learned(task, seed=0)
    cached, = tmp_path.glob("meta_learned-*.pt")
    cached.write_bytes(b"torn")
    with pytest.warns(BenchWarning, match=f"{cached.name} cannot be read .*learning anew"):
        again, _ = _learned(task, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(learned, again))
    assert torch.load(cached, weights_only=True)["member_steps"] == 3 * 2 * 2  # the file was written again


def test_a_diverging_learning_is_an_error_naming_its_rates_and_caches_nothing(library, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_LEARNED_CACHE", str(tmp_path))
    task = load_task("audio:relay", library, {"offset": 49152, "max_samples": 1024})
    with pytest.raises(BenchError, match="meta_learned diverged .*inner_lr = 1e\\+30, outer_lr = 1: non-finite"):
        _learned(task, seed=0, inner_lr=1e30)
    assert not list(tmp_path.glob("*.pt"))


def test_a_train_signal_in_another_encoding_or_cut_to_a_piece_is_refused_by_its_samples(library, tmp_path):
    import soundfile as sf

    samples, rate = sf.read(library.path("arch", "audio"), dtype="int16")
    sf.write(tmp_path / "arch.flac", samples, rate)  # the same samples, losslessly compressed
    sf.write(tmp_path / "arch_float.wav", samples / 32768.0, rate, subtype="FLOAT")
    window, _ = load_clip(library, "arch", 4096, offset=16384)  # a train window as learning reads it
    sf.write(tmp_path / "window.wav", window, rate, subtype="FLOAT")
    for name in ("arch.flac", "arch_float.wav", "window.wav"):
        task = load_task(f"audio:{tmp_path / name}", library, {"max_samples": 1024})
        with pytest.raises(UsageError, match="the content of 'arch'"):
            _learned(task, seed=0)
    unseen = load_task("audio:relay", library, {"offset": 49152, "max_samples": 1024})
    _learned(unseen, seed=0)  # a test-split clip still learns


def test_a_train_crop_saved_as_its_own_image_is_refused_by_its_pixels(image_family, library, tmp_path):
    from PIL import Image

    from bench.signals.image_files import read_unit_pixels

    pixels = read_unit_pixels(library.path("noise1", "image"))[30:62, 40:72, 0]
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(tmp_path / "cut.png")
    task = load_task(f"image:{tmp_path / 'cut.png'}", library, {})
    with pytest.raises(UsageError, match="the content of 'noise1'"):
        build_ensemble([MemberSpec(ModelChoice(load_builtin_models().get("meta_learned"), SMALL | {"family": "crops"}),
                                   0)], Architecture(2, 16, 2, 1), task.info)


def test_a_learned_init_on_a_ray_worker_reads_its_family_where_the_command_reads_signals(tmp_path, monkeypatch,
                                                                                         library, need):
    from ray import cloudpickle  # how Ray ships a runner to its workers

    from bench.experiment.execute import JobRunner
    from bench.experiment.executors import _train_on_worker
    from bench.experiment.plan import Job, expand
    from bench.experiment.spec import parse_spec

    need("relay")
    entry = library.entries["relay"]
    data = library.path("relay", entry.kind).parents[len(Path(entry.file).parts) - 1]
    spec = parse_spec('name = "w"\nseeds = [0]\nwidths = 8\nlayers = 2\n[train]\nsteps = 2\n[models]\n'
                      'meta_learned = {outer_steps = 1, inner_steps = 1, batch = 1}\n[[tasks]]\ntask = "audio"\n'
                      'signals = ["relay"]\nmax_samples = 256\n', "w.toml", library)
    cells = expand(spec)
    task = load_task("audio:relay", SignalLibrary(data), {"max_samples": 256})  # the driver's --data-dir
    runner = cloudpickle.loads(cloudpickle.dumps(JobRunner({cells[0].task_key: task})))
    # a worker process: no $BENCH_DATA, an empty download cache
    monkeypatch.delenv("BENCH_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_LEARNED_CACHE", str(tmp_path / "learned"))
    rows = _train_on_worker(runner, Job(tuple(cells)), False)
    # (the error is not shown: it names a download that failed, which the suite's data check takes for a skip)
    assert [row["status"] for row in rows] == ["ok"]
    assert not list((tmp_path / "cache").rglob("*.wav"))  # the family's clips came from the command's folder


@pytest.mark.parametrize("d_in, w0_first", [(1, 3000.0), (2, 30.0)])  # audio's first layer, images'
def test_a_maml_inner_step_changes_every_pre_activation_as_the_learnit_demos_step_does(d_in, w0_first):
    from bench.learned.meta_learned import _inner_steps, _mse
    from bench.models import MLP, Member, SignalInfo, sine
    from bench.models.siren import siren

    m = Member(MLP(sine)(d_in, 8, 2, 1), 5, SignalInfo("audio" if d_in == 1 else "image", d_in, 1, 0.3))
    siren(m, 30.0, w0_first)
    ours = [t.double() for t in m.weights + m.biases]  # float64: pre-activations of thousands, changes of tenths
    draws = torch.Generator().manual_seed(2)
    coords = torch.rand(40, d_in, generator=draws, dtype=torch.float64) * 2 - 1  # ours: [-1, 1]
    target = torch.rand(40, 1, generator=draws, dtype=torch.float64) * 2 - 1
    omegas = [float(w) for w in m.omegas]

    # The same function in the demo's parametrisation (coordinates and values in [0, 1], w0 = 200 everywhere),
    # haiku's layout (x @ W + b, W [in, out]); checked below by the outputs agreeing before the step.
    x = (coords + 1) / 2
    c0, c1 = omegas[0] / 200, omegas[1] / 200
    demo = [(2 * c0 * ours[0]).T, c0 * (ours[3] - ours[0].sum(dim=1)), (c1 * ours[1]).T, c1 * ours[4],
            ours[2].T / 2, ours[5] / 2]
    image = (target + 1) / 2

    # Transcription of tancik/learnit @ ac6dc3e, meta_demo.ipynb: cell 8 (SirenLayer: w0 * (x W + b), the last
    # layer x W + b + .5; Siren_Model: sin after every layer but the last), cell 12 line 22 (mse_fn) and
    # cell 10 lines 4-17 (loss_fn, its gradient, one optax.sgd(inner_lr) update, cell 12 lines 8 and 18).
    def apply(params, coords):
        pre = []
        h = coords
        for k in range(2):
            pre.append(200 * (h @ params[2 * k] + params[2 * k + 1]))
            h = torch.sin(pre[-1])
        return h @ params[4] + params[5] + .5, pre

    def loss_fn(params):
        g, _ = apply(params, x)
        return ((g - image)**2).mean()

    inner_lr = .01
    params = [p.clone().requires_grad_() for p in demo]
    grad = torch.autograd.grad(loss_fn(params), params)
    updated = [p.detach() - inner_lr * g for p, g in zip(params, grad)]
    # end of transcription

    def ours_apply(p):
        pre, h = [], coords
        for k in range(2):
            pre.append(omegas[k] * (h @ p[k].T + p[3 + k]))
            h = torch.sin(pre[-1])
        return h @ p[2].T + p[5], pre

    before, before_pre = ours_apply(ours)
    demo_before, demo_before_pre = apply(demo, x)
    assert torch.allclose(before, 2 * demo_before - 1, atol=1e-12)  # the same function, in our units
    stepped = _inner_steps(ours, omegas, coords, target, inner_lr, 1)
    after, after_pre = ours_apply(stepped)
    demo_after, demo_after_pre = apply(updated, x)
    for k in range(2):
        change, demo_change = after_pre[k] - before_pre[k], demo_after_pre[k] - demo_before_pre[k]
        assert demo_change.abs().max() > 1e-4  # the step moved this layer
        assert torch.allclose(change, demo_change, rtol=1e-6, atol=1e-9)
    assert torch.allclose(after - before, 2 * (demo_after - demo_before), rtol=1e-6, atol=1e-12)

    # docs/methods.md's per-layer rates: plain gradient steps on our MSE of inner_lr (200 / omega)^2 / 4 on a
    # hidden sine layer and inner_lr on the head (the demo's 1e-2 would act 44 / 4 times more strongly there)
    plain = [p.clone().requires_grad_() for p in ours]
    grads = torch.autograd.grad(_mse(plain, omegas[:2], coords, target), plain)
    assert torch.allclose(stepped[1] - ours[1], -inner_lr * (200 / omegas[1])**2 / 4 * grads[1], rtol=1e-8,
                          atol=1e-14)
    assert torch.allclose(stepped[2] - ours[2], -inner_lr * grads[2], rtol=1e-8, atol=1e-14)
