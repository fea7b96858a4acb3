"""Exact TreeSHAP reason codes for a LightGBM booster, at a few times the cost of ``predict``.

LightGBM's ``predict(X, pred_contrib=True)`` runs the recursive path-dependent TreeSHAP
algorithm, O(leaves x depth^2) per tree and row, which makes reason codes 40-200x dearer than
the prediction. ``PathExplainer`` returns the same numbers (to float rounding) from tables
built once per booster, so that a row costs about one pass over each tree's splits plus a
few table lookups.

Why tables work: for a leaf with value ``v`` whose path splits on the distinct features ``P``
(``d = |P|``), let ``z_j`` be the share of the training rows (LightGBM's leaf/internal counts)
that follow the path at its splits on ``j``, and ``o_j`` 1 if the row satisfies every split
of the path on ``j``, else 0. The tree's path-dependent value function is
``f(S) = sum_leaves v * prod_{j in P} (o_j if j in S else z_j)``, so the leaf's share of
feature ``k``'s Shapley value is

    v * (o_k - z_k) * sum_{S subset P - {k}} w(|S|, d) prod_{j in S} o_j prod_{j not in S} z_j

with ``w(s, d) = s! (d - s - 1)! / d!``. It depends on the row only through the ``d`` bits
``o``; as ``o`` is 0 or 1, the sum is ``sum_s w(s, d) [y^s] prod_{j satisfied, j != k}
(y + z_j)`` times the unsatisfied ``z_j`` (``_leaf_shares``). The shares of all leaves below
a split depend only on the bits of the path above it and on the row's direction at each split
below it, so each tree is cut into subtrees ("blocks") with at most ``max_block_bits`` such
bits, and each block gets a table of its leaves' summed shares for every combination. A row
then costs one pass over the tree's splits (LightGBM's routing: missing values by each
split's missing type and default direction, zeros, categorical bitsets) and one table line
per block. A leaf with more distinct features than ``max_block_bits`` is computed on the fly.

The loops are compiled with Numba (on first use, then cached on disk) and run in parallel
over blocks of rows, tree by tree so that a tree's tables stay in cache.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import lightgbm as lgb
import numba
import numpy as np

# LightGBM's kZeroThreshold (float32 1e-35): the predictor treats values this close to 0 as 0.
_ZERO = float(np.float32(1e-35))
# Split kinds: numerical, numerical sending zeros (as missing) the default way, categorical.
_NUMERICAL, _ZERO_AS_MISSING, _CATEGORICAL = 0, 1, 2
_MAX_BITS = 62  # a block's bits live in an int64
DEFAULT_CHUNK_ROWS = 100_000
DEFAULT_BLOCK_BITS = 10
ROW_BLOCK = 1024  # rows per parallel task; they run tree by tree


class Trees(NamedTuple):
    """A booster's trees as flat arrays, in the order of the kernel's arguments.

    Split ``i`` of tree ``t`` (LightGBM's ``split_index``) is at ``node_start[t] + i``. Within
    a tree, splits are numbered ``0..n_splits-1`` and leaf ``j`` is ``n_splits + j``
    (``node_left``/``node_right``, ``block_root``). ``node_slot`` is the bit of the split's
    feature among the distinct features of its root path; a split inside block ``node_block``
    (tree-local, -1 if none) sets bit ``node_bit`` of the block's index when the row goes
    left. Block ``k`` of tree ``t`` is at ``block_start[t] + k``: its root, the number of
    path-feature bits above it, its features (tree-local numbers, which ``tree_feature`` maps
    back) and the start of its table (``2^bits`` lines of one share per feature), or -1 for a
    leaf computed on the fly from ``block_zero`` and ``block_value``."""

    node_start: np.ndarray
    block_start: np.ndarray
    tree_feature_start: np.ndarray
    tree_feature: np.ndarray
    node_feature: np.ndarray
    node_threshold: np.ndarray
    node_kind: np.ndarray
    node_nan_left: np.ndarray
    node_default_left: np.ndarray
    node_cat_start: np.ndarray
    node_cat_words: np.ndarray
    node_left: np.ndarray
    node_right: np.ndarray
    node_slot: np.ndarray
    node_block: np.ndarray
    node_bit: np.ndarray
    cat_bits: np.ndarray
    block_root: np.ndarray
    block_root_bits: np.ndarray
    block_feature_start: np.ndarray
    block_feature: np.ndarray
    block_zero: np.ndarray
    block_value: np.ndarray
    block_table: np.ndarray
    table: np.ndarray
    weights: np.ndarray
    max_nodes: int
    max_leaves: int
    max_blocks: int
    max_tree_features: int


@dataclass
class _Leaf:
    value: float
    features: list[int]  # in bit order
    zero: list[float]
    path: list[tuple[int, bool, int]]  # (split, goes left, bit of its feature)


@dataclass
class _Split:
    node: dict[str, Any]
    slot: int
    bits_above: int  # distinct features on the path above the split
    n_splits: int = 0  # splits in its subtree, itself included
    leaves: list[int] = field(default_factory=list)


@dataclass
class _Builder:
    """Collects the flat arrays while walking the dumped trees."""

    max_block_bits: int
    weights: np.ndarray
    node: dict[str, list[Any]] = field(default_factory=dict)
    block: dict[str, list[Any]] = field(default_factory=dict)
    cat_bits: list[int] = field(default_factory=list)
    tree_feature: list[int] = field(default_factory=list)
    block_feature: list[int] = field(default_factory=list)
    block_zero: list[float] = field(default_factory=list)
    tables: list[np.ndarray] = field(default_factory=list)
    table_size: int = 0

    def add(self, to: str, /, **values: Any) -> None:
        target = self.node if to == "node" else self.block
        for key, value in values.items():
            target.setdefault(key, []).append(value)

    def column(self, table: str, key: str, dtype: type) -> np.ndarray:
        target = self.node if table == "node" else self.block
        return np.asarray(target.get(key, []), dtype=dtype)


def _count(node: dict[str, Any]) -> float:
    return float(node.get("internal_count", node.get("leaf_count", 0)))


def _is_leaf(node: dict[str, Any]) -> bool:
    return "split_index" not in node


def _code(node: dict[str, Any]) -> int:
    return int(node["split_index"]) if not _is_leaf(node) else ~int(node["leaf_index"])


def _bitset(categories: str) -> list[int]:
    values = [int(c) for c in categories.split("||")]
    words = [0] * (max(values) // 32 + 1)
    for v in values:
        words[v // 32] |= 1 << (v % 32)
    return words


def _read_tree(root: dict[str, Any]) -> tuple[dict[int, _Split], dict[int, _Leaf]]:
    """Splits and leaves by index, with each leaf's distinct path features, their zero
    fractions (count shares, multiplied over repeated splits) and its path."""
    splits: dict[int, _Split] = {}
    leaves: dict[int, _Leaf] = {}

    def walk(node: dict[str, Any], leaf: _Leaf) -> tuple[int, list[int]]:
        if _is_leaf(node):
            if "leaf_coeff" in node:
                raise ValueError("linear trees are not supported")
            leaf.value = float(node["leaf_value"])
            leaves[int(node["leaf_index"])] = leaf
            return 0, [int(node["leaf_index"])]
        feature = int(node["split_feature"])
        features = leaf.features
        slot = features.index(feature) if feature in features else len(features)
        split = _Split(node, slot, len(features))
        splits[int(node["split_index"])] = split
        parent = _count(node)
        for child, left in ((node["left_child"], True), (node["right_child"], False)):
            share = _count(child) / parent if parent > 0 else 0.0
            zero = [*leaf.zero, 1.0] if slot == len(features) else list(leaf.zero)
            zero[slot] *= share
            below = _Leaf(0.0, features if slot < len(features) else [*features, feature], zero,
                          [*leaf.path, (int(node["split_index"]), left, slot)])  # fmt: skip
            n, child_leaves = walk(child, below)
            split.n_splits += n
            split.leaves += child_leaves
        split.n_splits += 1
        return split.n_splits, split.leaves

    walk(root, _Leaf(0.0, [], [], []))
    return splits, leaves


@numba.njit(cache=True, nogil=True)
def _leaf_shares(  # pragma: no cover - compiled
    satisfied: int,
    d: int,
    zero: np.ndarray,
    value: float,
    weights: np.ndarray,
    q: np.ndarray,
    dest: np.ndarray,
) -> None:
    """A leaf's share of each of its ``d`` features' Shapley values, for a row whose
    satisfied features are the bits of ``satisfied``. ``q`` is scratch of size >= d + 1."""
    # q: coefficients of prod over satisfied j of (y + z_j); zu: product of the other z_j.
    q[0] = 1.0
    a = 0
    zu = 1.0
    for k in range(d):
        z = zero[k]
        if (satisfied >> k) & 1:
            a += 1
            q[a] = q[a - 1]
            for s in range(a - 1, 0, -1):
                q[s] = q[s - 1] + z * q[s]
            q[0] *= z
        else:
            zu *= z
    v = value * zu
    w = weights[d]
    unsatisfied_share = 0.0
    if a < d:
        for s in range(a + 1):
            unsatisfied_share -= w[s] * q[s]
        unsatisfied_share *= v
    for k in range(d):
        if (satisfied >> k) & 1:
            z = zero[k]
            r = q[a]  # q / (y + z_k), from the top coefficient down
            acc = w[a - 1] * r
            for s in range(a - 1, 0, -1):
                r = q[s] - z * r
                acc += w[s - 1] * r
            dest[k] = v * (1.0 - z) * acc
        else:
            dest[k] = unsatisfied_share


@numba.njit(cache=True, nogil=True)
def _leaf_table(zero: np.ndarray, value: float, weights: np.ndarray) -> np.ndarray:
    """The leaf's shares for every pattern of satisfied features: ``2^d x d``."""
    d = zero.shape[0]
    out = np.empty((1 << d, d))
    q = np.empty(d + 1)
    for satisfied in range(1 << d):
        _leaf_shares(satisfied, d, zero, value, weights, q, out[satisfied])
    return out


def _add_block(
    out: _Builder,
    root: int,
    bits_above: int,
    inner: list[int],
    leaves: list[_Leaf],
    local: dict[int, int],
) -> None:
    """One block and its table: the leaves below split ``root`` (``inner``: the splits of its
    subtree), or one leaf (``root``: its number after the splits, ``inner`` empty), computed
    on the fly if it has more than ``max_block_bits`` features."""
    features: dict[int, int] = {}  # tree-local feature -> column of the block's table
    for leaf in leaves:
        for f in leaf.features:
            features.setdefault(local.setdefault(f, len(local)), len(features))
    out.add(
        "block",
        root=root,
        root_bits=bits_above,
        feature_start=len(out.block_feature),
        value=leaves[0].value if len(leaves) == 1 else 0.0,
    )
    out.block_feature.extend(features)
    bits = bits_above + len(inner)
    if bits > out.max_block_bits:  # a deep leaf: computed on the fly
        out.block_zero.extend(leaves[0].zero)
        out.add("block", table=-1)
        return
    out.block_zero.extend([0.0] * len(features))
    index = np.arange(1 << bits, dtype=np.int64)
    bit_of = {split: bits_above + i for i, split in enumerate(inner)}
    table = np.zeros((len(index), len(features)))
    for leaf in leaves:
        d = len(leaf.features)
        satisfied = (index & ((1 << bits_above) - 1)) | (((1 << d) - 1) ^ ((1 << bits_above) - 1))
        for split, left, slot in leaf.path:
            if split in bit_of:
                went_left = (index >> bit_of[split]) & 1
                satisfied &= ~((went_left ^ int(left)) << slot)
        shares = _leaf_table(np.asarray(leaf.zero), leaf.value, out.weights)[satisfied]
        table[:, [features[local[f]] for f in leaf.features]] += shares
    out.add("block", table=out.table_size)
    out.tables.append(table.ravel())
    out.table_size += table.size


def _add_tree(root: dict[str, Any], out: _Builder) -> tuple[int, int, int, float]:
    """Append one tree; returns (splits, leaves, blocks, expected value)."""
    if _is_leaf(root):
        if "leaf_coeff" in root:
            raise ValueError("linear trees are not supported")
        return 0, 0, 0, float(root["leaf_value"])
    splits, leaves = _read_tree(root)
    if any(len(leaf.features) > _MAX_BITS for leaf in leaves.values()):
        raise ValueError(f"a leaf's path splits on more than {_MAX_BITS} distinct features")
    local: dict[int, int] = {}  # the tree's features, numbered from 0
    node_block = [-1] * len(splits)
    node_bit = [0] * len(splits)
    n_blocks = 0

    def choose(code: int) -> None:
        nonlocal n_blocks
        if code < 0:
            root = len(splits) + ~code
            _add_block(out, root, len(leaves[~code].features), [], [leaves[~code]], local)
        else:
            split = splits[code]
            if split.bits_above + split.n_splits > out.max_block_bits:
                choose(_code(split.node["left_child"]))
                choose(_code(split.node["right_child"]))
                return
            inner = sorted(i for i, s in splits.items() if set(s.leaves) <= set(split.leaves))
            for position, i in enumerate(inner):
                node_block[i], node_bit[i] = n_blocks, split.bits_above + position
            block_leaves = [leaves[j] for j in split.leaves]
            _add_block(out, code, split.bits_above, inner, block_leaves, local)
        n_blocks += 1

    choose(0)
    for index in range(len(splits)):
        split = splits[index]
        node = split.node
        left, right = _code(node["left_child"]), _code(node["right_child"])
        if max(left, right) >= 0 and min(c for c in (left, right) if c >= 0) <= index:
            raise ValueError("expected every split to come after its parent's split")
        left, right = (c if c >= 0 else len(splits) + ~c for c in (left, right))
        # LightGBM's Tree::NumericalDecision / CategoricalDecision: a categorical split sends
        # NaN right; a numerical one sends NaN the default way if its missing type is NaN or
        # Zero, else treats it as 0 (as it treats |x| <= kZeroThreshold, zeroed beforehand).
        categorical = node["decision_type"] == "=="
        words = _bitset(str(node["threshold"])) if categorical else []
        threshold = 0.0 if categorical else float(node["threshold"])
        missing = str(node["missing_type"])
        default_left = bool(node["default_left"])
        kind = _ZERO_AS_MISSING if missing == "Zero" else _NUMERICAL
        nan_left = default_left if missing in ("NaN", "Zero") else threshold >= 0
        out.add(
            "node",
            feature=int(node["split_feature"]),
            threshold=threshold,
            kind=_CATEGORICAL if categorical else kind,
            nan_left=int(nan_left and not categorical),
            default_left=int(default_left),
            cat_start=len(out.cat_bits),
            cat_words=len(words),
            left=left,
            right=right,
            slot=split.slot,
            block=node_block[index],
            bit=node_bit[index],
        )
        out.cat_bits.extend(words)
    out.tree_feature.extend(local)
    expected = sum(leaf.value * math.prod(leaf.zero) for leaf in leaves.values())
    return len(splits), len(leaves), n_blocks, expected


def _shapley_weights(max_d: int) -> np.ndarray:
    """``w[d, s] = s! (d - s - 1)! / d!`` for 0 <= s < d <= max_d."""
    w = np.zeros((max_d + 1, max(max_d, 1)))
    for d in range(1, max_d + 1):
        w[d, 0] = 1.0 / d
        for s in range(1, d):
            w[d, s] = w[d, s - 1] * s / (d - s)
    return w


@numba.njit(parallel=True, cache=True, nogil=True)
def _treeshap(  # pragma: no cover - compiled
    x: np.ndarray,
    out: np.ndarray,
    node_start: np.ndarray,
    block_start: np.ndarray,
    tree_feature_start: np.ndarray,
    tree_feature: np.ndarray,
    node_feature: np.ndarray,
    node_threshold: np.ndarray,
    node_kind: np.ndarray,
    node_nan_left: np.ndarray,
    node_default_left: np.ndarray,
    node_cat_start: np.ndarray,
    node_cat_words: np.ndarray,
    node_left: np.ndarray,
    node_right: np.ndarray,
    node_slot: np.ndarray,
    node_block: np.ndarray,
    node_bit: np.ndarray,
    cat_bits: np.ndarray,
    block_root: np.ndarray,
    block_root_bits: np.ndarray,
    block_feature_start: np.ndarray,
    block_feature: np.ndarray,
    block_zero: np.ndarray,
    block_value: np.ndarray,
    block_table: np.ndarray,
    table: np.ndarray,
    weights: np.ndarray,
    max_nodes: int,
    max_leaves: int,
    max_blocks: int,
    max_tree_features: int,
    row_block: int,
) -> None:
    """Add the exact path-dependent TreeSHAP values of the rows of ``x`` to ``out``."""
    n_rows = x.shape[0]
    n_trees = node_start.shape[0] - 1
    one = np.int64(1)
    for b in numba.prange((n_rows + row_block - 1) // row_block):
        # Per split and leaf: the bits of the path features whose splits the row does not
        # follow.
        # Splits first, then leaves (at n_splits + leaf).
        miss = np.zeros(max_nodes + max_leaves + 1, dtype=np.int64)
        block_bits = np.zeros(max(max_blocks, 1), dtype=np.int64)
        acc = np.empty(max(max_tree_features, 1))  # the row's shares of the tree's features
        q = np.empty(weights.shape[1] + 1)
        shares = np.empty(weights.shape[1])
        for tree in range(n_trees):
            n0 = node_start[tree]
            b0 = block_start[tree]
            n_blocks = block_start[tree + 1] - b0
            t0 = tree_feature_start[tree]
            n_features = tree_feature_start[tree + 1] - t0
            for i in range(b * row_block, min((b + 1) * row_block, n_rows)):
                row = x[i]
                block_bits[:n_blocks] = 0
                for g in range(n0, node_start[tree + 1]):
                    value = row[node_feature[g]]
                    kind = node_kind[g]
                    if np.isnan(value):
                        left = node_nan_left[g] == 1
                    elif kind == _NUMERICAL:
                        left = value <= node_threshold[g]
                    elif kind == _ZERO_AS_MISSING:
                        if value == 0.0:
                            left = node_default_left[g] == 1
                        else:
                            left = value <= node_threshold[g]
                    else:
                        category = int(value)
                        word = category >> 5
                        left = False
                        if category >= 0 and word < node_cat_words[g]:
                            bits = cat_bits[node_cat_start[g] + word]
                            left = ((bits >> np.uint32(category & 31)) & np.uint32(1)) == 1
                    if left and node_block[g] >= 0:
                        block_bits[node_block[g]] |= one << node_bit[g]
                    above = miss[g - n0]
                    bit = one << node_slot[g]
                    miss[node_left[g]] = above if left else above | bit
                    miss[node_right[g]] = above | bit if left else above
                acc[:n_features] = 0.0
                for k in range(n_blocks):
                    blk = b0 + k
                    above = miss[block_root[blk]]
                    index = (~above & ((one << block_root_bits[blk]) - 1)) | block_bits[k]
                    f0 = block_feature_start[blk]
                    width = block_feature_start[blk + 1] - f0
                    start = block_table[blk]
                    if start >= 0:
                        line = start + index * width
                        for j in range(width):
                            acc[block_feature[f0 + j]] += table[line + j]
                    else:
                        zero = block_zero[f0 : f0 + width]
                        _leaf_shares(index, width, zero, block_value[blk], weights, q, shares)
                        for j in range(width):
                            acc[block_feature[f0 + j]] += shares[j]
                phi = out[i]
                for j in range(n_features):
                    phi[tree_feature[t0 + j]] += acc[j]


class PathExplainer:
    """Exact path-dependent TreeSHAP of a single-output LightGBM booster: the numbers of
    ``booster.predict(X, pred_contrib=True)``, from per-subtree tables, rows in parallel."""

    def __init__(
        self, trees: Trees, n_features: int, expected_value: float, num_threads: int = 0
    ) -> None:
        self.trees = trees
        self.n_features = n_features
        self.expected_value = expected_value
        self.num_threads = num_threads

    @classmethod
    def from_booster(
        cls,
        booster: lgb.Booster,
        num_iteration: int | None = None,
        num_threads: int = 0,
        max_block_bits: int = DEFAULT_BLOCK_BITS,
    ) -> PathExplainer:
        """Read the trees ``booster.predict`` uses (up to its best iteration when it has one,
        unless ``num_iteration`` says otherwise) and tabulate them in blocks of at most
        ``max_block_bits`` bits (tables of ``2^bits`` lines). ``num_threads`` 0: Numba's
        default (all cores)."""
        if not 0 <= max_block_bits <= _MAX_BITS:
            raise ValueError(f"max_block_bits must be between 0 and {_MAX_BITS}")
        model = booster.dump_model()
        if model.get("num_tree_per_iteration", 1) != 1:
            raise ValueError("only single-output (binary or regression) boosters are supported")
        if model.get("average_output"):
            raise ValueError("random-forest boosters (average_output) are not supported")
        trees = model["tree_info"]
        if num_iteration is None:
            num_iteration = booster.best_iteration
        if num_iteration > 0:
            trees = trees[:num_iteration]
        out = _Builder(max_block_bits, _shapley_weights(_MAX_BITS))
        node_start, block_start, tree_feature_start = [0], [0], [0]
        expected = 0.0
        max_leaves = 0
        for tree in trees:
            n_splits, n_leaves, n_blocks, tree_expected = _add_tree(tree["tree_structure"], out)
            node_start.append(node_start[-1] + n_splits)
            block_start.append(block_start[-1] + n_blocks)
            tree_feature_start.append(len(out.tree_feature))
            expected += tree_expected
            max_leaves = max(max_leaves, n_leaves)
        block_feature_start = np.append(
            out.column("block", "feature_start", np.int64), len(out.block_feature)
        )
        table = np.concatenate(out.tables) if out.tables else np.zeros(0)
        trees_ = Trees(
            node_start=np.asarray(node_start, dtype=np.int64),
            block_start=np.asarray(block_start, dtype=np.int64),
            tree_feature_start=np.asarray(tree_feature_start, dtype=np.int64),
            tree_feature=np.asarray(out.tree_feature, dtype=np.int32),
            node_feature=out.column("node", "feature", np.int32),
            node_threshold=out.column("node", "threshold", np.float64),
            node_kind=out.column("node", "kind", np.uint8),
            node_nan_left=out.column("node", "nan_left", np.uint8),
            node_default_left=out.column("node", "default_left", np.uint8),
            node_cat_start=out.column("node", "cat_start", np.int64),
            node_cat_words=out.column("node", "cat_words", np.int64),
            node_left=out.column("node", "left", np.int32),
            node_right=out.column("node", "right", np.int32),
            node_slot=out.column("node", "slot", np.int64),
            node_block=out.column("node", "block", np.int32),
            node_bit=out.column("node", "bit", np.int64),
            cat_bits=np.asarray(out.cat_bits, dtype=np.uint32),
            block_root=out.column("block", "root", np.int32),
            block_root_bits=out.column("block", "root_bits", np.int64),
            block_feature_start=block_feature_start,
            block_feature=np.asarray(out.block_feature, dtype=np.int32),
            block_zero=np.asarray(out.block_zero, dtype=np.float64),
            block_value=out.column("block", "value", np.float64),
            block_table=out.column("block", "table", np.int64),
            table=table,
            weights=out.weights,
            max_nodes=int(np.diff(node_start).max(initial=0)),
            max_leaves=max_leaves,
            max_blocks=int(np.diff(block_start).max(initial=0)),
            max_tree_features=int(np.diff(tree_feature_start).max(initial=0)),
        )
        return cls(trees_, int(model["max_feature_idx"]) + 1, expected, num_threads)

    def _chunks(self, x: np.ndarray, chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """Float64 copies of ``chunk_rows`` rows at a time, with LightGBM's zeroing of
        |x| <= kZeroThreshold."""
        for start in range(0, x.shape[0], chunk_rows):
            chunk = np.array(x[start : start + chunk_rows], dtype=np.float64, order="C")
            chunk[np.abs(chunk) <= _ZERO] = 0.0
            yield start, chunk

    def contributions(
        self, x: np.ndarray, chunk_rows: int = DEFAULT_CHUNK_ROWS
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n_rows x n_features contributions, base value per row), in the booster's raw
        score units (log-odds for ``binary``); each row sums to ``predict(raw_score=True)``.
        Rows are converted to float64 ``chunk_rows`` at a time."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected a 2-d matrix with {self.n_features} columns, got {x.shape}")
        out = np.zeros((x.shape[0], self.n_features))
        previous = numba.get_num_threads()
        if self.num_threads > 0:
            limit = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
            numba.set_num_threads(min(self.num_threads, limit))
        try:
            for start, chunk in self._chunks(x, chunk_rows):
                _treeshap(chunk, out[start : start + len(chunk)], *self.trees, ROW_BLOCK)
        finally:
            numba.set_num_threads(previous)
        return out, np.full(x.shape[0], self.expected_value)


def top_agreement(
    a: np.ndarray, b: np.ndarray, k: int = 3, min_contribution: float = 0.0
) -> dict[str, float]:
    """How often two contribution matrices name the same top ``k`` factors per row: the same
    set (``set``), the same features in the same order (``ordered``), and the same set once
    factors below ``min_contribution`` in absolute value are dropped, as ``reasons`` names
    only those (``named``)."""

    def top(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(-np.abs(c), axis=1, kind="stable")[:, :k]
        named = np.abs(np.take_along_axis(c, order, axis=1)) >= min_contribution
        return order, np.where(named, order, -1)

    order_a, named_a = top(a)
    order_b, named_b = top(b)
    return {
        "set": float((np.sort(order_a, axis=1) == np.sort(order_b, axis=1)).all(axis=1).mean()),
        "ordered": float((order_a == order_b).all(axis=1).mean()),
        "named": float((np.sort(named_a, axis=1) == np.sort(named_b, axis=1)).all(axis=1).mean()),
    }
