"""Pseudonymous user ids: HMAC-SHA256 under a secret key from the environment, so joins and sessions still
work while the store never holds a raw id."""

from __future__ import annotations

import hashlib
import hmac
import os

import polars as pl

from engine.config import PrivacyConfig
from engine.errors import ConfigError


def hash_key(privacy: PrivacyConfig) -> bytes | None:
    """The HMAC key when hashing is on (ConfigError naming the variable when it is unset), else None."""
    if not privacy.hash_user_ids:
        return None
    secret = os.environ.get(privacy.key_env, "")
    if not secret:
        raise ConfigError(
            f"[privacy] hash_user_ids is on but the environment variable {privacy.key_env} is not set; "
            f"export {privacy.key_env}=<a long random secret> (keep it: the same key gives the same ids) "
            "or set hash_user_ids = false"
        )
    return secret.encode("utf-8")


def hash_ids(ids: pl.Series, key: bytes) -> pl.Series:
    """Replace each id by the hex HMAC-SHA256 of it; hashes each distinct id once, nulls stay null."""
    distinct = ids.drop_nulls().unique()
    digests = [
        hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest() for value in distinct.to_list()
    ]
    lookup = pl.DataFrame({"__id": distinct, "__hash": pl.Series(digests, dtype=pl.String)})
    joined = pl.DataFrame({"__id": ids}).join(lookup, on="__id", how="left", maintain_order="left")
    return joined["__hash"].alias(ids.name)
