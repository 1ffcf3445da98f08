"""The sandbox's records, typed: what each stored object holds (JSON-ready, so the state file is plain JSON).

Keys spelled like the API are the API's; the rest (``accountId``, ``tokenId``, ``terms``, ...) are the sandbox's
own bookkeeping and never leave it except through the wire functions of each domain module.
"""

from __future__ import annotations

from typing import Any, TypedDict


class CreditEntry(TypedDict):
    id: str
    type: str
    amountCents: int
    holdEntryId: str | None
    jobofferId: str | None
    contractId: str | None
    milestoneId: str | None
    topUpId: str | None
    note: str
    createdAt: str


class Credits(TypedDict):
    availableCents: int
    reservedCents: int
    entries: list[CreditEntry]


class Owner(TypedDict):
    userId: str
    email: str
    firstName: str
    lastName: str


class Account(TypedDict):
    id: str
    name: str
    owner: Owner
    claimed: bool
    paymentMethod: bool
    features: dict[str, bool]
    credits: Credits


class Token(TypedDict):
    id: str
    token: str
    label: str
    scopes: list[str]
    accountId: str
    createdAt: str


class Job(TypedDict):
    id: str
    accountId: str
    title: str
    status: str
    published: bool
    acceptingApplicants: bool
    paymentType: str
    createdAt: str
    updatedAt: str


class Proposal(TypedDict):
    id: str
    jobId: str
    createdAt: str
    updatedAt: str
    status: str
    bid: dict[str, Any]
    candidate: dict[str, Any]
    metrics: dict[str, Any]
    aiInterview: dict[str, Any]
    verification: dict[str, Any]
    contractId: str | None


class Milestone(TypedDict):
    id: str
    name: str | None
    description: str | None
    status: str
    amountUsd: float | int | None
    volume: float | int | None
    milestoneNumber: int
    dueDate: str | None
    pendingApproval: bool
    needsReview: bool
    invoiceId: str | None
    createdAt: str


class Freelancer(TypedDict):
    userId: str
    displayName: str
    country: str
    profilePath: str


class Contract(TypedDict):
    id: str
    accountId: str
    status: str
    title: str
    jobId: str
    proposalId: str
    paymentType: str
    rateUsd: float | int | None
    estimatedTotalUsd: float | int | None
    estimatedVolume: float | int | None
    startDate: str
    endDate: str | None
    createdAt: str
    updatedAt: str
    freelancer: Freelancer
    milestones: list[Milestone]
    jobDmConversationId: str


class Approval(TypedDict):
    """An approval: the documented wire fields plus who asked and, for hires, the milestone terms."""

    id: str
    type: str
    status: str
    accountId: str
    tokenId: str | None
    contractId: str | None
    milestoneId: str | None
    jobId: str | None
    proposalId: str | None
    expiresAt: str
    resolvedAt: str | None
    result: dict[str, Any] | None
    createdAt: str
    terms: dict[str, Any] | None
    requestedTerms: dict[str, Any] | None
    confirmNotFitOverride: bool
    paymentSource: str | None


class Event(TypedDict):
    seq: int
    accountId: str
    type: str
    createdAt: str
    resourceId: str
    jobId: str | None
    data: dict[str, Any]


class Fixtures(TypedDict):
    accountId: str
    foreignAccountId: str
    tokenId: str
    limitedTokenId: str
    foreignTokenId: str
    jobs: dict[str, str]
    proposals: dict[str, Any]
    contracts: dict[str, str]
    approvals: dict[str, str]


class World(TypedDict):
    """Everything the sandbox stores for one seed (the ``data`` of the state file)."""

    accounts: dict[str, Account]
    tokens: dict[str, Token]
    jobs: dict[str, Job]
    proposals: dict[str, Proposal]
    approvals: dict[str, Approval]
    contracts: dict[str, Contract]
    events: list[Event]
    eventSeq: int
    fixtures: Fixtures
