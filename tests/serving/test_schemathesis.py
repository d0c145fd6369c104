"""Property-based API tests generated from /api/v1/openapi.json by schemathesis.

Every operation gets a bounded number of generated requests, valid (positive) and
invalid (negative); every response must be free of server errors and conform to
the documented status codes, content types and schemas.

(``schemathesis.pytest.from_fixture`` does not work with pytest 9, so the
operations are parametrised here and each runs its own Hypothesis test.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from cratedig.serving.openapi import openapi_spec
from cratedig.store import init_db, make_engine
from tests.serving.conftest import KEY, make_app, train_tiny
from tests.serving.helpers import fill_store

OPERATIONS = [
    f"{method.upper()} {path}"
    for path, item in openapi_spec()["paths"].items()
    for method in item
    if path != "/openapi.json"  # the document itself
]
MAX_EXAMPLES = 20


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    """One trained store and app for every operation (generated writes pile up in it)."""
    tmp_path = tmp_path_factory.mktemp("schemathesis")
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    init_db(engine)
    fill_store(engine)
    # every schema-valid k (up to MAX_K) must be served: precompute that many
    train_tiny(engine, tmp_path / "artifacts", k_lists=100, k_similar=100)
    app = make_app(engine, tmp_path)
    yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    app.extensions["cratedig"].close()
    engine.dispose()


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("label", OPERATIONS)
def test_api_conforms_to_its_schema(
    label: str, mode: str, api_schema: schemathesis.BaseSchema
) -> None:
    schema = api_schema
    operation = next(op.ok() for op in schema.get_all_operations() if op.ok().label == label)
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        if mode == "positive":
            case.call_and_validate(headers={"X-API-Key": KEY})
        else:
            response = case.call(headers={"X-API-Key": KEY})
            assert response.status_code < 500, (case.path, response.text[:300])

    try:
        run()
    except Unsatisfiable:
        if mode == "positive":
            raise
        pytest.skip(f"{label} has no input that can be made invalid")
