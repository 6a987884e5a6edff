/*
 * kl_ext's worker pool: the threads of one kernel call, without OpenMP's
 * end-of-region barrier.
 *
 * kl_pool_run(nthreads, nitems, fn, ctx) calls fn(ctx, i) once for every
 * item i in [0, nitems), on the calling thread and on up to nthreads - 1
 * persistent workers, and returns when every item has run.  Items are
 * claimed one at a time from a shared counter, so a thread the OS
 * deschedules holds back at most the one item it has claimed: the caller
 * never waits for a worker that has not claimed an item (OpenMP's barrier
 * waits for every thread of the team, even one that took no chunk, and
 * GOMP's spin-waiting thread loses its scheduler credit on a busy machine).
 * Which thread runs an item never changes a result: every item writes its
 * own slots, and the callers sum them in item order afterwards.
 *
 * Workers are created lazily (at most KL_POOL_MAX, and never more than the
 * caller asks for, i.e. the thread budget minus one), sleep on a condition
 * variable between calls after a short bounded spin, and are woken by each
 * call.  No Python object is touched: the kernels call this without the GIL.
 *
 * The claim protocol (why a late worker never touches a finished job).
 * A job is published in `job_fn`, `job_ctx`, `job_n` and two 64-bit words,
 * each holding a 32-bit generation number g (one per call) in its high half:
 *   state = g << 32 | r    r = items of job g not yet claimed;
 *   seats = g << 32 | s    s = workers that may still join job g.
 * A worker joins by taking a seat with a compare-and-swap on `seats` (so at
 * most nthreads - 1 workers join, whatever woke them), which gives it the
 * generation g it may work for.  It claims an item only by a
 * compare-and-swap of `state` from (g, r) to (g, r - 1), r > 0: the swap
 * fails if the job changed (another generation) or has no item left, and
 * the worker then reads nothing of the job.  Only after a successful claim
 * does it read job_fn/job_ctx/job_n and run item job_n - r.  Every finished
 * item (the caller's too) decrements `left`, set to nitems at publication;
 * the caller returns when `left` is 0, i.e. when every claimed item has
 * finished.  So while a worker holds a claim its job is still running, and
 * the job's fields are rewritten only by the next call, after `left` of this
 * one reached 0: a worker that wakes late, or is descheduled between reading
 * `state` and its swap, finds another generation or no item left, fails its
 * swap, and never reads the (possibly gone) job context.  The caller waits
 * only for items claimed and not yet finished, never for a worker that has
 * not started.  Publication stores job_* and `left`, then `state`, then
 * `seats` (release), so a worker that takes a seat of g (acquire) sees
 * g's `state`, and a successful swap sees the job_* written before it.
 * (A swap could wrongly succeed only if `state` came back to the very same
 * (g, r) after 2**32 further calls while one worker stayed descheduled
 * between two instructions: not a practical concern.)
 *
 * Concurrency: one call runs on the pool at a time (`busy`); a second
 * concurrent call, or a call from inside an item (a worker), runs all its
 * items on its own thread.  kl_ext's kernels already give a second
 * concurrent Python caller one thread (acquire_threads).
 *
 * Fork: pthread_atfork's child handler resets the pool (a child process has
 * none of its parent's threads): the child starts with no workers and
 * creates its own on its first threaded call.
 *
 * Without pthreads (Windows builds) every call runs its items on the calling
 * thread.
 */
#ifndef KL_EXT_POOL_H
#define KL_EXT_POOL_H

#include <stddef.h>
#include <stdint.h>

/* the item index: Py_ssize_t where Python.h is included first (Cython
   modules), so that Cython's callbacks have exactly this type */
#ifdef PY_SSIZE_T_MAX
typedef Py_ssize_t kl_pool_index;
#else
typedef ptrdiff_t kl_pool_index;
#endif
typedef void (*kl_pool_fn)(void* ctx, kl_pool_index item);

#if defined(_WIN32) || defined(KL_POOL_SERIAL)

static void kl_pool_run(int nthreads, kl_pool_index nitems, kl_pool_fn fn, void* ctx)
{
    kl_pool_index i;
    (void)nthreads;
    for (i = 0; i < nitems; i++)
        fn(ctx, i);
}

static inline int kl_pool_workers(void) { return 0; }

#else

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#define KL_POOL_MAX 256
/* spins (of a pause instruction) before a thread sleeps: ~20-50 us */
#define KL_POOL_SPIN 2000

#if defined(__x86_64__) || defined(__i386__)
#define KL_POOL_PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define KL_POOL_PAUSE() __asm__ __volatile__("yield")
#else
#define KL_POOL_PAUSE() ((void)0)
#endif

#define KL_LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define KL_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;     /* workers sleep here between calls */
    pthread_cond_t done;     /* the caller sleeps here for claimed items */
    int nworkers;            /* workers started (only the caller changes it) */
    int atfork;              /* pthread_atfork handler registered */
    int busy;                /* a call is running on the pool */
    int caller_sleeps;       /* the caller waits on `done` */
    int backoff;             /* calls to run alone after a stalled call */
    int skip;                /* calls still to run alone */
    uint32_t gen;            /* generation of the latest job (caller only) */
    uint32_t wake_gen;       /* bumped (under mu) to wake the workers */
    uint64_t state;          /* gen << 32 | items not yet claimed */
    uint64_t seats;          /* gen << 32 | workers that may still join */
    kl_pool_index left;          /* items not yet finished */
    kl_pool_fn job_fn;
    void* job_ctx;
    kl_pool_index job_n;
} kl_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
             PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 0};

static inline double kl_pool_clock(clockid_t c)
{
    struct timespec t;
    if (clock_gettime(c, &t) != 0)
        return 0.0;
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static __thread int kl_pool_is_worker = 0;

static inline int kl_pool_workers(void) { return __atomic_load_n(&kl_pool.nworkers, __ATOMIC_RELAXED); }

/* Claim one item of generation g: its index, or -1 (nothing left for g). */
static inline kl_pool_index kl_pool_claim(uint32_t g)
{
    uint64_t s = __atomic_load_n(&kl_pool.state, __ATOMIC_ACQUIRE);
    for (;;) {
        uint32_t r = (uint32_t)s;
        if ((uint32_t)(s >> 32) != g || r == 0)
            return -1;
        if (__atomic_compare_exchange_n(&kl_pool.state, &s, s - 1, 1, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return KL_LOAD(kl_pool.job_n) - (kl_pool_index)r;
    }
}

/* An item has finished: the last one wakes a sleeping caller. */
static inline void kl_pool_finished(void)
{
    if (__atomic_sub_fetch(&kl_pool.left, 1, __ATOMIC_ACQ_REL) == 0) {
        pthread_mutex_lock(&kl_pool.mu);
        if (kl_pool.caller_sleeps)
            pthread_cond_signal(&kl_pool.done);
        pthread_mutex_unlock(&kl_pool.mu);
    }
}

static void* kl_pool_worker(void* arg)
{
    uint32_t seen = 0;
    (void)arg;
    kl_pool_is_worker = 1;
    pthread_mutex_lock(&kl_pool.mu);
    seen = kl_pool.wake_gen;
    pthread_mutex_unlock(&kl_pool.mu);
    for (;;) {
        uint64_t s;
        uint32_t g;
        kl_pool_index i;
        int spin;
        /* wait for a new call: a short spin, then sleep */
        for (spin = 0; spin < KL_POOL_SPIN
                       && __atomic_load_n(&kl_pool.wake_gen, __ATOMIC_ACQUIRE) == seen; spin++)
            KL_POOL_PAUSE();
        pthread_mutex_lock(&kl_pool.mu);
        while (kl_pool.wake_gen == seen)
            pthread_cond_wait(&kl_pool.wake, &kl_pool.mu);
        seen = kl_pool.wake_gen;
        pthread_mutex_unlock(&kl_pool.mu);
        /* take a seat of the current generation, if one is left */
        s = __atomic_load_n(&kl_pool.seats, __ATOMIC_ACQUIRE);
        for (;;) {
            if ((uint32_t)s == 0)
                break;
            if (__atomic_compare_exchange_n(&kl_pool.seats, &s, s - 1, 1, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE))
                break;
        }
        if ((uint32_t)s == 0)
            continue;
        g = (uint32_t)(s >> 32);
        while ((i = kl_pool_claim(g)) >= 0) {
            KL_LOAD(kl_pool.job_fn)(KL_LOAD(kl_pool.job_ctx), i);
            kl_pool_finished();
        }
    }
    return NULL;
}

static void kl_pool_child(void)
{
    /* the forked child has only the thread that forked: no workers, no
       call running; fresh synchronisation objects */
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    memcpy(&kl_pool.mu, &mu, sizeof mu);
    memcpy(&kl_pool.wake, &cv, sizeof cv);
    memcpy(&kl_pool.done, &cv, sizeof cv);
    kl_pool.nworkers = 0;
    kl_pool.busy = 0;
    kl_pool.caller_sleeps = 0;
    kl_pool.backoff = 0;
    kl_pool.skip = 0;
    kl_pool.state = 0;
    kl_pool.seats = 0;
    kl_pool.left = 0;
}

/* Start workers until there are `want` (called by the pool's one caller). */
static void kl_pool_grow(int want)
{
    sigset_t all, old;
    pthread_attr_t attr;
    if (want > KL_POOL_MAX)
        want = KL_POOL_MAX;
    if (kl_pool.nworkers >= want)
        return;
    if (!kl_pool.atfork) {
        if (pthread_atfork(NULL, NULL, kl_pool_child) != 0)
            return;
        kl_pool.atfork = 1;
    }
    if (pthread_attr_init(&attr) != 0)
        return;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* workers block every asynchronous signal (Python's handlers run in the
       main thread); faults stay deliverable, so faulthandler still reports
       a crash in a kernel */
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGABRT);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (kl_pool.nworkers < want) {
        pthread_t t;
        if (pthread_create(&t, &attr, kl_pool_worker, NULL) != 0)
            break;
        __atomic_store_n(&kl_pool.nworkers, kl_pool.nworkers + 1, __ATOMIC_RELAXED);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

static void kl_pool_run(int nthreads, kl_pool_index nitems, kl_pool_fn fn, void* ctx)
{
    kl_pool_index i;
    int helpers, spin;
    uint32_t g;
    double t0, t2, c0, c2;
    helpers = nthreads - 1;
    if (nitems - 1 < helpers)
        helpers = (int)(nitems - 1);
    if (helpers > KL_POOL_MAX)
        helpers = KL_POOL_MAX;
    if (helpers <= 0 || nitems > (kl_pool_index)UINT32_MAX || kl_pool_is_worker
        || __atomic_exchange_n(&kl_pool.busy, 1, __ATOMIC_ACQUIRE)) {
        for (i = 0; i < nitems; i++)
            fn(ctx, i);
        return;
    }
    if (kl_pool.skip > 0) {
        /* backing off after a stalled call (see below): this one runs alone */
        kl_pool.skip--;
        __atomic_store_n(&kl_pool.busy, 0, __ATOMIC_RELEASE);
        for (i = 0; i < nitems; i++)
            fn(ctx, i);
        return;
    }
    t0 = kl_pool_clock(CLOCK_MONOTONIC);
    c0 = kl_pool_clock(CLOCK_THREAD_CPUTIME_ID);
    kl_pool_grow(helpers);
    if (helpers > kl_pool.nworkers)
        helpers = kl_pool.nworkers;
    /* publish job g (see the protocol above), then wake the workers */
    g = ++kl_pool.gen;
    KL_STORE(kl_pool.job_fn, fn);
    KL_STORE(kl_pool.job_ctx, ctx);
    KL_STORE(kl_pool.job_n, nitems);
    __atomic_store_n(&kl_pool.left, nitems, __ATOMIC_RELEASE);
    __atomic_store_n(&kl_pool.state, ((uint64_t)g << 32) | (uint64_t)nitems, __ATOMIC_RELEASE);
    __atomic_store_n(&kl_pool.seats, ((uint64_t)g << 32) | (uint64_t)(helpers > 0 ? helpers : 0),
                     __ATOMIC_RELEASE);
    if (helpers > 0) {
        pthread_mutex_lock(&kl_pool.mu);
        __atomic_store_n(&kl_pool.wake_gen, kl_pool.wake_gen + 1, __ATOMIC_RELEASE);
        if (helpers >= kl_pool.nworkers)
            pthread_cond_broadcast(&kl_pool.wake);
        else
            for (i = 0; i < helpers; i++)
                pthread_cond_signal(&kl_pool.wake);
        pthread_mutex_unlock(&kl_pool.mu);
    }
    /* the caller claims items too */
    while ((i = kl_pool_claim(g)) >= 0) {
        fn(ctx, i);
        __atomic_sub_fetch(&kl_pool.left, 1, __ATOMIC_ACQ_REL);
    }
    /* every item is claimed: wait for those a worker is still running */
    for (spin = 0; spin < KL_POOL_SPIN && __atomic_load_n(&kl_pool.left, __ATOMIC_ACQUIRE) != 0;
         spin++)
        KL_POOL_PAUSE();
    if (__atomic_load_n(&kl_pool.left, __ATOMIC_ACQUIRE) != 0) {
        pthread_mutex_lock(&kl_pool.mu);
        kl_pool.caller_sleeps = 1;
        while (__atomic_load_n(&kl_pool.left, __ATOMIC_ACQUIRE) != 0)
            pthread_cond_wait(&kl_pool.done, &kl_pool.mu);
        kl_pool.caller_sleeps = 0;
        pthread_mutex_unlock(&kl_pool.mu);
    }
    /* no seat left: a worker woken late goes back to sleep */
    __atomic_store_n(&kl_pool.seats, (uint64_t)g << 32, __ATOMIC_RELEASE);
    /* A stalled call: the caller spent more than a third of the call off
       its CPU (asleep waiting for a worker's claimed item, or preempted:
       the worker was descheduled mid-item, or woke on the caller's own
       core), i.e. the machine has no idle core and a second thread only
       adds scheduling delays.  The next `backoff` calls (1, 2, 4, ... 64)
       then run on the caller alone, so a busy machine costs at most one
       stalled call in `backoff` + 1; each call without a stall halves the
       back-off, so an idle machine goes back to every call on the pool. */
    t2 = kl_pool_clock(CLOCK_MONOTONIC);
    c2 = kl_pool_clock(CLOCK_THREAD_CPUTIME_ID);
    if ((t2 - t0) - (c2 - c0) > 0.5 * (c2 - c0)) {
        kl_pool.backoff = kl_pool.backoff ? (kl_pool.backoff < 64 ? 2 * kl_pool.backoff : 64) : 1;
        kl_pool.skip = kl_pool.backoff;
    } else {
        kl_pool.backoff /= 2;
    }
    __atomic_store_n(&kl_pool.busy, 0, __ATOMIC_RELEASE);
}

#endif
#endif
