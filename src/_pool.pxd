# The kernels' threads: their own worker pool (src/_pool.h; the header
# explains the claim protocol), not OpenMP's prange, whose end-of-region
# barrier waits for every thread of the team (on a busy machine, for one the
# OS has descheduled, even if it took no chunk).  kl_pool_run(nthreads,
# nitems, fn, ctx) calls fn(ctx, i) once for every i in [0, nitems) on the
# calling thread and up to nthreads - 1 workers; each item writes its own
# slots, summed by the caller in item order.
cdef extern from "_pool.h" nogil:
    ctypedef void (*kl_pool_fn)(void* ctx, Py_ssize_t item) noexcept nogil
    void kl_pool_run(int nthreads, Py_ssize_t nitems, kl_pool_fn fn, void* ctx)
    int kl_pool_workers()
