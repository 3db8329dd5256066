"""`firstnet check`: the lecture's homework -- derive the gradients of W1, W2, W3 -- checked, and
the mistake named (docs/homework.md)."""
