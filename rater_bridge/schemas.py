"""Pydantic models of the API's JSON bodies (they are the OpenAPI spec's schemas)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Problem(BaseModel):
    """One problem in a batch, as `alignment-ci validate` reports it."""

    line: int | None = Field(description="1-based physical line (CSV: the header is line 1); null for the whole file.")
    column: str | None = Field(description="Field name; null for a whole-line problem.")
    kind: str = Field(description="Stable snake_case kind, e.g. invalid_choice, duplicate_key, pii.")
    message: str
    col: int | None = Field(None, description="1-based character position, when known.")
    source: str | None = Field(None, description="Label Studio and Argilla exports: the export's record the line's row came "
                               "from (`Label Studio task 1002, annotation 7, rater ls-7`; `Argilla record r-2, response 1, "
                               "rater argilla-u1`); the line is one of the batch converted from the export.")


class PullRequest(BaseModel):
    number: int
    url: str


class BatchAnswer(BaseModel):
    """The answer to a push: accepted (201; 200 for the same content again) or rejected (422, 409)."""

    batch_id: str | None
    accepted: bool
    status: str = Field(description="received, rejected, pr_open, gates_passed, gates_failed, merged or failed.")
    rows: int
    errors: list[Problem]
    warnings: list[Problem]
    error_count: int = Field(description="Exact number of errors (the list stops at validation.max_errors).")
    warning_count: int
    duplicate: bool = Field(description="True when this content was pushed before: the answer is that batch's.")
    sha256: str | None = Field(description="sha256 of the stored, normalized Parquet (accepted batches).")
    pr: PullRequest | None = Field(description="The pull request that carries the batch's manifest (accepted batches).")


class BatchStatus(BaseModel):
    batch_id: str
    status: str = Field(description="received, rejected, pr_open, gates_passed, gates_failed, merged or failed.")
    format: str
    rows: int | None
    sha256: str | None
    pr: PullRequest | None
    error_count: int
    warning_count: int
    created_at: str | None
    updated_at: str | None
    merged_at: str | None = Field(None, description="When the batch's pull request was merged (accepted).")


class BatchList(BaseModel):
    batches: list[BatchStatus]


class ErrorDetail(BaseModel):
    detail: Any = Field(description="What was wrong and what to do.")


class QueueTaskOutcome(BaseModel):
    task_id: str | None = Field(description="The rater-queue task the Label Studio task carries (data.queue_task_id).")
    completed: bool
    answer: Any = Field(None, description="The answer recorded: a, b, tie or skip.")
    reason: str | None = Field(None, description="Why the task was not completed.")


class FieldError(BaseModel):
    """A request refused because of one of its fields or a limit (413, 422, 503)."""

    detail: str = Field(description="What was wrong and what to do.")
    field: str | None = Field(None, description="The request field at fault (e.g. answer, rationale).")
    limit: int | float | None = Field(None, description="The limit that was exceeded, when one was.")
    setting: str | None = Field(None, description="The alignment.yaml setting that holds the limit (e.g. bridge.max_request_bytes).")


class WebhookAnswer(BaseModel):
    handled: bool = Field(description="False for actions other than ANNOTATION_CREATED / ANNOTATION_UPDATED / ANNOTATIONS_DELETED.")
    action: str | None
    annotation_id: int | None
    task_id: int | None
    revisions: int = Field(description="How many distinct revisions (annotation id + updated_at) of this annotation the bridge has stored.")
    duplicate: bool = Field(False, description="This revision (or deletion) was delivered before: nothing changed.")
    deleted: list[int] = Field(default_factory=list, description="ANNOTATIONS_DELETED: the deletions newly recorded.")
    queue_task: QueueTaskOutcome | None = Field(None, description="The rater-queue task this annotation completed (or why not).")


class Health(BaseModel):
    status: str
    database: str
    version: str
