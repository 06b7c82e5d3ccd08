"""CIEDE2000 over whole images: sRGB (8-bit) -> XYZ -> CIELAB (D65) -> ΔE00, compiled with numba.

It computes the same numbers as
`colour.delta_E(colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb / 255)), ..., method="CIE 2000")`
(kL = kC = kH = 1) to within the float32 rounding of the map (tests: edge colours, random
pairs, real photographs), much faster, because every per-pixel loop is branch-free and free of
library calls, so LLVM vectorizes it (AVX2/AVX-512), and nothing but the map is written:
- the sRGB decoding is a 256-entry table; the cube roots of the Lab conversion are a polynomial
  and two Newton steps (`_cbrt`); the image's Lab is made a row at a time, fused with ΔE;
- the master's Lab is computed once and reused for every artifact of that master;
- the hue terms need no atan2: with w = C1'C2'(u1 + u2) for the unit hue vectors, the mean hue
  h̄' is the direction of w (the bisector of the shorter arc, which is what Sharma's case
  analysis selects), and ΔH' = 2√(C1'C2')·sin(Δh'/2) follows from the dot and cross products;
  cos(2h̄), cos(3h̄), cos(4h̄) follow from multiple-angle identities;
- the rotation term Δθ = 30°·exp(-((h̄ - 275°)/25)²) is taken from tan((h̄ - 275°)/4) (two
  half-angle steps from the unit vector) with polynomial atan, exp and sin (`_rotation_vector`);
- exactly opposite hues, where the case analysis is decided by rounding, take the scalar
  reference path (the same arithmetic as colour-science);
- the 95th percentile is found exactly from a histogram of the float bit patterns (two passes,
  no sort or copy of the map).
Numba is imported and the kernels compiled (or loaded from numba's on-disk cache) on first use,
not at import.

The formulas follow Sharma, Wu & Dalal (2005) and colour-science's implementation, including
its conventions for zero chroma (h' = 0; h̄' = h1' + h2' when C1'·C2' = 0).
"""

import math
from functools import cache

import numpy as np

# colour-science's sRGB matrix (IEC 61966-2-1, rounded to 4 places, which colour uses) and the
# CIE 1931 2° D65 white from xy (0.3127, 0.3290); tests check both against colour-science.
SRGB_TO_XYZ = np.array(
    [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
)
D65_WHITE = np.array([0.3127 / 0.3290, 1.0, (1.0 - 0.3127 - 0.3290) / 0.3290])

_EPSILON = (24.0 / 116.0) ** 3
_KAPPA_SLOPE = 841.0 / 108.0
_POW25_7 = 25.0**7
_DEG = math.pi / 180.0
# The hue band where Δθ (the blue-region rotation term) is not negligible: |h̄ - 275°| <= 100°.
_COS_100 = math.cos(100.0 * _DEG)
_COS_275, _SIN_275 = math.cos(275.0 * _DEG), math.sin(275.0 * _DEG)
_COS_30, _SIN_30 = math.cos(30.0 * _DEG), math.sin(30.0 * _DEG)
_COS_6, _SIN_6 = math.cos(6.0 * _DEG), math.sin(6.0 * _DEG)
_COS_63, _SIN_63 = math.cos(63.0 * _DEG), math.sin(63.0 * _DEG)


def srgb_decoding_table() -> np.ndarray:
    """Linear-light value of each 8-bit sRGB code (IEC 61966-2-1 piecewise EOTF)."""
    c = np.arange(256, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


# Cube roots, branch-free so that the conversion loop vectorizes: t in [1/128, 1.0002] is
# scaled by powers of two into [1/2, 1.0002]; a degree-4 polynomial (Chebyshev interpolant of
# x^(-1/3) there, relative error 4.5e-5) and two division-free Newton steps for the inverse
# cube root y (y <- y(4 - x y^3)/3, error -2e^2 per step) give x^(1/3) = x y^2 within 3 ulp.
# (8-bit sRGB gives t = X/Xn, Y, Z/Zn in [0, 1.00016]; below the CIE ε the linear branch is
# taken, so the cube root is only needed from ε = 0.00886 > 1/128.)
_INV_CBRT = (
    2.099308322453613,
    -2.928642221758245,
    3.449541530852016,
    -2.179954917846476,
    0.5597773449547954,
)
_CBRT_HALF = 0.5 ** (1.0 / 3.0)  # the cube root of a factor 2 taken out
_CBRT_QUARTER = 0.25 ** (1.0 / 3.0)


def _cbrt(t):
    t = max(t, _EPSILON)
    small = t < 1.0 / 64.0
    t = t * 64.0 if small else t
    k = 0.25 if small else 1.0
    small = t < 0.125
    t = t * 8.0 if small else t
    k = k * 0.5 if small else k
    small = t < 0.25
    t = t * 4.0 if small else t
    k = k * _CBRT_QUARTER if small else k
    small = t < 0.5
    t = t * 2.0 if small else t
    k = k * _CBRT_HALF if small else k
    c = _INV_CBRT
    y = (((c[4] * t + c[3]) * t + c[2]) * t + c[1]) * t + c[0]
    y = y * (4.0 - t * y * y * y) * (1.0 / 3.0)
    y = y * (4.0 - t * y * y * y) * (1.0 / 3.0)
    return t * y * y * k


def _f(t):
    cube_root = _cbrt(t)
    return cube_root if t > _EPSILON else _KAPPA_SLOPE * t + 16.0 / 116.0


def _primed(a1, b1, a2, b2):
    """a' = (1 + G)·a and C' of both colours: the chroma-dependent stretch of the a axis."""
    cbar = 0.5 * (math.sqrt(a1 * a1 + b1 * b1) + math.sqrt(a2 * a2 + b2 * b2))
    cbar2 = cbar * cbar
    cbar7 = cbar2 * cbar2 * cbar2 * cbar
    g = 0.5 * (1.0 - math.sqrt(cbar7 / (cbar7 + _POW25_7)))
    a1p = (1.0 + g) * a1
    a2p = (1.0 + g) * a2
    return a1p, a2p, math.sqrt(a1p * a1p + b1 * b1), math.sqrt(a2p * a2p + b2 * b2)


def _hue_weight(ch, sh):
    """T of CIEDE2000 from cos and sin of the mean hue h̄' (multiple-angle identities)."""
    c2h = 2.0 * ch * ch - 1.0
    s2h = 2.0 * sh * ch
    c3h = ch * (4.0 * ch * ch - 3.0)
    s3h = sh * (3.0 - 4.0 * sh * sh)
    c4h = 2.0 * c2h * c2h - 1.0
    s4h = 2.0 * s2h * c2h
    return (
        1.0
        - 0.17 * (ch * _COS_30 + sh * _SIN_30)
        + 0.24 * c2h
        + 0.32 * (c3h * _COS_6 - s3h * _SIN_6)
        - 0.20 * (c4h * _COS_63 + s4h * _SIN_63)
    )


def _rotation_term(ch, sh, cbarp):
    """R_T = −sin(2Δθ)·R_C; exactly 0 more than 100° from h̄' = 275°, where |Δθ| < 4e-6°."""
    if ch * _COS_275 + sh * _SIN_275 < _COS_100:
        return 0.0
    hbar_deg = math.atan2(sh, ch) / _DEG
    if hbar_deg < 0.0:
        hbar_deg += 360.0
    dtheta = 30.0 * math.exp(-(((hbar_deg - 275.0) / 25.0) ** 2))
    cbarp2 = cbarp * cbarp
    cbarp7 = cbarp2 * cbarp2 * cbarp2 * cbarp
    return -math.sin(2.0 * dtheta * _DEG) * 2.0 * math.sqrt(cbarp7 / (cbarp7 + _POW25_7))


def _ciede2000(l1, a1, b1, l2, a2, b2):
    """The scalar reference: one pair of Lab colours (Sharma pairs, and opposite hues)."""
    a1p, a2p, c1p, c2p = _primed(a1, b1, a2, b2)
    dlp = l2 - l1
    dcp = c2p - c1p
    cc = c1p * c2p
    if cc == 0.0:
        dhp = 0.0
        # h̄' = h1' + h2', and the zero-chroma hue is 0: the mean is the other colour's hue.
        if c1p == 0.0 and c2p == 0.0:
            ch, sh = 1.0, 0.0
        elif c1p == 0.0:
            ch, sh = a2p / c2p, b2 / c2p
        else:
            ch, sh = a1p / c1p, b1 / c1p
    else:
        # ΔH' = 2√(C1'C2')·sin(Δh'/2), signed like h2' - h1' (the cross product): from
        # ΔH'² = 2(C1'C2' - dot) where that is well conditioned (dot < 0), else from the cross
        # product (exactly 0 for equal colours, even with FMA contraction).
        dot = a1p * a2p + b1 * b2
        cross = a1p * (b2 - b1) - b1 * (a2p - a1p)
        if dot >= 0.0:
            dhp = cross * math.sqrt(2.0 / (cc + dot))
        else:
            dhp = math.copysign(math.sqrt(2.0 * (cc - dot)), cross)
        ux = a1p / c1p + a2p / c2p
        uy = b1 / c1p + b2 / c2p
        norm = math.sqrt(ux * ux + uy * uy)
        if norm > 1e-9:
            ch, sh = ux / norm, uy / norm
        else:
            # Opposite hues, where Sharma's case analysis is decided by rounding: redo the hue
            # angles with colour-science's exact arithmetic (hypot, pow, degrees, % 360).
            cb = 0.5 * (math.hypot(a1, b1) + math.hypot(a2, b2))
            gx = 0.5 * (1.0 - math.sqrt(math.pow(cb, 7.0) / (math.pow(cb, 7.0) + _POW25_7)))
            h1 = (math.atan2(b1, (1.0 + gx) * a1) * (180.0 / math.pi)) % 360.0
            h2 = (math.atan2(b2, (1.0 + gx) * a2) * (180.0 / math.pi)) % 360.0
            hsum = h1 + h2
            if abs(h1 - h2) <= 180.0:
                hbar = hsum / 2.0
            elif hsum < 360.0:
                hbar = (hsum + 360.0) / 2.0
            else:
                hbar = (hsum - 360.0) / 2.0
            ch, sh = math.cos(hbar * _DEG), math.sin(hbar * _DEG)
    lbar = 0.5 * (l1 + l2)
    cbarp = 0.5 * (c1p + c2p)
    t = _hue_weight(ch, sh)
    rt = _rotation_term(ch, sh, cbarp)
    lb = (lbar - 50.0) ** 2
    sl = 1.0 + 0.015 * lb / math.sqrt(20.0 + lb)
    sc = 1.0 + 0.045 * cbarp
    sh_ = 1.0 + 0.015 * cbarp * t
    tl = dlp / sl
    tc = dcp / sc
    th = dhp / sh_
    return math.sqrt(max(tl * tl + tc * tc + th * th + rt * tc * th, 0.0))


def _lab_row(rgb_row, lut, m, inv_xn, inv_zn, linear, out_l, out_a, out_b):
    """Lab of a row of 8-bit sRGB (R, G, B interleaved, flat). Two loops that vectorize: the
    table look-ups into `linear` (a gather), then the arithmetic."""
    for k in range(rgb_row.shape[0]):
        linear[k] = lut[rgb_row[k]]
    for j in range(out_l.shape[0]):
        rl, gl, bl = linear[3 * j], linear[3 * j + 1], linear[3 * j + 2]
        fx = _f((m[0] * rl + m[1] * gl + m[2] * bl) * inv_xn)
        fy = _f(m[3] * rl + m[4] * gl + m[5] * bl)
        fz = _f((m[6] * rl + m[7] * gl + m[8] * bl) * inv_zn)
        out_l[j] = 116.0 * fy - 16.0
        out_a[j] = 500.0 * (fx - fy)
        out_b[j] = 200.0 * (fy - fz)


# atan(u) = u + u·s·Q(s), s = u², for |u| <= tan(25.3°): the Chebyshev interpolant of degree 10
# of (atan(√s)/√s - 1)/s, relative error below 2 ulp (tests compare with math.atan).
_ATAN_Q = (
    -0.3333333333333199,
    0.1999999999995802,
    -0.1428571428757713,
    0.11111111108807835,
    -0.09090902956406165,
    0.07692074111586067,
    -0.06662493608695444,
    0.058391061183600504,
    -0.04985644081333208,
    0.03646253498862311,
    -0.01599566430780025,
)
# (h̄' - 275°)/25° from an angle in radians.
_PER_25_DEG = 180.0 / (25.0 * math.pi)


def _atan_quarter(u):
    s = u * u
    c = _ATAN_Q
    q = c[10]
    for k in range(9, -1, -1):
        q = q * s + c[k]
    return u + u * s * q


def _exp_neg(x):
    """e^-x for x in [0, 16.5]: Taylor series of e^(-x/64) to degree 12, squared six times."""
    y = x * (1.0 / 64.0)
    e = 1.0
    for k in range(12, 0, -1):
        e = 1.0 - e * y / k
    for _ in range(6):
        e = e * e
    return e


def _sin_small(z):
    """sin z for z in [0, π/3]: the Taylor series to z^17 (remainder below 1e-17)."""
    s = z * z
    p = 1.0
    for k in range(17, 1, -2):
        p = 1.0 - p * s / (k * (k - 1))
    return z * p


def _rotation_vector(ch, sh, rc):
    """R_T = -sin(2Δθ)·R_C from the unit vector (cos h̄', sin h̄') without atan2, exp or sin
    calls (polynomials, so the loop vectorizes). As in `_rotation_term`, Δθ is taken for
    h̄' in [175°, 360°) and is exactly 0 elsewhere: more than 100° below 275°, Δθ < 4e-6°, and
    h̄' in [0°, 15°] is 260° or more from 275° (h̄' - 275° is not wrapped: Sharma's formula, and
    colour-science's). d = h̄' - 275° comes from tan(d/4) by two half-angle steps."""
    cr = ch * _COS_275 + sh * _SIN_275  # cos d
    sr = sh * _COS_275 - ch * _SIN_275  # sin d
    band = 1.0 if sh < 0.0 or (ch < 0.0 and cr >= _COS_100) else 0.0
    half = math.sqrt(0.5 * (1.0 + max(cr, _COS_100)))  # cos(d/2) >= cos 50°
    d = 4.0 * _atan_quarter(sr / (2.0 * half * (1.0 + half)))
    x = d * _PER_25_DEG
    return -_sin_small((math.pi / 3.0) * _exp_neg(x * x)) * rc * band


def _delta_e_row(l1s, a1s, b1s, l2s, a2s, b2s, out, flags):
    """ΔE00 of a row, branch-free so that it vectorizes, into `out` (float32); returns how many
    pixels have opposite hues (marked in `flags`), which the caller redoes with `_ciede2000`.

    Per pixel: 9 square roots and 3 divisions. With w = C1'C2'(u1 + u2) for the unit hue
    vectors u (|w|² = 2P(P + dot), P = C1'C2'), the mean hue is w/|w|, and
    ΔH' = 2√P·sin(Δh'/2) is cross·√(2/(P + dot)) when dot >= 0 and ±√(2(P - dot)) otherwise
    (both well conditioned where used). A zero chroma has hue 0 and h̄' = h1' + h2'
    (colour-science): then w is the other colour's (a', b), or (1, 0)."""
    n = 0
    for j in range(out.shape[0]):
        l1, a1, b1, l2, a2, b2 = l1s[j], a1s[j], b1s[j], l2s[j], a2s[j], b2s[j]
        a1p, a2p, c1p, c2p = _primed(a1, b1, a2, b2)
        z1 = 1.0 if c1p == 0.0 else 0.0
        z2 = 1.0 if c2p == 0.0 else 0.0
        p = c1p * c2p
        dot = a1p * a2p + b1 * b2
        # a1'b2 - a2'b1, written so that it is exactly 0 for equal colours even with FMA.
        cross = a1p * (b2 - b1) - b1 * (a2p - a1p)
        e1, e2 = c1p + z1, c2p + z2
        wx = a1p * e2 + a2p * e1 + z1 * z2
        wy = b1 * e2 + b2 * e1
        w2 = wx * wx + wy * wy
        opposite = p > 0.0 and w2 < 1e-18 * p * p  # |u1 + u2| < 1e-9
        inv_w = 1.0 / math.sqrt(max(w2, 1e-300))
        ch, sh = wx * inv_w, wy * inv_w
        near = dot >= 0.0
        root = math.sqrt(4.0 * p * inv_w * inv_w if near else 2.0 * (p - dot))
        dhp = cross * root if near else math.copysign(root, cross)
        t = _hue_weight(ch, sh)
        cbarp = 0.5 * (c1p + c2p)
        lm = 0.5 * (l1 + l2) - 50.0
        lb = lm * lm
        root_l = math.sqrt(20.0 + lb)
        nl = root_l + 0.015 * lb  # S_L·√(20 + lb)
        sc = 1.0 + 0.045 * cbarp
        shue = 1.0 + 0.015 * cbarp * t
        cbarp2 = cbarp * cbarp
        cbarp7 = cbarp2 * cbarp2 * cbarp2 * cbarp
        k7 = cbarp7 + _POW25_7
        # One division for S_L, S_C, S_H and R_C's c7/(c7 + 25^7).
        inv = 1.0 / (nl * sc * shue * k7)
        tl = (l2 - l1) * root_l * sc * shue * k7 * inv
        tc = (c2p - c1p) * nl * shue * k7 * inv
        th = dhp * nl * sc * k7 * inv
        rt = _rotation_vector(ch, sh, 2.0 * math.sqrt(cbarp7 * nl * sc * shue * inv))
        out[j] = math.sqrt(max(tl * tl + tc * tc + th * th + rt * tc * th, 0.0))
        flags[j] = opposite
        n += opposite
    return n


def _lab_rows(rgb, lut, m, inv_xn, inv_zn, planes, start, stop):
    linear = np.empty(rgb.shape[1])
    for i in range(start, stop):
        row = rgb[i]
        _lab_row(row, lut, m, inv_xn, inv_zn, linear, planes[0, i], planes[1, i], planes[2, i])


def _delta_e_rows(rgb, master, lut, m, inv_xn, inv_zn, out, start, stop):
    """Each row: the image's Lab into three row buffers, then ΔE00 straight into `out`."""
    width = rgb.shape[1] // 3
    l2, a2, b2 = np.empty(width), np.empty(width), np.empty(width)
    linear = np.empty(3 * width)
    flags = np.empty(width, dtype=np.bool_)
    for i in range(start, stop):
        _lab_row(rgb[i], lut, m, inv_xn, inv_zn, linear, l2, a2, b2)
        l1, a1, b1 = master[0, i], master[1, i], master[2, i]
        if _delta_e_row(l1, a1, b1, l2, a2, b2, out[i], flags):
            for j in range(width):
                if flags[j]:
                    out[i, j] = _ciede2000(l1[j], a1[j], b1[j], l2[j], a2[j], b2[j])


# Order statistics of non-negative float32 values from their bit patterns, which sort as the
# values do: a histogram of the top 16 bits finds the bin of the wanted rank, a second pass
# counts the low 16 bits of that bin's values. Four interleaved histograms break the chain of
# increments to the same bin (neighbouring pixels have similar ΔE).
_NAN_OR_NEGATIVE = 0x7F800000  # bit patterns at or above: inf, NaN, or a sign bit set


def _order_statistics(bits, k):
    """The bit patterns of the k-th and (k+1)-th smallest of `bits` (float32 viewed as uint32),
    or ok = False if some value is negative, -0.0, infinite or NaN."""
    n = bits.shape[0]
    counts4 = np.zeros((4, 1 << 16), dtype=np.int32)
    quads = n // 4
    for i in range(quads):
        counts4[0, bits[4 * i] >> 16] += 1
        counts4[1, bits[4 * i + 1] >> 16] += 1
        counts4[2, bits[4 * i + 2] >> 16] += 1
        counts4[3, bits[4 * i + 3] >> 16] += 1
    for i in range(4 * quads, n):
        counts4[0, bits[i] >> 16] += 1
    if counts4[:, _NAN_OR_NEGATIVE >> 16 :].any():
        return False, np.uint32(0), np.uint32(0)
    seen = 0
    first = 0
    while True:
        c = counts4[0, first] + counts4[1, first] + counts4[2, first] + counts4[3, first]
        if seen + c > k:
            break
        seen += c
        first += 1
    rank = k - seen
    low_counts = np.zeros(1 << 16, dtype=np.int64)
    beyond = np.uint32(0xFFFFFFFF)
    for v in bits:
        b = v >> 16
        if b == first:
            low_counts[v & 0xFFFF] += 1
        elif b > first:
            beyond = min(beyond, v)
    high_rank = rank + 1 if k + 1 < n else rank
    low = high = beyond
    seen = 0
    found_low = False
    for lo in range(1 << 16):
        seen += low_counts[lo]
        if not found_low and seen > rank:
            low = (np.uint32(first) << 16) | np.uint32(lo)
            found_low = True
        if seen > high_rank:
            high = (np.uint32(first) << 16) | np.uint32(lo)
            break
    return True, low, high


def _channel_histograms(pixels, counts):
    for i in range(pixels.shape[0]):
        for j in range(pixels.shape[1]):
            counts[0, pixels[i, j, 0]] += 1
            counts[1, pixels[i, j, 1]] += 1
            counts[2, pixels[i, j, 2]] += 1


def _delta_e_pairs(lab1, lab2, out):
    for k in range(lab1.shape[0]):
        out[k] = _ciede2000(lab1[k, 0], lab1[k, 1], lab1[k, 2], lab2[k, 0], lab2[k, 1], lab2[k, 2])


@cache
def _kernels():
    """Compile on first use (numba is imported here, not at module import); cached on disk.

    The kernels release the GIL, so callers run row bands or whole artifacts on threads."""
    import numba

    # fastmath lets LLVM vectorize the branch-free loops (reassociation, no NaN/inf checks:
    # the loops keep every intermediate finite); the results stay within 1e-6 of
    # colour-science (tests compare on real photographs and edge cases).
    options = {"cache": True, "nogil": True, "error_model": "numpy", "fastmath": True}
    g = globals()
    for name in (
        "_cbrt",
        "_f",
        "_primed",
        "_hue_weight",
        "_rotation_term",
        "_ciede2000",
        "_atan_quarter",
        "_exp_neg",
        "_sin_small",
        "_rotation_vector",
    ):
        if not hasattr(g[name], "py_func"):
            g[name] = numba.njit(inline="always", **options)(g[name])
    for name in ("_lab_row", "_delta_e_row"):
        if not hasattr(g[name], "py_func"):
            g[name] = numba.njit(**options)(g[name])
    jit = numba.njit(**options)
    return (
        jit(_lab_rows),
        jit(_delta_e_rows),
        jit(_delta_e_pairs),
        jit(_order_statistics),
        jit(_channel_histograms),
    )


_LUT = srgb_decoding_table()
_MATRIX = np.ascontiguousarray(SRGB_TO_XYZ.ravel())
_INV_XN, _INV_ZN = 1.0 / D65_WHITE[0], 1.0 / D65_WHITE[2]


# Rows per task when an image is split over threads: many more tasks than threads, so that a
# thread slowed down by other work on the machine does not leave the others waiting at the end.
_BAND_ROWS = 64


def _in_row_bands(kernel, height: int, workers: int, *args) -> None:
    if workers <= 1 or height < 2 * _BAND_ROWS:
        kernel(*args, 0, height)
        return
    from concurrent.futures import ThreadPoolExecutor

    bands = max(workers, -(-height // _BAND_ROWS))
    edges = np.linspace(0, height, bands + 1).astype(int)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda k: kernel(*args, edges[k], edges[k + 1]), range(bands)))


def _as_rgb8(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {rgb.shape}")
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def lab_planes(rgb: np.ndarray, workers: int = 1) -> np.ndarray:
    """CIELAB (D65) of an 8-bit sRGB image as planes of shape (3, H, W): compute a master's
    once and pass it to `delta_e_map` for each of its artifacts."""
    rgb = _as_rgb8(rgb)
    planes = np.empty((3, rgb.shape[0], rgb.shape[1]), dtype=np.float64)
    flat_rows = rgb.reshape(rgb.shape[0], -1)
    args = (flat_rows, _LUT, _MATRIX, _INV_XN, _INV_ZN, planes)
    _in_row_bands(_kernels()[0], rgb.shape[0], workers, *args)
    return planes


def srgb8_to_lab(rgb: np.ndarray, workers: int = 1) -> np.ndarray:
    """CIELAB (D65) of an 8-bit sRGB image, shape (H, W, 3)."""
    return np.moveaxis(lab_planes(rgb, workers), 0, -1)


def delta_e_map(rgb: np.ndarray, master_planes: np.ndarray, workers: int = 1) -> np.ndarray:
    """Per-pixel ΔE00 (float32) between an 8-bit sRGB image and its master's `lab_planes`."""
    rgb = _as_rgb8(rgb)
    if master_planes.shape != (3, rgb.shape[0], rgb.shape[1]):
        raise ValueError(
            f"image {rgb.shape[:2]} and master {master_planes.shape[1:]} differ in size"
        )
    master_planes = np.ascontiguousarray(master_planes, dtype=np.float64)
    out = np.empty(rgb.shape[:2], dtype=np.float32)
    flat_rows = rgb.reshape(rgb.shape[0], -1)
    args = (flat_rows, master_planes, _LUT, _MATRIX, _INV_XN, _INV_ZN, out)
    _in_row_bands(_kernels()[1], rgb.shape[0], workers, *args)
    return out


def delta_e_lab(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """ΔE00 between Lab colours of shape (..., 3), with the scalar reference path."""
    a = np.ascontiguousarray(np.asarray(lab1, dtype=np.float64).reshape(-1, 3))
    b = np.ascontiguousarray(np.asarray(lab2, dtype=np.float64).reshape(-1, 3))
    if a.shape != b.shape:
        raise ValueError(f"Lab arrays differ in shape: {np.shape(lab1)} and {np.shape(lab2)}")
    out = np.empty(a.shape[0], dtype=np.float64)
    _kernels()[2](a, b, out)
    return out.reshape(np.shape(lab1)[:-1])


def percentile(values: np.ndarray, q: float) -> float:
    """The q-th percentile with numpy's default (linear) interpolation, exactly, without
    copying or partitioning the array (two passes over it). For non-negative finite float32
    values (ΔE maps; other dtypes are converted to float32 first); others go to numpy."""
    flat = np.ascontiguousarray(values, dtype=np.float32).ravel()
    if flat.size == 0:
        raise ValueError("percentile of an empty array")
    position = q / 100.0 * (flat.size - 1)
    k = int(np.floor(position))
    ok, low_bits, high_bits = _kernels()[3](flat.view(np.uint32), k)
    if not ok:  # a negative (or -0.0), infinite or NaN value
        return float(np.percentile(flat, q))
    low, high = np.array([low_bits, high_bits], dtype=np.uint32).view(np.float32).tolist()
    return low + (position - k) * (high - low)


def delta_e_summary(delta_e: np.ndarray) -> tuple[float, float]:
    """Mean and 95th percentile (numpy's linear interpolation) of a ΔE map."""
    return float(delta_e.mean(dtype=np.float64)), percentile(delta_e, 95.0)


def rgb_histograms(pixels: np.ndarray) -> np.ndarray:
    """Counts of each 8-bit value per channel, shape (3, 256), in one pass over the image."""
    counts = np.zeros((3, 256), dtype=np.int64)
    _kernels()[4](_as_rgb8(pixels), counts)
    return counts


def compile_kernels() -> None:
    """Compile every kernel into numba's on-disk cache (`make install` does it once, so the
    first run, and every test process, loads them in well under a second)."""
    from retouch_assets.quality.measures import histogram_delta_pct

    tiny = np.zeros((4, 4, 3), np.uint8)
    delta_e_summary(delta_e_map(tiny, lab_planes(tiny)))
    histogram_delta_pct(tiny, tiny)
