"""firstnet: the lecture "Your First Deep Network" as fast, tested software on MNIST."""

__version__ = "0.1.0"
