"""Windowed-op geometry shared by CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D and MAX_POOL_2D (TFLite's rules).

TFLite (ComputeOutSize / ComputePaddingHeightWidth) computes, per spatial axis, with the effective filter size
`eff = (filter - 1) * dilation + 1`:

    SAME:  out = ceil(in / stride)                  VALID: out = floor((in - eff) / stride) + 1
    pad_before = max(((out - 1) * stride + eff - in) // 2, 0)

The window of output position `o` starts at input index `o * stride - pad_before`; taps that fall outside the
input are skipped (the kernels never read padding, so the extra padding after the input is implicit).
"""

from __future__ import annotations

import numpy as np

PADDINGS = ("SAME", "VALID")


def positive_int_attrs(c, keys: tuple[str, ...]) -> dict[str, int]:
    """The named attributes of OpCall `c` as ints; IRError naming the first one that is not an integer >= 1."""
    out = {}
    for k in keys:
        v = c.attrs[k]
        if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
            raise c.fail(f"attribute {k}={v!r} must be an integer >= 1")
        out[k] = int(v)
    return out


def out_size(padding: str, size: int, filt: int, stride: int, dilation: int = 1) -> int:
    """Output length along one spatial axis (may be <= 0 for a VALID window larger than the input)."""
    eff = (filt - 1) * dilation + 1
    if padding == "SAME":
        return (size + stride - 1) // stride
    if padding == "VALID":
        return (size - eff) // stride + 1
    raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")


def pad_before(size: int, filt: int, stride: int, dilation: int, out: int) -> int:
    """Padding in front of the input along one axis (0 for VALID)."""
    eff = (filt - 1) * dilation + 1
    return max(((out - 1) * stride + eff - size) // 2, 0)


def window_geometry(padding: str, in_hw: tuple[int, int], filt_hw: tuple[int, int], stride_hw: tuple[int, int],
                    dilation_hw: tuple[int, int] = (1, 1)) -> tuple[tuple[int, int], tuple[int, int]]:
    """((out_h, out_w), (pad_top, pad_left)) of a 2-D windowed op."""
    outs, pads = [], []
    for size, f, s, d in zip(in_hw, filt_hw, stride_hw, dilation_hw, strict=True):
        o = out_size(padding, size, f, s, d)
        outs.append(o)
        pads.append(pad_before(size, f, s, d, o))
    return (outs[0], outs[1]), (pads[0], pads[1])


def padded_nhwc(x: np.ndarray, out_hw: tuple[int, int], pads: tuple[int, int], filt_hw: tuple[int, int],
                stride_hw: tuple[int, int], dilation_hw: tuple[int, int], fill) -> np.ndarray:
    """`x` [N,H,W,C] padded with `fill` so that every tap of every output window lies inside the array.

    Tap (ky, kx) of output (oy, ox) is then element [oy*sh + ky*dh, ox*sw + kx*dw] of the result.
    """
    n, h, w, c = x.shape
    need = [(o - 1) * s + (f - 1) * d + 1 for o, s, f, d in zip(out_hw, stride_hw, filt_hw, dilation_hw, strict=True)]
    after = [max(nd - p - size, 0) for nd, p, size in zip(need, pads, (h, w), strict=True)]
    xp = np.full((n, pads[0] + h + after[0], pads[1] + w + after[1], c), fill, x.dtype)
    xp[:, pads[0] : pads[0] + h, pads[1] : pads[1] + w, :] = x
    return xp


def tap(xp: np.ndarray, ky: int, kx: int, out_hw: tuple[int, int], stride_hw: tuple[int, int],
        dilation_hw: tuple[int, int]) -> np.ndarray:
    """The [N, out_h, out_w, C] slice of padded input `xp` seen by filter tap (ky, kx)."""
    y0, x0 = ky * dilation_hw[0], kx * dilation_hw[1]
    return xp[:, y0 : y0 + (out_hw[0] - 1) * stride_hw[0] + 1 : stride_hw[0],
              x0 : x0 + (out_hw[1] - 1) * stride_hw[1] + 1 : stride_hw[1], :]
