"""Adam and StepLR with a learning rate per ensemble member, so that members of different learning-rate
settings share one ensemble. Each member's update is the one ``torch.optim.Adam`` (its single-tensor path,
the CPU default) and ``StepLR`` give a lone run of that member: the moments are elementwise, and the final
update is ``addcdiv_``'s operations with one step size per member (tested bit for bit against torch).
torch's Adam takes one learning rate per parameter group, and a stacked [K, ...] parameter is one tensor,
so it cannot be given K of them; hence this optimizer."""

from __future__ import annotations

import torch
from torch import Tensor


class MemberAdam(torch.optim.Optimizer):
    """Adam (betas 0.9, 0.999, eps 1e-8, no weight decay: ``torch.optim.Adam``'s defaults, which the training
    loop uses) on parameters stacked over K members [K, ...], member k at learning rate ``lrs[k]``."""

    def __init__(self, params, lrs: list[float], betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, {"lrs": list(lrs), "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                self._update(param, state, group["lrs"], beta1, beta2, group["eps"])

    @staticmethod
    def _update(param: Tensor, state: dict, lrs: list[float], beta1: float, beta2: float, eps: float) -> None:
        """torch.optim.adam._single_tensor_adam's steps for one parameter, the step size per member."""
        grad, exp_avg, exp_avg_sq = param.grad, state["exp_avg"], state["exp_avg_sq"]
        if torch.is_complex(param):
            grad, exp_avg, exp_avg_sq, param = (torch.view_as_real(t) for t in (grad, exp_avg, exp_avg_sq, param))
        state["step"] += 1
        step = state["step"].item()
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        # addcdiv_(exp_avg, denom, value=-step) computes param + (step * exp_avg) / denom in the parameter's
        # dtype, the step rounded to it first: the same operations, one step size per member
        steps = torch.tensor([-(lr / bias_correction1) for lr in lrs], dtype=param.dtype, device=param.device)
        param.add_(steps.view(-1, *[1] * (param.dim() - 1)) * exp_avg / denom)


class MemberStepLR:
    """StepLR per member on a ``MemberAdam``: member k's rate times ``gammas[k]`` every ``steps[k]`` steps
    (None: constant), as ``torch.optim.lr_scheduler.StepLR`` changes a lone run's rate (after the optimizer
    step, in float64)."""

    def __init__(self, optimizer: MemberAdam, steps: list[int | None], gammas: list[float]):
        self.optimizer, self.steps, self.gammas, self.last_step = optimizer, steps, gammas, 0

    def step(self) -> None:
        self.last_step += 1
        for group in self.optimizer.param_groups:
            group["lrs"] = [lr * gamma if every and self.last_step % every == 0 else lr
                            for lr, every, gamma in zip(group["lrs"], self.steps, self.gammas)]

    def state_dict(self) -> dict:
        return {"last_step": self.last_step}

    def load_state_dict(self, state: dict) -> None:
        self.last_step = state["last_step"]
