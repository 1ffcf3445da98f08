"""Deterministic seed data and record builders for the sandbox (ids per assumption A9)."""

from __future__ import annotations

import datetime as dt
import random
import string
from typing import Any

from .records import Account, Approval, Contract, Event, Job, Milestone, Proposal, Token, World

ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 25
FIRST_EVENT_ID = 1001

PRE_CLAIM_SCOPES = [
    "jobs:read",
    "jobs:write",
    "proposals:read",
    "messages:read",
    "payments:read",
    "team:read",
]
POST_CLAIM_SCOPES = [*PRE_CLAIM_SCOPES, "proposals:write", "messages:write", "team:write"]
ALL_SCOPES = [
    "jobs:read",
    "jobs:write",
    "proposals:read",
    "proposals:write",
    "messages:read",
    "messages:write",
    "payments:read",
    "payments:write",
    "team:read",
    "team:write",
    "webhooks:manage",
]
FEATURE_KEYS = ("public_api_hiring", "public_api_payments_write", "public_api_credits")

PROPOSAL_STATUS_LABELS = {
    "UNREVIEWED": "Unreviewed",
    "SHORTLISTED": "Shortlisted",
    "MAYBE": "Maybe",
    "HIRED": "Hired",
    "DECLINED": "Declined",
    "NOT_A_FIT": "Not a fit",
    "RESUME_SENT": "Resume sent",
}

_FIRST_NAMES = [
    "Maria", "Alex", "Priya", "Kenji", "Amara", "Lucas", "Sofia", "Omar", "Elena", "Tomas",
    "Aisha", "Mateo", "Yuki", "Noah", "Leila", "Ivan", "Chloe", "Ravi", "Nadia", "Diego",
]  # fmt: skip
_COUNTRIES = [
    ("ES", "Spain"), ("US", "United States"), ("IN", "India"), ("JP", "Japan"), ("NG", "Nigeria"),
    ("BR", "Brazil"), ("DE", "Germany"), ("EG", "Egypt"), ("PH", "Philippines"), ("MX", "Mexico"),
    ("KE", "Kenya"), ("PL", "Poland"),
]  # fmt: skip
_TITLES = [
    "Text Annotation Specialist",
    "Senior AI Trainer",
    "Sentiment Labeling Expert",
    "Computer Vision Annotator",
    "Multilingual Data Labeler",
    "RLHF Evaluator",
    "Bounding-Box Annotator",
    "Content Moderation Analyst",
]
_SUMMARIES = [
    "Strong grasp of sentiment-labeling edge cases; clear communication; prior social-media annotation work.",
    "Careful with guideline ambiguities and asks good clarifying questions; steady throughput estimate.",
    "Fast and accurate on the practice set; slightly terse explanations of borderline calls.",
    "Excellent consistency on sarcasm and mixed-sentiment examples; native speaker.",
    "Solid tooling experience (Label Studio, CVAT); explained a QA workflow with spot checks.",
    "Good accuracy on the sample; needed a hint on the neutral-versus-mixed distinction.",
    "Detailed rationale for each label; proposes a calibration round before the first batch.",
    "Reliable on clear cases, hesitant on edge cases; available full time for the next month.",
]


def new_id(rng: random.Random) -> str:
    """An opaque id: 25 lowercase alphanumerics (A9)."""
    return "".join(rng.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def new_token(rng: random.Random) -> str:
    """A personal API token in the real format ``ot_pat_<publicId>_<secret>``."""
    public_id = "".join(rng.choice(ID_ALPHABET) for _ in range(12))
    secret = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(32))
    return f"ot_pat_{public_id}_{secret}"


def iso(moment: dt.datetime) -> str:
    """ISO-8601 UTC with milliseconds, e.g. ``2026-06-12T10:00:00.000Z``."""
    moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> dt.datetime:
    """Parse a timestamp written by :func:`iso`."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)


def date_to_iso(day: str | None) -> str | None:
    """``YYYY-MM-DD`` → midnight UTC timestamp (how contract milestones show due dates)."""
    return None if day is None else f"{day}T00:00:00.000Z"


def make_milestone(
    rng: random.Random, terms: dict[str, Any], *, number: int, status: str, created_at: str
) -> Milestone:
    """A contract milestone record from hire terms ``{name, description, amount, dueDate}``."""
    funded = status in ("ACTIVE_FUNDED", "PAID")
    return {
        "id": new_id(rng),
        "name": terms.get("name"),
        "description": terms.get("description"),
        "status": status,
        "amountUsd": terms["amount"],
        "volume": None,
        "milestoneNumber": number,
        "dueDate": date_to_iso(terms.get("dueDate")),
        "pendingApproval": False,
        "needsReview": False,
        "invoiceId": new_id(rng) if funded else None,
        "createdAt": created_at,
    }


def make_contract(
    rng: random.Random,
    *,
    account_id: str,
    job: Job,
    proposal: Proposal,
    terms: dict[str, Any],
    created_at: str,
) -> Contract:
    """A fixed-price contract with its first milestone funded (``ACTIVE_FUNDED``)."""
    contract_id = new_id(rng)
    candidate = proposal["candidate"]
    milestone = make_milestone(rng, terms, number=1, status="ACTIVE_FUNDED", created_at=created_at)
    return {
        "id": contract_id,
        "accountId": account_id,
        "status": "active",
        "title": f"{job['title']} Contract",
        "jobId": job["id"],
        "proposalId": proposal["id"],
        "paymentType": "FIXED_PRICE",
        "rateUsd": terms["amount"],
        "estimatedTotalUsd": terms["amount"],
        "estimatedVolume": None,
        "startDate": created_at,
        "endDate": None,
        "createdAt": created_at,
        "updatedAt": created_at,
        "freelancer": {
            "userId": candidate["id"],
            "displayName": candidate["displayName"],
            "country": candidate["country"],
            "profilePath": f"/profile/{candidate['profileSlug']}",
        },
        "milestones": [milestone],
        "jobDmConversationId": new_id(rng),
    }


def _candidate(rng: random.Random, first_name: str) -> dict[str, Any]:
    initial = rng.choice(string.ascii_uppercase.replace("X", ""))
    code, country = rng.choice(_COUNTRIES)
    return {
        "id": new_id(rng),
        "profileSlug": f"{first_name.lower()}-{initial.lower()}",
        "displayName": f"{first_name} {initial}.",
        "firstName": first_name,
        "lastNameInitial": initial,
        "profileTitle": rng.choice(_TITLES),
        "profilePhotoUrl": None,
        "countryCode": code,
        "country": country,
        "talentType": "FREELANCER",
        "highestEarningsUsd": rng.randrange(0, 20000, 50),
        "reviewCount": rng.randint(0, 40),
    }


def _proposal(rng: random.Random, job: Job, first_name: str, status: str, created: dt.datetime) -> Proposal:
    score = rng.randint(58, 97)
    if job["paymentType"] == "PAY_PER_LABEL":
        bid = {
            "amountUsd": rng.choice([0.04, 0.05, 0.06, 0.07, 0.08]),
            "unit": "PER_LABEL",
            "labelerHourlyRateUsd": None,
        }
    else:
        rate = rng.choice([14, 16, 18, 20, 22, 25, 28])
        bid = {"amountUsd": rate, "unit": "PER_HOUR", "labelerHourlyRateUsd": rate}
    checked = created - dt.timedelta(minutes=rng.randint(2, 50))
    reviewed = created + dt.timedelta(hours=rng.randint(2, 30)) if status != "UNREVIEWED" else created
    return {
        "id": new_id(rng),
        "jobId": job["id"],
        "createdAt": iso(created),
        "updatedAt": iso(reviewed),
        "status": status,
        "bid": bid,
        "candidate": _candidate(rng, first_name),
        "metrics": {"interviewScore": score, "matchScore": round(rng.uniform(0.55, 0.97), 2)},
        "aiInterview": {"score": score, "summary": rng.choice(_SUMMARIES), "transcriptAvailable": True},
        "verification": {
            "location": {"status": "PASSED", "method": rng.choice(["GPS", "IP"]), "checkedAt": iso(checked)},
            "identity": {"verified": rng.random() < 0.8},
        },
        "contractId": None,
    }


def _account(rng: random.Random, name: str, first: str, last: str, email: str) -> Account:
    return {
        "id": new_id(rng),
        "name": name,
        "owner": {"userId": new_id(rng), "email": email, "firstName": first, "lastName": last},
        "claimed": True,
        "paymentMethod": True,
        "features": dict.fromkeys(FEATURE_KEYS, True),
        "credits": {"availableCents": 0, "reservedCents": 0, "entries": []},
    }


def _token(rng: random.Random, account_id: str, label: str, scopes: list[str], created: str) -> Token:
    return {
        "id": new_id(rng),
        "token": new_token(rng),
        "label": label,
        "scopes": list(scopes),
        "accountId": account_id,
        "createdAt": created,
    }


def build_seed(rng: random.Random, now: dt.datetime) -> World:
    """Build the initial data set; the same ``rng`` state always yields the same ids and tokens.

    One employer account (claimed, card on file, every feature on) with two open jobs and proposals for every
    hire branch, plus a second account that owns a foreign job.
    """
    day = dt.timedelta(days=1)
    hour = dt.timedelta(hours=1)
    main = _account(rng, "Acme Research", "Dana", "Whitfield", "dana@acme-research.example")
    foreign = _account(rng, "Northwind Labs", "Sam", "Okafor", "sam@northwind-labs.example")
    created = iso(now - 20 * day)
    token = _token(rng, main["id"], "sandbox-agent", ALL_SCOPES, created)
    limited = _token(rng, main["id"], "sandbox-agent-pre-claim", PRE_CLAIM_SCOPES, created)
    foreign_token = _token(rng, foreign["id"], "northwind-agent", POST_CLAIM_SCOPES, created)

    def job(account: Account, title: str, payment_type: str, age_days: float) -> Job:
        created_at = now - age_days * day
        return {
            "id": new_id(rng),
            "accountId": account["id"],
            "title": title,
            "status": "OPEN",
            "published": True,
            "acceptingApplicants": True,
            "paymentType": payment_type,
            "createdAt": iso(created_at),
            "updatedAt": iso(created_at + 2 * hour),
        }

    primary = job(main, "Spanish Sentiment Labeling — Social Media Posts", "PAY_PER_LABEL", 14)
    secondary = job(main, "Dashcam Bounding Boxes — Urban Scenes", "PAY_PER_HOUR", 9)
    foreign_job = job(foreign, "Medical Transcript QA (Northwind)", "PAY_PER_HOUR", 12)

    names = rng.sample(_FIRST_NAMES, 11)
    plan = [
        (primary, "UNREVIEWED", 13.0, "hireable"),
        (primary, "SHORTLISTED", 12.6, "hireable"),
        (primary, "MAYBE", 12.1, "hireable"),
        (primary, "NOT_A_FIT", 11.7, "notFit"),
        (primary, "HIRED", 11.2, "alreadyHired"),
        (primary, "UNREVIEWED", 10.4, "hireable"),
        (secondary, "UNREVIEWED", 8.5, "hireable"),
        (secondary, "SHORTLISTED", 8.1, "hireable"),
        (secondary, "DECLINED", 7.6, "declined"),
        (foreign_job, "UNREVIEWED", 11.0, "foreign"),
        (foreign_job, "SHORTLISTED", 10.0, "foreignOther"),
    ]
    proposals: dict[str, Proposal] = {}
    roles: dict[str, list[str]] = {}
    for (owner_job, status, age, role), first in zip(plan, names, strict=True):
        created_at = now - age * day + dt.timedelta(minutes=rng.randint(0, 300))
        proposal = _proposal(rng, owner_job, first, status, created_at)
        proposals[proposal["id"]] = proposal
        roles.setdefault(role, []).append(proposal["id"])

    # The already-hired proposal: a confirmed approval, a contract and the events of that hire.
    hired = proposals[roles["alreadyHired"][0]]
    requested = now - 5 * day
    confirmed = requested + 4 * hour
    terms = {
        "name": "Pilot batch",
        "description": "Label a 1,000-post pilot set and flag ambiguous cases",
        "amount": 250,
        "dueDate": (now + 10 * day).date().isoformat(),
    }
    contract = make_contract(
        rng, account_id=main["id"], job=primary, proposal=hired, terms=terms, created_at=iso(confirmed)
    )
    hired["contractId"] = contract["id"]
    hired["updatedAt"] = iso(confirmed)
    approval: Approval = {
        "id": new_id(rng),
        "type": "proposal_hire",
        "status": "confirmed",
        "accountId": main["id"],
        "tokenId": token["id"],
        "contractId": contract["id"],
        "milestoneId": None,
        "jobId": primary["id"],
        "proposalId": hired["id"],
        "expiresAt": iso(requested + 72 * hour),
        "resolvedAt": iso(confirmed),
        "result": {
            "hired": True,
            "contractId": contract["id"],
            "jobId": primary["id"],
            "freelancerUserId": hired["candidate"]["id"],
        },
        "createdAt": iso(requested),
        "terms": dict(terms),
        "requestedTerms": dict(terms),
        "confirmNotFitOverride": False,
        "paymentSource": "card",
    }

    raw_events: list[tuple[str, str, str, str, str, dict[str, Any]]] = []
    for proposal in proposals.values():
        account_id = main["id"] if proposal["jobId"] != foreign_job["id"] else foreign["id"]
        raw_events.append(
            (
                proposal["createdAt"],
                account_id,
                "proposal.received",
                proposal["id"],
                proposal["jobId"],
                {"proposalId": proposal["id"], "jobId": proposal["jobId"]},
            )
        )
    milestone = contract["milestones"][0]
    at = iso(confirmed)
    raw_events += [
        (at, main["id"], "proposal.status_changed", hired["id"], primary["id"],
         {"proposalId": hired["id"], "status": "HIRED"}),
        (at, main["id"], "contract.created", contract["id"], primary["id"],
         {"contractId": contract["id"], "jobId": primary["id"], "proposalId": hired["id"]}),
        (at, main["id"], "milestone.status_changed", milestone["id"], primary["id"],
         {"milestoneId": milestone["id"], "contractId": contract["id"], "status": "ACTIVE_FUNDED"}),
        (at, main["id"], "approval.confirmed", approval["id"], primary["id"],
         {"approvalId": approval["id"], "status": "confirmed"}),
    ]  # fmt: skip
    raw_events.sort(key=lambda item: item[0])  # stable: the hire events keep their A6 order
    events: list[Event] = [
        {
            "seq": FIRST_EVENT_ID + index,
            "accountId": account_id,
            "type": event_type,
            "createdAt": created_at,
            "resourceId": resource_id,
            "jobId": job_id,
            "data": data,
        }
        for index, (created_at, account_id, event_type, resource_id, job_id, data) in enumerate(raw_events)
    ]

    return {
        "accounts": {main["id"]: main, foreign["id"]: foreign},
        "tokens": {t["id"]: t for t in (token, limited, foreign_token)},
        "jobs": {j["id"]: j for j in (primary, secondary, foreign_job)},
        "proposals": proposals,
        "approvals": {approval["id"]: approval},
        "contracts": {contract["id"]: contract},
        "events": events,
        "eventSeq": FIRST_EVENT_ID + len(events) - 1,
        "fixtures": {
            "accountId": main["id"],
            "foreignAccountId": foreign["id"],
            "tokenId": token["id"],
            "limitedTokenId": limited["id"],
            "foreignTokenId": foreign_token["id"],
            "jobs": {"primary": primary["id"], "secondary": secondary["id"], "foreign": foreign_job["id"]},
            "proposals": {
                "hireable": roles["hireable"],
                "notFit": roles["notFit"][0],
                "alreadyHired": roles["alreadyHired"][0],
                "declined": roles["declined"][0],
                "foreign": roles["foreign"][0],
            },
            "contracts": {"alreadyHired": contract["id"]},
            "approvals": {"confirmed": approval["id"]},
        },
    }
