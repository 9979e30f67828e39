"""Attention blocks (`attention=se|cbam|mhsa`) and what they added to a model.

Squeeze-and-excitation and CBAM are channel (and spatial) attention inside the conv blocks of
`small_cnn`; `mhsa` is the practitioner article's transformer block (self-attention, residual,
layer normalization) over the positions of a feature map. `ablate.models` places them; every
layer added is named `attention_*`, so `attention_summary` counts them from the model alone.

References:
    - Hu, Shen, Sun, 2018. [Squeeze-and-Excitation Networks](https://arxiv.org/abs/1709.01507).
    - Woo, Park, Lee, Kweon, 2018. [CBAM: Convolutional Block Attention Module](
      https://arxiv.org/abs/1807.06521).
    - Vaswani et al., 2017. [Attention Is All You Need](https://arxiv.org/abs/1706.03762).
"""

import dataclasses

import keras
from omegaconf import DictConfig

ATTENTION_PREFIX = "attention_"


@dataclasses.dataclass(frozen=True)
class AttentionSummary:
    """What `attention=` added to a model, logged as `attention_tokens`, `attention_params`.

    Attributes:
        tokens: the positions the `mhsa` block attends over; 0 without that block.
        params: the parameters of every `attention_*` layer; 0 with `attention=off`.
    """

    tokens: int
    params: int

    def metrics(self) -> dict[str, float]:
        """The summary as final metrics of a run."""
        return {"attention_tokens": float(self.tokens), "attention_params": float(self.params)}


def attention_summary(model: keras.Model) -> AttentionSummary:
    """Counts the tokens and parameters that `attention=` added to a model of `build_model`."""
    layers = [layer for layer in model.layers if layer.name.startswith(ATTENTION_PREFIX)]
    tokens = [layer.output.shape[1] for layer in layers if layer.name == "attention_tokens"]
    return AttentionSummary(
        tokens=int(sum(tokens)), params=int(sum(layer.count_params() for layer in layers))
    )


def squeeze_excite(x, reduction: int, prefix: str):
    """Squeeze-and-excitation: rescales each channel by a gate computed from all channels.

    `x * sigmoid(W2 relu(W1 avgpool(x)))` with `max(1, channels // reduction)` hidden units.

    Deviations: the Dense layers have biases (the paper's equations have none); it follows
    a plain conv layer, where the paper puts it on a residual or Inception branch.

    References:
        Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018.
    """
    channels = x.shape[-1]
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}_squeeze")(x)
    gate = keras.layers.Dense(
        max(1, channels // reduction), activation="relu", name=f"{prefix}_reduce"
    )(gate)
    gate = keras.layers.Dense(channels, activation="sigmoid", name=f"{prefix}_excite")(gate)
    return keras.layers.Multiply(name=f"{prefix}_scale")([x, gate])


def cbam(x, reduction: int, prefix: str):
    """CBAM: channel attention, then spatial attention, each a multiplicative gate.

    Channel: `sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`, one MLP with
    `max(1, channels // reduction)` hidden units shared by both. Spatial: `sigmoid(conv7x7(
    [mean over channels; max over channels]))` of the channel-refined map.

    Deviations: the spatial convolution has a bias and no BatchNormalization (the official
    code adds one; the paper's equation has none); it follows a plain conv layer, where the
    paper puts it on a residual branch.

    References:
        Woo, Park, Lee, Kweon, "CBAM: Convolutional Block Attention Module", ECCV 2018.
    """
    channels = x.shape[-1]
    hidden = keras.layers.Dense(
        max(1, channels // reduction), activation="relu", name=f"{prefix}_mlp_hidden"
    )
    output = keras.layers.Dense(channels, name=f"{prefix}_mlp_output")
    average = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}_avg_pool")(x)
    maximum = keras.layers.GlobalMaxPooling2D(keepdims=True, name=f"{prefix}_max_pool")(x)
    logits = keras.layers.Add(name=f"{prefix}_channel_sum")(
        [output(hidden(average)), output(hidden(maximum))]
    )
    gate = keras.layers.Activation("sigmoid", name=f"{prefix}_channel_gate")(logits)
    x = keras.layers.Multiply(name=f"{prefix}_channel_scale")([x, gate])
    pooled = keras.layers.Concatenate(name=f"{prefix}_channel_pool")(
        [keras.ops.mean(x, axis=-1, keepdims=True), keras.ops.max(x, axis=-1, keepdims=True)]
    )
    gate = keras.layers.Conv2D(
        1, 7, padding="same", activation="sigmoid", name=f"{prefix}_spatial_gate"
    )(pooled)
    return keras.layers.Multiply(name=f"{prefix}_spatial_scale")([x, gate])


def transformer_block(x, attention_cfg: DictConfig):
    """The article's transformer block on a `(h, w, c)` feature map; returns the same shape.

    The `h * w` positions become tokens of width `c`; then
    `LayerNormalization(epsilon=1e-6)(tokens + MultiHeadAttention(tokens, tokens))`, reshaped
    back so that the layers after it are unchanged.

    Deviations from the Transformer's encoder layer: one attention sublayer without the
    position-wise feed-forward sublayer, and no positional encoding (positions differ only
    through the convolutional features), as the article writes it.

    References:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    """
    height, width, channels = x.shape[1:]
    tokens = keras.layers.Reshape((height * width, channels), name="attention_tokens")(x)
    attended = keras.layers.MultiHeadAttention(
        num_heads=attention_cfg.heads, key_dim=attention_cfg.key_dim, name="attention_mhsa"
    )(tokens, tokens)
    x = keras.layers.Add(name="attention_residual")([tokens, attended])
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="attention_norm")(x)
    return keras.layers.Reshape((height, width, channels), name="attention_map")(x)
