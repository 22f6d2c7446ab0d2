"""``GET /whoami``: the calling key's name and scope, so a client (``tripwire watch``) can show
which controls it may use before trying one. Never the key itself."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from tripwire.api.auth import Principal, require
from tripwire.api.config import SCOPES

router = APIRouter(tags=["status"])
_reader = require("read")


class WhoAmI(BaseModel):
    name: str = Field(description="the key's name from settings (api.keys[].name)")
    scope: str = Field(description="read | trade | admin")
    may: list[str] = Field(description="every scope this key includes (scopes are ordered)")


@router.get("/whoami", response_model=WhoAmI, summary="The calling key's name and scope (never the key)")
async def whoami(principal: Principal = Depends(_reader)) -> WhoAmI:
    return WhoAmI(name=principal.name, scope=principal.scope, may=[s for s in SCOPES if principal.allows(s)])
