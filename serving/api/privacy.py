"""``/v1/privacy``: data subject requests (role ``privacy``; ``admin`` may too).

The API records a request and answers its id at once (202); the daily maintenance DAG's
``export_customers`` and ``erase_customers`` tasks (or ``python -m spark_jobs.<task>``) carry
them out.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from kairos.landing import open_landing
from serving import privacy
from serving.api.deps import ApiError, App, PrivacyOfficer, Redis, json_response
from serving.api.schemas import ERRORS, ErrorOut, PrivacyRequestIn, PrivacyRequestOut

router = APIRouter(prefix="/privacy", tags=["privacy"])
UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such request."}
}


def _public(request: privacy.PrivacyRequest) -> dict[str, Any]:
    """A request as the API shows it (an unfinished erasure's device ids stay inside)."""
    return {k: v for k, v in request.as_dict().items() if k != "subjects"}


@router.post("/exports", status_code=202, response_model=PrivacyRequestOut, responses=ERRORS)
async def request_export(body: PrivacyRequestIn, store: Redis, key: PrivacyOfficer) -> Any:
    """Ask for everything Kairos holds about a customer (GDPR Art. 15), as one JSON document."""
    actor = {"key": key.name, "role": key.role}
    made = await privacy.submit(store.client, store.layout, "export", body.customer_id, actor)
    return json_response(_public(made), status=202)


@router.post("/erasures", status_code=202, response_model=PrivacyRequestOut, responses=ERRORS)
async def request_erasure(body: PrivacyRequestIn, store: Redis, key: PrivacyOfficer) -> Any:
    """Ask for a customer to be erased from every store (GDPR Art. 17): their rows, their
    devices' events, files, logs and live state; later events naming them are dropped."""
    actor = {"key": key.name, "role": key.role}
    made = await privacy.submit(store.client, store.layout, "erasure", body.customer_id, actor)
    return json_response(_public(made), status=202)


@router.get(
    "/requests/{request_id}", response_model=PrivacyRequestOut, responses={**ERRORS, **UNKNOWN}
)
async def request_state(request_id: str, store: Redis, key: PrivacyOfficer) -> Any:
    """A request's state, what was done and what is left."""
    try:
        found = await privacy.get(store.client, store.layout, request_id)
    except privacy.UnknownRequest as err:
        raise ApiError(404, "unknown_request", str(err)) from None
    return json_response(_public(found))


@router.get(
    "/requests/{request_id}/document",
    responses={
        **ERRORS,
        **UNKNOWN,
        200: {"content": {"application/json": {}}, "description": "The export document."},
        409: {"model": ErrorOut, "description": "The export is not finished yet."},
    },
)
async def request_document(request_id: str, app: App, store: Redis, key: PrivacyOfficer) -> Any:
    """The finished export's document."""
    try:
        found = await privacy.get(store.client, store.layout, request_id)
    except privacy.UnknownRequest as err:
        raise ApiError(404, "unknown_request", str(err)) from None
    if found.state != "finished" or not found.document:
        raise ApiError(409, "not_finished", f"request {request_id} is {found.state}")
    landing = open_landing(app.settings)
    text = await asyncio.to_thread(landing.read_text, found.document)
    return Response(orjson.dumps(orjson.loads(text)), media_type="application/json")
