"""The same scoring, drift counts and feature tables on Apache Spark (docs/spark.md).

pyspark is imported only inside this package's modules, when a Spark engine function runs; `engine` itself and
the CLI import without it (`pip install 'shopctl[spark]'` adds it, Java 17 comes from the system).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.infra.lazy import lazy_attributes

if TYPE_CHECKING:
    from engine.spark.drift import spark_drift_report
    from engine.spark.scoring import spark_score
    from engine.spark.session import spark_session

__all__ = ["spark_drift_report", "spark_score", "spark_session"]
__getattr__ = lazy_attributes(
    __name__,
    {
        "spark_session": "engine.spark.session",
        "spark_score": "engine.spark.scoring",
        "spark_drift_report": "engine.spark.drift",
    },
)
