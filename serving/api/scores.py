"""``GET /v1/customers/{id}/scores`` (role ``marketing``) and ``GET /v1/customers/{id}/consent``
(``marketing``, ``ingest``): a customer's live score, and their consent as serving holds it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam

from serving.api.deps import ApiError, ConsentReader, Redis, ScoresReader, json_response
from serving.api.schemas import ERRORS, ConsentOut, ErrorOut, ScoresOut

router = APIRouter(tags=["scores"])
SCORES_PATH = "/customers/{customer_id}/scores"
ID_LENGTH = (1, 64)  # a customer id's shortest and longest


@router.get(
    SCORES_PATH,
    response_model=ScoresOut,
    responses={**ERRORS, 404: {"model": ErrorOut, "description": "Customer not scored."}},
)
async def customer_scores(
    customer_id: Annotated[str, PathParam(min_length=ID_LENGTH[0], max_length=ID_LENGTH[1])],
    store: Redis,
    key: ScoresReader,
) -> Any:
    """The customer's live propensity score, decile, RFM segment and model version."""
    live = await store.live()
    row = await store.scores(customer_id, live.run)
    if row is None:
        raise ApiError(404, "not_scored", f"customer {customer_id!r} has no live score")
    return json_response(
        {
            "customer_id": customer_id,
            "model": row["model"],
            "model_version": row["model_version"],
            "score": float(row["score"]),
            "decile": int(row["decile"]),
            "segment": row["segment"],
            "scored_at": row["scored_at"],
            "run": live.run,
            "freshness_seconds": round(live.age_seconds(), 3),
        }
    )


@router.get("/customers/{customer_id}/consent", response_model=ConsentOut, responses=ERRORS)
async def customer_consent(
    customer_id: Annotated[str, PathParam(min_length=1, max_length=64)],
    store: Redis,
    key: ConsentReader,
) -> Any:
    """Per channel, whether the customer consents now (their latest change, else the policy):
    what a channel checks again before a deferred send."""
    return json_response({"customer_id": customer_id, "consent": await store.consent(customer_id)})
