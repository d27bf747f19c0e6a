"""The expanded private keys of ML-KEM (FIPS 203) and ML-DSA (FIPS 204), computed from the seed.

pyca/cryptography keeps these keys as their seed and never outputs the expanded form, yet
PKCS#11 3.2 gives a private key both: CKA_SEED and CKA_VALUE, the decapsulation key ``dk`` /
the signing key ``sk``. This module runs the key generation of the two standards far enough to
encode that form (ML-KEM.KeyGen_internal, Algorithms 13 and 16; ML-DSA.KeyGen_internal,
Algorithm 6), and recomputes the public key on the way: the callers check it against
cryptography's, so a slip here can never give a key a value that does not belong to it.

Plain integer arithmetic on 256-coefficient polynomials; nothing here signs, decapsulates or
touches a message. SHAKE and SHA-3 come from hashlib (OpenSSL's).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

N = 256


def _bitrev(value: int, bits: int) -> int:
    return int(f"{value:0{bits}b}"[::-1], 2)


def _xof(make: Callable[[bytes], object], seed: bytes, need: int) -> Callable[[], bytes]:
    """A SHAKE stream read in growing prefixes (hashlib's SHAKE has no incremental squeeze)."""
    state = {"have": need}

    def more() -> bytes:
        state["have"] *= 2
        return make(seed).digest(state["have"])  # type: ignore[attr-defined]

    return more


# --- ML-KEM (FIPS 203) ---------------------------------------------------------------------------

KEM_Q = 3329
_KEM_ZETAS = [pow(17, _bitrev(i, 7), KEM_Q) for i in range(128)]
_KEM_GAMMAS = [pow(17, 2 * _bitrev(i, 7) + 1, KEM_Q) for i in range(128)]


def _kem_sample_ntt(seed: bytes) -> list[int]:
    """Algorithm 7 SampleNTT: rejection sampling from SHAKE128(rho || j || i)."""
    out: list[int] = []
    stream = hashlib.shake_128(seed).digest(840)
    more = _xof(hashlib.shake_128, seed, 840)
    pos = 0
    while len(out) < N:
        if pos + 3 > len(stream):
            stream = more()
        c0, c1, c2 = stream[pos], stream[pos + 1], stream[pos + 2]
        pos += 3
        d1 = c0 + 256 * (c1 % 16)
        d2 = c1 // 16 + 16 * c2
        if d1 < KEM_Q:
            out.append(d1)
        if d2 < KEM_Q and len(out) < N:
            out.append(d2)
    return out


def _kem_cbd(data: bytes, eta: int) -> list[int]:
    """Algorithm 8 SamplePolyCBD_eta."""
    bits = [(byte >> k) & 1 for byte in data for k in range(8)]
    out = []
    for i in range(N):
        x = sum(bits[2 * i * eta + j] for j in range(eta))
        y = sum(bits[2 * i * eta + eta + j] for j in range(eta))
        out.append((x - y) % KEM_Q)
    return out


def _kem_ntt(f: list[int]) -> list[int]:
    """Algorithm 9 NTT."""
    f = list(f)
    i = 1
    length = 128
    while length >= 2:
        for start in range(0, N, 2 * length):
            zeta = _KEM_ZETAS[i]
            i += 1
            for j in range(start, start + length):
                t = zeta * f[j + length] % KEM_Q
                f[j + length] = (f[j] - t) % KEM_Q
                f[j] = (f[j] + t) % KEM_Q
        length //= 2
    return f


def _kem_multiply(f: list[int], g: list[int]) -> list[int]:
    """Algorithm 11 MultiplyNTTs (with Algorithm 12 BaseCaseMultiply)."""
    h = [0] * N
    for i in range(128):
        a0, a1, b0, b1 = f[2 * i], f[2 * i + 1], g[2 * i], g[2 * i + 1]
        h[2 * i] = (a0 * b0 + a1 * b1 * _KEM_GAMMAS[i]) % KEM_Q
        h[2 * i + 1] = (a0 * b1 + a1 * b0) % KEM_Q
    return h


def _encode12(f: list[int]) -> bytes:
    """ByteEncode_12: two 12-bit coefficients in three bytes, least significant bits first."""
    out = bytearray()
    for i in range(0, N, 2):
        a, b = f[i], f[i + 1]
        out += bytes((a & 0xFF, (a >> 8) | ((b & 0x0F) << 4), b >> 4))
    return bytes(out)


def mlkem_expand(seed: bytes, k: int, eta1: int) -> tuple[bytes, bytes]:
    """(ek, dk) of ML-KEM.KeyGen_internal(d, z) for the 64-byte seed d || z."""
    d, z = seed[:32], seed[32:]
    g = hashlib.sha3_512(d + bytes([k])).digest()
    rho, sigma = g[:32], g[32:]
    a_hat = [[_kem_sample_ntt(rho + bytes([j, i])) for j in range(k)] for i in range(k)]
    prf = [hashlib.shake_256(sigma + bytes([n])).digest(64 * eta1) for n in range(2 * k)]
    s_hat = [_kem_ntt(_kem_cbd(prf[i], eta1)) for i in range(k)]
    e_hat = [_kem_ntt(_kem_cbd(prf[k + i], eta1)) for i in range(k)]
    t_hat = []
    for i in range(k):
        acc = e_hat[i]
        for j in range(k):
            product = _kem_multiply(a_hat[i][j], s_hat[j])
            acc = [(x + y) % KEM_Q for x, y in zip(acc, product, strict=True)]
        t_hat.append(acc)
    ek = b"".join(_encode12(t) for t in t_hat) + rho
    dk_pke = b"".join(_encode12(s) for s in s_hat)
    dk = dk_pke + ek + hashlib.sha3_256(ek).digest() + z
    return ek, dk


# --- ML-DSA (FIPS 204) ---------------------------------------------------------------------------

DSA_Q = 8380417
_DSA_D = 13
_DSA_ZETAS = [pow(1753, _bitrev(i, 8), DSA_Q) for i in range(256)]
_DSA_N_INV = 8347681  # 256^-1 mod q


def _dsa_rej_ntt(seed: bytes) -> list[int]:
    """Algorithm 30 RejNTTPoly (with Algorithm 14 CoeffFromThreeBytes)."""
    out: list[int] = []
    stream = hashlib.shake_128(seed).digest(894)
    more = _xof(hashlib.shake_128, seed, 894)
    pos = 0
    while len(out) < N:
        if pos + 3 > len(stream):
            stream = more()
        value = stream[pos] | (stream[pos + 1] << 8) | ((stream[pos + 2] & 0x7F) << 16)
        pos += 3
        if value < DSA_Q:
            out.append(value)
    return out


def _dsa_rej_bounded(seed: bytes, eta: int) -> list[int]:
    """Algorithm 31 RejBoundedPoly (with Algorithm 15 CoeffFromHalfByte), coefficients mod q."""
    out: list[int] = []
    stream = hashlib.shake_256(seed).digest(272)
    more = _xof(hashlib.shake_256, seed, 272)
    pos = 0
    while len(out) < N:
        if pos >= len(stream):
            stream = more()
        byte = stream[pos]
        pos += 1
        for half in (byte & 0x0F, byte >> 4):
            if len(out) == N:
                break
            if eta == 2 and half < 15:
                out.append((2 - half % 5) % DSA_Q)
            elif eta == 4 and half < 9:
                out.append((4 - half) % DSA_Q)
    return out


def _dsa_ntt(w: list[int]) -> list[int]:
    """Algorithm 41 NTT."""
    w = list(w)
    m = 0
    length = 128
    while length >= 1:
        for start in range(0, N, 2 * length):
            m += 1
            zeta = _DSA_ZETAS[m]
            for j in range(start, start + length):
                t = zeta * w[j + length] % DSA_Q
                w[j + length] = (w[j] - t) % DSA_Q
                w[j] = (w[j] + t) % DSA_Q
        length //= 2
    return w


def _dsa_ntt_inverse(w: list[int]) -> list[int]:
    """Algorithm 42 NTT^-1."""
    w = list(w)
    m = 256
    length = 1
    while length < N:
        for start in range(0, N, 2 * length):
            m -= 1
            zeta = DSA_Q - _DSA_ZETAS[m]
            for j in range(start, start + length):
                t = w[j]
                w[j] = (t + w[j + length]) % DSA_Q
                w[j + length] = zeta * (t - w[j + length]) % DSA_Q
        length *= 2
    return [x * _DSA_N_INV % DSA_Q for x in w]


def _pack(values: list[int], bits: int) -> bytes:
    """Bits of each value (least significant first), concatenated: SimpleBitPack / BitPack."""
    acc = 0
    for i, v in enumerate(values):
        acc |= v << (i * bits)
    return acc.to_bytes(len(values) * bits // 8, "little")


def _centered(value: int) -> int:
    return value - DSA_Q if value > DSA_Q // 2 else value


def mldsa_expand(xi: bytes, k: int, l: int, eta: int) -> tuple[bytes, bytes]:  # noqa: E741 (FIPS 204's name)
    """(pk, sk) of ML-DSA.KeyGen_internal(xi) for the 32-byte seed xi."""
    h = hashlib.shake_256(xi + bytes([k, l])).digest(128)
    rho, rho_prime, key = h[:32], h[32:96], h[96:]
    a_hat = [[_dsa_rej_ntt(rho + bytes([s, r])) for s in range(l)] for r in range(k)]
    s1 = [_dsa_rej_bounded(rho_prime + r.to_bytes(2, "little"), eta) for r in range(l)]
    s2 = [_dsa_rej_bounded(rho_prime + (r + l).to_bytes(2, "little"), eta) for r in range(k)]
    s1_hat = [_dsa_ntt(s) for s in s1]
    t1: list[list[int]] = []
    t0: list[list[int]] = []
    for r in range(k):
        acc = [0] * N
        for s in range(l):
            acc = [(x + a * b) % DSA_Q for x, a, b in zip(acc, a_hat[r][s], s1_hat[s], strict=True)]
        t = [(x + y) % DSA_Q for x, y in zip(_dsa_ntt_inverse(acc), s2[r], strict=True)]
        high, low = [], []
        for c in t:  # Algorithm 35 Power2Round
            r0 = c % (1 << _DSA_D)
            if r0 > 1 << (_DSA_D - 1):
                r0 -= 1 << _DSA_D
            high.append((c - r0) >> _DSA_D)
            low.append(r0)
        t1.append(high)
        t0.append(low)
    pk = rho + b"".join(_pack(t, 10) for t in t1)
    tr = hashlib.shake_256(pk).digest(64)
    eta_bits = 3 if eta == 2 else 4
    sk = (
        rho
        + key
        + tr
        + b"".join(_pack([eta - _centered(c) for c in s], eta_bits) for s in s1)
        + b"".join(_pack([eta - _centered(c) for c in s], eta_bits) for s in s2)
        + b"".join(_pack([(1 << (_DSA_D - 1)) - c for c in t], _DSA_D) for t in t0)
    )
    return pk, sk
