"""Batched ensembles and the training loop on real signals."""

import pytest
import torch

from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
from bench.tasks import load_task
from bench.training import TrainConfig, train


SMALL = Architecture(1, 32, 3, 1)


def members(*pairs):
    return [MemberSpec(parse_model(model), seed) for model, seed in pairs]


@pytest.mark.slow
def test_ensemble_member_equals_a_run_of_its_seed_alone(relay_2k):
    specs = members(("siren2", 0), ("siren2", 1), ("siren", 2), ("winner", 3))
    ensemble, _ = build_ensemble(specs, SMALL, relay_2k.info)
    before = ensemble(relay_2k.coords).detach()
    cfg = TrainConfig(steps=30)
    together = train(ensemble, relay_2k, cfg, progress=False)
    for k, spec in enumerate(specs):
        alone, _ = build_ensemble([spec], SMALL, relay_2k.info)
        for stacked, single in zip(ensemble.weights, alone.weights):
            assert stacked.shape[0] == 4 and single.shape[0] == 1
        torch.testing.assert_close(alone(relay_2k.coords).detach()[0], before[k])  # same init, same function
        outcome = train(alone, relay_2k, cfg, progress=False).members[0]
        assert outcome.final == pytest.approx(together.members[k].final, abs=0.02)


def test_ensemble_members_start_from_their_own_seed_exactly(relay_2k):
    ensemble, _ = build_ensemble(members(("siren2", 5), ("siren2", 6)), SMALL, relay_2k.info)
    alone, _ = build_ensemble(members(("siren2", 6)), SMALL, relay_2k.info)
    for stacked, single in zip(list(ensemble.parameters()), list(alone.parameters())):
        assert torch.equal(stacked[1], single[0])
    assert not torch.equal(ensemble.weights[1][0], ensemble.weights[1][1])


def test_same_seed_and_config_give_identical_numbers(relay_2k):
    results = []
    for _ in range(2):
        ensemble, _ = build_ensemble(members(("siren2", 0)), SMALL, relay_2k.info)
        results.append(train(ensemble, relay_2k, TrainConfig(steps=20, batch_size=512, eval_every=5),
                             progress=False).members[0])
    assert results[0].final == results[1].final and results[0].best == results[1].best


@pytest.mark.slow
def test_fitting_a_real_clip_improves_snr(library):
    task = load_task("audio:arch", library, {"max_samples": 4096})
    ensemble, _ = build_ensemble(members(("siren2", 0)), Architecture(1, 64, 3, 1), task.info)
    initial = task.evaluate(ensemble)[task.metric].item()
    outcome = train(ensemble, task, TrainConfig(steps=120, lr=3e-4), progress=False).members[0]
    assert outcome.status == "ok"
    assert outcome.final > initial + 5.0
    assert outcome.best >= outcome.final and 0 <= outcome.best_step <= 120


def test_minibatch_training_evaluates_on_the_full_signal(camera_32):
    ensemble, _ = build_ensemble(members(("siren", 0)), Architecture(2, 32, 2, 1), camera_32.info)
    initial = camera_32.evaluate(ensemble)["psnr_db"].item()
    outcome = train(ensemble, camera_32, TrainConfig(steps=60, lr=1e-3, batch_size=256, eval_every=20),
                    progress=False).members[0]
    assert outcome.best_step in (0, 20, 40, 60)
    assert outcome.final > initial
    assert outcome.final == pytest.approx(camera_32.evaluate(ensemble)["psnr_db"].item())


def test_a_diverging_member_is_recorded_and_the_others_train_on(relay_2k):
    cfg = TrainConfig(steps=20)
    ensemble, _ = build_ensemble(members(("siren", 0), ("siren2:S0=1e30", 0)), SMALL, relay_2k.info)
    outcome = train(ensemble, relay_2k, cfg, progress=False)
    healthy, diverged = outcome.members
    assert diverged.status == "diverged" and diverged.diverged_step == 0
    alone, _ = build_ensemble(members(("siren", 0)), SMALL, relay_2k.info)
    reference = train(alone, relay_2k, cfg, progress=False).members[0]
    assert healthy.status == "ok" and healthy.final == pytest.approx(reference.final, abs=0.02)


class _SavesUntil:
    """A checkpoint policy that saves after each of the first ``saves`` steps only (so the file holds the
    state at that step), on the real Checkpoint's file format."""

    def __init__(self, path, saves):
        from bench.training.checkpoint import Checkpoint

        self.inner, self.left = Checkpoint(path, every_s=0), saves

    def due(self):
        self.left -= 1
        return self.left >= 0

    def save(self, state):
        self.inner.save(state)

    def load(self):
        return self.inner.load()


@pytest.mark.parametrize("batch_size", [None, 256])
def test_a_run_resumed_from_a_mid_run_checkpoint_equals_the_uninterrupted_run(relay_2k, tmp_path, batch_size):
    from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
    from bench.training import TrainConfig, train
    from bench.training.checkpoint import Checkpoint

    def ensemble():
        specs = [MemberSpec(parse_model(name), seed) for name, seed in (("siren", 0), ("winner", 1))]
        return build_ensemble(specs, Architecture.of(relay_2k.info, 16, 2), relay_2k.info)[0]

    cfg = TrainConfig(steps=40, lr=1e-3, lr_step=5, lr_gamma=0.9, batch_size=batch_size, eval_every=7)
    whole = train(ensemble(), relay_2k, cfg, progress=False)
    path = tmp_path / "run.pt"
    train(ensemble(), relay_2k, cfg, progress=False, checkpoint=_SavesUntil(path, saves=17))  # state at step 17
    assert torch.load(path, weights_only=False)["step"] == 17
    resumed = train(ensemble(), relay_2k, cfg, progress=False, checkpoint=Checkpoint(path, every_s=1e9))
    for a, b in zip(whole.members, resumed.members):
        assert (a.final, a.best, a.best_step, a.curve_steps, a.extra) == (b.final, b.best, b.best_step, b.curve_steps, b.extra)
        assert a.curve == b.curve


def test_an_unusable_checkpoint_is_removed_and_the_run_starts_over(relay_2k, tmp_path):
    from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
    from bench.training import TrainConfig, train
    from bench.training.checkpoint import Checkpoint

    def ensemble(width=16):
        return build_ensemble([MemberSpec(parse_model("siren"), 0)], Architecture.of(relay_2k.info, width, 2),
                              relay_2k.info)[0]

    cfg = TrainConfig(steps=12, lr=1e-3)
    plain = train(ensemble(), relay_2k, cfg, progress=False).members[0]
    other = tmp_path / "other.pt"  # a checkpoint of another network (another width)
    train(ensemble(8), relay_2k, cfg, progress=False, checkpoint=_SavesUntil(other, saves=5))
    for path in (other, tmp_path / "garbage.pt"):
        if path.name == "garbage.pt":
            path.write_bytes(b"not a checkpoint")
        again = train(ensemble(), relay_2k, cfg, progress=False, checkpoint=Checkpoint(path, every_s=1e9)).members[0]
        assert (again.final, again.curve) == (plain.final, plain.curve) and not path.exists()


def test_a_checkpoint_that_cannot_be_saved_is_warned_of_once_and_training_goes_on(relay_2k, tmp_path):
    import warnings

    from bench.core.errors import BenchWarning
    from bench.training.checkpoint import Checkpoint

    def ensemble():
        return build_ensemble(members(("siren", 0)), Architecture.of(relay_2k.info, 16, 2), relay_2k.info)[0]

    cfg = TrainConfig(steps=10, eval_every=3)
    (tmp_path / "file").write_text("not a folder")
    unwritable = Checkpoint(tmp_path / "file" / "run.pt", every_s=0)  # its folder is a file: every save fails
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trained = train(ensemble(), relay_2k, cfg, progress=False, checkpoint=unwritable)
    ours = [w for w in caught if issubclass(w.category, BenchWarning)]
    assert len(ours) == 1 and "cannot save the checkpoint" in str(ours[0].message) and "file/run.pt" in str(ours[0].message)
    whole = train(ensemble(), relay_2k, cfg, progress=False)
    assert trained.members[0].curve == whole.members[0].curve  # trained to the end, as without a checkpoint


def test_best_step_metrics_are_those_of_the_weights_at_the_best_step(camera_32):
    from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
    from bench.training import TrainConfig, train

    def ensemble():
        specs = [MemberSpec(parse_model("siren"), seed) for seed in (0, 1)]
        return build_ensemble(specs, Architecture.of(camera_32.info, 32, 2), camera_32.info)[0]

    lr = 2e-2  # large enough that the PSNR oscillates, so that a member's best step is not its last
    members = train(ensemble(), camera_32, TrainConfig(steps=40, lr=lr), progress=False).members
    k, member = next((k, m) for k, m in enumerate(members) if 0 < m.best_step < 40 and m.best > m.final)
    again = train(ensemble(), camera_32, TrainConfig(steps=member.best_step, lr=lr), progress=False).members[k]
    assert again.final == pytest.approx(member.best, abs=1e-4)
    assert member.best_extra["ssim"] == pytest.approx(again.extra["ssim"], abs=1e-6)
    assert member.best_extra["ssim"] != pytest.approx(member.extra["ssim"], abs=1e-4)
