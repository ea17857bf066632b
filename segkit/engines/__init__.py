"""Engines execute the rules of ``segkit.rules`` on a backend: DuckDB in process
(``duckdb``), DuckDB over files larger than memory (``outofcore``), Spark (``spark``) and a
database by URL through ibis (``database``: PostgreSQL). The rules themselves are never
restated here; ``base.run_rules`` runs them on any engine, and what each database spells
differently (the line hash, the id-trimming class) is in ``dialects``.
"""
from segkit.engines.base import (
           Engine,
           arrow_lines,
           canonical_table,
           date_bounds,
           run_rules,
           write_parquet,
)
from segkit.engines.duckdb import DuckDBEngine, local_engine
from segkit.engines.spark import SparkEngine, score_on_spark, spark_session

__all__ = ["Engine", "DuckDBEngine", "SparkEngine", "arrow_lines", "canonical_table", "date_bounds", "local_engine",
           "run_rules", "score_on_spark", "spark_session", "write_parquet"]
