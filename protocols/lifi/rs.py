"""Reed-Solomon RS(15, k) over GF(16) as used by IEEE 802.15.7 PHY I (k in 2, 4, 7, 11).

What is implemented:
- generator g(x) = (x - a^1)(x - a^2)...(x - a^(15-k)) (first consecutive root a^1), a = root of x^4+x+1;
- systematic encoding, codeword = k data symbols (highest degree first) then 15-k parity symbols;
- a symbol stream is cut into blocks of k; when the last block holds r < k symbols it is *shortened*:
  it is encoded as if preceded by k - r zero symbols, which are not sent, so it goes out as
  r data + (15 - k) parity symbols (the standard's "the last block may be shortened");
- decoding: syndromes, Berlekamp-Massey, Chien search, Forney; corrects e symbol errors and f erasures
  (positions flagged unreliable by the receiver) per block when 2e + f <= 15 - k, also in a shortened
  block; errors-only decoding is the case f = 0. Beyond that ``RSError`` is raised when the decoder can
  tell (too many errata, locator degree and root count disagree, an error outside the sent positions, or
  non-zero syndromes after correction). Miscorrection beyond capacity is possible and is left to the
  frame CRC;
- GMD decoding (decode_block_gmd): errors-only first, then erasing the least reliable symbols and
  keeping the candidate closest in soft distance.
"""

from protocols.lifi import gf16
from protocols.lifi.compat import micropython
from protocols.lifi.errors import LifiError

N = 15
VALID_K = (2, 4, 7, 11)

_mul = gf16.mul
_EXP = gf16.EXP
_LOG = gf16.LOG


class RSError(LifiError):
    """A block had more symbol errors than the code can correct."""


_generators = {}  # type: dict


def generator(n_parity):
    """Coefficients of g(x), highest degree first (monic, length n_parity + 1)."""
    g = _generators.get(n_parity)
    if g is None:
        g = bytearray(1)
        g[0] = 1
        for i in range(1, n_parity + 1):
            root = _EXP[i]
            nxt = bytearray(len(g) + 1)
            for j in range(len(g)):
                nxt[j] ^= g[j]
                nxt[j + 1] ^= _mul(g[j], root)
            g = nxt
        _generators[n_parity] = g
    return g


def _check_k(k):
    if k not in VALID_K:
        raise ValueError("RS(15,k) needs k in 2, 4, 7, 11, got %r" % (k,))


@micropython.native
def parity(src, start, count, k, out, pos):
    """Write the 15-k parity symbols of src[start:start+count] (count <= k; fewer = shortened block)
    into out[pos:]. LFSR division of data(x) * x^(15-k) by g(x), with log/antilog tables inlined."""
    n_par = N - k
    g = generator(n_par)
    exp = _EXP
    log = _LOG
    last = pos + n_par - 1
    for i in range(pos, last + 1):
        out[i] = 0
    for j in range(start, start + count):
        fb = src[j] ^ out[pos]
        if fb:
            lf = log[fb]
            for i in range(n_par - 1):
                gi = g[i + 1]
                out[pos + i] = out[pos + i + 1] ^ (exp[lf + log[gi]] if gi else 0)
            out[last] = exp[lf + log[g[n_par]]]
        else:
            for i in range(pos, last):
                out[i] = out[i + 1]
            out[last] = 0


def encode_block(data, k):
    """One systematic codeword (bytearray) for ``len(data) <= k`` data symbols (shortened if fewer)."""
    _check_k(k)
    if len(data) > k:
        raise ValueError("a block holds at most %d data symbols" % k)
    out = bytearray(len(data) + N - k)
    out[:len(data)] = bytes(data)
    parity(out, 0, len(data), k, out, len(data))
    return out


def encoded_length(n_data, k):
    """Symbols sent for n_data data symbols: full blocks of 15, a shortened last block of r + 15 - k."""
    full, rest = divmod(n_data, k)
    return full * N + (rest + N - k if rest else 0)


def encode(symbols, k, out=None, n_data=None):
    """Encode the first n_data (default all) symbols block by block into out (allocated if None);
    returns out. Data symbols are copied, so out may not overlap symbols."""
    _check_k(k)
    if n_data is None:
        n_data = len(symbols)
    if out is None:
        out = bytearray(encoded_length(n_data, k))
    pos = 0
    i = 0
    n_par = N - k
    while i < n_data:
        r = min(n_data - i, k)
        for j in range(r):
            out[pos + j] = symbols[i + j]
        parity(symbols, i, r, k, out, pos + r)
        pos += r + n_par
        i += r
    return out


def _syndromes(word, n_par):
    synd = bytearray(n_par)
    nonzero = False
    for j in range(n_par):
        x = _EXP[j + 1]
        y = 0
        for c in word:
            y = (_mul(y, x)) ^ c
        synd[j] = y
        if y:
            nonzero = True
    return synd, nonzero


def _erasure_locator(erasures, length, n_par):
    """Gamma(x) = prod (1 + X_i x) over the erased positions X_i = a^(degree of position i), lowest
    degree first, in a buffer of n_par + 1 coefficients."""
    gam = bytearray(n_par + 1)
    gam[0] = 1
    f = 0
    for index in erasures:
        if not 0 <= index < length:
            raise ValueError("erasure at %d outside a %d-symbol code word" % (index, length))
        x = _EXP[length - 1 - index]
        f += 1
        for i in range(f, 0, -1):
            gam[i] ^= _mul(gam[i - 1], x)
    return gam, f


def decode_block(word, k, erasures=()):
    """Correct one (possibly shortened) codeword in place; returns the number of symbols changed.

    ``erasures`` lists indices (into word) of symbols known to be unreliable: e errors and f erasures
    are corrected when 2e + f <= 15 - k. The errata locator comes from Berlekamp-Massey started on the
    erasure locator (the Forney-syndrome formulation folded into the iteration)."""
    _check_k(k)
    n_par = N - k
    length = len(word)
    if length <= n_par or length > N:
        raise ValueError("codeword length %d impossible for RS(15,%d)" % (length, k))
    if len(erasures) > n_par:
        raise ValueError("%d erasures exceed the %d parity symbols" % (len(erasures), n_par))
    synd, nonzero = _syndromes(word, n_par)
    if not nonzero:
        return 0
    lam, f = _erasure_locator(erasures, length, n_par)
    if f != len(set(erasures)):
        raise ValueError("erasure positions repeat")
    # Berlekamp-Massey from lam = Gamma, degree f: the shortest LFSR generating the syndromes whose
    # connection polynomial keeps Gamma as a factor (Blahut's errors-and-erasures form).
    prev = bytearray(lam)
    degree = f
    shift = 1
    b = 1
    for r in range(f, n_par):
        delta = synd[r]
        for i in range(1, min(degree, r) + 1):
            delta ^= _mul(lam[i], synd[r - i])
        if delta == 0:
            shift += 1
            continue
        coef = gf16.div(delta, b)
        if 2 * degree <= r + f:
            saved = bytearray(lam)
            for i in range(shift, n_par + 1):
                lam[i] ^= _mul(coef, prev[i - shift])
            degree = r + 1 + f - degree
            prev = saved
            b = delta
            shift = 1
        else:
            for i in range(shift, n_par + 1):
                lam[i] ^= _mul(coef, prev[i - shift])
            shift += 1
    if 2 * (degree - f) + f > n_par:
        raise RSError("too many symbol errors (%d errors with %d erasures)" % (degree - f, f))
    # Errata evaluator omega = S(x) * lam(x) mod x^n_par, with S(x) = S1 + S2 x + ...
    omega = bytearray(n_par)
    for i in range(n_par):
        v = 0
        for j in range(min(i, degree) + 1):
            v ^= _mul(lam[j], synd[i - j])
        omega[i] = v
    # Chien search over the positions actually sent (degree 0 .. length-1).
    found = 0
    changed = 0
    for pos_deg in range(length):
        inv = _EXP[(N - pos_deg) % N]  # X^-1 for X = a^pos_deg
        v = 0
        xp = 1
        for i in range(degree + 1):
            v ^= _mul(lam[i], xp)
            xp = _mul(xp, inv)
        if v:
            continue
        # Forney (first root a^1): e = omega(X^-1) / lam'(X^-1).
        num = 0
        xp = 1
        for i in range(n_par):
            num ^= _mul(omega[i], xp)
            xp = _mul(xp, inv)
        den = 0
        xp = 1  # lam'(x) keeps only the odd-degree terms: sum lam[i] x^(i-1), i odd
        inv2 = _mul(inv, inv)
        for i in range(1, degree + 1, 2):
            den ^= _mul(lam[i], xp)
            xp = _mul(xp, inv2)
        if den == 0:
            raise RSError("decoder failure (zero locator derivative)")
        value = gf16.div(num, den)
        if value:  # an erased symbol may have been right all along
            word[length - 1 - pos_deg] ^= value
            changed += 1
        found += 1
    if found != degree:
        raise RSError("too many symbol errors (%d locator roots for degree %d)" % (found, degree))
    if _syndromes(word, n_par)[1]:
        raise RSError("too many symbol errors (residual syndrome)")
    return changed


def _least_reliable(reliability, start, length, count, picked):
    """Fill picked[:count] with the indices (0..length-1) of the count lowest reliability[start + i],
    in increasing order of reliability; a partial selection sort, count is at most 15 - k."""
    for j in range(count):
        best = -1
        for i in range(length):
            taken = False
            for m in range(j):
                if picked[m] == i:
                    taken = True
                    break
            if not taken and (best < 0 or reliability[start + i] < reliability[start + best]):
                best = i
        picked[j] = best


def decode_block_gmd(word, k, reliability, start=0, max_erasures=None):
    """Generalised minimum distance decoding (Forney): errors-only first; when that fails, erase the 2,
    4, ... least reliable symbols (reliability[start + i] for word[i], lower = less sure) up to
    max_erasures (default 15 - k) and, of the code words these trials find, keep the one whose changed
    symbols have the least total reliability (the closest in soft distance: taking the first trial that
    decodes would land on wrong code words far more often). Returns (symbols changed, erasures used)."""
    n_par = N - k
    if max_erasures is None or max_erasures > n_par:
        max_erasures = n_par
    saved = bytearray(word)
    try:
        return decode_block(word, k), 0
    except RSError as exc:
        failure = exc
    picked = bytearray(max_erasures)
    _least_reliable(reliability, start, len(word), max_erasures, picked)
    best = None
    best_cost = 0
    best_f = 0
    best_changed = 0
    f = 2
    while f <= max_erasures:
        word[:] = saved
        try:
            changed = decode_block(word, k, picked[:f])
        except RSError as exc:
            failure = exc
            f += 2
            continue
        cost = 0
        for i in range(len(word)):
            if word[i] != saved[i]:
                cost += reliability[start + i]
        if best is None or cost < best_cost:
            best = bytearray(word)
            best_cost = cost
            best_f = f
            best_changed = changed
        f += 2
    if best is None:
        word[:] = saved
        raise failure
    word[:] = best
    return best_changed, best_f


def decode(symbols, k, n_data, out=None, reliability=None, max_erasures=None):
    """Decode a stream of encoded symbols carrying ``n_data`` data symbols.

    With ``reliability`` (one number per stream symbol, lower = less sure) each block that fails
    errors-only decoding is retried with erasures (decode_block_gmd). Returns (data bytearray,
    corrected symbol count). Raises RSError on an uncorrectable block."""
    _check_k(k)
    if len(symbols) < encoded_length(n_data, k):
        raise ValueError("need %d RS symbols, got %d" % (encoded_length(n_data, k), len(symbols)))
    if out is None:
        out = bytearray(n_data)
    corrected = 0
    src = 0
    dst = 0
    while dst < n_data:
        r = min(k, n_data - dst)
        word = bytearray(symbols[src:src + r + N - k])
        if reliability is None:
            corrected += decode_block(word, k)
        else:
            corrected += decode_block_gmd(word, k, reliability, src, max_erasures)[0]
        out[dst:dst + r] = word[:r]
        src += r + N - k
        dst += r
    return out, corrected
