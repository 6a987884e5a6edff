/*
 * Weighted float64 samples made ready for the weighted quantile walk of
 * src/_wasserstein.pyx (weighted_pair: wasserstein_1d's 1-D fast path),
 * in few passes over memory the caller provides (kp_ready_f64):
 *
 *   pack      the packed keys (the value's key with its low `bits` bits
 *             replaced by an index, as pack_row) and the (value, weight)
 *             pairs interleaved (each gather below then touches one cache
 *             line): kp_pack_f64 in one pass, or, from KP_BUCKET_MIN
 *             samples, kp_pack_buckets_f64, split into buckets of
 *             consecutive key ranges;
 *   ks_sort   the keys (src/_sort.h), all at once or bucket by bucket;
 *   gather    kp_gather_range: the sorted values, and the running TwoSum
 *             of the weights in that order (fill_cum's running sum, the
 *             same operations in the same order, so the same bits), with
 *             unpack_row's insertion step for values the truncated keys
 *             left in index order;
 *   kw_dd_div_all (the caller) the running sums divided by their total.
 *
 * Against the general path (sort_rows, then rows): no sorted weights, no
 * separate interleave and cumulative passes, and no fresh output arrays;
 * the cumulative weights are bit for bit those of fill_cum on the sorted
 * weights, so the distance is the same number.
 */
#ifndef KL_EXT_WPAIR_H
#define KL_EXT_WPAIR_H

#include <stddef.h>
#include <stdint.h>
#include "_sort.h"
#include "_walk.h"

/* IN: x, w (n, contiguous).  OUT: keys[i] = (key(x_i) & ~mask) | i,
   pairs[2 i] = x_i, pairs[2 i + 1] = w_i. */
static void kp_pack_f64(const double *x, const double *w, size_t n, uint64_t mask,
                        uint64_t *keys, double *pairs)
{
    size_t i;
    for (i = 0; i < n; i++) {
        keys[i] = (ks_key_f64(x[i]) & ~mask) | (uint64_t)i;
        pairs[2 * i] = x[i];
        pairs[2 * i + 1] = w[i];
    }
}

/* The gather's state carried from one range of sorted keys to the next
   (kp_gather_range): the running dd sum, the largest value so far, the
   moves made. */
typedef struct {
    double sh, sl, prev;
    size_t moves;
} kp_run;

/* how many keys ahead the gather prefetches its pair: the loop carries the
   running sum, so without it too few of the random reads are in flight */
#define KP_AHEAD 32

/* IN: k[i0..i1) (sorted packed keys; scratch: reordered where values are
   moved), pairs (the pairs their index bits point into: kp_pack_f64's, or
   a bucket's).  OUT: xs[i] the sorted values; th[i] + tl[i] the running dd
   sum (TwoSum hi, summed lo) of the weights in that order, not yet divided
   by the total th[n - 1] + tl[n - 1]; *r carried on.  Values that share
   their truncated key come in index order; one that is smaller than the
   largest before it is moved back past the larger ones (stable: ties keep
   their order), its key with it, and the running sum recomputed from where
   it lands (the prefix before it is unchanged, so its state there is
   valid).  A move never crosses i0: keys before it are smaller truncated
   keys, so their values are not larger.  NaN (the largest keys) come last
   and are never moved.  Returns 0, or -1 after more than n moves in all
   (the caller takes the general path). */
static int kp_gather_range(uint64_t *k, uint64_t mask, const double *pairs, size_t i0,
                           size_t i1, size_t n, double *xs, double *th, double *tl,
                           kp_run *r)
{
    size_t i, j, q, moves = r->moves;
    double sh = r->sh, sl = r->sl, e, prev = r->prev;
    for (i = i0; i < i1; i++) {
        size_t idx = (size_t)(k[i] & mask);
        double x = pairs[2 * idx], w = pairs[2 * idx + 1];
        if (i + KP_AHEAD < i1)
            __builtin_prefetch(pairs + 2 * (size_t)(k[i + KP_AHEAD] & mask));
        if (__builtin_expect(i > 0 && x < prev, 0)) {
            uint64_t kc = k[i];
            j = i;
            while (j > i0 && xs[j - 1] > x) {
                xs[j] = xs[j - 1];
                k[j] = k[j - 1];
                j--;
            }
            moves += i - j;
            if (moves > n)
                return -1;
            xs[j] = x;
            k[j] = kc;
            sh = j ? th[j - 1] : 0.0;
            sl = j ? tl[j - 1] : 0.0;
            for (q = j; q <= i; q++) {
                sh = kw_two_sum(sh, pairs[2 * (size_t)(k[q] & mask) + 1], &e);
                sl += e;
                th[q] = sh;
                tl[q] = sl;
            }
            continue;   /* (prev, the largest so far, is now xs[i]) */
        }
        xs[i] = x;
        prev = x;
        sh = kw_two_sum(sh, w, &e);
        sl += e;
        th[i] = sh;
        tl[i] = sl;
    }
    r->sh = sh;
    r->sl = sl;
    r->prev = prev;
    r->moves = moves;
    return 0;
}

/* Buckets.  For n >= KP_BUCKET_MIN the pack writes the keys and pairs
   already split into buckets: contiguous ranges of truncated keys (so the
   buckets in order hold the keys in order), each about KP_GROUP samples.
   Each bucket is then sorted and gathered on its own: its keys and pairs
   (KP_GROUP * 24 bytes) stay in L2, where one sort over all the keys and
   a gather at random over all the pairs read memory.  The bucket of a key
   is its truncated key's bin among KP_BINS equal ranges between the
   smallest and largest of a sample of the keys (those outside go to the
   end bins), and consecutive bins are merged up to KP_GROUP samples.
   Within a bucket a key's index bits hold its place in the bucket, and the
   pack keeps the samples' order, so ties (equal truncated keys, always in
   one bin) come in index order as before: the sorted values, the running
   sums and the moves are those of the one-range path. */
#define KP_BINS_LOG 16
#define KP_BINS ((size_t)1 << KP_BINS_LOG)
/* (below ~3.5e5 samples one sort and gather over all of them is as fast:
   C driver, one 131072-sample normal sample 0.97 ms one range, 1.23 ms
   bucketed; 393216: 4.3 / 3.9; 1e6: 14.2 / 10.6) */
#define KP_BUCKET_MIN ((size_t)3 << 17)
#define KP_GROUP ((size_t)1 << 14)
#define KP_GROUPS_MAX 520       /* >= 2 n / max(KP_GROUP, n / 256) + 1 */
/* how many places ahead in its bucket the scattering pack prefetches a
   key's and pair's line for writing (measured 4.9 -> 4.0 ms for the pack
   of 1e6 normal samples) */
#define KP_WAHEAD 16
#define KP_KEY_INF 0xFFF0000000000000ull   /* ks_key_f64(+inf) */

KS_INLINE size_t kp_bin(uint64_t t, uint64_t lo, int s)
{
    uint64_t b = (t > lo ? t - lo : 0) >> s;
    return (size_t)(b < KP_BINS - 1 ? b : KP_BINS - 1);
}

/* IN: x, w (n, contiguous; KP_BUCKET_MIN <= n < 2**32).  Scratch:
   `scratch` (6 KP_BINS bytes: the bins' uint32 counts, then their uint16
   bucket numbers) and ids (n uint16: each sample's bin).  OUT: keys and
   pairs as kp_pack_f64's, bucket by bucket, each key's index bits its
   place in its bucket; gs[0..G] the buckets' starts (gs[G] = n).
   Returns G, or 0 (nothing written) where buckets do not pay: a bin with
   more than half the samples. */
static size_t kp_pack_buckets_f64(const double *x, const double *w, size_t n, uint64_t mask,
                                  uint64_t *keys, double *pairs, void *scratch,
                                  uint16_t *ids, size_t *gs)
{
    uint32_t *cnt = (uint32_t *)scratch;
    uint16_t *bk = (uint16_t *)(cnt + KP_BINS);
    size_t i, b, g = 0, cur = 0, big = 0, step = n >> 10, target;
    size_t at[KP_GROUPS_MAX];
    uint64_t lo = UINT64_MAX, hi = 0, range;
    int s = 0;
    for (i = 0; i < n; i += step) {
        uint64_t t = ks_key_f64(x[i]) & ~mask;
        lo = t < lo ? t : lo;
        hi = (t > hi && t <= KP_KEY_INF) ? t : hi;
    }
    if (hi < lo)
        return 0;
    range = hi - lo;
    while ((range >> s) >= KP_BINS)
        s++;
    for (i = 0; i < n; i++)     /* (a loop of its own: vectorised) */
        ids[i] = (uint16_t)kp_bin(ks_key_f64(x[i]) & ~mask, lo, s);
    memset(cnt, 0, KP_BINS * sizeof(uint32_t));
    for (i = 0; i < n; i++)
        cnt[ids[i]]++;
    for (b = 0; b < KP_BINS; b++)
        big = cnt[b] > big ? cnt[b] : big;
    if (big > n / 2)
        return 0;
    target = n >> 8 > KP_GROUP ? n >> 8 : KP_GROUP;
    /* consecutive bins -> buckets */
    gs[0] = 0;
    for (b = 0; b < KP_BINS; b++) {
        size_t c = cnt[b];
        if (cur > 0 && cur + c > target) {
            gs[g + 1] = gs[g] + cur;
            g++;
            cur = 0;
        }
        bk[b] = (uint16_t)g;
        cur += c;
    }
    gs[g + 1] = n;
    g++;
    memset(at, 0, sizeof at);
    for (i = 0; i < n; i++) {
        double xi = x[i];
        uint64_t t = ks_key_f64(xi) & ~mask;
        size_t q = bk[ids[i]], l = at[q]++, pos = gs[q] + l;
        __builtin_prefetch(pairs + 2 * (pos + KP_WAHEAD), 1);
        __builtin_prefetch(keys + pos + KP_WAHEAD, 1);
        keys[pos] = t | (uint64_t)l;
        pairs[2 * pos] = xi;
        pairs[2 * pos + 1] = w[i];
    }
    return g;
}

/* Reads d[0..len) once, one double per 64 bytes, in order: the hardware
   prefetchers then bring a bucket's pairs in at the memory's bandwidth
   before its gather reads them at random (measured 3.9 -> 2.6 ms for the
   gathers of 1e6 normal samples, the reads included). */
static void kp_touch(const double *d, size_t len)
{
    uint64_t z = 0, b;
    size_t i;
    for (i = 0; i < len; i += 8) {
        memcpy(&b, d + i, 8);
        z ^= b;
    }
    {
        volatile uint64_t sink = z;   /* (keeps the reads) */
        (void)sink;
    }
}

/* One sample made ready: IN x, w (n >= 1), mask (index bits >= those of
   n - 1); scratch keys (n), pairs (2 n), and xs and th (n each, which hold
   kp_pack_buckets_f64's scratch until the gathers write them).  OUT xs,
   th, tl (n each) as kp_gather_range's over all n.  Returns 0, or -1 (the
   gather gave up after more than n moves: the caller takes the general
   path). */
static int kp_ready_f64(const double *x, const double *w, size_t n, uint64_t mask,
                        uint64_t *keys, double *pairs, double *xs, double *th, double *tl)
{
    size_t gs[KP_GROUPS_MAX + 1], G = 0, g;
    kp_run r = {0.0, 0.0, 0.0, 0};
    if (n >= KP_BUCKET_MIN && (uint64_t)n < ((uint64_t)1 << 32))
        G = kp_pack_buckets_f64(x, w, n, mask, keys, pairs, xs, (uint16_t *)th, gs);
    if (G == 0) {
        kp_pack_f64(x, w, n, mask, keys, pairs);
        ks_sort(keys, n);
        return kp_gather_range(keys, mask, pairs, 0, n, n, xs, th, tl, &r);
    }
    for (g = 0; g < G; g++) {
        ks_sort(keys + gs[g], gs[g + 1] - gs[g]);
        kp_touch(pairs + 2 * gs[g], 2 * (gs[g + 1] - gs[g]));
        if (kp_gather_range(keys, mask, pairs + 2 * gs[g], gs[g], gs[g + 1], n, xs, th, tl,
                            &r) != 0)
            return -1;
    }
    return 0;
}

#endif  /* KL_EXT_WPAIR_H */
