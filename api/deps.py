"""Typed access to what ``create_app`` put on ``app.state``, as FastAPI dependencies."""

from __future__ import annotations

from fastapi import Request

from api.analysis import AnalysisService
from api.config import ApiConfig
from api.hotpath import HotPathGateway
from api.metrics import ApiMetrics
from api.prefect_runs import PrefectGateway
from api.store import StoreGateway


def hotpath(request: Request) -> HotPathGateway:
    return request.app.state.hotpath


def store(request: Request) -> StoreGateway:
    return request.app.state.store


def prefect(request: Request) -> PrefectGateway:
    return request.app.state.prefect


def analysis(request: Request) -> AnalysisService:
    return request.app.state.analysis


def metrics(request: Request) -> ApiMetrics:
    return request.app.state.metrics


def config(request: Request) -> ApiConfig:
    return request.app.state.config
