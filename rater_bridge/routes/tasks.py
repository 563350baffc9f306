"""The rater queue as vendors see it: tasks, releases, completions, calibration, rater preferences.

Every call is scoped to the authenticated vendor: a task held by another vendor is
answered exactly like a task that does not exist (404), so ids leak nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from alignment_ci.monitor.queue import (
    InvalidAnswer,
    NotTaskOwner,
    QueueError,
    TaskNotFound,
    complete_task,
    next_tasks,
    record_calibration_result,
    register_rater,
    release_task,
    session_scope,
    task_dimension,
)
from alignment_ci.ids import ID_PATTERN

from ..deps import BridgeDep, CredentialsDep, VendorDep, current_vendor
from ..schemas import ErrorDetail, FieldError

router = APIRouter(tags=["tasks"])

RATER_ID = ID_PATTERN
TASK_ID = r"^[0-9a-f]{1,64}$"
DIMENSION = r"^[a-z][a-z0-9_]{0,63}$"
_401 = {401: {"model": ErrorDetail, "description": "Missing, unknown or revoked token."}}
_404 = {404: {"model": ErrorDetail, "description": "No open assignment of this task for this vendor."}}
RaterQ = Annotated[str, Query(pattern=RATER_ID, description="Pseudonymous rater id (never an e-mail address).")]
TaskP = Annotated[str, Path(pattern=TASK_ID, description="Opaque task id from GET /v1/tasks.")]


class Task(BaseModel):
    """One task. Real and gold tasks have the same fields; onboarding items also carry the answer."""

    task_id: str
    phase: str = Field(description="task, onboarding (shown with its answer) or calibration (graded).")
    dimension: str
    task_type: str
    prompt: str
    responses: list[Any]
    content_warning: str | None = Field(description="Shown before the task for sensitive categories.")
    answer: Any = Field(None, description="Onboarding items only.")
    explanation: str | None = Field(None, description="Onboarding items only.")
    suggestion: dict[str, Any] | None = Field(
        None,
        description="With ?suggestions=true: a critic's prefilled answer {answer, score, model_version} the rater accepts "
        "or corrects, or {hint} (text only) on a critical dimension, whose label always needs a human.",
    )


class TaskList(BaseModel):
    rater_id: str
    tasks: list[Task]


class Released(BaseModel):
    task_id: str
    released: bool


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rater_id: str = Field(pattern=RATER_ID, description="The rater the task was assigned to (only they can complete it).")
    answer: Any = Field(description="pairwise: a|b|tie|skip; likert: an integer on the dimension's scale; "
                                    "ranking: a permutation of 0..n-1, best first.")
    rationale: str | None = Field(None, description="Optional free text, at most bridge.max_rationale_chars characters.")


class Completed(BaseModel):
    task_id: str
    completed: bool


class CalibrationAnswers(BaseModel):
    rater_id: str = Field(pattern=RATER_ID)
    answers: dict[str, Any] = Field(description="Calibration task id -> answer, for every calibration item of the dimension.")


class CalibrationOutcome(BaseModel):
    dimension: str
    passed: bool
    accuracy: float
    correct: int
    graded: int
    attempts: int
    status: str


class RaterPreferences(BaseModel):
    opt_outs: list[Annotated[str, Field(pattern=DIMENSION)]] | None = Field(
        None, max_length=64, description="Sensitive categories the rater is never shown (e.g. self_harm, violence)."
    )
    daily_sensitive_quota: int | None = Field(
        None, ge=0, description="Sensitive tasks per UTC day for this rater; at most queue.daily_sensitive_quota."
    )


class RaterState(BaseModel):
    rater_id: str
    opt_outs: list[str]
    daily_sensitive_quota: int


@router.get("/v1/tasks", response_model=TaskList, responses={400: {"model": ErrorDetail}, **_401})
async def get_tasks(
    request: Request,
    rater_id: RaterQ,
    credentials: CredentialsDep,
    bridge: BridgeDep,
    n: Annotated[int, Query(ge=1, le=10_000, description="How many tasks (at most the bridge's max_tasks_per_request).")] = 10,
    dimension: Annotated[str | None, Query(pattern=DIMENSION)] = None,
    suggestions: Annotated[bool, Query(description="Include each task's critic suggestion (prefill) where it has one.")] = False,
) -> dict:
    """The rater's next tasks: onboarding/calibration first for a new dimension, then real tasks
    with gold mixed in at ``bridge.gold_rate``; opt-outs and the daily sensitive quota respected."""

    def serve() -> dict:  # authentication and the claim in one threadpool call (the busiest route)
        vendor = current_vendor(request, credentials, bridge)
        count = min(n, bridge.settings.max_tasks_per_request)
        with bridge.write_lock, session_scope(bridge.engine) as s:
            tasks = next_tasks(s, vendor.name, rater_id, count, bridge.config.bridge.gold_rate, dimension=dimension,
                               settings=bridge.config.queue, suggestions=suggestions)
        return {"rater_id": rater_id, "tasks": tasks}

    return await run_in_threadpool(serve)


@router.post("/v1/tasks/{task_id}/release", response_model=Released, responses={**_404, **_401})
def release(task_id: TaskP, vendor: VendorDep, bridge: BridgeDep) -> dict:
    """Give a task back to the queue (only the vendor holding it can)."""
    try:
        with bridge.write_lock, session_scope(bridge.engine) as s:
            release_task(s, vendor.name, task_id)
    except (TaskNotFound, NotTaskOwner):
        raise HTTPException(404, f"no open task {task_id!r} for this vendor") from None
    return {"task_id": task_id, "released": True}


@router.post("/v1/tasks/{task_id}/complete", response_model=Completed,
             responses={**_404, 400: {"model": ErrorDetail, "description": "Malformed body (unknown keys, missing rater_id)."},
                        409: {"model": ErrorDetail},
                        413: {"model": FieldError, "description": "Body larger than bridge.max_request_bytes."},
                        422: {"model": FieldError, "description": "The answer or rationale does not fit the task."}, **_401})
def complete(task_id: TaskP, body: Completion, vendor: VendorDep, bridge: BridgeDep) -> Any:
    """Record a rater's answer to a task held by that rater. The answer says nothing about whether it was gold."""
    scales = {d.name: (d.scale.min, d.scale.max) for d in bridge.config.taxonomy.dimensions}
    try:
        with bridge.write_lock, session_scope(bridge.engine) as s:
            assignment_dimension = task_dimension(s, task_id)
            complete_task(s, vendor.name, task_id, rater_id=body.rater_id, answer=body.answer, rationale=body.rationale,
                          scale=scales.get(assignment_dimension or ""),
                          max_rationale_chars=bridge.settings.max_rationale_chars)
    except (TaskNotFound, NotTaskOwner):
        raise HTTPException(404, f"no open task {task_id!r} for this vendor's rater {body.rater_id!r}") from None
    except InvalidAnswer as exc:
        return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=422)
    except QueueError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"task_id": task_id, "completed": True}


@router.post("/v1/calibration/{dimension}", response_model=CalibrationOutcome,
             responses={400: {"model": ErrorDetail}, 409: {"model": ErrorDetail}, **_401})
def calibrate(dimension: Annotated[str, Path(pattern=DIMENSION)], body: CalibrationAnswers,
              vendor: VendorDep, bridge: BridgeDep) -> dict:
    """Grade a rater's calibration answers for a dimension; passing unlocks its real tasks."""
    try:
        with bridge.write_lock, session_scope(bridge.engine) as s:
            result = record_calibration_result(s, vendor.name, body.rater_id, dimension, body.answers,
                                               settings=bridge.config.queue)
    except QueueError as exc:
        raise HTTPException(409, str(exc)) from None
    return result.to_dict()


@router.put("/v1/raters/{rater_id}", response_model=RaterState, responses={400: {"model": ErrorDetail}, **_401})
def set_rater(rater_id: Annotated[str, Path(pattern=RATER_ID)], body: Annotated[RaterPreferences, Body()],
              vendor: VendorDep, bridge: BridgeDep) -> dict:
    """Set a rater's sensitive-content opt-outs and lower their daily exposure quota."""
    ceiling = bridge.config.queue.daily_sensitive_quota
    if body.daily_sensitive_quota is not None and body.daily_sensitive_quota > ceiling:
        raise HTTPException(400, f"daily_sensitive_quota may only lower the configured limit of {ceiling}")
    with bridge.write_lock, session_scope(bridge.engine) as s:
        rater = register_rater(s, vendor.name, rater_id, opt_outs=body.opt_outs,
                               daily_sensitive_quota=body.daily_sensitive_quota)
        state = {"rater_id": rater_id, "opt_outs": list(rater.opt_outs or []),
                 "daily_sensitive_quota": rater.daily_sensitive_quota if rater.daily_sensitive_quota is not None else ceiling}
    return state
