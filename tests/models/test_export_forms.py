"""The fixed-shape export forms of the layers (fcodec.models.export_forms) compute what the layers compute."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fcodec.models import export_forms as forms

torch.manual_seed(0)


@pytest.mark.parametrize("kernel, out_time", [(512, 4), (7, 4), (1, 3)])
def test_the_depthwise_band_product_is_the_depthwise_conv(kernel, out_time):
    conv = nn.Conv1d(8, 8, kernel, groups=8)
    x = torch.randn(3, 8, kernel - 1 + out_time)
    with forms.fixed_shape_export({}):
        y = forms.depthwise_conv_matmul(conv, x)
    torch.testing.assert_close(y, conv(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel, stride, left", [(7, 1, 6), (2, 2, 1), (1, 1, 0), (3, 2, 0)])
def test_the_window_product_is_the_dense_conv(kernel, stride, left):
    conv = nn.Conv1d(6, 5, kernel, stride=stride)
    x = torch.randn(2, 9, 6)  # time-major
    pad = torch.randn(2, left, 6) if left else None
    padded = x if pad is None else torch.cat([pad, x], 1)
    with forms.fixed_shape_export({}):
        y = forms.conv_matmul(x, conv, stride, pad)
    torch.testing.assert_close(y, conv(padded.transpose(1, 2)).transpose(1, 2), rtol=1e-5, atol=1e-5)


def test_the_group_products_are_the_grouped_conv():
    conv = nn.Conv1d(16, 16, 5, groups=4)
    x = torch.randn(2, 8, 16)  # time-major, 4 outputs
    with forms.fixed_shape_export({}):
        y = forms.grouped_conv_matmuls(conv, x)
    torch.testing.assert_close(y, conv(x.transpose(1, 2)).transpose(1, 2), rtol=1e-5, atol=1e-5)


def test_pointwise_and_stacked_transposed_convs_are_the_layers():
    pointwise = nn.Conv1d(6, 5, 1)
    x = torch.randn(2, 6, 4)  # channels-first
    up = nn.ConvTranspose1d(6, 5, 3, 3)
    with forms.fixed_shape_export({}):
        torch.testing.assert_close(forms.pointwise_linear(pointwise, x), pointwise(x).transpose(1, 2))
        y = forms.stacked_transposed_conv(up, x.transpose(1, 2))
    torch.testing.assert_close(y, up(x).transpose(1, 2), rtol=1e-5, atol=1e-5)


def test_a_re_laid_weight_is_computed_once_per_export_and_only_inside_one():
    conv = nn.Conv1d(4, 4, 3, groups=4)
    x = torch.randn(1, 4, 6)
    assert not forms.exporting_fixed_shapes()
    weights = {}
    with forms.fixed_shape_export(weights):
        assert forms.exporting_fixed_shapes()
        first = forms.depthwise_conv_matmul(conv, x)
        (band,) = weights.values()
        with torch.no_grad():
            conv.weight.zero_()  # the export's eager run and its trace see one model: the weight is not re-read
        torch.testing.assert_close(forms.depthwise_conv_matmul(conv, x), first)
    assert list(weights.values()) == [band] and not forms.exporting_fixed_shapes()
    assert F.conv1d(x, conv.weight, conv.bias, groups=4).abs().max() == conv.bias.abs().max()
