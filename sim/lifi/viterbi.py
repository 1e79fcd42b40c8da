"""Batch soft-decision Viterbi decoder for the PHY I K=7 convolutional code (numpy).

The core's decoder (`protocols.lifi.cc.decode`) walks the trellis in pure Python, right for the chip but
slow for the CPython receiver and for BER curves that need millions of decoded bits. This one runs the
same trellis (`protocols.lifi.cc` tables: 64 states, generators 133, 171, 165 octal, zero tail) over many
frames at once, one numpy step per trellis step, on unquantised soft values, and undoes the same
puncturing: rate 1/3 sends g0 g1 g2, rate 2/3 sends g0 g1 then g1 on alternate steps, rate 1/4 sends
g0 g0 g1 g1 (the two copies' soft values add, the maximum-likelihood combination on a Gaussian channel).

Soft value convention: positive means coded bit 1, magnitude proportional to the log-likelihood ratio;
0 means nothing known (punctured).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from protocols.lifi import cc

_STATES = 1 << (cc.K - 1)
_NEXT = np.arange(_STATES)
_PRED0 = (_NEXT & 31) << 1
_PRED1 = _PRED0 | 1
_INPUT = _NEXT >> 5
_OUT = np.frombuffer(bytes(cc.OUTPUTS), dtype=np.uint8).astype(np.int64)
# 3-bit (g0 g1 g2) output of the transition from each predecessor into each next state
_BRANCH0 = _OUT[(_INPUT << 6) | _PRED0]
_BRANCH1 = _OUT[(_INPUT << 6) | _PRED1]
# sign of g0, g1, g2 for each 3-bit output (bit 1 -> +1)
_SIGNS = (2.0 * ((np.arange(8)[:, None] >> np.array([2, 1, 0])[None, :]) & 1) - 1.0).astype(np.float32)


@lru_cache(maxsize=64)
def _layout(rate: tuple[int, int], steps: int) -> np.ndarray:
    """(steps, 3, 2) index into the sent stream of each output's copies; -1 where not sent."""
    where = np.full((steps, 3, 2), -1, dtype=np.int64)
    i = 0
    for t in range(steps):
        if rate == (1, 3):
            where[t, :, 0] = (i, i + 1, i + 2)
            i += 3
        elif rate == (1, 4):
            where[t, 0] = (i, i + 1)
            where[t, 1] = (i + 2, i + 3)
            i += 4
        elif t & 1:
            where[t, 1, 0] = i
            i += 1
        else:
            where[t, 0, 0] = i
            where[t, 1, 0] = i + 1
            i += 2
    return where


def depuncture(soft: np.ndarray, rate: tuple[int, int], n_bits: int) -> np.ndarray:
    """(frames, encoded_length) sent soft values -> (frames, steps, 3) per-output values, 0 if not sent."""
    steps = n_bits + cc.TAIL_BITS
    need = cc.encoded_length(n_bits, rate)
    if soft.shape[-1] < need:
        raise ValueError("need %d coded values, got %d" % (need, soft.shape[-1]))
    where = _layout(tuple(rate), steps)
    padded = np.concatenate([soft[:, :need].astype(np.float32), np.zeros((soft.shape[0], 1), np.float32)], axis=1)
    return padded[:, where].sum(axis=3)  # index -1 reads the zero column


# Metric of a state the path may not enter; finite so that sums and differences stay finite in float32.
_DROPPED = np.float32(-1e30)


def _pins(known: np.ndarray, n_bits: int) -> np.ndarray:
    """(n_bits, frames, states) bool: the state is entered with an input bit other than the known one."""
    if known.shape[-1] != n_bits:
        raise ValueError("known bits: need %d per frame, got %d" % (n_bits, known.shape[-1]))
    known = known.astype(np.int8).T[:, :, None]
    return (known >= 0) & (_INPUT[None, None, :] != known)


# How far back a competing path is followed from its merge with the decoded path (SOVA update depth):
# paths of a K=7 code that differ longer than this have a large metric gap anyway.
SOVA_DEPTH = 5 * cc.K


def decode(soft: np.ndarray, rate: tuple[int, int], n_bits: int, reliability: bool = False,
           known: np.ndarray | None = None):
    """soft: (frames, encoded_length) or (encoded_length,); returns (frames, n_bits) or (n_bits,) uint8,
    and with ``reliability`` also a same-shaped float32 array of per-bit reliabilities.

    ``known`` (same shape as the result, int8: 0 or 1 where the input bit is known, -1 where not) pins
    the path: states entered with the other input bit are dropped at that step. A receiver learns such
    bits from the RS code words it has already decoded (decoder feedback); pinned bits come out as given
    and, every competitor having been dropped, with a very large reliability.

    The encoder starts and ends (zero tail) in state 0, so the trace back starts from state 0.
    Reliability is the soft-output Viterbi (SOVA, Hagenauer's update rule): at each merge along the
    decoded path, the path it beat is followed back SOVA_DEPTH steps and every bit where the two differ
    gets the smaller of its reliability and the merge's path-metric difference; a small value means a
    near tie, an unsure bit."""
    single = soft.ndim == 1
    per_step = depuncture(soft[None, :] if single else soft, rate, n_bits)
    pinned = None if known is None else _pins(known[None, :] if single else known, n_bits)
    frames, steps, _ = per_step.shape
    metrics = np.full((frames, _STATES), -1e30, dtype=np.float32)
    metrics[:, 0] = 0.0
    decisions = np.empty((steps, frames, _STATES), dtype=bool)
    margins = np.empty((steps, frames, _STATES), dtype=np.float16) if reliability else None
    by_step = np.ascontiguousarray(per_step.transpose(1, 0, 2))  # one contiguous (frames, 3) per step
    for t in range(steps):
        branch = by_step[t] @ _SIGNS.T  # (frames, 8): metric of each possible output triple
        from0 = metrics[:, _PRED0]
        from0 += branch[:, _BRANCH0]
        from1 = metrics[:, _PRED1]
        from1 += branch[:, _BRANCH1]
        np.greater(from1, from0, out=decisions[t])
        if margins is not None:
            margins[t] = np.minimum(np.abs(from1 - from0), 6e4)  # unreachable states: huge, not inf
        metrics = np.maximum(from0, from1)
        if pinned is not None and t < n_bits:
            metrics[pinned[t]] = _DROPPED
        if not t & 7:  # metrics only grow by a few units a step: re-centre now and then
            metrics -= metrics.max(axis=1, keepdims=True)
    state = np.zeros(frames, dtype=np.int64)
    rows = np.arange(frames)
    bits = np.empty((frames, steps), dtype=np.uint8)
    path_margin = np.empty((frames, steps), dtype=np.float32) if reliability else None
    losers = np.empty((frames, steps), dtype=np.int64) if reliability else None
    for t in range(steps - 1, -1, -1):
        bits[:, t] = state >> 5
        chosen = decisions[t, rows, state]
        if reliability:
            path_margin[:, t] = margins[t, rows, state]
            losers[:, t] = ((state & 31) << 1) | (~chosen)  # the predecessor the merge turned down
        state = ((state & 31) << 1) | chosen
    if not reliability:
        bits = bits[:, :n_bits]
        return bits[0] if single else bits
    per_bit = _sova(bits, decisions, path_margin, losers)[:, :n_bits]
    bits = bits[:, :n_bits]
    return (bits[0], per_bit[0]) if single else (bits, per_bit)


def _sova(bits: np.ndarray, decisions: np.ndarray, path_margin: np.ndarray, losers: np.ndarray) -> np.ndarray:
    """Per-bit reliabilities (frames, steps): all merges handled at once, one trace-back step of the
    competing paths per depth. losers[:, t] is the competitor's state after step t - 1."""
    frames, steps = bits.shape
    rel = np.full((frames, steps), np.inf, dtype=np.float32)
    rows = np.arange(frames)[:, None]
    comp = losers[:, 1:]  # merges at steps 1.. (step 0 has no predecessor to differ in)
    margin = path_margin[:, 1:]
    for d in range(1, min(SOVA_DEPTH, steps - 1) + 1):
        width = steps - d  # merges at t = d .. steps - 1 still reach back to bit t - d >= 0
        t_index = np.arange(d, steps)[None, :]
        differ = (comp >> 5) != bits[:, :width]
        rel[:, :width] = np.minimum(rel[:, :width], np.where(differ, margin[:, -width:], np.inf))
        if d < min(SOVA_DEPTH, steps - 1):
            step = t_index - d  # the competitor's state after step t - d came from step t - d's decision
            comp = ((comp & 31) << 1) | decisions[step, rows, comp]
            comp = comp[:, 1:]
    return rel


def symbol_reliability(bit_reliability: np.ndarray) -> np.ndarray:
    """(..., 4 * n) per-bit reliabilities -> (..., n) per GF(16) symbol: its least sure bit."""
    return bit_reliability.reshape(*bit_reliability.shape[:-1], -1, 4).min(axis=-1)
