/*
 * kl_ext's own sort of uint64 keys (ascending, in place), for the
 * Wasserstein kernels (src/_wasserstein.pyx): every sample sort goes
 * through ks_sort, never through NumPy's sort (whose AVX-512 partition uses
 * a memory-destination vpcompressq, microcoded on AMD Zen 4).
 *
 * Keys.  A float64 maps to a uint64 whose unsigned order is the value's
 * order (ks_key_f64: flip every bit of a negative number, the sign bit of
 * the rest; NaN of either sign becomes one key above +inf, so NaN sorts
 * last as in np.sort); float32 likewise to 32 bits (ks_key_f32).  One key
 * sort therefore serves plain values, and (value | index) keys whose low
 * bits carry the sample's position, which is how the weighted path sorts
 * (value, weight) pairs (see pack_row in src/_wasserstein.pyx).
 *
 * Algorithm, per tier (chosen at compile time by the ISA macros that
 * setup.py's -march flags define):
 *   AVX-512 (x86-64-v4)  quicksort.  The pivot is the median of 64 (16 or 8 for
 *       short ranges) samples at evenly spaced positions, themselves sorted
 *       by the network below.  The partition is in place: the first and
 *       last four vectors (and the n % 8 tail) are held in registers, so
 *       the unread part always has >= 8 free slots on each side when a
 *       vector is stored; each vector of 8 keys is permuted in a register
 *       (vpermq, indices from a table by the compare mask) into "left"
 *       lanes at the bottom and "right" lanes at the top, and written with
 *       two plain unaligned stores: at the left write position (its bottom
 *       lanes count) and ending at the right write position (its top lanes
 *       count).  No compress-to-memory (microcoded on Zen 4), no masked
 *       store in the loop; the register vpcompressq version is kept behind
 *       KL_EXT_SORT_COMPRESS (measured slower on Zen 4: see ks8_put).
 *       Ranges of <= 128 keys are sorted in registers (16 zmm at most,
 *       padded with UINT64_MAX): 8 or 16 registers by Batcher's odd-even
 *       merge sort down the columns (min/max only), then three bitonic
 *       merge stages across the lanes with the keys kept in column order
 *       (ks8_bsort), then 8 x 8 transposes; 1 to 4 registers by a 6-layer
 *       in-register network per register, then runs merged pairwise with
 *       the "mirrored half" bitonic merge (compare a_i with the mirror
 *       image of b, then half-cleaners across and within registers).
 *   AVX2 (x86-64-v3)     the same quicksort on 4-lane ymm vectors; AVX2 has
 *       neither compress nor unsigned 64-bit compares, so keys are sorted
 *       with their sign bit flipped (signed order, restored afterwards),
 *       and a 16-entry table of vpermd indices stands in for compress.
 *       Ranges of <= 64 keys: the bitonic network on 16 ymm.
 *   portable             introsort: median-of-3 (ninther for long ranges)
 *       pivot, branch-free Lomuto partition, insertion sort below 24 keys.
 * Every tier: duplicates cost at most two passes per distinct pivot value
 * (a "< pivot" partition that leaves nothing on the left is followed by a
 * "<= pivot" one, whose left part is all equal to the pivot and done), and
 * after 2 log2(n) + 4 levels a range is finished by heapsort, so the worst
 * case is O(n log n).  The output is the unique sorted permutation of the
 * keys, so it does not depend on the tier or the thread count.
 *
 * Written for kl_ext (the design follows the published descriptions of
 * in-register partitioning: Blacher, Giesen, Sanders, Wassenberg, "Vectorized
 * and performance-portable quicksort", SPE 2022; Bramas, "A novel hybrid
 * quicksort algorithm vectorized using AVX-512 on Intel Skylake", 2017).
 */
#ifndef KL_EXT_SORT_H
#define KL_EXT_SORT_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#define KS_INLINE static inline __attribute__((always_inline))
#define KS_SIGN 0x8000000000000000ull

/* ------------------------------------------------------------------ keys */

/* order-preserving key of a double; every NaN -> the key of +qNaN (above
   +inf, below nothing else a double maps to) */
KS_INLINE uint64_t ks_key_f64(double x)
{
    uint64_t b, m;
    memcpy(&b, &x, 8);
    m = (uint64_t)((int64_t)b >> 63);
    b ^= m | KS_SIGN;
    return x != x ? 0xFFF8000000000000ull : b;
}

KS_INLINE double ks_f64_key(uint64_t k)
{
    uint64_t m = (uint64_t)((int64_t)k >> 63);
    double x;
    k ^= (~m) | KS_SIGN;
    memcpy(&x, &k, 8);
    return x;
}

KS_INLINE uint32_t ks_key_f32(float x)
{
    uint32_t b, m;
    memcpy(&b, &x, 4);
    m = (uint32_t)((int32_t)b >> 31);
    b ^= m | 0x80000000u;
    return x != x ? 0xFFC00000u : b;
}

KS_INLINE float ks_f32_key(uint32_t k)
{
    uint32_t m = (uint32_t)((int32_t)k >> 31);
    float x;
    k ^= (~m) | 0x80000000u;
    memcpy(&x, &k, 4);
    return x;
}

/* Scratch of `bytes` for the gather below, for free().  Large buffers are
   2 MB aligned and, on Linux, advised to use transparent huge pages (as
   NumPy does for its large arrays): the gather reads it at random, and with
   4 KB pages nearly every read of a 16 MB buffer is a TLB miss, besides
   4096 page faults per buffer (measured: 8860 minor faults per weighted
   1e6 call before, most of them here and in the walk's scratch). */
static void *ks_scratch(size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= ((size_t)1 << 22)) {
        const size_t al = (size_t)1 << 21;
        size_t sz = (bytes + al - 1) & ~(al - 1);
        void *p = NULL;
        if (posix_memalign(&p, al, sz) != 0)
            return NULL;
        (void)madvise(p, sz, MADV_HUGEPAGE);
        return p;
    }
#endif
    return malloc(bytes);
}

/* xr[i] = x[k_i & mask], wr[i] = w[k_i & mask] for the sorted packed keys
   k.  The indices are random, so each element costs cache misses: with a
   scratch buffer `pairs` of 2 n doubles, x and w are first interleaved
   (one sequential pass) and each gather then touches one cache line, not
   two (measured ~30 % faster at 1e6); pairs NULL gathers from x and w. */
#define KS_GATHER(name, T)                                                    \
static void name(const uint64_t *k, uint64_t mask, const T *x, const double *w, \
                 T *xr, double *wr, size_t n, double *pairs)                  \
{                                                                             \
    size_t i;                                                                 \
    if (pairs == NULL) {                                                      \
        for (i = 0; i < n; i++) {                                             \
            size_t idx = (size_t)(k[i] & mask);                               \
            xr[i] = x[idx];                                                   \
            wr[i] = w[idx];                                                   \
        }                                                                     \
        return;                                                               \
    }                                                                         \
    for (i = 0; i < n; i++) {                                                 \
        pairs[2 * i] = (double)x[i];                                          \
        pairs[2 * i + 1] = w[i];                                              \
    }                                                                         \
    for (i = 0; i < n; i++) {                                                 \
        size_t idx = (size_t)(k[i] & mask);                                   \
        xr[i] = (T)pairs[2 * idx];                                            \
        wr[i] = pairs[2 * idx + 1];                                           \
    }                                                                         \
}
KS_GATHER(ks_gather_f64, double)
KS_GATHER(ks_gather_f32, float)

/* -------------------------------------------------- scalar building blocks */

static void ks_sift(uint64_t *a, size_t i, size_t n)
{
    uint64_t v = a[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && a[c + 1] > a[c])
            c++;
        if (a[c] <= v)
            break;
        a[i] = a[c];
        i = c;
    }
    a[i] = v;
}

/* the O(n log n) guarantee against bad pivots */
static void ks_heapsort(uint64_t *a, size_t n)
{
    size_t i, e;
    if (n < 2)
        return;
    for (i = n / 2; i-- > 0;)
        ks_sift(a, i, n);
    for (e = n - 1; e > 0; e--) {
        uint64_t t = a[0];
        a[0] = a[e];
        a[e] = t;
        ks_sift(a, 0, e);
    }
}

static void ks_insertion(uint64_t *a, size_t n)
{
    size_t i, j;
    for (i = 1; i < n; i++) {
        uint64_t v = a[i];
        for (j = i; j > 0 && a[j - 1] > v; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

KS_INLINE int ks_depth(size_t n)
{
    int d = 4;
    while (n > 1) {
        n >>= 1;
        d += 2;
    }
    return d;
}

/* branch-free Lomuto: [0, k) < p (le = 0) or <= p (le = 1), [k, n) the rest */
static size_t ks_part_scalar(uint64_t *a, size_t n, uint64_t p, int le)
{
    size_t i, k = 0;
    if (le) {
        for (i = 0; i < n; i++) {
            uint64_t v = a[i];
            a[i] = a[k];
            a[k] = v;
            k += v <= p;
        }
    } else {
        for (i = 0; i < n; i++) {
            uint64_t v = a[i];
            a[i] = a[k];
            a[k] = v;
            k += v < p;
        }
    }
    return k;
}

KS_INLINE uint64_t ks_med3(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t lo = a < b ? a : b, hi = a < b ? b : a;
    return c < lo ? lo : (c > hi ? hi : c);
}

/* median of 3 (ninther above 256 keys) */
static __attribute__((unused)) uint64_t ks_pivot_scalar(const uint64_t *a, size_t n)
{
    if (n > 256) {
        size_t s = n / 8;
        return ks_med3(ks_med3(a[0], a[s], a[2 * s]),
                       ks_med3(a[3 * s], a[n / 2], a[5 * s]),
                       ks_med3(a[6 * s], a[7 * s], a[n - 1]));
    }
    return ks_med3(a[0], a[n / 2], a[n - 1]);
}

static __attribute__((unused)) void ks_sort_scalar(uint64_t *a, size_t n, int depth)
{
    while (n > 24) {
        uint64_t p;
        size_t k;
        if (depth-- <= 0) {
            ks_heapsort(a, n);
            return;
        }
        p = ks_pivot_scalar(a, n);
        k = ks_part_scalar(a, n, p, 0);
        if (k == 0) {
            /* nothing below the pivot: peel off the keys equal to it */
            k = ks_part_scalar(a, n, p, 1);
            a += k;
            n -= k;
            continue;
        }
        if (k < n - k) {
            ks_sort_scalar(a, k, depth);
            a += k;
            n -= k;
        } else {
            ks_sort_scalar(a + k, n - k, depth);
            n = k;
        }
    }
    ks_insertion(a, n);
}

/* ------------------------------------------------------------- AVX-512 */
#if defined(__AVX512F__)

#define KS_V8(a, b, c, d, e, f, g, h) _mm512_set_epi64(h, g, f, e, d, c, b, a)

/* compare-exchange of each lane with its partner in p (a permutation of v
   that pairs lanes): the lanes in `hi` keep the max, the others the min */
KS_INLINE __m512i ks8_cxp(__m512i v, __m512i p, __mmask8 hi)
{
    return _mm512_mask_max_epu64(_mm512_min_epu64(v, p), hi, v, p);
}

/* partners at distance 1, 2, 4 (in-lane shuffles where possible: cheaper
   than a full vpermq), the mirror image within 4 and within 8 lanes */
KS_INLINE __m512i ks8_sw1(__m512i v) { return _mm512_shuffle_epi32(v, (_MM_PERM_ENUM)0x4E); }
KS_INLINE __m512i ks8_sw2(__m512i v) { return _mm512_permutex_epi64(v, 0x4E); }
KS_INLINE __m512i ks8_sw4(__m512i v) { return _mm512_shuffle_i64x2(v, v, 0x4E); }
KS_INLINE __m512i ks8_rev4(__m512i v) { return _mm512_permutex_epi64(v, 0x1B); }
KS_INLINE __m512i ks8_rev(__m512i v) { return ks8_rev4(ks8_sw4(v)); }

/* sort the 8 lanes of one register (bitonic, 6 layers) */
KS_INLINE __m512i ks8_sort1(__m512i v)
{
    v = ks8_cxp(v, ks8_sw1(v), 0xAA);
    v = ks8_cxp(v, ks8_rev4(v), 0xCC);
    v = ks8_cxp(v, ks8_sw1(v), 0xAA);
    v = ks8_cxp(v, ks8_rev(v), 0xF0);
    v = ks8_cxp(v, ks8_sw2(v), 0xCC);
    return ks8_cxp(v, ks8_sw1(v), 0xAA);
}

/* a bitonic register -> sorted (half-cleaners at distances 4, 2, 1) */
KS_INLINE __m512i ks8_clean(__m512i v)
{
    v = ks8_cxp(v, ks8_sw4(v), 0xF0);
    v = ks8_cxp(v, ks8_sw2(v), 0xCC);
    return ks8_cxp(v, ks8_sw1(v), 0xAA);
}

/* sort the 8 N keys of r[0..N) (N a power of two <= 16, a constant after
   inlining, so r lives in registers): registers sorted one by one, then
   runs of w registers merged pairwise: the first run against the mirror
   image of the second (min to the first, max to the second: two bitonic
   halves), then half-cleaners across registers and within them */
KS_INLINE void ks8_merge_from(__m512i *r, const int N, const int w0)
{
    /* (the loops run over log2 of the widths: constant trip counts, which
       GCC unrolls completely, so r stays in registers; with `w *= 2` GCC
       kept the merges as loops over r in memory: 128 keys sorted in 264
       against 185 ns) */
    int i, lw, w, base, ld, d, j;
    const int lw0 = w0 == 1 ? 0 : w0 == 2 ? 1 : w0 == 4 ? 2 : 3;
    const int ln = N == 1 ? 0 : N == 2 ? 1 : N == 4 ? 2 : N == 8 ? 3 : 4;
    _Pragma("GCC unroll 16")
    for (lw = lw0; lw < ln; lw++) {
        w = 1 << lw;
        _Pragma("GCC unroll 16")
        for (base = 0; base < N; base += 2 * w) {
            __m512i lo[8], hi[8];
            _Pragma("GCC unroll 16")
            for (i = 0; i < w; i++) {
                __m512i b = ks8_rev(r[base + 2 * w - 1 - i]);
                lo[i] = _mm512_min_epu64(r[base + i], b);
                hi[i] = _mm512_max_epu64(r[base + i], b);
            }
            _Pragma("GCC unroll 16")
            for (i = 0; i < w; i++) {
                r[base + i] = lo[i];
                r[base + w + i] = hi[i];
            }
            _Pragma("GCC unroll 16")
            for (ld = lw - 1; ld >= 0; ld--) {
                d = 1 << ld;
                _Pragma("GCC unroll 16")
                for (j = base; j < base + 2 * w; j++) {
                    if ((j - base) & d)
                        continue;
                    __m512i a = r[j], b = r[j + d];
                    r[j] = _mm512_min_epu64(a, b);
                    r[j + d] = _mm512_max_epu64(a, b);
                }
            }
            _Pragma("GCC unroll 16")
            for (i = base; i < base + 2 * w; i++)
                r[i] = ks8_clean(r[i]);
        }
    }
}

KS_INLINE void ks8_network(__m512i *r, const int N)
{
    int i;
    _Pragma("GCC unroll 16")
    for (i = 0; i < N; i++)
        r[i] = ks8_sort1(r[i]);
    ks8_merge_from(r, N, 1);
}

/* transpose the 8 x 8 matrix of keys r[0..8) (rows = registers): three
   rounds of swapping the off-diagonal blocks of width d = 4, 2, 1 */
KS_INLINE void ks8_transpose(__m512i *r)
{
    int d, i;
    _Pragma("GCC unroll 4")
    for (d = 4; d >= 1; d /= 2) {
        const __m512i lo = d == 4 ? KS_V8(0, 1, 2, 3, 8, 9, 10, 11)
                         : d == 2 ? KS_V8(0, 1, 8, 9, 4, 5, 12, 13)
                                  : KS_V8(0, 8, 2, 10, 4, 12, 6, 14);
        const __m512i hi = d == 4 ? KS_V8(4, 5, 6, 7, 12, 13, 14, 15)
                         : d == 2 ? KS_V8(2, 3, 10, 11, 6, 7, 14, 15)
                                  : KS_V8(1, 9, 3, 11, 5, 13, 7, 15);
        _Pragma("GCC unroll 8")
        for (i = 0; i < 8; i++) {
            if (i & d)
                continue;
            __m512i a = r[i], b = r[i + d];
            r[i] = _mm512_permutex2var_epi64(a, lo, b);
            r[i + d] = _mm512_permutex2var_epi64(a, hi, b);
        }
    }
}

/* Sort the 8 N keys of r[0..N), N = 8 or 16, as a bitonic network in which
   the key with logical index k sits in register k % N, lane k / N: the
   first log2(N) bits of k are register bits (a layer on them is one min
   and one max per register pair, no shuffle) and the top three are lane
   bits.  The columns are sorted first (Batcher's networks down the
   registers: 19 or 63 comparators); then, for each of the three merge
   stages, the "mirror" layer (k against k ^ (2^s - 1): register r against
   N - 1 - r with its lanes reversed within the runs being merged), the
   half-cleaners on the lane bits below (in-register, a shuffle, a min and
   a masked max), then on the register bits.  The sorted keys are then in
   column order: 8 x 8 transposes put them in memory order (register i =
   keys 8 i .. 8 i + 7).  About 660 vector operations for 128 keys against
   ~800 for the earlier scheme (Batcher down the columns, transposes, then
   bitonic merges of sorted registers, each with three in-register layers
   per register), 280 against ~440 for 64 keys: ks8_small on 128 random
   keys 185 -> 157 ns, on 64 keys 99 -> 71 ns. */
#define KS8_CE(x, y) do { __m512i m_ = _mm512_min_epu64(r[x], r[y]); \
        r[y] = _mm512_max_epu64(r[x], r[y]); r[x] = m_; } while (0)
KS_INLINE void ks8_columns8(__m512i *r)
{
    KS8_CE(0, 1); KS8_CE(2, 3); KS8_CE(4, 5); KS8_CE(6, 7);
    KS8_CE(0, 2); KS8_CE(1, 3); KS8_CE(4, 6); KS8_CE(5, 7);
    KS8_CE(1, 2); KS8_CE(5, 6);
    KS8_CE(0, 4); KS8_CE(1, 5); KS8_CE(2, 6); KS8_CE(3, 7);
    KS8_CE(2, 4); KS8_CE(3, 5);
    KS8_CE(1, 2); KS8_CE(3, 4); KS8_CE(5, 6);
}

KS_INLINE void ks8_columns16(__m512i *r)
{
    KS8_CE(0, 1); KS8_CE(2, 3); KS8_CE(4, 5); KS8_CE(6, 7);
    KS8_CE(8, 9); KS8_CE(10, 11); KS8_CE(12, 13); KS8_CE(14, 15);
    KS8_CE(0, 2); KS8_CE(1, 3); KS8_CE(4, 6); KS8_CE(5, 7);
    KS8_CE(8, 10); KS8_CE(9, 11); KS8_CE(12, 14); KS8_CE(13, 15);
    KS8_CE(1, 2); KS8_CE(5, 6); KS8_CE(9, 10); KS8_CE(13, 14);
    KS8_CE(0, 4); KS8_CE(1, 5); KS8_CE(2, 6); KS8_CE(3, 7);
    KS8_CE(8, 12); KS8_CE(9, 13); KS8_CE(10, 14); KS8_CE(11, 15);
    KS8_CE(2, 4); KS8_CE(3, 5); KS8_CE(10, 12); KS8_CE(11, 13);
    KS8_CE(1, 2); KS8_CE(3, 4); KS8_CE(5, 6); KS8_CE(9, 10);
    KS8_CE(11, 12); KS8_CE(13, 14);
    KS8_CE(0, 8); KS8_CE(1, 9); KS8_CE(2, 10); KS8_CE(3, 11);
    KS8_CE(4, 12); KS8_CE(5, 13); KS8_CE(6, 14); KS8_CE(7, 15);
    KS8_CE(4, 8); KS8_CE(5, 9); KS8_CE(6, 10); KS8_CE(7, 11);
    KS8_CE(2, 4); KS8_CE(3, 5); KS8_CE(6, 8); KS8_CE(7, 9);
    KS8_CE(10, 12); KS8_CE(11, 13);
    KS8_CE(1, 2); KS8_CE(3, 4); KS8_CE(5, 6); KS8_CE(7, 8);
    KS8_CE(9, 10); KS8_CE(11, 12); KS8_CE(13, 14);
}

/* lanes l -> l ^ (2^L - 1): the lane order reversed within runs of 2^L */
KS_INLINE __m512i ks8_flip(__m512i v, const int L)
{
    if (L == 1)
        return ks8_sw1(v);
    if (L == 2)
        return ks8_rev4(v);
    return _mm512_permutexvar_epi64(KS_V8(7, 6, 5, 4, 3, 2, 1, 0), v);
}

KS_INLINE void ks8_bsort(__m512i *r, const int N)
{
    const int R = N == 16 ? 4 : 3;
    int L, j, i, k;
    if (N == 16)
        ks8_columns16(r);
    else
        ks8_columns8(r);
    _Pragma("GCC unroll 4")
    for (L = 1; L <= 3; L++) {
        /* lanes whose bit L - 1 is set hold the upper run's keys */
        const __mmask8 hm = L == 1 ? 0xAA : L == 2 ? 0xCC : 0xF0;
        _Pragma("GCC unroll 16")
        for (i = 0; i < N / 2; i++) {
            __m512i x = r[i], y = ks8_flip(r[N - 1 - i], L);
            __m512i lo = _mm512_mask_max_epu64(_mm512_min_epu64(x, y), hm, x, y);
            __m512i hi = _mm512_mask_min_epu64(_mm512_max_epu64(x, y), hm, x, y);
            r[i] = lo;
            r[N - 1 - i] = ks8_flip(hi, L);
        }
        _Pragma("GCC unroll 4")
        for (j = L - 2; j >= 0; j--) {
            _Pragma("GCC unroll 16")
            for (i = 0; i < N; i++)
                r[i] = j == 2 ? ks8_cxp(r[i], ks8_sw4(r[i]), 0xF0)
                     : j == 1 ? ks8_cxp(r[i], ks8_sw2(r[i]), 0xCC)
                              : ks8_cxp(r[i], ks8_sw1(r[i]), 0xAA);
        }
        _Pragma("GCC unroll 4")
        for (j = R - 1; j >= 0; j--) {
            _Pragma("GCC unroll 16")
            for (k = 0; k < N; k++) {
                if (k & (1 << j))
                    continue;
                KS8_CE(k, k + (1 << j));
            }
        }
    }
    ks8_transpose(r);
    if (N == 16) {
        __m512i q[16];
        ks8_transpose(r + 8);
        _Pragma("GCC unroll 8")
        for (i = 0; i < 8; i++) {
            q[2 * i] = r[i];
            q[2 * i + 1] = r[8 + i];
        }
        _Pragma("GCC unroll 16")
        for (i = 0; i < 16; i++)
            r[i] = q[i];
    }
}
#undef KS8_CE

KS_INLINE __mmask8 ks8_lanes(size_t n, size_t at)
{
    /* lanes of the register starting at key `at` that hold one of n keys */
    if (at >= n)
        return 0;
    return n - at >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n - at)) - 1);
}

KS_INLINE void ks8_small_n(uint64_t *a, size_t n, const int N)
{
    __m512i r[16];
    const __m512i fill = _mm512_set1_epi64(-1);
    int i;
    _Pragma("GCC unroll 16")
    for (i = 0; i < N; i++)
        r[i] = _mm512_mask_loadu_epi64(fill, ks8_lanes(n, 8 * (size_t)i), a + 8 * i);
    if (N >= 8)
        ks8_bsort(r, N);
    else
        ks8_network(r, N);
    _Pragma("GCC unroll 16")
    for (i = 0; i < N; i++)
        _mm512_mask_storeu_epi64(a + 8 * i, ks8_lanes(n, 8 * (size_t)i), r[i]);
}

static void ks8_small1(uint64_t *a, size_t n) { ks8_small_n(a, n, 1); }
static void ks8_small2(uint64_t *a, size_t n) { ks8_small_n(a, n, 2); }
static void ks8_small4(uint64_t *a, size_t n) { ks8_small_n(a, n, 4); }
static void ks8_small8(uint64_t *a, size_t n) { ks8_small_n(a, n, 8); }
static void ks8_small16(uint64_t *a, size_t n) { ks8_small_n(a, n, 16); }

/* n <= 128 keys */
static void ks8_small(uint64_t *a, size_t n)
{
    if (n <= 1)
        return;
    if (n <= 8)
        ks8_small1(a, n);
    else if (n <= 16)
        ks8_small2(a, n);
    else if (n <= 32)
        ks8_small4(a, n);
    else if (n <= 64)
        ks8_small8(a, n);
    else
        ks8_small16(a, n);
}

/* The keys of v in lanes `valid` whose bit is clear in `right` go to
   a[*wl...), the others to a[...*wr): one vector with the left keys at the
   bottom and the right keys at the top, stored at both places with plain
   unaligned stores (the slots beyond the counted lanes are free: see
   ks8_partition).  The vector is made by one vpermq whose indices come
   from a 2 KB table (ks8_perm[m]: the lanes whose bit is clear in m, then
   the others), not by vpcompressq: on Zen 4 even the register form of
   vpcompressq is slow enough that two per vector doubled the cost of a
   partition pass (0.43 against 0.25 ns/key on 64K keys in L2, 9.5 against
   7.3 ms for 1e6 random keys).  Building with -DKL_EXT_SORT_COMPRESS=1
   selects the compress version (two vpcompressq zmm, zmm, a rotation and a
   blend) for comparison. */
#if defined(KL_EXT_SORT_COMPRESS) && KL_EXT_SORT_COMPRESS
KS_INLINE void ks8_put(uint64_t *a, __m512i v, __mmask8 right, __mmask8 valid,
                       size_t *wl, size_t *wr)
{
    const __m512i iota = KS_V8(0, 1, 2, 3, 4, 5, 6, 7);
    __mmask8 rt = right & valid, lt = (__mmask8)(~right) & valid;
    size_t cr = (size_t)__builtin_popcount(rt), cl = 8 - cr;
    __m512i hi = _mm512_maskz_compress_epi64(rt, v);
    /* rotate up by cl lanes: the right keys fill lanes cl..7 */
    hi = _mm512_permutexvar_epi64(_mm512_sub_epi64(iota, _mm512_set1_epi64((long long)cl)), hi);
    v = _mm512_mask_blend_epi64((__mmask8)((1u << cl) - 1), hi,
                                _mm512_maskz_compress_epi64(lt, v));
    _mm512_storeu_si512((void *)(a + *wl), v);
    _mm512_storeu_si512((void *)(a + *wr - 8), v);
    *wl += (size_t)__builtin_popcount(lt);
    *wr -= cr;
}
#else
static const uint8_t ks8_perm[256][8] = {
    {0,1,2,3,4,5,6,7}, {1,2,3,4,5,6,7,0}, {0,2,3,4,5,6,7,1}, {2,3,4,5,6,7,0,1}, {0,1,3,4,5,6,7,2}, {1,3,4,5,6,7,0,2},
    {0,3,4,5,6,7,1,2}, {3,4,5,6,7,0,1,2}, {0,1,2,4,5,6,7,3}, {1,2,4,5,6,7,0,3}, {0,2,4,5,6,7,1,3}, {2,4,5,6,7,0,1,3},
    {0,1,4,5,6,7,2,3}, {1,4,5,6,7,0,2,3}, {0,4,5,6,7,1,2,3}, {4,5,6,7,0,1,2,3}, {0,1,2,3,5,6,7,4}, {1,2,3,5,6,7,0,4},
    {0,2,3,5,6,7,1,4}, {2,3,5,6,7,0,1,4}, {0,1,3,5,6,7,2,4}, {1,3,5,6,7,0,2,4}, {0,3,5,6,7,1,2,4}, {3,5,6,7,0,1,2,4},
    {0,1,2,5,6,7,3,4}, {1,2,5,6,7,0,3,4}, {0,2,5,6,7,1,3,4}, {2,5,6,7,0,1,3,4}, {0,1,5,6,7,2,3,4}, {1,5,6,7,0,2,3,4},
    {0,5,6,7,1,2,3,4}, {5,6,7,0,1,2,3,4}, {0,1,2,3,4,6,7,5}, {1,2,3,4,6,7,0,5}, {0,2,3,4,6,7,1,5}, {2,3,4,6,7,0,1,5},
    {0,1,3,4,6,7,2,5}, {1,3,4,6,7,0,2,5}, {0,3,4,6,7,1,2,5}, {3,4,6,7,0,1,2,5}, {0,1,2,4,6,7,3,5}, {1,2,4,6,7,0,3,5},
    {0,2,4,6,7,1,3,5}, {2,4,6,7,0,1,3,5}, {0,1,4,6,7,2,3,5}, {1,4,6,7,0,2,3,5}, {0,4,6,7,1,2,3,5}, {4,6,7,0,1,2,3,5},
    {0,1,2,3,6,7,4,5}, {1,2,3,6,7,0,4,5}, {0,2,3,6,7,1,4,5}, {2,3,6,7,0,1,4,5}, {0,1,3,6,7,2,4,5}, {1,3,6,7,0,2,4,5},
    {0,3,6,7,1,2,4,5}, {3,6,7,0,1,2,4,5}, {0,1,2,6,7,3,4,5}, {1,2,6,7,0,3,4,5}, {0,2,6,7,1,3,4,5}, {2,6,7,0,1,3,4,5},
    {0,1,6,7,2,3,4,5}, {1,6,7,0,2,3,4,5}, {0,6,7,1,2,3,4,5}, {6,7,0,1,2,3,4,5}, {0,1,2,3,4,5,7,6}, {1,2,3,4,5,7,0,6},
    {0,2,3,4,5,7,1,6}, {2,3,4,5,7,0,1,6}, {0,1,3,4,5,7,2,6}, {1,3,4,5,7,0,2,6}, {0,3,4,5,7,1,2,6}, {3,4,5,7,0,1,2,6},
    {0,1,2,4,5,7,3,6}, {1,2,4,5,7,0,3,6}, {0,2,4,5,7,1,3,6}, {2,4,5,7,0,1,3,6}, {0,1,4,5,7,2,3,6}, {1,4,5,7,0,2,3,6},
    {0,4,5,7,1,2,3,6}, {4,5,7,0,1,2,3,6}, {0,1,2,3,5,7,4,6}, {1,2,3,5,7,0,4,6}, {0,2,3,5,7,1,4,6}, {2,3,5,7,0,1,4,6},
    {0,1,3,5,7,2,4,6}, {1,3,5,7,0,2,4,6}, {0,3,5,7,1,2,4,6}, {3,5,7,0,1,2,4,6}, {0,1,2,5,7,3,4,6}, {1,2,5,7,0,3,4,6},
    {0,2,5,7,1,3,4,6}, {2,5,7,0,1,3,4,6}, {0,1,5,7,2,3,4,6}, {1,5,7,0,2,3,4,6}, {0,5,7,1,2,3,4,6}, {5,7,0,1,2,3,4,6},
    {0,1,2,3,4,7,5,6}, {1,2,3,4,7,0,5,6}, {0,2,3,4,7,1,5,6}, {2,3,4,7,0,1,5,6}, {0,1,3,4,7,2,5,6}, {1,3,4,7,0,2,5,6},
    {0,3,4,7,1,2,5,6}, {3,4,7,0,1,2,5,6}, {0,1,2,4,7,3,5,6}, {1,2,4,7,0,3,5,6}, {0,2,4,7,1,3,5,6}, {2,4,7,0,1,3,5,6},
    {0,1,4,7,2,3,5,6}, {1,4,7,0,2,3,5,6}, {0,4,7,1,2,3,5,6}, {4,7,0,1,2,3,5,6}, {0,1,2,3,7,4,5,6}, {1,2,3,7,0,4,5,6},
    {0,2,3,7,1,4,5,6}, {2,3,7,0,1,4,5,6}, {0,1,3,7,2,4,5,6}, {1,3,7,0,2,4,5,6}, {0,3,7,1,2,4,5,6}, {3,7,0,1,2,4,5,6},
    {0,1,2,7,3,4,5,6}, {1,2,7,0,3,4,5,6}, {0,2,7,1,3,4,5,6}, {2,7,0,1,3,4,5,6}, {0,1,7,2,3,4,5,6}, {1,7,0,2,3,4,5,6},
    {0,7,1,2,3,4,5,6}, {7,0,1,2,3,4,5,6}, {0,1,2,3,4,5,6,7}, {1,2,3,4,5,6,0,7}, {0,2,3,4,5,6,1,7}, {2,3,4,5,6,0,1,7},
    {0,1,3,4,5,6,2,7}, {1,3,4,5,6,0,2,7}, {0,3,4,5,6,1,2,7}, {3,4,5,6,0,1,2,7}, {0,1,2,4,5,6,3,7}, {1,2,4,5,6,0,3,7},
    {0,2,4,5,6,1,3,7}, {2,4,5,6,0,1,3,7}, {0,1,4,5,6,2,3,7}, {1,4,5,6,0,2,3,7}, {0,4,5,6,1,2,3,7}, {4,5,6,0,1,2,3,7},
    {0,1,2,3,5,6,4,7}, {1,2,3,5,6,0,4,7}, {0,2,3,5,6,1,4,7}, {2,3,5,6,0,1,4,7}, {0,1,3,5,6,2,4,7}, {1,3,5,6,0,2,4,7},
    {0,3,5,6,1,2,4,7}, {3,5,6,0,1,2,4,7}, {0,1,2,5,6,3,4,7}, {1,2,5,6,0,3,4,7}, {0,2,5,6,1,3,4,7}, {2,5,6,0,1,3,4,7},
    {0,1,5,6,2,3,4,7}, {1,5,6,0,2,3,4,7}, {0,5,6,1,2,3,4,7}, {5,6,0,1,2,3,4,7}, {0,1,2,3,4,6,5,7}, {1,2,3,4,6,0,5,7},
    {0,2,3,4,6,1,5,7}, {2,3,4,6,0,1,5,7}, {0,1,3,4,6,2,5,7}, {1,3,4,6,0,2,5,7}, {0,3,4,6,1,2,5,7}, {3,4,6,0,1,2,5,7},
    {0,1,2,4,6,3,5,7}, {1,2,4,6,0,3,5,7}, {0,2,4,6,1,3,5,7}, {2,4,6,0,1,3,5,7}, {0,1,4,6,2,3,5,7}, {1,4,6,0,2,3,5,7},
    {0,4,6,1,2,3,5,7}, {4,6,0,1,2,3,5,7}, {0,1,2,3,6,4,5,7}, {1,2,3,6,0,4,5,7}, {0,2,3,6,1,4,5,7}, {2,3,6,0,1,4,5,7},
    {0,1,3,6,2,4,5,7}, {1,3,6,0,2,4,5,7}, {0,3,6,1,2,4,5,7}, {3,6,0,1,2,4,5,7}, {0,1,2,6,3,4,5,7}, {1,2,6,0,3,4,5,7},
    {0,2,6,1,3,4,5,7}, {2,6,0,1,3,4,5,7}, {0,1,6,2,3,4,5,7}, {1,6,0,2,3,4,5,7}, {0,6,1,2,3,4,5,7}, {6,0,1,2,3,4,5,7},
    {0,1,2,3,4,5,6,7}, {1,2,3,4,5,0,6,7}, {0,2,3,4,5,1,6,7}, {2,3,4,5,0,1,6,7}, {0,1,3,4,5,2,6,7}, {1,3,4,5,0,2,6,7},
    {0,3,4,5,1,2,6,7}, {3,4,5,0,1,2,6,7}, {0,1,2,4,5,3,6,7}, {1,2,4,5,0,3,6,7}, {0,2,4,5,1,3,6,7}, {2,4,5,0,1,3,6,7},
    {0,1,4,5,2,3,6,7}, {1,4,5,0,2,3,6,7}, {0,4,5,1,2,3,6,7}, {4,5,0,1,2,3,6,7}, {0,1,2,3,5,4,6,7}, {1,2,3,5,0,4,6,7},
    {0,2,3,5,1,4,6,7}, {2,3,5,0,1,4,6,7}, {0,1,3,5,2,4,6,7}, {1,3,5,0,2,4,6,7}, {0,3,5,1,2,4,6,7}, {3,5,0,1,2,4,6,7},
    {0,1,2,5,3,4,6,7}, {1,2,5,0,3,4,6,7}, {0,2,5,1,3,4,6,7}, {2,5,0,1,3,4,6,7}, {0,1,5,2,3,4,6,7}, {1,5,0,2,3,4,6,7},
    {0,5,1,2,3,4,6,7}, {5,0,1,2,3,4,6,7}, {0,1,2,3,4,5,6,7}, {1,2,3,4,0,5,6,7}, {0,2,3,4,1,5,6,7}, {2,3,4,0,1,5,6,7},
    {0,1,3,4,2,5,6,7}, {1,3,4,0,2,5,6,7}, {0,3,4,1,2,5,6,7}, {3,4,0,1,2,5,6,7}, {0,1,2,4,3,5,6,7}, {1,2,4,0,3,5,6,7},
    {0,2,4,1,3,5,6,7}, {2,4,0,1,3,5,6,7}, {0,1,4,2,3,5,6,7}, {1,4,0,2,3,5,6,7}, {0,4,1,2,3,5,6,7}, {4,0,1,2,3,5,6,7},
    {0,1,2,3,4,5,6,7}, {1,2,3,0,4,5,6,7}, {0,2,3,1,4,5,6,7}, {2,3,0,1,4,5,6,7}, {0,1,3,2,4,5,6,7}, {1,3,0,2,4,5,6,7},
    {0,3,1,2,4,5,6,7}, {3,0,1,2,4,5,6,7}, {0,1,2,3,4,5,6,7}, {1,2,0,3,4,5,6,7}, {0,2,1,3,4,5,6,7}, {2,0,1,3,4,5,6,7},
    {0,1,2,3,4,5,6,7}, {1,0,2,3,4,5,6,7}, {0,1,2,3,4,5,6,7}, {0,1,2,3,4,5,6,7}};

KS_INLINE void ks8_put(uint64_t *a, __m512i v, __mmask8 right, __mmask8 valid,
                       size_t *wl, size_t *wr)
{
    /* (lanes outside `valid`, at the top of a partial tail vector, count
       as left in the table: they land above the left keys, in free slots) */
    __mmask8 rt = right & valid, lt = (__mmask8)(~right) & valid;
    __m512i idx = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)ks8_perm[(unsigned)rt]));
    v = _mm512_permutexvar_epi64(idx, v);
    _mm512_storeu_si512((void *)(a + *wl), v);
    _mm512_storeu_si512((void *)(a + *wr - 8), v);
    /* (left count = valid - right: one popcount) */
    size_t cr = (size_t)__builtin_popcount((unsigned)rt);
    (void)lt;
    *wl += (size_t)__builtin_popcount((unsigned)valid) - cr;
    *wr -= cr;
}
#endif

/* partition a[0, n), n >= 40: returns k with a[0, k) < p and a[k, n) >= p
   (le = 0), or a[0, k) <= p and a[k, n) > p (le = 1).  Invariant: the
   unread keys are a[rl, rr) (a multiple of 8), the left part is a[0, wl),
   the right part a[wr, n), and no store may reach the unread keys: a vector
   is stored at wl and ending at wr, so each side needs >= 8 free slots
   (rl - wl and wr - rr) at every store.  KS8_HOLD vectors per side are
   held back in registers (2 * 8 * KS8_HOLD free slots); the batch of
   KS8_BATCH vectors read in one iteration is stored in the next, after the
   next batch has been read from the side with fewer free slots, so each
   iteration starts with F = 16 KS8_HOLD + 8 KS8_BATCH free slots, the side
   not read has >= F / 2 >= 8 KS8_BATCH of them (KS8_HOLD >= KS8_BATCH / 2)
   and the side read gains 8 KS8_BATCH: both keep >= 8 free slots through
   the batch's stores.  The side is chosen without a branch, one batch
   ahead, so neither a mispredicted side nor the loads it selects stall the
   stores (a batch read and stored at once, the side chosen by a branch,
   as before: 1e6 random keys sorted in 6.61-6.82 ms, against 6.22-6.25 ms
   now; choosing by a branch without the lookahead: 7.3 ms; minimum of 30,
   tests alternated in one process).  Single vectors at the end, then the
   held batch and the held vectors once nothing is unread: the free slots
   are then one gap [wl, wr), >= 8 while a vector is held. */
#define KS8_HOLD 2
#define KS8_BATCH 4
static size_t ks8_partition(uint64_t *a, size_t n, uint64_t pivot, int le)
{
    const __m512i pv = _mm512_set1_epi64((long long)pivot);
    const size_t t = n & 7, nb = 8 * KS8_BATCH;
    const __mmask8 tmask = (__mmask8)((1u << t) - 1);
    __m512i tail = _mm512_maskz_loadu_epi64(tmask, a + n - t);
    __m512i L[KS8_HOLD], R[KS8_HOLD], cur[KS8_BATCH], nxt[KS8_BATCH];
    size_t rl = 8 * KS8_HOLD, rr = n - t - 8 * KS8_HOLD, wl = 0, wr = n;
    int i, held = 0;
    for (i = 0; i < KS8_HOLD; i++) {
        L[i] = _mm512_loadu_si512((const void *)(a + 8 * i));
        R[i] = _mm512_loadu_si512((const void *)(a + rr + 8 * i));
    }
#define KS8_RIGHT(v) (le ? _mm512_cmpgt_epu64_mask((v), pv) : _mm512_cmpge_epu64_mask((v), pv))
    if (t)
        ks8_put(a, tail, KS8_RIGHT(tail), tmask, &wl, &wr);
    if (rr - rl >= nb) {
        held = 1;
        for (i = 0; i < KS8_BATCH; i++)
            cur[i] = _mm512_loadu_si512((const void *)(a + rl + 8 * i));
        rl += nb;
        while (rr - rl >= nb) {
            /* all ones: read the left side */
            size_t m = (size_t)0 - (size_t)((rl - wl) <= (wr - rr));
            size_t at = (rl & m) | ((rr - nb) & ~m);
            rl += nb & m;
            rr -= nb & ~m;
            for (i = 0; i < KS8_BATCH; i++)
                nxt[i] = _mm512_loadu_si512((const void *)(a + at + 8 * i));
            for (i = 0; i < KS8_BATCH; i++)
                ks8_put(a, cur[i], KS8_RIGHT(cur[i]), 0xFF, &wl, &wr);
            for (i = 0; i < KS8_BATCH; i++)
                cur[i] = nxt[i];
        }
    }
    while (rl < rr) {
        __m512i v;
        int left = (rl - wl) <= (wr - rr);
        size_t at = left ? rl : rr - 8;
        rl += left ? 8 : 0;
        rr -= left ? 0 : 8;
        v = _mm512_loadu_si512((const void *)(a + at));
        ks8_put(a, v, KS8_RIGHT(v), 0xFF, &wl, &wr);
    }
    if (held) {
        for (i = 0; i < KS8_BATCH; i++)
            ks8_put(a, cur[i], KS8_RIGHT(cur[i]), 0xFF, &wl, &wr);
    }
    for (i = 0; i < KS8_HOLD; i++) {
        ks8_put(a, L[i], KS8_RIGHT(L[i]), 0xFF, &wl, &wr);
        ks8_put(a, R[i], KS8_RIGHT(R[i]), 0xFF, &wl, &wr);
    }
#undef KS8_RIGHT
    return wl;
}

/* median of 64 (n >= 2048), 16 (n >= 1024) or 8 evenly spaced samples of
   a[0, n), n > 128.  (8 samples below 1024 keys: one register's network
   instead of two, for most of the partitions of a sort: 1e6 random keys
   sorted in 7.13-7.31 ms against 7.44-7.53 ms with 16 there, minimum of
   25 sorts, four alternating runs; no change on keys with many
   duplicates.  The early return measured faster than the same choice made
   through k, whose code GCC laid out differently.) */
static uint64_t ks8_pivot(const uint64_t *a, size_t n)
{
    uint64_t s[64];
    __m512i r[8];
    int i, k = n >= 2048 ? 64 : 16;
    size_t step = n / (size_t)k, off = step / 2;
    if (n < 1024) {
        step = n / 8;
        off = step / 2;
        for (i = 0; i < 8; i++)
            s[i] = a[off + (size_t)i * step];
        _mm512_storeu_si512((void *)s, ks8_sort1(_mm512_loadu_si512((const void *)s)));
        return s[4];
    }
    for (i = 0; i < k; i++)
        s[i] = a[off + (size_t)i * step];
    if (k == 64) {
        for (i = 0; i < 8; i++)
            r[i] = _mm512_loadu_si512((const void *)(s + 8 * i));
        ks8_network(r, 8);
        for (i = 0; i < 8; i++)
            _mm512_storeu_si512((void *)(s + 8 * i), r[i]);
    } else {
        for (i = 0; i < 2; i++)
            r[i] = _mm512_loadu_si512((const void *)(s + 8 * i));
        ks8_network(r, 2);
        for (i = 0; i < 2; i++)
            _mm512_storeu_si512((void *)(s + 8 * i), r[i]);
    }
    return s[k / 2];
}

static void ks8_quicksort(uint64_t *a, size_t n, int depth)
{
    while (n > 128) {
        uint64_t p;
        size_t k;
        if (depth-- <= 0) {
            ks_heapsort(a, n);
            return;
        }
        p = ks8_pivot(a, n);
        k = ks8_partition(a, n, p, 0);
        if (k == 0) {
            k = ks8_partition(a, n, p, 1);
            a += k;
            n -= k;
            continue;
        }
        if (k < n - k) {
            ks8_quicksort(a, k, depth);
            a += k;
            n -= k;
        } else {
            ks8_quicksort(a + k, n - k, depth);
            n = k;
        }
    }
    ks8_small(a, n);
}

/* The first partition of a float64 row, fused with making its keys: reads
   the values x[0, n) (n >= 8), maps each vector to keys (ks_key_f64 in
   lanes) and writes them partitioned ("< pivot" left, as ks8_partition
   with le = 0) to a[0, n), out of place (nothing is held back: the free
   slots of a are always the unread count, >= 8 before each full vector;
   the partial tail vector goes first, when all n are free).  Measured on
   1e6 normal values: 0.48 / 0.39 ms against 0.57 / 0.53 ms for the key
   pass followed by ks8_partition (minimum of 60, two runs). */
KS_INLINE __m512i ks8_key_f64v(__m512i b)
{
    __m512i m = _mm512_srai_epi64(b, 63);
    __m512i k = _mm512_xor_si512(b, _mm512_or_si512(m, _mm512_set1_epi64((long long)KS_SIGN)));
    __mmask8 nan = _mm512_cmp_pd_mask(_mm512_castsi512_pd(b), _mm512_castsi512_pd(b), _CMP_UNORD_Q);
    return _mm512_mask_mov_epi64(k, nan, _mm512_set1_epi64((long long)0xFFF8000000000000ull));
}

/* ks8_pivot's median of 64 samples, taken from the values (n >= 64) */
static uint64_t ks8_pivot_f64(const double *x, size_t n)
{
    uint64_t s[64];
    __m512i r[8];
    int i;
    size_t step = n / 64, off = step / 2;
    for (i = 0; i < 64; i++)
        s[i] = ks_key_f64(x[off + (size_t)i * step]);
    for (i = 0; i < 8; i++)
        r[i] = _mm512_loadu_si512((const void *)(s + 8 * i));
    ks8_network(r, 8);
    for (i = 0; i < 8; i++)
        _mm512_storeu_si512((void *)(s + 8 * i), r[i]);
    return s[32];
}

static size_t ks8_partition_f64(const double *x, uint64_t *a, size_t n, uint64_t pivot)
{
    const __m512i pv = _mm512_set1_epi64((long long)pivot);
    const size_t t = n & 7;
    const __mmask8 tmask = (__mmask8)((1u << t) - 1);
    size_t i, wl = 0, wr = n, m = n - t;
    int j;
    if (t) {
        __m512i v = ks8_key_f64v(_mm512_maskz_loadu_epi64(tmask, x + m));
        ks8_put(a, v, _mm512_cmpge_epu64_mask(v, pv), tmask, &wl, &wr);
    }
    for (i = 0; i + 32 <= m; i += 32) {
        __m512i v[4];
        for (j = 0; j < 4; j++)
            v[j] = ks8_key_f64v(_mm512_loadu_si512((const void *)(x + i + 8 * j)));
        for (j = 0; j < 4; j++)
            ks8_put(a, v[j], _mm512_cmpge_epu64_mask(v[j], pv), 0xFF, &wl, &wr);
    }
    for (; i < m; i += 8) {
        __m512i v = ks8_key_f64v(_mm512_loadu_si512((const void *)(x + i)));
        ks8_put(a, v, _mm512_cmpge_epu64_mask(v, pv), 0xFF, &wl, &wr);
    }
    return wl;
}
#define KS_FUSED_F64 1
#define ks_native_pivot_f64 ks8_pivot_f64
#define ks_native_partition_f64 ks8_partition_f64

#define KS_TIER "avx512"
#define ks_sort_depth ks8_quicksort
/* the tier's own key order (see "split sorts" below) */
#define KS_FLIP 0ull
#define ks_native_sort ks8_quicksort
#define ks_native_pivot ks8_pivot
#define ks_native_partition ks8_partition

#elif defined(__AVX2__)  /* ------------------------------------------ AVX2 */

/* AVX2 compares only signed 64-bit integers: the keys are sorted with their
   sign bit flipped (ks4_sort flips it before and after), so below every
   comparison is signed and the padding is INT64_MAX. */

KS_INLINE __m256i ks4_min(__m256i a, __m256i b)
{
    return _mm256_blendv_epi8(a, b, _mm256_cmpgt_epi64(a, b));
}

KS_INLINE __m256i ks4_max(__m256i a, __m256i b)
{
    return _mm256_blendv_epi8(b, a, _mm256_cmpgt_epi64(a, b));
}

/* compare-exchange with the partner lanes in p: dword-blend mask `hi` (two
   bits per 64-bit lane) selects the lanes that keep the max */
#define KS4_CX(v, p, hi) \
    _mm256_blend_epi32(ks4_min((v), (p)), ks4_max((v), (p)), (hi))

KS_INLINE __m256i ks4_sw1(__m256i v) { return _mm256_shuffle_epi32(v, 0x4E); }
KS_INLINE __m256i ks4_sw2(__m256i v) { return _mm256_permute4x64_epi64(v, 0x4E); }
KS_INLINE __m256i ks4_rev(__m256i v) { return _mm256_permute4x64_epi64(v, 0x1B); }

KS_INLINE __m256i ks4_sort1(__m256i v)
{
    v = KS4_CX(v, ks4_sw1(v), 0xCC);
    v = KS4_CX(v, ks4_rev(v), 0xF0);
    return KS4_CX(v, ks4_sw1(v), 0xCC);
}

KS_INLINE __m256i ks4_clean(__m256i v)
{
    v = KS4_CX(v, ks4_sw2(v), 0xF0);
    return KS4_CX(v, ks4_sw1(v), 0xCC);
}

/* the bitonic network of ks8_network on 4-lane registers, N <= 16 */
KS_INLINE void ks4_network(__m256i *r, const int N)
{
    /* (loops over log2 of the widths, as in ks8_merge_from) */
    int i, lw, w, base, ld, d, j;
    const int ln = N == 1 ? 0 : N == 2 ? 1 : N == 4 ? 2 : N == 8 ? 3 : 4;
    _Pragma("GCC unroll 16")
    for (i = 0; i < N; i++)
        r[i] = ks4_sort1(r[i]);
    _Pragma("GCC unroll 16")
    for (lw = 0; lw < ln; lw++) {
        w = 1 << lw;
        _Pragma("GCC unroll 16")
        for (base = 0; base < N; base += 2 * w) {
            __m256i lo[8], hi[8];
            _Pragma("GCC unroll 16")
            for (i = 0; i < w; i++) {
                __m256i b = ks4_rev(r[base + 2 * w - 1 - i]);
                lo[i] = ks4_min(r[base + i], b);
                hi[i] = ks4_max(r[base + i], b);
            }
            _Pragma("GCC unroll 16")
            for (i = 0; i < w; i++) {
                r[base + i] = lo[i];
                r[base + w + i] = hi[i];
            }
            _Pragma("GCC unroll 16")
            for (ld = lw - 1; ld >= 0; ld--) {
                d = 1 << ld;
                _Pragma("GCC unroll 16")
                for (j = base; j < base + 2 * w; j++) {
                    if ((j - base) & d)
                        continue;
                    __m256i a = r[j], b = r[j + d];
                    r[j] = ks4_min(a, b);
                    r[j + d] = ks4_max(a, b);
                }
            }
            _Pragma("GCC unroll 16")
            for (i = base; i < base + 2 * w; i++)
                r[i] = ks4_clean(r[i]);
        }
    }
}

/* n <= 4 N keys through a padded buffer (AVX2 masked stores are slow on
   some CPUs; this is a few dozen scalar moves) */
KS_INLINE void ks4_small_n(uint64_t *a, size_t n, const int N)
{
    uint64_t buf[64];
    __m256i r[16];
    size_t i;
    int k;
    for (i = 0; i < n; i++)
        buf[i] = a[i];
    for (; i < 4 * (size_t)N; i++)
        buf[i] = (uint64_t)INT64_MAX;
    _Pragma("GCC unroll 16")
    for (k = 0; k < N; k++)
        r[k] = _mm256_loadu_si256((const __m256i *)(buf + 4 * k));
    ks4_network(r, N);
    _Pragma("GCC unroll 16")
    for (k = 0; k < N; k++)
        _mm256_storeu_si256((__m256i *)(buf + 4 * k), r[k]);
    for (i = 0; i < n; i++)
        a[i] = buf[i];
}

static void ks4_small1(uint64_t *a, size_t n) { ks4_small_n(a, n, 1); }
static void ks4_small2(uint64_t *a, size_t n) { ks4_small_n(a, n, 2); }
static void ks4_small4(uint64_t *a, size_t n) { ks4_small_n(a, n, 4); }
static void ks4_small8(uint64_t *a, size_t n) { ks4_small_n(a, n, 8); }
static void ks4_small16(uint64_t *a, size_t n) { ks4_small_n(a, n, 16); }

/* n <= 64 keys */
static void ks4_small(uint64_t *a, size_t n)
{
    if (n <= 1)
        return;
    if (n <= 4)
        ks4_small1(a, n);
    else if (n <= 8)
        ks4_small2(a, n);
    else if (n <= 16)
        ks4_small4(a, n);
    else if (n <= 32)
        ks4_small8(a, n);
    else
        ks4_small16(a, n);
}

/* vpermd indices that move the lanes whose bit is clear in the 4-bit mask
   to the bottom (in order) and the others to the top */
static const int32_t ks4_perm[16][8] = {
    {0, 1, 2, 3, 4, 5, 6, 7},
    {2, 3, 4, 5, 6, 7, 0, 1},
    {0, 1, 4, 5, 6, 7, 2, 3},
    {4, 5, 6, 7, 0, 1, 2, 3},
    {0, 1, 2, 3, 6, 7, 4, 5},
    {2, 3, 6, 7, 0, 1, 4, 5},
    {0, 1, 6, 7, 2, 3, 4, 5},
    {6, 7, 0, 1, 2, 3, 4, 5},
    {0, 1, 2, 3, 4, 5, 6, 7},
    {2, 3, 4, 5, 0, 1, 6, 7},
    {0, 1, 4, 5, 2, 3, 6, 7},
    {4, 5, 0, 1, 2, 3, 6, 7},
    {0, 1, 2, 3, 4, 5, 6, 7},
    {2, 3, 0, 1, 4, 5, 6, 7},
    {0, 1, 2, 3, 4, 5, 6, 7},
    {0, 1, 2, 3, 4, 5, 6, 7}};

KS_INLINE void ks4_put(uint64_t *a, __m256i v, unsigned right, unsigned valid,
                       size_t *wl, size_t *wr)
{
    unsigned rt = right & valid, lt = ~right & valid;
    __m256i idx = _mm256_loadu_si256((const __m256i *)ks4_perm[rt]);
    v = _mm256_permutevar8x32_epi32(v, idx);
    _mm256_storeu_si256((__m256i *)(a + *wl), v);
    _mm256_storeu_si256((__m256i *)(a + *wr - 4), v);
    *wl += (size_t)__builtin_popcount(lt);
    *wr -= (size_t)__builtin_popcount(rt);
}

/* ks8_partition on 4-lane vectors (signed keys), n >= 40: KS4_HOLD
   vectors held per side, batches of KS4_BATCH read one iteration ahead of
   their stores, the side chosen without a branch (KS4_HOLD >= KS4_BATCH / 2,
   as in ks8_partition; each side then keeps >= 4 free slots at every
   store).  1e6 random keys, AVX2 build: 13.0-13.2 ms with the branchy
   batches of 4 held 4 per side, 11.1 ms now (hold 2, batch 4: 11.6;
   hold 1, batch 2: 14.1); min of 20, alternated in one process. */
#define KS4_HOLD 4
#define KS4_BATCH 8
static size_t ks4_partition(uint64_t *a, size_t n, uint64_t pivot, int le)
{
    const __m256i pv = _mm256_set1_epi64x((long long)pivot);
    const size_t t = n & 3, nb = 4 * KS4_BATCH;
    const unsigned tmask = (1u << t) - 1;
    const __m256i tl = _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)t),
                                          _mm256_setr_epi64x(0, 1, 2, 3));
    __m256i tail = _mm256_maskload_epi64((const long long *)(a + n - t), tl);
    __m256i L[KS4_HOLD], R[KS4_HOLD], cur[KS4_BATCH], nxt[KS4_BATCH];
    size_t rl = 4 * KS4_HOLD, rr = n - t - 4 * KS4_HOLD, wl = 0, wr = n;
    int i, held = 0;
    for (i = 0; i < KS4_HOLD; i++) {
        L[i] = _mm256_loadu_si256((const __m256i *)(a + 4 * i));
        R[i] = _mm256_loadu_si256((const __m256i *)(a + rr + 4 * i));
    }
    /* right lanes: v > p (le) or v >= p, i.e. not p > v */
#define KS4_RIGHT(v) (le ? (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64((v), pv))) \
                         : (~(unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(pv, (v))))) & 15u)
    if (t)
        ks4_put(a, tail, KS4_RIGHT(tail), tmask, &wl, &wr);
    if (rr - rl >= nb) {
        held = 1;
        for (i = 0; i < KS4_BATCH; i++)
            cur[i] = _mm256_loadu_si256((const __m256i *)(a + rl + 4 * i));
        rl += nb;
        while (rr - rl >= nb) {
            size_t m = (size_t)0 - (size_t)((rl - wl) <= (wr - rr));
            size_t at = (rl & m) | ((rr - nb) & ~m);
            rl += nb & m;
            rr -= nb & ~m;
            for (i = 0; i < KS4_BATCH; i++)
                nxt[i] = _mm256_loadu_si256((const __m256i *)(a + at + 4 * i));
            for (i = 0; i < KS4_BATCH; i++)
                ks4_put(a, cur[i], KS4_RIGHT(cur[i]), 15u, &wl, &wr);
            for (i = 0; i < KS4_BATCH; i++)
                cur[i] = nxt[i];
        }
    }
    while (rl < rr) {
        __m256i v;
        int left = (rl - wl) <= (wr - rr);
        size_t at = left ? rl : rr - 4;
        rl += left ? 4 : 0;
        rr -= left ? 0 : 4;
        v = _mm256_loadu_si256((const __m256i *)(a + at));
        ks4_put(a, v, KS4_RIGHT(v), 15u, &wl, &wr);
    }
    if (held) {
        for (i = 0; i < KS4_BATCH; i++)
            ks4_put(a, cur[i], KS4_RIGHT(cur[i]), 15u, &wl, &wr);
    }
    for (i = 0; i < KS4_HOLD; i++) {
        ks4_put(a, L[i], KS4_RIGHT(L[i]), 15u, &wl, &wr);
        ks4_put(a, R[i], KS4_RIGHT(R[i]), 15u, &wl, &wr);
    }
#undef KS4_RIGHT
    return wl;
}

static uint64_t ks4_pivot(const uint64_t *a, size_t n)
{
    uint64_t s[64];
    __m256i r[16];
    int i, k = n >= 2048 ? 64 : 16;
    size_t step = n / (size_t)k, off = step / 2;
    if (n < 1024) {
        step = n / 8;
        off = step / 2;
        for (i = 0; i < 8; i++)
            s[i] = a[off + (size_t)i * step];
        r[0] = _mm256_loadu_si256((const __m256i *)s);
        r[1] = _mm256_loadu_si256((const __m256i *)(s + 4));
        ks4_network(r, 2);
        _mm256_storeu_si256((__m256i *)s, r[0]);
        _mm256_storeu_si256((__m256i *)(s + 4), r[1]);
        return s[4];
    }
    for (i = 0; i < k; i++)
        s[i] = a[off + (size_t)i * step];
    if (k == 64) {
        for (i = 0; i < 16; i++)
            r[i] = _mm256_loadu_si256((const __m256i *)(s + 4 * i));
        ks4_network(r, 16);
        for (i = 0; i < 16; i++)
            _mm256_storeu_si256((__m256i *)(s + 4 * i), r[i]);
    } else {
        for (i = 0; i < 4; i++)
            r[i] = _mm256_loadu_si256((const __m256i *)(s + 4 * i));
        ks4_network(r, 4);
        for (i = 0; i < 4; i++)
            _mm256_storeu_si256((__m256i *)(s + 4 * i), r[i]);
    }
    return s[k / 2];
}

/* signed keys: the heapsort fallback compares them as signed too */
static void ks4_heapsort(uint64_t *a, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        a[i] ^= KS_SIGN;
    ks_heapsort(a, n);
    for (i = 0; i < n; i++)
        a[i] ^= KS_SIGN;
}

static void ks4_quicksort(uint64_t *a, size_t n, int depth)
{
    while (n > 64) {
        uint64_t p;
        size_t k;
        if (depth-- <= 0) {
            ks4_heapsort(a, n);
            return;
        }
        p = ks4_pivot(a, n);
        k = ks4_partition(a, n, p, 0);
        if (k == 0) {
            k = ks4_partition(a, n, p, 1);
            a += k;
            n -= k;
            continue;
        }
        if (k < n - k) {
            ks4_quicksort(a, k, depth);
            a += k;
            n -= k;
        } else {
            ks4_quicksort(a + k, n - k, depth);
            n = k;
        }
    }
    ks4_small(a, n);
}

static void ks4_sort(uint64_t *a, size_t n, int depth)
{
    size_t i;
    for (i = 0; i < n; i++)
        a[i] ^= KS_SIGN;
    ks4_quicksort(a, n, depth);
    for (i = 0; i < n; i++)
        a[i] ^= KS_SIGN;
}

/* The first partition of a float64 row fused with making its keys, as
   ks8_partition_f64: native keys (sign bit flipped: ks_key_f64(x) ^
   KS_SIGN, which is x's bits with the 63 low bits flipped when x is
   negative, and 0x7FF8000000000000 for NaN), partitioned "< pivot" left,
   out of place from x[0, n) (n >= 4) to a[0, n).  With the 8-sample pivot
   below 1024 keys in ks4_pivot (as ks8_pivot): one float64 row of 1e6
   normal values, AVX2 build, 11.02 -> 10.69 (fused) -> 10.38 ms (both). */
KS_INLINE __m256i ks4_key_f64v(__m256i b)
{
    __m256i m = _mm256_cmpgt_epi64(_mm256_setzero_si256(), b);
    __m256i k = _mm256_xor_si256(b, _mm256_srli_epi64(m, 1));
    __m256i nan = _mm256_castpd_si256(_mm256_cmp_pd(_mm256_castsi256_pd(b),
                                                    _mm256_castsi256_pd(b), _CMP_UNORD_Q));
    return _mm256_blendv_epi8(k, _mm256_set1_epi64x(0x7FF8000000000000ll), nan);
}

/* ks4_pivot's median of 64 samples, taken from the values (n >= 64) */
static uint64_t ks4_pivot_f64(const double *x, size_t n)
{
    uint64_t s[64];
    __m256i r[16];
    int i;
    size_t step = n / 64, off = step / 2;
    for (i = 0; i < 64; i++)
        s[i] = ks_key_f64(x[off + (size_t)i * step]) ^ KS_SIGN;
    for (i = 0; i < 16; i++)
        r[i] = _mm256_loadu_si256((const __m256i *)(s + 4 * i));
    ks4_network(r, 16);
    for (i = 0; i < 16; i++)
        _mm256_storeu_si256((__m256i *)(s + 4 * i), r[i]);
    return s[32];
}

static size_t ks4_partition_f64(const double *x, uint64_t *a, size_t n, uint64_t pivot)
{
    const __m256i pv = _mm256_set1_epi64x((long long)pivot);
    const size_t t = n & 3;
    size_t i, wl = 0, wr = n, m = n - t;
    int j;
#define KS4_RIGHT0(v) ((~(unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(pv, (v))))) & 15u)
    if (t) {
        const __m256i tl = _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)t),
                                              _mm256_setr_epi64x(0, 1, 2, 3));
        __m256i v = ks4_key_f64v(_mm256_maskload_epi64((const long long *)(x + m), tl));
        ks4_put(a, v, KS4_RIGHT0(v), (1u << t) - 1, &wl, &wr);
    }
    for (i = 0; i + 16 <= m; i += 16) {
        __m256i v[4];
        for (j = 0; j < 4; j++)
            v[j] = ks4_key_f64v(_mm256_loadu_si256((const __m256i *)(x + i + 4 * j)));
        for (j = 0; j < 4; j++)
            ks4_put(a, v[j], KS4_RIGHT0(v[j]), 15u, &wl, &wr);
    }
    for (; i < m; i += 4) {
        __m256i v = ks4_key_f64v(_mm256_loadu_si256((const __m256i *)(x + i)));
        ks4_put(a, v, KS4_RIGHT0(v), 15u, &wl, &wr);
    }
#undef KS4_RIGHT0
    return wl;
}
#define KS_FUSED_F64 1
#define ks_native_pivot_f64 ks4_pivot_f64
#define ks_native_partition_f64 ks4_partition_f64

#define KS_TIER "avx2"
#define ks_sort_depth ks4_sort
#define KS_FLIP KS_SIGN
#define ks_native_sort ks4_quicksort
#define ks_native_pivot ks4_pivot
#define ks_native_partition ks4_partition

#else  /* ------------------------------------------------- portable */

#define KS_TIER "portable"
#define ks_sort_depth ks_sort_scalar
#define KS_FLIP 0ull
#define ks_native_sort ks_sort_scalar
#define ks_native_pivot ks_pivot_scalar
#define ks_native_partition ks_part_scalar

#endif

/* sort a[0, n) ascending; ks_sort_depth(a, n, d) allows d levels of
   partitioning before heapsort (the tests force the fallback with 0) */
static inline void ks_sort(uint64_t *a, size_t n) { ks_sort_depth(a, n, ks_depth(n)); }

/* ------------------------------------------------- split sorts (threads)
 *
 * ks_split sorts the rows of a call (wasserstein_1d's u and v, or a batch)
 * as many small tasks that any number of threads take from one shared
 * stack, so two threads share even one long row, and a thread the OS
 * deschedules, or a worker that wakes late, holds back at most the one
 * task it has taken.  A task is a range keys[off, off + n) of one row:
 *   - a row's first task makes its keys (float64/float32 -> native keys,
 *     one pass), then goes on as the range [0, n); in the AVX-512 and
 *     AVX2 tiers a float64 row longer than `leaf` makes its keys in its
 *     first partition (ks8_partition_f64, ks4_partition_f64: values in,
 *     partitioned keys out, no separate pass);
 *   - a range of more than `leaf` keys is partitioned once, as the
 *     quicksort above would (the tier's pivot and partition, the same
 *     "< p" then "<= p" rule for duplicates, the same depth budget); the
 *     larger part is pushed for any thread, the task goes on with the
 *     smaller;
 *   - a range of at most `leaf` keys (or out of depth) is sorted by the
 *     tier's quicksort and mapped back to values in place (keys -> xs).
 * A part left of a "<= p" partition is all equal to p: it is mapped back
 * at once.  Rows of kind KS_ROW_OPAQUE are one task each, run by the
 * caller's callback (the weighted rows of src/_wasserstein.pyx).
 * The result is the sorted keys mapped back: it does not depend on which
 * thread ran which task, nor on the number of threads, nor on `leaf`.
 *
 * Use: ks_split_init, then ks_split_work(s) on each of up to T threads
 * (each returns when every task is done: a thread that finds the stack
 * empty while another thread still runs a task waits, spinning briefly and
 * then asleep on a condition variable, because that task may push more),
 * then ks_split_free.  A thread that starts after the work is done returns
 * at once.  Without pthreads (KS_SPLIT_THREADS 0) the same code runs on
 * one thread.
 *
 * Native keys: the AVX2 quicksort orders keys with their sign bit flipped
 * (KS_FLIP); the split keeps the whole row in that form from the first
 * task to the last, so no task flips a range twice.
 */

#if defined(_WIN32) || defined(KL_POOL_SERIAL)
#define KS_SPLIT_THREADS 0
#else
#define KS_SPLIT_THREADS 1
#include <pthread.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#define KS_PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define KS_PAUSE() __asm__ __volatile__("yield")
#else
#define KS_PAUSE() ((void)0)
#endif

/* ranges of at most this many keys (128 KB, in L2) are one task */
#define KS_SPLIT_LEAF ((size_t)1 << 14)
/* and never fewer than this (the vector partitions need >= 80 keys) */
#define KS_SPLIT_LEAF_MIN ((size_t)256)
/* pause instructions a thread spins for work before it sleeps (~20-50 us) */
#define KS_SPLIT_SPIN 2000

enum { KS_ROW_F64 = 0, KS_ROW_F32 = 1, KS_ROW_OPAQUE = 2 };

typedef void (*ks_opaque_fn)(void *ctx, size_t row);

typedef struct {
    const void *x;      /* IN: n values, float64 (KS_ROW_F64) or float32 */
    void *xs;           /* OUT: the n sorted values, same dtype */
    uint64_t *keys;     /* scratch: n keys (may be xs itself for float64) */
    size_t n;
    int kind;           /* KS_ROW_F64, KS_ROW_F32, KS_ROW_OPAQUE */
} ks_row;

typedef struct {
    size_t off, n;      /* keys[off, off + n) of row `row` */
    size_t row;
    int depth;          /* partition levels left; -1: the row's first task */
} ks_task;

typedef struct {
    const ks_row *rows;
    ks_opaque_fn opaque;
    void *octx;
    size_t leaf;
    ks_task *stack;     /* tasks not yet taken (LIFO) */
    size_t top, cap;
    size_t pending;     /* tasks pushed and not yet finished */
    int sleepers;       /* threads asleep on cv */
#if KS_SPLIT_THREADS
    pthread_mutex_t mu;
    pthread_cond_t cv;
#endif
} ks_split;

#if KS_SPLIT_THREADS
#define KS_LOCK(s) pthread_mutex_lock(&(s)->mu)
#define KS_UNLOCK(s) pthread_mutex_unlock(&(s)->mu)
#else
#define KS_LOCK(s) ((void)0)
#define KS_UNLOCK(s) ((void)0)
#endif

/* 0, or -1 if out of memory.  rows[r] for r < nrows; leaf 0: the default */
static int ks_split_init(ks_split *s, const ks_row *rows, size_t nrows,
                         ks_opaque_fn opaque, void *octx, size_t leaf)
{
    size_t r;
    s->rows = rows;
    s->opaque = opaque;
    s->octx = octx;
    s->leaf = leaf ? leaf : KS_SPLIT_LEAF;
    if (s->leaf < KS_SPLIT_LEAF_MIN)
        s->leaf = KS_SPLIT_LEAF_MIN;
    s->cap = nrows + 64;
    s->stack = (ks_task *)malloc(s->cap * sizeof(ks_task));
    if (s->stack == NULL)
        return -1;
    /* row 0 on top: rows are taken in order */
    for (r = 0; r < nrows; r++) {
        ks_task *t = &s->stack[nrows - 1 - r];
        t->off = 0;
        t->n = rows[r].n;
        t->row = r;
        t->depth = -1;
    }
    s->top = nrows;
    s->pending = nrows;
    s->sleepers = 0;
#if KS_SPLIT_THREADS
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s->stack);
        return -1;
    }
    if (pthread_cond_init(&s->cv, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        free(s->stack);
        return -1;
    }
#endif
    return 0;
}

static void ks_split_free(ks_split *s)
{
#if KS_SPLIT_THREADS
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
#endif
    free(s->stack);
    s->stack = NULL;
}

/* the row's native keys, from its values */
static void ks_row_keys(const ks_row *r)
{
    /* (locals: the stores must not be taken to alias *r, which would stop
       the vectoriser under Python's -fno-strict-aliasing) */
    uint64_t *k = r->keys;
    size_t i, n = r->n;
    if (r->kind == KS_ROW_F64) {
        const double *x = (const double *)r->x;
        for (i = 0; i < n; i++)
            k[i] = ks_key_f64(x[i]) ^ KS_FLIP;
    } else {
        const float *x = (const float *)r->x;
        for (i = 0; i < n; i++)
            k[i] = (uint64_t)ks_key_f32(x[i]) ^ KS_FLIP;
    }
}

/* xs[off, off + n) from the (sorted) native keys there */
static void ks_row_values(const ks_row *r, size_t off, size_t n)
{
    size_t i;
    const uint64_t *k = r->keys + off;
    if (r->kind == KS_ROW_F64) {
        double *xs = (double *)r->xs + off;
        for (i = 0; i < n; i++)
            xs[i] = ks_f64_key(k[i] ^ KS_FLIP);
    } else {
        float *xs = (float *)r->xs + off;
        for (i = 0; i < n; i++)
            xs[i] = ks_f32_key((uint32_t)(k[i] ^ KS_FLIP));
    }
}

/* push t for any thread; 0 if the stack cannot grow (run it yourself) */
static int ks_split_push(ks_split *s, const ks_task *t)
{
    int ok = 1;
    KS_LOCK(s);
    if (s->top == s->cap) {
        ks_task *g = (ks_task *)realloc(s->stack, 2 * s->cap * sizeof(ks_task));
        if (g == NULL) {
            ok = 0;
        } else {
            s->stack = g;
            s->cap *= 2;
        }
    }
    if (ok) {
        s->stack[s->top] = *t;
        __atomic_store_n(&s->top, s->top + 1, __ATOMIC_RELAXED);
        __atomic_store_n(&s->pending, s->pending + 1, __ATOMIC_RELAXED);
#if KS_SPLIT_THREADS
        if (s->sleepers)
            pthread_cond_signal(&s->cv);
#endif
    }
    KS_UNLOCK(s);
    return ok;
}

/* take a task: 1, or 0 when every task has finished */
static int ks_split_pop(ks_split *s, ks_task *t)
{
    int spin = 0;
    KS_LOCK(s);
    for (;;) {
        if (s->top > 0) {
            *t = s->stack[s->top - 1];
            __atomic_store_n(&s->top, s->top - 1, __ATOMIC_RELAXED);
            KS_UNLOCK(s);
            return 1;
        }
        if (s->pending == 0) {
            KS_UNLOCK(s);
            return 0;
        }
#if KS_SPLIT_THREADS
        /* another thread runs a task that may push more: spin a little
           (outside the lock), then sleep until a push or the end */
        if (spin < KS_SPLIT_SPIN) {
            KS_UNLOCK(s);
            while (spin < KS_SPLIT_SPIN && __atomic_load_n(&s->top, __ATOMIC_RELAXED) == 0
                   && __atomic_load_n(&s->pending, __ATOMIC_RELAXED) != 0) {
                KS_PAUSE();
                spin++;
            }
            spin = KS_SPLIT_SPIN;
            KS_LOCK(s);
            continue;
        }
        s->sleepers++;
        pthread_cond_wait(&s->cv, &s->mu);
        s->sleepers--;
#else
        (void)spin;
        return 0;  /* unreachable: one thread finishes what it takes */
#endif
    }
}

static void ks_split_finished(ks_split *s)
{
    KS_LOCK(s);
    __atomic_store_n(&s->pending, s->pending - 1, __ATOMIC_RELAXED);
#if KS_SPLIT_THREADS
    if (s->pending == 0 && s->sleepers)
        pthread_cond_broadcast(&s->cv);
#endif
    KS_UNLOCK(s);
}

static void ks_split_run(ks_split *s, ks_task t)
{
    const ks_row *r = &s->rows[t.row];
    uint64_t *a = r->keys;
#if defined(KS_FUSED_F64)
    int fused = 0;
#endif
    if (t.depth < 0) {
        if (r->kind == KS_ROW_OPAQUE) {
            s->opaque(s->octx, t.row);
            return;
        }
        t.off = 0;
        t.n = r->n;
        t.depth = ks_depth(r->n);
#if defined(KS_FUSED_F64)
        if (r->kind == KS_ROW_F64 && t.n > s->leaf)
            fused = 1;
        else
#endif
        ks_row_keys(r);
    }
    for (;;) {
        uint64_t p;
        size_t k;
        ks_task big;
        if (t.n <= s->leaf || t.depth <= 0) {
            ks_native_sort(a + t.off, t.n, t.depth);
            ks_row_values(r, t.off, t.n);
            return;
        }
        t.depth--;
#if defined(KS_FUSED_F64)
        if (fused) {
            /* the row's keys, made by its first partition */
            fused = 0;
            p = ks_native_pivot_f64((const double *)r->x, t.n);
            k = ks_native_partition_f64((const double *)r->x, a, t.n, p);
        } else
#endif
        {
            p = ks_native_pivot(a + t.off, t.n);
            k = ks_native_partition(a + t.off, t.n, p, 0);
        }
        if (k == 0) {
            /* nothing below the pivot: the keys equal to it are done */
            k = ks_native_partition(a + t.off, t.n, p, 1);
            ks_row_values(r, t.off, k);
            t.off += k;
            t.n -= k;
            continue;
        }
        big = t;
        if (k < t.n - k) {
            big.off = t.off + k;
            big.n = t.n - k;
            t.n = k;
        } else {
            big.n = k;
            t.off += k;
            t.n -= k;
        }
        if (!ks_split_push(s, &big))
            ks_split_run(s, big);
    }
}

/* run tasks until every task has finished (any number of threads) */
static void ks_split_work(ks_split *s)
{
    ks_task t;
    while (ks_split_pop(s, &t)) {
        ks_split_run(s, t);
        ks_split_finished(s);
    }
}

#endif  /* KL_EXT_SORT_H */
