/* GCC's inlining attributes for Cython functions (issue 14: one call on
 * ~10 elements).
 *
 * Cython has no syntax for function attributes, so these macros carry them
 * in a return type: src/_divergence.pyx declares them as ctypedefs
 * (`ctypedef void kl_always_void "KL_ALWAYS_INLINE_VOID"`), and a function
 * `cdef inline kl_always_void f(...)` is emitted as
 * `static CYTHON_INLINE __attribute__((always_inline)) void f(...)`.
 * Only void: Cython declares a local of a function's return type, which
 * would carry the attribute too (a warning); results go through pointers.
 *
 * Why: whether GCC inlines a kernel's one-row path depends on how large
 * the functions around it have grown.  When the worker pool made
 * first_pass_par larger, GCC stopped inlining it into row_entropy, so
 * first_pass was no longer specialised for the measure, and `lanes` (all
 * measures' fused loops) was called out of line: +12 ns of a 75 ns
 * entropy call on 10 elements.  The short-row path marks what it needs
 * inlined instead of relying on those size heuristics.
 */
#ifndef KL_EXT_INLINE_H
#define KL_EXT_INLINE_H

#if defined(__GNUC__)
#define KL_ALWAYS_INLINE_VOID __attribute__((always_inline)) void
#else
#define KL_ALWAYS_INLINE_VOID void
#endif

#endif
