"""Making the SparkSession: master, the PostgreSQL JDBC driver, small shuffles."""

from __future__ import annotations

import os
from pathlib import Path

from pyspark.sql import SparkSession

#: Where Debian's ``libpostgresql-jdbc-java`` puts the driver.
DEFAULT_JDBC_JAR = "/usr/share/java/postgresql.jar"


def jdbc_jar() -> str | None:
    """The PostgreSQL JDBC jar: ``CRATEDIG_JDBC_JAR``, else Debian's, else ``None``."""
    path = os.environ.get("CRATEDIG_JDBC_JAR", DEFAULT_JDBC_JAR)
    return path if Path(path).is_file() else None


def make_session(
    master: str = "local[2]",
    app_name: str = "cratedig",
    shuffle_partitions: int = 8,
    driver_memory: str = "1g",
) -> SparkSession:
    """A SparkSession (or the running one) with the JDBC driver on its class path.

    Parameters
    ----------
    master
        ``local[N]`` or a cluster URL such as ``spark://host:7077``.
    shuffle_partitions
        ``spark.sql.shuffle.partitions``; Spark's 200 is far too many for small data.
    driver_memory
        ``spark.driver.memory`` (only honoured when this call starts the JVM).
    """
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
    )
    jar = jdbc_jar()
    if jar is not None:
        builder = builder.config("spark.jars", jar)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
