"""The fast inference kernels compute what the plain PyTorch ops compute."""

import pytest
import torch
import torch.nn.functional as F

from fcodec.models.common import conv1d_time_major, linear, pad_time


@pytest.mark.parametrize("rows", [1, 4, 37])
def test_linear_matches_torch(rows):
    x, w, b = torch.randn(2, rows, 64), torch.randn(48, 64), torch.randn(48)
    with torch.no_grad():
        assert torch.allclose(linear(x, w, b), F.linear(x, w, b), atol=1e-5)
        assert torch.allclose(linear(x, w, b, apply_gelu=True), F.gelu(F.linear(x, w, b)), atol=1e-5)
        assert torch.allclose(linear(x.transpose(0, 1), w, None), F.linear(x.transpose(0, 1), w), atol=1e-5)


def test_linear_keeps_autograd():
    x = torch.randn(3, 8, requires_grad=True)
    w = torch.randn(4, 8, requires_grad=True)
    linear(x, w, None, apply_gelu=True).sum().backward()
    assert x.grad is not None and w.grad is not None


@pytest.mark.parametrize("kernel,stride,time", [(10, 5, 1289), (3, 2, 100), (2, 2, 8), (7, 1, 20), (1, 1, 5)])
def test_conv_as_gemm_matches_conv1d(kernel, stride, time):
    x, conv = torch.randn(2, time, 6), torch.nn.Conv1d(6, 5, kernel, stride)
    expected = conv(x.transpose(1, 2)).transpose(1, 2)
    with torch.no_grad():
        assert torch.allclose(conv1d_time_major(x, conv, stride), expected, atol=1e-5)
        conv.weight.mul_(2)  # the cached GEMM layout follows in-place weight updates
        assert torch.allclose(conv1d_time_major(x, conv, stride), conv(x.transpose(1, 2)).transpose(1, 2), atol=1e-5)
    if kernel > 1:
        with pytest.raises(ValueError, match="needs at least"):
            conv1d_time_major(x[:, : kernel - 1], conv, stride)


def test_pad_time_modes_and_tail():
    x = torch.arange(10.0).view(1, 5, 2)
    padded, tail = pad_time(x, 3, None, "replicate")
    assert padded.shape == (1, 8, 2) and torch.equal(padded[0, :3], x[0, :1].expand(3, 2))
    assert torch.equal(tail, x[:, -3:])
    zeros, _ = pad_time(x, 2, None, "zeros")
    assert torch.equal(zeros[0, :2], torch.zeros(2, 2))
    again, tail2 = pad_time(x, 3, tail, "replicate")
    assert torch.equal(again[:, :3], tail) and torch.equal(tail2, x[:, -3:])
    tail.add_(1)  # a returned tail must not alias the caller's tensors
    assert torch.equal(x, torch.arange(10.0).view(1, 5, 2))


def test_positional_conv_gemm_path_matches_conv():
    from fcodec.models.wavlm import ConvPositionalEmbedding

    module = ConvPositionalEmbedding(dim=32, kernel_size=8, groups=4, causal=True)
    x = torch.randn(2, 20, 32)
    with torch.no_grad():
        padded, _ = pad_time(x, 7, None, "replicate")
        by_gemm = module._grouped_gemm(padded)
        by_linears = module._group_linears(padded)
        by_conv = F.conv1d(padded.transpose(1, 2), module.conv.weight, module.conv.bias, groups=4).transpose(1, 2)
    assert torch.allclose(by_gemm, by_conv, atol=1e-5)
    assert torch.allclose(by_linears, by_conv, atol=1e-5)


@pytest.mark.parametrize(
    "kernel,stride,pad,time", [(10, 5, 9, 1280), (3, 2, 2, 7), (2, 2, 1, 8), (7, 1, 6, 4), (3, 2, 2, 1)]
)
def test_conv_with_left_context_matches_padded_conv(kernel, stride, pad, time):
    from fcodec.models.common import causal_left

    x, conv = torch.randn(2, time, 6), torch.nn.Conv1d(6, 5, kernel, stride)
    for tail, mode in ((None, "replicate"), (None, "zeros"), (torch.randn(2, pad, 6), "replicate")):
        left, new_tail = causal_left(x, pad, tail, mode)
        padded, expected_tail = pad_time(x, pad, tail, mode)
        with torch.no_grad():
            expected = conv(padded.transpose(1, 2)).transpose(1, 2)
            assert torch.allclose(conv1d_time_major(x, conv, stride, left), expected, atol=1e-5)
        assert torch.equal(new_tail, expected_tail)


@pytest.mark.parametrize("kernel,time,batch", [(7, 4, 1), (14, 1, 2), (33, 4, 3), (5, 80, 1)])
@pytest.mark.parametrize("fast", ["0", "1"])
def test_depthwise_conv_matches_the_module(kernel, time, batch, fast, monkeypatch):
    from fcodec.models.common import depthwise_conv

    monkeypatch.setenv("FCODEC_FAST_KERNELS", fast)  # the windows' matrix-vector product, or the module
    conv = torch.nn.Conv1d(16, 16, kernel, groups=16)
    x = torch.randn(batch, 16, time + kernel - 1)
    with torch.no_grad():
        expected = conv(x)
        assert torch.allclose(depthwise_conv(conv, x), expected, atol=1e-5)
        # a time-major tensor seen channels-first (ConvNeXt's input) gives the same
        assert torch.allclose(depthwise_conv(conv, x.transpose(1, 2).contiguous().transpose(1, 2)), expected, atol=1e-5)
    out = depthwise_conv(conv, x)  # training: the module runs, gradients flow
    out.sum().backward()
    assert conv.weight.grad is not None


@pytest.mark.parametrize("fast", ["1", "0"])
def test_a_codec_that_ran_inference_can_be_copied_and_pickled(monkeypatch, fast):
    """The re-laid-out weights cached on modules (oneDNN's reordered ones are opaque tensors) are not copied: the
    copy computes them afresh and gives the same output (what training and growth do with a streamed model)."""
    import copy
    import io

    from fcodec.infer.streaming import encode_step
    from fcodec.models import FocalCodec, configs
    from fcodec.models.testing import speechlike

    monkeypatch.setenv("FCODEC_FAST_KERNELS", fast)
    torch.manual_seed(0)
    model = FocalCodec(**configs.tiny_causal_config()).eval()
    chunk = speechlike(1, model.chunk_size)
    with torch.no_grad():
        toks, _ = encode_step(model, chunk)  # streaming-sized calls: reordered weights where fast
        feats = model.sig_to_feats(chunk)
    twin = copy.deepcopy(model)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    for other in (twin, loaded):
        with torch.no_grad():
            assert torch.equal(encode_step(other, chunk)[0], toks)
            assert torch.equal(other.sig_to_feats(chunk), feats)
