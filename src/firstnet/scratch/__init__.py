"""The lecture's homework: the 784 -> H -> H -> 10 MLP in NumPy only, with hand-derived gradients.

`mlp` holds the forward pass, the softmax cross-entropy and the backward pass (derived in
docs/gradients.md); `train` trains it on MNIST; `gradcheck` checks its gradients by finite
differences. Nothing here imports torch: `firstnet.scratch.parity`, which compares against torch
autograd and the torch MLP, is the one module that does, and it is imported only on request.
"""

from firstnet.scratch.fit import SGD, ScratchTrainer, evaluate
from firstnet.scratch.mlp import (
    PARAM_NAMES,
    TORCH_NAMES,
    Cache,
    Params,
    backward,
    forward,
    from_torch_names,
    init_params,
    loss_and_gradients,
    normalise,
    predict_logits,
    softmax_cross_entropy,
    to_torch_names,
)

__all__ = [
    "PARAM_NAMES",
    "TORCH_NAMES",
    "SGD",
    "Cache",
    "Params",
    "ScratchTrainer",
    "backward",
    "evaluate",
    "forward",
    "from_torch_names",
    "init_params",
    "loss_and_gradients",
    "normalise",
    "predict_logits",
    "softmax_cross_entropy",
    "to_torch_names",
]
