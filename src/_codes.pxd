# Constants shared by the kl_ext Cython modules.  GENERATED from
# kl_ext/_table.py (the table of measures) by setup.py at every build;
# edit the table, not this file (tests/test_table.py checks they agree).

cdef enum:
    # measure codes (MeasureInfo.code)
    ENTROPY = 0
    CROSS_ENTROPY = 1
    KL = 2
    JS = 3
    TV = 4
    JS_DISTANCE = 5
    HELLINGER = 6
    JEFFREYS = 7

cdef enum:
    # row status codes
    ST_OK = 0
    ST_NEG_P = 1
    ST_NEG_Q = 2
    ST_ZERO_P = 3
    ST_ZERO_Q = 4
    ST_NONFINITE = 5
    ST_LAYOUT = 6
    ST_REFINE = 7
    ST_BAD_MEASURE = 8

cdef enum:
    # the compare kernel's output columns and status mask shift
    NOUT = 9
    NF_SHIFT = 16
    COL_ENTROPY_P = 0
    COL_ENTROPY_Q = 1
    COL_CROSS_ENTROPY = 2
    COL_KL_PQ = 3
    COL_KL_QP = 4
    COL_JS_DIVERGENCE = 5
    COL_TOTAL_VARIATION = 6
    COL_HELLINGER_DISTANCE = 7
    COL_JEFFREYS_DIVERGENCE = 8

cdef inline bint is_one_pass(int measure) noexcept nogil:
    # the one-pass measures of the table
    return measure == ENTROPY or measure == CROSS_ENTROPY or measure == KL


cdef inline bint is_pair(int measure) noexcept nogil:
    # the pair measures of the table
    return measure == JS or measure == TV or measure == HELLINGER or measure == JEFFREYS
