"""Typed access to what ``create_app`` put on ``app.state``, as FastAPI dependencies."""

from __future__ import annotations

from fastapi import Request

from tripwire.api.analysis import AnalysisService
from tripwire.api.config import ApiConfig
from tripwire.api.hotpath import HotPathGateway
from tripwire.api.metrics import ApiMetrics
from tripwire.api.prefect_runs import PrefectGateway
from tripwire.api.simulator import SimulatorGateway
from tripwire.api.store import StoreGateway


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


def simulator(request: Request) -> SimulatorGateway:
    return request.app.state.simulator
