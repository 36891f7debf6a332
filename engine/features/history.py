"""A user's history strictly before each of their sessions: prior sessions, purchases, spend, days since last.

An as-of join on purchase rows (strictly earlier than the session start) keeps it point-in-time even when a
user's sessions overlap; anonymous sessions have no history and count as new visitors. Users and sessions are
keyed by 64-bit hashes of their ids (cheaper than strings; a collision among 100 million ids has a probability
below 1e-3). `UserHistory` carries the same history from one time window to the next (engine.features.windows).
"""

from __future__ import annotations

import numpy as np
import polars as pl

SECONDS_PER_DAY = 86_400.0
HISTORY_COLUMNS = (
    "prior_sessions",
    "prior_purchases",
    "prior_spend",
    "days_since_last_purchase",
    "visitor_type",
)
# What a user's history holds before a time window: the state UserHistory carries between windows.
STATE_SCHEMA: dict[str, pl.DataType] = {
    "_user": pl.UInt64(),
    "_sessions_before": pl.Int32(),
    "_orders_before": pl.Int32(),
    "_spend_before": pl.Float64(),
    "_last_before": pl.Datetime("us", "UTC"),
}


def purchase_value() -> pl.Expr:
    """Revenue of a purchase row: price × quantity (a missing quantity counts as 1, a missing price as 0)."""
    return pl.col("price").fill_null(0.0) * pl.col("quantity").fill_null(1).cast(pl.Float64)


def session_key() -> pl.Expr:
    """The 64-bit key of `session_id` that sessions are grouped and joined on."""
    return pl.col("session_id").hash(seed=0)


def user_key() -> pl.Expr:
    """The 64-bit key of `user_id` (null for anonymous rows) that histories are grouped on."""
    return pl.when(pl.col("user_id").is_not_null()).then(pl.col("user_id").hash(seed=0))


def purchase_rows(events: pl.LazyFrame) -> pl.LazyFrame:
    """Purchase rows of known users: user and session keys, time and value."""
    return events.filter((pl.col("event_type") == "purchase") & pl.col("user_id").is_not_null()).select(
        user_key().alias("_user"),
        session_key().alias("_key"),
        "event_time",
        purchase_value().alias("_value"),
    )


def _orders(purchases: pl.LazyFrame, ordered: pl.Series | None) -> pl.LazyFrame:
    """Purchase rows in time order, flagged `_order_start` on each session's first one (an order)."""
    first_row = pl.col("_key").is_first_distinct()
    if ordered is not None and ordered.len():
        # The session's first purchase lies in an earlier window: this row continues that order.
        first_row = first_row & ~pl.col("_key").is_in(ordered.implode())
    return purchases.sort("event_time", "_key", maintain_order=True).with_columns(
        first_row.cast(pl.Int32).alias("_order_start")
    )


def _history_columns(sessions: pl.LazyFrame, orders: pl.LazyFrame, users: _UserState | None) -> pl.LazyFrame:
    """HISTORY_COLUMNS of the sessions in time order (session_start, then key), from flagged purchase rows and
    (optionally) the users' history before; computed on a narrow frame so sorts and joins move little data."""
    start = pl.col("session_start")
    known = pl.col("_user").is_not_null()
    running = orders.select(
        "_user",
        pl.col("event_time").alias("_last_purchase"),
        pl.col("_order_start").cum_sum().over("_user").alias("_orders"),
        pl.col("_value").cum_sum().over("_user").alias("_spend"),
    )
    # One sort by user and time serves both the as-of join (time order within each user) and the count of the
    # user's earlier sessions: the first row of the user's run of equal starts minus the user's first row.
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    user_changes = (pl.col("_user") != pl.col("_user").shift(1)).fill_null(True)
    start_changes = user_changes | (start != start.shift(1)).fill_null(True)
    ordered = (
        sessions.select("_key", "_user", "session_start")
        .sort("_user", "session_start", "_key")
        .with_columns(
            (
                pl.when(start_changes).then(row).forward_fill()
                - pl.when(user_changes).then(row).forward_fill()
            ).alias("_earlier_sessions")
        )
    )
    joined = ordered.join_asof(
        running,
        left_on="session_start",
        right_on="_last_purchase",
        by="_user",
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    sessions_before: pl.Expr = pl.lit(0, dtype=pl.Int32)
    orders_before: pl.Expr = pl.lit(0, dtype=pl.Int32)
    spend_before: pl.Expr = pl.lit(0.0)
    last_before: pl.Expr = pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    if users is not None:
        # The rows are sorted by user, so the state's sorted keys are searched in order (cache friendly).
        joined = users.beside(joined.collect(engine="in-memory")).lazy()
        sessions_before = pl.col("_sessions_before").fill_null(0)
        orders_before = pl.col("_orders_before").fill_null(0)
        spend_before = pl.col("_spend_before").fill_null(0.0)
        last_before = pl.col("_last_before")
    matched = pl.col("_last_purchase").is_not_null()
    last_purchase = pl.coalesce(pl.col("_last_purchase"), last_before)
    return (
        joined.with_columns(
            pl.when(known)
            .then(pl.col("_earlier_sessions").cast(pl.Int32) + sessions_before)
            .otherwise(0)
            .cast(pl.Int32)
            .alias("prior_sessions"),
            pl.when(matched)
            .then(orders_before + pl.col("_orders"))
            .otherwise(orders_before)
            .cast(pl.Int32)
            .alias("prior_purchases"),
            pl.when(matched)
            .then(spend_before + pl.col("_spend"))
            .otherwise(spend_before)
            .alias("prior_spend"),
            ((start - last_purchase).dt.total_seconds(fractional=True) / SECONDS_PER_DAY).alias(
                "days_since_last_purchase"
            ),
        )
        .with_columns(
            pl.when(pl.col("prior_sessions") > 0)
            .then(pl.lit("returning"))
            .otherwise(pl.lit("new"))
            .alias("visitor_type"),
        )
        .sort("session_start", "_key")
        .select(HISTORY_COLUMNS)
    )


def _attach(sessions: pl.LazyFrame, history: pl.LazyFrame) -> pl.LazyFrame:
    """The sessions in time order with their history columns (from _history_columns) beside them."""
    return pl.concat([sessions.sort("session_start", "_key"), history], how="horizontal")


def add_user_history(sessions: pl.LazyFrame, purchases: pl.LazyFrame) -> pl.LazyFrame:
    """Add prior_sessions, prior_purchases, prior_spend, days_since_last_purchase and visitor_type.

    `sessions` needs `_key`, `_user` and `session_start`; `purchases` is `purchase_rows(events)`.
    The result is in time order (session_start, then key).
    """
    return _attach(sessions, _history_columns(sessions, _orders(purchases, None), None))


class _UserState:
    """Per known user, what happened before the current window, as numpy arrays sorted by the user key.

    Folding a window in touches only that window's users (a binary search each, plus one merge of the new keys),
    instead of re-aggregating every user ever seen: the per-window cost stays flat as the log grows.
    """

    NO_PURCHASE = np.iinfo(np.int64).min  # `last` of a user who never bought (null in the output)

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.uint64)
        self.sessions = np.empty(0, dtype=np.int32)
        self.orders = np.empty(0, dtype=np.int32)
        self.spend = np.empty(0, dtype=np.float64)
        self.last = np.empty(0, dtype=np.int64)  # microseconds since the epoch, UTC

    def __len__(self) -> int:
        return len(self.keys)

    def _find(self, keys: np.ndarray, known: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Positions of keys in the state (clipped) and whether each is there."""
        if not len(self.keys):
            return np.zeros(len(keys), dtype=np.intp), np.zeros(len(keys), dtype=bool)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = self.keys[at] == keys
        return at, found if known is None else found & known

    def beside(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`frame` (with a nullable `_user`) plus STATE_SCHEMA's `_*_before` columns of each row's user."""
        users = frame["_user"]
        at, found = self._find(users.fill_null(0).to_numpy(), users.is_not_null().to_numpy())

        def value_at(values: np.ndarray, missing: float) -> np.ndarray:
            return (
                np.where(found, values[at], missing) if len(self) else np.full(len(at), missing, values.dtype)
            )

        last_before = pl.Series("_last_before", value_at(self.last, self.NO_PURCHASE), dtype=pl.Int64)
        return frame.with_columns(
            pl.Series("_sessions_before", value_at(self.sessions, 0), pl.Int32),
            pl.Series("_orders_before", value_at(self.orders, 0), pl.Int32),
            pl.Series("_spend_before", value_at(self.spend, 0.0), pl.Float64),
            pl.when(last_before != self.NO_PURCHASE)
            .then(last_before)
            .cast(STATE_SCHEMA["_last_before"])
            .alias("_last_before"),
        )

    def fold(self, window: pl.DataFrame) -> None:
        """Add a window's per-user totals (`_user` unique and not null, STATE_SCHEMA's other columns)."""
        window = window.sort("_user")
        keys = window["_user"].to_numpy()
        sessions = window["_sessions_before"].fill_null(0).to_numpy()
        orders = window["_orders_before"].fill_null(0).to_numpy()
        spend = window["_spend_before"].fill_null(0.0).to_numpy()
        last = window["_last_before"].cast(pl.Int64).fill_null(self.NO_PURCHASE).to_numpy()
        at, found = self._find(keys)
        seen = at[found]
        self.sessions[seen] += sessions[found]
        self.orders[seen] += orders[found]
        self.spend[seen] += spend[found]
        self.last[seen] = np.maximum(self.last[seen], last[found])
        new = ~found
        if new.any():
            merged = np.concatenate([self.keys, keys[new]])
            order = np.argsort(merged, kind="stable")  # two sorted runs: timsort merges them in one pass
            self.keys = merged[order]
            self.sessions = np.concatenate([self.sessions, sessions[new]])[order]
            self.orders = np.concatenate([self.orders, orders[new]])[order]
            self.spend = np.concatenate([self.spend, spend[new]])[order]
            self.last = np.concatenate([self.last, last[new]])[order]


class UserHistory:
    """Users' history carried from one time window to the next, so a window's sessions see every earlier one.

    Per user: sessions, orders and spend before the window and the last purchase time; plus the keys of
    still-open sessions whose order began in an earlier window (their later purchase rows are not new orders).
    """

    def __init__(self) -> None:
        self.users_ = _UserState()
        self.ordered_ = pl.Series("_key", [], dtype=pl.UInt64)

    def add(self, sessions: pl.DataFrame, purchases: pl.DataFrame, open_keys: pl.Series) -> pl.DataFrame:
        """History columns for a window's sessions (in time order); then fold the window into the state.

        `purchases` are the purchase rows of the window's time range (every session's, even one begun in an
        earlier window); `open_keys` the sessions still running at the window's end.
        """
        # Small frames: polars' in-memory engine sorts and joins them faster than its streaming one.
        orders = _orders(purchases.lazy(), self.ordered_).collect(engine="in-memory")
        history = _history_columns(sessions.lazy(), orders.lazy(), self.users_).collect(engine="in-memory")
        table = _attach(sessions.lazy(), history.lazy()).collect(engine="in-memory")
        session_counts = (
            sessions.filter(pl.col("_user").is_not_null())
            .group_by("_user")
            .agg(pl.len().cast(pl.Int32).alias("_sessions_before"))
        )
        order_totals = orders.group_by("_user").agg(
            pl.col("_order_start").sum().cast(pl.Int32).alias("_orders_before"),
            pl.col("_value").sum().alias("_spend_before"),
            pl.col("event_time").max().cast(STATE_SCHEMA["_last_before"]).alias("_last_before"),
        )
        self.users_.fold(session_counts.join(order_totals, on="_user", how="full", coalesce=True))
        ordered = pl.concat([self.ordered_, orders["_key"]]).unique()
        self.ordered_ = ordered.filter(ordered.is_in(open_keys.implode()))
        return table
