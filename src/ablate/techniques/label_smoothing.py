"""Label smoothing (`smoothing=`): the cross-entropy against softened one-hot targets.

Each target moves from 1 to `1 - smoothing + smoothing / K` and from 0 to `smoothing / K` over
K classes, which discourages over-confident logits; the main measured effect is on calibration.
Keras' `CategoricalCrossentropy(label_smoothing=)` does exactly this, so it is used as is.

References:
    - Szegedy et al., 2016. [Rethinking the Inception Architecture for Computer Vision](
      https://arxiv.org/abs/1512.00567). CVPR.
    - Müller et al., 2019. [When Does Label Smoothing Help?](https://arxiv.org/abs/1906.02629).
      NeurIPS.
"""

import keras


def build_loss(smoothing: float) -> keras.losses.Loss:
    """Cross-entropy on one-hot labels with `label_smoothing=smoothing`.

    Labels are one-hot for every dataset, binary ones included: with two classes, softmax
    cross-entropy smoothed by e equals the binary cross-entropy smoothed by e (both move the
    target to 1 - e/2 and e/2), so one loss serves both.

    Args:
        smoothing: the `smoothing` knob, in [0, 1).

    Returns:
        A `keras.losses.CategoricalCrossentropy`.
    """
    return keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
