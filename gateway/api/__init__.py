"""HTTP routes (thin) and the problem+json mapping at the edge."""

from fastapi import APIRouter

from gateway.api import admin, events, files, health, jobs, openai_compat, pipelines
from gateway.api.problems import install_problem_handlers

api_router = APIRouter()
for module in (pipelines, jobs, events, files, admin, health, openai_compat):
    api_router.include_router(module.router)

__all__ = ["api_router", "install_problem_handlers"]
