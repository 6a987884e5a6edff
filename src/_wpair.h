/*
 * Weighted float64 samples made ready for the weighted quantile walk of
 * src/_wasserstein.pyx (weighted_pair: wasserstein_1d's 1-D fast path),
 * in few passes over memory the caller provides:
 *
 *   kp_pack_f64        one pass: the packed keys (the value's key with its
 *                      low `bits` bits replaced by the sample's index, as
 *                      pack_row) and the (value, weight) pairs interleaved
 *                      (each gather below then touches one cache line);
 *   ks_sort            the keys (src/_sort.h);
 *   kp_gather_cum_f64  one pass: the sorted values, and the running
 *                      TwoSum of the weights in that order (fill_cum's
 *                      running sum, the same operations in the same order,
 *                      so the same bits), with unpack_row's insertion step
 *                      for values the truncated keys left in index order;
 *   kw_dd_div_all      the running sums divided by their total.
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

/* IN: k (n sorted packed keys; scratch: reordered where values are moved),
   pairs (kp_pack_f64's).  OUT: xs[i] the sorted values; th[i] + tl[i] the
   running dd sum (TwoSum hi, summed lo) of the weights in that order, not
   yet divided by the total th[n - 1] + tl[n - 1].  Values that share their
   truncated key come in index order; one that is smaller than the largest
   before it is moved back past the larger ones (stable: ties keep their
   order), its key with it, and the running sum recomputed from where it
   lands (the prefix before it is unchanged, so its state there is valid).
   NaN (the largest keys) come last and are never moved.  Returns 0, or -1
   after more than n moves in all (the caller takes the general path). */
/* how many keys ahead the gather prefetches its pair: the loop carries the
   running sum, so without it too few of the random reads are in flight */
#define KP_AHEAD 32

static int kp_gather_cum_f64(uint64_t *k, uint64_t mask, const double *pairs, size_t n,
                             double *xs, double *th, double *tl)
{
    size_t i, j, q, moves = 0;
    double sh = 0.0, sl = 0.0, e, prev = 0.0;
    for (i = 0; i < n; i++) {
        size_t idx = (size_t)(k[i] & mask);
        double x = pairs[2 * idx], w = pairs[2 * idx + 1];
        if (i + KP_AHEAD < n)
            __builtin_prefetch(pairs + 2 * (size_t)(k[i + KP_AHEAD] & mask));
        if (__builtin_expect(i > 0 && x < prev, 0)) {
            uint64_t kc = k[i];
            j = i;
            while (j > 0 && xs[j - 1] > x) {
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
    return 0;
}

#endif  /* KL_EXT_WPAIR_H */
