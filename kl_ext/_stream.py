"""Row sources and result sinks behind ``kl-ext score`` (private).

A *source* hands out the distributions of one input file as consecutive
blocks of rows, ``read(k)`` -> ndarray of shape (k, n), whatever the file's
layout:

* ``.npy`` whose distributions are contiguous (C order with distributions
  in rows, or Fortran order with distributions in columns): a fresh
  read-only memory map per block, dropped after the block is scored, so the
  process's resident memory stays near one block whatever the file size;
* any other ``.npy`` layout: one memory map of the whole file, read through
  strided views (correct, but the pages read stay resident);
* ``.csv``: read whole (no streaming);
* ``.parquet`` (needs pyarrow): ``ParquetFile.iter_batches``, rows from one
  fixed-size-list (or equal-length list) column or from several numeric
  columns.

A *sink* receives the scores block by block and writes them to a temporary
file in the destination's directory, renamed over the destination only
when every row has been scored (``commit``); ``abort`` removes it, so a
failure never leaves a truncated output.  Errors are raised as
:class:`StreamError` with a one-line message naming the file and, for bad
rows, the global row number.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
from numpy.typing import NDArray

from . import _threads

#: Default budget of input bytes (P and Q together) per block of rows.
BLOCK_BYTES = 64 << 20

INPUT_FORMATS = (".npy", ".csv", ".parquet")
OUTPUT_FORMATS = (".npy", ".csv", ".parquet")


class StreamError(Exception):
    """A one-line failure of the streaming scorer (reported with status 1)."""


def ext(path: object) -> str:
    """Lower-case extension of `path` (``""`` when it has none)."""
    return os.path.splitext(str(path))[1].lower()


def need_pyarrow(what: str) -> Any:
    """Import pyarrow.parquet or raise StreamError naming `what` needs it."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet as pq
    except ImportError:
        raise StreamError(f"{what} needs pyarrow, which is not installed "
                          "(pip install 'kl_ext[parquet]')") from None
    return pq


# --------------------------------------------------------------------------
# sources

class _Source:
    """Distributions of one file as rows: ``m`` rows of length ``n``."""

    # (path, label and dtype: set by every subclass's __init__)
    path: str
    label: str
    shape: tuple[int, ...] = ()   # the shape as stored (1-D or 2-D), for messages
    m: int = 0
    n: int = 0
    dtype: np.dtype[Any]

    def read(self, k: int) -> NDArray[Any]:
        """The next `k` rows as an ndarray of shape (k, n)."""
        raise NotImplementedError

    def read_all(self) -> NDArray[Any]:
        """Every row, as one (m, n) array (for a single reference row)."""
        return np.asarray(self.read(self.m))

    def close(self) -> None:
        """Release the file (idempotent)."""


class _ArrayRows(_Source):
    """Rows of an (m, n) array already in memory or mapped whole."""

    def __init__(self, path: str, label: str, rows: NDArray[Any], shape: tuple[int, ...]) -> None:
        self.path, self.label, self.shape = path, label, shape
        self._rows: NDArray[Any] | None = rows
        self.m, self.n = rows.shape
        self.dtype = rows.dtype
        self._pos = 0

    def read(self, k: int) -> NDArray[Any]:
        assert self._rows is not None  # (not closed)
        b = self._rows[self._pos:self._pos + k]
        self._pos += k
        return b

    def close(self) -> None:
        self._rows = None


class _NpyRows(_Source):
    """Rows stored contiguously in a ``.npy`` file: one memory map per block."""

    def __init__(self, path: str, label: str, shape: tuple[int, ...], m: int, n: int,
                 dtype: np.dtype[Any], offset: int) -> None:
        self.path, self.label, self.shape = path, label, shape
        self.m, self.n, self.dtype = m, n, dtype
        self._offset = offset
        self._row_bytes = n * dtype.itemsize
        self._pos = 0

    def read(self, k: int) -> NDArray[Any]:
        if k == 0:
            return np.empty((0, self.n), self.dtype)
        mm = np.memmap(self.path, dtype=self.dtype, mode="r", shape=(k, self.n),
                       offset=self._offset + self._pos * self._row_bytes)
        self._pos += k
        block: NDArray[Any] = mm.view(np.ndarray)  # keeps the map alive as long as the block
        return block


def _check_array(path: str, label: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
    if dtype.kind not in "biuf":
        raise StreamError(f"{label} file {path!r} holds dtype {dtype}; expected real numbers")
    if len(shape) not in (1, 2):
        raise StreamError(f"{label} file {path!r} holds an array of shape {shape}; "
                          "expected 1-D (one distribution) or 2-D (one per row)")
    if 0 in shape:
        raise StreamError(f"{label} file {path!r} holds no values (shape {shape})")


def _rows_of(path: str, label: str, a: NDArray[Any], columns: bool) -> NDArray[Any]:
    """(m, n) view of a 1-D or 2-D array: one distribution per row."""
    if a.ndim == 1:
        return a[None, :]
    return a.T if columns else a


def _open_npy(path: str, label: str, columns: bool) -> _Source:
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # any reader failure becomes one line
        raise StreamError(f"cannot read {label} file {path!r} as .npy: "
                          f"{type(exc).__name__}: {exc}") from None
    if not isinstance(a, np.ndarray):
        raise StreamError(f"{label} file {path!r} does not hold a single array")
    _check_array(path, label, a.shape, a.dtype)
    rows = _rows_of(path, label, a, columns)
    m, n = rows.shape
    # contiguous distributions: C order by rows, Fortran order by columns
    if a.ndim == 2 and rows.flags.c_contiguous and isinstance(a, np.memmap):
        src = _NpyRows(path, label, a.shape, m, n, a.dtype, a.offset)
        del a, rows          # unmap: blocks map their own pages
        return src
    return _ArrayRows(path, label, rows, a.shape)


def _open_csv(path: str, label: str, columns: bool) -> _Source:
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "input contained no data"
            a = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
    except Exception as exc:
        raise StreamError(f"cannot read {label} file {path!r} as .csv: "
                          f"{type(exc).__name__}: {exc}") from None
    _check_array(path, label, a.shape, a.dtype)
    return _ArrayRows(path, label, _rows_of(path, label, a, columns), a.shape)


class _ParquetRows(_Source):
    """Rows of a Parquet file, read batch by batch with ``iter_batches``.

    Either one column of fixed-size lists (or lists of one common length)
    holds a distribution per row, or several numeric columns hold one
    element each.
    """

    def __init__(self, path: str, label: str, columns: Sequence[str] | None) -> None:
        pq = need_pyarrow(f"{label} file {path!r} (Parquet)")
        import pyarrow as pa
        self.path, self.label = path, label
        try:
            self._file = pq.ParquetFile(path)
            schema = self._file.schema_arrow
        except Exception as exc:
            raise StreamError(f"cannot read {label} file {path!r} as .parquet: "
                              f"{type(exc).__name__}: {exc}") from None
        names = schema.names
        if columns:
            missing = [c for c in columns if c not in names]
            if missing:
                raise StreamError(f"{label} file {path!r} has no column {missing[0]!r}; "
                                  f"its columns are {', '.join(names)}")
        else:
            columns = names
        types = [schema.field(c).type for c in columns]
        self.m = self._file.metadata.num_rows
        self._columns = list(columns)
        if len(columns) == 1 and (pa.types.is_fixed_size_list(types[0])
                                  or pa.types.is_list(types[0])
                                  or pa.types.is_large_list(types[0])):
            vt = types[0].value_type
            self._check_type(vt, columns[0], " of lists of")
            self._list = True
            if pa.types.is_fixed_size_list(types[0]):
                self.n = types[0].list_size
            else:
                self.n = self._first_length()
            self.dtype = np.dtype(vt.to_pandas_dtype())
        else:
            for c, t in zip(columns, types):
                self._check_type(t, c, "")
            self._list = False
            self.n = len(columns)
            self.dtype = np.result_type(*[np.dtype(t.to_pandas_dtype()) for t in types])
        self.shape = (self.m, self.n)
        if self.m == 0 or self.n == 0:
            raise StreamError(f"{label} file {path!r} holds no values "
                              f"({self.m} rows of {self.n} values)")
        self._batches: Iterator[Any] | None = None
        self._pending: list[NDArray[Any]] = []   # arrays of rows read but not handed out
        self._pos = 0            # global row of the next batch's first row

    def _check_type(self, t: Any, column: str, what: str) -> None:
        import pyarrow as pa
        if not (pa.types.is_floating(t) or pa.types.is_integer(t)):
            raise StreamError(f"{self.label} file {self.path!r}: column {column!r} holds"
                              f"{what} {t}; expected real numbers (a fixed-size-list "
                              "column, or numeric columns; choose with --column)")

    def _first_length(self) -> int:
        import pyarrow.compute as pc
        for batch in self._file.iter_batches(batch_size=1, columns=self._columns):
            if len(batch):
                n = pc.list_value_length(batch.column(0))[0].as_py()
                return 0 if n is None else n
        return 0

    def _bad(self, row: int, what: str) -> NoReturn:
        raise StreamError(f"{self.label} file {self.path!r}: {what} in row {row}")

    def _convert(self, batch: Any) -> NDArray[Any]:
        """(rows, n) ndarray of one RecordBatch; StreamError names bad rows."""
        import pyarrow as pa
        import pyarrow.compute as pc
        start = self._pos
        self._pos += len(batch)
        if self._list:
            col = batch.column(0)
            name = self._columns[0]
            if col.null_count:
                self._bad(start + _first_true(col.is_null()), f"column {name!r} is null")
            if not pa.types.is_fixed_size_list(col.type):
                lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
                bad = np.flatnonzero(lengths != self.n)
                if bad.size:
                    self._bad(start + int(bad[0]), f"column {name!r} holds a list of "
                              f"{int(lengths[bad[0]])} values, expected {self.n}")
            values = col.flatten()   # respects a slice offset (unlike .values)
            if values.null_count:
                i = _first_true(values.is_null())
                self._bad(start + i // self.n, f"column {name!r} has a null value")
            rows: NDArray[Any] = values.to_numpy(zero_copy_only=False).reshape(-1, self.n)
            return rows
        out = np.empty((len(batch), self.n), self.dtype)
        for j, name in enumerate(self._columns):
            col = batch.column(j)
            if col.null_count:
                self._bad(start + _first_true(col.is_null()), f"column {name!r} is null")
            out[:, j] = col.to_numpy(zero_copy_only=False)
        return out

    def read(self, k: int) -> NDArray[Any]:
        if self._batches is None:
            self._batches = self._file.iter_batches(batch_size=max(int(k), 1),
                                                    columns=self._columns)
        have = sum(len(a) for a in self._pending)
        while have < k:
            try:
                batch = next(self._batches)
            except StopIteration:
                break
            a = self._convert(batch)
            self._pending.append(a)
            have += len(a)
        if len(self._pending) == 1 and len(self._pending[0]) == k:
            return self._pending.pop()
        rows = np.concatenate(self._pending) if self._pending else np.empty((0, self.n))
        self._pending = [rows[k:]] if len(rows) > k else []
        return rows[:k]

    def close(self) -> None:
        self._batches = None
        self._pending = []


def _first_true(mask: Any) -> int:
    return int(np.flatnonzero(mask.to_numpy(zero_copy_only=False))[0])


def open_rows(path: str, label: str, *, columns: bool = False,
              parquet_columns: Sequence[str] | None = None) -> _Source:
    """Open `path` (.npy, .csv or .parquet) as a source of distributions.

    Parameters
    ----------
    path : str
        The file.
    label : str
        ``"P"`` or ``"Q"``, for messages.
    columns : bool
        True if the distributions are the columns of a 2-D array (``--axis
        0``); not supported for Parquet, whose rows are the distributions.
    parquet_columns : list of str, optional
        Parquet columns that form the rows (default: all).
    """
    e = ext(path)
    if e not in INPUT_FORMATS:
        raise StreamError(f"{label} file {path!r}: unsupported format "
                          f"{e or '(no extension)'!r}; use .npy, .csv or .parquet")
    if not os.path.exists(path):
        raise StreamError(f"{label} file {path!r} does not exist")
    if os.path.isdir(path):
        raise StreamError(f"{label} file {path!r} is a directory")
    if e == ".npy":
        return _open_npy(path, label, columns)
    if e == ".csv":
        return _open_csv(path, label, columns)
    if columns:
        raise StreamError(f"--axis 0 does not apply to Parquet file {path!r} "
                          "(its rows are the distributions)")
    return _ParquetRows(path, label, parquet_columns)


# --------------------------------------------------------------------------
# scoring

def named_error(exc: BaseException, files: Mapping[str, tuple[str, str]]) -> str:
    """The message of a kernel's ValueError with the file it is about.

    `files` maps the argument name that starts the message (``"p"``,
    ``"q"``) to ``(label, path)``; other messages are kept as they are.
    """
    msg = str(exc)
    who = files.get(msg.split(" ", 1)[0])
    return f"{who[0]} file {who[1]!r}: {msg}" if who else msg


def score_blocks(fn: Callable[..., Any], p: _Source, q: _Source | NDArray[Any] | None,
                 block_rows: int,
                 kwargs: Mapping[str, Any], files: Mapping[str, tuple[str, str]]
                 ) -> Generator[tuple[int, NDArray[Any]], None, None]:
    """Yield ``(start, scores)`` for consecutive blocks of rows.

    Parameters
    ----------
    fn : callable
        An eager kl_ext measure, called as ``fn(pb, qb, axis=1, **kwargs)``
        (``fn(pb, axis=1, ...)`` when `q` is None).
    p : source
        The distributions to score.
    q : source, ndarray of shape (1, n), or None
        Matching rows, one reference row, or nothing (entropy).
    block_rows : int
        Rows per block.
    kwargs : dict
        Keywords of `fn`.
    files : dict
        ``{"p": (label, path), "q": (label, path)}`` for messages.
    """
    for start in range(0, p.m, block_rows):
        k = min(block_rows, p.m - start)
        pb = p.read(k)
        args = (pb,) if q is None else (pb, q.read(k) if isinstance(q, _Source) else q)
        try:
            # rows_from: the kernels' messages name global rows
            with np.errstate(all="ignore"), _threads.rows_from((start,)):
                scores = fn(*args, axis=1, **kwargs)
        except ValueError as exc:
            raise StreamError(named_error(exc, files)) from None
        del args, pb
        yield start, np.atleast_1d(np.asarray(scores))


def block_rows_for(n: int, itemsize_total: int, budget: int = BLOCK_BYTES) -> int:
    """Rows per block: `budget` bytes of input, at least one row."""
    return max(1, budget // max(1, n * itemsize_total))


# --------------------------------------------------------------------------
# on a Dask cluster

def dask_rows(src: _Source, columns: bool, block_rows: int) -> Any:
    """A Dask array of the rows of the ``.npy`` source `src`, `block_rows` per
    chunk (:func:`kl_ext.dask.read_npy`: each task memory-maps its own block,
    so the workers need the file at the same path)."""
    import kl_ext.dask as kd
    if len(src.shape) == 1:
        return kd.read_npy(os.path.abspath(src.path), chunks=src.shape)[None, :]
    chunks = (src.n, block_rows) if columns else (block_rows, src.n)
    x = kd.read_npy(os.path.abspath(src.path), chunks=chunks)
    return x.T if columns else x


def score_dask(client: Any, name: str, p: _Source, q: _Source | NDArray[Any] | None, columns: bool,
               block_rows: int, kwargs: Mapping[str, Any],
               files: Mapping[str, tuple[str, str]], window: int | None = None
               ) -> Generator[tuple[int, NDArray[Any]], None, None]:
    """Yield ``(start, scores)`` like :func:`score_blocks`, computed on a cluster.

    The blocks are ``kl_ext.dask.<name>`` tasks submitted through `client`,
    at most `window` at a time (default: twice the cluster's threads), and
    handed out in row order, so the client holds a few blocks of scores.
    """
    import collections

    import kl_ext.dask as kd
    fn = getattr(kd, name)
    pd = dask_rows(p, columns, block_rows)
    if q is None:
        out = fn(pd, axis=1, **kwargs)
    else:
        qd = dask_rows(q, columns, block_rows) if isinstance(q, _Source) else q
        out = fn(pd, qd, axis=1, **kwargs)
    blocks = out.to_delayed().ravel().tolist()
    starts = np.cumsum((0,) + out.chunks[0][:-1]).tolist()
    if window is None:
        window = max(2, 2 * sum(client.nthreads().values()))
    pending: collections.deque[tuple[int, Any]] = collections.deque()
    todo = iter(zip(starts, blocks))
    try:
        for start, d in todo:
            pending.append((start, client.compute(d)))
            if len(pending) >= window:
                break
        while pending:
            start, fut = pending.popleft()
            try:
                scores = fut.result()
            except ValueError as exc:
                raise StreamError(named_error(exc, files)) from None
            for nxt in todo:
                pending.append((nxt[0], client.compute(nxt[1])))
                break
            yield start, np.atleast_1d(np.asarray(scores))
    finally:
        for _, fut in pending:
            fut.cancel()


# --------------------------------------------------------------------------
# sinks

class _Sink:
    """Scores written block by block; the file appears only on commit."""

    def write(self, scores: NDArray[Any]) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass


class StdoutSink(_Sink):
    """One score per line on stdout, printed exactly (repr)."""

    def write(self, scores: NDArray[Any]) -> None:
        if scores.size:
            sys.stdout.write("\n".join(map(repr, scores.tolist())) + "\n")

    def commit(self) -> None:
        sys.stdout.flush()


class _FileSink(_Sink):
    def __init__(self, path: str, m: int) -> None:
        self.path, self.m = path, m
        d = os.path.dirname(os.path.abspath(path))
        base = os.path.basename(path)
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".part", dir=d)
        except OSError as exc:
            raise StreamError(f"cannot write {path!r}: {exc.strerror or exc}") from None
        os.close(fd)
        self._written = 0

    def write(self, scores: NDArray[Any]) -> None:
        try:
            self._write(scores)
        except OSError as exc:
            raise StreamError(f"cannot write {self.path!r}: {exc.strerror or exc}") from None
        self._written += len(scores)

    def commit(self) -> None:
        try:
            self._close()
            if self._written != self.m:   # never rename an incomplete file
                raise StreamError(f"internal error: {self._written} of {self.m} scores "
                                  f"written to {self.path!r}")
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self._tmp, 0o666 & ~umask)   # mkstemp made it 0600
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.abort()
            raise StreamError(f"cannot write {self.path!r}: {exc.strerror or exc}") from None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        try:
            self._close()
        except Exception:
            pass
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass

    def _write(self, scores: NDArray[Any]) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass


class NpySink(_FileSink):
    """A 1-D ``.npy``: header from ``open_memmap``, then positioned writes.

    The header and size come from :func:`numpy.lib.format.open_memmap`; the
    blocks are written with ``os.pwrite`` rather than through the map, so
    the written pages never count in this process's resident memory.
    """

    _fd: int | None = None

    def _write(self, scores: NDArray[Any]) -> None:
        if self._fd is None:   # the dtype is the first block's
            mm = np.lib.format.open_memmap(self._tmp, mode="w+", dtype=scores.dtype,
                                           shape=(self.m,))
            self._offset, self._dtype = mm.offset, mm.dtype
            del mm
            self._fd = os.open(self._tmp, os.O_WRONLY)
        data = np.ascontiguousarray(scores, dtype=self._dtype)
        view = memoryview(data).cast("B")  # type: ignore[arg-type, unused-ignore]
        pos = self._offset + self._written * self._dtype.itemsize
        while view:
            done = os.pwrite(self._fd, view, pos)
            view, pos = view[done:], pos + done

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class CsvSink(_FileSink):
    """One score per line, exactly (repr)."""

    _f: Any = None

    def _write(self, scores: NDArray[Any]) -> None:
        if self._f is None:
            self._f = open(self._tmp, "w", encoding="ascii")
        if scores.size:
            self._f.write("\n".join(map(repr, scores.tolist())) + "\n")

    def _close(self) -> None:
        if self._f is not None:
            f, self._f = self._f, None
            f.close()


class ParquetSink(_FileSink):
    """One column ``score`` (float32 or float64), a row group per block."""

    _w: Any = None

    def _write(self, scores: NDArray[Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq
        table = pa.table({"score": pa.array(scores)})
        if self._w is None:
            self._w = pq.ParquetWriter(self._tmp, table.schema)
        self._w.write_table(table)

    def _close(self) -> None:
        if self._w is not None:
            w, self._w = self._w, None
            w.close()


def open_sink(path: str | None, m: int) -> _Sink:
    """The sink for ``--out path`` (None: stdout) of `m` scores."""
    if path is None:
        return StdoutSink()
    return {".npy": NpySink, ".csv": CsvSink, ".parquet": ParquetSink}[ext(path)](path, m)


# --------------------------------------------------------------------------
# progress

class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress(total: int, enabled: bool) -> Any:
    """A tqdm bar on stderr (rows/s, ETA) when `enabled`, stderr is a
    terminal and tqdm is installed; otherwise a no-op with the same methods."""
    if not enabled or not _isatty(sys.stderr):
        return _NoProgress()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoProgress()
    return tqdm(total=total, unit="rows", unit_scale=True, file=sys.stderr,
                dynamic_ncols=True, leave=False)


def _isatty(f: Any) -> bool:
    try:
        tty: bool = f.isatty()
        return tty
    except (AttributeError, ValueError):
        return False
