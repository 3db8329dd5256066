"""Constants shared by the torch models and the NumPy MLP. No torch here, so `firstnet.scratch` can use them."""

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # of the training pixels on [0, 1]
INPUT_DIM, NUM_CLASSES = 28 * 28, 10
INITS = ("kaiming", "xavier", "default")
