"""What the report says around its numbers: which slide each section answers, and under each figure
what to see in it (Markdown, with the figures named where they stand and the mathematics in LaTeX,
rendered by `report_page`)."""

from __future__ import annotations

# The lecture's slides, in its order, and the sections of the report that answer them.
SLIDES = [
    ("Gradient: Intuition (3-D loss surface, gradient field on a contour plot)", ["landscape"]),
    ("MNIST: what is D? how many classes? linearly separable?", ["data"]),
    ("A linear model reaches 94% accuracy!", ["linear"]),
    ("Why a deep network? Features extracted by hand?", ["experiment-handmade-features"]),
    ("A deep network reaches 99.5% accuracy!", ["deep"]),
    ("3-layer MLP with ReLU activations; what training loss?", ["mlp"]),
    ("Why 2 hidden layers?", ["experiment-depth-width"]),
    ("Why do we need a ReLU? What else besides a ReLU?",
     ["experiment-no-activation", "activations"]),
    ("Common activation functions: problems for some of them?", ["experiment-activations"]),
    ("Training: same old gradient descent; at home, derive the gradient of W1, W2, W3",
     ["gradients"]),
    ("Action! The MLP's decision boundary beside its training progress", ["boundary"]),
    ("Open discussion: can a deep network solve anything?", ["experiment-universal"]),
    ("Open discussion: how to search for an architecture?", ["experiment-search"]),
]  # fmt: skip

TRAIN_ABOVE_TEST = (
    "Why can test accuracy lie above training accuracy? The training figure is the running mean "
    "over the epoch's batches, taken while the weights are still improving; the test figure is "
    "measured once the epoch is over."
)
SHIFTS = (
    " The CNN's training images are also shifted by up to two pixels, harder than the clean test "
    "images, and its test answer averages five 1-pixel shifts (test-time augmentation)."
)

NOTES = {
    "data": """
![Sample digits](digits.png)

What to see: 28 x 28 gray pixels, so D = 784; ten classes, about 6,000 training images each.

![The proof that MNIST is not linearly separable](separable.png)

What to see: the bottom row shows one picture twice, once as a weighted average of the 7s above
it and once of the 9s. A line that put every 7 on one side and every 9 on the other would put that
average on both sides, so there is none: MNIST is not linearly separable. A linear model that fits
93% of the training set would not prove it; it may only have stopped early.
""",
    "linear": f"""
![Training curves of the linear model](linear-curves.png)

What to see: each epoch gains less than the one before, and the training accuracy ends near 93%: ten
templates, one per digit, cannot fit the set. {TRAIN_ABOVE_TEST}
""",
    "mlp": f"""
![Training curves of the MLP](mlp-curves.png)

What to see: two hidden layers of ReLUs pass the linear model within the first epoch and keep
improving; the loss falls over several factors where the linear model's stalls. {TRAIN_ABOVE_TEST}
""",
    "gradients": r"""
The network and its loss, for a batch of $B$ images $X$ ($B \times 784$), weights stored as in
`torch.nn.Linear` (one row per output unit), $f$ the activation, $T$ the one-hot targets:

$$Z_1 = X W_1^\top + b_1,\quad A_1 = f(Z_1),\quad Z_2 = A_1 W_2^\top + b_2,\quad A_2 = f(Z_2)$$

$$Z_3 = A_2 W_3^\top + b_3,\quad P = \operatorname{softmax}(Z_3),\quad
L = -\frac{1}{B}\sum_{n=1}^{B}\sum_{k=1}^{10} T_{nk}\log P_{nk}$$

The homework, derived in docs/gradients.md and computed by `firstnet.scratch.mlp.backward` line for
line (a bias's gradient is the column sum of the same matrix as its weight's):

$$\frac{\partial L}{\partial Z_3} = \frac{P - T}{B},\qquad
\frac{\partial L}{\partial W_3} = \Big(\frac{\partial L}{\partial Z_3}\Big)^{\!\top} A_2$$

$$\frac{\partial L}{\partial Z_2} = \Big(\frac{\partial L}{\partial Z_3} W_3\Big) \odot f'(Z_2),
\qquad \frac{\partial L}{\partial W_2} = \Big(\frac{\partial L}{\partial Z_2}\Big)^{\!\top} A_1$$

$$\frac{\partial L}{\partial Z_1} = \Big(\frac{\partial L}{\partial Z_2} W_2\Big) \odot f'(Z_1),
\qquad \frac{\partial L}{\partial W_1} = \Big(\frac{\partial L}{\partial Z_1}\Big)^{\!\top} X$$

For the ReLU, $f'(z)$ is 1 where $z > 0$ and 0 elsewhere. The tables check every one of them,
for every activation of the registry: against finite differences (relative errors of $10^{-7}$
and below are the differences' own rounding) and against torch's autograd.
""",
    "activations": """
![Sigmoid-like activations](sigmoid-like.png)

What to see: sigmoid and tanh saturate beyond |x| of about 4.6 and 3, where the derivative (right)
is all but 0 and a unit stops learning; sigmoid's derivative never exceeds 0.25, so ten sigmoid
layers shrink a gradient by at least 4^10.

![ReLU family](relu-family.png)

What to see: ReLU's derivative is exactly 0 for every negative input (a unit whose input stays
negative is dead for good) and it is unbounded above; the leaky variants, ELU and SELU keep a
gradient on the left.

![Smooth modern activations](smooth-modern.png)

What to see: GELU, SiLU and Mish are ReLU made smooth: a small dip below 0 and a derivative that
changes gradually instead of jumping at 0.
""",
    "landscape": """
![Loss surface and gradient field](loss-surface.png)

What to see: the arrows, the negative gradient, are perpendicular to the contours and longest where
the surface is steep; from the same start the small step crawls, the good one slides into the
valley, and the large one jumps from wall to wall instead of settling at its floor.
""",
    "boundary": """
![The decision boundary while the MLP trains](boundary.gif)

What to see: the linear model (top) can only cut the spirals with a straight boundary and stays near
chance; the MLP (bottom) bends its boundary around the arms step after step, its loss falling and
its accuracy rising beside it.
""",
    "deep": f"""
![Training curves of the CNN](cnn-curves.png)

What to see: five 3x3 convolution layers with batch norm pass 99% within the first epoch and end
above 99.5%. {TRAIN_ABOVE_TEST}{SHIFTS}
""",
}
