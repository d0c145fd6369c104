"""Render :mod:`cratedig.matrix.rules` expressions as PySpark columns."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from cratedig.matrix import rules


def to_column(expr: rules.Expr) -> Column:
    """The PySpark ``Column`` of a rules expression (the counterpart of ``rules.to_sql``)."""
    if isinstance(expr, rules.Col):
        return F.col(expr.name)
    if isinstance(expr, rules.Num):
        return F.lit(float(expr.value))
    if isinstance(expr, rules.Text):
        return F.lit(expr.value)
    if isinstance(expr, rules.IsNull):
        return to_column(expr.arg).isNull()
    if isinstance(expr, rules.Cmp):
        left, right = to_column(expr.left), to_column(expr.right)
        if expr.op == "==":
            return left == right
        if expr.op == "<":
            return left < right
        if expr.op == ">=":
            return left >= right
    if isinstance(expr, rules.Arith):
        left, right = to_column(expr.left), to_column(expr.right)
        if expr.op == "*":
            return left * right
        if expr.op == "/":
            return left / right
        if expr.op == "-":
            return left - right
    if isinstance(expr, rules.ToFloat):
        return to_column(expr.arg).cast("double")
    if isinstance(expr, rules.Pow):
        return F.pow(to_column(expr.base), to_column(expr.exponent))
    if isinstance(expr, rules.Case):
        if not expr.whens:
            return to_column(expr.otherwise)
        (first_cond, first_value), *rest = expr.whens
        column = F.when(to_column(first_cond), to_column(first_value))
        for cond, value in rest:
            column = column.when(to_column(cond), to_column(value))
        return column.otherwise(to_column(expr.otherwise))
    raise TypeError(f"expr: {expr!r} is not a rules node")
