"""Reference for linear separability's SVM: scikit-learn's LinearSVC (the official LS metric
calls `sklearn.svm.LinearSVC()`) on latents numpy draws from a seed, with noisy labels from a
hyperplane. stylegan-rs redraws the same latents (its RandomState is numpy's) and compares its
solver's weights and predictions with these.

    python tools/reference/linear_svc_ref.py OUT.json
"""
import json
import sys

import numpy as np
from sklearn.svm import LinearSVC

rng = np.random.RandomState(5)
n, d = 800, 12
x = rng.randn(n, d)
normal = rng.randn(d)
noise = rng.randn(n)
y = (x @ normal + 0.3 + 0.8 * noise > 0).astype(int)
# The official call is LinearSVC() (C=1, squared hinge, intercept_scaling=1); dual=True as in
# the scikit-learn of its time, and converged tightly so the optimum itself is compared.
svm = LinearSVC(dual=True, tol=1e-8, max_iter=1_000_000).fit(x.astype(np.float32), y)
out = {
    "n": n, "d": d, "seed": 5, "noise_scale": 0.8, "offset": 0.3,
    "sklearn": __import__("sklearn").__version__,
    "labels": y.tolist(),
    "coef": svm.coef_[0].tolist(),
    "intercept": float(svm.intercept_[0]),
    "predictions": svm.predict(x.astype(np.float32)).tolist(),
}
with open(sys.argv[1], "w") as fh:
    json.dump(out, fh)
