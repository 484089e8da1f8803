"""The state-dict tables of the architecture spec (sections 3.2, 4.6, 6, 10.3), written out independently of
the implementation: ``expected_state_dict_shapes(config)`` -> ``{key: shape}`` for a FocalCodec config."""

from typing import Dict, Tuple

Shapes = Dict[str, Tuple[int, ...]]

WAVLM_DEFAULTS = dict(
    hidden_dims=[512] * 7,
    kernel_sizes=[10, 3, 3, 3, 3, 2, 2],
    num_layers=6,
    dim=1024,
    ffn_dim=4096,
    num_heads=16,
    num_buckets=320,
    conv_pos=128,
    conv_pos_groups=16,
)
FOCAL_DEFAULTS = dict(
    hidden_dims=[1024, 1024, 1024],
    focal_window=14,
    focal_level=2,
    focal_factor=4,
    causal=False,
    window_size=512,
    use_layerscale=False,
    use_post_norm=False,
)
ENC_DEFAULTS = dict(FOCAL_DEFAULTS, input_dim=1024, output_dim=12, downscale_factors=[1, 1, 1])
DEC_DEFAULTS = dict(
    FOCAL_DEFAULTS, input_dim=12, output_dim=1024, upscale_factors=[1, 1, 1], last_window_size=512, lookahead_size=3
)
WAVENEXT_DEFAULTS = dict(input_dim=1024, num_layers=8, dim=1024, ffn_dim=2048, kernel_size=7, hop_length=480)
VOCOS_DEFAULTS = dict(input_dim=1024, num_layers=8, dim=512, ffn_dim=1536, kernel_size=7, n_fft=1024)


def _wavlm(c: dict) -> Shapes:
    c = {**WAVLM_DEFAULTS, **c}
    out: Shapes = {}
    prev = 1
    for i, (h, k) in enumerate(zip(c["hidden_dims"], c["kernel_sizes"])):
        out[f"feature_extractor.layers.{i}.conv.weight"] = (h, prev, k)
        out[f"feature_extractor.layers.{i}.norm.weight"] = (h,)
        out[f"feature_extractor.layers.{i}.norm.bias"] = (h,)
        prev = h
    dim, heads, ffn = c["dim"], c["num_heads"], c["ffn_dim"]
    out.update(
        {
            "norm.weight": (prev,),
            "norm.bias": (prev,),
            "feature_proj.weight": (dim, prev),
            "feature_proj.bias": (dim,),
            "encoder.positional_embedding.conv.weight": (dim, dim // c["conv_pos_groups"], c["conv_pos"]),
            "encoder.positional_embedding.conv.bias": (dim,),
            "encoder.relative_embedding.weight": (c["num_buckets"], heads),
        }
    )
    for l in range(c["num_layers"]):
        p = f"encoder.layers.{l}."
        out.update(
            {
                p + "attention_norm.weight": (dim,),
                p + "attention_norm.bias": (dim,),
                p + "attention.gru_rel_pos_const": (1, heads, 1, 1),
                p + "attention.qkv_proj.weight": (3 * dim, dim),
                p + "attention.qkv_proj.bias": (3 * dim,),
                p + "attention.out_proj.weight": (dim, dim),
                p + "attention.out_proj.bias": (dim,),
                p + "attention.gru_rel_pos_linear.weight": (8, dim // heads),
                p + "attention.gru_rel_pos_linear.bias": (8,),
                p + "feed_forward_norm.weight": (dim,),
                p + "feed_forward_norm.bias": (dim,),
                p + "feed_forward.in_proj.weight": (ffn, dim),
                p + "feed_forward.in_proj.bias": (ffn,),
                p + "feed_forward.out_proj.weight": (dim, ffn),
                p + "feed_forward.out_proj.bias": (dim,),
            }
        )
    return out


def _focal_block(p: str, c: int, cfg: dict, window: int) -> Shapes:
    L, w, f = cfg["focal_level"], cfg["focal_window"], cfg["focal_factor"]
    norm = {"alpha": (1,)} if cfg["causal"] else {"weight": (c,), "bias": (c,)}
    out: Shapes = {}
    for name in ("modulation_norm", "feed_forward_norm"):
        out.update({f"{p}{name}.{k}": v for k, v in norm.items()})
    out[p + "modulation.in_proj.weight"] = (2 * c + L + 1, c)
    out[p + "modulation.in_proj.bias"] = (2 * c + L + 1,)
    for l in range(L):
        out[f"{p}modulation.layers.{l}.0.weight"] = (c, 1, w + f * l)
        out[f"{p}modulation.layers.{l}.0.bias"] = (c,)
    if cfg["causal"]:
        out[f"{p}modulation.layers.{L}.0.weight"] = (c, 1, window)
        out[f"{p}modulation.layers.{L}.0.bias"] = (c,)
    out.update(
        {
            p + "modulation.context_proj.weight": (c, c, 1),
            p + "modulation.context_proj.bias": (c,),
            p + "modulation.out_proj.weight": (c, c),
            p + "modulation.out_proj.bias": (c,),
            p + "feed_forward.in_proj.weight": (4 * c, c),
            p + "feed_forward.in_proj.bias": (4 * c,),
            p + "feed_forward.out_proj.weight": (c, 4 * c),
            p + "feed_forward.out_proj.bias": (c,),
        }
    )
    if cfg["use_post_norm"]:
        out.update({f"{p}modulation.norm.{k}": v for k, v in norm.items()})
    if cfg["use_layerscale"]:
        out.update({p + "modulation_gamma": (c,), p + "feed_forward_gamma": (c,)})
    return out


def _compressor(cfg: dict) -> Shapes:
    cfg = {**ENC_DEFAULTS, **cfg}
    out: Shapes = {}
    prev = cfg["input_dim"]
    for i, (c, s) in enumerate(zip(cfg["hidden_dims"], cfg["downscale_factors"])):
        p = f"layers.{i}."
        out.update(
            {
                p + "downscale.downscale.weight": (c, prev, s),
                p + "downscale.downscale.bias": (c,),
                p + "downscale.activation.alpha": (c, 1),
            }
        )
        out.update(_focal_block(p + "focal_block.", c, cfg, cfg["window_size"]))
        prev = c
    out.update({"out_proj.weight": (cfg["output_dim"], prev), "out_proj.bias": (cfg["output_dim"],)})
    return out


def _decompressor(cfg: dict) -> Shapes:
    cfg = {**DEC_DEFAULTS, **cfg}
    d = list(cfg["hidden_dims"]) + [cfg["output_dim"]]
    n = len(cfg["upscale_factors"])
    out: Shapes = {"in_proj.weight": (d[0], cfg["input_dim"]), "in_proj.bias": (d[0],)}
    for i, u in enumerate(cfg["upscale_factors"]):
        p = f"layers.{i}."
        window = cfg["window_size"] if i < n - 1 else cfg["last_window_size"]
        out.update(_focal_block(p + "focal_block.", d[i], cfg, window))
        out.update(
            {
                p + "upscale.activation.alpha": (d[i], 1),
                p + "upscale.upscale.weight": (d[i], d[i + 1], u),
                p + "upscale.upscale.bias": (d[i + 1],),
            }
        )
    if cfg["causal"] and cfg["lookahead_size"] > 0:
        nc = (1 + cfg["lookahead_size"]) * cfg["output_dim"]
        out.update(
            {
                "refiner.in_proj.weight": (nc, nc),
                "refiner.in_proj.bias": (nc,),
                "refiner.out_proj.weight": (nc, nc),
                "refiner.out_proj.bias": (nc,),
            }
        )
    return out


def _decoder(name: str, cfg: dict) -> Shapes:
    cfg = {**(WAVENEXT_DEFAULTS if name == "WaveNeXt" else VOCOS_DEFAULTS), **cfg}
    dim, k, ffn = cfg["dim"], cfg["kernel_size"], cfg["ffn_dim"]
    p = "backbone."
    out: Shapes = {
        p + "embedding.weight": (dim, cfg["input_dim"], k),
        p + "embedding.bias": (dim,),
        p + "input_norm.weight": (dim,),
        p + "input_norm.bias": (dim,),
        p + "output_norm.weight": (dim,),
        p + "output_norm.bias": (dim,),
    }
    for j in range(cfg["num_layers"]):
        q = f"{p}layers.{j}."
        out.update(
            {
                q + "gamma": (dim,),
                q + "dwconv.weight": (dim, 1, k),
                q + "dwconv.bias": (dim,),
                q + "norm.weight": (dim,),
                q + "norm.bias": (dim,),
                q + "pwconv1.weight": (ffn, dim),
                q + "pwconv1.bias": (ffn,),
                q + "pwconv2.weight": (dim, ffn),
                q + "pwconv2.bias": (dim,),
            }
        )
    width = cfg["hop_length"] if name == "WaveNeXt" else cfg["n_fft"] + 2
    out.update({"head.proj.weight": (width, dim), "head.proj.bias": (width,)})
    return out


def expected_state_dict_shapes(config: dict) -> Shapes:
    parts = {
        "encoder": _wavlm(config.get("encoder_config", {})),
        "compressor": _compressor(config.get("compressor_config", {})),
        "decompressor": _decompressor(config.get("decompressor_config", {})),
        "decoder": _decoder(config.get("decoder_name", "WaveNeXt"), config.get("decoder_config", {})),
    }
    return {f"{part}.{k}": v for part, table in parts.items() for k, v in table.items()}
