"""Algorithms, one module per family, pure NumPy, batched over replicas: the iterate of R independent
runs is an array of shape (R, d) (or (R, n, d) with n workers). Update lines read like the paper's."""
